"""Training loop: exact resume, checkpoint format, config overrides, the CLI on tiny data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from delaykit.errors import DelaykitError  # noqa: E402
from delaykit.train import config as C  # noqa: E402
from delaykit.train.loop import StopTraining  # noqa: E402
from delaykit.train.run import train_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from delaykit.data.synth import write_delay_task_pair

    d = tmp_path_factory.mktemp("delay")
    write_delay_task_pair(d, n_train=96, n_test=40, seed=3)
    return d


def _cfg(**over):
    items = [f"{k}={v}" for k, v in over.items()]
    return C.load_config("tiny", items)


def test_resume_after_kill_mid_epoch_is_exact(tiny_data, tmp_path):
    # 96 samples / batch 16 = 6 steps per epoch; 3 epochs; resume.pt every 2 steps; dropout on,
    # so the RNG state must be restored too. The "kill" comes at step 9 (mid-epoch 2): the run
    # restarts from the checkpoint at step 8 and repeats step 9.
    cfg = _cfg(**{"train.epochs": 3, "train.checkpoint_every_steps": 2, "model.dropout": 0.3})
    full = train_model(cfg, tiny_data, tmp_path / "full", progress=False, log=lambda s: None)
    with pytest.raises(StopTraining):
        train_model(cfg, tiny_data, tmp_path / "cut", progress=False, stop_after_steps=9, log=lambda s: None)
    rs = torch.load(tmp_path / "cut" / "resume.pt", weights_only=True)
    assert rs["state"]["global_step"] == 8 and rs["state"]["step_in_epoch"] == 2
    resumed = train_model(cfg, tiny_data, tmp_path / "cut", progress=False, resume=True, log=lambda s: None)
    a = torch.load(full, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    ha = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    strip = lambda h: {k: v for k, v in h.items() if "seconds" not in k}  # noqa: E731
    assert [strip(h) for h in ha] == [strip(h) for h in hb]
    # and the run did change the weights (the comparison is not vacuous)
    init = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["state_dict"]["layers.0.weight"]
    from delaykit.train.model import build_model

    fresh = build_model(a["arch"], seed=0)
    assert not torch.equal(fresh.state_dict()["layers.0.weight"], init)


def test_resume_refuses_a_changed_config(tiny_data, tmp_path):
    cfg = _cfg()
    with pytest.raises(DelaykitError, match="resume: .*resume.pt not found"):
        train_model(cfg, tiny_data, tmp_path / "r", progress=False, resume=True, log=lambda s: None)
    train_model(cfg, tiny_data, tmp_path / "r", progress=False, log=lambda s: None)
    other = _cfg(**{"train.lr_w": 0.5})
    with pytest.raises(DelaykitError, match="train.lr_w"):
        train_model(other, tiny_data, tmp_path / "r", progress=False, resume=True, log=lambda s: None)


def test_checkpoint_is_interface_a_and_loads_weights_only(tiny_data, tmp_path):
    path = train_model(
        _cfg(**{"train.plots": "true"}), tiny_data, tmp_path / "ck", progress=False, log=lambda s: None
    )
    ck = torch.load(path, weights_only=True)
    assert ck["format"] == "delaykit.checkpoint" and ck["format_version"] == 1
    a = ck["arch"]
    assert a["model"] == "learned" and a["n_inputs"] == 140 and a["n_classes"] == 10
    assert a["kernel_size"] == 5 and a["window_steps"] == 30 and a["readout"] == "softmax_sum"
    assert a["hidden"] == [16] and a["channel_group"] == 5 and a["n_units"] == 700
    assert a["tau_steps"] == pytest.approx(1.005)
    sd = ck["state_dict"]
    assert set(sd) >= {"layers.0.weight", "layers.0.P", "layers.0.SIG", "layers.1.weight", "bn.0.running_var"}
    m = ck["metrics"]
    for key in ("test_acc_float", "test_acc_rounded", "epoch"):
        assert key in m
    assert 0.0 <= m["test_acc_rounded"] <= 100.0
    assert ck["class_names"][:2] == ["order-0", "order-1"]
    assert {"torch", "dcls", "spikingjelly", "delaykit"} <= set(ck["versions"])
    assert ck["config"]["model"]["kind"] == "learned"
    # the rounded accuracy in the checkpoint is what the model gives with integer delays
    from delaykit.data.shd import BinSpec
    from delaykit.train.checkpoint import model_from_checkpoint
    from delaykit.train.data import FramesDataset
    from delaykit.train.evaluation import evaluate_model

    model = model_from_checkpoint(ck)
    ds = FramesDataset(tiny_data / "delay_test.h5", BinSpec(window_steps=30))
    assert evaluate_model(model, ds, 64, rounded=True)["acc"] == pytest.approx(m["test_acc_rounded"])
    for name in ("curves.png", "delays.png", "sigma.png"):
        assert (tmp_path / "ck" / "plots" / name).stat().st_size > 1000
    lines = (tmp_path / "ck" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[-1])["epoch"] == 2
    assert "[model]" in (tmp_path / "ck" / "config.toml").read_text()


def test_config_overrides_files_and_errors(tmp_path):
    cfg = C.load_config(
        "shd",
        [
            "train.epochs=3",
            "model.hidden=[64, 32]",
            "train.lr_w=2e-3",
            "model.kind=none",
            "train.bf16=true",
            "data.window_steps=120",
        ],
    )
    assert cfg["train"]["epochs"] == 3 and cfg["model"]["hidden"] == [64, 32]
    assert cfg["train"]["lr_w"] == 2e-3 and cfg["model"]["kind"] == "none" and cfg["train"]["bf16"] is True
    assert cfg["data"]["window_steps"] == 120 and C.effective_kernel_size(cfg) == 1
    assert C.load_config("ssc")["model"]["hidden"] == [512, 512, 512]
    assert C.load_config("gsc")["model"]["kernel_size"] == 31
    with pytest.raises(DelaykitError, match="unknown key"):
        C.load_config("shd", ["train.epoch=3"])
    with pytest.raises(DelaykitError, match="expected an integer"):
        C.load_config("shd", ["train.epochs=many"])
    with pytest.raises(DelaykitError, match="must be odd"):
        C.load_config("shd", ["model.kernel_size=24"])
    with pytest.raises(DelaykitError, match="one of"):
        C.load_config("shd", ["model.kind=sometimes"])
    toml = tmp_path / "c.toml"
    toml.write_text('base = "delay-task"\n[train]\nepochs = 7\n[model]\nhidden = [8]\n')
    cfg = C.load_config(toml, ["train.seed=5"])
    assert cfg["train"]["epochs"] == 7 and cfg["model"]["hidden"] == [8] and cfg["train"]["seed"] == 5
    assert cfg["train"]["batch_size"] == 64  # from the base
    yml = tmp_path / "c.yaml"
    yml.write_text("base: tiny\ntrain:\n  epochs: 4\n")
    assert C.load_config(yml)["train"]["epochs"] == 4
    # the saved TOML reads back to the same config
    saved = tmp_path / "resolved.toml"
    saved.write_text(C.to_toml(cfg))
    again = C.load_config(saved)
    for sec in C.DEFAULTS:
        assert again[sec] == cfg[sec]
    bad = tmp_path / "bad.toml"
    bad.write_text("[trian]\nepochs = 1\n")
    with pytest.raises(DelaykitError, match="unknown section"):
        C.load_config(bad)


def test_sigma_schedule_reaches_final_value():
    cfg = C.load_config("shd")
    s = C.sig_schedule(cfg)
    assert s[0] == 12.0 and len(s) == 150
    assert s[37] == pytest.approx(0.23) and s[-1] == pytest.approx(0.23)  # after 25 % of 150 epochs
    assert all(a > b for a, b in zip(s[:38], s[1:38]))


def test_cli_trains_on_a_tiny_file(tiny_data, tmp_path, capsys):
    from delaykit.cli.main import main

    out = tmp_path / "cli"
    rc = main(
        [
            "train",
            "--config",
            "tiny",
            "--data-dir",
            str(tiny_data),
            "--out",
            str(out),
            "--no-progress",
            "--epochs",
            "1",
            "--model",
            "random",
            "--set",
            "model.hidden=[8]",
        ]
    )
    assert rc == 0
    ck = torch.load(out / "model.pt", weights_only=True)
    assert ck["arch"]["model"] == "random" and ck["arch"]["hidden"] == [8] and ck["metrics"]["epoch"] == 1
    assert "rounded" in capsys.readouterr().out
    # bad input: one line, exit code 2
    rc = main(["train", "--config", "tiny", "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)])
    assert rc == 2
    assert "no such folder" in capsys.readouterr().err
    rc = main(["train", "--config", "tiny", "--set", "train.nope=1", "--show-config"])
    assert rc == 2
    assert "--set train.nope=1" in capsys.readouterr().err  # the CLI names its flag
    rc = main(
        [
            "train",
            "--config",
            "tiny",
            "--data-dir",
            str(tiny_data),
            "--out",
            str(tmp_path / "new"),
            "--resume",
        ]
    )
    assert rc == 2
    assert "--resume" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_cli_module_imports_without_torch():
    code = (
        "import importlib, sys; import delaykit.train.cli; "
        "importlib.import_module('delaykit.cli.main').build_parser(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
