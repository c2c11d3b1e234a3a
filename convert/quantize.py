"""Weight quantization and target fitting of a deployed network.

Quantization (symmetric, signed ``bits``): ``qmax = 2**(bits-1) - 1``; the scale is
``max|W| / qmax`` per layer (default) or per output neuron (``per_neuron``);
``W_int = round_half_even(W / scale)`` (never outside ``[-qmax, qmax]``). Biases, thresholds
and resets are expressed in the same integer units as their neuron's weights (the contract's
rule for integer networks): ``bias_int = round_half_even(bias / scale)``,
``v_threshold_int = max(round_half_even(v_threshold / scale), v_reset_int + 1)``,
``v_reset_int = round_half_even(v_reset / scale)``. Real value = integer x ``weight_scale``.

Target fitting (hardware target profiles): the weight width comes from ``bits`` or the target,
and delays outside ``[delay_min_steps, delay_max_steps]`` are counted per layer and refused
(:class:`DelaykitError`) unless ``clip`` is set, in which case they are clipped into the range
and reported. A target without native delays has the range ``[0, 0]``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic, loihi_current_decay_constant, loihi_decay_constant
from delaykit.errors import DelaykitError
from delaykit.hardware_targets import check
from delaykit.hardware_targets.ranges import delay_range, resolve_target
from delaykit.network import LI, LIF, Layer, Network

#: Signed weight widths :func:`quantize_layer` accepts.
BITS_MIN, BITS_MAX = 2, 32


def _round(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64))  # half to even


def _scales(w: np.ndarray, qmax: int, per_neuron: bool) -> np.ndarray:
    """One scale per output neuron: ``max|W| / qmax`` of the layer, or of each row."""
    absmax_row = np.abs(w).max(axis=1)
    layer_max = float(absmax_row.max()) if absmax_row.size else 0.0
    layer_scale = layer_max / qmax if layer_max > 0 else 1.0
    if per_neuron:
        return np.where(absmax_row > 0, absmax_row / qmax, layer_scale)
    return np.full(w.shape[0], layer_scale)


def _integer_neuron(n: LIF | LI, scale: np.ndarray) -> LIF | LI:
    """Threshold and reset in the weights' integer units; threshold at least reset + 1."""
    rs = _round(np.asarray(n.v_reset, dtype=np.float64) / scale)
    if isinstance(n, LIF):
        th = _round(np.asarray(n.v_threshold, dtype=np.float64) / scale)
        th = np.maximum(th, rs + 1)
        return replace(n, v_threshold=_compact(th), v_reset=_compact(rs))  # v3 fields kept
    return replace(n, v_reset=_compact(rs))


def _error_stats(layer: Layer, q: Layer, bits: int, per_neuron: bool) -> dict[str, Any]:
    """How far the quantized layer ``q`` is from the float ``layer`` (real units)."""
    w = layer.weight.astype(np.float64)
    scale = q.weight_scale
    err = q.real_weight() - w
    norm = float(np.linalg.norm(w))
    stats = {
        "bits": bits,
        "per_neuron": bool(per_neuron),
        "scale_min": float(scale.min()),
        "scale_max": float(scale.max()),
        "weight_rmse": float(np.sqrt(np.mean(err**2))),
        "weight_max_abs_error": float(np.abs(err).max()),
        "weight_rel_l2_error": float(np.linalg.norm(err) / norm) if norm > 0 else 0.0,
        "weights_zeroed": int(((w != 0) & (q.weight == 0)).sum()),
        "bias_max_abs_error": float(np.abs(q.bias * scale - layer.bias).max()),
        "int_bias_range": [int(q.bias.min()), int(q.bias.max())],
    }
    if isinstance(layer.neuron, LIF):
        th_float = np.asarray(layer.neuron.v_threshold)
        th_int = q.neuron.v_threshold
        th_real = np.asarray(th_int) * scale
        stats["threshold_max_rel_error"] = float(np.max(np.abs(th_real - th_float) / np.abs(th_float)))
        stats["int_threshold_range"] = [int(np.min(th_int)), int(np.max(th_int))]
    return stats


