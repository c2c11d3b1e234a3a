"""Event-driven simulation speed on the SHD-size network, against a dense PyTorch evaluation.

    .venv/bin/python benchmarks/bench_sim.py [--samples 2264] [--quick]

Network: 140 -> 256 -> 256 -> 20 (the paper's SHD model), delays 0..24 (K = 25),
``extend_steps`` 12 per layer, tau 1.005 steps, random weights scaled so the hidden layers fire
at a few percent per step; quantized to int8 (``delaykit.convert.quantize``) for Loihi 2's fixed
point. Input: SHD-like samples (a few thousand events on 700 units in a few moving frequency
bands, 0.1-1.0 s), binned as SHD is (10 ms, 5 units per channel, 1.4 s window = 140 steps).

Figures (medians over samples, printed with the machine load seen during the run):

* event engine: time per sample and synaptic events per second on one core, per arithmetic;
  in fixed point (int8) once with the delivery path chosen per layer and sample ("auto", the
  paths taken are printed) and once with each path forced: the event scatter and the
  time-dense gather (docs/design.md, "Engines");
* dense PyTorch float32 (each layer a conv1d over time with the delays as kernel taps, then
  the LIF loop), batch 256, on one thread and on all threads: time per sample;
* ``evaluate`` of a whole SHD-size test set (default 2264 samples, an SHD-schema file written
  to a temporary folder) with 2 workers: wall time, all included (pool start, file reading,
  binning).

* the core's clock, measured with a chain of dependent integer operations (a VM's /proc
  often shows the nominal clock only), and the engine's events per cycle. The scatter delivers
  an event with one scattered read-add-write, so one event per cycle (one store per cycle)
  bounds it. The time-dense gather is not bound by it and can pass it: one 16-lane vector add
  covers 16 time steps of one synapse, and every nonzero lane among them is a synaptic event
  (at ~13 % spike density about two per add), so its events per cycle are lanes per cycle times
  the density. The events counted are the same for both paths: (source event x synapse)
  arrivals inside the run, not lane operations;
* the per-call cost of a plain ``simulate(net, frames)`` (cached network) against a prepared
  runner and against building the network on every call (what ``simulate`` did before);
* an estimate of the SSC test set (20,382 samples) from the measured per-sample times: one
  process, and a 2-worker Dask ``LocalCluster`` (:mod:`delaykit.sim.distributed`, measured on
  the test set here, cluster start included) when Dask is installed.

Targets: >= 2 G synaptic events/s per core (issue 16; 1.5 G before), >= 5x the dense
evaluation per sample (per core), the 2264-sample test set in under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import machine  # benchmarks/machine.py: where the figures were measured
import numpy as np

from delaykit.convert.quantize import quantize_network
from delaykit.data.shd import BinSpec, SHDFile, write_shd
from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, evaluate, make_runner, simulate
from delaykit.sim.event import EventNetwork

SIZES = (140, 256, 256, 20)
K = 25
EXTEND = (K - 1) // 2
TAU = 1.005
WINDOW = 140
N_UNITS = 700
SSC_TEST = 20_382  # samples in SSC's test set


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


def bench_event(
    net: Network, arith: Arithmetic, frames: list[np.ndarray], delivery: str = "auto"
) -> dict[str, Any]:
    prepared = EventNetwork(net, arith, delivery=delivery)
    prepared.run(frames[0])  # compile / load the numba cache
    secs, cpu, events = [], [], []
    paths: Counter[str] = Counter()
    for f in frames:
        t, c = time.perf_counter(), time.thread_time()
        r = prepared.run(f)
        cpu.append(time.thread_time() - c)
        secs.append(time.perf_counter() - t)
        events.append(sum(r.events))
        paths[",".join(prepared.last_paths)] += 1
    s, e = float(np.median(secs)), float(np.median(events))
    ev = np.array(events, dtype=np.float64)
    return {
        "seconds": s,
        "cpu": float(np.median(cpu)),
        "events": e,
        "rate": float(np.median(ev / np.array(secs))),
        "cpu_rate": float(np.median(ev / np.maximum(np.array(cpu), 1e-9))),
        "spikes": r.spike_counts,
        "paths": "; ".join(f"{p} x{n}" for p, n in paths.most_common()),
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


def measured_clock_ghz(n: int = 100_000_000) -> float:
    """The core's clock from a chain of ``n`` dependent xor+add pairs (2 cycles each), best of 3."""
    import numba

    @numba.njit(cache=False)
    def chain(n: int, a: int) -> int:  # pragma: no cover - compiled
        for i in range(n):
            a = (a ^ i) + 1
        return a

    chain(10, 1)
    best = float("inf")
    for _ in range(3):
        c = time.thread_time()
        chain(n, 3)
        best = min(best, time.thread_time() - c)
    return 2 * n / best / 1e9


