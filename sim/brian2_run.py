"""The Brian2 side of the cross-check: an exported event table, simulated by Brian2.

This file runs by its path in Brian2's own environment (Brian2 2.9.0 needs numpy < 2.4; see
``scripts/setup_brian2.sh``), so it imports numpy, the standard library and brian2 only --
never delaykit::

    python sim/brian2_run.py run TABLE_DIR FRAMES.npz OUT.npz [--latency N] [--progress]

:mod:`delaykit.sim.brian2_check` starts it and compares its results with delaykit's engines.

The synaptic-delay tables that ``delaykit convert to-table`` writes (``manifest.json``,
``synapses.{npz,csv}``, ``neurons.{npz,csv}``) are read with numpy and csv, turned into Brian2
objects -- a ``SpikeGeneratorGroup`` for the input, one ``NeuronGroup`` per layer, one
``Synapses`` per projection with a heterogeneous per-synapse ``delay`` -- and run with ``dt`` =
one step.

The discrete-time neuron is the contract's, written as a Brian2 ``run_regularly`` operation
(no differential equations; one binary float operation per statement, so that Brian2's
arithmetic rewriting cannot reorder a rounding)::

    I = syn + b;  dv = v_reset - v;  leak = dv / tau;  h = v + leak;  h = h + I
    LIF: s = h >= v_threshold;  v = s ? v_reset : h        LI: v = h

Synaptic events add their weight to ``syn`` (``on_pre: syn_post += w``); a count of ``k``
events in an input bin is ``k`` input spikes (``k`` copies of the input neuron). Timing:
a spike emitted at step ``T`` with delay ``D`` reaches ``syn`` at step ``T + D`` (Brian2's
synapse slot comes after the neuron update) and is integrated at ``T + D + 1``; so layer ``l``
runs its local step ``t`` at Brian2 step ``t + l + 1``, gated to its ``L_in + extend_steps
(+ latency)`` steps. ``layer_latency_steps`` adds that many steps to every delay, as
delaykit's arithmetic does.

Units: quantized layers run on their stored integers (``weight_int``, ``bias_int``,
``v_threshold_int``, ``v_reset_int``) -- every sum is then an exact float64 integer, so the
comparison is bit for bit whatever the order in which events arrive -- and the readout
membrane is multiplied by ``weight_scale`` into real units, as delaykit does. Float layers
run in real units; they agree bit for bit when every partial sum of weights is exact
(e.g. weights on a 2**-8 grid), else up to float64 summation order.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# ---- reading a delaykit table directory with numpy and csv only ---------------------------------


def _read_columns(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty table")
    header, body = rows[0], rows[1:]
    cols = list(zip(*body, strict=True)) if body else [() for _ in header]
    return {h: np.asarray(c) for h, c in zip(header, cols, strict=True)}


def _table_file(d: Path, stem: str) -> Path:
    for ext in (".npz", ".csv"):
        if (d / f"{stem}{ext}").exists():
            return d / f"{stem}{ext}"
    raise ValueError(
        f"{d}: no {stem}.npz or {stem}.csv (write them with 'delaykit convert to-table --format npz' or csv)"
    )


def _layer_arrays(
    li: int, lm: dict[str, Any], syn: dict[str, np.ndarray], neu: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Layer ``li`` of the manifest (``lm``) with its rows of the synapse and neuron tables."""
    quant = bool(lm["quantized"])
    sel = syn["layer"].astype(np.int64) == li
    nsel = neu["layer"].astype(np.int64) == li
    order = np.argsort(neu["neuron"].astype(np.int64)[nsel], kind="stable")

    def ncol(name: str) -> np.ndarray:
        return neu[name][nsel].astype(np.float64)[order]

    kind = str(lm["neuron"]["kind"])
    weight = (
        syn["weight_int"][sel].astype(np.int64).astype(np.float64)
        if quant
        else syn["weight"][sel].astype(np.float64)
    )
    threshold = (ncol("v_threshold_int") if quant else ncol("v_threshold")) if kind == "lif" else None
    return {
        "name": str(lm["name"]),
        "kind": kind,
        "n_in": int(lm["n_in"]),
        "n_out": int(lm["n_out"]),
        "extend_steps": int(lm["extend_steps"]),
        "tau": float(lm["neuron"]["tau"]),
        "pre": syn["pre"][sel].astype(np.int64),
        "post": syn["post"][sel].astype(np.int64),
        "weight": weight,
        "delay": syn["delay_steps"][sel].astype(np.int64),
        "bias": ncol("bias_int") if quant else ncol("bias"),
        "threshold": threshold,
        "reset": ncol("v_reset_int") if quant else ncol("v_reset"),
        "out_scale": ncol("weight_scale") if quant else np.ones(int(lm["n_out"])),
    }


