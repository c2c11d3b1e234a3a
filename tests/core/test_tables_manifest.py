"""The table manifest describes itself: which network, which columns are authoritative, units of
every column, the update rule, run lengths, binning, readout and the PyNN timing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from netgen import random_network

from delaykit.tables import NEURON_COLUMNS, SYNAPSE_COLUMNS, write_tables


@pytest.mark.parametrize("bits", [8, None])
def test_manifest_states_network_units_rules_and_run_lengths(bits, tmp_path):
    rng = np.random.default_rng(0)
    net = random_network(rng, (6, 5, 4, 3), max_delay=4, integer_bits=bits, extend_steps=3, window_steps=20)
    write_tables(net, tmp_path / "t", formats=("npz",))
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    nw = man["network"]
    if bits:
        assert nw["numbers"] == "integer" and nw["weight_dtype"] == "int32"
        assert nw["authoritative_columns"] == ["weight_int", "bias_int", "v_threshold_int", "v_reset_int"]
        assert "authoritative" in man["semantics"]["ties"] and "integer" in man["units"]["simulation_state"]
    else:
        assert nw["numbers"] == "float" and nw["authoritative_columns"][0] == "weight"
    for name, _ in SYNAPSE_COLUMNS + NEURON_COLUMNS:
        assert name in man["units"], name
    assert set(man["semantics"]["update"]) == {"lif", "li"}
    assert ">=" in man["semantics"]["update"]["lif"] and "tau_steps" in man["semantics"]["update"]["li"]
    assert [lay["run_steps"] for lay in man["layers"]] == [23, 26, 29]
    assert all(lay["update"] == man["semantics"]["update"][lay["neuron"]["kind"]] for lay in man["layers"])
    assert "extend_steps" in man["semantics"]["extend_steps"]
    assert "round(time_s x 1e6)" in man["input"]["binning"]
    rd = man["readout_definition"]
    assert man["readout"] == "softmax_sum" and "exp(y[t, c]" in rd["scores"]
    assert "weight_scale" in rd["output"] and "argmax" in rd["prediction"]
    assert "(delay_steps + 1)" in man["pynn"]["timing"] and man["dt_ms"] == 10.0