def quantize_layer(layer: Layer, bits: int, per_neuron: bool = False) -> tuple[Layer, dict[str, Any]]:
    """Quantize one float layer to ``bits``-bit signed integers; returns (layer, error stats)."""
    if bits < BITS_MIN or bits > BITS_MAX:
        raise DelaykitError(f"bits={bits}: must be between {BITS_MIN} and {BITS_MAX}")
    if layer.is_integer:
        raise DelaykitError(f"layer {layer.name!r} is already quantized (integer weights)")
    qmax = 2 ** (bits - 1) - 1
    w = layer.weight.astype(np.float64)
    scale = _scales(w, qmax, per_neuron)
    dtype = np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32
    wq = _round(w / scale[:, None]).astype(dtype)
    bias_q = _round(layer.bias / scale).astype(np.int64)
    neuron = _integer_neuron(layer.neuron, scale)
    q = replace(layer, weight=wq, bias=bias_q, weight_scale=scale, neuron=neuron)
    return q, _error_stats(layer, q, bits, per_neuron)


def _compact(v: np.ndarray) -> float | np.ndarray:
    """A scalar when all entries are equal (keeps per-layer parameters scalar)."""
    v = np.asarray(v, dtype=np.float64)
    if v.size and (v == v.flat[0]).all():
        return float(v.flat[0])
    return v


def quantize_network(
    net: Network, bits: int, per_neuron: bool = False
) -> tuple[Network, list[dict[str, Any]]]:
    """Quantize every layer; returns (network, per-layer error stats)."""
    layers, stats = [], []
    for layer in net.layers:
        q, s = quantize_layer(layer, bits, per_neuron)
        layers.append(q)
        stats.append({"layer": layer.name, **s})
    prov = {
        **net.provenance,
        "quantization": {
            "bits": bits,
            "scheme": "symmetric",
            "scale": "per_neuron" if per_neuron else "per_layer",
            "rounding": "weights, biases, thresholds: round half to even; threshold >= reset + 1",
        },
    }
    return replace(net, layers=tuple(layers), provenance=prov), stats


def fit_delays(
    net: Network, lo: int, hi: int, clip: bool, target_name: str = "target"
) -> tuple[Network, list[dict[str, Any]]]:
    """Count (and with ``clip`` clip) delays outside ``[lo, hi]`` steps; refuse them otherwise.

    Only synapses with a non-zero weight count. Returns (network, per-layer records).
    """
    records = []
    out_of_range_total = 0
    layers = []
    for layer in net.layers:
        nz = layer.weight != 0
        bad = nz & ((layer.delay < lo) | (layer.delay > hi))
        n_bad = int(bad.sum())
        out_of_range_total += n_bad
        rec = {
            "layer": layer.name,
            "range": [lo, hi],
            "out_of_range": n_bad,
            "above": int((nz & (layer.delay > hi)).sum()),
            "below": int((nz & (layer.delay < lo)).sum()),
            "max_delay": layer.max_delay,
            "clipped": 0,
        }
        if n_bad and clip:
            d = layer.delay.copy()
            d[nz] = np.clip(d[nz], lo, hi)
            layer = replace(layer, delay=d)
            rec["clipped"] = n_bad
        records.append(rec)
        layers.append(layer)
    if out_of_range_total and not clip:
        per = ", ".join(
            f"{r['layer']}: {r['out_of_range']} (max {r['max_delay']})" for r in records if r["out_of_range"]
        )
        raise DelaykitError(
            f"{out_of_range_total} synaptic delays lie outside {target_name}'s range {lo}..{hi} steps "
            f"({per}); pass clip=True to clip them (changes the network's behaviour) or choose another target"
        )
    if any(r["clipped"] for r in records):
        prov = {
            **net.provenance,
            "clipped_delays": {r["layer"]: r["clipped"] for r in records},
            "delay_range": [lo, hi],
        }
        net = replace(net, layers=tuple(layers), provenance=prov)
    return net, records