def read_table_dir(path: str | Path) -> dict[str, Any]:
    """A table directory -> plain arrays per layer in simulation units (see module doc).

    Returns ``{"dt": s, "layers": [{"name", "kind", "n_in", "n_out", "extend_steps", "tau",
    "pre", "post", "weight", "delay", "bias", "threshold", "reset", "out_scale"}]}``.
    """
    d = Path(path)
    d = d.parent if d.name == "manifest.json" else d
    man = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if man.get("format") != "delaykit.tables" or int(man.get("format_version", 0)) != 1:
        raise ValueError(f"{d / 'manifest.json'}: not a delaykit.tables v1 manifest")
    syn = _read_columns(_table_file(d, "synapses"))
    neu = _read_columns(_table_file(d, "neurons"))
    layers = [_layer_arrays(li, lm, syn, neu) for li, lm in enumerate(man["layers"])]
    return {"dt": float(man["dt_s"]), "layers": layers}


# ---- the Brian2 network ----------------------------------------------------------------------

_MODEL = """
v : 1
syn : 1
s : 1
b : 1 (constant)
tau : 1 (constant)
vr : 1 (constant)
th : 1 (constant)
"""


@dataclass
class _Model:
    """The Brian2 network of a table, stored in its initial state as "init"."""

    net: Any
    inp: Any
    groups: list[Any]
    monitors: list[Any]  # a SpikeMonitor per LIF layer, None for LI
    trace: Any  # StateMonitor of the last layer's v when it is LI, else None
    n_ch: int
    copies: int


def _check_samples(counts: list[np.ndarray], n_ch: int) -> None:
    for k, f in enumerate(counts):
        if f.ndim != 2 or f.shape[1] != n_ch:
            raise ValueError(f"sample {k}: frames must be (T, {n_ch}), got {f.shape}")
        if (f < 0).any() or (f != np.round(f)).any():
            raise ValueError(f"sample {k}: frames must hold non-negative integer counts")


def _neuron_group(b2: Any, li: int, lay: dict[str, Any]) -> Any:
    """A layer's NeuronGroup with the contract's update, gated to the layer's own steps."""
    spiking = lay["kind"] == "lif"
    g = b2.NeuronGroup(
        lay["n_out"],
        _MODEL,
        threshold="s > 0.5" if spiking else None,
        name=f"layer{li}",
        namespace={"start": 0, "stop": 0},
    )
    g.b = lay["bias"]
    g.tau = lay["tau"]
    g.vr = lay["reset"]
    g.v = lay["reset"]
    g.th = lay["threshold"] if spiking else 0.0
    # one binary operation per statement (module doc); gate to the layer's own steps
    fire = (
        ("s = active * int(h >= th)\nkeep = s * vr\nother = (1 - s) * h\nh = keep + other\n")
        if spiking
        else "s = 0\n"
    )
    code = (
        "k = timestep(t, dt)\n"
        "active = int(k >= start) * int(k < stop)\n"
        "I = syn + b\n"
        "dv = vr - v\n"
        "leak = dv / tau\n"
        "h = v + leak\n"
        "h = h + I\n" + fire + "new = active * h\n"
        "old = (1 - active) * v\n"
        "v = new + old\n"
        "syn = 0\n"
    )
    g.run_regularly(code, when="start", name=f"update{li}")
    return g


