#!/usr/bin/env python3
"""Run a delaykit table directory in PyNN (NEST or SpiNNaker) or directly in NEST.

Written next to the tables by ``delaykit convert to-pynn`` as ``run_pynn.py``; needs numpy and
PyNN 0.13 (``--simulator nest``: pyNN.nest with NEST 3.10; ``--simulator spiNNaker``: sPyNNaker,
untested here) or NEST alone (``--simulator pynest``); never delaykit. Usage::

    python run_pynn.py --simulator nest --frames FRAMES.npz --out RESULT.npz
    python run_pynn.py --simulator pynest --data test.h5 --limit 100 --out RESULT.npz

FRAMES.npz holds ``frames`` (samples, T, channels) counts (and optionally ``labels``); ``--data``
bins an SHD-schema file by the manifest's rule (needs h5py). RESULT.npz holds, per spiking layer
``l``, ``spikes_<l>`` (samples, run_steps, neurons) uint8, ``output`` (samples, steps, classes)
in real units, ``scores``, ``predictions`` (and ``labels``) and the wall times.

The cell: the standard ``IF_curr_delta`` (NEST ``iaf_psc_delta``): delta synapses add the
weight to the membrane in the step they arrive, hard reset, threshold test ``>=``, no
refractory period (``tau_refrac = 0``), ``v_rest = v_reset`` and initial ``v = v_reset``.
Its leak is exact integration, ``v <- v_reset + P33 (v - v_reset) + inputs`` with
``P33 = exp(-dt / tau_m)``; ``tau_m = -dt / log(1 - 1 / tau_steps)`` makes ``P33`` equal the
network's ``1 - 1 / tau_steps`` up to float64 rounding (``tau_steps = 1``: ``P33 = 0`` exactly).
Weights, biases, thresholds and resets are the tables' integers, so every synaptic sum is exact;
only the leak term can differ from delaykit's float64 ``(v_reset - v) / tau_steps`` in the last
bit, which changes a spike only if a membrane lies within ~1e-13 of its threshold (the check
that compares with delaykit reports any spike that differs). Biases arrive as spikes of one
source per layer (``i_offset`` would be scaled by ``tau_m / cm`` and rounded). The timing
(delay + 1 step, shift of ``l + 1`` steps at layer ``l``, undone here) is the manifest's
``pynn.timing``.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

HUGE = 1e30  # threshold of a stopped (or non-spiking) layer: no membrane gets near it


def load_tables(d: Path) -> dict:
    """The manifest, per-layer neuron parameters in simulation units and the PyNN list paths."""
    man = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    with open(d / "neurons.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    layers = []
    for lm in man["layers"]:
        li, quant = int(lm["index"]), bool(lm["quantized"])
        mine = sorted((r for r in rows if int(r["layer"]) == li), key=lambda r: int(r["neuron"]))

        def col(name: str, mine: list = mine) -> np.ndarray:
            return np.array([float(r[name]) for r in mine])

        stem = f"pynn/{li:02d}_" + "".join(c if c.isalnum() or c in "_.-" else "_" for c in lm["name"])
        layers.append(
            {
                "n": int(lm["n_out"]),
                "kind": lm["neuron"]["kind"],
                "tau": float(lm["neuron"]["tau"]),
                "extend": int(lm["extend_steps"]),
                "threshold": col("v_threshold_int" if quant else "v_threshold"),
                "reset": col("v_reset_int" if quant else "v_reset"),
                "scale": col("weight_scale") if quant else np.ones(int(lm["n_out"])),
                "lists": {t: d / f"{stem}_{t}.txt" for t in ("exc", "inh", "bias_exc", "bias_inh")},
            }
        )
    return {"manifest": man, "dt_ms": float(man["dt_ms"]), "layers": layers}


def tau_m_ms(tau_steps: float, dt_ms: float) -> float:
    """NEST's tau_m (ms) whose exp(-dt / tau_m) is the network's 1 - 1/tau_steps."""
    keep = 1.0 - 1.0 / tau_steps
    return dt_ms / 1000.0 if keep <= 0.0 else -dt_ms / math.log(keep)


def read_list(path: Path) -> np.ndarray:
    """A FromFileConnector list as (rows, 4): i j weight delay_ms (an empty list: 0 rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy warns on a header-only file
        return np.loadtxt(path, comments="#", ndmin=2).reshape(-1, 4)


def plan(tables: dict, frames: list[np.ndarray]) -> dict:
    """Time origins per sample (steps), run lengths and the threshold/reset events."""
    layers = tables["layers"]
    n = len(layers)
    max_delay = max(
        int(round(read_list(p)[:, 3].max() / tables["dt_ms"])) if read_list(p).size else 1
        for lay in layers
        for p in lay["lists"].values()
    )
    origins, runs, events, o = [], [], [], 2
    for f in frames:
        run = [int(f.shape[0]) + sum(lay["extend"] for lay in layers[: li + 1]) for li in range(n)]
        origins.append(o)
        runs.append(run)
        events.append((o, "start", -1))
        events += [(o + run[li] + li + 1, "stop", li) for li in range(n)]
        o += run[-1] + n + max_delay + 3
    return {"origins": origins, "runs": runs, "events": events, "end": o, "max_delay": max_delay}


def input_times(frames: list[np.ndarray], origins: list[int], dt_ms: float) -> tuple[list, list]:
    """Per channel: emission times (ms) and multiplicities of all samples' frames."""
    n_ch = frames[0].shape[1]
    times: list[list[float]] = [[] for _ in range(n_ch)]
    mult: list[list[int]] = [[] for _ in range(n_ch)]
    for f, o in zip(frames, origins):
        t_idx, c_idx = np.nonzero(f)
        for t, c in zip(t_idx.tolist(), c_idx.tolist()):
            times[c].append((o + t + 1) * dt_ms)
            mult[c].append(int(f[t, c]))
    return times, mult


def bias_times(p: dict, li: int, dt_ms: float) -> list[float]:
    return [(o + s + li + 1) * dt_ms for o, run in zip(p["origins"], p["runs"]) for s in range(run[li])]


def collect(p: dict, tables: dict, spikes: list, volts: tuple) -> dict:
    """Simulator records -> network steps. spikes[l]: (times_ms, senders 0-based) of a LIF layer
    (None otherwise); volts: (times_ms, neuron, V) of the last layer."""
    dt_ms, layers, n_s = tables["dt_ms"], tables["layers"], len(p["origins"])
    origins = np.array(p["origins"])
    out: dict = {}
    for li, lay in enumerate(layers):
        if spikes[li] is None:
            continue
        arr = np.zeros((n_s, p["runs"][0][li], lay["n"]), np.uint8)
        k = np.rint(np.asarray(spikes[li][0]) / dt_ms).astype(np.int64)
        j = np.searchsorted(origins, k - li - 2, side="right") - 1
        s = k - origins[j] - li - 2
        ok = (j >= 0) & (s >= 0) & (s < arr.shape[1])
        arr[j[ok], s[ok], np.asarray(spikes[li][1])[ok]] = 1
        out[f"spikes_{li}"] = arr
        out[f"stray_spikes_{li}"] = int((~ok).sum())
    li = len(layers) - 1
    last = layers[li]
    y = np.zeros((n_s, p["runs"][0][li], last["n"]))
    k = np.rint(np.asarray(volts[0]) / dt_ms).astype(np.int64)
    j = np.searchsorted(origins, k - li - 2, side="right") - 1
    s = k - origins[j] - li - 2
    ok = (j >= 0) & (s >= 0) & (s < y.shape[1])
    y[j[ok], s[ok], np.asarray(volts[1])[ok]] = np.asarray(volts[2])[ok]
    out["output"] = y * last["scale"][None, None, :]
    return out


def _run_events(p: dict, dt_ms: float, run_until, start, stop) -> None:
    """Advance through the plan: at a sample's origin reset membranes and thresholds, at a layer's
    end raise its threshold (a layer cannot spike after its run); finish after the last sample."""
    for step, what, li in sorted(p["events"], key=lambda e: (e[0], e[1] != "start")):
        run_until(step * dt_ms)
        start() if what == "start" else stop(li)
    run_until(p["end"] * dt_ms)


def run_pynest(tables: dict, frames: list[np.ndarray], p: dict) -> tuple[list, tuple, float]:
    """Directly in NEST (no PyNN): spike_generator with multiplicities, iaf_psc_delta."""
    import nest  # optional: only in the NEST environment

    dt_ms, layers = tables["dt_ms"], tables["layers"]
    nest.ResetKernel()
    nest.set(resolution=dt_ms, print_time=False)
    times, mult = input_times(frames, p["origins"], dt_ms)
    gens = nest.Create("spike_generator", len(times))
    for g, t, m in zip(gens, times, mult):
        if t:  # NEST 3.10 rejects an empty spike_multiplicities list: omit it for silent inputs
            g.set(spike_times=t, spike_multiplicities=m)
    pops, pre, recs = [], gens, []
    for li, lay in enumerate(layers):
        r = lay["reset"]
        pop = nest.Create("iaf_psc_delta", lay["n"])
        pop.set(V_th=HUGE, V_min=-HUGE, tau_m=tau_m_ms(lay["tau"], dt_ms), C_m=1.0, t_ref=0.0, I_e=0.0)
        pop.set([{"E_L": float(v), "V_reset": float(v), "V_m": float(v)} for v in r])
        bias = nest.Create("spike_generator", params={"spike_times": bias_times(p, li, dt_ms)})
        for tag, src in (("exc", pre), ("inh", pre), ("bias_exc", bias), ("bias_inh", bias)):
            rows = read_list(lay["lists"][tag])
            if rows.size:
                i, j = rows[:, 0].astype(int), rows[:, 1].astype(int)  # node IDs as arrays: repeats
                src_ids, dst_ids = np.array(src.tolist())[i], np.array(pop.tolist())[j]
                nest.Connect(src_ids, dst_ids, "one_to_one", {"weight": rows[:, 2], "delay": rows[:, 3]})
        rec = nest.Create("spike_recorder") if lay["kind"] == "lif" else None
        if rec is not None:
            nest.Connect(pop, rec)
        pops.append(pop)
        recs.append(rec)
        pre = pop
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": dt_ms})
    nest.Connect(mm, pops[-1])

    def start() -> None:
        for lay, pop in zip(layers, pops):
            pop.set(
                [
                    {"V_m": float(v), "V_th": float(th) if lay["kind"] == "lif" else HUGE}
                    for v, th in zip(lay["reset"], np.nan_to_num(lay["threshold"], nan=HUGE))
                ]
            )

    t0 = time.perf_counter()
    _run_events(
        p,
        dt_ms,
        lambda t: nest.Simulate(t - nest.biological_time) if t > nest.biological_time else None,
        start,
        lambda li: pops[li].set(V_th=HUGE),
    )
    wall = time.perf_counter() - t0
    first = [int(pop[0].global_id) for pop in pops]
    spikes = [
        None if r is None else (r.events["times"], r.events["senders"] - first[li])
        for li, r in enumerate(recs)
    ]
    ev = mm.events
    return spikes, (ev["times"], ev["senders"] - first[-1], ev["V_m"]), wall


def _pynn_build(sim, simulator: str, tables: dict, frames: list[np.ndarray], p: dict) -> list:
    """Populations and projections: input copies, one IF_curr_delta population and one bias
    source per layer, FromFileConnector projections per sign; returns the layer populations."""
    from pyNN.parameters import Sequence  # optional: only where PyNN is installed

    dt_ms, layers = tables["dt_ms"], tables["layers"]
    n_ch = frames[0].shape[1]
    copies = max(1, int(max(f.max() for f in frames)))  # k-th copy fires where the count > k
    pres = []
    for k in range(copies):
        times, _ = input_times([(f > k).astype(np.int64) for f in frames], p["origins"], dt_ms)
        pres.append(sim.Population(n_ch, sim.SpikeSourceArray(spike_times=[Sequence(t) for t in times])))
    pops = []
    for li, lay in enumerate(layers):
        cell = sim.IF_curr_delta(
            tau_m=tau_m_ms(lay["tau"], dt_ms),
            cm=1.0,
            v_rest=lay["reset"],
            v_reset=lay["reset"],
            v_thresh=HUGE,
            tau_refrac=0.0,
            i_offset=0.0,
        )
        if simulator == "nest" and not hasattr(cell, "variable_map"):
            # pyNN.nest 0.13's IF_curr_delta lacks the v -> V_m name map: without it, recording
            # 'v' fails ("unknown recordable v") and initialize(v=...) is silently ignored
            cell.variable_map = {"v": "V_m"}
        pop = sim.Population(lay["n"], cell, initial_values={"v": lay["reset"]})
        bias = sim.Population(1, sim.SpikeSourceArray(spike_times=bias_times(p, li, dt_ms)))
        for tag, srcs in (("exc", pres), ("inh", pres), ("bias_exc", [bias]), ("bias_inh", [bias])):
            if not read_list(lay["lists"][tag]).size:
                continue
            receptor = "inhibitory" if tag.endswith("inh") else "excitatory"
            for src in srcs:
                conn = sim.FromFileConnector(str(lay["lists"][tag]))
                sim.Projection(src, pop, conn, sim.StaticSynapse(), receptor_type=receptor)
        if lay["kind"] == "lif":
            pop.record("spikes")
        pops.append(pop)
        pres = [pop]
    pops[-1].record("v", sampling_interval=dt_ms)
    return pops


def _pynn_records(layers: list, pops: list) -> tuple[list, tuple]:
    """(spike times, neuron indices) per LIF layer (None otherwise) and the last layer's
    membrane samples (times, neuron, V), from PyNN's neo blocks."""
    spikes = []
    for lay, pop in zip(layers, pops):
        if lay["kind"] != "lif":
            spikes.append(None)
            continue
        sts = pop.get_data("spikes").segments[0].spiketrains
        t = np.concatenate([np.asarray(st.magnitude, float) for st in sts] + [np.zeros(0)])
        ids = np.concatenate([np.full(len(st), _index(pop, st)) for st in sts] + [np.zeros(0, int)])
        spikes.append((t, ids.astype(int)))
    sig = pops[-1].get_data("v").segments[0].analogsignals[0]
    tv = np.asarray(sig.times.rescale("ms").magnitude, float)
    idx = np.asarray(sig.array_annotations.get("channel_index", np.arange(sig.shape[1])), int)
    v = np.asarray(sig.magnitude, float)
    return spikes, (np.repeat(tv, v.shape[1]), np.tile(idx, v.shape[0]), v.reshape(-1))


def run_pynn(simulator: str, tables: dict, frames: list[np.ndarray], p: dict) -> tuple[list, tuple, float]:
    """Through PyNN: SpikeSourceArray copies for counts > 1, IF_curr_delta, FromFileConnector."""
    sim = importlib.import_module(f"pyNN.{simulator}")
    dt_ms, layers = tables["dt_ms"], tables["layers"]
    extra = {"spike_precision": "on_grid"} if simulator == "nest" else {}  # iaf_psc_delta, not _ps
    sim.setup(timestep=dt_ms, min_delay=dt_ms, max_delay=(p["max_delay"] + 1) * dt_ms, **extra)
    pops = _pynn_build(sim, simulator, tables, frames, p)

    def start() -> None:
        for lay, pop in zip(layers, pops):
            pop.initialize(v=lay["reset"])
            pop.set(v_thresh=lay["threshold"] if lay["kind"] == "lif" else HUGE)

    t0 = time.perf_counter()
    # pyNN.nest keeps NEST one min_delay (= one step here) ahead of the time it reports
    # (pyNN/nest/simulator.py: "we simulate past the real time by one min_delay"); a parameter
    # set after run_until(t) takes effect at kernel time t + dt, so ask for one step less.
    ahead = dt_ms if simulator == "nest" else 0.0
    _run_events(p, dt_ms, lambda t: sim.run_until(t - ahead), start, lambda li: pops[li].set(v_thresh=HUGE))
    wall = time.perf_counter() - t0
    spikes, volts = _pynn_records(layers, pops)
    sim.end()
    return spikes, volts, wall


def _index(pop, st) -> int:
    a = st.annotations
    return int(a["source_index"]) if "source_index" in a else int(pop.id_to_index(a["source_id"]))


def scores_of(rule: str, y: np.ndarray) -> np.ndarray:
    """The manifest's readout rule on y (steps, classes)."""
    if rule == "softmax_sum":
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).sum(axis=0)
    return y.max(axis=0) if rule == "membrane_max" else y.sum(axis=0)


