"""hardware_targets: bundled profiles, their sources, loader validation and --set overrides."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from delaykit.hardware_targets import apply_overrides, format_target, list_targets, load_target
from delaykit.hardware_targets.profile import PROFILE_DIR, target_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REQUIRED = {"loihi2", "spinnaker1", "spinnaker2", "seneca", "truenorth", "xylo", "dynapse2", "generic"}


def _raw(name: str) -> dict:
    return tomllib.loads((PROFILE_DIR / f"{name}.toml").read_text())


def test_every_required_target_is_bundled():
    assert REQUIRED <= set(list_targets())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_number_has_a_source(name):
    raw = _raw(name)
    t = load_target(name)
    assert t.name == name and t.description
    for section, table in raw.items():
        if not isinstance(table, dict):
            continue
        numbers = [k for k, v in table.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        srcs = table.get("sources", [])
        srcs = (
            [x for v in srcs.values() for x in ([v] if isinstance(v, str) else v)]
            if isinstance(srcs, dict)
            else srcs
        )
        # a section that states a number names where it comes from (non-trivial text)
        if numbers:
            assert srcs, f"{name}: [{section}] has {numbers} but no sources"
        assert all(len(s) > 8 for s in srcs), f"{name}: [{section}] has an empty-looking source"
    sections = {k.split(".")[0] for k in t.sources}
    assert sections >= {"delays", "weights", "neuron", "timing", "core", "chip"}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_profiles_state_the_issue_fields(name):
    t = load_target(name)
    # delay range and granularity, native or not, per synapse or axon
    assert t.delay_granularity in ("synapse", "axon", "none")
    assert t.delay_native == (t.delay_max_steps is not None)
    assert t.delay_per_synapse == (t.delay_native and t.delay_granularity == "synapse")
    assert t.weight_format and t.neuron_model and t.neuron_reset in ("hard", "subtractive")
    assert isinstance(t.layer_latency_steps, int)
    text = format_target(t)
    assert name in text and "sources:" in text


def test_known_limits_from_the_design_notes():
    lo = load_target("loihi2")
    assert (lo.delay_native, lo.delay_per_synapse, lo.delay_min_steps, lo.delay_max_steps) == (
        True,
        True,
        0,
        62,
    )
    assert lo.weight_bits == 8 and lo.weight_exponent and lo.layer_latency_steps == 1
    assert lo.fixed_point["decay"] == "loihi12" and lo.fixed_point["threshold_shift"] == 6
    sp = load_target("spinnaker1")
    assert sp.delay_native_max_steps == 31 and sp.delay_max_steps == 287 and sp.neurons_per_core == 256
    tn = load_target("truenorth")
    assert tn.delay_per_axon and tn.delay_max_steps == 14 and tn.weight_levels_per_neuron == 4
    xy = load_target("xylo")
    assert not xy.delay_native and xy.delay_max_steps is None and xy.input_channels_max == 16
    assert xy.fan_out_max == 64 and xy.fan_out_scope == "recurrent" and xy.fixed_point["decay"] == "shift"
    for name in ("seneca", "spinnaker2", "dynapse2"):
        assert not load_target(name).delay_native


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_simulator_accepts_every_profile(name):
    from delaykit.sim import Arithmetic

    t = load_target(name)
    a = Arithmetic.for_target(t)
    assert a.layer_latency_steps == t.layer_latency_steps
    assert a.is_fixed == (t.fixed_point is not None)


def test_load_by_path(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text((PROFILE_DIR / "xylo.toml").read_text().replace('name = "xylo"', 'name = "mine"'))
    t = load_target(str(p))
    assert t.name == "mine" and t.path == str(p)


def _edit(tmp_path: Path, src: str, old: str, new: str) -> Path:
    text = (PROFILE_DIR / f"{src}.toml").read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    "src,old,new,field",
    [
        ("loihi2", "max_steps = 62\n", "", "delays.max_steps"),
        ("loihi2", 'granularity = "synapse"', 'granularity = "dendrite"', "delays.granularity"),
        ("loihi2", "bits = 8\nexponent", 'bits = "eight"\nexponent', "weights.bits"),
        ("loihi2", "neurons = 8192", "neurons = 0", "core.neurons"),
        ("loihi2", "neurons = 8192", "neuronz = 8192", "core.neuronz"),
        ("loihi2", 'decay = "loihi12"', 'decay = "exp"', "fixed_point.decay"),
        ("loihi2", "membrane_bits = 24\n", "", "fixed_point.membrane_bits"),
        ("loihi2", 'threshold_compare = "gt"', 'threshold_compare = ">"', "fixed_point.threshold_compare"),
        ("xylo", 'format = "int"', 'format = "float"', "weights.bits"),
        ("xylo", "native = false", "native = true", "delays.granularity"),
        ("truenorth", 'reset = "hard"', 'reset = "soft"', "neuron.reset"),
        (
            "seneca",
            '[weights.sources]\nformat = "Tang',
            '[weights.sourcez]\nformat = "Tang',
            "weights.sourcez",
        ),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path, src, old, new, field):
    p = _edit(tmp_path, src, old, new)
    with pytest.raises(ValueError) as e:
        load_target(str(p))
    msg = str(e.value)
    assert str(p) in msg and f"'{field}'" in msg, msg


def test_missing_sources_and_missing_section(tmp_path):
    raw = _raw("xylo")
    del raw["chip"]["sources"]
    with pytest.raises(ValueError, match=r"'chip\.sources'.*sources"):
        target_from_dict(raw, where="x.toml")
    raw = _raw("xylo")
    del raw["timing"]
    with pytest.raises(ValueError, match=r"x\.toml: field 'timing'"):
        target_from_dict(raw, where="x.toml")
    p = tmp_path / "broken.toml"
    p.write_text("name = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_target(str(p))


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ValueError, match="known targets: .*loihi2"):
        load_target("loihi9")
    with pytest.raises(ValueError, match="no such target profile file"):
        load_target("/nonexistent/x.toml")


def test_generic_target_set_on_the_command_line():
    g = load_target("generic", {"delay_max_steps": "30", "weight_bits": "6"})
    assert g.delay_native and g.delay_per_synapse and g.delay_max_steps == 30
    assert g.weight_bits == 6 and g.weight_format == "int"
    assert any("overridden" in n for n in g.notes)
    # turning delays off and on again
    off = apply_overrides(g, {"delay_native": "false"})
    assert not off.delay_native and off.delay_granularity == "none" and off.delay_max_steps is None
    with pytest.raises(ValueError, match="delay_native=false"):  # never silently by 'none'
        apply_overrides(g, {"delay_max_steps": "none"})
    on = apply_overrides(load_target("xylo"), {"delays.max_steps": "7"})
    assert on.delay_native and on.delay_per_synapse and on.delay_max_steps == 7
    # a fixed-point field follows weight_bits
    x6 = apply_overrides(load_target("xylo"), {"weight_bits": "6"})
    assert x6.fixed_point["weight_bits"] == 6
    axon = apply_overrides(g, {"delay_per_synapse": "false"})
    assert axon.delay_per_axon


@pytest.mark.parametrize(
    "over,pattern",
    [
        ({"delay_max_steps": "ten"}, "expected an integer"),
        ({"nonsense": "1"}, "unknown field"),
        ({"weight_bits": "0"}, r"'weights\.bits'"),
        ({"delay_min_steps": "40", "delay_max_steps": "30"}, r"'delays\.max_steps'"),
        ({"fixed_point.decay": "shift"}, "float arithmetic"),
    ],
)
def test_override_errors(over, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_target("generic", over)


def test_profile_files_are_well_formed_toml_with_name_matching_file():
    for p in sorted(PROFILE_DIR.glob("*.toml")):
        raw = tomllib.loads(p.read_text())
        assert raw["name"] == p.stem
        assert re.fullmatch(r"[a-z0-9_]+", raw["name"])
