"""Event-driven simulation speed on the SHD-size network, against a dense PyTorch evaluation.

    .venv/bin/python benchmarks/bench_sim.py [--samples 2264] [--quick]

Network: 140 -> 256 -> 256 -> 20 (the paper's SHD model), delays 0..24 (K = 25),
``extend_steps`` 12 per layer, tau 1.005 steps, random weights scaled so the hidden layers fire
at a few percent per step; quantized to int8 (``delaykit.convert.quantize``) for Loihi 2's fixed
point. Input: SHD-like samples (a few thousand events on 700 units in a few moving frequency
bands, 0.1-1.0 s), binned as SHD is (10 ms, 5 units per channel, 1.4 s window = 140 steps).

Figures (medians over samples, printed with the machine load seen during the run):

* event engine: time per sample and synaptic events per second on one core, per arithmetic;
* dense PyTorch float32 (each layer a conv1d over time with the delays as kernel taps, then
  the LIF loop), batch 256, on one thread and on all threads: time per sample;
* ``evaluate`` of a whole SHD-size test set (default 2264 samples, an SHD-schema file written
  to a temporary folder) with 2 workers: wall time, all included (pool start, file reading,
  binning).

Targets: >= 1.5 G synaptic events/s per core, >= 5x the dense evaluation per sample
(per core), the 2264-sample test set in under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import machine  # benchmarks/machine.py: where the figures were measured
import numpy as np

from delaykit.convert.quantize import quantize_network
from delaykit.data.shd import BinSpec, SHDFile, write_shd
from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, evaluate
from delaykit.sim.event import EventNetwork

SIZES = (140, 256, 256, 20)
K = 25
EXTEND = (K - 1) // 2
TAU = 1.005
WINDOW = 140
N_UNITS = 700


def shd_size_network(seed: int = 0) -> Network:
    """The paper's SHD architecture with random weights (float)."""
    rng = np.random.default_rng(seed)
    gains = (2.2, 2.0, 1.0)
    layers = []
    for k in range(3):
        n_in, n_out = SIZES[k], SIZES[k + 1]
        w = rng.normal(0.0, gains[k] / np.sqrt(n_in), (n_out, n_in))
        d = rng.integers(0, K, (n_out, n_in))
        neuron = LIF(tau=TAU, v_threshold=1.0) if k < 2 else LI(tau=TAU)
        layers.append(Layer(f"fc{k}", w, d, neuron, bias=rng.normal(0, 0.02, n_out), extend_steps=EXTEND))
    return Network(tuple(layers), 0.01, InputSpec(140, WINDOW, N_UNITS, 5), readout="softmax_sum")


