"""``check(network, target)``: which limits of a hardware target a deployed network breaks.

Pure and numpy-only. Only synapses with a non-zero weight exist on a chip, so delays, fan-in
and fan-out are counted over those. Each :class:`Violation` names the layer, the limit (one
of :data:`LIMITS`), how many synapses / neurons / presynaptic inputs break it, the worst
value and the allowed one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from delaykit.hardware_targets.profile import Target
from delaykit.network import Layer, Network

#: Every limit ``check`` can report, with what its ``count`` counts.
LIMITS: dict[str, str] = {
    "delay_native": "synapses with a delay > 0 on a chip without native delays",
    "delay_max": "synapses whose delay exceeds the target's largest delay",
    "delay_min": "synapses whose delay is below the target's smallest delay",
    "delay_per_axon": "presynaptic neurons whose synapses do not share one delay (per-axon target)",
    "weight_float": "synapses with float weights on an integer-weight target",
    "weight_bits": "synapses whose integer weight needs more signed bits than the target has",
    "weight_levels": "neurons with more distinct non-zero weights than the target's weight types",
    "threshold_bits": "neurons whose integer threshold exceeds the target's threshold field",
    "bias_bits": "neurons whose integer bias exceeds the target's signed bias field",
    "fan_in": "neurons with more incoming synapses than the target allows",
    "fan_out": "presynaptic neurons with more outgoing synapses than the target allows",
    "input_channels": "input channels beyond the chip's input count",
    "output_neurons": "readout neurons beyond the chip's output count",
    "neurons": "neurons beyond the chip's total",
    "synapses": "synapses beyond the chip's total",
    "neuron_reset": "spiking neurons whose hard reset the target implements differently",
    "cores": "cores beyond the chip's total (from the neuron-to-core mapping)",
    "synapse_memory": "bytes of synapse memory beyond the chip's",
}


@dataclass(frozen=True)
class Violation:
    """One broken limit.

    layer: layer name, or None for a network-wide limit.
    limit: a key of :data:`LIMITS`.
    count: how many synapses / neurons / presynaptic inputs / cores break it (see LIMITS).
    worst: the worst observed value (a delay in steps, a bit width, a fan-in, ...).
    allowed: the target's limit for the same quantity.
    detail: one human-readable sentence, with the fix where there is one.
    """

    layer: str | None
    limit: str
    count: int
    worst: int | float | None
    allowed: int | float | None
    detail: str

    @property
    def excess(self) -> int | float | None:
        """By how much the worst value exceeds the limit (None when not a plain bound)."""
        if self.worst is None or self.allowed is None:
            return None
        return self.worst - self.allowed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["excess"] = self.excess
        return d

    def __str__(self) -> str:
        where = f"layer {self.layer}" if self.layer is not None else "network"
        return f"{where}: {self.limit}: {self.detail}"


def _signed_bits(x: np.ndarray) -> int:
    """Smallest two's-complement width holding every value of the integer array ``x``."""
    if x.size == 0:
        return 1
    hi = int(x.max())
    lo = int(x.min())
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def _fits_signed(x: np.ndarray, bits: int) -> np.ndarray:
    return (x >= -(1 << (bits - 1))) & (x <= (1 << (bits - 1)) - 1)


def _common_shift(w: np.ndarray) -> int:
    """Largest k such that every non-zero integer of ``w`` is a multiple of 2**k."""
    nz = np.abs(w[w != 0]).astype(np.int64)
    if nz.size == 0:
        return 0
    k = 0
    while k < 62 and not np.any(nz & ((1 << (k + 1)) - 1)):
        k += 1
    return k


