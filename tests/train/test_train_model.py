"""The training model: state-dict names, DCLS kernel, LIF semantics, rounded-delay forward."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from delaykit.convert.delays import delays_from_positions  # noqa: E402
from delaykit.train.dcls_kernel import dcls_kernel  # noqa: E402
from delaykit.train.lif import lif_multistep  # noqa: E402
from delaykit.train.model import build_model, loss_fn, predict  # noqa: E402


def small_arch(
    model: str = "learned", k: int = 7, hidden=(6, 5), n_in: int = 4, n_cls: int = 3, bn: bool = True
):
    return dict(
        model=model,
        n_inputs=n_in,
        hidden=list(hidden),
        n_classes=n_cls,
        kernel_size=k,
        tau_steps=1.005,
        v_threshold=1.0,
        v_reset=0.0,
        readout_tau_steps=1.005,
        batchnorm=bn,
        bn_eps=1e-5,
        dt=0.01,
        n_units=n_in * 5,
        channel_group=5,
        window_steps=12,
        readout="softmax_sum",
    )


def test_state_dict_names_match_interface_a():
    m = build_model(small_arch(), seed=0)
    names = set(m.state_dict())
    for i in range(3):
        assert {f"layers.{i}.weight", f"layers.{i}.P", f"layers.{i}.SIG"} <= names
    for i in range(2):
        for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            assert f"bn.{i}.{s}" in names
    assert not any(n.startswith("bn.2") for n in names)  # the readout has no BN
    sd = m.state_dict()
    assert tuple(sd["layers.0.weight"].shape) == (6, 4, 1)
    assert tuple(sd["layers.1.P"].shape) == (1, 5, 6, 1)
    assert tuple(sd["layers.2.SIG"].shape) == (1, 3, 5, 1)
    # reference init: SIG = K // 2 for learned delays, P clamped into [-K//2, K//2]
    assert float(sd["layers.0.SIG"].unique()) == 3.0
    assert sd["layers.0.P"].abs().max() <= 3.0


@pytest.mark.parametrize("sig", [12.0, 2.5, 0.23, 0.0])
def test_gauss_kernel_matches_dcls(sig):
    from DCLS.construct.modules import Dcls1d

    torch.manual_seed(3)
    k = 25
    ref = Dcls1d(9, 7, kernel_count=1, dilated_kernel_size=k, bias=False, version="gauss")
    with torch.no_grad():
        ref.P.uniform_(-12, 12)
        ref.SIG.fill_(sig)
    w = ref.weight.detach().clone().requires_grad_()
    p = ref.P.detach().clone().requires_grad_()
    k_ref = ref.DCK(ref.weight, ref.P, ref.SIG)
    k_torch = dcls_kernel(w, p, ref.SIG, k, "gauss", fast=False)
    assert torch.equal(k_ref, k_torch)  # same operations, same float32 results
    g = torch.randn_like(k_ref)
    (k_ref * g).sum().backward()
    (k_torch * g).sum().backward()
    # analytic vs autograd gradient: float32 rounding only (relative 1e-5 of the largest)
    torch.testing.assert_close(w.grad, ref.weight.grad, rtol=1e-5, atol=1e-6)
    scale = float(ref.P.grad.abs().max())
    torch.testing.assert_close(p.grad, ref.P.grad, rtol=1e-4, atol=1e-5 * scale)
    # the numba kernel: same formula, sequential sums and libm exp -> a few float32 ulps
    w2 = ref.weight.detach().clone().requires_grad_()
    p2 = ref.P.detach().clone().requires_grad_()
    k_fast = dcls_kernel(w2, p2, ref.SIG, k, "gauss", fast=True)
    torch.testing.assert_close(k_fast, k_ref, rtol=1e-5, atol=1e-7)
    (k_fast * g).sum().backward()
    torch.testing.assert_close(w2.grad, ref.weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(p2.grad, ref.P.grad, rtol=1e-4, atol=1e-5 * scale)


def test_max_kernel_matches_dcls_and_rounded_is_onehot():
    from DCLS.construct.modules import Dcls1d

    torch.manual_seed(4)
    k = 9
    ref = Dcls1d(5, 4, kernel_count=1, dilated_kernel_size=k, bias=False, version="max")
    with torch.no_grad():
        ref.P.uniform_(-4, 4)
        ref.SIG.zero_()
    assert torch.equal(ref.DCK(ref.weight, ref.P, ref.SIG), dcls_kernel(ref.weight, ref.P, ref.SIG, k, "max"))
    with torch.no_grad():
        ref.P.round_()
    onehot = dcls_kernel(ref.weight, ref.P, ref.SIG, k, "rounded")
    # dcls scales the single tap by 1/(1+1e-7) = 1 - 2**-23 in float32; we keep W exact
    torch.testing.assert_close(onehot, ref.DCK(ref.weight, ref.P, ref.SIG), rtol=2.5e-7, atol=0)
    assert int((onehot != 0).sum()) == 5 * 4


def test_lif_matches_formula_and_spikingjelly():
    from spikingjelly.activation_based import neuron, surrogate

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, 17, generator=gen) * 1.2
    x1 = x.clone().requires_grad_()
    s, v = lif_multistep(x1, 1.005, 1.0, 5.0)
    # the contract formula in float32 numpy: h = v + (v_reset - v)/tau + I; s = h >= th; v = s ? 0 : h
    xn = x.numpy().astype(np.float32)
    vv = np.zeros((3, 17), np.float32)
    for t in range(40):
        h = vv - vv / np.float32(1.005) + xn[t]
        sp = h >= 1.0
        assert np.array_equal(s[t].detach().numpy().astype(bool), sp)
        vv = np.where(sp, np.float32(0), h)
        assert np.array_equal(v[t].detach().numpy(), vv)
    node = neuron.LIFNode(
        tau=1.005,
        decay_input=False,
        v_threshold=1.0,
        surrogate_function=surrogate.ATan(alpha=5.0),
        detach_reset=True,
        step_mode="m",
        store_v_seq=True,
    )
    x2 = x.clone().requires_grad_()
    s2 = node(x2)
    assert torch.equal(s, s2) and torch.equal(v, node.v_seq)
    gs, gv = torch.randn(s.shape, generator=gen), torch.randn(s.shape, generator=gen)
    ((s * gs).sum() + (v * gv).sum()).backward()
    ((s2 * gs).sum() + (node.v_seq * gv).sum()).backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-6)


def _numpy_forward(model, x: np.ndarray) -> np.ndarray:
    """Hand-written integer-delay forward (float64): the contract semantics with BN folded."""
    k = model.kernel_size
    ext = (k - 1) // 2
    h = x.astype(np.float64)  # (T, C)
    n = len(model.layers)
    for i, layer in enumerate(model.layers):
        w = layer.weight.detach().numpy()[:, :, 0].astype(np.float64)
        d = delays_from_positions(layer.P.detach().numpy()[0, :, :, 0], k)
        t_in = h.shape[0]
        t_out = t_in + ext
        cur = np.zeros((t_out, w.shape[0]))
        for j in range(w.shape[0]):
            for c in range(w.shape[1]):
                for t in range(t_out):
                    src = t - d[j, c]
                    if 0 <= src < t_in:
                        cur[t, j] += w[j, c] * h[src, c]
        if i < n - 1 and model.bn is not None:
            bn = model.bn[i]
            g = bn.weight.detach().numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
            cur = (cur - bn.running_mean.numpy()) * g + bn.bias.detach().numpy()
        tau = model.arch["tau_steps"] if i < n - 1 else model.arch["readout_tau_steps"]
        v = np.zeros(w.shape[0])
        outs = []
        for t in range(t_out):
            hh = v + (0.0 - v) / tau + cur[t]
            if i < n - 1:
                s = hh >= model.arch["v_threshold"]
                v = np.where(s, 0.0, hh)
                outs.append(s.astype(np.float64))
            else:
                v = hh
                outs.append(v.copy())
        h = np.array(outs)
    return h


def test_rounded_forward_equals_hand_computed_integer_delays(rng):
    model = build_model(small_arch(k=7, hidden=(6, 5)), seed=1)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.mul_(3.0)  # make the hidden layers spike
            # include exact .5 positions to exercise round-half-to-even
            layer.P[0, 0, 0, 0] = 0.5
            layer.P[0, 0, 1, 0] = -1.5
        for bn in model.bn:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = rng.poisson(0.8, size=(12, 4)).astype(np.float32)
    with model.rounded(), torch.no_grad():
        out, spikes = model.forward_spikes(torch.from_numpy(x)[None])
    ref = _numpy_forward(model, x)
    assert out.shape == (12 + 3 * 3, 1, 3)
    assert sum(float(s.sum()) for s in spikes) > 5  # the test exercises spiking, not silence
    # float32 model vs float64 hand computation: membrane values agree to float32 rounding,
    # and the spikes of the hidden layers (checked implicitly through the output) are identical
    np.testing.assert_allclose(out[:, 0].numpy(), ref, rtol=1e-5, atol=1e-5)
    # same through forward() in eval mode
    with model.rounded(), torch.no_grad():
        out2 = model(torch.from_numpy(x)[None])
    assert torch.equal(out, out2)


def test_none_model_has_no_delays_and_random_freezes_positions():
    none = build_model(small_arch(model="none", k=1), seed=0)
    assert none.output_steps(12) == 12
    assert all(int(d.max()) == 0 for d in none.delays())
    rnd = build_model(small_arch(model="random"), seed=0)
    assert rnd.position_parameters() == []
    assert float(rnd.layers[0].SIG.abs().max()) == 0.0
    with pytest.raises(ValueError, match="kernel_size"):
        build_model(small_arch(model="none", k=7))
    with pytest.raises(ValueError, match="odd"):
        build_model(small_arch(k=6))


def test_loss_is_cross_entropy_on_summed_softmax():
    v = torch.randn(9, 4, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 2, 1, 1])
    m = torch.softmax(v, 2).sum(0)
    manual = -(torch.log_softmax(m, 1)[torch.arange(4), y]).mean()
    torch.testing.assert_close(loss_fn(v, y), manual)
    assert torch.equal(predict(v), m.argmax(1))


def test_numba_lif_equals_torch_loop_lif():
    from delaykit.train.lif import lif_multistep_torch

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(30, 4, 9, generator=gen) * 1.5
    for dtype in (torch.float32, torch.float64):
        xa = x.to(dtype).clone().requires_grad_()
        xb = x.to(dtype).clone().requires_grad_()
        sa, va = lif_multistep(xa, 1.5, 0.8, 3.0)
        sb, vb = lif_multistep_torch(xb, 1.5, 0.8, 3.0)
        assert torch.equal(sa, sb) and torch.equal(va, vb)
        gs, gv = (
            torch.randn(sa.shape, generator=gen, dtype=dtype),
            torch.randn(sa.shape, generator=gen, dtype=dtype),
        )
        ((sa * gs).sum() + (va * gv).sum()).backward()
        ((sb * gs).sum() + (vb * gv).sum()).backward()
        torch.testing.assert_close(xa.grad, xb.grad)  # same operations in the same order
        # only the spike gradient, or only the membrane gradient
        xa.grad = xb.grad = None
        lif_multistep(xa, 1.5, 0.8)[1].sum().backward()
        lif_multistep_torch(xb, 1.5, 0.8)[1].sum().backward()
        torch.testing.assert_close(xa.grad, xb.grad)


def test_numba_kernels_leave_torch_thread_count_alone():
    # numba's OpenMP layer resets the process's OpenMP thread count when it starts; a run
    # that set torch to 1 thread would silently switch to 2 (and change float results)
    import subprocess
    import sys

    code = (
        "import torch; torch.set_num_threads(1); from delaykit.train.lif import lif_multistep; "
        "lif_multistep(torch.randn(5, 2, 3), 1.5, 1.0); n = torch.get_num_threads(); "
        "assert n == 1, n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
