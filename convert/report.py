"""The conversion report: delays per layer, quantization error, clipped delays, target check.

``build_report`` gathers JSON-able facts; ``format_conversion_report`` renders them as text,
``write_report`` writes JSON (and text) atomically, ``plot_report`` draws the per-layer
delay histograms and weight-error histograms to a PNG (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.fileio import atomic_path, write_text_atomic
from delaykit.network import Layer, Network, sparkline

REPORT_FORMAT = "delaykit.conversion_report"


def _delay_record(layer: Layer, dt: float) -> dict[str, Any]:
    """Shape, neuron and delay statistics (steps; the maximum also in ms, ``dt`` in seconds)."""
    nz = layer.weight != 0
    dd = layer.delay[nz]
    hist = np.bincount(dd, minlength=layer.max_delay + 1) if dd.size else np.zeros(1, int)
    return {
        "name": layer.name,
        "shape": [layer.n_out, layer.n_in],
        "neuron": layer.neuron.to_dict(),
        "synapses": int(nz.sum()),
        "delay_histogram": hist.astype(int).tolist(),
        "delay_max_steps": int(dd.max()) if dd.size else 0,
        "delay_mean_steps": float(dd.mean()) if dd.size else 0.0,
        "delay_max_ms": float(dd.max() * dt * 1e3) if dd.size else 0.0,
        "distinct_delays": int(np.unique(dd).size),
        "extend_steps": layer.extend_steps,
        "weight_dtype": str(layer.weight.dtype),
    }


def build_report(
    net: Network, info: dict[str, Any] | None = None, float_net: Network | None = None
) -> dict[str, Any]:
    """A JSON-able report of ``net`` (the deployed network).

    info: what :func:`delaykit.convert.quantize.prepare_for_target` returned.
    float_net: the float network before quantization/clipping (for weight-error histograms).
    Delay statistics count synapses with a non-zero weight; delays are in steps (and ms).
    """
    info = info or {}
    delays_by_layer = {r["layer"]: r for r in info.get("delays", [])}
    quant_by_layer = {r["layer"]: r for r in (info.get("quantization") or [])}
    layers = []
    for i, layer in enumerate(net.layers):
        rec = _delay_record(layer, net.dt)
        if layer.name in delays_by_layer:
            r = delays_by_layer[layer.name]
            rec["delays_out_of_range"] = r["out_of_range"]
            rec["delays_clipped"] = r["clipped"]
            rec["target_delay_range"] = r["range"]
        if layer.name in quant_by_layer:
            rec["quantization"] = {k: v for k, v in quant_by_layer[layer.name].items() if k != "layer"}
        if float_net is not None and i < len(float_net.layers) and layer.is_integer:
            err = layer.real_weight() - float_net.layers[i].real_weight()
            counts, edges = np.histogram(err, bins=41)
            rec["weight_error_histogram"] = {"counts": counts.tolist(), "edges": edges.tolist()}
        layers.append(rec)
    return {
        "format": REPORT_FORMAT,
        "format_version": 1,
        "dt_s": net.dt,
        "readout": net.readout,
        "input": net.input.to_dict(),
        "target": info.get("target"),
        "quantized": bool(info.get("quantization")),
        "total_synapses": int(sum(x["synapses"] for x in layers)),
        "total_clipped_delays": int(sum(x.get("delays_clipped", 0) for x in layers)),
        "violations": info.get("violations", []),
        "fixed_point": info.get("fixed_point", []),
        "layers": layers,
        "provenance": net.provenance,
        "metrics": net.metadata.get("metrics", {}),
    }


def format_conversion_report(rep: dict[str, Any]) -> str:
    """Human-readable text of a conversion report (delays in steps, dt in ms)."""
    lines = _header_lines(rep) + _layer_table(rep["layers"])
    for x in rep["layers"]:
        lines.append(
            f"delays {x['name']} (steps 0..{len(x['delay_histogram']) - 1}): "
            + sparkline(x["delay_histogram"])
        )
    lines += _quantization_lines(rep["layers"])
    lines += [_fixed_point_line(fp) for fp in rep.get("fixed_point", [])]
    lines += _verdict_lines(rep)
    return "\n".join(lines)


def _header_lines(rep: dict[str, Any]) -> list[str]:
    lines = [
        f"conversion report: dt {rep['dt_s'] * 1e3:g} ms, readout {rep['readout']}, "
        f"{rep['total_synapses']:,} synapses, target {rep['target'] or '(none)'}, "
        f"{'quantized' if rep['quantized'] else 'float'}"
    ]
    src = rep["provenance"].get("source")
    if src:
        lines.append(
            f"source {src} ({rep['provenance'].get('source_kind', '?')}, sha256 "
            f"{str(rep['provenance'].get('source_sha256', ''))[:12]}...)"
        )
    return lines


def _layer_table(layers: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'layer':<10} {'shape':>9} {'synapses':>9} {'delay max':>9} {'mean':>6} "
        f"{'distinct':>8} {'clipped':>7} {'w rel.err':>9}"
    ]
    for x in layers:
        q = x.get("quantization") or {}
        rel = f"{q['weight_rel_l2_error']:.2e}" if q else "-"
        lines.append(
            f"{x['name']:<10} {x['shape'][0]:>4}x{x['shape'][1]:<4} {x['synapses']:>9,} "
            f"{x['delay_max_steps']:>9} {x['delay_mean_steps']:>6.2f} {x['distinct_delays']:>8} "
            f"{x.get('delays_clipped', 0):>7} {rel:>9}"
        )
    return lines


def _quantization_lines(layers: list[dict[str, Any]]) -> list[str]:
    lines = []
    for x in layers:
        q = x.get("quantization")
        if q:
            lines.append(
                f"quantization {x['name']}: {q['bits']}-bit {'per-neuron' if q['per_neuron'] else 'per-layer'}"
                f" scale {q['scale_min']:.3g}..{q['scale_max']:.3g}, weight RMSE {q['weight_rmse']:.3g},"
                f" max |err| {q['weight_max_abs_error']:.3g}, zeroed {q['weights_zeroed']}"
            )
    return lines


def _fixed_point_line(fp: dict[str, Any]) -> str:
    th = fp.get("threshold_int")
    decay = (
        f"vDecay {fp['loihi_vDecay']} (keeps {fp['decay_param']}/4096 per step)"
        if "loihi_vDecay" in fp
        else f"{fp['decay']} decay parameter {fp['decay_param']}"
    )
    return (
        f"fixed point {fp['layer']}: {decay} for tau {fp['tau_steps']:g} steps, input << {fp['weight_shift']}"
        + (f", threshold {th[0]}..{th[1]} << {fp['threshold_shift']}" if th else ", no threshold")
        + f", bias {fp['bias_range'][0]}..{fp['bias_range'][1]}"
    )


def _verdict_lines(rep: dict[str, Any]) -> list[str]:
    lines = []
    if rep["total_clipped_delays"]:
        lines.append(
            f"CLIPPED {rep['total_clipped_delays']} delays to the target's range (clipping was requested)"
        )
    if rep["violations"]:
        lines.append(f"target check: {len(rep['violations'])} violation(s)")
        for v in rep["violations"]:
            lines.append(f"  {v.get('layer')}: {v.get('limit')} x{v.get('count')}: {v.get('detail')}")
    elif rep["target"]:
        lines.append("target check: fits")
    if rep["metrics"]:
        lines.append("training metrics: " + ", ".join(f"{k}={v}" for k, v in rep["metrics"].items()))
    return lines


def write_report(rep: dict[str, Any], json_path: str | Path, text_path: str | Path | None = None) -> None:
    """Write the report as JSON (and text if ``text_path``), atomically."""
    write_text_atomic(json_path, json.dumps(rep, indent=2) + "\n")
    if text_path is not None:
        write_text_atomic(text_path, format_conversion_report(rep) + "\n")


def plot_report(rep: dict[str, Any], path: str | Path) -> None:
    """PNG: one row per layer, delay histogram (left) and weight-error histogram (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = len(rep["layers"])
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.4 * n), squeeze=False)
    for row, x in zip(axes, rep["layers"], strict=False):
        h = x["delay_histogram"]
        row[0].bar(np.arange(len(h)), h, width=0.9, color="tab:blue")
        rng = x.get("target_delay_range")
        if rng:
            row[0].axvline(rng[1] + 0.5, color="tab:red", ls="--", lw=1, label="target max")
            row[0].legend(fontsize=7)
        row[0].set_title(f"{x['name']}: delays (steps, {rep['dt_s'] * 1e3:g} ms each)", fontsize=9)
        row[0].set_ylabel("synapses")
        eh = x.get("weight_error_histogram")
        if eh:
            edges = np.asarray(eh["edges"])
            row[1].bar((edges[:-1] + edges[1:]) / 2, eh["counts"], width=np.diff(edges), color="tab:orange")
            row[1].xaxis.set_major_locator(MaxNLocator(5))
            row[1].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
            row[1].set_xlabel("real weight error")
            q = x.get("quantization", {})
            row[1].set_title(f"{x['name']}: weight error ({q.get('bits', '?')}-bit)", fontsize=9)
        else:
            row[1].text(
                0.5,
                0.5,
                "float weights (no quantization)",
                ha="center",
                va="center",
                transform=row[1].transAxes,
            )
            row[1].set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
