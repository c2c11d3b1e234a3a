"""Where a sample's time goes in the event engine: each compiled kernel timed inside the run.

    .venv/bin/python benchmarks/profile_sim.py [--samples 200]

The SHD-size int8 network and SHD-like samples of ``bench_sim.py`` (Loihi 2 arithmetic). Each
kernel the engine calls per sample (the input scan, each layer's one-call gather and neurons,
the lane bounds, the readout) is wrapped with a timer; what the wrapped calls do not account
for is Python and numpy between them (plus the wrappers' own ~1 us a call). Medians over the
samples after one warm-up pass over all of them (first-use work, such as the per-network bound
matrices, is left out), printed beside the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_sim  # benchmarks/bench_sim.py: the network and the samples
import machine
import numpy as np

import delaykit.sim.event as event
import delaykit.sim.event_dense as event_dense
from delaykit.convert.quantize import quantize_network
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.hardware_targets import load_target
from delaykit.sim import Arithmetic

#: (module, name, label): the compiled calls of one sample
KERNELS = (
    (event, "_input_sources", "input scan (bit masks of nonzero bins)"),
    (event, "dense_loihi_layer", "layer {k}: gather + Loihi neurons, one call"),
    (event_dense, "_block_bound", "lane bound by blocks of channels"),
    (event_dense, "_weighted_bound", "lane bound, exact"),
    (event, "scaled_softmax_sum", "readout: scale + softmax sum"),
)


def _timed(
    fn: Callable[..., Any], label: str, spent: dict[str, float], calls: list[int]
) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args)
        key = label.format(k=calls[0]) if "{k}" in label else label
        spent[key] += time.perf_counter() - t
        if "{k}" in label:
            calls[0] += 1
        return out

    return wrapper


def profile(samples: int) -> None:
    net = bench_sim.shd_size_network()
    qnet, _ = quantize_network(net, 8)
    loihi = Arithmetic.for_target(load_target("loihi2"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shd_like_test.h5"
        bench_sim.write_test_set(path, samples)
        with SHDFile(path, BinSpec(dt=net.dt, channel_group=5, window_steps=bench_sim.WINDOW)) as ds:
            frames = [ds[i][0] for i in range(samples)]
    prepared = event.EventNetwork(qnet, loihi)
    for f in frames:  # warm-up: compiled code loaded, per-network matrices built
        prepared.run(f)
    per_sample: dict[str, list[float]] = defaultdict(list)
    calls = [0]
    originals = [(mod, name, getattr(mod, name)) for mod, name, _ in KERNELS]
    try:
        spent: dict[str, float] = defaultdict(float)
        for mod, name, label in KERNELS:
            setattr(mod, name, _timed(getattr(mod, name), label, spent, calls))
        for f in frames:
            spent.clear()
            calls[0] = 0
            t = time.perf_counter()
            prepared.run(f)
            total = time.perf_counter() - t
            per_sample["whole sample"].append(total)
            for key, s in spent.items():
                per_sample[key].append(s)
            per_sample["Python and numpy between kernels"].append(total - sum(spent.values()))
    finally:
        for mod, name, fn in originals:
            setattr(mod, name, fn)
    print(f"{samples} samples, medians per sample (a kernel not called in a sample counts 0):")
    for key, values in per_sample.items():
        v = np.array(values + [0.0] * (samples - len(values)))
        print(f"  {key:<42} {np.median(v) * 1e6:8.1f} us   (mean {v.mean() * 1e6:7.1f})")


def main(argv: list[str] | None = None) -> int:
    print(machine.describe(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200, help="SHD-like samples to run")
    args = ap.parse_args(argv)
    profile(args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
