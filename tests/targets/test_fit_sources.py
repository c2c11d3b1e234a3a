"""Every number in a bundled profile carries a source, or is "unknown" with a note; unknown
limits are reported as not checked, never as passing."""

from __future__ import annotations

import sys

import pytest
from fit_nets import int_layer, net

from delaykit.hardware_targets import (
    apply_overrides,
    check_report,
    format_fit_report,
    list_targets,
    load_target,
)
from delaykit.hardware_targets.profile import PROFILE_DIR
from delaykit.hardware_targets.validation import target_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _numbers_and_unknowns(table: dict) -> list[str]:
    return [
        k
        for k, v in table.items()
        if (isinstance(v, (int, float)) and not isinstance(v, bool)) or v == "unknown"
    ]


@pytest.mark.parametrize("name", list_targets())
def test_every_profile_number_has_its_own_source_or_is_unknown_with_a_note(name):
    text = (PROFILE_DIR / f"{name}.toml").read_text()
    assert "DESIGN.md" not in text  # sources point into the SDKs and papers, not outside the repo
    raw = tomllib.loads(text)
    for section, table in raw.items():
        if not isinstance(table, dict):
            continue
        keys = _numbers_and_unknowns(table)
        sources = table.get("sources")
        if not keys:
            continue
        assert isinstance(sources, dict), f"{name}: [{section}] states {keys} without per-field sources"
        for key in keys:
            src = sources.get(key)
            assert src, f"{name}: {section}.{key} = {table[key]!r} has no source"
            texts = [src] if isinstance(src, str) else src
            assert all(len(s) > 20 for s in texts), f"{name}: {section}.{key}: source too thin: {src!r}"
            if table[key] == "unknown":
                assert texts[0].startswith("unknown:"), (
                    f"{name}: {section}.{key}: the note says why it is unknown"
                )


def test_unknown_needs_a_note_and_a_set_value_is_known():
    raw = tomllib.loads((PROFILE_DIR / "seneca.toml").read_text())
    del raw["core"]["sources"]["synapses"]
    with pytest.raises(ValueError, match=r"'core\.synapses'.*needs a note"):
        target_from_dict(raw, where="x.toml")
    t = load_target("seneca")
    assert t.synapses_per_core is None and "core.synapses" in t.unknown
    set_ = apply_overrides(t, {"synapses_per_core": "1000"})
    assert set_.synapses_per_core == 1000 and "core.synapses" not in set_.unknown


def test_unknown_weight_width_is_not_checked_and_never_passes_silently():
    t = load_target("spinnaker2")
    assert t.weight_bits is None and "weights.bits" in t.unknown
    huge = net(int_layer("a", [[1 << 20, 3]]))
    report = check_report(huge, t)
    assert report.fits  # no checked limit is broken ...
    assert ("weights.bits" in dict(report.not_checked)) and "core.neurons" in dict(report.not_checked)
    text = format_fit_report(report, "m.dkn")
    assert "not checked: weights.bits" in text and "not checked (unknown)" in text
    # once the width is known it is checked
    six = check_report(huge, apply_overrides(t, {"weight_bits": "6"}))
    assert not six.fits and {v.limit for v in six.violations} == {"weight_bits"}


def test_seneca_per_core_parameter_budget_is_reported_unknown():
    report = check_report(net(int_layer("a", [[1, 2]])), load_target("seneca"))
    assert "core.synapses" in dict(report.not_checked)
    assert "parameters per core" in dict(report.not_checked)["core.synapses"]


def test_spinnaker2_has_152_cores():
    t = apply_overrides(load_target("spinnaker2"), {"neurons_per_core": "1"})
    assert t.cores == 152
    at = net(int_layer("a", [[1]] * 152))
    assert "cores" not in {v.limit for v in check_report(at, t).violations}
    beyond = net(int_layer("a", [[1]] * 153))
    v = [v for v in check_report(beyond, t).violations if v.limit == "cores"]
    assert v and (v[0].worst, v[0].allowed) == (153, 152)