def bench_calls(
    net: Network, arith: Arithmetic, frames: list[np.ndarray], rounds: int = 5
) -> dict[str, float]:
    """Median CPU seconds per call, alternated in one run: a prepared runner, plain simulate()
    (its cache), and building the network on every call (simulate before the cache)."""
    runner = make_runner(net, "event", arith)
    ways = {
        "runner": runner,
        "simulate": lambda f: simulate(net, f, arithmetic=arith),
        "build each call": lambda f: EventNetwork(net, arith).run(f),
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for name, call in ways.items():
            for f in frames:
                c = time.thread_time()
                call(f)
                times[name].append(time.thread_time() - c)
    return {k: float(np.median(v)) for k, v in times.items()}


def small_network(seed: int = 0) -> Network:
    """A small network (20 -> 32 -> 4, delays 0..9), where set-up dominates a plain call."""
    rng = np.random.default_rng(seed)
    l1 = Layer("fc0", rng.normal(0, 0.5, (32, 20)), rng.integers(0, 10, (32, 20)), LIF(tau=2.0))
    l2 = Layer("fc1", rng.normal(0, 0.3, (4, 32)), rng.integers(0, 10, (4, 32)), LI(tau=2.0))
    return Network((l1, l2), 0.01, InputSpec(20, 50, 20, 1), readout="softmax_sum")


def print_calls(qnet: Network, loihi: Arithmetic, frames: list[np.ndarray]) -> None:
    """Per-call cost of plain simulate() vs a runner, on the SHD-size and a small network."""
    rng = np.random.default_rng(3)
    small = small_network()
    small_frames = [(rng.random((50, 20)) < 0.1).astype(np.float32) for _ in range(20)]
    for name, n, a, fr in (
        ("SHD-size int8", qnet, loihi, frames[:20]),
        ("small float64", small, Arithmetic.float64(), small_frames),
    ):
        r = bench_calls(n, a, fr)
        print(
            f"per call, {name:<14}: runner {r['runner'] * 1e3:.3f} ms, plain simulate() "
            f"{r['simulate'] * 1e3:.3f} ms ({r['simulate'] / r['runner']:.2f}x the runner), building the "
            f"network each call {r['build each call'] * 1e3:.3f} ms (CPU time, medians)"
        )


def print_rate(rows: list[tuple[str, dict[str, Any]]], clock: float, proc_ghz: float | None) -> None:
    """The int8 rate of each path beside the clock and the one-event-per-cycle bound."""
    proc = "unknown" if proc_ghz is None else f"{proc_ghz:.2f}"
    print(
        f"clock {clock:.2f} GHz measured (/proc: {proc} GHz); 1 event/cycle bound = {clock:.2f} G/s "
        "(binds the scatter: one scattered store per event; the dense gather adds 16 steps per vector op)"
    )
    for name, r in rows[:3]:
        print(
            f"  {name:<21}: {r['rate'] / 1e9:.2f} G events/s per core wall, {r['cpu_rate'] / 1e9:.2f} G per "
            f"CPU-second -> {r['cpu_rate'] / (clock * 1e9):.2f} events per cycle [{r['paths']}]"
        )


def ssc_estimate(ds: SHDFile, net: Network, arith: Arithmetic, n: int, dask: bool) -> None:
    """Print the SSC test set (20,382 samples) projected from per-sample times here."""
    runner = make_runner(net, "event", arith)
    cpu = []
    for i in range(n):
        c = time.thread_time()
        runner(ds[i][0])  # reading + binning + simulation, as a worker does
        cpu.append(time.thread_time() - c)
    one = float(np.mean(cpu)) * SSC_TEST
    line = (
        f"SSC test set ({SSC_TEST} samples, this network): one process {one:.1f} s "
        f"(mean {np.mean(cpu) * 1e3:.3f} ms CPU per sample read+binned+simulated), "
        f"{one / 2:.1f} s on 2 ideal workers"
    )
    if dask:
        line += "; " + _dask_estimate(ds, net, arith)
    print(line)


def _dask_estimate(ds: SHDFile, net: Network, arith: Arithmetic) -> str:
    """A 2-worker Dask LocalCluster on the test set: measured wall, projected to SSC."""
    try:
        import distributed
    except ImportError:
        return "Dask not installed"
    from delaykit.sim.distributed import evaluate_distributed

    t0 = time.perf_counter()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        start = time.perf_counter() - t0
        evaluate_distributed(net, ds, arithmetic=arith, client=client, limit=64, progress=False)  # warm
        t1 = time.perf_counter()
        r = evaluate_distributed(net, ds, arithmetic=arith, client=client, progress=False)
        wall = time.perf_counter() - t1
    n = len(r.predictions)
    return (
        f"2-worker Dask LocalCluster {start + wall * SSC_TEST / n:.1f} s ({start:.1f} s cluster start + "
        f"{wall:.2f} s measured for {n} samples, scaled)"
    )


def event_rows(
    net: Network, qnet: Network, loihi: Arithmetic, frames: list[np.ndarray]
) -> list[tuple[str, dict[str, Any]]]:
    """The event engine per arithmetic (int8: chosen path, then each path forced): print and
    return its figures."""
    rows = []
    for name, n, a, delivery in (
        ("fixed:loihi2 (int8)", qnet, loihi, "auto"),
        ("int8, scatter forced", qnet, loihi, "scatter"),
        ("int8, dense forced", qnet, loihi, "dense"),
        ("float32", net, Arithmetic.float32(), "auto"),
        ("float64", net, Arithmetic.float64(), "auto"),
    ):
        r = bench_event(n, a, frames, delivery)
        rows.append((name, r))
        print(
            f"event engine {name:<21} {r['seconds'] * 1e3:7.3f} ms/sample wall ({r['cpu'] * 1e3:.3f} ms "
            f"CPU), {r['events'] / 1e6:5.2f} M events/sample, {r['rate'] / 1e9:5.2f} G events/s per core "
            f"({r['cpu_rate'] / 1e9:.2f} G per CPU-second); hidden spikes {r['spikes']}; paths per layer: "
            f"{r['paths']}"
        )
    return rows


def print_targets(fixed: dict[str, Any], speedup: float, scaled: float, idle: float) -> None:
    rate = fixed["rate"]
    print("targets:")
    print(
        f"  events/s per core   {rate / 1e9:6.2f} G  (target >= 2 G)   {'OK' if rate >= 2e9 else 'MISSED'}"
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


def bench_evaluate(
    qnet: Network, loihi: Arithmetic, ds: SHDFile, frame: np.ndarray, samples: int, workers: int
) -> tuple[float, float]:
    """evaluate() on the whole test set: print it; return (wall scaled to 2264, idle projection)."""
    evaluate(qnet, [(frame, 0)], arithmetic=loihi, workers=1, progress=False)  # warm the cache
    t0 = os.times()
    ev = evaluate(qnet, ds, arithmetic=loihi, workers=workers, progress=False)
    t1 = os.times()
    cpu_parent = (t1.user + t1.system) - (t0.user + t0.system)
    cpu_workers = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    scaled = ev.wall_seconds * 2264 / samples
    # what the run would take on idle cores: the parent's CPU time counted as serial, the workers'
    # CPU time spread over the workers (CPU time excludes the time other processes held the cores)
    idle = (cpu_parent + cpu_workers / workers) * 2264 / samples
    print(
        f"evaluate {samples} samples, {workers} workers, fixed:loihi2: {ev.wall_seconds:.2f} s wall "
        f"({scaled:.2f} s scaled to 2264); CPU {cpu_parent:.2f} s parent + {cpu_workers:.2f} s workers "
        f"-> {idle:.2f} s for 2264 on {workers} idle cores; accuracy {ev.accuracy:.1f} % (random labels)"
    )
    return scaled, idle


def main(argv: list[str] | None = None) -> int:
    print(machine.describe(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2264, help="test-set size for the evaluate run")
    ap.add_argument("--per-sample", type=int, default=200, help="samples for the per-sample medians")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument("--no-dask", action="store_true", help="leave out the 2-worker Dask run")
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
            rows = event_rows(net, qnet, loihi, frames[: args.per_sample])
            print_calls(qnet, loihi, frames)
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
            scaled, idle = bench_evaluate(qnet, loihi, ds, frames[0], args.samples, args.workers)
            ssc_estimate(ds, qnet, loihi, min(len(ds), args.per_sample), not args.no_dask)
    load1 = os.getloadavg()
    fixed = rows[0][1]
    speedup = dense1 / fixed["seconds"]
    print_rate(rows, measured_clock_ghz(), machine.clock_ghz())
    print_targets(fixed, speedup, scaled, idle)
    print(
        f"machine: {os.cpu_count()} cores, load average {load0[0]:.2f} before, {load1[0]:.2f} after "
        f"(other processes share these cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
