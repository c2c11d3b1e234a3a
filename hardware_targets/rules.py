"""The per-layer rules of :func:`delaykit.hardware_targets.check.check` (numpy only, pure).

Each rule reads one layer (and the target) and appends :class:`Violation` records, and notes
for choices the mapping makes (fewer neurons per core to reach a delay). Only synapses with a
non-zero weight exist on a chip, so delays, fan-in and fan-out are counted over those.
Delays are in steps, counts are synapses / neurons / presynaptic inputs as :data:`LIMITS` says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from delaykit.hardware_targets.schema import Target, core_size_for_delay, native_core_size
from delaykit.network import LIF, Layer

#: Every limit ``check`` can report, with what its ``count`` counts.
LIMITS: dict[str, str] = {
    "delay_native": "synapses with a delay > 0 on a chip without native delays",
    "delay_max": "synapses whose delay exceeds the target's largest delay",
    "delay_min": "synapses whose delay is below the target's smallest delay",
    "delay_per_axon": "presynaptic neurons whose synapses do not share one delay (per-axon target)",
    "weight_float": "synapses with float weights on an integer-weight target",
    "weight_bits": "synapses whose integer weight needs more bits than the target has",
    "weight_levels": "neurons with more distinct non-zero weights than the target's weight types",
    "weight_levels_core": "cores whose neurons use more distinct non-zero weights than the core can make",
    "threshold_bits": "neurons whose integer threshold exceeds the target's threshold field",
    "bias_bits": "neurons whose integer bias exceeds the target's signed bias field",
    "fan_in": "neurons with more incoming synapses than the target allows",
    "fan_out": "presynaptic neurons with more outgoing synapses than the target allows",
    "fan_out_avg": "recurrent synapses beyond the core's average fan-out budget",
    "destinations": "presynaptic neurons whose targets lie on more chips than they have destination entries",
    "input_channels": "input channels beyond the chip's input count",
    "output_neurons": "readout neurons beyond the chip's output count",
    "neurons": "neurons beyond the chip's total",
    "synapses": "synapses beyond the chip's total",
    "neuron_reset": "spiking neurons whose reset (hard, subtractive, none) the target implements differently",
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
        """JSON-able record, with ``excess``."""
        d = asdict(self)
        d["excess"] = self.excess
        return d

    def __str__(self) -> str:
        where = f"layer {self.layer}" if self.layer is not None else "network"
        return f"{where}: {self.limit}: {self.detail}"


def signed_bits(x: np.ndarray) -> int:
    """Smallest two's-complement width holding every value of the integer array ``x``."""
    if x.size == 0:
        return 1
    hi, lo = int(x.max()), int(x.min())
    return max(1, hi.bit_length() + 1 if hi > 0 else 1, (-lo - 1).bit_length() + 1 if lo < 0 else 1)


def fits_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Element-wise: does ``x`` fit a ``bits``-bit two's-complement field."""
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


def _bound(
    out: list[Violation], layer: str | None, limit: str, values: np.ndarray, allowed: int, what: str
) -> None:
    """One violation for the entries of ``values`` above ``allowed`` (``what`` names them)."""
    bad = values > allowed
    n = int(bad.sum())
    if n:
        worst = int(values.max())
        out.append(
            Violation(
                layer,
                limit,
                n,
                worst,
                allowed,
                f"{n} {what} (up to {worst}, {worst - allowed} too many)",
            )
        )


# ---- delays -----------------------------------------------------------------------------


def _check_delay_native(layer: Layer, target: Target, out: list[Violation]) -> None:
    nz = layer.weight != 0
    bad = nz & (layer.delay > 0)
    n = int(bad.sum())
    if n:
        worst = int(layer.delay[bad].max())
        out.append(
            Violation(
                layer.name,
                "delay_native",
                n,
                worst,
                0,
                f"{n} synapses have delays up to {worst} steps but {target.name} has no native "
                f"delays; realize them with 'delaykit targets realize --method relay|queue'",
            )
        )


def _check_delay_core_size(layer: Layer, target: Target, out: list[Violation], notes: list[str]) -> bool:
    """Delays on a target whose native range follows the neurons per core (sPyNNaker).

    Returns True when the layer's delays fit (possibly with a note on the core size).
    """
    d_max = int(layer.delay[layer.weight != 0].max())
    size, how = core_size_for_delay(target, d_max, layer.n_out)
    full = min(int(target.neurons_per_core or layer.n_out), layer.n_out)
    native_at = native_core_size(target, d_max, layer.n_out)
    if how == "too long":
        return False
    if how == "extension":
        keep = f"; at most {native_at} neurons per core would keep them native" if native_at else ""
        notes.append(
            f"layer {layer.name}: delays up to {d_max} steps need delay-extension cores at "
            f"{size} neurons per core{keep}"
        )
    if size is not None and size < full:
        notes.append(
            f"layer {layer.name}: delays up to {d_max} steps fit only with at most {size} neurons "
            f"per core (of {full}): the mapping uses {size}"
        )
    return True


