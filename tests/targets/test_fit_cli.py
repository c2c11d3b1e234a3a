"""``delaykit targets check`` lists unknown limits as not checked and exits 0 only when every
checked limit holds; mapping notes (neurons per core for long delays) are printed."""

from __future__ import annotations

import json

import numpy as np
from fit_nets import int_layer, net

from delaykit.cli.main import main
from delaykit.network import save_network


def test_check_lists_unknown_limits_as_not_checked(tmp_path, capsys):
    p = tmp_path / "m.dkn"
    save_network(net(int_layer("a", np.full((3, 2), 3))), p)  # weight 3 needs 3 signed bits
    out = tmp_path / "r.json"
    assert main(["targets", "check", str(p), "--target", "spinnaker2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "every checked limit holds" in text and "not checked: weights.bits" in text
    rep = json.loads(out.read_text())
    assert rep["fits"] and {x["field"] for x in rep["not_checked"]} == {"weights.bits", "core.neurons"}
    # a checked limit broken: exit 1, the unknown ones still listed
    assert main(["targets", "check", str(p), "--target", "spinnaker2", "--set", "cores=0"]) == 2
    assert main(["targets", "check", str(p), "--target", "spinnaker2", "--set", "weight_bits=2"]) == 1
    assert "not checked: core.neurons" in capsys.readouterr().out


def test_check_says_when_delays_need_fewer_neurons_per_core(tmp_path, capsys):
    d = np.zeros((256, 2), np.int64)
    d[0, 0] = 400  # 401 ticks: beyond 9 x 32 at 256 neurons per core, within 9 x 64 at 128
    p = tmp_path / "long.dkn"
    save_network(net(int_layer("a", np.ones((256, 2)), d)), p)
    assert main(["targets", "check", str(p), "--target", "spinnaker1"]) == 0
    assert "the mapping uses 128" in capsys.readouterr().out
    assert main(["targets", "map", str(p), "--target", "spinnaker1"]) == 0
    assert "at most 128 neurons per core" in capsys.readouterr().out


def test_bad_override_names_the_flag(tmp_path, capsys):
    p = tmp_path / "m.dkn"
    save_network(net(int_layer("a", np.ones((3, 2)))), p)
    assert main(["targets", "check", str(p), "--target", "generic", "--set", "nonsense=1"]) == 2
    assert "--set" in capsys.readouterr().err
