"""Hardware target profiles: loading and validating ``profiles/<name>.toml`` (numpy-free).

A profile is data: one TOML file per chip, every number with its source. The loader turns
it into a frozen :class:`Target` and rejects anything malformed with a ``ValueError`` that
names the file and the field.

Conventions (all delays in **steps** of the network's ``dt``):

* ``delay_min_steps`` / ``delay_max_steps`` are in the *contract's* convention
  (delay 0 = the same step, see :mod:`delaykit.network`). A chip whose smallest hardware
  delay is one tick (SpiNNaker, TrueNorth) or that delivers a delay-0 spike on the next step
  (Loihi 2) has ``layer_latency_steps = 1``: contract delay ``d`` is hardware delay ``d`` (or
  ``d + 1`` ticks), and every layer adds one step of latency. The hardware's own tick range
  is stated in the profile's ``hardware_range`` text.
* ``delay_max_steps is None`` means the chip has no native delays (``delay_native`` False).
* ``delay_native_max_steps`` (optional) is the largest delay served by the synapse itself;
  larger ones, up to ``delay_max_steps``, need extra hardware (SpiNNaker delay extensions).
* ``weight_bits`` is the signed mantissa width (None = float or analog weights, see
  ``weight_format``); ``weight_exponent`` True means a shared power-of-two exponent per layer
  scales the mantissas (Loihi), so only the mantissa width limits an integer layer.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROFILE_DIR = Path(__file__).parent / "profiles"

DELAY_GRANULARITIES = ("synapse", "axon", "none")
WEIGHT_FORMATS = ("int", "mantissa_exponent", "float", "bf16", "axon_types", "analog")
RESETS = ("hard", "subtractive")
FIXED_POINT_DECAYS = ("loihi12", "shift", "none")
FIXED_POINT_OVERFLOWS = ("saturate", "wrap")

# (section, key) -> (attribute, type, required). type: "bool", "int", "int?", "str", "str?", ...
_SCHEMA: dict[str, dict[str, tuple[str, str, bool]]] = {
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
        "hardware_range": ("delay_hardware_range", "str?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
    },
    "weights": {
        "format": ("weight_format", "str", True),
        "bits": ("weight_bits", "int?", False),
        "exponent": ("weight_exponent", "bool", False),
        "exponent_min": ("weight_exponent_min", "int?", False),
        "exponent_max": ("weight_exponent_max", "int?", False),
        "levels_per_neuron": ("weight_levels_per_neuron", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
    },
    "neuron": {
        "model": ("neuron_model", "str", True),
        "reset": ("neuron_reset", "str", True),
        "threshold_bits": ("threshold_bits", "int?", False),
        "bias_bits": ("bias_bits", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
    },
    "timing": {
        "layer_latency_steps": ("layer_latency_steps", "int", True),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
    },
    "core": {
        "neurons": ("neurons_per_core", "int?", False),
        "synapses": ("synapses_per_core", "int?", False),
        "fan_in": ("fan_in_max", "int?", False),
        "fan_out": ("fan_out_max", "int?", False),
        "axons": ("axons_per_core", "int?", False),
        "memory_bytes": ("memory_per_core_bytes", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
    },
    "chip": {
        "cores": ("cores", "int?", False),
        "neurons": ("neurons_max", "int?", False),
        "synapses": ("synapses_max", "int?", False),
        "input_channels": ("input_channels_max", "int?", False),
        "output_neurons": ("output_neurons_max", "int?", False),
        "synapse_memory_bytes": ("synapse_memory_bytes", "int?", False),
        "notes": (None, "strlist", False),
        "sources": (None, "strlist", True),
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
        "sources": (None, "strlist", True),
    },
}
_REQUIRED_SECTIONS = ("delays", "weights", "neuron", "timing", "core", "chip")
_FIXED_POINT_KEYS = (
    "weight_bits",
    "membrane_bits",
    "current_bits",
    "decay",
    "overflow",
    "threshold_shift",
    "weight_shift",
)


@dataclass(frozen=True)
class Target:
    """A validated hardware target (interface B). Delays in steps, memory in bytes.

    Limits that are ``None`` are unknown or unlimited and are not checked.
    """

    name: str
    description: str
    # delays
    delay_native: bool
    delay_granularity: str
    delay_min_steps: int = 0
    delay_max_steps: int | None = None
    delay_native_max_steps: int | None = None
    delay_hardware_range: str | None = None
    # weights
    weight_format: str = "float"
    weight_bits: int | None = None
    weight_exponent: bool = False
    weight_exponent_min: int | None = None
    weight_exponent_max: int | None = None
    weight_levels_per_neuron: int | None = None
    # neuron
    neuron_model: str = ""
    neuron_reset: str = "hard"
    threshold_bits: int | None = None
    bias_bits: int | None = None
    # timing
    layer_latency_steps: int = 0
    # per core
    neurons_per_core: int | None = None
    synapses_per_core: int | None = None
    fan_in_max: int | None = None
    fan_out_max: int | None = None
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
    path: str | None = None

    @property
    def delay_per_synapse(self) -> bool:
        """True when each synapse has its own delay (False for per-axon or no delays)."""
        return self.delay_native and self.delay_granularity == "synapse"

    @property
    def delay_per_axon(self) -> bool:
        return self.delay_native and self.delay_granularity == "axon"

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


def list_targets() -> list[str]:
    """Names of the bundled profiles (``hardware_targets/profiles/*.toml``), sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_target(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> Target:
    """Load a bundled profile by name (``"loihi2"``) or a profile file by path (``.toml``).

    ``overrides`` maps field names (``"delay_max_steps"``, ``"weight_bits"``, or
    ``"section.key"`` as in the file) to values (strings are parsed); it is how the generic
    target's limits are set from the command line. Raises ValueError naming file and field.
    """
    s = str(name_or_path)
    if s.endswith(".toml") or "/" in s or "\\" in s:
        path = Path(s)
        if not path.is_file():
            raise ValueError(
                f"{path}: no such target profile file; give a bundled name "
                f"({', '.join(list_targets())}) or the path of a .toml profile"
            )
    else:
        path = PROFILE_DIR / f"{s}.toml"
        if not path.is_file():
            raise ValueError(
                f"unknown target {s!r}; known targets: {', '.join(list_targets())} "
                f"(or give the path of a .toml profile)"
            )
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    target = target_from_dict(data, where=str(path))
    if overrides:
        target = apply_overrides(target, overrides)
    return target


def _check_type(value: Any, kind: str, where: str, fname: str) -> Any:
    def bad(expected: str) -> ValueError:
        return ValueError(f"{where}: field '{fname}': expected {expected}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("int", "int?"):
        if kind == "int?" and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer" + (" (omit the key for 'no limit')" if kind == "int?" else ""))
        return value
    if kind in ("str", "str?"):
        if kind == "str?" and value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        return value
    if kind == "strlist":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            raise bad("a list of non-empty strings")
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover - schema typo


def target_from_dict(data: Mapping[str, Any], where: str = "profile") -> Target:
    """Validate a parsed profile (the TOML's dict) and build a :class:`Target`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a profile must be a TOML table")
    kwargs: dict[str, Any] = {}
    sources: dict[str, tuple[str, ...]] = {}
    section_notes: dict[str, tuple[str, ...]] = {}
    fixed: dict[str, Any] | None = None
    for key in data:
        if key not in _SCHEMA[""] and key not in _SCHEMA:
            raise ValueError(
                f"{where}: field '{key}': unknown field; known: "
                f"{sorted(set(_SCHEMA[''])) + sorted(k for k in _SCHEMA if k)}"
            )
    for key, (attr, kind, required) in _SCHEMA[""].items():
        if key in data:
            kwargs[attr] = _check_type(data[key], kind, where, key)
        elif required:
            raise ValueError(f"{where}: field '{key}': missing (required)")
    for section in _REQUIRED_SECTIONS:
        if section not in data:
            raise ValueError(f"{where}: field '{section}': missing section [{section}] (required)")
    for section, schema in _SCHEMA.items():
        if not section or section not in data:
            continue
        table = data[section]
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: field '{section}': must be a table [{section}]")
        for key in table:
            if key not in schema:
                raise ValueError(f"{where}: field '{section}.{key}': unknown field; known: {sorted(schema)}")
        values: dict[str, Any] = {}
        for key, (_attr, kind, required) in schema.items():
            fname = f"{section}.{key}"
            if key not in table:
                if required:
                    raise ValueError(
                        f"{where}: field '{fname}': missing (required"
                        + ("; every section names its sources" if key == "sources" else "")
                        + ")"
                    )
                continue
            values[key] = _check_type(table[key], kind, where, fname)
        sources[section] = values.pop("sources")
        if "notes" in values:
            section_notes[section] = values.pop("notes")
        if section == "fixed_point":
            fixed = dict(values)
            continue
        for key, v in values.items():
            kwargs[schema[key][0]] = v
    kwargs["sources"] = sources
    kwargs["section_notes"] = section_notes
    kwargs["fixed_point"] = fixed
    kwargs["path"] = where
    target = Target(**kwargs)
    return validate_target(target, where)


def _positive(where: str, fname: str, v: int | None, minimum: int = 1) -> None:
    if v is not None and v < minimum:
        raise ValueError(f"{where}: field '{fname}': must be >= {minimum}, got {v}")


def validate_target(t: Target, where: str | None = None) -> Target:
    """Cross-field checks; returns ``t`` unchanged or raises ValueError naming the field."""
    where = where or t.path or t.name
    if t.delay_granularity not in DELAY_GRANULARITIES:
        raise ValueError(
            f"{where}: field 'delays.granularity': must be one of "
            f"{DELAY_GRANULARITIES}, got {t.delay_granularity!r}"
        )
    if t.delay_native:
        if t.delay_granularity == "none":
            raise ValueError(f"{where}: field 'delays.granularity': native delays need 'synapse' or 'axon'")
        if t.delay_max_steps is None:
            raise ValueError(
                f"{where}: field 'delays.max_steps': required when delays.native "
                f"is true (largest delay in steps, contract convention)"
            )
        if t.delay_min_steps < 0 or t.delay_max_steps < t.delay_min_steps:
            raise ValueError(
                f"{where}: field 'delays.max_steps': need 0 <= min_steps "
                f"({t.delay_min_steps}) <= max_steps ({t.delay_max_steps})"
            )
        nm = t.delay_native_max_steps
        if nm is not None and not (t.delay_min_steps <= nm <= t.delay_max_steps):
            raise ValueError(
                f"{where}: field 'delays.native_max_steps': must lie in [min_steps, max_steps], got {nm}"
            )
    else:
        if t.delay_granularity != "none":
            raise ValueError(
                f"{where}: field 'delays.granularity': must be 'none' when delays.native is false"
            )
        if t.delay_max_steps is not None or t.delay_native_max_steps is not None:
            raise ValueError(
                f"{where}: field 'delays.max_steps': must be omitted when "
                f"delays.native is false (None means no native delays)"
            )
        if t.delay_min_steps != 0:
            raise ValueError(f"{where}: field 'delays.min_steps': must be 0 without native delays")
    if t.weight_format not in WEIGHT_FORMATS:
        raise ValueError(
            f"{where}: field 'weights.format': must be one of {WEIGHT_FORMATS}, got {t.weight_format!r}"
        )
    integer_formats = ("int", "mantissa_exponent", "axon_types")
    if t.weight_format in integer_formats and t.weight_bits is None:
        raise ValueError(f"{where}: field 'weights.bits': required for weights.format {t.weight_format!r}")
    if t.weight_format not in integer_formats and t.weight_bits is not None:
        raise ValueError(
            f"{where}: field 'weights.bits': must be omitted for weights.format "
            f"{t.weight_format!r} (not integer weights)"
        )
    _positive(where, "weights.bits", t.weight_bits, 2)
    if t.weight_bits is not None and t.weight_bits > 32:
        raise ValueError(f"{where}: field 'weights.bits': at most 32, got {t.weight_bits}")
    if t.weight_exponent != (t.weight_format == "mantissa_exponent"):
        raise ValueError(
            f"{where}: field 'weights.exponent': must be true exactly when "
            f"weights.format is 'mantissa_exponent'"
        )
    if (
        t.weight_exponent_min is not None
        and t.weight_exponent_max is not None
        and t.weight_exponent_min > t.weight_exponent_max
    ):
        raise ValueError(f"{where}: field 'weights.exponent_min': greater than exponent_max")
    _positive(where, "weights.levels_per_neuron", t.weight_levels_per_neuron)
    if t.neuron_reset not in RESETS:
        raise ValueError(f"{where}: field 'neuron.reset': must be one of {RESETS}, got {t.neuron_reset!r}")
    _positive(where, "neuron.threshold_bits", t.threshold_bits, 2)
    _positive(where, "neuron.bias_bits", t.bias_bits, 2)
    _positive(where, "timing.layer_latency_steps", t.layer_latency_steps, 0)
    for fname, v in (
        ("core.neurons", t.neurons_per_core),
        ("core.synapses", t.synapses_per_core),
        ("core.fan_in", t.fan_in_max),
        ("core.fan_out", t.fan_out_max),
        ("core.axons", t.axons_per_core),
        ("core.memory_bytes", t.memory_per_core_bytes),
        ("chip.cores", t.cores),
        ("chip.neurons", t.neurons_max),
        ("chip.synapses", t.synapses_max),
        ("chip.input_channels", t.input_channels_max),
        ("chip.output_neurons", t.output_neurons_max),
        ("chip.synapse_memory_bytes", t.synapse_memory_bytes),
    ):
        _positive(where, fname, v)
    fp = t.fixed_point
    if fp is not None:
        for k in _FIXED_POINT_KEYS:
            if k not in fp:
                raise ValueError(f"{where}: field 'fixed_point.{k}': missing (required)")
        for k in ("weight_bits", "membrane_bits", "current_bits"):
            if not 2 <= fp[k] <= 63:
                raise ValueError(f"{where}: field 'fixed_point.{k}': must be in 2..63, got {fp[k]}")
        for k in ("threshold_shift", "weight_shift"):
            if not 0 <= fp[k] <= 31:
                raise ValueError(f"{where}: field 'fixed_point.{k}': must be in 0..31, got {fp[k]}")
        if fp["decay"] not in FIXED_POINT_DECAYS:
            raise ValueError(
                f"{where}: field 'fixed_point.decay': must be one of "
                f"{FIXED_POINT_DECAYS}, got {fp['decay']!r}"
            )
        for k in ("overflow", "current_overflow", "membrane_overflow"):
            if fp.get(k) is not None and fp[k] not in FIXED_POINT_OVERFLOWS:
                raise ValueError(
                    f"{where}: field 'fixed_point.{k}': must be one of {FIXED_POINT_OVERFLOWS}, got {fp[k]!r}"
                )
        if fp.get("threshold_compare") is not None and fp["threshold_compare"] not in ("ge", "gt"):
            raise ValueError(
                f"{where}: field 'fixed_point.threshold_compare': must be 'ge' (h >= th) "
                f"or 'gt' (h > th), got {fp['threshold_compare']!r}"
            )
        if t.weight_bits is not None and fp["weight_bits"] != t.weight_bits:
            raise ValueError(
                f"{where}: field 'fixed_point.weight_bits': {fp['weight_bits']} "
                f"differs from weights.bits {t.weight_bits}"
            )
        for k in ("current_overflow", "membrane_overflow", "threshold_compare"):
            if fp.get(k) is None:
                fp.pop(k, None)
    return t


# ---- overrides (generic target, --set) ---------------------------------------------------


def _attr_index() -> dict[str, tuple[str, str]]:
    """Map every accepted override name (attribute or 'section.key') to (attr, kind)."""
    idx: dict[str, tuple[str, str]] = {}
    for section, schema in _SCHEMA.items():
        for key, (attr, kind, _req) in schema.items():
            if attr is None or section == "fixed_point" or attr in ("name", "notes"):
                continue
            idx[attr] = (attr, kind)
            idx[f"{section}.{key}" if section else key] = (attr, kind)
    for key, (attr, kind, _req) in _SCHEMA["fixed_point"].items():
        if attr is not None:
            idx[f"fixed_point.{key}"] = (f"fixed_point.{key}", kind)
    idx["delay_per_synapse"] = ("delay_per_synapse", "bool")
    return idx


def _parse_value(text: Any, kind: str, name: str) -> Any:
    if not isinstance(text, str):
        return text
    s = text.strip()
    if kind.endswith("?") and s.lower() in ("none", "null", ""):
        return None
    if kind == "bool":
        if s.lower() in ("true", "1", "yes"):
            return True
        if s.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"--set {name}={text}: expected true or false")
    if kind.startswith("int"):
        try:
            return int(s)
        except ValueError:
            raise ValueError(f"--set {name}={text}: expected an integer") from None
    return s


def override_names() -> list[str]:
    """Every name ``--set NAME=VALUE`` accepts."""
    return sorted(_attr_index())


def apply_overrides(target: Target, overrides: Mapping[str, Any]) -> Target:
    """Return a copy of ``target`` with fields replaced (``--set`` on the command line).

    Setting ``delay_max_steps`` to a number on a target without native delays turns native
    per-synapse delays on; setting it to ``none`` turns them off. The result is validated.
    """
    idx = _attr_index()
    changes: dict[str, Any] = {}
    fixed = copy.deepcopy(target.fixed_point) if target.fixed_point is not None else None
    for name, raw in overrides.items():
        if name not in idx:
            raise ValueError(f"--set {name}: unknown field; known: {', '.join(override_names())}")
        attr, kind = idx[name]
        value = _parse_value(raw, kind, name)
        if attr.startswith("fixed_point."):
            if fixed is None:
                raise ValueError(
                    f"--set {name}: target {target.name!r} has float arithmetic "
                    f"(no [fixed_point] table); write a profile file instead"
                )
            fixed[attr.split(".", 1)[1]] = value
            continue
        if attr == "delay_per_synapse":
            attr, value = "delay_granularity", ("synapse" if value else "axon")
        changes[attr] = _check_type(
            value, kind if attr != "delay_granularity" else "str", f"--set {name}", name
        )
    if "delay_max_steps" in changes and "delay_native" not in changes:
        native = changes["delay_max_steps"] is not None
        changes["delay_native"] = native
        if native and target.delay_granularity == "none" and "delay_granularity" not in changes:
            changes["delay_granularity"] = "synapse"
        if not native:
            changes["delay_granularity"] = "none"
            changes["delay_native_max_steps"] = None
    if "weight_bits" in changes and "weight_format" not in changes:
        if changes["weight_bits"] is None:
            changes["weight_format"] = "float"
            changes["weight_exponent"] = False
        elif target.weight_format not in ("int", "mantissa_exponent", "axon_types"):
            changes["weight_format"] = "int"
    if fixed is not None and "weight_bits" in changes and changes["weight_bits"] is not None:
        fixed["weight_bits"] = changes["weight_bits"]
    new = replace(
        target,
        **changes,
        fixed_point=fixed,
        name=target.name,
        notes=target.notes + (f"overridden: {', '.join(f'{k}={v}' for k, v in overrides.items())}",),
    )
    return validate_target(new, f"{target.path or target.name} with --set")


def format_target(t: Target) -> str:
    """Human-readable profile (what ``delaykit targets show`` prints)."""

    def lim(v: int | None) -> str:
        return "-" if v is None else f"{v:,}"

    lines = [f"{t.name}: {t.description}"]
    if t.device:
        lines.append(f"  device: {t.device}")
    if t.delay_native:
        extra = ""
        if t.delay_native_max_steps is not None and t.delay_native_max_steps < (t.delay_max_steps or 0):
            extra = f" (native up to {t.delay_native_max_steps}, beyond via extension hardware)"
        lines.append(
            f"  delays: native, per {t.delay_granularity}, {t.delay_min_steps}..{t.delay_max_steps} "
            f"steps{extra}"
        )
    else:
        lines.append("  delays: none native (realize with 'delaykit targets realize')")
    if t.delay_hardware_range:
        lines.append(f"    hardware: {t.delay_hardware_range}")
    w = t.weight_format
    if t.weight_bits is not None:
        w += f", {t.weight_bits}-bit signed"
    if t.weight_exponent:
        rng = (
            ""
            if t.weight_exponent_min is None or t.weight_exponent_max is None
            else f" [{t.weight_exponent_min}, {t.weight_exponent_max}]"
        )
        w += f" + shared power-of-two exponent per layer{rng}"
    if t.weight_levels_per_neuron:
        w += f", at most {t.weight_levels_per_neuron} distinct weights per neuron"
    lines.append(f"  weights: {w}")
    lines.append(
        f"  neuron: {t.neuron_model}; {t.neuron_reset} reset"
        + (f"; threshold {t.threshold_bits} bits" if t.threshold_bits else "")
        + (f"; bias {t.bias_bits} bits" if t.bias_bits else "")
    )
    lines.append(f"  latency per layer: {t.layer_latency_steps} step(s)")
    lines.append(
        f"  per core: neurons {lim(t.neurons_per_core)}, synapses {lim(t.synapses_per_core)}, "
        f"fan-in {lim(t.fan_in_max)}, fan-out {lim(t.fan_out_max)}, axons {lim(t.axons_per_core)}, "
        f"memory {lim(t.memory_per_core_bytes)} B"
    )
    lines.append(
        f"  chip: cores {lim(t.cores)}, neurons {lim(t.neurons_max)}, synapses {lim(t.synapses_max)}, "
        f"inputs {lim(t.input_channels_max)}, outputs {lim(t.output_neurons_max)}"
    )
    if t.fixed_point:
        lines.append("  fixed point: " + ", ".join(f"{k}={v}" for k, v in t.fixed_point.items()))
    else:
        lines.append("  arithmetic: float (no bit-exact fixed-point model)")
    for note in t.notes:
        lines.append(f"  note: {note}")
    for section, notes in t.section_notes.items():
        for note in notes:
            lines.append(f"  note [{section}]: {note}")
    lines.append("  sources:")
    for section, srcs in t.sources.items():
        for s in srcs:
            lines.append(f"    [{section}] {s}")
    return "\n".join(lines)
