"""Training with the neurons chips run (train/cuba.py): config keys, the current-based LIF's
forward against the contract's float64 update, its surrogate gradients, and a trained
cuba/subtract model whose converted network's simulator accuracy equals PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("DCLS")

from delaykit.errors import DelaykitError  # noqa: E402
from delaykit.network import decay_fraction  # noqa: E402
from delaykit.train import config as C  # noqa: E402
from delaykit.train.cuba import cuba_btn, cuba_torch  # noqa: E402
from delaykit.train.cuba_kernels import RESET_CODES  # noqa: E402
from delaykit.train.model import build_model, validate_arch  # noqa: E402

RESETS = ("value", "subtract", "none")


def contract_loop(x, b, tau, tau_syn, th, reset, leak):
    """The contract's per-step update (docs/design.md, "One layer"), v_reset = 0, float64,
    written out as the float simulator orders it: Euler leaks divide by tau."""

    def leak_of(s, t):
        return (0.0 - s) / t if leak == "euler" else (0.0 - s) * decay_fraction(t, leak)

    n_b, steps, n = x.shape
    s_out, v_out = np.zeros_like(x), np.zeros_like(x)
    for bi in range(n_b):
        v, c = np.zeros(n), np.zeros(n)
        for t in range(steps):
            if tau_syn is None:
                h = v + leak_of(v, tau) + (x[bi, t] + b)
            else:
                c = c + x[bi, t]
                h = v + leak_of(v, tau) + c + b
                c = c + leak_of(c, tau_syn)
            s = h >= th
            after = {"value": np.zeros(n), "subtract": h - th, "none": h}[reset]
            v = np.where(s, after, h)
            s_out[bi, t], v_out[bi, t] = s, v
    return s_out, v_out


# ---- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("model.neuron=izhikevich", "model.neuron"),
        ("model.reset=zero", "model.reset"),
        ("model.leak=rk4", "model.leak"),
        ("model.tau_syn_steps=0.5", "model.tau_syn_steps"),
        ("model.tau_syn_steps=true", "model.tau_syn_steps"),
    ],
)
def test_config_refuses_bad_neuron_keys_naming_them(item, key):
    with pytest.raises(DelaykitError, match=key.replace(".", r"\.")):
        C.load_config("tiny", ["model.neuron=cuba", item])


def test_config_learnable_tau_syn_needs_a_current():
    with pytest.raises(DelaykitError, match=r"model\.tau_syn_learnable"):
        C.load_config("tiny", ["model.tau_syn_learnable=true"])
    cfg = C.load_config("tiny", ["model.neuron=cuba", "model.tau_syn_learnable=true", "model.reset=subtract"])
    assert cfg["model"]["tau_syn_steps"] == 2.0 and cfg["model"]["leak"] == "euler"


def test_paper_neuron_arch_has_no_new_fields():
    from delaykit.train.cuba import arch_fields

    assert arch_fields(C.load_config("tiny")["model"]) == {}
    fields = arch_fields(C.load_config("tiny", ["model.neuron=cuba", "model.reset=subtract"])["model"])
    assert fields == {
        "neuron": "cuba",
        "tau_syn_steps": 2.0,
        "tau_syn_learnable": False,
        "reset": "subtract",
        "leak": "euler",
    }


def _arch(**over):
    a = {
        "model": "learned",
        "n_inputs": 6,
        "hidden": [5],
        "n_classes": 3,
        "kernel_size": 5,
        "tau_steps": 1.5,
        "v_threshold": 1.0,
        "v_reset": 0.0,
        "readout_tau_steps": 2.0,
        "batchnorm": True,
        "bn_eps": 1e-5,
        "dt": 0.01,
        "n_units": 6,
        "channel_group": 1,
        "window_steps": 12,
        "readout": "softmax_sum",
    }
    a.update(over)
    return a


def test_arch_validation_names_the_field():
    with pytest.raises(ValueError, match="tau_syn_steps"):
        validate_arch(_arch(neuron="cuba"))
    with pytest.raises(ValueError, match="'reset'"):
        validate_arch(_arch(reset="soft"))
    with pytest.raises(ValueError, match="tau_syn_steps"):
        validate_arch(_arch(tau_syn_steps=3.0))
    assert "neuron" not in validate_arch(_arch())  # the paper's arch stays as it was


# ---- forward: the contract's float64 update, exactly ----------------------------------------


@pytest.mark.parametrize("leak", ["euler", "exact"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("tau_syn", [None, 1.0, 3.7])
def test_forward_equals_the_contract_loop_exactly(leak, reset, tau_syn):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 30, 6, generator=g, dtype=torch.float64) * 0.7
    b = torch.randn(6, generator=g, dtype=torch.float64) * 0.2
    s, v = cuba_btn(x, tau=1.7, v_threshold=1.0, tau_syn=tau_syn, bias=b, reset=reset, leak=leak)
    s_ref, v_ref = contract_loop(x.numpy(), b.numpy(), 1.7, tau_syn, 1.0, reset, leak)
    assert s.sum() > 10
    np.testing.assert_array_equal(s.numpy(), s_ref)
    np.testing.assert_array_equal(v.numpy(), v_ref)  # bit for bit


@pytest.mark.parametrize("leak", ["euler", "exact"])
@pytest.mark.parametrize("reset", ["value", "subtract"])
@pytest.mark.parametrize("tau_syn", [None, 2.0])
def test_forward_equals_the_simulators_reference_engine_bit_for_bit(leak, reset, tau_syn):
    from delaykit.network import LIF, Layer
    from delaykit.sim import Arithmetic
    from delaykit.sim.reference import run_layer

    g = torch.Generator().manual_seed(11)
    x = torch.randn(1, 40, 5, generator=g, dtype=torch.float64) * 0.8
    b = torch.randn(5, generator=g, dtype=torch.float64) * 0.2
    neuron = LIF(tau=1.6, v_threshold=1.0, tau_syn=tau_syn, reset=reset, leak=leak)
    layer = Layer(name="h", weight=np.eye(5), delay=np.zeros((5, 5), np.int32), neuron=neuron, bias=b.numpy())
    spikes, v_sim, _ = run_layer(layer, x[0].numpy(), Arithmetic.float64())  # syn = x exactly
    s, v = cuba_btn(x, tau=1.6, v_threshold=1.0, tau_syn=tau_syn, bias=b, reset=reset, leak=leak)
    assert spikes.sum() > 5
    np.testing.assert_array_equal(s[0].numpy(), spikes)
    np.testing.assert_array_equal(v[0].numpy(), v_sim)


def test_euler_tau_syn_one_is_the_neuron_without_current():
    x = torch.randn(2, 25, 4, dtype=torch.float64)
    a = cuba_btn(x, tau=2.0, v_threshold=0.5, tau_syn=1.0, reset="subtract")
    b = cuba_btn(x, tau=2.0, v_threshold=0.5, tau_syn=None, reset="subtract")
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_allclose(a[1].numpy(), b[1].numpy(), rtol=0, atol=1e-15)


# ---- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("leak", ["euler", "exact"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("current", [True, False])
def test_numba_gradients_equal_the_autograd_loop(leak, reset, current):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 30, 5, generator=g, dtype=torch.float64) * 0.6).requires_grad_()
    b = (torch.randn(5, generator=g, dtype=torch.float64) * 0.1).requires_grad_()
    tau_syn = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    s1, v1 = cuba_btn(
        x, tau=1.5, v_threshold=1.0, tau_syn=tau_syn if current else None, bias=b, reset=reset, leak=leak
    )
    p = tau_syn if leak == "euler" else -torch.expm1(-1.0 / tau_syn)
    mem_p = 1.5 if leak == "euler" else decay_fraction(1.5, leak)
    spec = (mem_p, leak == "euler", leak == "euler", current, 1.0, RESET_CODES[reset], 5.0)
    s2, v2 = cuba_torch(x, b, p if current else None, spec)
    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    ws, wv = torch.randn_like(s1), torch.randn_like(v1)
    ins = [x, b, tau_syn] if current else [x, b]
    g1 = torch.autograd.grad((s1 * ws).sum() + (v1 * wv).sum(), ins)
    g2 = torch.autograd.grad((s2 * ws).sum() + (v2 * wv).sum(), ins)
    for a, c in zip(g1, g2):
        assert torch.isfinite(a).all() and a.abs().max() > 0
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("leak", ["euler", "exact"])
def test_tau_syn_gradient_matches_finite_differences(leak):
    # no spikes (threshold out of reach): the membrane is a smooth function of tau_syn
    x = torch.randn(2, 20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.randn(2, 20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def loss(ts):
        return (cuba_btn(x, tau=1.8, v_threshold=1e9, tau_syn=ts, reset="none", leak=leak)[1] * w).sum()

    ts = torch.tensor(2.3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(ts), [ts])
    eps = 1e-6
    fd = (
        loss(torch.tensor(2.3 + eps, dtype=torch.float64))
        - loss(torch.tensor(2.3 - eps, dtype=torch.float64))
    ) / (2 * eps)
    assert abs(float(grad) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_split_sums_to_batchnorm_and_keeps_its_statistics(training):
    from delaykit.train.cuba import split_batchnorm

    g = torch.Generator().manual_seed(5)
    bn = torch.nn.BatchNorm1d(4).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0, generator=g)
        bn.bias.normal_(generator=g)
        bn.running_mean.normal_(generator=g)
    ref = torch.nn.BatchNorm1d(4).double()
    ref.load_state_dict(bn.state_dict())
    bn.train(training)
    ref.train(training)
    x = torch.randn(50, 4, dtype=torch.float64, generator=g) * 3 + 1
    current, bias = split_batchnorm(bn, x)
    torch.testing.assert_close(current + bias, ref(x), rtol=0, atol=1e-13)
    assert torch.equal(bn.running_mean, ref.running_mean) and torch.equal(bn.running_var, ref.running_var)
    gain = bn.weight / torch.sqrt((x.var(0, unbiased=False) if training else bn.running_var) + bn.eps)
    torch.testing.assert_close(current, x * gain, rtol=1e-15, atol=0)  # the gain only: W * g


def test_model_trains_a_step_with_finite_gradients():
    arch = _arch(neuron="cuba", tau_syn_steps=3.0, tau_syn_learnable=True, reset="subtract")
    model = build_model(arch, seed=0)
    x = (torch.rand(4, 12, 6) < 0.3).float()
    out = model(x)
    assert out.shape == (12 + 2 * 2, 4, 3)
    loss = out.square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.tau_syn.grad is not None and model.tau_syn.grad.abs().sum() > 0
    assert "tau_syn" in model.state_dict()


# ---- trained, converted, simulated ----------------------------------------------------------


@pytest.fixture(scope="module")
def trained_cuba(tmp_path_factory):
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model

    d = tmp_path_factory.mktemp("cuba")
    write_delay_task_pair(d / "data", 96, 64, seed=3)
    cfg = C.load_config(
        "tiny",
        [
            "model.hidden=[24, 24]",
            "model.kernel_size=25",
            "train.epochs=2",
            "model.neuron=cuba",
            "model.reset=subtract",
            "model.tau_syn_steps=2.0",
            "model.tau_syn_learnable=true",
        ],
    )
    path = train_model(cfg, d / "data", d / "run", progress=False, log=lambda s: None)
    return path, d / "data" / "delay_test.h5"


def test_trained_cuba_converts_to_a_v3_network_that_simulates_like_pytorch(trained_cuba):
    from delaykit.convert.build import convert_checkpoint
    from delaykit.convert.verify import DEFAULT_ATOL, verify_fidelity
    from delaykit.network import format_version

    path, test = trained_cuba
    ck = torch.load(path, weights_only=True)
    learned = ck["state_dict"]["tau_syn"]
    assert ck["arch"]["neuron"] == "cuba" and not torch.equal(learned, torch.full_like(learned, 2.0))
    net = convert_checkpoint(path)
    assert format_version(net) == 3
    for i, layer in enumerate(net.layers):
        assert layer.neuron.tau_syn == max(float(learned[i]), 1.0) and layer.neuron.leak == "euler"
    assert [lay.neuron.reset for lay in net.layers] == ["subtract", "subtract", "none"]
    # the simulator's float64 arithmetic on the converted network = PyTorch with rounded delays
    r = verify_fidelity(path, test, torch_model="train", progress=False)
    assert r["agree"] == r["samples"] == 64, r["disagreements"]
    assert r["max_abs_diff"] <= DEFAULT_ATOL
    assert r["accuracy_deployed"] == r["accuracy_torch_rounded"] == ck["metrics"]["test_acc_rounded"]
