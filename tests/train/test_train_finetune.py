"""Hardware-aware fine-tuning: delays in the target's range, fake-quantized weights, and the
reported quantized accuracy equal to what the converted network gives in the simulator."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from delaykit.convert.delays import delays_from_positions  # noqa: E402
from delaykit.train.finetune import FakeQuant  # noqa: E402
from delaykit.train.run import train_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from delaykit.data.synth import write_delay_task_pair

    d = tmp_path_factory.mktemp("ftdata")
    write_delay_task_pair(d, n_train=96, n_test=60, seed=7)
    return d


def stand_in_target(max_delay: int, bits: int) -> SimpleNamespace:
    """An object with the interface-B fields fine-tuning reads (no profile file needed)."""
    return SimpleNamespace(
        name="stand-in",
        description="test target",
        delay_native=True,
        delay_per_synapse=True,
        delay_min_steps=0,
        delay_max_steps=max_delay,
        weight_bits=bits,
        weight_exponent=False,
        layer_latency_steps=0,
        fixed_point=None,
    )


def test_finetune_clips_delays_quantizes_and_matches_the_simulator(tiny_data, tmp_path):
    target = stand_in_target(max_delay=2, bits=4)
    out = tmp_path / "ft"
    path = train_model(
        "tiny",
        tiny_data,
        out,
        progress=False,
        target=target,
        finetune=True,
        overrides=["train.epochs=2", "finetune.epochs=1", "model.hidden=[12]"],
        log=lambda s: None,
    )
    ck = torch.load(path, weights_only=True)
    assert (out / "model_pretrained.pt").exists()
    k = ck["arch"]["kernel_size"]
    for i in range(2):
        d = delays_from_positions(ck["state_dict"][f"layers.{i}.P"].numpy(), k)
        assert d.min() >= 0 and d.max() <= 2
        assert float(ck["state_dict"][f"layers.{i}.SIG"].abs().max()) == 0.0
    pre = torch.load(out / "model_pretrained.pt", weights_only=True)
    d_pre = delays_from_positions(pre["state_dict"]["layers.0.P"].numpy(), k)
    assert d_pre.max() > 2  # the tiny model learned delays the target cannot hold: clipping happened
    rep = json.loads((out / "finetune_report.json").read_text())
    assert rep["weight_bits"] == 4 and rep["delay_range"] == [0, 2]
    assert sum(r["clipped"] for r in rep["delays"]) > 0
    m = ck["metrics"]
    for key in (
        "test_acc_float",
        "test_acc_rounded",
        "test_acc_rounded_in_range",
        "test_acc_quantized_before_finetune",
        "test_acc_quantized",
    ):
        assert 0.0 <= m[key] <= 100.0
    assert ck["finetune"]["target"] == "stand-in"

    # The deployed network: delaykit convert folds BN and quantizes to 4 bits with one scale
    # per layer, like the fine-tuning's fake quantization; the simulator (float64 arithmetic)
    # must give exactly the accuracy fine-tuning reported, sample for sample.
    sim = pytest.importorskip("delaykit.sim")
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.shd import BinSpec, SHDFile

    net = convert_checkpoint(path, bits=4)
    assert all(layer.is_integer for layer in net.layers)
    ds = SHDFile(tiny_data / "delay_test.h5", BinSpec(window_steps=30))
    ev = sim.evaluate(net, ds, engine="reference", arithmetic=sim.Arithmetic.float64(), progress=False)
    assert ev.accuracy == pytest.approx(m["test_acc_quantized"], abs=1e-9)


def test_fake_quant_is_the_converters_quantization(rng):
    """The quantized kernel equals integer weights x per-layer scale of the BN-folded weights."""
    from delaykit.train.model import build_model

    arch = dict(
        model="learned",
        n_inputs=5,
        hidden=[4],
        n_classes=3,
        kernel_size=5,
        tau_steps=1.005,
        v_threshold=1.0,
        v_reset=0.0,
        readout_tau_steps=1.005,
        batchnorm=True,
        bn_eps=1e-5,
        dt=0.01,
        n_units=25,
        channel_group=5,
        window_steps=8,
        readout="softmax_sum",
    )
    model = build_model(arch, seed=2)
    with torch.no_grad():
        model.bn[0].running_var.uniform_(0.5, 2.0)
        model.bn[0].weight.uniform_(0.5, 1.5)
    model.kernel_version = "rounded"
    fq = FakeQuant(model, bits=3)
    fq.install()
    k = model.kernel(0).detach().numpy()
    w = model.layers[0].weight.detach().numpy()[:, :, 0]
    bn = model.bn[0]
    g = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    wf = w * g[:, None]
    s = np.abs(wf).max() / 3
    q = np.round(wf / s)
    assert np.abs(q).max() == 3
    np.testing.assert_allclose(k.sum(2), q * s, rtol=1e-6)  # one tap per synapse
    assert model.thresholds[0] == pytest.approx(max(round(1.0 / s), 1) * s)
    # gradients pass straight through the rounding
    model.layers[0].weight.grad = None
    model.kernel(0).sum().backward()
    np.testing.assert_allclose(
        model.layers[0].weight.grad.numpy()[:, :, 0], np.broadcast_to(g[:, None], w.shape), rtol=1e-6
    )
