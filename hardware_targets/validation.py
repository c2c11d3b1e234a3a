"""Reading and validating a parsed target profile into a :class:`~delaykit.hardware_targets.schema.Target`.

Every error is a ``ValueError`` that names the file (``where``) and the field, e.g.
``loihi2.toml: field 'core.neurons': must be >= 1, got 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from delaykit.hardware_targets.schema import (
    COUNT_LIMITS,
    DELAY_GRANULARITIES,
    FAN_OUT_SCOPES,
    FIXED_POINT_DECAYS,
    FIXED_POINT_KEYS,
    FIXED_POINT_OVERFLOWS,
    INTEGER_WEIGHT_FORMATS,
    REQUIRED_SECTIONS,
    RESETS,
    SCHEMA,
    UNKNOWN,
    WEIGHT_FORMATS,
    WEIGHT_SIGNS,
    Target,
)

# ---- reading a parsed profile -------------------------------------------------------------


def check_type(value: Any, kind: str, where: str, fname: str) -> Any:
    """``value`` checked against a schema type; "unknown" passes for "int?" (returned as is)."""

    def bad(expected: str) -> ValueError:
        return ValueError(f"{where}: field '{fname}': expected {expected}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("int", "int?"):
        if kind == "int?" and (value is None or value == UNKNOWN):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer" + (' or "unknown" (omit the key for no limit)' if kind == "int?" else ""))
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
    raise ValueError(f"{where}: field '{fname}': schema type {kind!r} unknown")  # pragma: no cover


def _read_sources(value: Any, section: str, schema: Mapping[str, Any], where: str) -> dict[str, tuple]:
    """A section's sources: a list (whole section) or a table keyed by the section's fields."""
    fname = f"{section}.sources"
    if not isinstance(value, Mapping):
        return {section: check_type(value, "strlist", where, fname)}
    out: dict[str, tuple[str, ...]] = {}
    for key, text in value.items():
        if key not in schema or key in ("sources", "notes"):
            raise ValueError(f"{where}: field '{fname}.{key}': not a field of [{section}]")
        out[f"{section}.{key}"] = check_type(text, "strlist", where, f"{fname}.{key}")
    if not out:
        raise ValueError(f"{where}: field '{fname}': empty")
    return out


def _read_section(data: Mapping[str, Any], section: str, where: str) -> tuple[dict, dict, dict, tuple]:
    """(values by key, sources, unknown notes, notes) of one section."""
    schema = SCHEMA[section]
    table = data[section]
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: field '{section}': must be a table [{section}]")
    for key in table:
        if key not in schema:
            raise ValueError(f"{where}: field '{section}.{key}': unknown field; known: {sorted(schema)}")
    values: dict[str, Any] = {}
    for key, (_attr, kind, required) in schema.items():
        fname = f"{section}.{key}"
        if key in table:
            values[key] = check_type(table[key], kind, where, fname) if kind != "sources" else table[key]
        elif required:
            hint = "; every section names its sources" if key == "sources" else ""
            raise ValueError(f"{where}: field '{fname}': missing (required{hint})")
    sources = _read_sources(values.pop("sources"), section, schema, where)
    notes = values.pop("notes", ())
    unknown: dict[str, str] = {}
    for key, v in list(values.items()):
        if v != UNKNOWN:
            continue
        fname = f"{section}.{key}"
        note = sources.get(fname)
        if not note:
            raise ValueError(
                f"{where}: field '{fname}': \"unknown\" needs a note saying why: "
                f'add {key} = "..." to [{section}.sources]'
            )
        unknown[fname] = " ".join(note)
        values[key] = None
    return values, sources, unknown, notes


def target_from_dict(data: Mapping[str, Any], where: str = "profile") -> Target:
    """Validate a parsed profile (the TOML's dict) and build a :class:`Target`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a profile must be a TOML table")
    known = sorted(SCHEMA[""]) + sorted(k for k in SCHEMA if k)
    for key in data:
        if key not in SCHEMA[""] and key not in SCHEMA:
            raise ValueError(f"{where}: field '{key}': unknown field; known: {known}")
    kwargs: dict[str, Any] = {}
    for key, (attr, kind, required) in SCHEMA[""].items():
        if key in data:
            kwargs[str(attr)] = check_type(data[key], kind, where, key)
        elif required:
            raise ValueError(f"{where}: field '{key}': missing (required)")
    for section in REQUIRED_SECTIONS:
        if section not in data:
            raise ValueError(f"{where}: field '{section}': missing section [{section}] (required)")
    sources: dict[str, tuple[str, ...]] = {}
    section_notes: dict[str, tuple[str, ...]] = {}
    unknown: dict[str, str] = {}
    fixed: dict[str, Any] | None = None
    for section in (s for s in SCHEMA if s and s in data):
        values, srcs, unk, notes = _read_section(data, section, where)
        sources.update(srcs)
        unknown.update(unk)
        if notes:
            section_notes[section] = notes
        if section == "fixed_point":
            fixed = dict(values)
            continue
        for key, v in values.items():
            kwargs[str(SCHEMA[section][key][0])] = v
    kwargs.update(
        sources=sources, section_notes=section_notes, unknown=unknown, fixed_point=fixed, path=where
    )
    return validate_target(Target(**kwargs), where)


# ---- cross-field validation -------------------------------------------------------------


def _positive(where: str, fname: str, v: int | None, minimum: int = 1) -> None:
    if v is not None and v < minimum:
        raise ValueError(f"{where}: field '{fname}': must be >= {minimum}, got {v}")


def _one_of(where: str, fname: str, v: Any, allowed: tuple[str, ...]) -> None:
    if v not in allowed:
        raise ValueError(f"{where}: field '{fname}': must be one of {allowed}, got {v!r}")


def _validate_native_delays(t: Target, where: str) -> None:
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


def _validate_ring_buffer(t: Target, where: str) -> None:
    """The ring-buffer model and the profile's two delay numbers must agree at core.neurons."""
    for key, v in (
        ("synapse_type_bits", t.delay_synapse_type_bits),
        ("extension_slots", t.delay_extension_slots),
    ):
        _positive(where, f"delays.{key}", v, 0)
    if t.delay_ring_buffer_bits is None:
        return
    _positive(where, "delays.ring_buffer_bits", t.delay_ring_buffer_bits)
    if not t.delay_native or t.neurons_per_core is None:
        raise ValueError(
            f"{where}: field 'delays.ring_buffer_bits': needs native delays and core.neurons "
            f"(the native range follows the neurons per core)"
        )
    native, total = t.delay_limits_at(t.neurons_per_core)
    for key, have, want in (
        ("native_max_steps", t.delay_native_max_steps, native),
        ("max_steps", t.delay_max_steps, total),
    ):
        if have != want:
            raise ValueError(
                f"{where}: field 'delays.{key}': {have} disagrees with the ring-buffer model "
                f"at core.neurons = {t.neurons_per_core}: {want} (contract steps)"
            )


def _validate_delays(t: Target, where: str) -> None:
    _one_of(where, "delays.granularity", t.delay_granularity, DELAY_GRANULARITIES)
    if t.delay_native:
        _validate_native_delays(t, where)
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
    _validate_ring_buffer(t, where)


def _validate_weights(t: Target, where: str) -> None:
    _one_of(where, "weights.format", t.weight_format, WEIGHT_FORMATS)
    _one_of(where, "weights.sign", t.weight_sign, WEIGHT_SIGNS)
    integer = t.weight_format in INTEGER_WEIGHT_FORMATS
    if integer and t.weight_bits is None and "weights.bits" not in t.unknown:
        raise ValueError(
            f"{where}: field 'weights.bits': required for weights.format {t.weight_format!r} "
            f'(a number, or "unknown" with a note)'
        )
    if not integer and t.weight_bits is not None:
        raise ValueError(
            f"{where}: field 'weights.bits': must be omitted for weights.format "
            f"{t.weight_format!r} (not integer weights)"
        )
    _positive(where, "weights.bits", t.weight_bits, 2)
    if t.weight_bits is not None and t.weight_bits > 32:
        raise ValueError(f"{where}: field 'weights.bits': at most 32, got {t.weight_bits}")
    if t.weight_exponent != (t.weight_format == "mantissa_exponent"):
        raise ValueError(
            f"{where}: field 'weights.exponent': must be true exactly when weights.format is 'mantissa_exponent'"
        )
    lo, hi = t.weight_exponent_min, t.weight_exponent_max
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{where}: field 'weights.exponent_min': greater than exponent_max")
    _positive(where, "weights.levels_per_neuron", t.weight_levels_per_neuron)
    _positive(where, "weights.levels_per_core", t.weight_levels_per_core)


def _validate_neuron_and_sizes(t: Target, where: str) -> None:
    _one_of(where, "neuron.reset", t.neuron_reset, RESETS)
    _positive(where, "neuron.threshold_bits", t.threshold_bits, 2)
    _positive(where, "neuron.bias_bits", t.bias_bits, 2)
    _positive(where, "timing.layer_latency_steps", t.layer_latency_steps, 0)
    _one_of(where, "core.fan_out_scope", t.fan_out_scope, FAN_OUT_SCOPES)
    for fname, attr in COUNT_LIMITS.items():
        _positive(where, fname, getattr(t, attr), 0 if fname == "core.aliases_per_neuron" else 1)


def _validate_fixed_point(t: Target, where: str) -> None:
    fp = t.fixed_point
    if fp is None:
        return
    for k in FIXED_POINT_KEYS:
        if k not in fp:
            raise ValueError(f"{where}: field 'fixed_point.{k}': missing (required)")
    for k in ("weight_bits", "membrane_bits", "current_bits"):
        if not 2 <= fp[k] <= 63:
            raise ValueError(f"{where}: field 'fixed_point.{k}': must be in 2..63, got {fp[k]}")
    for k in ("threshold_shift", "weight_shift"):
        if not 0 <= fp[k] <= 31:
            raise ValueError(f"{where}: field 'fixed_point.{k}': must be in 0..31, got {fp[k]}")
    _one_of(where, "fixed_point.decay", fp["decay"], FIXED_POINT_DECAYS)
    for k in ("overflow", "current_overflow", "membrane_overflow"):
        if fp.get(k) is not None:
            _one_of(where, f"fixed_point.{k}", fp[k], FIXED_POINT_OVERFLOWS)
    if fp.get("threshold_compare") is not None and fp["threshold_compare"] not in ("ge", "gt"):
        raise ValueError(
            f"{where}: field 'fixed_point.threshold_compare': must be 'ge' (h >= th) "
            f"or 'gt' (h > th), got {fp['threshold_compare']!r}"
        )
    if t.weight_bits is not None and fp["weight_bits"] != t.weight_bits:
        raise ValueError(
            f"{where}: field 'fixed_point.weight_bits': {fp['weight_bits']} differs from weights.bits {t.weight_bits}"
        )
    for k in ("current_overflow", "membrane_overflow", "threshold_compare"):
        if fp.get(k) is None:
            fp.pop(k, None)


def validate_target(t: Target, where: str | None = None) -> Target:
    """Cross-field checks; returns ``t`` unchanged or raises ValueError naming the field."""
    where = where or t.path or t.name
    _validate_delays(t, where)
    _validate_weights(t, where)
    _validate_neuron_and_sizes(t, where)
    _validate_fixed_point(t, where)
    return t
