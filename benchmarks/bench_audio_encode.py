"""Time the cochlear front end (delaykit.data.audio) on one clip, stage by stage.

Signal: a 1 s speech-like sound at 16 kHz (a 120 Hz harmonic complex through three moving
formant resonances, plus a fricative noise burst), 700 channels, default CochleaConfig.

Baseline, measured in the same run: the textbook channel-at-a-time pipeline: scipy's
direct-form ``lfilter(b, a)`` gammatone per channel, then rectify, low-pass, compress and a
per-sample Python LIF loop for that channel. It is timed on ``--baseline-channels`` channels
and scaled to 700. Prints seconds per second of audio (one core) and the speed-up.

Usage::

    .venv/bin/python benchmarks/bench_audio_encode.py [--seconds 1.0] [--repeats 5] [--baseline-channels 35]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import machine  # benchmarks/machine.py: where the figures were measured
import numpy as np
from scipy import signal

from delaykit.data import audio


def speech_like(seconds: float, fs: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    f0 = 120 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    src = signal.sawtooth(2 * np.pi * np.cumsum(f0) / fs)
    x = np.zeros_like(t)
    for f_lo, f_hi in ((500, 800), (1200, 1800), (2500, 2900)):
        f = f_lo + (f_hi - f_lo) * t / seconds
        b, a = signal.iirpeak(float(f.mean()), 8.0, fs=fs)
        x += signal.lfilter(b, a, src)
    noise = signal.lfilter(*signal.butter(4, 4000, "high", fs=fs), rng.standard_normal(t.size))
    x += 0.3 * noise * (t > 0.7 * seconds)
    return 0.3 * x / np.max(np.abs(x))


def baseline(x: np.ndarray, cfg: audio.CochleaConfig, channels: np.ndarray) -> int:
    """Channel-at-a-time reference of the same model; returns the spike count."""
    fs = cfg.sample_rate
    p = math.exp(-2 * math.pi * cfg.ihc_cutoff_hz / fs)
    dt_ms = 1e3 * cfg.decimate / fs
    decay = math.exp(-dt_ms / cfg.tau_m_ms)
    a_dec = math.exp(-dt_ms / cfg.adapt_tau_ms)
    n_ref = round(cfg.refractory_ms / dt_ms)
    n = 0
    for f in channels:
        b, a = signal.gammatone(float(f), "iir", fs=fs)
        y = signal.lfilter(b, a, x)
        c = signal.lfilter([1 - p], [1, -p], np.maximum(y, 0))[:: cfg.decimate]
        c = np.cbrt(c / 10 ** (cfg.ref_dbfs / 20))
        v, thr, last = 0.0, 1.0, -(10**9)
        for t, ct in enumerate(c.tolist()):
            v = v * decay + (1 - decay) * ct
            if v >= thr and t - last > n_ref:
                v, last, thr = 0.0, t, thr + cfg.adapt_increment
                n += 1
            thr = 1 + (thr - 1) * a_dec
            if t - last <= n_ref:
                v = 0.0
    return n


def main() -> None:
    print(machine.describe(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline-channels", type=int, default=35)
    args = ap.parse_args()
    cfg = audio.CochleaConfig()
    x = speech_like(args.seconds)
    audio.encode(x[:1600], 16000, cfg)  # design the filterbank once (cached), warm up
    stages: dict[str, list[float]] = {"filterbank": [], "hair cell": [], "spiking": [], "total": []}
    n_spikes = 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        y = audio.filterbank(x, cfg)
        t1 = time.perf_counter()
        d = audio.hair_cell(y, cfg)
        t2 = time.perf_counter()
        ti, _ = audio.spiking_stage(d, cfg)
        t3 = time.perf_counter()
        n_spikes = ti.size
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            v_per_s = v / args.seconds
            stages[k].append(v_per_s)
    cf = audio.centre_frequencies(cfg)
    sel = cf[np.linspace(0, cfg.n_channels - 1, args.baseline_channels).round().astype(int)]
    t0 = time.perf_counter()
    baseline(x, cfg, sel)
    base = (time.perf_counter() - t0) * cfg.n_channels / len(sel) / args.seconds
    print(
        f"clip {args.seconds:g} s at 16 kHz, {cfg.n_channels} channels, {n_spikes} spikes; "
        f"median of {args.repeats}, seconds of one core per second of audio:"
    )
    for k, v in stages.items():
        print(f"  delaykit {k:<10s} {statistics.median(v):7.3f}")
    print(f"  baseline (channel at a time, scaled from {len(sel)} channels) {base:7.3f}")
    print(
        f"  speed-up {base / statistics.median(stages['total']):.1f}x; real-time factor "
        f"{statistics.median(stages['total']):.2f}"
    )


if __name__ == "__main__":
    main()
