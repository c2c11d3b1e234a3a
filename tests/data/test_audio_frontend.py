"""The cochlear front end (delaykit.data.audio) on synthetic sounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile

from delaykit.data import audio
from delaykit.data.audio import CochleaConfig
from delaykit.errors import DelaykitError, FormatError

FS = 16000
CFG = CochleaConfig()


def tone(f_hz: float, dbfs: float, dur_s: float = 0.3, fs: float = FS, ramp_s: float = 0.01) -> np.ndarray:
    """A sine of peak level ``dbfs`` with raised-cosine on/off ramps (no onset click)."""
    t = np.arange(int(dur_s * fs)) / fs
    x = 10 ** (dbfs / 20) * np.sin(2 * np.pi * f_hz * t)
    n = int(ramp_s * fs)
    w = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    x[:n] *= w
    x[-n:] *= w[::-1]
    return x


def counts(x: np.ndarray, fs: float = FS, cfg: CochleaConfig = CFG) -> np.ndarray:
    _, units = audio.encode(x, fs, cfg)
    return np.bincount(units, minlength=cfg.n_channels)


# -- filterbank -------------------------------------------------------------------------------


def test_centre_frequencies_are_erb_spaced() -> None:
    cf = audio.centre_frequencies(CFG)
    assert cf.shape == (700,)
    assert cf[0] == pytest.approx(100.0) and cf[-1] == pytest.approx(7000.0)
    steps = np.diff(audio.erb_rate(cf))
    assert np.all(steps > 0)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    np.testing.assert_allclose(audio.erb_rate_inverse(audio.erb_rate(cf)), cf, rtol=1e-12)


@pytest.mark.parametrize("f", [1000.0, 2345.0, 5000.0, 7000.0])
def test_gammatone_cascade_has_scipys_transfer_function(f: float) -> None:
    # Above ~1 kHz scipy's 8th-order (b, a) is well conditioned: evaluated directly it agrees
    # with an arbitrary-precision evaluation to ~1e-9 (measured), so 1e-7 is a fair bound.
    b, a = signal.gammatone(f, "iir", fs=FS)
    sos = audio.gammatone_sos(f, FS)
    w = np.linspace(20, 7900, 2000)
    _, h_ref = signal.freqz(b, a, worN=w, fs=FS)
    _, h = signal.sosfreqz(sos, worN=w, fs=FS)
    assert np.max(np.abs(h - h_ref)) / np.max(np.abs(h_ref)) < 1e-7


@pytest.mark.parametrize("f", [100.0, 180.0, 650.0, 4000.0])
def test_gammatone_cascade_poles_and_unit_gain(f: float) -> None:
    # Below 1 kHz the direct form loses digits (4-fold poles), so check the design itself:
    # four identical pole pairs at radius exp(-2 pi 1.019 ERB(f) / fs), angle 2 pi f / fs
    # (Slaney's ERB = f / 9.26449 + 24.7, as scipy uses), and scipy's normalisation, unit
    # gain at the centre frequency.
    sos = audio.gammatone_sos(f, FS)
    erb = f / 9.26449 + 24.7
    r = math.exp(-2 * math.pi * 1.019 * erb / FS)
    for sec in sos:
        p = np.roots(sec[3:])
        np.testing.assert_allclose(np.abs(p), r, rtol=1e-12)
        np.testing.assert_allclose(np.sort(np.abs(np.angle(p))), 2 * math.pi * f / FS, rtol=1e-9)
    _, h = signal.sosfreqz(sos, worN=[f], fs=FS)
    assert abs(h[0]) == pytest.approx(1.0, abs=1e-6)


# -- responses to sounds ----------------------------------------------------------------------


@pytest.mark.parametrize("f", [150.0, 300.0, 1000.0, 3000.0, 6000.0])
def test_tone_excites_the_channel_at_its_frequency(f: float) -> None:
    c = counts(tone(f, -40.0))
    e = audio.erb_rate(audio.centre_frequencies(CFG))
    target = float(audio.erb_rate(f))
    assert c.sum() > 100
    # The busiest channel and the spike-weighted centre lie within half an ERB (one auditory
    # filter is 1 ERB wide; 700 channels put ~24 channels in one ERB).
    assert abs(e[c.argmax()] - target) < 0.5
    assert abs((c * e).sum() / c.sum() - target) < 0.5
    # Far from the tone (> 4 ERB away) nothing fires at this moderate level.
    assert c[np.abs(e - target) > 4].sum() == 0


def test_spike_counts_grow_with_level() -> None:
    k = int(np.argmin(np.abs(audio.centre_frequencies(CFG) - 1000.0)))
    totals, at_cf = [], []
    for db in (-60, -50, -40, -30, -20, -10):
        c = counts(tone(1000.0, db))
        totals.append(int(c.sum()))
        at_cf.append(int(c[k - 5 : k + 6].sum()))
    assert all(a < b for a, b in zip(totals, totals[1:], strict=False)), totals
    assert all(a < b for a, b in zip(at_cf, at_cf[1:], strict=False)), at_cf


def test_silence_and_dither_give_no_spikes() -> None:
    rng = np.random.default_rng(7)
    assert counts(np.zeros(FS)).sum() == 0
    lsb_dither = rng.integers(-1, 2, FS) / 32768.0  # +-1 LSB of 16-bit audio, about -96 dBFS
    assert counts(lsb_dither).sum() == 0
    times, units = audio.encode(np.zeros(0), FS, CFG)
    assert times.size == 0 and units.size == 0


def test_spike_train_format_and_refractoriness() -> None:
    x = tone(500.0, -10.0, dur_s=0.5) + tone(3000.0, -20.0, dur_s=0.5)
    times, units = audio.encode(x, FS, CFG)
    assert times.dtype == np.float32 and units.dtype == np.uint16
    assert np.all(np.diff(times) >= 0)
    assert times.min() >= 0 and times.max() < 0.5
    assert units.max() < 700
    step = CFG.decimate / CFG.sample_rate
    isi = np.concatenate([np.diff(np.sort(times[units == u])) for u in np.unique(units)])
    assert isi.size > 1000
    assert isi.min() > CFG.refractory_ms * 1e-3 - step / 2
    # Times sit on the spiking stage's grid.
    np.testing.assert_allclose(times / step, np.round(times / step), atol=1e-3)


def test_encoding_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(FS // 2) * 0.05
    t1, u1 = audio.encode(x, FS, CFG)
    t2, u2 = audio.encode(x.copy(), FS, CFG)
    assert t1.size > 0
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(u1, u2)


def test_other_sample_rates_are_resampled() -> None:
    c16 = counts(tone(1000.0, -30.0, fs=16000), fs=16000)
    c22 = counts(tone(1000.0, -30.0, fs=22050), fs=22050)
    c44 = counts(tone(1000.0, -30.0, fs=44100), fs=44100)
    for c in (c22, c44):
        # same tone, same spikes up to resampling error: within 3 % in total and the same peak
        # region (polyphase filter ripple and the ramp's sampling differ slightly)
        assert abs(int(c.sum()) - int(c16.sum())) <= 0.03 * c16.sum()
        assert abs(int(c.argmax()) - int(c16.argmax())) <= 12


def test_normalize_dbfs_removes_level() -> None:
    cfg = CochleaConfig(normalize_dbfs=-25.0)
    a = audio.encode(tone(800.0, -15.0), FS, cfg)
    b = audio.encode(tone(800.0, -45.0), FS, cfg)
    assert abs(a[0].size - b[0].size) <= 0.01 * a[0].size


def test_fewer_channels_cover_the_same_band() -> None:
    cfg = CochleaConfig(n_channels=64, f_min=200.0, f_max=5000.0)
    c = counts(tone(1000.0, -30.0), cfg=cfg)
    cf = audio.centre_frequencies(cfg)
    assert c.size == 64
    assert abs(audio.erb_rate(cf[c.argmax()]) - audio.erb_rate(1000.0)) < 1.0


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"f_max": 7500.0}, "f_max"),
        ({"f_min": 0.0}, "f_min"),
        ({"n_channels": 0}, "n_channels"),
        ({"compression": 0.0}, "compression"),
        ({"decimate": 0}, "decimate"),
        ({"tau_m_ms": -1.0}, "tau_m_ms"),
    ],
)
def test_config_validation_names_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        CochleaConfig(**kw)


# -- WAV input --------------------------------------------------------------------------------


def test_read_wav_formats(tmp_path) -> None:
    x = tone(440.0, -6.0, dur_s=0.05)
    cases = {
        "i16.wav": (np.round(x * 32767).astype(np.int16), 1 / 32768),
        "f32.wav": (x.astype(np.float32), 1e-7),
        "u8.wav": (np.round(x * 127 + 128).astype(np.uint8), 1 / 128),
        "i32.wav": (np.round(x * (2**31 - 1)).astype(np.int32), 1e-9),
    }
    for name, (data, tol) in cases.items():
        wavfile.write(tmp_path / name, 22050, data)
        y, fs = audio.read_wav(tmp_path / name)
        assert fs == 22050 and y.dtype == np.float64
        np.testing.assert_allclose(y, x, atol=tol)
    # 24-bit PCM (scipy returns it left-justified in int32), written with the stdlib
    import wave

    v = np.round(x * (2**23 - 1)).astype(np.int64)
    with wave.open(str(tmp_path / "i24.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(16000)
        w.writeframes(b"".join(int(s).to_bytes(3, "little", signed=True) for s in v))
    y, fs = audio.read_wav(tmp_path / "i24.wav")
    assert fs == 16000
    np.testing.assert_allclose(y, x, atol=2**-22)
    stereo = np.stack([np.round(x * 32767), np.zeros_like(x)], axis=1).astype(np.int16)
    wavfile.write(tmp_path / "st.wav", 16000, stereo)
    y, _ = audio.read_wav(tmp_path / "st.wav")
    np.testing.assert_allclose(y, x / 2, atol=1 / 32768)


def test_read_wav_errors(tmp_path) -> None:
    with pytest.raises(DelaykitError, match="no such audio file"):
        audio.read_wav(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not a RIFF file at all")
    with pytest.raises(FormatError, match="bad.wav"):
        audio.read_wav(bad)


def test_encode_file_matches_encode(tmp_path) -> None:
    x = np.round(tone(700.0, -20.0) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "t.wav", FS, x)
    t1, u1, dur = audio.encode_file(tmp_path / "t.wav", CFG)
    t2, u2 = audio.encode(x / 32768.0, FS, CFG)
    assert dur == pytest.approx(0.3)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(u1, u2)