def bin_shd(path: Path, man: dict, limit: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """An SHD-schema file binned by the manifest's rule (input.binning)."""
    import h5py  # optional: only for --data

    inp, dt_us = man["input"], round(man["dt_s"] * 1e6)
    n_ch, window, group = inp["n_channels"], inp["window_steps"], inp["channel_group"]
    out = []
    with h5py.File(path, "r") as f:
        labels = np.asarray(f["labels"][:limit] if limit else f["labels"][:])
        for k in range(len(labels)):
            t = np.round(np.asarray(f["spikes/times"][k], np.float64) * 1e6).astype(np.int64) // dt_us
            c = np.asarray(f["spikes/units"][k], np.int64) // group
            keep = (t >= 0) & (t < window)
            fr = np.bincount(t[keep] * n_ch + c[keep], minlength=window * n_ch).reshape(window, n_ch)
            out.append(np.minimum(fr, 1) if inp["encoding"] == "binary" else fr)
    return out, labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--simulator",
        choices=("nest", "spiNNaker", "pynest"),
        default="nest",
        help="PyNN back end (nest: checked; spiNNaker: sPyNNaker, untested) or NEST directly",
    )
    ap.add_argument("--tables", default=str(Path(__file__).resolve().parent), help="table directory")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="npz with 'frames' (samples, T, channels) and optional 'labels'")
    src.add_argument("--data", help="SHD-schema .h5 test file, binned by the manifest's rule")
    ap.add_argument("--limit", type=int, help="first N samples only")
    ap.add_argument("--out", required=True, help="result .npz")
    a = ap.parse_args(argv)
    tables = load_tables(Path(a.tables))
    man = tables["manifest"]
    if a.frames:
        with np.load(a.frames) as z:
            frames = list(np.asarray(z["frames"])[: a.limit])
            labels = np.asarray(z["labels"])[: a.limit] if "labels" in z else None
    else:
        frames, labels = bin_shd(Path(a.data), man, a.limit)
    if len({f.shape for f in frames}) != 1:
        raise SystemExit("--frames/--data: every sample needs the same number of frames")
    t0 = time.perf_counter()
    p = plan(tables, frames)
    runner = run_pynest if a.simulator == "pynest" else (lambda *x: run_pynn(a.simulator, *x))
    spikes, volts, run_s = runner(tables, frames, p)
    res = collect(p, tables, spikes, volts)
    if tables["layers"][-1]["kind"] == "lif":
        res["output"] = res[f"spikes_{len(tables['layers']) - 1}"].astype(np.float64)
    res["scores"] = np.stack([scores_of(man["readout"], y) for y in res["output"]])
    res["predictions"] = res["scores"].argmax(axis=1)
    if labels is not None:
        res["labels"] = labels
    res["run_s"], res["total_s"] = run_s, time.perf_counter() - t0
    np.savez_compressed(a.out, **res)
    acc = f", accuracy {100 * np.mean(res['predictions'] == labels):.2f} %" if labels is not None else ""
    print(
        f"{a.simulator}: {len(frames)} samples in {res['total_s']:.2f} s "
        f"(simulation {run_s:.2f} s){acc}; wrote {a.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
