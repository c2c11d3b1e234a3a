"""Training for Xylo: Xylo's neuron in PyTorch, the refusals of what cannot fit, the relay count."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from delaykit.cli.main import main
from delaykit.convert.xylo_export import xylo_network
from delaykit.data.synth import XYLO_TASK, DelayTaskConfig, write_delay_task_pair
from delaykit.errors import DelaykitError
from delaykit.hardware_targets import load_target
from delaykit.hardware_targets.check import check_report
from delaykit.hardware_targets.xylo_map import plan_xylo
from delaykit.hardware_targets.xylo_reference import XyloLayer, _layer_run
from delaykit.train.config import load_config
from delaykit.train.xylo import xylo_btn
from delaykit.train.xylo_fit import worst_case_relays


def test_xylo_neuron_by_hand():
    """tau_syn = 2 halves the current before the membrane sees it; up to 31 events, subtractive."""
    x = torch.tensor([[[2.0], [0.0], [0.0], [10.0], [100.0]]], dtype=torch.float64)
    n, v = xylo_btn(x, tau=1.0, tau_syn=2.0, v_threshold=1.0)
    # i: 1, 0.5, 0.25, 5.125, 52.5625; tau = 1 forgets the membrane every step
    assert n[0, :, 0].tolist() == [1.0, 0.0, 0.0, 5.0, 31.0]
    assert v[0, :, 0].tolist() == pytest.approx([0.0, 0.5, 0.25, 0.125, 52.5625 - 31])
    _, r = xylo_btn(x[:, :2], tau=2.0, tau_syn=2.0, v_threshold=1.0, bias=torch.tensor([0.5]), spiking=False)
    assert r[0, :, 0].tolist() == pytest.approx([1.5, 0.75 + 0.5 + 0.5])


def test_xylo_neuron_equals_the_integer_core_where_its_shifts_are_exact():
    """Weights that are multiples of 2**8 keep the current's bit-shift decay exact for a few
    steps: the float neuron then computes Xylo's integer layer event for event (and, with
    tau = 1, membrane for membrane)."""
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 4, (6, 5)) * 256
    counts = rng.integers(0, 3, (6, 5))
    for tau, dash_mem in ((1.0, 0), (2.0, 1), (4.0, 2)):
        xl = XyloLayer("l", w, np.zeros_like(w), np.full(6, 300), np.zeros(6, np.int64), dash_mem, 1, False)
        events, mem, risky = (a[0] for a in _layer_run(xl, counts[None]))
        cur = torch.tensor(counts @ w.T, dtype=torch.float64)[None]
        n, v = xylo_btn(cur, tau=tau, tau_syn=2.0, v_threshold=300.0)
        assert risky == 0
        np.testing.assert_array_equal(n[0].numpy(), events)
        # the membrane after a subtractive reset can be odd: its decay then rounds (by < 1 LSB a
        # step, which the leak shrinks), so the float membrane is within tau LSB of Xylo's
        np.testing.assert_allclose(v[0].numpy(), mem, rtol=0, atol=tau - 1)


def test_worst_case_relay_budget_of_the_xylo_config():
    cfg = load_config("delay-task-xylo")
    m = cfg["model"]
    relays = worst_case_relays(16, m["hidden"], m["kernel_size"])
    assert relays == (16 + 32 + 32) * 10 and relays + sum(m["hidden"]) <= 1000


@pytest.mark.parametrize(
    "sets, match",
    [
        (["model.tau_ms=30"], r"model.tau_ms / dt .*not a power of two"),
        (["model.tau_syn_steps=1"], r"model.tau_syn_steps: 1 steps is not a power of two 2\*\*1"),
        (["model.reset=value"], r"model.reset=subtract"),
    ],
)
def test_xylo_neuron_settings_xylo_cannot_run_are_refused(sets, match):
    with pytest.raises(DelaykitError, match=match):
        load_config("delay-task-xylo", sets)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("xylo_data")
    write_delay_task_pair(root / "x", 96, 48, XYLO_TASK)
    write_delay_task_pair(root / "wide", 16, 8, DelayTaskConfig())  # 140 channels, 10 classes
    write_delay_task_pair(root / "ten", 16, 8, DelayTaskConfig(n_classes=10, n_units=16, channel_group=1))
    return root


@pytest.mark.parametrize(
    "config, data_name, sets, match",
    [
        ("delay-task", "x", [], r"--target xylo: model.neuron is 'lif'"),
        (
            "delay-task-xylo",
            "wide",
            [],
            r"700 units / data.channel_group 1 = 700 input channels, Xylo reads at most 16: set data.channel_group=44",
        ),
        ("delay-task-xylo", "wide", ["data.channel_group=5"], r"= 140 input channels, Xylo reads at most 16"),
        ("delay-task-xylo", "ten", [], r"10 classes, Xylo has 8 readout neurons"),
        ("delay-task-xylo", "x", ["model.kernel_size=25"], r"model.kernel_size=25 .* 1920 delay relays"),
    ],
)
def test_train_target_xylo_refuses_what_cannot_fit(tmp_path, capsys, data, config, data_name, sets, match):
    out = tmp_path / "run"
    args = [
        "train",
        "--config",
        config,
        "--data-dir",
        str(data / data_name),
        "--out",
        str(out),
        "--target",
        "xylo",
    ]
    args += [a for s in sets for a in ("--set", s)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(match, err), err
    assert not out.exists()


def test_train_target_xylo_reports_the_relays_the_mapper_builds(tmp_path, capsys, data):
    out = tmp_path / "run"
    sets = [
        "model.hidden=[8]",
        "model.kernel_size=5",
        "train.epochs=1",
        "finetune.epochs=1",
        "train.plots=false",
    ]
    args = ["train", "--config", "delay-task-xylo", "--data-dir", str(data / "x"), "--out", str(out)]
    args += ["--target", "xylo", "--no-progress", *(a for s in sets for a in ("--set", s))]
    assert main(args) == 0
    report = json.loads((out / "finetune_report.json").read_text())
    net = xylo_network(out / "model.pt")
    plan = plan_xylo(net)
    assert plan.n_relays == sum(report["relays_per_layer"]) > 0
    assert plan.n_hidden == report["hidden_neurons"]
    assert "delay relays (Xylo)" in capsys.readouterr().out
    assert check_report(net, load_target("xylo")).fits
    tiny = tmp_path / "tiny"
    assert (
        main(
            ["train", "--config", "tiny", "--data-dir", str(data / "x"), "--out", str(tiny), "--no-progress"]
        )
        == 0
    )
    with pytest.raises(DelaykitError, match="not trained with Xylo's neuron"):
        xylo_network(tiny / "model.pt")


def test_xylo_model_caps_input_counts_at_15_as_xylo_does():
    from delaykit.train.model import build_model

    arch = {
        "model": "none", "n_inputs": 2, "hidden": [3], "n_classes": 2, "kernel_size": 1, "tau_steps": 2.0,
        "v_threshold": 1.0, "v_reset": 0.0, "readout_tau_steps": 2.0, "batchnorm": False, "bn_eps": 1e-5,
        "dt": 0.01, "n_units": 2, "channel_group": 1, "window_steps": 4, "readout": "softmax_sum",
        "neuron": "cuba", "tau_syn_steps": 2.0, "tau_syn_learnable": False, "reset": "subtract",
        "leak": "euler", "xylo_neuron": True,
    }  # fmt: skip
    model = build_model(arch, seed=0).eval()
    x = torch.tensor([[[40.0, 3.0], [15.0, 0.0], [16.0, 1.0], [0.0, 100.0]]])
    with torch.no_grad():
        capped = model(x.clamp(max=15.0))
        assert torch.equal(model(x), capped)
        assert not torch.equal(build_model({**arch, "xylo_neuron": False}, seed=0).eval()(x), capped)
