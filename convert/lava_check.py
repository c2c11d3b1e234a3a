"""Run a delaykit netx file in Lava's bit-accurate CPU simulation and compare with delaykit.

Standalone: runs in a Python 3.10 venv with lava-nc 0.10.0 and lava-dl 0.6.0 and imports
only numpy, h5py and lava (never delaykit, never torch of its own)::

    bash scripts/setup_lava.sh   # builds .venv-lava (Python 3.10, lava-nc 0.10.0, lava-dl 0.6.0)
    .venv-lava/bin/python convert/lava_check.py NET.netx.h5 INPUT.npz \
        [--expect EXPECTED.npz] [--out LAVA.npz]

INPUT.npz: ``frames`` (S, T, n_in) integer event counts (S samples, T frames each), already
padded with zero frames (``netx_export.lava_padding``) when written by
``write_lava_expectation``.
For every sample the frames are fed through ``lava.proc.io.source.RingBuffer`` (frame f at
Lava step f + 1, zeros after T) into ``lava.lib.dl.netx.hdf5.Network`` (graded input:
``input_message_bits`` = 8 when any count exceeds 1), run with
``Loihi2SimCfg(select_tag='fixed_pt')`` for ``--steps`` steps (default: the longest layer of
EXPECTED, else the file's tSample),
and every layer's spikes (``neuron.s_out``) and the last layer's voltage ``v`` are recorded
with ``Monitor``. Lava's step ``tau`` (1-based) is the simulator's Loihi-mode step ``tau - 1``.

EXPECTED.npz (written by ``delaykit.convert.netx_export.write_lava_expectation``):
``spikes_<k>`` (S, L_k, n_k) the simulator's spikes of spiking layer k for its L_k steps,
``readout_v`` (S, L, n_out) the readout's integer voltage (or absent for a spiking readout).
The check passes when Lava's spikes equal them on every step the simulator computes, Lava
emits no spike after a layer's last step (then the contract's zero padding holds), and the
readout voltage matches. Prints one line per sample and a verdict; exit 0 = identical.
"""

from __future__ import annotations

import argparse
import json
import sys

import h5py
import numpy as np


def run_lava(netx_path: str, frames: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    """One sample (T, n_in) through Lava; returns spikes_<k> (steps, n_k) and v_out (steps, n)."""
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    counts = np.asarray(frames, dtype=np.int64)
    graded = bool(counts.max(initial=0) > 1)
    net = hdf5.Network(net_config=netx_path, input_message_bits=8 if graded else 0)
    data = np.zeros((counts.shape[1], steps), dtype=np.int32)
    n = min(counts.shape[0], steps)
    data[:, :n] = counts[:n].T
    src = RingBuffer(data=data)
    src.s_out.connect(net.inp)
    monitors = []
    for layer in net.layers:
        m = Monitor()
        m.probe(layer.neuron.s_out, steps)
        monitors.append(m)
    mv = Monitor()
    mv.probe(net.layers[-1].neuron.v, steps)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out: dict[str, np.ndarray] = {}
        for k, m in enumerate(monitors):
            d = m.get_data()
            arr = next(iter(next(iter(d.values())).values()))
            out[f"spikes_{k}"] = (np.asarray(arr).reshape(steps, -1) != 0).astype(np.uint8)
        d = mv.get_data()
        out["v_out"] = (
            np.asarray(next(iter(next(iter(d.values())).values()))).reshape(steps, -1).astype(np.int64)
        )
    finally:
        net.stop()
    return out


def compare(
    lava: dict[str, np.ndarray], expect: dict[str, np.ndarray], s: int, spiking_layers: list[int]
) -> list[str]:
    """Differences between Lava and the simulator for sample ``s`` (empty: identical)."""
    problems = []
    for j, k in enumerate(spiking_layers):
        ours = expect[f"spikes_{j}"][s]
        theirs = lava[f"spikes_{k}"]
        n = ours.shape[0]
        if theirs.shape[0] < n:
            problems.append(f"layer {k}: Lava ran {theirs.shape[0]} steps, the simulator {n}")
            continue
        diff = np.argwhere(theirs[:n] != ours)
        if diff.size:
            t, i = diff[0]
            problems.append(
                f"layer {k}: {len(diff)} spike(s) differ, first at step {t} neuron {i} "
                f"(lava {theirs[t, i]}, delaykit {ours[t, i]})"
            )
        extra = int(theirs[n:].sum())
        if extra:
            problems.append(f"layer {k}: {extra} Lava spike(s) after the layer's last step {n - 1}")
    if "readout_v" in expect:
        ours = expect["readout_v"][s]
        theirs = lava["v_out"][: ours.shape[0]]
        diff = np.argwhere(theirs != ours)
        if diff.size:
            t, i = diff[0]
            problems.append(
                f"readout: {len(diff)} voltage(s) differ, first at step {t} neuron {i} "
                f"(lava {theirs[t, i]}, delaykit {ours[t, i]})"
            )
        last = max(int(key.split("_")[1]) for key in lava if key.startswith("spikes_"))
        if int(lava[f"spikes_{last}"].sum()):
            problems.append("readout: Lava's readout spiked (voltage near the 24-bit limit)")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("netx", help="netx HDF5 written by 'delaykit convert to-netx'")
    ap.add_argument("inputs", help="npz with 'frames' (S, T, n_in) integer counts")
    ap.add_argument("--expect", help="npz written by delaykit.convert.netx_export.write_lava_expectation")
    ap.add_argument("--out", help="write Lava's spikes_<k> (S, steps, n_k) and v_out (S, steps, n) here")
    ap.add_argument("--steps", type=int, help="Lava steps per sample (default: the file's tSample)")
    args = ap.parse_args(argv)
    with h5py.File(args.netx, "r") as f:
        steps = int(args.steps or f["simulation/tSample"][()])
        meta = json.loads(f.attrs["delaykit"]) if "delaykit" in f.attrs else {}
    with np.load(args.inputs) as z:
        frames = z["frames"]
    if frames.ndim == 2:
        frames = frames[None]
    expect = dict(np.load(args.expect)) if args.expect else None
    if expect is not None and not args.steps:  # run as long as the simulator's longest layer
        steps = max(v.shape[1] for v in expect.values())
    spiking = [k for k, lay in enumerate(meta.get("layers", [])) if lay.get("spiking", True)]
    results, failures = [], 0
    for s in range(frames.shape[0]):
        lava = run_lava(args.netx, frames[s], steps)
        results.append(lava)
        if expect is not None:
            problems = compare(lava, expect, s, spiking)
            n_spk = sum(int(lava[f"spikes_{k}"].sum()) for k in spiking)
            if problems:
                failures += 1
                print(f"sample {s}: DIFFERENT: " + "; ".join(problems))
            else:
                print(f"sample {s}: identical ({n_spk} spikes, {steps} steps)")
        else:
            print(
                f"sample {s}: ran {steps} steps, spikes per layer "
                f"{[int(lava[f'spikes_{k}'].sum()) for k in range(len(meta.get('layers', [])) or 1)]}"
            )
    if args.out:
        keys = results[0].keys()
        np.savez_compressed(args.out, **{k: np.stack([r[k] for r in results]) for k in keys})
    if expect is not None:
        verdict = "IDENTICAL" if failures == 0 else f"DIFFERENT in {failures} of {frames.shape[0]} samples"
        print(f"lava fixed_pt vs delaykit Loihi 2 mode: {verdict}")
        return 0 if failures == 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
