"""Audio to SHD-schema spikes: a small cochlear front end (numpy + scipy, no torch).

Model (one pass per clip; all parameters are fields of :class:`CochleaConfig`):

1. **Input.** A mono waveform in full-scale units (``±1.0`` = 0 dBFS), read from WAV
   (``scipy.io.wavfile``: 8/16/24/32-bit PCM or float, several channels are averaged) and
   resampled to ``sample_rate`` (16 kHz) with a polyphase filter (``scipy.signal.resample_poly``).
   Levels are absolute: nothing is normalized unless ``normalize_dbfs`` is set, so louder
   sounds give more spikes.
2. **Basilar membrane.** ``n_channels`` (700, like SHD) 4th-order gammatone filters
   (``scipy.signal.gammatone(ftype='iir')``, Slaney's digital design: bandwidth
   1.019 ERB, unit gain at the centre frequency), centre frequencies spaced evenly on the
   ERB-rate scale of Glasberg & Moore (1990), ``E(f) = 21.4 log10(1 + 0.00437 f)``, from
   ``f_min`` = 100 Hz to ``f_max`` = 7 kHz. Unit 0 is the lowest centre frequency. Each
   filter runs as a cascade of four biquads: the denominator of scipy's design is exactly a
   4-fold pole pair, factored in closed form, which keeps the low-frequency filters
   accurate (the direct 8th-order form loses about 4 digits there).
3. **Inner hair cell.** Half-wave rectification, a first-order low-pass at ``ihc_cutoff_hz``
   = 1 kHz (the roll-off of phase locking: low channels keep their half-waves, high ones
   give their envelope), decimation by ``decimate`` = 2 (the spiking stage runs at 8 kHz,
   0.125 ms resolution), then power-law compression ``c = (lowpass / a_ref) ** compression``
   with ``compression`` = 1/3 (cube root: +20 dB of input = x2.15 of drive) and
   ``a_ref = 10 ** (ref_dbfs / 20)``. Compressing after the low-pass keeps the drive free of
   aliasing (a rectified-then-compressed carrier near fs/4 aliases onto DC: +-50 % drive
   depending on phase; this order: < 3 %, 11 % for a pure tone at exactly fs/4).
4. **Spiking stage.** One adaptive leaky integrate-and-fire neuron per channel, exact
   exponential integration at the decimated rate:
   ``v <- v exp(-dt/tau_m) + (1 - exp(-dt/tau_m)) c`` (``tau_m_ms`` = 1 ms, so a constant
   drive ``c`` settles at ``v = c``); spike when ``v >= 1 + a`` and not refractory; after a
   spike ``v <- 0``, an absolute refractory period ``refractory_ms`` = 2 ms (at most ~470
   spikes/s), and the threshold adaptation ``a`` jumps by ``adapt_increment`` = 0.5 and
   decays with ``adapt_tau_ms`` = 50 ms (onsets fire more than steady sounds, like auditory
   nerve fibres). A spike is stamped with the time of its step, ``n * decimate /
   sample_rate`` seconds from the start of the clip.

   Measured with ``ref_dbfs`` = -70 (ramped 0.3 s tones at a channel's centre frequency):
   threshold about -60 dBFS peak from 500 Hz to 6.5 kHz (-66 dBFS at 150 Hz); the channel at
   the tone fires ~150 spikes/s at -20 dBFS and ~280 spikes/s at 0 dBFS; louder tones also
   recruit more neighbouring channels. Silence (exact zeros) and 16-bit dither give no spikes.
   Speech from espeak-ng at -3..-12 dBFS gives 10-20 thousand spikes per word.

Output: per clip, spike times (seconds, float32, ascending) and units (uint16,
``0..n_channels-1``); :mod:`delaykit.data.audio_corpus` encodes many clips into one file in
the SHD schema (``spikes/times``, ``spikes/units``, ``labels``, ``extra/keys``,
``extra/speaker``, ``extra/meta_info/...``).

Cost: about 0.3 s of one core per second of audio at 700 channels (filterbank ~0.08 s, hair
cell ~0.12 s, spiking loop ~0.09 s); ``benchmarks/bench_audio_encode.py`` measures it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError
from delaykit.validate import finite_array, in_range


@dataclass(frozen=True)
class CochleaConfig:
    """Parameters of the cochlear front end (module docstring). Hz, dB re full scale, ms."""

    sample_rate: float = 16000.0
    n_channels: int = 700
    f_min: float = 100.0
    f_max: float = 7000.0
    ref_dbfs: float = -70.0
    compression: float = 1.0 / 3.0
    ihc_cutoff_hz: float = 1000.0
    decimate: int = 2
    tau_m_ms: float = 1.0
    refractory_ms: float = 2.0
    adapt_increment: float = 0.5
    adapt_tau_ms: float = 50.0
    normalize_dbfs: float | None = None

    def __post_init__(self) -> None:
        def bad(field: str, why: str) -> ValueError:
            return ValueError(f"cochlea config: field '{field}': {why}, got {getattr(self, field)!r}")

        if not (math.isfinite(self.sample_rate) and self.sample_rate >= 4000):
            raise bad("sample_rate", "must be >= 4000 Hz")
        if int(self.n_channels) < 1 or int(self.n_channels) > 65535:
            raise bad("n_channels", "must be in 1..65535 (units are stored as uint16)")
        if not 0 < self.f_min < self.f_max:
            raise bad("f_min", "must be > 0 and below f_max")
        if self.f_max >= 0.45 * self.sample_rate:
            raise bad("f_max", f"must be below 0.45 x sample_rate = {0.45 * self.sample_rate:g} Hz")
        if not 0 < self.compression <= 1:
            raise bad("compression", "must be in (0, 1]")
        if not 0 < self.ihc_cutoff_hz < self.sample_rate / 2:
            raise bad("ihc_cutoff_hz", "must be in (0, sample_rate / 2)")
        if int(self.decimate) < 1:
            raise bad("decimate", "must be >= 1")
        for f in ("tau_m_ms", "adapt_tau_ms"):
            if not getattr(self, f) > 0:
                raise bad(f, "must be > 0")
        for f in ("refractory_ms", "adapt_increment"):
            if not getattr(self, f) >= 0:
                raise bad(f, "must be >= 0")

    @property
    def spike_rate(self) -> float:
        """Rate of the spiking stage in Hz (time resolution of the spikes)."""
        return self.sample_rate / self.decimate

    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-able (stored as the ``delaykit_cochlea`` attribute)."""
        return asdict(self)


