"""Cross-check with Brian2: an exported event table, simulated by a simulator nobody here wrote.

The synaptic-delay tables that ``delaykit convert to-table`` writes (:mod:`delaykit.tables`:
``manifest.json``, ``synapses.{npz,csv}``, ``neurons.{npz,csv}``) are read here with numpy and
the standard library only, turned into Brian2 objects -- a ``SpikeGeneratorGroup`` for the
input, one ``NeuronGroup`` per layer, one ``Synapses`` per projection with a heterogeneous
per-synapse ``delay`` -- and run with ``dt`` = one step. The spikes (and the readout's membrane
trace) must be *identical* to delaykit's simulator on the same frames.

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
:class:`delaykit.sim.Arithmetic` does.

Units: quantized layers run on their stored integers (``weight_int``, ``bias_int``,
``v_threshold_int``, ``v_reset_int``) -- every sum is then an exact float64 integer, so the
comparison is bit for bit whatever the order in which events arrive -- and the readout
membrane is multiplied by ``weight_scale`` into real units, as delaykit does. Float layers
run in real units; they agree bit for bit when every partial sum of weights is exact
(e.g. weights on a 2**-8 grid), else up to float64 summation order.

Brian2 may live in its own environment (it needs numpy < 2.4 at 2.9.0)::

    python3 -m venv /work/brian2-venv
    /work/brian2-venv/bin/pip install brian2 "numpy<2.4" h5py

Two commands:

* ``python sim/brian2_check.py run TABLE_DIR FRAMES.npz OUT.npz [--latency N]`` -- in the
  Brian2 environment: numpy, the standard library and brian2 only (no delaykit).
* ``python -m delaykit.sim.brian2_check check MODEL --data TEST.h5 [--samples N]
  [--brian2-python PATH]`` -- in delaykit's environment: exports the table (or takes a table
  directory), bins the samples, runs the first command in the Brian2 environment and compares
  with both delaykit engines; exit 0 when identical, 1 when not.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Where the Brian2 environment's python is looked for when none is given.
DEFAULT_BRIAN2_PYTHON = "/work/brian2-venv/bin/python"
BRIAN2_PYTHON_ENV = "DELAYKIT_BRIAN2_PYTHON"


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
    s_layer = syn["layer"].astype(np.int64)
    n_layer = neu["layer"].astype(np.int64)
    layers = []
    for li, lm in enumerate(man["layers"]):
        quant = bool(lm["quantized"])
        sel = s_layer == li
        nsel = n_layer == li
        order = np.argsort(neu["neuron"].astype(np.int64)[nsel], kind="stable")

        def ncol(name: str, nsel: np.ndarray = nsel, order: np.ndarray = order) -> np.ndarray:
            return neu[name][nsel].astype(np.float64)[order]

        kind = str(lm["neuron"]["kind"])
        scale = ncol("weight_scale")
        layers.append(
            {
                "name": str(lm["name"]),
                "kind": kind,
                "n_in": int(lm["n_in"]),
                "n_out": int(lm["n_out"]),
                "extend_steps": int(lm["extend_steps"]),
                "tau": float(lm["neuron"]["tau"]),
                "pre": syn["pre"][sel].astype(np.int64),
                "post": syn["post"][sel].astype(np.int64),
                "weight": (
                    syn["weight_int"][sel].astype(np.int64).astype(np.float64)
                    if quant
                    else syn["weight"][sel].astype(np.float64)
                ),
                "delay": syn["delay_steps"][sel].astype(np.int64),
                "bias": ncol("bias_int") if quant else ncol("bias"),
                "threshold": (ncol("v_threshold_int") if quant else ncol("v_threshold"))
                if kind == "lif"
                else None,
                "reset": ncol("v_reset_int") if quant else ncol("v_reset"),
                "out_scale": scale if quant else np.ones(int(lm["n_out"])),
            }
        )
    return {"dt": float(man["dt_s"]), "layers": layers}


# ---- the Brian2 side -------------------------------------------------------------------------


def run_brian2(
    table: dict[str, Any], samples: list[np.ndarray], layer_latency_steps: int = 0, progress: bool = False
) -> list[dict[str, Any]]:
    """Simulate every sample (frames (T, n_in) integer counts) in Brian2 (numpy target).

    Returns per sample ``{"spikes": [uint8 (T_l, n_l) per LIF layer], "output": (T_out, n_out)
    float64}``: the last layer's membrane in real units (LI) or its spikes (LIF).
    """
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.prefs.codegen.loop_invariant_optimisations = False
    b2.start_scope()
    dt_s = table["dt"]
    b2.defaultclock.dt = dt_s * b2.second
    layers = table["layers"]
    lat = int(layer_latency_steps)
    n_ch = layers[0]["n_in"]
    counts = [np.asarray(f) for f in samples]
    for k, f in enumerate(counts):
        if f.ndim != 2 or f.shape[1] != n_ch:
            raise ValueError(f"sample {k}: frames must be (T, {n_ch}), got {f.shape}")
        if (f < 0).any() or (f != np.round(f)).any():
            raise ValueError(f"sample {k}: frames must hold non-negative integer counts")
    copies = max(1, int(max(f.max() for f in counts)))

    inp = b2.SpikeGeneratorGroup(
        n_ch * copies, np.array([], dtype=int), np.array([]) * b2.second, name="input"
    )
    objects: list[Any] = [inp]
    groups, monitors, states = [], [], []
    model = """
    v : 1
    syn : 1
    s : 1
    b : 1 (constant)
    tau : 1 (constant)
    vr : 1 (constant)
    th : 1 (constant)
    """
    prev = inp
    for li, lay in enumerate(layers):
        spiking = lay["kind"] == "lif"
        g = b2.NeuronGroup(
            lay["n_out"],
            model,
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
        groups.append(g)
        objects.append(g)
        if li == 0:
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
        objects.append(S)
        if spiking:
            m = b2.SpikeMonitor(g, name=f"spikes{li}")
            monitors.append(m)
            objects.append(m)
        else:
            monitors.append(None)
        prev = g
    if layers[-1]["kind"] != "lif":
        st = b2.StateMonitor(groups[-1], "v", record=True, when="end", name="trace")
        states.append(st)
        objects.append(st)
    net = b2.Network(*objects)
    net.store("init")

    results = []
    for k, f in enumerate(counts):
        T = f.shape[0]
        lengths, L = [], T
        for lay in layers:
            L = L + lay["extend_steps"] + lat
            lengths.append(L)
        starts = [li + 1 for li in range(len(layers))]
        total = max(s + n for s, n in zip(starts, lengths, strict=True))
        net.restore("init")
        idx, times = [], []
        for c in range(copies):
            tt, ch = np.nonzero(f > c)
            idx.append(ch + c * n_ch)
            times.append(tt)
        idx_a, t_a = np.concatenate(idx), np.concatenate(times)
        inp.set_spikes(idx_a, t_a * dt_s * b2.second)
        for li, g in enumerate(groups):  # the layer's window, in Brian2 steps (group namespace)
            g.namespace["start"] = starts[li]
            g.namespace["stop"] = starts[li] + lengths[li]
        t0 = time.perf_counter()
        net.run(total * dt_s * b2.second)
        spikes = []
        for li, (lay, m) in enumerate(zip(layers, monitors, strict=True)):
            if m is None:
                continue
            r = np.zeros((lengths[li], lay["n_out"]), dtype=np.uint8)
            steps = np.round(np.asarray(m.t / b2.second) / dt_s).astype(np.int64) - starts[li]
            ii = np.asarray(m.i, dtype=np.int64)
            ok = (steps >= 0) & (steps < lengths[li])
            r[steps[ok], ii[ok]] = 1
            spikes.append(r)
        if states:
            v = np.asarray(states[0].v).T  # (steps, n)
            a = starts[-1]
            output = v[a : a + lengths[-1]] * layers[-1]["out_scale"]
        else:
            output = spikes[-1].astype(np.float64)
        results.append({"spikes": spikes, "output": output, "seconds": time.perf_counter() - t0})
        if progress:
            print(f"brian2: sample {k + 1}/{len(counts)}", file=sys.stderr)
    return results


def _save_results(results: list[dict[str, Any]], path: Path) -> None:
    arrays: dict[str, np.ndarray] = {"n_samples": np.array(len(results))}
    for k, r in enumerate(results):
        arrays[f"output_{k}"] = r["output"]
        arrays[f"seconds_{k}"] = np.array(r["seconds"])
        arrays[f"n_spiking_{k}"] = np.array(len(r["spikes"]))
        for li, s in enumerate(r["spikes"]):
            arrays[f"spikes_{k}_{li}"] = s
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _load_results(path: Path) -> list[dict[str, Any]]:
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


# ---- the delaykit side -------------------------------------------------------------------------


@dataclass
class CrossCheck:
    """Outcome of :func:`cross_check`. ``identical``: spikes and output equal bit for bit for
    every sample and both delaykit engines."""

    identical: bool
    n_samples: int
    spikes_per_layer: list[int]
    mismatches: list[str] = field(default_factory=list)
    max_output_difference: float = 0.0
    brian2_seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "n_samples": self.n_samples,
            "spikes_per_layer": self.spikes_per_layer,
            "mismatches": self.mismatches[:20],
            "max_output_difference": self.max_output_difference,
            "brian2_seconds": self.brian2_seconds,
            "command": self.command,
        }


def find_brian2_python(explicit: str | None = None) -> str | None:
    """The python of an environment with Brian2 installed: ``explicit``,
    $DELAYKIT_BRIAN2_PYTHON, /work/brian2-venv, or this interpreter; None when none has it."""
    candidates = [explicit, os.environ.get(BRIAN2_PYTHON_ENV), DEFAULT_BRIAN2_PYTHON, sys.executable]
    for c in candidates:
        if not c or not Path(c).exists():
            continue
        try:
            probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('brian2') is None)"
            ok = subprocess.run([c, "-c", probe], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return c
    return None


def cross_check(
    model: Any,
    samples: list[np.ndarray],
    *,
    reference: Any = None,
    brian2_python: str | None = None,
    layer_latency_steps: int = 0,
    workdir: str | Path | None = None,
    table_format: str = "npz",
    timeout: float = 1800,
) -> CrossCheck:
    """Export ``model`` (a Network, or a table directory) as tables, simulate ``samples``
    (frames (T, n_in) counts) in Brian2 (in the environment of ``brian2_python``) and compare
    with delaykit's event and reference engines (float64, ``layer_latency_steps``) running
    ``reference`` (default: the network read back from the table). Raises DelaykitError when
    Brian2 cannot be run."""
    from delaykit.errors import DelaykitError
    from delaykit.network import Network
    from delaykit.sim import Arithmetic, simulate
    from delaykit.tables import read_tables, write_tables

    python = find_brian2_python(brian2_python)
    if python is None:
        raise DelaykitError(
            "Brian2 is not installed: python3 -m venv /work/brian2-venv && /work/brian2-venv/bin/pip "
            f"install brian2 'numpy<2.4' h5py (or set ${BRIAN2_PYTHON_ENV})"
        )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp_s:
        tmp = Path(tmp_s)
        if isinstance(model, Network):
            table_dir = tmp / "tables"
            write_tables(model, table_dir, formats=(table_format,), pynn=False)
        else:
            table_dir = Path(model)
        net = reference if reference is not None else read_tables(table_dir)
        frames_path = tmp / "frames.npz"
        np.savez(frames_path, **{f"frames_{k}": np.asarray(f) for k, f in enumerate(samples)})
        out_path = tmp / "brian2_out.npz"
        cmd = [
            python,
            str(Path(__file__).resolve()),
            "run",
            str(table_dir),
            str(frames_path),
            str(out_path),
            "--latency",
            str(int(layer_latency_steps)),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise DelaykitError(f"Brian2 run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
        theirs = _load_results(out_path)
    arith = Arithmetic.float64(layer_latency_steps=int(layer_latency_steps))
    mismatches: list[str] = []
    totals = [0] * sum(1 for layer in net.layers if layer.neuron.spiking)
    max_diff = 0.0
    for k, (frames, other) in enumerate(zip(samples, theirs, strict=True)):
        for engine in ("event", "reference"):
            ours = simulate(net, frames, engine=engine, arithmetic=arith)
            if len(ours.spikes) != len(other["spikes"]):
                mismatches.append(
                    f"sample {k}: {len(ours.spikes)} spiking layers here, {len(other['spikes'])} in Brian2"
                )
                continue
            for li, (a, b) in enumerate(zip(ours.spikes, other["spikes"], strict=True)):
                if engine == "event":
                    totals[li] += int(a.sum())
                if a.shape != b.shape or not np.array_equal(a, b):
                    diff = "shape" if a.shape != b.shape else f"{int((a != b).sum())} spikes differ"
                    mismatches.append(f"sample {k}, {engine}, spiking layer {li}: {diff}")
            if ours.output.shape != other["output"].shape:
                mismatches.append(
                    f"sample {k}, {engine}: output shape {ours.output.shape} vs {other['output'].shape}"
                )
            else:
                d = float(np.max(np.abs(ours.output - other["output"]))) if ours.output.size else 0.0
                max_diff = max(max_diff, d)
                if not np.array_equal(ours.output, other["output"]):
                    mismatches.append(f"sample {k}, {engine}: output differs by up to {d:g}")
    return CrossCheck(
        identical=not mismatches,
        n_samples=len(samples),
        spikes_per_layer=totals,
        mismatches=mismatches,
        max_output_difference=max_diff,
        brian2_seconds=seconds,
        command=cmd,
    )


# ---- command line ------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    table = read_table_dir(args.table)
    with np.load(args.frames, allow_pickle=False) as z:
        keys = sorted((k for k in z.files if k.startswith("frames_")), key=lambda s: int(s.split("_")[1]))
        samples = [z[k] for k in keys]
    results = run_brian2(table, samples, layer_latency_steps=args.latency, progress=args.progress)
    _save_results(results, Path(args.out))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from delaykit.data.shd import BinSpec, SHDFile
    from delaykit.errors import DelaykitError
    from delaykit.fileio import write_text_atomic
    from delaykit.network import load_network
    from delaykit.tables import read_tables

    try:
        p = Path(args.model)
        if p.is_dir() or p.name == "manifest.json":
            net, model = read_tables(p), p
        elif p.suffix == ".nir":
            from delaykit.nir.import_nir import load_nir

            net = load_nir(p, dt=args.dt)
            model = net
        else:
            net = load_network(p)
            model = net
        spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
        data = SHDFile(Path(args.data), spec)
        samples = [data[i][0] for i in range(min(args.samples, len(data)))]
        res = cross_check(model, samples, brian2_python=args.brian2_python, layer_latency_steps=args.latency)
    except DelaykitError as e:
        print(f"brian2_check: error: {e}", file=sys.stderr)
        return 2
    verdict = "IDENTICAL" if res.identical else "DIFFERENT"
    print(
        f"Brian2 vs delaykit (event and reference engines, float64) on {res.n_samples} samples: {verdict}; "
        f"spikes per layer {res.spikes_per_layer}, max output difference {res.max_output_difference:g}, "
        f"Brian2 {res.brian2_seconds:.1f} s"
    )
    for m in res.mismatches[:10]:
        print("  " + m)
    if args.json:
        write_text_atomic(args.json, json.dumps(res.to_dict(), indent=1))
    return 0 if res.identical else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="brian2_check", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="(Brian2 environment) simulate a table directory's network")
    r.add_argument(
        "table", help="delaykit table directory (manifest.json, synapses.npz|csv, neurons.npz|csv)"
    )
    r.add_argument("frames", help=".npz with frames_0, frames_1, ... (T, n_in) counts")
    r.add_argument("out", help="output .npz")
    r.add_argument("--latency", type=int, default=0, help="extra steps per layer (Loihi 2: 1)")
    r.add_argument("--progress", action="store_true")
    r.set_defaults(func=_cmd_run)
    c = sub.add_parser("check", help="(delaykit environment) compare Brian2 with delaykit's simulator")
    c.add_argument("model", help="deployed network (.dkn), NIR graph (.nir) or table directory")
    c.add_argument("--data", required=True, help="SHD-schema file to take samples from")
    c.add_argument("--samples", type=int, default=5)
    c.add_argument("--latency", type=int, default=0)
    c.add_argument("--dt", type=float, help="step (s) for a NIR graph without delaykit metadata")
    c.add_argument(
        "--brian2-python",
        help=f"python with brian2 (default ${BRIAN2_PYTHON_ENV} or {DEFAULT_BRIAN2_PYTHON})",
    )
    c.add_argument("--json", help="write the result here")
    c.set_defaults(func=_cmd_check)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