def _synapses(
    b2: Any, li: int, lay: dict[str, Any], prev: Any, g: Any, copies: int, lat: int, dt_s: float
) -> Any:
    """The projection into layer ``li``; the first layer's input has ``copies`` copies per channel."""
    if li == 0:
        n_ch = lay["n_in"]
        pre = np.concatenate([lay["pre"] + c * n_ch for c in range(copies)])
        post = np.tile(lay["post"], copies)
        w = np.tile(lay["weight"], copies)
        d = np.tile(lay["delay"], copies)
    else:
        pre, post, w, d = lay["pre"], lay["post"], lay["weight"], lay["delay"]
    S = b2.Synapses(prev, g, model="w : 1 (constant)", on_pre="syn_post += w", name=f"syn{li}")
    if pre.size:
        S.connect(i=pre, j=post)
        S.w = w
        S.delay = (d + lat) * dt_s * b2.second
    return S


def _build(b2: Any, table: dict[str, Any], lat: int, copies: int) -> _Model:
    layers = table["layers"]
    dt_s = table["dt"]
    n_ch = layers[0]["n_in"]
    inp = b2.SpikeGeneratorGroup(
        n_ch * copies, np.array([], dtype=int), np.array([]) * b2.second, name="input"
    )
    objects: list[Any] = [inp]
    groups: list[Any] = []
    monitors: list[Any] = []
    prev = inp
    for li, lay in enumerate(layers):
        g = _neuron_group(b2, li, lay)
        groups.append(g)
        objects += [g, _synapses(b2, li, lay, prev, g, copies, lat, dt_s)]
        m = b2.SpikeMonitor(g, name=f"spikes{li}") if lay["kind"] == "lif" else None
        monitors.append(m)
        if m is not None:
            objects.append(m)
        prev = g
    trace = None
    if layers[-1]["kind"] != "lif":
        trace = b2.StateMonitor(groups[-1], "v", record=True, when="end", name="trace")
        objects.append(trace)
    net = b2.Network(*objects)
    net.store("init")
    return _Model(net, inp, groups, monitors, trace, n_ch, copies)


def _run_sample(b2: Any, model: _Model, table: dict[str, Any], f: np.ndarray, lat: int) -> dict[str, Any]:
    """One sample: reset the network, feed its input spikes, run, read spikes and output."""
    layers, dt_s = table["layers"], table["dt"]
    lengths, steps = [], f.shape[0]
    for lay in layers:
        steps = steps + lay["extend_steps"] + lat
        lengths.append(steps)
    starts = [li + 1 for li in range(len(layers))]
    total = max(s + n for s, n in zip(starts, lengths, strict=True))
    model.net.restore("init")
    idx, times = [], []
    for c in range(model.copies):
        tt, ch = np.nonzero(f > c)
        idx.append(ch + c * model.n_ch)
        times.append(tt)
    model.inp.set_spikes(np.concatenate(idx), np.concatenate(times) * dt_s * b2.second)
    for li, g in enumerate(model.groups):  # the layer's window, in Brian2 steps (group namespace)
        g.namespace["start"] = starts[li]
        g.namespace["stop"] = starts[li] + lengths[li]
    t0 = time.perf_counter()
    model.net.run(total * dt_s * b2.second)
    spikes = []
    for li, (lay, m) in enumerate(zip(layers, model.monitors, strict=True)):
        if m is None:
            continue
        r = np.zeros((lengths[li], lay["n_out"]), dtype=np.uint8)
        st = np.round(np.asarray(m.t / b2.second) / dt_s).astype(np.int64) - starts[li]
        ii = np.asarray(m.i, dtype=np.int64)
        ok = (st >= 0) & (st < lengths[li])
        r[st[ok], ii[ok]] = 1
        spikes.append(r)
    if model.trace is not None:
        v = np.asarray(model.trace.v).T  # (steps, n)
        output = v[starts[-1] : starts[-1] + lengths[-1]] * layers[-1]["out_scale"]
    else:
        output = spikes[-1].astype(np.float64)
    return {"spikes": spikes, "output": output, "seconds": time.perf_counter() - t0}


