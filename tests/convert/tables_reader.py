"""A chip engineer's reader of a delaykit table directory: the files, numpy and the manifest's
words only (no delaykit import; tests check that). It bins SHD-schema samples with
``manifest.input.binning`` and runs ``manifest.semantics`` as written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def _csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([r[k] for r in rows]) for k in (rows[0] if rows else {})}


def load(table_dir: str | Path) -> dict:
    """Manifest, synapse rows and neuron rows (CSV), as strings -> numbers where used."""
    d = Path(table_dir)
    return {
        "manifest": json.loads((d / "manifest.json").read_text(encoding="utf-8")),
        "syn": _csv(d / "synapses.csv"),
        "neu": _csv(d / "neurons.csv"),
    }


def bin_sample(times_s: np.ndarray, units: np.ndarray, man: dict) -> np.ndarray:
    """input.binning: whole microseconds first, then integer division by dt in microseconds."""
    inp = man["input"]
    n_ch, window, group = inp["n_channels"], inp["window_steps"], inp["channel_group"]
    frame = np.round(np.asarray(times_s, np.float64) * 1e6).astype(np.int64) // round(man["dt_s"] * 1e6)
    ch = np.asarray(units, np.int64) // group
    keep = (frame >= 0) & (frame < window)
    counts = np.bincount(frame[keep] * n_ch + ch[keep], minlength=window * n_ch).reshape(window, n_ch)
    return np.minimum(counts, 1) if inp["encoding"] == "binary" else counts


def _layer_arrays(t: dict, lm: dict) -> dict:
    """A layer's synapses and neuron constants in the authoritative columns."""
    li, quant = lm["index"], lm["quantized"]
    syn, neu = t["syn"], t["neu"]
    s = syn["layer"].astype(int) == li
    nrows = neu["layer"].astype(int) == li
    order = np.argsort(neu["neuron"][nrows].astype(int))

    def ncol(name: str) -> np.ndarray:
        return neu[name][nrows][order].astype(np.float64)

    w = syn["weight_int"][s].astype(np.int64).astype(np.float64) if quant else syn["weight"][s].astype(float)
    return {
        "pre": syn["pre"][s].astype(int),
        "post": syn["post"][s].astype(int),
        "w": w,
        "d": syn["delay_steps"][s].astype(int),
        "bias": ncol("bias_int") if quant else ncol("bias"),
        "th": ncol("v_threshold_int") if quant else ncol("v_threshold"),
        "reset": ncol("v_reset_int") if quant else ncol("v_reset"),
        "scale": ncol("weight_scale"),
    }


def run_layer(x: np.ndarray, lm: dict, a: dict, margin: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """semantics.synaptic_input and semantics.update over run_steps = len(x) + extend_steps.

    margin (optional, updated): ``ties`` counts h == v_threshold from a membrane at v_reset (exact
    in integer units); ``nearest`` is the smallest |h - v_threshold| from any other membrane,
    i.e. how far a leak term rounded differently would have to move to change a spike."""
    steps, n = x.shape[0] + lm["extend_steps"], lm["n_out"]
    syn = np.zeros((steps, n))
    for d in np.unique(a["d"]):
        w = np.zeros((n, lm["n_in"]))
        sel = a["d"] == d
        w[a["post"][sel], a["pre"][sel]] = a["w"][sel]
        k = min(x.shape[0], steps - d)
        if k > 0:
            syn[d : d + k] += x[:k] @ w.T
    tau, r = float(lm["neuron"]["tau"]), a["reset"]
    lif = lm["neuron"]["kind"] == "lif"
    # version-2 manifests (semantics.update.v3): a synaptic current, reset mode, leak rule
    ts, mode, rule = (
        lm["neuron"].get("tau_syn"),
        lm["neuron"].get("reset", "value"),
        lm["neuron"].get("leak", "euler"),
    )
    v = r.copy()
    c = np.zeros(n)
    s = np.zeros((steps, n), np.uint8)
    trace = np.zeros((steps, n))
    for t in range(steps):
        leak = (r - v) / tau if rule == "euler" else (r - v) * -np.expm1(-1 / tau)
        if ts is None:
            h = (v + leak) + (syn[t] + a["bias"])
        else:
            c = c + syn[t]
            h = ((v + leak) + c) + a["bias"]
            c = c + ((0 - c) / ts if rule == "euler" else (0 - c) * -np.expm1(-1 / ts))
        if lif:
            if margin is not None:
                leaky = v != r
                margin["ties"] = margin.get("ties", 0) + int(((h == a["th"]) & ~leaky).sum())
                dist = np.abs(h - a["th"])[leaky]
                margin["nearest"] = min(
                    margin.get("nearest", np.inf), float(dist.min()) if dist.size else np.inf
                )
            s[t] = h >= a["th"]
            after = {"value": r, "subtract": h - a["th"], "none": h}[mode]
            v = np.where(s[t] == 1, after, h)
        else:
            v = h
        trace[t] = v
    return s, trace


def simulate(t: dict, frames: np.ndarray, margin: dict | None = None) -> dict:
    """Spikes of every LIF layer, the readout output y (real units), scores and prediction."""
    man = t["manifest"]
    x = np.asarray(frames, np.float64)
    spikes = {}
    for lm in man["layers"]:
        a = _layer_arrays(t, lm)
        s, trace = run_layer(x, lm, a, margin)
        if lm["neuron"]["kind"] == "lif":
            spikes[lm["index"]] = s
            y = s.astype(np.float64)
        else:
            y = trace * a["scale"]
        x = s.astype(np.float64)
    rule = man["readout"]
    if rule == "softmax_sum":
        e = np.exp(y - y.max(axis=1, keepdims=True))
        scores = (e / e.sum(axis=1, keepdims=True)).sum(axis=0)
    else:
        scores = y.max(axis=0) if rule == "membrane_max" else y.sum(axis=0)
    return {"spikes": spikes, "output": y, "scores": scores, "prediction": int(np.argmax(scores))}
