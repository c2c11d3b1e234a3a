"""``delaykit sim``: report, verdict exit codes 0/1, bad input exit 2, JSON and raster outputs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from netgen import random_network

from delaykit.cli.main import main
from delaykit.data.shd import BinSpec, SHDFile, write_shd
from delaykit.hardware_targets import load_target
from delaykit.network import InputSpec, save_network
from delaykit.sim import Arithmetic, evaluate

N_UNITS, GROUP, WINDOW = 12, 3, 10


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(7)
    net = random_network(rng, (4, 10, 3), integer_bits=8, max_delay=4)
    net = replace(
        net, input=InputSpec(n_channels=4, window_steps=WINDOW, n_units=N_UNITS, channel_group=GROUP)
    )
    times = [np.sort(rng.random(30) * 0.1).astype(np.float32) for _ in range(16)]
    units = [rng.integers(0, N_UNITS, 30) for _ in range(16)]
    data = tmp_path / "test.h5"
    write_shd(data, times, units, rng.integers(0, 3, 16), n_units=N_UNITS)
    with SHDFile(data, BinSpec(dt=0.01, channel_group=GROUP, window_steps=WINDOW), n_units=N_UNITS) as ds:
        acc = {
            name: evaluate(net, ds, arithmetic=a, workers=1, progress=False).accuracy
            for name, a in (
                ("float", Arithmetic.float64()),
                ("loihi2", Arithmetic.for_target(load_target("loihi2"))),
            )
        }
    model = tmp_path / "net.dkn"
    save_network(replace(net, metadata={"metrics": {"test_acc_rounded": acc["float"]}}), model)
    return model, data, acc, tmp_path


def test_verdict_from_network_metrics_matches(files, capsys):
    model, data, acc, _ = files
    assert main(["sim", str(model), "--data", str(data), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"accuracy: {acc['float']:.2f} %" in out
    assert "verdict: MATCH" in out and "metadata.metrics.test_acc_rounded" in out
    assert "confusion matrix" in out and "fc0 events" in out and "fc0 spikes" in out
    assert "time per sample" in out


def test_verdict_mismatch_exits_1(files, capsys):
    model, data, acc, _ = files
    far = acc["float"] + 30 if acc["float"] < 50 else acc["float"] - 30
    code = main(
        [
            "sim",
            str(model),
            "--data",
            str(data),
            "--expect",
            str(far),
            "--tolerance",
            "5",
            "--workers",
            "2",
            "--no-progress",
        ]
    )
    assert code == 1
    assert "verdict: MISMATCH" in capsys.readouterr().out
    assert (
        main(
            [
                "sim",
                str(model),
                "--data",
                str(data),
                "--expect",
                str(far),
                "--tolerance",
                "31",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )


def test_target_json_and_raster(files, capsys):
    model, data, acc, tmp = files
    js, png = tmp / "out" / "r.json", tmp / "r.png"
    code = main(
        [
            "sim",
            str(model),
            "--data",
            str(data),
            "--target",
            "loihi2",
            "--expect",
            str(acc["loihi2"]),
            "--tolerance",
            "0",
            "--workers",
            "1",
            "--json",
            str(js),
            "--raster",
            "3",
            "--raster-out",
            str(png),
            "--no-progress",
        ]
    )
    assert code == 0
    doc = json.loads(js.read_text())
    assert doc["accuracy"] == pytest.approx(acc["loihi2"]) and doc["verdict"] == "match"
    assert doc["target"] == "loihi2" and doc["arithmetic"] == "fixed:loihi2" and doc["n_samples"] == 16
    assert len(doc["samples"]["predictions"]) == 16 and set(doc["events_per_sample"]) == {"fc0", "fc1"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_limit_and_reference_engine(files, capsys):
    model, data, _, _ = files
    main(
        [
            "sim",
            str(model),
            "--data",
            str(data),
            "--engine",
            "reference",
            "--limit",
            "5",
            "--workers",
            "1",
            "--no-progress",
            "--tolerance",
            "100",
        ]
    )
    out = capsys.readouterr().out
    assert "/5)" in out and "on 5 of 16 samples" in out and "engine reference" in out


@pytest.mark.parametrize(
    "extra,msg",
    [
        (["--target", "no_such_chip"], "no_such_chip"),
        (["--raster", "99"], "--raster"),
        (["--workers", "0"], "--workers"),
        (["--target", "loihi2", "--arithmetic", "float32"], "exclude each other"),
    ],
)
def test_bad_options_exit_2(files, capsys, extra, msg):
    model, data, _, _ = files
    assert main(["sim", str(model), "--data", str(data), "--no-progress", *extra]) == 2
    assert msg in capsys.readouterr().err


def test_bad_files_exit_2(files, capsys, tmp_path):
    model, data, _, _ = files
    assert main(["sim", str(tmp_path / "missing.dkn"), "--data", str(data)]) == 2
    assert main(["sim", str(model), "--data", str(tmp_path / "missing.h5")]) == 2
    not_net = tmp_path / "bogus.dkn"
    not_net.write_bytes(b"not hdf5")
    assert main(["sim", str(not_net), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "missing.dkn" in err and "missing.h5" in err and "bogus.dkn" in err


def test_float_network_on_fixed_target_exits_2(tmp_path, files, capsys):
    _, data, _, _ = files
    net = random_network(np.random.default_rng(1), (4, 3), max_delay=2)
    net = replace(
        net, input=InputSpec(n_channels=4, window_steps=WINDOW, n_units=N_UNITS, channel_group=GROUP)
    )
    model = tmp_path / "float.dkn"
    save_network(net, model)
    assert (
        main(
            ["sim", str(model), "--data", str(data), "--target", "loihi2", "--workers", "1", "--no-progress"]
        )
        == 2
    )
    assert "float weights cannot run" in capsys.readouterr().err


def test_nir_and_event_tables_give_the_dkn_answer(files, capsys):
    """MODEL may be a .nir graph (convert's export) or an event-table folder / manifest."""
    from delaykit.network import load_network
    from delaykit.nir.export_nir import write_nir
    from delaykit.tables import write_tables

    model, data, _, tmp = files
    net = load_network(model)
    write_nir(net, tmp / "net.nir")
    write_tables(net, tmp / "tables")
    accs = []
    for m in (model, tmp / "net.nir", tmp / "tables", tmp / "tables" / "manifest.json"):
        js = tmp / f"{m.name}.json"
        assert (
            main(
                [
                    "sim",
                    str(m),
                    "--data",
                    str(data),
                    "--target",
                    "loihi2",
                    "--workers",
                    "1",
                    "--no-progress",
                    "--json",
                    str(js),
                    "--tolerance",
                    "100",
                ]
            )
            == 0
        )
        doc = json.loads(js.read_text())
        accs.append((doc["accuracy"], doc["samples"]["predictions"], doc["samples"]["events_per_layer"]))
    assert all(a == accs[0] for a in accs[1:])


def test_target_limits_are_reported_but_simulated(tmp_path, files, capsys):
    _, data, _, _ = files
    net = random_network(np.random.default_rng(3), (4, 3), integer_bits=8, max_delay=2)
    layer = replace(net.layers[0], delay=np.full((3, 4), 70, dtype=np.int32))  # Loihi 2 holds 0..62
    net = replace(
        net,
        layers=(layer,),
        input=InputSpec(n_channels=4, window_steps=WINDOW, n_units=N_UNITS, channel_group=GROUP),
    )
    model = tmp_path / "far.dkn"
    save_network(net, model)
    assert (
        main(
            ["sim", str(model), "--data", str(data), "--target", "loihi2", "--workers", "1", "--no-progress"]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "warning: loihi2: layer fc0" in captured.err and "accuracy:" in captured.out


def test_foreign_nir_graph_needs_its_step_from_dt_ms(files, capsys):
    """A NIR graph without delaykit metadata does not record dt: the error names --dt-ms, and
    with it the graph runs (units and window from the data file, grouping units / channels)."""
    nir = pytest.importorskip("nir")
    from delaykit.network import load_network
    from delaykit.nir.export_nir import network_to_nir

    model, data, _, tmp = files
    graph = network_to_nir(load_network(model))
    graph.metadata = {}
    foreign = tmp / "foreign.nir"
    nir.write(foreign, graph)
    assert main(["sim", str(foreign), "--data", str(data), "--no-progress"]) == 2
    assert "--dt-ms" in capsys.readouterr().err
    args = ["sim", str(foreign), "--data", str(data), "--dt-ms", "10", "--workers", "1", "--no-progress"]
    assert main(args) == 0
    assert "accuracy:" in capsys.readouterr().out