def _check_delays(layer: Layer, target: Target, out: list[Violation]) -> None:
    nz = layer.weight != 0
    d = layer.delay
    name = layer.name
    if not nz.any():
        return
    if not target.delay_native:
        bad = nz & (d > 0)
        n = int(bad.sum())
        if n:
            out.append(
                Violation(
                    name,
                    "delay_native",
                    n,
                    int(d[bad].max()),
                    0,
                    f"{n} synapses have delays up to {int(d[bad].max())} steps but "
                    f"{target.name} has no native delays; realize them with "
                    f"'delaykit targets realize --method relay|queue'",
                )
            )
        return
    lo, hi = target.delay_min_steps, target.delay_max_steps
    if hi is None:  # cannot happen for a validated Target with native delays
        return
    over = nz & (d > hi)
    n = int(over.sum())
    if n:
        worst = int(d[over].max())
        out.append(
            Violation(
                name,
                "delay_max",
                n,
                worst,
                hi,
                f"{n} synapses have delays above {hi} steps (up to {worst}, "
                f"{worst - hi} too many); retrain with K <= {hi + 1 if hi % 2 == 0 else hi} or clip "
                f"with 'delaykit convert --target {target.name}'",
            )
        )
    under = nz & (d < lo)
    n = int(under.sum())
    if n:
        worst = int(d[under].min())
        out.append(
            Violation(
                name,
                "delay_min",
                n,
                worst,
                lo,
                f"{n} synapses have delays below {lo} steps (down to {worst})",
            )
        )
    if target.delay_granularity == "axon":
        # every synapse leaving presynaptic neuron i (column i) must share one delay
        n_bad_pre = 0
        n_syn_to_move = 0
        worst_distinct = 1
        extra_axons = 0
        for i in range(layer.n_in):
            col = d[nz[:, i], i]
            if col.size == 0:
                continue
            values, counts = np.unique(col, return_counts=True)
            if values.size > 1:
                n_bad_pre += 1
                n_syn_to_move += int(col.size - counts.max())
                worst_distinct = max(worst_distinct, int(values.size))
                extra_axons += int(values.size - 1)
        if n_bad_pre:
            out.append(
                Violation(
                    name,
                    "delay_per_axon",
                    n_bad_pre,
                    worst_distinct,
                    1,
                    f"{n_bad_pre} presynaptic neurons drive synapses with different "
                    f"delays (up to {worst_distinct} distinct; {n_syn_to_move} synapses "
                    f"differ from their neuron's most common delay); {target.name} has "
                    f"one delay per axon: duplicate each such neuron's axon per delay "
                    f"({extra_axons} extra axons) or retrain with shared delays",
                )
            )


def _check_weights(layer: Layer, target: Target, out: list[Violation]) -> None:
    nz = layer.weight != 0
    n_syn = int(nz.sum())
    name = layer.name
    integer_target = target.weight_bits is not None
    if integer_target and not layer.is_integer:
        if n_syn:
            out.append(
                Violation(
                    name,
                    "weight_float",
                    n_syn,
                    None,
                    target.weight_bits,
                    f"{n_syn} synapses have float weights but {target.name} stores "
                    f"{target.weight_bits}-bit integers; quantize with "
                    f"'delaykit convert --target {target.name}'",
                )
            )
    elif integer_target and layer.is_integer and n_syn:
        bits = int(target.weight_bits)
        w = layer.weight.astype(np.int64)
        shift = 0
        if target.weight_exponent:
            shift = _common_shift(w)
            if target.weight_exponent_max is not None:
                shift = min(shift, target.weight_exponent_max)
        m = w >> shift if shift else w
        bad = nz & ~_fits_signed(m, bits)
        n = int(bad.sum())
        if n:
            need = _signed_bits(m[nz])
            how = f" after the shared exponent 2^{shift}" if shift else ""
            out.append(
                Violation(
                    name,
                    "weight_bits",
                    n,
                    need,
                    bits,
                    f"{n} synapses need up to {need} signed bits{how}, "
                    f"{target.name} has {bits} ({need - bits} too many); re-quantize "
                    f"with 'delaykit convert --target {target.name}'",
                )
            )
    levels = target.weight_levels_per_neuron
    if levels is not None and n_syn:
        distinct = np.array([np.unique(row[row != 0]).size for row in layer.weight])
        bad = distinct > levels
        n = int(bad.sum())
        if n:
            worst = int(distinct.max())
            out.append(
                Violation(
                    name,
                    "weight_levels",
                    n,
                    worst,
                    levels,
                    f"{n} neurons use more than {levels} distinct non-zero weights "
                    f"(up to {worst}); {target.name} has {levels} weight types per "
                    f"neuron (a necessary condition; the type assignment must also be "
                    f"consistent across neurons)",
                )
            )


