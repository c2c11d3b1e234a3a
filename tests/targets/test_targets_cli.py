"""``delaykit targets``: list, show, check (exit codes), map (JSON), realize, shd-estimate."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from netgen import random_network  # noqa: E402

from delaykit.cli.main import main  # noqa: E402
from delaykit.network import InputSpec, save_network  # noqa: E402


@pytest.fixture
def small(tmp_path, rng):
    p = tmp_path / "small.dkn"
    save_network(
        random_network(rng, (12, 10, 8, 5), max_delay=6, integer_bits=8, density=0.7, threshold=0.5), p
    )
    return p


def test_list_and_show(capsys):
    assert main(["targets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("loihi2", "spinnaker1", "spinnaker2", "seneca", "truenorth", "xylo", "dynapse2", "generic"):
        assert f"\n{name} " in out
    assert main(["targets", "show", "loihi2"]) == 0
    out = capsys.readouterr().out
    assert "0..62 steps" in out and "sources:" in out and "lava" in out
    assert main(["targets", "show", "generic", "--set", "delay_max_steps=30", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["delay_max_steps"] == 30 and d["delay_per_synapse"] is True


def test_check_exit_codes_and_json(small, tmp_path, capsys):
    assert main(["targets", "check", str(small), "--target", "loihi2"]) == 0
    assert "fits" in capsys.readouterr().out
    out_json = tmp_path / "report.json"
    rc = main(
        [
            "targets",
            "check",
            str(small),
            "--target",
            "generic",
            "--set",
            "delay_max_steps=3",
            "--set",
            "weight_bits=6",
            "--json",
            str(out_json),
        ]
    )
    assert rc == 1
    out = capsys.readouterr().out
    assert "does NOT fit" in out and "delay_max" in out and "weight_bits" in out
    rep = json.loads(out_json.read_text())
    assert rep["fits"] is False and {v["limit"] for v in rep["violations"]} == {"delay_max", "weight_bits"}
    assert main(["targets", "check", str(small), "--target", "xylo"]) == 1
    assert "delay_native" in capsys.readouterr().out


def test_check_a_nir_graph(small, tmp_path, capsys):
    nir_export = pytest.importorskip("delaykit.nir.export_nir")
    from delaykit.network import load_network

    export = getattr(nir_export, "export_nir", None) or getattr(nir_export, "write_nir", None)
    if export is None:
        pytest.skip("delaykit.nir.export_nir has no export_nir/write_nir")
    p = tmp_path / "small.nir"
    export(load_network(small), p)
    assert main(["targets", "check", str(p), "--target", "generic", "--set", "delay_max_steps=3"]) == 1
    assert "delay_max" in capsys.readouterr().out


def test_bad_input_exits_2(small, tmp_path, capsys):
    assert main(["targets", "check", str(small), "--target", "nope"]) == 2
    assert "known targets" in capsys.readouterr().err
    assert main(["targets", "check", str(small), "--target", "generic", "--set", "delay_max_steps"]) == 2
    assert main(["targets", "check", str(tmp_path / "missing.dkn"), "--target", "loihi2"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ndescription = "x"\n')
    assert main(["targets", "check", str(small), "--target", str(bad)]) == 2
    assert "bad.toml" in capsys.readouterr().err


def test_map_writes_json(small, tmp_path, capsys):
    out = tmp_path / "map.json"
    assert main(["targets", "map", str(small), "--target", "spinnaker1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mapping:" in text and "fc0" in text
    d = json.loads(out.read_text())
    assert d["target"] == "spinnaker1" and d["cores"] == len(d["assignments"]) >= 1
    covered = sum(b - a for core in d["assignments"] for p, a, b in core["segments"] if ":" not in p)
    assert covered == d["neurons"] == 23


@pytest.mark.parametrize("method", ["relay", "queue"])
def test_realize_writes_and_verifies(small, tmp_path, capsys, method):
    out = tmp_path / "r.dkn"
    js = tmp_path / "r.json"
    rc = main(
        [
            "targets",
            "realize",
            str(small),
            "--target",
            "xylo",
            "--method",
            method,
            "-o",
            str(out),
            "--json",
            str(js),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "verification on 4 samples" in text and "identical" in text and "fixed:xylo" in text
    d = json.loads(js.read_text())
    assert d["verification"]["identical"] and d["plan"]["method"] == method
    assert out.exists() == (method == "relay")
    if method == "relay":
        from delaykit.network import load_network

        expanded = load_network(out)
        assert sum(lay.n_relay for lay in expanded.layers) == d["plan"]["extra_neurons"] > 0
        assert all(not lay.delay.any() for lay in expanded.layers)
        assert d["expanded_check"]["delay_violations"] == 0 and "0 delay violations" in text
        # the written network is a deployed network: 'targets check' reads it, with no delay limit
        assert main(["targets", "check", str(out), "--target", "xylo"]) in (0, 1)
        assert "delay_native" not in capsys.readouterr().out


def test_realize_event_engine_and_a_float_network(tmp_path, rng, capsys):
    p = tmp_path / "f.dkn"
    save_network(random_network(rng, (10, 12, 6), max_delay=5, threshold=0.5), p)
    rc = main(["targets", "realize", str(p), "--target", "seneca", "--method", "relay", "--engine", "event"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "engine='event'" in text and "(float64)" in text and (tmp_path / "f_seneca_relay.dkn").exists()


def test_realize_on_shd_schema_data(tmp_path, rng, capsys):
    from delaykit.data.synth import write_delay_task_pair

    train, test = write_delay_task_pair(tmp_path / "data", 4, 4, seed=0)
    net = random_network(rng, (140, 16, 10), max_delay=8, integer_bits=8, threshold=0.3, window_steps=30)
    net = replace(net, input=InputSpec(n_channels=140, window_steps=30, n_units=700, channel_group=5))
    p = tmp_path / "m.dkn"
    save_network(net, p)
    rc = main(
        [
            "targets",
            "realize",
            str(p),
            "--target",
            "seneca",
            "--method",
            "relay",
            "--data",
            str(test),
            "--verify",
            "3",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "verification on 3 samples" in text and (tmp_path / "m_seneca_relay.dkn").exists()
    # end to end: 'delaykit sim' on the expanded .dkn predicts every test sample as the original
    runs = {}
    for name in ("m", "m_seneca_relay"):
        js = tmp_path / f"{name}.json"
        assert main(
            [
                "sim",
                str(tmp_path / f"{name}.dkn"),
                "--data",
                str(test),
                "--target",
                "seneca",
                "--json",
                str(js),
                "--no-progress",
            ]
        ) in (0, 1)
        runs[name] = json.loads(js.read_text())
    capsys.readouterr()
    a, b = runs["m"], runs["m_seneca_relay"]
    assert a["samples"]["predictions"] == b["samples"]["predictions"] and a["accuracy"] == b["accuracy"]
    assert a["samples"]["spikes_per_layer"] == b["samples"]["spikes_per_layer"]
    assert sum(map(sum, a["samples"]["spikes_per_layer"])) > 0


def test_shd_estimate_table(capsys):
    assert main(["targets", "shd-estimate"]) == 0
    out = capsys.readouterr().out
    assert out.count("| loihi2 |") == 1 and "| xylo | relay |" in out
    assert np.all([line.count("|") == 10 for line in out.splitlines() if line.startswith("| ")])