def check_delays(layer: Layer, target: Target, out: list[Violation], notes: list[str]) -> None:
    """delay_native, delay_max, delay_min and delay_per_axon of one layer."""
    nz = layer.weight != 0
    if not nz.any():
        return
    if not target.delay_native:
        _check_delay_native(layer, target, out)
        return
    d = layer.delay
    lo, hi = target.delay_min_steps, int(target.delay_max_steps or 0)
    if target.delay_depends_on_core_size:
        hi = int(target.delay_limits_at(1)[1] or hi)
        if _check_delay_core_size(layer, target, out, notes):
            hi = int(d[nz].max())
    over = nz & (d > hi)
    if over.any():
        n, worst = int(over.sum()), int(d[over].max())
        k = hi + 1 if hi % 2 == 0 else hi
        out.append(
            Violation(
                layer.name,
                "delay_max",
                n,
                worst,
                hi,
                f"{n} synapses have delays above {hi} steps (up to {worst}, {worst - hi} too many); "
                f"retrain with K <= {k} or clip with 'delaykit convert --target {target.name}'",
            )
        )
    under = nz & (d < lo)
    if under.any():
        n, worst = int(under.sum()), int(d[under].min())
        out.append(
            Violation(
                layer.name,
                "delay_min",
                n,
                worst,
                lo,
                f"{n} synapses have delays below {lo} steps (down to {worst})",
            )
        )
    if target.delay_granularity == "axon":
        _check_delay_per_axon(layer, target, out)


def _check_delay_per_axon(layer: Layer, target: Target, out: list[Violation]) -> None:
    """Every synapse leaving presynaptic neuron i (column i) must share one delay."""
    nz = layer.weight != 0
    n_bad_pre = n_syn_to_move = extra_axons = 0
    worst_distinct = 1
    for i in range(layer.n_in):
        col = layer.delay[nz[:, i], i]
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
                layer.name,
                "delay_per_axon",
                n_bad_pre,
                worst_distinct,
                1,
                f"{n_bad_pre} presynaptic neurons drive synapses with different delays (up to "
                f"{worst_distinct} distinct; {n_syn_to_move} synapses differ from their neuron's most "
                f"common delay); {target.name} has one delay per axon: duplicate each such neuron's "
                f"axon per delay ({extra_axons} extra axons) or retrain with shared delays",
            )
        )


# ---- weights ----------------------------------------------------------------------------


def weight_levels(w: np.ndarray, target: Target) -> np.ndarray:
    """The values whose distinct count limits a neuron or core: magnitudes when the sign
    comes from the synapse type, the signed values otherwise."""
    return np.abs(w) if target.weight_sign == "synapse_type" else w


def _check_weight_bits(layer: Layer, target: Target, out: list[Violation]) -> None:
    nz = layer.weight != 0
    bits = int(target.weight_bits or 0)
    w = layer.weight.astype(np.int64)
    shift = 0
    if target.weight_exponent:
        shift = _common_shift(w)
        if target.weight_exponent_max is not None:
            shift = min(shift, target.weight_exponent_max)
    m = w >> shift if shift else w
    if target.weight_sign == "synapse_type":
        bad = nz & (np.abs(m) > (1 << bits) - 1)
        need, kind = int(np.abs(m[nz]).max()).bit_length(), "magnitude"
    else:
        bad = nz & ~fits_signed(m, bits)
        need, kind = signed_bits(m[nz]), "signed"
    n = int(bad.sum())
    if n:
        how = f" after the shared exponent 2^{shift}" if shift else ""
        out.append(
            Violation(
                layer.name,
                "weight_bits",
                n,
                need,
                bits,
                f"{n} synapses need up to {need} {kind} bits{how}, {target.name} has {bits} "
                f"({need - bits} too many); re-quantize with 'delaykit convert --target {target.name}'",
            )
        )


def check_weights(layer: Layer, target: Target, out: list[Violation]) -> None:
    """weight_float, weight_bits and weight_levels (per neuron) of one layer."""
    nz = layer.weight != 0
    n_syn = int(nz.sum())
    if not n_syn:
        return
    if target.weight_bits is not None and not layer.is_integer:
        out.append(
            Violation(
                layer.name,
                "weight_float",
                n_syn,
                None,
                target.weight_bits,
                f"{n_syn} synapses have float weights but {target.name} stores {target.weight_bits}-bit "
                f"integers; quantize with 'delaykit convert --target {target.name}'",
            )
        )
    elif target.weight_bits is not None:
        _check_weight_bits(layer, target, out)
    levels = target.weight_levels_per_neuron
    if levels is not None:
        vals = weight_levels(layer.weight, target)
        distinct = np.array([np.unique(row[row != 0]).size for row in vals])
        _bound(
            out,
            layer.name,
            "weight_levels",
            distinct,
            levels,
            f"neurons use more than {levels} distinct non-zero weights; {target.name} makes "
            f"{levels} per neuron (a necessary condition only)",
        )


