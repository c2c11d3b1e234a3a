"""Hardware target profiles: the schema of ``profiles/<name>.toml`` and the :class:`Target` it builds.

A profile is data: one TOML file per chip. Every limit is either a number with its source or
the string ``"unknown"`` with a note saying why; a limit that is absent does not exist on that
chip. Sources are given per section, either as a list (for the whole section) or as a table
keyed by field (``[core.sources] neurons = "sPyNNaker ... line 40"``); an ``"unknown"`` field
needs its note in that table. The loader rejects anything malformed with a ``ValueError`` that
names the file and the field.

Conventions (all delays in **steps** of the network's ``dt``):

* ``delay_min_steps`` / ``delay_max_steps`` are in the *contract's* convention
  (delay 0 = the same step, see :mod:`delaykit.network`). A chip whose smallest hardware
  delay is one tick (SpiNNaker, TrueNorth) or that delivers a delay-0 spike on the next step
  (Loihi 2) has ``layer_latency_steps = 1``: contract delay ``d`` is hardware delay ``d + 1``
  ticks (or ``d`` plus one step of latency), and every layer adds one step of latency.
* ``delay_max_steps is None`` means the chip has no native delays (``delay_native`` False).
* ``delay_native_max_steps`` (optional) is the largest delay served by the synapse itself;
  larger ones, up to ``delay_max_steps``, need extra hardware (SpiNNaker delay extensions).
  Where the native range depends on the neurons per core (sPyNNaker's ring buffer), the
  profile states the ring-buffer model (``delays.ring_buffer_bits`` ...) and both numbers are
  the values at ``core.neurons``; :meth:`Target.delay_limits_at` gives them for other sizes.
* ``weight_bits`` is the mantissa width (None = float, analog or unknown weights, see
  ``weight_format`` and ``unknown``); ``weight_sign`` "twos_complement" means a signed field
  of that width, "synapse_type" a magnitude of that width whose sign is the synapse type.
  ``weight_exponent`` True means a shared power-of-two exponent per layer scales the mantissas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

UNKNOWN = "unknown"
DELAY_GRANULARITIES = ("synapse", "axon", "none")
WEIGHT_FORMATS = ("int", "mantissa_exponent", "float", "bf16", "axon_types", "analog")
INTEGER_WEIGHT_FORMATS = ("int", "mantissa_exponent", "axon_types")
WEIGHT_SIGNS = ("twos_complement", "synapse_type")
FAN_OUT_SCOPES = ("all", "recurrent")
RESETS = ("hard", "subtractive")
FIXED_POINT_DECAYS = ("loihi12", "shift", "none")
FIXED_POINT_OVERFLOWS = ("saturate", "wrap")

# (section, key) -> (attribute, type, required). Types: "bool", "int", "int?" (an integer,
# or "unknown"), "str", "str?", "strlist", "sources".
SCHEMA: dict[str, dict[str, tuple[str | None, str, bool]]] = {
    "": {
        "name": ("name", "str", True),
        "description": ("description", "str", True),
        "device": ("device", "str?", False),
        "notes": ("notes", "strlist", False),
    },
    "delays": {
        "native": ("delay_native", "bool", True),
        "granularity": ("delay_granularity", "str", True),
        "min_steps": ("delay_min_steps", "int", False),
        "max_steps": ("delay_max_steps", "int?", False),
        "native_max_steps": ("delay_native_max_steps", "int?", False),
        "ring_buffer_bits": ("delay_ring_buffer_bits", "int?", False),
        "synapse_type_bits": ("delay_synapse_type_bits", "int?", False),
        "extension_slots": ("delay_extension_slots", "int?", False),
        "hardware_range": ("delay_hardware_range", "str?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "weights": {
        "format": ("weight_format", "str", True),
        "bits": ("weight_bits", "int?", False),
        "sign": ("weight_sign", "str", False),
        "exponent": ("weight_exponent", "bool", False),
        "exponent_min": ("weight_exponent_min", "int?", False),
        "exponent_max": ("weight_exponent_max", "int?", False),
        "levels_per_neuron": ("weight_levels_per_neuron", "int?", False),
        "levels_per_core": ("weight_levels_per_core", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "neuron": {
        "model": ("neuron_model", "str", True),
        "reset": ("neuron_reset", "str", True),
        "threshold_bits": ("threshold_bits", "int?", False),
        "threshold_signed": ("threshold_signed", "bool", False),
        "bias_bits": ("bias_bits", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "timing": {
        "layer_latency_steps": ("layer_latency_steps", "int", True),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "core": {
        "neurons": ("neurons_per_core", "int?", False),
        "synapses": ("synapses_per_core", "int?", False),
        "fan_in": ("fan_in_max", "int?", False),
        "fan_out": ("fan_out_max", "int?", False),
        "fan_out_scope": ("fan_out_scope", "str", False),
        "fan_out_avg": ("fan_out_avg", "int?", False),
        "aliases_per_neuron": ("aliases_per_neuron", "int?", False),
        "destinations": ("destinations_per_neuron", "int?", False),
        "axons": ("axons_per_core", "int?", False),
        "memory_bytes": ("memory_per_core_bytes", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "chip": {
        "cores": ("cores", "int?", False),
        "neurons": ("neurons_max", "int?", False),
        "synapses": ("synapses_max", "int?", False),
        "input_channels": ("input_channels_max", "int?", False),
        "output_neurons": ("output_neurons_max", "int?", False),
        "synapse_memory_bytes": ("synapse_memory_bytes", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
    "fixed_point": {
        "weight_bits": ("weight_bits", "int", True),
        "membrane_bits": ("membrane_bits", "int", True),
        "current_bits": ("current_bits", "int", True),
        "decay": ("decay", "str", True),
        "overflow": ("overflow", "str", True),
        "current_overflow": ("current_overflow", "str?", False),
        "membrane_overflow": ("membrane_overflow", "str?", False),
        "threshold_compare": ("threshold_compare", "str?", False),
        "threshold_shift": ("threshold_shift", "int", True),
        "weight_shift": ("weight_shift", "int", True),
        "notes": (None, "strlist", False),
        "sources": (None, "sources", True),
    },
}
REQUIRED_SECTIONS = ("delays", "weights", "neuron", "timing", "core", "chip")
FIXED_POINT_KEYS = (
    "weight_bits",
    "membrane_bits",
    "current_bits",
    "decay",
    "overflow",
    "threshold_shift",
    "weight_shift",
)
#: Per-core and per-chip count limits (profile field -> Target attribute), all >= 1.
COUNT_LIMITS = {
    f"{section}.{key}": attr
    for section in ("core", "chip")
    for key, (attr, kind, _r) in SCHEMA[section].items()
    if kind == "int?" and attr is not None
}


def get_n_bits(n_values: int) -> int:
    """Bits to index ``n_values`` values, as sPyNNaker counts them (0 -> 0, 1 -> 1)."""
    if n_values <= 1:
        return max(n_values, 0)
    return (n_values - 1).bit_length()


@dataclass(frozen=True)
class Target:
    """A validated hardware target profile. Delays in steps, memory in bytes.

    Limits that are ``None`` are not checked: either the chip has no such limit, or the
    limit exists but its value is unknown, in which case its field name ("core.synapses")
    maps to the note in ``unknown``.
    """

    name: str
    description: str
    # delays
    delay_native: bool
    delay_granularity: str
    delay_min_steps: int = 0
    delay_max_steps: int | None = None
    delay_native_max_steps: int | None = None
    delay_ring_buffer_bits: int | None = None
    delay_synapse_type_bits: int | None = None
    delay_extension_slots: int | None = None
    delay_hardware_range: str | None = None
    # weights
    weight_format: str = "float"
    weight_bits: int | None = None
    weight_sign: str = "twos_complement"
    weight_exponent: bool = False
    weight_exponent_min: int | None = None
    weight_exponent_max: int | None = None
    weight_levels_per_neuron: int | None = None
    weight_levels_per_core: int | None = None
    # neuron
    neuron_model: str = ""
    neuron_reset: str = "hard"
    threshold_bits: int | None = None
    threshold_signed: bool = False
    bias_bits: int | None = None
    # timing
    layer_latency_steps: int = 0
    # per core
    neurons_per_core: int | None = None
    synapses_per_core: int | None = None
    fan_in_max: int | None = None
    fan_out_max: int | None = None
    fan_out_scope: str = "all"
    fan_out_avg: int | None = None
    aliases_per_neuron: int | None = None
    destinations_per_neuron: int | None = None
    axons_per_core: int | None = None
    memory_per_core_bytes: int | None = None
    # per chip / system
    cores: int | None = None
    neurons_max: int | None = None
    synapses_max: int | None = None
    input_channels_max: int | None = None
    output_neurons_max: int | None = None
    synapse_memory_bytes: int | None = None
    # fixed-point arithmetic for sim (None = float arithmetic)
    fixed_point: dict[str, Any] | None = None
    device: str | None = None
    notes: tuple[str, ...] = ()
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    section_notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    path: str | None = None

    @property
    def delay_per_synapse(self) -> bool:
        """True when each synapse has its own delay (False for per-axon or no delays)."""
        return self.delay_native and self.delay_granularity == "synapse"

    @property
    def delay_per_axon(self) -> bool:
        """True when all synapses of one presynaptic axon share its delay."""
        return self.delay_native and self.delay_granularity == "axon"

    @property
    def delay_depends_on_core_size(self) -> bool:
        """True when the native delay range follows the neurons per core (ring-buffer model)."""
        return self.delay_native and self.delay_ring_buffer_bits is not None

    def native_delay_ticks(self, neurons_per_core: int) -> int | None:
        """Hardware ticks the synapse itself can delay on a core of ``neurons_per_core`` neurons.

        sPyNNaker sizes one ring-buffer index of ``ring_buffer_bits`` bits from the neuron
        index, the synapse type and the delay: 2**(bits - n_bits(neurons) - type bits) ticks.
        None when the profile has no ring-buffer model.
        """
        if not self.delay_depends_on_core_size:
            return None
        bits = int(self.delay_ring_buffer_bits or 0) - get_n_bits(max(int(neurons_per_core), 1))
        bits -= int(self.delay_synapse_type_bits or 0)
        return 1 << max(bits, 0)

    def delay_limits_at(self, neurons_per_core: int | None = None) -> tuple[int | None, int | None]:
        """(native, total) largest delays in contract steps with ``neurons_per_core`` per core.

        Without a ring-buffer model, or without a size, the profile's own values. Total adds
        ``extension_slots`` times the native range (sPyNNaker delay-extension stages).
        """
        ticks = None if neurons_per_core is None else self.native_delay_ticks(neurons_per_core)
        if ticks is None:
            return self.delay_native_max_steps, self.delay_max_steps
        lat = self.layer_latency_steps
        total = ticks * (1 + int(self.delay_extension_slots or 0))
        return ticks - lat, total - lat

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view of every field (what ``delaykit targets show --json`` prints)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = {k: (list(x) if isinstance(x, tuple) else x) for k, x in v.items()}
            out[f.name] = v
        out["delay_per_synapse"] = self.delay_per_synapse
        return out


def core_size_for_delay(t: Target, max_delay: int, population: int) -> tuple[int | None, str]:
    """Neurons per core for a population of ``population`` neurons whose largest delay is
    ``max_delay`` contract steps, on a target whose native delay range follows the core size.

    Returns (neurons per core, how), how one of "native", "extension" (delay-extension
    cores at that size) or "too long" (None: not even one neuron per core reaches it). The
    profile's size is kept when extensions reach the delay (sPyNNaker's behaviour); only
    delays beyond that force fewer neurons per core.
    """
    npc = min(int(t.neurons_per_core or population), max(int(population), 1))
    for b in range(get_n_bits(npc), -1, -1):
        n = min(npc, 1 << b)
        native, total = t.delay_limits_at(n)
        if native is not None and max_delay <= native:
            return n, "native"
        if total is not None and max_delay <= total:
            return n, "extension"
    return None, "too long"


def native_core_size(t: Target, max_delay: int, population: int) -> int | None:
    """The most neurons per core (up to the profile's) that keep ``max_delay`` native, or None."""
    npc = min(int(t.neurons_per_core or population), max(int(population), 1))
    for b in range(get_n_bits(npc), -1, -1):
        n = min(npc, 1 << b)
        native, _total = t.delay_limits_at(n)
        if native is not None and max_delay <= native:
            return n
    return None