def shd_like_events(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One sample: times (s) and units of a few thousand events in moving frequency bands."""
    n = int(rng.integers(2000, 6000))
    t0, t1 = 0.1 + 0.1 * rng.random(), 0.6 + 0.4 * rng.random()
    times = rng.uniform(t0, t1, n)
    bands = rng.uniform(100, 600, 5)
    slopes = rng.normal(0, 150, 5)
    which = rng.integers(0, 5, n)
    centre = bands[which] + slopes[which] * (times - t0)
    units = np.clip(np.round(centre + rng.normal(0, 25, n)), 0, N_UNITS - 1).astype(np.int64)
    order = np.argsort(times)
    return times[order].astype(np.float32), units[order]


def write_test_set(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    times, units = zip(*(shd_like_events(rng) for _ in range(n)), strict=True)
    write_shd(path, list(times), list(units), rng.integers(0, 20, n), n_units=N_UNITS, window_s=1.4)


def bench_event(net: Network, arith: Arithmetic, frames: list[np.ndarray]) -> dict[str, float]:
    prepared = EventNetwork(net, arith)
    prepared.run(frames[0])  # compile / load the numba cache
    secs, cpu, events = [], [], []
    for f in frames:
        t, c = time.perf_counter(), time.thread_time()
        r = prepared.run(f)
        cpu.append(time.thread_time() - c)
        secs.append(time.perf_counter() - t)
        events.append(sum(r.events))
    s, e = float(np.median(secs)), float(np.median(events))
    ev = np.array(events, dtype=np.float64)
    return {
        "seconds": s,
        "cpu": float(np.median(cpu)),
        "events": e,
        "rate": float(np.median(ev / np.array(secs))),
        "cpu_rate": float(np.median(ev / np.maximum(np.array(cpu), 1e-9))),
        "spikes": r.spike_counts,
    }


def bench_dense(
    net: Network, frames: list[np.ndarray], threads: int, batch: int = 256, repeats: int = 3
) -> tuple[float, np.ndarray]:
    """Seconds per sample of a dense float32 PyTorch evaluation, and its predictions."""
    import torch

    torch.set_num_threads(threads)
    convs = []
    for layer in net.layers:
        w = np.zeros((layer.n_out, layer.n_in, K), dtype=np.float32)
        rows, cols = np.nonzero(layer.weight)
        w[rows, cols, K - 1 - layer.delay[rows, cols]] = layer.weight[rows, cols]  # tap K-1-d: x[t - d]
        convs.append((torch.from_numpy(w), torch.from_numpy(layer.bias.astype(np.float32)), layer))
    x_all = torch.from_numpy(np.stack(frames[:batch]).transpose(0, 2, 1).copy())  # (B, C, T)

    def forward(x: torch.Tensor) -> torch.Tensor:
        for w, b, layer in convs:
            x = torch.nn.functional.pad(x, (K - 1, layer.extend_steps))
            cur = torch.nn.functional.conv1d(x, w) + b[None, :, None]
            v = torch.zeros(cur.shape[0], cur.shape[1])
            outs = []
            for t in range(cur.shape[2]):
                h = v + (0.0 - v) / layer.neuron.tau + cur[:, :, t]
                if layer.neuron.spiking:
                    s = (h >= layer.neuron.v_threshold).float()
                    v = h * (1 - s)
                    outs.append(s)
                else:
                    v = h
                    outs.append(h)
            x = torch.stack(outs, dim=2)
        return x

    with torch.inference_mode():
        forward(x_all)  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            y = forward(x_all)
            times.append(time.perf_counter() - t)
    pred = torch.softmax(y, dim=1).sum(dim=2).argmax(dim=1).numpy()
    return float(np.median(times)) / x_all.shape[0], pred


def main(argv: list[str] | None = None) -> int:
    print(machine.describe(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2264, help="test-set size for the evaluate run")
    ap.add_argument("--per-sample", type=int, default=200, help="samples for the per-sample medians")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.per_sample = 300, 40
    load0 = os.getloadavg()
    net = shd_size_network()
    qnet, _ = quantize_network(net, 8)
    loihi = Arithmetic.for_target(load_target("loihi2"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shd_like_test.h5"
        t = time.perf_counter()
        write_test_set(path, args.samples)
        print(f"wrote {args.samples} SHD-like samples in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        spec = BinSpec(dt=net.dt, channel_group=5, window_steps=WINDOW)
        with SHDFile(path, spec) as ds:
            frames = [ds[i][0] for i in range(min(len(ds), max(args.per_sample, 256)))]
            inp = np.array([(f != 0).sum() for f in frames])
            counts = np.array([f.sum() for f in frames])
            print(
                f"input: median {np.median(counts):.0f} events per sample in {np.median(inp):.0f} nonzero "
                f"bins (140 channels x {WINDOW} steps)"
            )
            rows = []
            for name, n, a in (
                ("fixed:loihi2 (int8)", qnet, loihi),
                ("float32", net, Arithmetic.float32()),
                ("float64", net, Arithmetic.float64()),
            ):
                r = bench_event(n, a, frames[: args.per_sample])
                rows.append((name, r))
                print(
                    f"event engine {name:<20} {r['seconds'] * 1e3:7.3f} ms/sample wall ({r['cpu'] * 1e3:.3f} ms "
                    f"CPU), {r['events'] / 1e6:5.2f} M events/sample, {r['rate'] / 1e9:5.2f} G events/s per core "
                    f"({r['cpu_rate'] / 1e9:.2f} G per CPU-second); hidden spikes {r['spikes']}"
                )
            dense1, dense_pred = bench_dense(net, frames, threads=1)
            dense_all, _ = bench_dense(net, frames, threads=os.cpu_count() or 1)
            ev32 = EventNetwork(net, Arithmetic.float32())
            agree = np.mean(
                [ev32.run(f).prediction == p for f, p in zip(frames[:256], dense_pred, strict=True)]
            )
            print(
                f"dense PyTorch float32 (conv1d, batch 256): {dense1 * 1e3:7.3f} ms/sample on 1 thread, "
                f"{dense_all * 1e3:7.3f} ms/sample on {os.cpu_count()} threads; predictions agree with the "
                f"event engine (float32) on {agree:.1%} of 256 samples"
            )
            evaluate(qnet, [(frames[0], 0)], arithmetic=loihi, workers=1, progress=False)  # warm the cache
            t0 = os.times()
            ev = evaluate(qnet, ds, arithmetic=loihi, workers=args.workers, progress=False)
            t1 = os.times()
            cpu_parent = (t1.user + t1.system) - (t0.user + t0.system)
            cpu_workers = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    load1 = os.getloadavg()
    fixed = rows[0][1]
    rate = fixed["rate"]
    speedup = dense1 / fixed["seconds"]
    scaled = ev.wall_seconds * 2264 / args.samples
    # what the run would take on idle cores: the parent's CPU time counted as serial, the workers'
    # CPU time spread over the workers (CPU time excludes the time other processes held the cores)
    idle = (cpu_parent + cpu_workers / args.workers) * 2264 / args.samples
    print(
        f"evaluate {args.samples} samples, {args.workers} workers, fixed:loihi2: {ev.wall_seconds:.2f} s wall "
        f"({scaled:.2f} s scaled to 2264); CPU {cpu_parent:.2f} s parent + {cpu_workers:.2f} s workers "
        f"-> {idle:.2f} s for 2264 on {args.workers} idle cores; accuracy {ev.accuracy:.1f} % (random labels)"
    )
    print("targets:")
    print(
        f"  events/s per core   {rate / 1e9:6.2f} G  (target >= 1.5 G)   {'OK' if rate >= 1.5e9 else 'MISSED'}"
        f"   [{fixed['cpu_rate'] / 1e9:.2f} G per CPU-second]"
    )
    print(
        f"  vs dense per sample {speedup:6.1f} x  (target >= 5 x, 1 thread each)   "
        f"{'OK' if speedup >= 5 else 'MISSED'}"
    )
    print(
        f"  2264-sample set     {scaled:6.2f} s  (target < 3 s on 2 cores)   {'OK' if scaled < 3 else 'MISSED'}"
        f"   [{idle:.2f} s projected on idle cores]"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {load0[0]:.2f} before, {load1[0]:.2f} after "
        f"(other processes share these cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
