"""Contract version 3: synaptic current, reset modes, leak rules -- fields, validation, files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from delaykit.errors import FormatError
from delaykit.network import (
    LI,
    LIF,
    InputSpec,
    Layer,
    Network,
    decay_fraction,
    format_summary,
    format_version,
    load_network,
    uses_v3,
)
from delaykit.network import io as dkn_io


def _net(hidden: LIF, out: LI | None = None) -> Network:
    w = np.arange(12, dtype=np.float64).reshape(3, 4) / 10
    return Network(
        layers=(
            Layer("h", w, np.zeros((3, 4), int), hidden),
            Layer("o", np.ones((2, 3)), np.ones((2, 3), int), out or LI(tau=2.0)),
        ),
        dt=0.001,
        input=InputSpec(n_channels=4, window_steps=5, n_units=4, channel_group=1),
    )


def test_defaults_are_todays_neuron_and_version_1():
    n = LIF(tau=2.0)
    assert n.tau_syn is None and n.reset == "value" and n.leak == "euler" and not uses_v3(n)
    assert LIF(tau=2.0).to_dict() == {"kind": "lif", "tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0}
    assert LI(tau=2.0).to_dict() == {"kind": "li", "tau": 2.0, "v_reset": 0.0}
    assert format_version(_net(LIF(tau=2.0))) == 1


@pytest.mark.parametrize(
    "hidden, out",
    [
        (LIF(tau=2.0, tau_syn=5), None),
        (LIF(tau=2.0, reset="subtract"), None),
        (LIF(tau=2.0, reset="none"), None),
        (LIF(tau=2.0, leak="exact"), None),
        (LIF(tau=2.0), LI(tau=3.0, tau_syn=1.5)),
        (LIF(tau=2.0), LI(tau=3.0, leak="exact")),
    ],
)
def test_any_new_field_writes_version_3_and_round_trips(tmp_path, hidden, out):
    net = _net(hidden, out)
    assert format_version(net) == 3
    p = tmp_path / "v3.dkn"
    net.save(p)
    with h5py.File(p) as f:
        assert int(f.attrs["format_version"]) == 3
    back = load_network(p)
    for a, b in zip(net.layers, back.layers):
        assert a.neuron.to_dict() == b.neuron.to_dict()


def test_old_reader_refuses_version_3_with_the_supported_versions(tmp_path, monkeypatch):
    p = tmp_path / "v3.dkn"
    _net(LIF(tau=2.0, tau_syn=5.0, reset="subtract")).save(p)
    monkeypatch.setattr(dkn_io, "SUPPORTED_FORMAT_VERSIONS", (1, 2))  # what delaykit <= v2 accepts
    with pytest.raises(FormatError, match=r"format_version 3 is not supported .*\(supports 1, 2\)"):
        load_network(p)


def test_version_2_header_with_a_current_is_damaged(tmp_path):
    p = tmp_path / "v3.dkn"
    _net(LIF(tau=2.0, tau_syn=5.0)).save(p)
    with h5py.File(p, "a") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(FormatError, match="synaptic current.*need version 3; the file is damaged"):
        load_network(p)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(tau_syn=0.5), "neuron.tau_syn"),
        (dict(tau_syn=float("nan")), "neuron.tau_syn"),
        (dict(tau_syn="fast"), "neuron.tau_syn"),
        (dict(reset="soft"), "neuron.reset"),
        (dict(leak="exp"), "neuron.leak"),
    ],
)
def test_validation_names_layer_and_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"layer 'h': field '{field}'"):
        _net(LIF(tau=2.0, **kwargs))


def test_li_has_no_reset_mode():
    with pytest.raises(ValueError, match="field 'neuron'"):
        from delaykit.network import neuron_from_dict

        neuron_from_dict({"kind": "li", "tau": 2.0, "v_reset": 0.0, "reset": "subtract"}, "layer 'o'")


def test_decay_fraction():
    assert decay_fraction(4.0) == 0.25 and decay_fraction(4.0, "euler") == 0.25
    assert decay_fraction(4.0, "exact") == pytest.approx(1 - np.exp(-0.25), rel=1e-15)


def test_summary_names_v3_fields():
    text = format_summary(_net(LIF(tau=2.0, tau_syn=5.0, reset="subtract")))
    assert "neuron h: synaptic current tau_syn 5 steps, reset subtract" in text
    assert "neuron h" not in format_summary(_net(LIF(tau=2.0)))
