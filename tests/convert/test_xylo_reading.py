"""A network trained for Xylo is read in Xylo's arithmetic everywhere, or refused in one line.

The checkpoint is a real ``train --target xylo`` run (16 -> 8 -> 8, K = 5, 2 + 1 epochs on 96
samples: a few seconds): conversion marks it (``metadata.read_as``), ``.dkn`` keeps the mark,
``sim --target xylo`` runs Xylo mode (the accuracy :func:`run_xylo_mode_dataset` gives), and
every command that would run it -- or hand it to another tool -- with the contract's neuron
refuses it (exit 2, one line naming the file, the field and the fix, nothing written).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")

from delaykit.cli.main import main  # noqa: E402
from delaykit.convert.build import convert_checkpoint  # noqa: E402
from delaykit.convert.xylo_export import xylo_network  # noqa: E402
from delaykit.data.shd import BinSpec, SHDFile  # noqa: E402
from delaykit.data.synth import XYLO_TASK, write_delay_task_pair  # noqa: E402
from delaykit.hardware_targets.xylo_eval import run_xylo_mode_dataset  # noqa: E402
from delaykit.network import load_network, save_network  # noqa: E402
from delaykit.network.reading import READ_AS, XYLO_READING, xylo_reading  # noqa: E402
from delaykit.sim.xylo_cli import _synaptic_events  # noqa: E402

CONTRACT_EXPORTS = ("to-nir", "to-onnx", "to-netx", "to-pynn", "to-table")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model.pt, test .h5, float .dkn, int8 .dkn) of a tiny Xylo-trained model."""
    from delaykit.train.run import train_model

    root = tmp_path_factory.mktemp("xylo_reading")
    _, test = write_delay_task_pair(root / "data", 96, 48, XYLO_TASK)
    sets = [
        "model.hidden=[8]",
        "model.kernel_size=5",
        "train.epochs=2",
        "finetune.epochs=1",
        "train.plots=false",
    ]
    ckpt = train_model(
        "delay-task-xylo",
        root / "data",
        root / "run",
        overrides=sets,
        target="xylo",
        finetune=True,
        progress=False,
    )
    dkn, dkn8 = root / "m.dkn", root / "m8.dkn"
    assert main(["convert", "to-dkn", str(ckpt), "-o", str(dkn)]) == 0
    assert main(["convert", "to-dkn", str(ckpt), "--bits", "8", "-o", str(dkn8)]) == 0
    return ckpt, test, dkn, dkn8


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_the_marker_survives_checkpoint_to_dkn_to_load(trained):
    ckpt, _, dkn, dkn8 = trained
    assert convert_checkpoint(ckpt).metadata[READ_AS] == XYLO_READING
    assert convert_checkpoint(ckpt, bits=8).metadata[READ_AS] == XYLO_READING
    for path in (dkn, dkn8):
        net = load_network(path)
        assert net.metadata[READ_AS] == XYLO_READING
        assert xylo_reading(net.metadata) == READ_AS
    assert load_network(dkn8).metadata == xylo_network(ckpt).metadata


def test_a_checkpoint_not_trained_for_xylo_is_not_marked(trained, tmp_path):
    import torch

    ckpt = trained[0]
    obj = torch.load(ckpt, weights_only=True)
    obj["arch"]["xylo_neuron"] = False
    plain = tmp_path / "plain.pt"
    torch.save(obj, plain)
    meta = convert_checkpoint(plain).metadata
    assert READ_AS not in meta and xylo_reading(meta) is None


def test_a_file_converted_before_the_marker_is_still_recognised_and_gets_it(trained, tmp_path, capsys):
    _, test, dkn, _ = trained
    net = load_network(dkn)
    old = tmp_path / "old.dkn"
    save_network(replace(net, metadata={k: v for k, v in net.metadata.items() if k != READ_AS}), old)
    assert main(["sim", str(old), "--data", str(test), "--no-progress"]) == 2
    assert "'arch.xylo_neuron'" in _one_line_error(capsys)
    new = tmp_path / "new.dkn"
    assert main(["convert", "to-dkn", str(old), "-o", str(new)]) == 0
    assert load_network(new).metadata[READ_AS] == XYLO_READING


