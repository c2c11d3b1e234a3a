"""NEST and PyNN time per sample beside delaykit's, on the PyNN export of an int8 network.

    .venv/bin/python benchmarks/bench_pynn.py --model runs/demo/learned/model.pt \\
        --data runs/demo/data/delay_test.h5 [--samples 100]
    .venv/bin/python benchmarks/bench_pynn.py --train      # builds the demo's network first (~3 min)

The network is converted with 8-bit weights as ``delaykit demo`` does (a ``.dkn`` is taken as
is) and exported with ``delaykit.convert.pynn_export.write_pynn``. The NEST/PyNN side runs the
exported ``run_pynn.py`` in the environment of ``scripts/setup_pynn.sh`` (or
``$DELAYKIT_PYNN_PYTHON``), all samples in one simulation (separated in time, membranes reset
between samples); its *simulation* time is the simulator's run calls, its *total* adds process
start, import, network building and result transfer. delaykit: the event-driven engine, float64,
one sample at a time after one warm-up sample (numba compilation excluded). Every run is
compared spike for spike with delaykit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import machine  # benchmarks/machine.py: where the figures were measured
import numpy as np

from delaykit.convert.pynn_export import check_pynn, find_pynn_python, write_pynn
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.network import Network
from delaykit.sim import Arithmetic, simulate


def demo_network(work: Path) -> tuple[Network, Path]:
    """The demo's recipe: delay task (2000 / 500 samples), config delay-task, int8."""
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model  # torch: only when training here

    _, test = write_delay_task_pair(work / "data", 2000, 500, seed=0)
    ckpt = train_model("delay-task", work / "data", work / "learned", overrides=["model.kind=learned"])
    return convert_checkpoint(ckpt, bits=8), test


def load_network(model: Path) -> Network:
    if model.suffix == ".dkn":
        return Network.load(model)
    from delaykit.convert.build import convert_checkpoint

    return convert_checkpoint(model, bits=8)


def time_delaykit(net: Network, frames: np.ndarray) -> float:
    """Mean seconds per sample of the event engine (float64), after one warm-up sample."""
    simulate(net, frames[0], engine="event", arithmetic=Arithmetic.float64())
    t0 = time.perf_counter()
    for f in frames:
        simulate(net, f, engine="event", arithmetic=Arithmetic.float64())
    return (time.perf_counter() - t0) / len(frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="delaykit checkpoint (converted to int8) or .dkn")
    ap.add_argument("--data", type=Path, help="SHD-schema test file")
    ap.add_argument("--train", action="store_true", help="train the demo's network first (~3 min)")
    ap.add_argument("--samples", type=int, default=100)
    a = ap.parse_args()
    print(machine.describe(), flush=True)
    py = find_pynn_python()
    if py is None:
        raise SystemExit("no NEST/PyNN environment: bash scripts/setup_pynn.sh")
    with tempfile.TemporaryDirectory() as td:
        if a.train:
            net, data = demo_network(Path(td))
        elif a.model and a.data:
            net, data = load_network(a.model), a.data
        else:
            raise SystemExit("give --model and --data, or --train")
        spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
        with SHDFile(data, spec) as ds:
            frames = np.stack([ds[i][0] for i in range(min(a.samples, len(ds)))])
        write_pynn(net, Path(td) / "pynn")
        dk = time_delaykit(net, frames)
        rows = [("delaykit event engine (float64)", dk, None, None)]
        for sim, label in (("pynest", "NEST 3.10 directly"), ("nest", "PyNN 0.13 + NEST 3.10")):
            r = check_pynn(Path(td) / "pynn", frames, simulator=sim, python=py)
            rows.append((label, r["other_s_per_sample"], r["other_total_s"] / len(frames), r))
    print(
        f"\n{len(frames)} samples, {sum(lay.n_out for lay in net.layers)} neurons, "
        f"{sum(int((lay.weight != 0).sum()) for lay in net.layers)} synapses"
    )
    print(f"{'':34}{'simulation ms/sample':>22}{'total ms/sample':>17}  agreement with delaykit")
    for label, sim_s, total_s, r in rows:
        total = "" if total_s is None else f"{total_s * 1e3:.2f}"
        agree = (
            ""
            if r is None
            else (
                f"{r['mismatched_spikes']} mismatched of "
                f"{sum(x['spikes_delaykit'] for x in r['layers']):,} spikes, readout max |dv| "
                f"{r['readout_max_abs_diff']:.1e}, {r['same_predictions']}/{r['samples']} same predictions"
            )
        )
        print(f"{label:34}{sim_s * 1e3:>22.2f}{total:>17}  {agree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
