"""The Xylo main job end to end (slow): ``demo --target xylo`` trains the 16-channel 8-class delay
task for Xylo on CPU, maps it with relay chains and runs the 500 test samples in delaykit's Xylo
mode and in SynSense's xylosim. Also the relay budget of the SHD-size model (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from delaykit.cli.main import main
from delaykit.hardware_targets.xylo_check import SETUP_HINT, find_xylo_python
from delaykit.hardware_targets.xylo_map import plan_xylo
from delaykit.hardware_targets.xylo_spec import MAX_HIDDEN
from delaykit.network import LI, LIF, InputSpec, Layer, Network

XYLO = find_xylo_python()


def shd_size_network(seed: int = 0) -> Network:
    """140 -> 256 -> 256 -> 20, dense, random delays 0..24 (K = 25): the paper's SHD model's shape."""
    rng = np.random.default_rng(seed)
    sizes, layers = (140, 256, 256, 20), []
    for k in range(3):
        w = rng.normal(0.0, 1.0, (sizes[k + 1], sizes[k]))
        neuron = (
            LIF(tau=2.0, v_threshold=1.0, tau_syn=2.0, reset="subtract")
            if k < 2
            else LI(tau=2.0, tau_syn=2.0)
        )
        layers.append(Layer(f"fc{k}", w, rng.integers(0, 25, w.shape), neuron))
    return Network(tuple(layers), 0.01, InputSpec(140, 100, 700, 5))


def test_shd_size_model_needs_sixteen_times_xylos_hidden_neurons():
    net = shd_size_network()
    plan = plan_xylo(net, neurons=False)
    # one chain per presynaptic neuron, as long as its largest delay (counted independently)
    expected = sum(int(layer.delay.max(axis=0).sum()) for layer in net.layers)
    assert plan.n_relays == expected
    assert plan.n_hidden == expected + 512 > 15 * MAX_HIDDEN
    assert any("hidden neurons" in p for p in plan.problems)
    assert any("140 input channels" in p for p in plan.problems)
    print(plan.lines())


@pytest.mark.slow
@pytest.mark.skipif(XYLO is None, reason=f"xylosim not found: {SETUP_HINT}")
def test_demo_target_xylo_learned_delays_in_xylosim(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--target", "xylo", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    learned, none = results["rows"]
    assert code == 0 and results["verdict"] == "pass", printed[-3000:]
    c = learned["xylosim_vs_xylo_mode"]
    assert c["samples"] >= 200 and c["hidden_events"] > 0
    assert c["hidden_mismatches"] == 0 and c["readout_mismatches"] == 0 and c["predictions_differing"] == 0
    assert learned["risky"] == 0
    assert learned["xylosim_pct"] >= 95.0
    assert abs(learned["xylosim_pct"] - learned["rounded_pct"]) <= 1.0
    assert learned["fits"] and learned["relays"] > 0 and learned["hidden_neurons"] <= MAX_HIDDEN
    assert none["xylosim_pct"] <= 60.0 and none["relays"] == 0
    assert none["xylosim_vs_xylo_mode"]["hidden_mismatches"] == 0
    assert "xylosim %" in printed and "relays" in printed
    assert (out / "learned" / "xylo_spec" / "spec.npz").exists()
    assert "fits" in (out / "learned" / "targets_check.txt").read_text()


def test_demo_target_xylo_without_xylosim_says_why_the_column_is_empty(tmp_path, capsys, monkeypatch):
    import delaykit.cli.demo_xylo as demo

    monkeypatch.setattr(demo, "find_xylo_python", lambda *a: None)
    out = tmp_path / "demo"
    sets = [
        "model.hidden=[8]",
        "model.kernel_size=5",
        "train.epochs=1",
        "finetune.epochs=1",
        "train.plots=false",
    ]
    args = ["demo", "--target", "xylo", "--out", str(out), "--samples", "64", "32", "--no-baselines"]
    code = main([*args, *(a for s in sets for a in ("--set", s))])
    printed = capsys.readouterr().out
    (row,) = json.loads((out / "results.json").read_text())["rows"]
    assert code in (0, 1)  # one epoch on 64 samples: the verdict may go either way
    assert row["xylosim_pct"] is None and 0 <= row["xylo_mode_pct"] <= 100 and row["risky"] == 0
    assert "xylosim: not run (no environment with xylosim" in printed
    assert "targets check --target xylo, learned delays: fits" in printed


def test_demo_target_xylo_refuses_other_weight_widths(tmp_path, capsys):
    assert main(["demo", "--target", "xylo", "--bits", "4", "--out", str(tmp_path / "d")]) == 2
    assert "--bits 4: Xylo holds int8 weights" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