# ---- neurons and fan --------------------------------------------------------------------


def check_neuron(layer: Layer, target: Target, out: list[Violation]) -> None:
    """threshold_bits, bias_bits and neuron_reset of one layer."""
    name = layer.name
    if layer.is_integer and target.threshold_bits is not None and isinstance(layer.neuron, LIF):
        th = np.broadcast_to(np.asarray(layer.neuron.v_threshold, dtype=np.float64), (layer.n_out,))
        bits = target.threshold_bits
        limit = (1 << (bits - 1)) - 1 if target.threshold_signed else (1 << bits) - 1
        field = f"signed {bits}-bit" if target.threshold_signed else f"{bits}-bit"
        bad = th > limit
        if bad.any():
            n, worst = int(bad.sum()), float(th.max())
            out.append(
                Violation(
                    name,
                    "threshold_bits",
                    n,
                    worst,
                    limit,
                    f"{n} neurons have integer thresholds above {limit} ({field} field; up to {worst:g})",
                )
            )
    if layer.is_integer and target.bias_bits is not None:
        b = np.asarray(layer.bias).astype(np.int64)  # the contract always holds an array
        bad = ~fits_signed(b, target.bias_bits)
        if bad.any():
            n = int(bad.sum())
            out.append(
                Violation(
                    name,
                    "bias_bits",
                    n,
                    signed_bits(b),
                    target.bias_bits,
                    f"{n} neurons have biases beyond {target.bias_bits} signed bits "
                    f"(|bias| up to {int(np.abs(b).max())})",
                )
            )
    # the contract's reset modes (format v3) in the profiles' words
    wanted = {"value": "hard", "subtract": "subtractive", "none": "none"}[layer.neuron.reset]
    if target.neuron_reset != wanted and layer.neuron.spiking:
        detail = (
            f"{layer.n_out} neurons use the contract's hard reset; {target.name} resets by "
            f"{target.neuron_reset} reset (results match only when no membrane overshoots its threshold)"
            if wanted == "hard"
            else f"{layer.n_out} neurons use the contract's '{layer.neuron.reset}' reset (field "
            f"'neuron.reset'); {target.name} resets by {target.neuron_reset} reset"
        )
        out.append(Violation(name, "neuron_reset", layer.n_out, None, None, detail))


def fan_out_applies(target: Target, index: int, n_layers: int) -> bool:
    """Whether the fan-out limit applies to layer ``index``'s synapses: always, or (scope
    "recurrent") only between hidden neurons, i.e. not from the inputs, not to the readout."""
    return target.fan_out_scope == "all" or 0 < index < n_layers - 1


def check_fan(layer: Layer, target: Target, out: list[Violation], prev: Layer | None, scoped: bool) -> None:
    """fan_in of one layer, and fan_out of its presynaptic neurons (when ``scoped``)."""
    nz = layer.weight != 0
    if target.fan_in_max is not None:
        what = f"neurons have more than {target.fan_in_max} incoming synapses; prune or split the layer"
        _bound(out, layer.name, "fan_in", nz.sum(axis=1), target.fan_in_max, what)
    if target.fan_out_max is None or not scoped:
        return
    fan_out = nz.sum(axis=0)
    if prev is not None and prev.relay_src is not None:  # a relay's copy synapse leaves its source too
        fan_out = fan_out + np.bincount(prev.relay_src, minlength=prev.n_outputs)
    what = f"presynaptic neurons have more than {target.fan_out_max} outgoing synapses"
    if target.aliases_per_neuron:  # an alias target lends its own outgoing synapses
        cap = target.fan_out_max * (1 + target.aliases_per_neuron)
        over = fan_out > target.fan_out_max
        fixable, beyond = int((over & (fan_out <= cap)).sum()), int((fan_out > cap).sum())
        what += (
            f"; with {target.aliases_per_neuron} output alias per hidden neuron (up to {cap} targets, "
            f"one spare hidden neuron per alias) {fixable} of them could be served by "
            f"{fixable * target.aliases_per_neuron} spare neurons, {beyond} exceed {cap} even so"
        )
    _bound(out, layer.name, "fan_out", fan_out, target.fan_out_max, what)
