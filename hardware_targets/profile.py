"""Hardware target profiles: finding, loading, overriding and printing ``profiles/<name>.toml``.

The schema and the :class:`Target` dataclass live in :mod:`delaykit.hardware_targets.schema`,
the reading and validation rules in :mod:`delaykit.hardware_targets.validation`; the names
are re-exported here.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from delaykit.hardware_targets.schema import (
    DELAY_GRANULARITIES,
    FIXED_POINT_DECAYS,
    FIXED_POINT_OVERFLOWS,
    INTEGER_WEIGHT_FORMATS,
    RESETS,
    SCHEMA,
    UNKNOWN,
    WEIGHT_FORMATS,
    Target,
)
from delaykit.hardware_targets.validation import check_type, target_from_dict, validate_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROFILE_DIR = Path(__file__).parent / "profiles"

__all__ = [
    "DELAY_GRANULARITIES",
    "FIXED_POINT_DECAYS",
    "FIXED_POINT_OVERFLOWS",
    "PROFILE_DIR",
    "RESETS",
    "WEIGHT_FORMATS",
    "Target",
    "apply_overrides",
    "format_target",
    "list_targets",
    "load_target",
    "override_names",
    "target_from_dict",
    "validate_target",
]


def list_targets() -> list[str]:
    """Names of the bundled profiles (``hardware_targets/profiles/*.toml``), sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _profile_path(name_or_path: str | Path) -> Path:
    s = str(name_or_path)
    if s.endswith(".toml") or "/" in s or "\\" in s:
        path = Path(s)
        if not path.is_file():
            raise ValueError(
                f"{path}: no such target profile file; give a bundled name "
                f"({', '.join(list_targets())}) or the path of a .toml profile"
            )
        return path
    path = PROFILE_DIR / f"{s}.toml"
    if not path.is_file():
        raise ValueError(
            f"unknown target {s!r}; known targets: {', '.join(list_targets())} (or give the path of a .toml profile)"
        )
    return path


def load_target(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> Target:
    """Load a bundled profile by name (``"loihi2"``) or a profile file by path (``.toml``).

    ``overrides`` maps field names (``"delay_max_steps"``, ``"weight_bits"``, or
    ``"section.key"`` as in the file) to values (strings are parsed); it is how the generic
    target's limits are set from the command line. Raises ValueError naming file and field.
    """
    path = _profile_path(name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    target = target_from_dict(data, where=str(path))
    if overrides:
        target = apply_overrides(target, overrides)
    return target


# ---- overrides (generic target, --set) ---------------------------------------------------


def _attr_index() -> dict[str, tuple[str, str]]:
    """Map every accepted override name (attribute or 'section.key') to (attr, kind)."""
    idx: dict[str, tuple[str, str]] = {}
    for section, schema in SCHEMA.items():
        for key, (attr, kind, _req) in schema.items():
            if attr is None or section == "fixed_point" or attr in ("name", "notes"):
                continue
            idx[attr] = (attr, kind)
            idx[f"{section}.{key}" if section else key] = (attr, kind)
    for key, (attr, kind, _req) in SCHEMA["fixed_point"].items():
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
        raise ValueError(f"{name}={text}: expected true or false")
    if kind.startswith("int"):
        try:
            return int(s)
        except ValueError:
            raise ValueError(f"{name}={text}: expected an integer") from None
    return s


def override_names() -> list[str]:
    """Every field name :func:`apply_overrides` accepts."""
    return sorted(_attr_index())


def _implied_changes(target: Target, changes: dict[str, Any]) -> None:
    """Fields that follow from the ones set: delays on/off, weight format, ring-buffer range."""
    if "delay_max_steps" in changes and "delay_native" not in changes:
        native = changes["delay_max_steps"] is not None
        if not native and target.delay_native:
            raise ValueError(
                "delay_max_steps=none would turn off the native delays of target "
                f"{target.name!r}; to model it without delays say so: --set delay_native=false"
            )
        changes["delay_native"] = native
        if native and target.delay_granularity == "none" and "delay_granularity" not in changes:
            changes["delay_granularity"] = "synapse"
        if not native:
            changes.update(delay_granularity="none", delay_native_max_steps=None, delay_ring_buffer_bits=None)
    if changes.get("delay_native") is False:  # explicitly off: no native delay of any kind
        for key, off in (
            ("delay_granularity", "none"),
            ("delay_max_steps", None),
            ("delay_native_max_steps", None),
        ):
            changes.setdefault(key, off)
        changes.setdefault("delay_ring_buffer_bits", None)
    if "weight_bits" in changes and "weight_format" not in changes:
        if changes["weight_bits"] is None:
            changes.update(weight_format="float", weight_exponent=False)
        elif target.weight_format not in INTEGER_WEIGHT_FORMATS:
            changes["weight_format"] = "int"
    npc = changes.get("neurons_per_core")
    fixed_delays = {"delay_max_steps", "delay_native_max_steps"} & changes.keys()
    if target.delay_depends_on_core_size and fixed_delays and npc is None:
        changes.setdefault("delay_ring_buffer_bits", None)  # the numbers set replace the model
    elif target.delay_depends_on_core_size and npc is not None:
        native, total = replace(target, neurons_per_core=npc).delay_limits_at(npc)
        changes.setdefault("delay_native_max_steps", native)
        changes.setdefault("delay_max_steps", total)


def apply_overrides(target: Target, overrides: Mapping[str, Any]) -> Target:
    """Return a copy of ``target`` with fields replaced (``--set`` on the command line).

    Setting ``delay_max_steps`` to a number on a target without native delays turns native
    per-synapse delays on; setting it to ``none`` on a target with native delays is refused
    (``delay_native=false`` turns them off explicitly). On a target whose native
    delay range follows the neurons per core (SpiNNaker), setting ``neurons_per_core``
    recomputes both delay limits, and setting a delay limit instead replaces that model. A limit set here is no longer unknown. The result is
    validated; errors name the field.
    """
    idx = _attr_index()
    changes: dict[str, Any] = {}
    fixed = copy.deepcopy(target.fixed_point) if target.fixed_point is not None else None
    for name, raw in overrides.items():
        if name not in idx:
            raise ValueError(f"{name}: unknown field; known: {', '.join(override_names())}")
        attr, kind = idx[name]
        value = _parse_value(raw, kind, name)
        if attr.startswith("fixed_point."):
            if fixed is None:
                raise ValueError(
                    f"{name}: target {target.name!r} has float arithmetic "
                    f"(no [fixed_point] table); write a profile file instead"
                )
            fixed[attr.split(".", 1)[1]] = value
            continue
        if attr == "delay_per_synapse":
            attr, value = "delay_granularity", ("synapse" if value else "axon")
        if value == UNKNOWN:
            raise ValueError(f'{name}: set a value; "unknown" belongs in a profile file, with a note')
        changes[attr] = check_type(value, kind if attr != "delay_granularity" else "str", "override", name)
    _implied_changes(target, changes)
    if fixed is not None and changes.get("weight_bits") is not None:
        fixed["weight_bits"] = changes["weight_bits"]
    set_fields = {f"{s}.{k}" for s, sch in SCHEMA.items() for k, v in sch.items() if v[0] in changes}
    new = replace(
        target,
        **changes,
        fixed_point=fixed,
        name=target.name,
        unknown={k: v for k, v in target.unknown.items() if k not in set_fields},
        notes=target.notes + (f"overridden: {', '.join(f'{k}={v}' for k, v in overrides.items())}",),
    )
    return validate_target(new, f"{target.path or target.name} with overrides")


# ---- printing ----------------------------------------------------------------------------


def _lim(t: Target, v: int | None, fname: str) -> str:
    if fname in t.unknown:
        return "unknown"
    return "-" if v is None else f"{v:,}"


def _delay_lines(t: Target) -> list[str]:
    if not t.delay_native:
        lines = ["  delays: none native (realize with 'delaykit targets realize')"]
    else:
        extra = ""
        if t.delay_native_max_steps is not None and t.delay_native_max_steps < (t.delay_max_steps or 0):
            extra = f" (native up to {t.delay_native_max_steps}, beyond via extension hardware)"
        if t.delay_depends_on_core_size:
            extra += f" at {t.neurons_per_core} neurons per core; fewer neurons per core allow longer delays"
        lines = [
            f"  delays: native, per {t.delay_granularity}, {t.delay_min_steps}..{t.delay_max_steps} steps{extra}"
        ]
    if t.delay_hardware_range:
        lines.append(f"    hardware: {t.delay_hardware_range}")
    return lines


def _weight_line(t: Target) -> str:
    w = t.weight_format
    if t.weight_bits is not None:
        w += f", {t.weight_bits}-bit " + (
            "signed" if t.weight_sign == "twos_complement" else "magnitude, sign from the synapse type"
        )
    elif "weights.bits" in t.unknown:
        w += ", width unknown (not checked)"
    if t.weight_exponent:
        lo, hi = t.weight_exponent_min, t.weight_exponent_max
        w += " + shared power-of-two exponent per layer" + (
            "" if lo is None or hi is None else f" [{lo}, {hi}]"
        )
    if t.weight_levels_per_neuron:
        w += f", at most {t.weight_levels_per_neuron} distinct weights per neuron"
    if t.weight_levels_per_core:
        w += f", at most {t.weight_levels_per_core} per core"
    return f"  weights: {w}"


def format_target(t: Target) -> str:
    """Human-readable profile (what ``delaykit targets show`` prints)."""
    lines = [f"{t.name}: {t.description}"]
    if t.device:
        lines.append(f"  device: {t.device}")
    lines += _delay_lines(t)
    lines.append(_weight_line(t))
    th = (
        f"; threshold {t.threshold_bits} bits{' signed' if t.threshold_signed else ''}"
        if t.threshold_bits
        else ""
    )
    lines.append(
        f"  neuron: {t.neuron_model}; {t.neuron_reset} reset{th}"
        + (f"; bias {t.bias_bits} bits" if t.bias_bits else "")
    )
    lines.append(f"  latency per layer: {t.layer_latency_steps} step(s)")
    lines.append(
        f"  per core: neurons {_lim(t, t.neurons_per_core, 'core.neurons')}, synapses "
        f"{_lim(t, t.synapses_per_core, 'core.synapses')}, fan-in {_lim(t, t.fan_in_max, 'core.fan_in')}, "
        f"fan-out {_lim(t, t.fan_out_max, 'core.fan_out')}"
        + (" (recurrent core only)" if t.fan_out_scope == "recurrent" else "")
        + f", axons {_lim(t, t.axons_per_core, 'core.axons')}, memory "
        f"{_lim(t, t.memory_per_core_bytes, 'core.memory_bytes')}"
        + (" B" if t.memory_per_core_bytes is not None else "")
    )
    lines.append(
        f"  chip: cores {_lim(t, t.cores, 'chip.cores')}, neurons {_lim(t, t.neurons_max, 'chip.neurons')}, "
        f"synapses {_lim(t, t.synapses_max, 'chip.synapses')}, inputs "
        f"{_lim(t, t.input_channels_max, 'chip.input_channels')}, outputs "
        f"{_lim(t, t.output_neurons_max, 'chip.output_neurons')}"
    )
    if t.fixed_point:
        lines.append("  fixed point: " + ", ".join(f"{k}={v}" for k, v in t.fixed_point.items()))
    else:
        lines.append("  arithmetic: float (no bit-exact fixed-point model)")
    lines += [f"  unknown (not checked): {k}: {v}" for k, v in t.unknown.items()]
    lines += [f"  note: {note}" for note in t.notes]
    lines += [f"  note [{s}]: {note}" for s, notes in t.section_notes.items() for note in notes]
    lines.append("  sources:")
    lines += [f"    [{key}] {s}" for key, srcs in t.sources.items() for s in srcs]
    return "\n".join(lines)