def test_info_shows_the_reading(trained, capsys):
    dkn = trained[2]
    assert main(["info", str(dkn)]) == 0
    assert "reading: Xylo's arithmetic (metadata read_as" in capsys.readouterr().out
    assert main(["info", str(dkn), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reading"] == "xylo" and doc["metadata"][READ_AS] == XYLO_READING


@pytest.mark.parametrize("verb", CONTRACT_EXPORTS)
@pytest.mark.parametrize("which", ["model.pt", ".dkn"])
def test_exports_for_other_tools_refuse_it(trained, tmp_path, capsys, verb, which):
    src = trained[0] if which == "model.pt" else trained[2]
    out = tmp_path / "out"
    assert main(["convert", verb, str(src), "-o", str(out)]) == 2
    err = _one_line_error(capsys)
    assert str(src) in err and "'read_as'" in err and f"convert {verb}" in err
    assert "convert to-xylo" in err and "sim MODEL.dkn --target xylo" in err
    assert not out.exists()


def test_convert_verify_refuses_it(trained, tmp_path, capsys):
    ckpt, test, _, _ = trained
    report = tmp_path / "v.json"
    assert main(["convert", "verify", str(ckpt), str(test), "--json", str(report)]) == 2
    err = _one_line_error(capsys)
    assert str(ckpt) in err and "convert verify" in err and "--target xylo" in err
    assert not report.exists()


@pytest.mark.parametrize("target", [None, "loihi2"])
def test_sim_without_target_xylo_refuses_it(trained, tmp_path, capsys, target):
    _, test, dkn, _ = trained
    out = tmp_path / "r.json"
    args = ["sim", str(dkn), "--data", str(test), "--no-progress", "--json", str(out)]
    assert main(args + (["--target", target] if target else [])) == 2
    err = _one_line_error(capsys)
    assert str(dkn) in err and "'read_as'" in err and "pass --target xylo" in err and "to-xylo" in err
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--raster", "0"], ["--engine", "reference"]])
def test_sim_target_xylo_refuses_what_xylo_mode_cannot_do(trained, capsys, flags):
    _, test, dkn, _ = trained
    assert main(["sim", str(dkn), "--data", str(test), "--target", "xylo", "--no-progress", *flags]) == 2
    assert flags[0] in _one_line_error(capsys)


def _xylo_mode_reference(ckpt, test, limit=None):
    net = xylo_network(ckpt)
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    with SHDFile(test, spec) as ds:
        n = len(ds) if limit is None else limit
        return run_xylo_mode_dataset(net, [ds[i] for i in range(n)])


@pytest.mark.parametrize("which, limit", [("float", None), ("int8", None), ("int8", 10)])
def test_sim_target_xylo_runs_xylo_mode(trained, tmp_path, capsys, which, limit):
    ckpt, test, dkn, dkn8 = trained
    model = dkn if which == "float" else dkn8
    out = tmp_path / "r.json"
    args = ["sim", str(model), "--data", str(test), "--target", "xylo", "--no-progress", "--json", str(out)]
    rc = main(args + (["--limit", str(limit)] if limit else []))
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    ref = _xylo_mode_reference(ckpt, test, limit)
    assert doc["accuracy"] == ref.accuracy and doc["n_samples"] == len(ref.labels)
    assert doc["samples"]["predictions"] == ref.predictions.tolist()
    assert doc["engine"] == "xylo_mode" and doc["arithmetic_params"]["name"] == "xylo_mode"
    assert doc["target"] == "xylo" and doc["xylo_risky_pairs"] == ref.risky
    assert doc["expected_source"] == "metadata.metrics.test_acc_rounded"
    expected = load_network(dkn).metadata["metrics"]["test_acc_rounded"]
    assert doc["expected"] == expected
    assert rc == (0 if abs(ref.accuracy - expected) <= 1.0 + 1e-9 else 1)
    assert f"accuracy: {ref.accuracy:.2f} %" in printed and "verdict: " in printed
    assert ("weights quantized to int8" in printed) == (which == "float")


def test_xylo_mode_synaptic_events_by_hand():
    """A source with a non-zero count at step u and a non-zero synapse of delay d give one event
    when u + d lies inside the run (3 steps here)."""
    w = np.array([[1, 0], [2, 3]])
    d = np.array([[0, 0], [1, 2]])
    src = np.array([[[1, 0], [0, 5], [2, 0]]])  # [1 sample, 3 steps, 2 sources]
    # (j0, i0, d 0): u = 0, 2 -> 2; (j1, i0, d 1): u = 0 -> 1; (j1, i1, d 2): u = 1 arrives at 3 -> 0
    assert _synaptic_events(w, d, src).tolist() == [3]


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "to-xylo", "{ckpt}", "--bits", "8", "-o", "{tmp}/spec"],
        ["convert", "report", "{ckpt}", "-o", "{tmp}/rep.json"],
        ["targets", "check", "{dkn8}", "--target", "xylo"],
    ],
)
def test_xylo_paths_still_work(trained, tmp_path, args):
    ckpt, _, _, dkn8 = trained
    argv = [a.format(ckpt=ckpt, dkn8=dkn8, tmp=tmp_path) for a in args]
    assert main(argv) == 0


@pytest.mark.parametrize("tool", ["distributed", "brian2"])
def test_sim_distributed_and_brian2_check_refuse_it(trained, tmp_path, capsys, tool):
    """The other two simulators of a .dkn read the contract's neuron too: refused, nothing written."""
    from delaykit.sim import brian2_cli, distributed_cli

    _, test, dkn, _ = trained
    out = tmp_path / "r.json"
    if tool == "distributed":
        code = distributed_cli.main([str(dkn), "--data", str(test), "--json", str(out)])
        what = "sim-distributed"
    else:
        code = brian2_cli.main(["check", str(dkn), "--data", str(test), "--json", str(out)])
        what = "the Brian2 cross-check"
    assert code == 2
    err = _one_line_error(capsys)
    assert str(dkn) in err and "'read_as'" in err and what in err and "--target xylo" in err
    assert not out.exists()