def _check_neuron(layer: Layer, target: Target, out: list[Violation]) -> None:
    name = layer.name
    if layer.is_integer and target.threshold_bits is not None and layer.neuron.spiking:
        th = np.broadcast_to(np.asarray(layer.neuron.v_threshold, dtype=np.float64), (layer.n_out,))
        limit = (1 << target.threshold_bits) - 1
        bad = th > limit
        n = int(bad.sum())
        if n:
            worst = float(th.max())
            out.append(
                Violation(
                    name,
                    "threshold_bits",
                    n,
                    worst,
                    limit,
                    f"{n} neurons have integer thresholds above {limit} "
                    f"({target.threshold_bits}-bit field; up to {worst:g})",
                )
            )
    if layer.is_integer and target.bias_bits is not None:
        b = layer.bias.astype(np.int64)
        bad = ~_fits_signed(b, target.bias_bits)
        n = int(bad.sum())
        if n:
            worst = int(np.abs(b).max())
            out.append(
                Violation(
                    name,
                    "bias_bits",
                    n,
                    _signed_bits(b),
                    target.bias_bits,
                    f"{n} neurons have biases beyond {target.bias_bits} signed bits (|bias| up to {worst})",
                )
            )
    if target.neuron_reset != "hard" and layer.neuron.spiking:
        out.append(
            Violation(
                name,
                "neuron_reset",
                layer.n_out,
                None,
                None,
                f"{layer.n_out} neurons use the contract's hard reset; {target.name} "
                f"resets by {target.neuron_reset} reset (results match only when "
                f"no membrane overshoots its threshold)",
            )
        )


def _check_fan(layer: Layer, target: Target, out: list[Violation], prev: Layer | None = None) -> None:
    nz = layer.weight != 0
    name = layer.name
    if target.fan_in_max is not None:
        fan_in = nz.sum(axis=1)
        bad = fan_in > target.fan_in_max
        n = int(bad.sum())
        if n:
            worst = int(fan_in.max())
            out.append(
                Violation(
                    name,
                    "fan_in",
                    n,
                    worst,
                    target.fan_in_max,
                    f"{n} neurons have more than {target.fan_in_max} incoming "
                    f"synapses (up to {worst}, {worst - target.fan_in_max} too many); "
                    f"prune or split the layer",
                )
            )
    if target.fan_out_max is not None:
        fan_out = nz.sum(axis=0)
        if prev is not None and prev.n_relay:  # a relay's copy synapse leaves its source too
            fan_out = fan_out + np.bincount(prev.relay_src, minlength=prev.n_outputs)
        bad = fan_out > target.fan_out_max
        n = int(bad.sum())
        if n:
            worst = int(fan_out.max())
            out.append(
                Violation(
                    name,
                    "fan_out",
                    n,
                    worst,
                    target.fan_out_max,
                    f"{n} presynaptic neurons have more than {target.fan_out_max} "
                    f"outgoing synapses (up to {worst}, {worst - target.fan_out_max} "
                    f"too many)",
                )
            )


