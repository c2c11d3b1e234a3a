"""Contract v3 in the event tables and manifest: version 2 tables only for v3 neurons, exact
round trip, the v1/v2-only consumers (PyNN, Brian2) refuse them in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from netgen import random_frames, random_network, with_v3_neurons

from delaykit.convert.pynn_export import write_pynn
from delaykit.errors import DelaykitError
from delaykit.sim import simulate
from delaykit.sim.brian2_check import cross_check
from delaykit.tables import read_tables, write_tables


@pytest.mark.parametrize("fmt", ["csv", "npz"])
def test_v3_tables_round_trip(tmp_path, fmt):
    rng = np.random.default_rng(4)
    net = with_v3_neurons(rng, random_network(rng, (8, 6, 3), integer_bits=8), tau_syns=(5.0,))
    write_tables(net, tmp_path / "t", formats=(fmt,))
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert man["format_version"] == 2 and list(man)[:2] == ["format", "format_version"]
    assert man["layers"][0]["neuron"]["tau_syn"] == 5.0 and "tau_syn_steps 5.0" in man["layers"][0]["update"]
    back = read_tables(tmp_path / "t")
    for a, b in zip(net.layers, back.layers, strict=True):
        assert a.neuron.to_dict() == b.neuron.to_dict()
    frames = random_frames(rng, 15, 8)
    np.testing.assert_array_equal(simulate(net, frames).output, simulate(back, frames).output)
    if fmt == "npz":
        with np.load(tmp_path / "t" / "neurons.npz") as z:
            assert z["tau_syn_steps"].tolist() == [5.0] * 9 and set(z["leak"].tolist()) <= {"euler", "exact"}


def test_v1_tables_are_unchanged(tmp_path):
    rng = np.random.default_rng(4)
    write_tables(random_network(rng, (8, 6, 3)), tmp_path / "t", formats=("npz",))
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert man["format_version"] == 1 and "v3" not in man["semantics"]["update"]
    with np.load(tmp_path / "t" / "neurons.npz") as z:
        assert "tau_syn_steps" not in z.files


def test_v1_only_consumers_refuse_v3(tmp_path):
    rng = np.random.default_rng(5)
    net = with_v3_neurons(rng, random_network(rng, (4, 3, 2)), tau_syns=(2.0,))
    with pytest.raises(DelaykitError, match=r"layer 'fc0': field 'neuron.tau_syn' is 2.0: the PyNN export"):
        write_pynn(net, tmp_path / "p")
    with pytest.raises(DelaykitError, match="the Brian2 cross-check"):
        cross_check(net, [np.zeros((3, 4))], brian2_python="/bin/true")


def test_target_check_compares_the_reset_mode():
    from delaykit.hardware_targets import load_target
    from delaykit.hardware_targets.check import check

    rng = np.random.default_rng(0)
    sub = with_v3_neurons(rng, random_network(rng, (8, 6, 3), integer_bits=8), resets=("subtract",))
    plain = random_network(rng, (8, 6, 3), integer_bits=8)

    def resets(net, target):
        return [v for v in check(net, load_target(target)) if v.limit == "neuron_reset"]

    assert not resets(sub, "xylo") and resets(plain, "xylo")  # Xylo subtracts
    assert "'subtract' reset" in resets(sub, "loihi2")[0].detail and not resets(plain, "loihi2")
