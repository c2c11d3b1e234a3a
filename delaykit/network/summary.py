"""What ``delaykit info`` shows: parameters, synapses, delay histograms, as a dict or as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from delaykit.network.io import format_version
from delaykit.network.relays import relay_roots

if TYPE_CHECKING:
    from delaykit.network.contract import Network
    from delaykit.network.layer import Layer


def _layer_summary(layer: Layer) -> dict[str, Any]:
    nz = layer.weight != 0
    hist = (
        np.bincount(layer.delay[nz].ravel(), minlength=layer.max_delay + 1) if nz.any() else np.zeros(1, int)
    )
    return {
        "name": layer.name,
        "shape": [layer.n_out, layer.n_in],
        "neuron": layer.neuron.kind,
        "tau_syn": layer.neuron.tau_syn,
        "reset": layer.neuron.reset,
        "leak": layer.neuron.leak,
        "weight_dtype": str(layer.weight.dtype),
        "parameters": int(layer.weight.size * 2 + layer.n_out),
        "synapses": int(nz.sum()),
        "sparsity": float(1.0 - nz.mean()),
        "max_delay": layer.max_delay,
        "mean_delay": float(layer.delay[nz].mean()) if nz.any() else 0.0,
        "delay_histogram": hist.astype(int).tolist(),
        "extend_steps": layer.extend_steps,
        "relays": layer.n_relay,
        "relay_max_lag": int(relay_roots(layer)[1].max()) if layer.n_relay else 0,
    }


def network_summary(net: Network) -> dict[str, Any]:
    """Parameters, synapses, delay histograms (in steps) and sparsity, as a JSON-able dict."""
    layers = [_layer_summary(layer) for layer in net.layers]
    return {
        "format_version": format_version(net),
        "relay_neurons": sum(x["relays"] for x in layers),
        "input_taps": net.input.n_taps,
        "dt_s": net.dt,
        "input": net.input.to_dict(),
        "readout": net.readout,
        "n_classes": net.n_classes,
        "parameters": sum(x["parameters"] for x in layers),
        "synapses": sum(x["synapses"] for x in layers),
        "max_delay_steps": net.max_delay,
        "max_delay_ms": net.max_delay * net.dt * 1e3,
        "layers": layers,
        "provenance": net.provenance,
        "metadata": net.metadata,
    }


def _header_lines(s: dict[str, Any], path: str | None) -> list[str]:
    lines = []
    if path:
        lines.append(f"{path}: delaykit network v{s['format_version']}")
    inp = s["input"]
    lines.append(
        f"dt {s['dt_s'] * 1e3:g} ms, input {inp['n_units']} units / group {inp['channel_group']} "
        f"-> {inp['n_channels']} channels, window {inp['window_steps']} steps ({inp['encoding']}), "
        f"readout {s['readout']}, {s['n_classes']} classes"
    )
    lines.append(
        f"{s['parameters']:,} parameters, {s['synapses']:,} synapses, max delay "
        f"{s['max_delay_steps']} steps ({s['max_delay_ms']:g} ms)"
    )
    return lines


def _layer_table(s: dict[str, Any]) -> list[str]:
    lines = [
        f"{'layer':<12} {'shape':>11} {'neuron':>6} {'dtype':>8} {'synapses':>9} "
        f"{'sparsity':>8} {'delay max':>9} {'mean':>6}"
    ]
    for x in s["layers"]:
        shape = f"{x['shape'][0]}x{x['shape'][1]}"
        lines.append(
            f"{x['name']:<12} {shape:>11} {x['neuron']:>6} {x['weight_dtype']:>8} {x['synapses']:>9,} "
            f"{x['sparsity']:>8.1%} {x['max_delay']:>9} {x['mean_delay']:>6.2f}"
        )
    return lines


def _relay_line(s: dict[str, Any]) -> list[str]:
    if not (s["relay_neurons"] or s["input_taps"]):
        return []
    per = ", ".join(
        f"{x['name']} {x['relays']:,} (chains up to {x['relay_max_lag']} steps)"
        for x in s["layers"]
        if x["relays"]
    )
    return [
        f"relay neurons: {s['relay_neurons']:,}"
        + (f" ({per})" if per else "")
        + f"; host input taps: {s['input_taps']:,}"
    ]


def _neuron_lines(s: dict[str, Any]) -> list[str]:
    """One line per layer whose neuron uses a format-version-3 field (none for v1/v2 files)."""
    lines = []
    for x in s["layers"]:
        parts = []
        if x["tau_syn"] is not None:
            parts.append(f"synaptic current tau_syn {x['tau_syn']:g} steps")
        if x["neuron"] == "lif" and x["reset"] != "value":
            parts.append(f"reset {x['reset']}")
        if x["leak"] != "euler":
            parts.append(f"leak {x['leak']}")
        if parts:
            lines.append(f"neuron {x['name']}: " + ", ".join(parts))
    return lines


def format_summary(net: Network, path: str | None = None) -> str:
    """A human-readable summary (what ``delaykit info`` prints)."""
    s = network_summary(net)
    lines = [*_header_lines(s, path), *_layer_table(s), *_relay_line(s), *_neuron_lines(s)]
    for x in s["layers"]:
        lines.append(f"delay histogram {x['name']} (steps 0..{len(x['delay_histogram']) - 1}):")
        lines.append("  " + sparkline(x["delay_histogram"]))
    metrics = s["metadata"].get("metrics")
    if metrics:
        lines.append("training metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    return "\n".join(lines)


def sparkline(values: Sequence[int]) -> str:
    """One bar character per value, scaled to the largest, and that largest count."""
    bars = " ▁▂▃▄▅▆▇█"
    m = max(values) if values else 0
    if m == 0:
        return "(no synapses)"
    return "".join(bars[min(8, math.ceil(8 * v / m))] for v in values) + f"  (max {m} synapses)"