def check(network: Network, target: Target) -> list[Violation]:
    """Every limit of ``target`` that ``network`` breaks (empty list: it fits). Pure."""
    out: list[Violation] = []
    layers = network.layers
    for li, layer in enumerate(layers):
        _check_delays(layer, target, out)
        _check_weights(layer, target, out)
        _check_neuron(layer, target, out)
        _check_fan(layer, target, out, layers[li - 1] if li else None)
    first, last = layers[0], layers[-1]
    if target.input_channels_max is not None and first.n_in > target.input_channels_max:
        n = first.n_in - target.input_channels_max
        out.append(
            Violation(
                first.name,
                "input_channels",
                n,
                first.n_in,
                target.input_channels_max,
                f"{first.n_in} input channels, {target.name} has {target.input_channels_max} ({n} too many)",
            )
        )
    if target.output_neurons_max is not None and last.n_out > target.output_neurons_max:
        n = last.n_out - target.output_neurons_max
        out.append(
            Violation(
                last.name,
                "output_neurons",
                n,
                last.n_out,
                target.output_neurons_max,
                f"{last.n_out} readout neurons, {target.name} has {target.output_neurons_max} ({n} too many)",
            )
        )
    total_neurons = sum(layer.n_outputs for layer in layers)  # relay neurons (format v2) included
    if target.neurons_max is not None and total_neurons > target.neurons_max:
        n = total_neurons - target.neurons_max
        out.append(
            Violation(
                None,
                "neurons",
                n,
                total_neurons,
                target.neurons_max,
                f"{total_neurons:,} neurons, {target.name} has {target.neurons_max:,} ({n:,} too many)",
            )
        )
    total_syn = sum(int((layer.weight != 0).sum()) + layer.n_relay for layer in layers)  # + relay copies
    if target.synapses_max is not None and total_syn > target.synapses_max:
        n = total_syn - target.synapses_max
        out.append(
            Violation(
                None,
                "synapses",
                n,
                total_syn,
                target.synapses_max,
                f"{total_syn:,} synapses, {target.name} has {target.synapses_max:,} ({n:,} too many)",
            )
        )
    out.extend(_check_resources(network, target))
    return out


def _check_resources(network: Network, target: Target) -> list[Violation]:
    """Cores and memory from the neuron-to-core mapping (resources.py)."""
    try:
        from delaykit.hardware_targets.resources import estimate_resources
    except ImportError:  # pragma: no cover - resources not built yet
        return []
    est = estimate_resources(network, target, method="none")  # delays are checked separately
    out: list[Violation] = []
    if target.cores is not None and est.cores is not None and est.cores > target.cores:
        n = est.cores - target.cores
        out.append(
            Violation(
                None,
                "cores",
                n,
                est.cores,
                target.cores,
                f"the mapping needs {est.cores:,} cores, {target.name} has {target.cores:,} ({n:,} too many)",
            )
        )
    if (
        target.synapse_memory_bytes is not None
        and est.synapse_memory_bytes is not None
        and est.synapse_memory_bytes > target.synapse_memory_bytes
    ):
        n = est.synapse_memory_bytes - target.synapse_memory_bytes
        out.append(
            Violation(
                None,
                "synapse_memory",
                n,
                est.synapse_memory_bytes,
                target.synapse_memory_bytes,
                f"synapse memory {est.synapse_memory_bytes:,} B exceeds {target.synapse_memory_bytes:,} B",
            )
        )
    return out


def format_report(
    network: Network, target: Target, violations: list[Violation], path: str | None = None
) -> str:
    """The text ``delaykit targets check`` prints."""
    head = f"{path or 'network'} on {target.name}: "
    if not violations:
        return head + "fits (no limit broken)"
    lines = [head + f"does NOT fit: {len(violations)} limit(s) broken"]
    lines.append(f"{'layer':<12} {'limit':<15} {'count':>9} {'worst':>12} {'allowed':>12}  detail")
    for v in violations:
        worst = "-" if v.worst is None else f"{v.worst:g}" if isinstance(v.worst, float) else f"{v.worst:,}"
        allowed = (
            "-"
            if v.allowed is None
            else f"{v.allowed:g}"
            if isinstance(v.allowed, float)
            else f"{v.allowed:,}"
        )
        lines.append(
            f"{(v.layer or '(network)'):<12} {v.limit:<15} {v.count:>9,} {worst:>12} "
            f"{allowed:>12}  {v.detail}"
        )
    return "\n".join(lines)