def run_brian2(
    table: dict[str, Any], samples: list[np.ndarray], layer_latency_steps: int = 0, progress: bool = False
) -> list[dict[str, Any]]:
    """Simulate every sample (frames (T, n_in) integer counts) in Brian2 (numpy target).

    Returns per sample ``{"spikes": [uint8 (T_l, n_l) per LIF layer], "output": (T_out, n_out)
    float64, "seconds": wall time of the run}``: the output is the last layer's membrane in real
    units (LI) or its spikes (LIF).
    """
    import brian2 as b2  # third-party, present only in Brian2's environment

    b2.prefs.codegen.target = "numpy"
    b2.prefs.codegen.loop_invariant_optimisations = False
    b2.start_scope()
    b2.defaultclock.dt = table["dt"] * b2.second
    lat = int(layer_latency_steps)
    counts = [np.asarray(f) for f in samples]
    _check_samples(counts, table["layers"][0]["n_in"])
    model = _build(b2, table, lat, max(1, int(max(f.max() for f in counts))))
    results = []
    for k, f in enumerate(counts):
        results.append(_run_sample(b2, model, table, f, lat))
        if progress:
            print(f"brian2: sample {k + 1}/{len(counts)}", file=sys.stderr)
    return results


# ---- results on disk ------------------------------------------------------------------------


def save_results(results: list[dict[str, Any]], path: Path) -> None:
    """Write :func:`run_brian2`'s results as one .npz (atomically)."""
    arrays: dict[str, Any] = {"n_samples": np.array(len(results))}
    for k, r in enumerate(results):
        arrays[f"output_{k}"] = r["output"]
        arrays[f"seconds_{k}"] = np.array(r["seconds"])
        arrays[f"n_spiking_{k}"] = np.array(len(r["spikes"]))
        for li, s in enumerate(r["spikes"]):
            arrays[f"spikes_{k}_{li}"] = s
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_results(path: Path) -> list[dict[str, Any]]:
    """Read what :func:`save_results` wrote."""
    with np.load(path, allow_pickle=False) as z:
        n = int(z["n_samples"])
        return [
            {
                "output": z[f"output_{k}"],
                "seconds": float(z[f"seconds_{k}"]),
                "spikes": [z[f"spikes_{k}_{li}"] for li in range(int(z[f"n_spiking_{k}"]))],
            }
            for k in range(n)
        ]


# ---- run by path in Brian2's environment ----------------------------------------------------------


def add_run_arguments(r: argparse.ArgumentParser) -> None:
    """The arguments of the ``run`` command."""
    r.add_argument(
        "table", help="delaykit table directory (manifest.json, synapses.npz|csv, neurons.npz|csv)"
    )
    r.add_argument("frames", help=".npz with frames_0, frames_1, ... (T, n_in) counts")
    r.add_argument("out", help="output .npz")
    r.add_argument("--latency", type=int, default=0, help="extra steps per layer (Loihi 2: 1)")
    r.add_argument("--progress", action="store_true")


def run_command(args: argparse.Namespace) -> int:
    """``run``: simulate the frames of ``args.frames`` and save the results to ``args.out``."""
    table = read_table_dir(args.table)
    with np.load(args.frames, allow_pickle=False) as z:
        keys = sorted((k for k in z.files if k.startswith("frames_")), key=lambda s: int(s.split("_")[1]))
        samples = [z[k] for k in keys]
    results = run_brian2(table, samples, layer_latency_steps=args.latency, progress=args.progress)
    save_results(results, Path(args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="brian2_run", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_run_arguments(sub.add_parser("run", help="simulate a table directory's network in Brian2"))
    return run_command(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