def erb_rate(f_hz: np.ndarray | float) -> np.ndarray:
    """ERB-rate (Cams) of a frequency in Hz (Glasberg & Moore 1990)."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f_hz, dtype=np.float64))


def erb_rate_inverse(e: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of an ERB-rate value (inverse of :func:`erb_rate`)."""
    return (10.0 ** (np.asarray(e, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def centre_frequencies(cfg: CochleaConfig) -> np.ndarray:
    """Centre frequencies in Hz, ascending, evenly spaced in ERB-rate from f_min to f_max."""
    return erb_rate_inverse(np.linspace(erb_rate(cfg.f_min), erb_rate(cfg.f_max), int(cfg.n_channels)))


def gammatone_sos(freq_hz: float, fs: float) -> np.ndarray:
    """scipy's IIR gammatone at ``freq_hz`` as a (4, 6) second-order-section cascade.

    scipy.signal.gammatone('iir') returns ``b`` (5 taps) and ``a = (1 - 2 r cos(w) z^-1 +
    r^2 z^-2)^4`` (9 taps). The pole pair is read back exactly from ``a[1]`` and ``a[8]``;
    the four zeros are the roots of ``b``. The transfer function is scipy's (tested).
    """
    from scipy import signal  # scipy: slow import, kept out of the CLI start

    b, a = signal.gammatone(float(freq_hz), "iir", fs=float(fs))
    b = np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    r = a[8] ** 0.125
    two_r_cos = -a[1] / 4.0
    den = np.array([1.0, -two_r_cos, r * r])
    zeros = np.roots(b)
    # Pair conjugate zeros (or the two real ones) into two real quadratics.
    zeros = zeros[np.argsort(zeros.imag)]
    quad = [np.real(np.poly(zeros[[0, 3]])), np.real(np.poly(zeros[[1, 2]]))]
    sos = np.zeros((4, 6))
    sos[0, :3] = b[0] * quad[0]
    sos[1, :3] = quad[1]
    sos[2, 0] = sos[3, 0] = 1.0
    sos[:, 3:] = den
    return sos


@lru_cache(maxsize=8)
def _filterbank(cfg: CochleaConfig) -> tuple[np.ndarray, ...]:
    return tuple(gammatone_sos(f, cfg.sample_rate) for f in centre_frequencies(cfg))


def filterbank(x: np.ndarray, cfg: CochleaConfig) -> np.ndarray:
    """Basilar-membrane output (n_channels, N) float64 of a waveform at cfg.sample_rate."""
    from scipy import signal  # scipy: slow import, kept out of the CLI start

    x = np.asarray(x, dtype=np.float64)
    out = np.empty((int(cfg.n_channels), x.size), dtype=np.float64)
    for i, sos in enumerate(_filterbank(cfg)):
        out[i] = signal.sosfilt(sos, x)
    return out


def hair_cell(y: np.ndarray, cfg: CochleaConfig) -> np.ndarray:
    """Inner-hair-cell drive (T', n_channels) float32 at cfg.spike_rate from filter outputs.

    Half-wave rectify, first-order low-pass at ``ihc_cutoff_hz``, decimate, then compress:
    ``c = (lowpass(max(y, 0)) / a_ref) ** compression``. ``y`` is overwritten.
    """
    from scipy import signal  # scipy: slow import, kept out of the CLI start

    np.maximum(y, 0.0, out=y)
    # first-order low-pass (impulse invariant): c[n] = p c[n-1] + (1 - p) x[n]
    p = math.exp(-2.0 * math.pi * cfg.ihc_cutoff_hz / cfg.sample_rate)
    c = signal.lfilter([1.0 - p], [1.0, -p], y, axis=1)
    d = int(cfg.decimate)
    c = np.ascontiguousarray(c[:, ::d].T, dtype=np.float32)
    c *= np.float32(10.0 ** (-cfg.ref_dbfs / 20.0))
    if abs(cfg.compression - 1.0 / 3.0) < 1e-12:
        np.cbrt(c, out=c)
    elif cfg.compression != 1.0:
        np.power(c, np.float32(cfg.compression), out=c)
    return c


def spiking_stage(drive: np.ndarray, cfg: CochleaConfig) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive LIF per channel on a (T', C) drive; returns (step indices int64, units int64).

    Spikes are ordered by step, then unit.
    """
    steps, n = drive.shape
    dt_ms = 1e3 / cfg.spike_rate
    decay = np.float32(math.exp(-dt_ms / cfg.tau_m_ms))
    gain = np.float32(1.0 - decay)
    adapt_decay = np.float32(math.exp(-dt_ms / cfg.adapt_tau_ms))
    adapt_inc = np.float32(cfg.adapt_increment)
    n_ref = int(round(cfg.refractory_ms / dt_ms))
    v = np.zeros(n, dtype=np.float32)
    thr = np.ones(n, dtype=np.float32)  # 1 + adaptation
    last = np.full(n, -(n_ref + 1), dtype=np.int64)
    fired = np.zeros((steps, n), dtype=bool)
    scratch = np.empty(n, dtype=np.float32)
    one = np.float32(1.0)
    for t in range(steps):
        np.multiply(v, decay, out=v)
        np.multiply(drive[t], gain, out=scratch)
        v += scratch
        s = fired[t]
        np.greater_equal(v, thr, out=s)
        if n_ref:
            s &= (t - last) > n_ref
        if s.any():
            v[s] = 0.0
            last[s] = t
            thr[s] += adapt_inc
        # adaptation decays toward the resting threshold 1
        thr -= one
        thr *= adapt_decay
        thr += one
        if n_ref:
            # hold the membrane at rest while refractory
            v[(t - last) <= n_ref] = 0.0
    t_idx, u_idx = np.nonzero(fired)
    return t_idx, u_idx


def encode(x: np.ndarray, fs: float, cfg: CochleaConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode a mono waveform (full scale ±1) sampled at ``fs`` Hz into spikes.

    Returns (times in seconds float32 ascending, units uint16).
    """
    cfg = cfg or CochleaConfig()
    x = resample(np.asarray(x, dtype=np.float64), fs, cfg.sample_rate)
    if cfg.normalize_dbfs is not None:
        x = normalize_rms(x, cfg.normalize_dbfs)
    if x.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.uint16)
    drive = hair_cell(filterbank(x, cfg), cfg)
    t_idx, u_idx = spiking_stage(drive, cfg)
    times = (t_idx * (cfg.decimate / cfg.sample_rate)).astype(np.float32)
    return times, u_idx.astype(np.uint16)


def normalize_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale ``x`` so its RMS is ``dbfs`` dB re full scale (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if rms == 0.0:
        return x
    return x * (10.0 ** (dbfs / 20.0) / rms)


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling from ``fs_in`` to ``fs_out`` Hz (exact ratio, denominator <= 1000)."""
    from scipy import signal  # scipy: slow import, kept out of the CLI start

    if not (fs_in > 0 and math.isfinite(fs_in)):
        raise ValueError(f"resample: sample rate must be a positive number of Hz, got {fs_in}")
    if fs_in == fs_out:
        return np.asarray(x, dtype=np.float64)
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return signal.resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)


def read_wav(path: str | Path) -> tuple[np.ndarray, float]:
    """Read a WAV file as mono float64 in full-scale units; returns (samples, sample rate Hz)."""
    from scipy.io import wavfile  # scipy: slow import, kept out of the CLI start

    p = Path(path)
    if not p.is_file():
        raise DelaykitError(f"{p}: no such audio file")
    check_wav_header(p)
    try:
        fs, data = wavfile.read(p)
    except (ValueError, EOFError, OSError, struct.error, NameError, IndexError, MemoryError) as e:
        # scipy's reader fails on a damaged header with any of these (NameError: UnboundLocalError)
        raise FormatError(
            f"{p}: not a readable WAV file ({e}); convert it to PCM WAV, e.g. "
            f"ffmpeg -i {p.name} -ac 1 out.wav"
        ) from None
    return check_audio(to_float(data, p), float(fs), p), float(fs)


#: Most channels a WAV file may declare.
MAX_WAV_CHANNELS = 64


def check_wav_header(p: Path) -> None:
    """Refuse a RIFF header whose channel count or sample width no reader should trust."""
    head = p.read_bytes()[:4096]
    i = head.find(b"fmt ")
    if head[:4] not in (b"RIFF", b"RIFX") or i < 0 or len(head) < i + 24:
        return  # scipy names what is wrong with the file
    order = "<" if head[:4] == b"RIFF" else ">"
    channels, fs, _, _, bits = struct.unpack(order + "HIIHH", head[i + 10 : i + 24])
    if not 1 <= channels <= MAX_WAV_CHANNELS or bits not in (8, 16, 24, 32, 64):
        raise FormatError(
            f"{p}: WAV header declares {channels} channel(s) of {bits} bits; expected 1..{MAX_WAV_CHANNELS} "
            f"channels of 8/16/24/32/64 bits: the file is damaged or not audio"
        )
    in_range(fs, str(p), "sample rate", FS_RANGE[0], FS_RANGE[1], fix="resample the file, e.g. to 16 kHz")
    j = head.find(b"data", i + 24)
    if j >= 0 and len(head) >= j + 8:
        declared = struct.unpack(order + "I", head[j + 4 : j + 8])[0]
        held = p.stat().st_size - (j + 8)
        if declared not in (0, 0xFFFFFFFF) and declared > held:  # 0 / all ones: a streamed WAV
            raise FormatError(
                f"{p}: WAV data chunk declares {declared:,} bytes but the file holds {held:,}: "
                "the file is truncated; copy or export it again"
            )


#: Sample rates a WAV file may have (Hz), and the longest clip encoded (seconds).
FS_RANGE = (1000.0, 1_000_000.0)
MAX_CLIP_S = 3600.0


def check_audio(x: np.ndarray, fs: float, source: str | Path) -> np.ndarray:
    """Refuse an empty clip, NaN/infinite samples, a sample rate outside FS_RANGE or a clip
    longer than MAX_CLIP_S (the cochlea's work grows with both)."""
    in_range(
        fs, str(source), "sample rate", FS_RANGE[0], FS_RANGE[1], fix="resample the file, e.g. to 16 kHz"
    )
    if x.size == 0:
        raise FormatError(f"{source}: holds 0 audio samples; nothing to encode")
    finite_array(x, str(source), "samples", "the file holds NaN or infinite samples; re-export it")
    if x.shape[0] / fs > MAX_CLIP_S:
        raise FormatError(
            f"{source}: clip of {x.shape[0] / fs:.0f} s is longer than the limit of {MAX_CLIP_S:.0f} s; cut it"
        )
    return x


def to_float(data: np.ndarray, source: str | Path = "audio") -> np.ndarray:
    """Integer or float samples (N,) or (N, channels) -> mono float64 in full-scale units."""
    data = np.asarray(data)
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128.0) / 128.0
    elif data.dtype.kind == "i":
        x = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    elif data.dtype.kind == "f":
        x = data.astype(np.float64)
    else:
        raise FormatError(f"{source}: unsupported sample type {data.dtype}; use PCM or float WAV")
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise FormatError(f"{source}: expected (samples,) or (samples, channels), got shape {x.shape}")
    return x


def encode_file(path: str | Path, cfg: CochleaConfig | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Encode a WAV file; returns (times s float32, units uint16, duration s)."""
    x, fs = read_wav(path)
    times, units = encode(x, fs, cfg)
    return times, units, x.size / fs