def prepare_for_target(
    net: Network,
    target: Any = None,
    bits: int | None = None,
    per_neuron: bool = False,
    clip: bool = False,
) -> tuple[Network, dict[str, Any]]:
    """Fit delays to the target, quantize as asked, run the target check.

    Returns (network, info) where info has ``target``, ``delays`` (per-layer range records),
    ``quantization`` (per-layer error stats or None) and ``violations`` (target check).
    """
    t = resolve_target(target)
    info: dict[str, Any] = {
        "target": getattr(t, "name", None),
        "delays": [],
        "quantization": None,
        "violations": [],
    }
    if t is not None:
        lo, hi = delay_range(t)
        net, info["delays"] = fit_delays(net, lo, hi, clip, target_name=str(getattr(t, "name", "target")))
        if bits is None:
            fp = getattr(t, "fixed_point", None)
            if fp and fp.get("weight_bits"):
                bits = int(fp["weight_bits"])
            elif getattr(t, "weight_bits", None):
                bits = int(t.weight_bits)
        net = _with_target_provenance(net, t)
    if bits is not None:
        if any(lay.is_integer for lay in net.layers):
            raise DelaykitError(
                f"the network is already quantized; bits={bits} applies to float networks only"
            )
        net, info["quantization"] = quantize_network(net, int(bits), per_neuron)
    if t is not None:
        info["violations"] = check_target(net, t)
        info["fixed_point"] = fixed_point_parameters(net, t)
    return net, info


def fixed_point_parameters(net: Network, t: Any) -> list[dict[str, Any]]:
    """Per layer, the integer neuron parameters the target's fixed-point arithmetic uses
    (decay constant from tau, shifted threshold and bias), as the simulator derives them;
    empty for float targets or float networks."""
    fp = getattr(t, "fixed_point", None)
    if not fp or not all(lay.is_integer for lay in net.layers):
        return []
    arith = Arithmetic.for_target(t)
    out = []
    for layer in net.layers:
        neu = layer.neuron
        rec: dict[str, Any] = {
            "layer": layer.name,
            "decay": arith.decay,
            "tau_steps": float(neu.tau),
            "decay_param": int(arith.decay_param(neu.tau, neu.leak)),
            "weight_shift": arith.weight_shift,
            "threshold_shift": arith.threshold_shift,
            "bias_range": [int(layer.bias.min()), int(layer.bias.max())],
        }
        if arith.decay == "loihi12":
            rec["loihi_vDecay"] = loihi_decay_constant(neu.tau, neu.leak)
        if neu.tau_syn is not None:  # contract v3: a synaptic current (no key otherwise)
            rec["tau_syn_steps"] = float(neu.tau_syn)
            rec["current_decay_param"] = int(arith.current_decay_param(neu.tau_syn, neu.leak))
            if arith.decay == "loihi12":
                rec["loihi_iDecay"] = loihi_current_decay_constant(neu.tau_syn, neu.leak)
        if isinstance(neu, LIF):
            th = np.asarray(neu.v_threshold)
            rec["threshold_int"] = [int(th.min()), int(th.max())]
            rec["threshold_membrane_units"] = [
                int(th.min()) << arith.threshold_shift,
                int(th.max()) << arith.threshold_shift,
            ]
        out.append(rec)
    return out


def _with_target_provenance(net: Network, t: Any) -> Network:
    return replace(net, provenance={**net.provenance, "target": str(getattr(t, "name", t))})


def check_target(net: Network, t: Any) -> list[dict[str, Any]]:
    """The hardware_targets check as JSON-able records."""
    out = []
    for v in check(net, t):
        rec = {k: _plain(getattr(v, k, None)) for k in ("layer", "limit", "count", "worst", "allowed")}
        rec["detail"] = str(getattr(v, "detail", ""))
        out.append(rec)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v
