"""The spectral delay convolution is the dense one (float rounding apart); auto picks per layer;
bf16 only where the CPU has it.

Tolerances: in float64 the two paths agree to 1e-11 of the largest value (the same function);
in float32 each output is a sum of ``C K`` products (dense) or goes through two length-N real
DFTs (spectral), so both carry rounding errors of a few ``eps * sqrt(N C)`` relative to the
largest magnitude: we allow ``2e-5`` of the largest value (float32 eps = 1.2e-7, N C ~ 3e4).
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from delaykit.train import cpu  # noqa: E402
from delaykit.train.dcls_kernel import dcls_kernel  # noqa: E402
from delaykit.train.delay_conv import choose, delay_conv, dense_conv, op_counts, spectral_conv  # noqa: E402

F32_TOL = 2e-5
F64_TOL = 1e-11


def _layer(c_in: int, c_out: int, k: int, dtype: torch.dtype, sig: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(c_out, c_in, 1, generator=g, dtype=dtype) - 0.5).requires_grad_(True)
    p = ((torch.rand(1, c_out, c_in, 1, generator=g, dtype=dtype) - 0.5) * (k - 1)).requires_grad_(True)
    s = torch.full((1, c_out, c_in, 1), sig, dtype=dtype)
    return w, p, s


def _run(path, h, w, p, s, k, gy):
    """Output and the gradients of sum(y * gy) w.r.t. the input, W and P (through the DCLS kernel)."""
    h = h.detach().clone().requires_grad_(True)
    w.grad = p.grad = None
    y = path(h, dcls_kernel(w, p, s, k, "gauss", fast=False))
    (y * gy).sum().backward()
    gp = p.grad.clone() if p.grad is not None else torch.zeros_like(p)  # K = 1: no positions
    return [y.detach(), h.grad, w.grad.clone(), gp]


@pytest.mark.parametrize("dtype, tol", [(torch.float64, F64_TOL), (torch.float32, F32_TOL)])
@pytest.mark.parametrize(
    "b, t, c_in, c_out, k, sig",
    [(4, 30, 12, 9, 25, 12.0), (3, 17, 7, 5, 7, 0.23), (1, 1, 3, 4, 5, 0.0), (2, 40, 16, 16, 1, 0.0)],
)
def test_spectral_equals_dense_forward_and_gradients(b, t, c_in, c_out, k, sig, dtype, tol):
    g = torch.Generator().manual_seed(1)
    h = torch.poisson(torch.full((b, t, c_in), 0.5, dtype=dtype), generator=g)  # counts, like SHD frames
    w, p, s = _layer(c_in, c_out, k, dtype, sig)
    gy = torch.randn(b, t + (k - 1) // 2, c_out, generator=g, dtype=dtype)
    ref = _run(dense_conv, h, w, p, s, k, gy)
    got = _run(spectral_conv, h, w, p, s, k, gy)
    for name, a, r in zip(("y", "d/dinput", "d/dW", "d/dP"), got, ref):
        assert a.shape == r.shape, name
        scale = float(r.abs().max()) or 1.0
        assert float((a - r).abs().max()) <= tol * scale, (name, float((a - r).abs().max()), scale)


def test_spectral_delays_a_spike_by_its_integer_delay():
    # one-hot kernel: a spike at step 3 through delay d arrives at step 3 + d (the contract)
    k, t = 25, 10
    h = torch.zeros(1, t, 1, dtype=torch.float64)
    h[0, 3, 0] = 1.0
    for d in (0, 1, 12, 24):
        kern = torch.zeros(1, 1, k, dtype=torch.float64)
        kern[0, 0, k - 1 - d] = 2.5
        y = spectral_conv(h, kern)[0, :, 0]
        expect = torch.zeros(t + (k - 1) // 2, dtype=torch.float64)
        if 3 + d < len(expect):
            expect[3 + d] = 2.5
        assert torch.allclose(y, expect, atol=1e-12), d


def test_auto_picks_spectral_for_the_paper_layers_and_dense_for_short_kernels():
    for c_in, c_out, t in ((140, 256, 100), (256, 256, 112), (256, 20, 124)):
        assert choose("auto", 64, t, c_in, c_out, 25) == "spectral"
        dense, spectral = op_counts(64, t, c_in, c_out, 25)
        assert dense > 2 * spectral
    assert choose("auto", 64, 100, 256, 256, 1) == "dense"
    assert choose("auto", 64, 100, 256, 256, 3) == "dense"
    assert choose("dense", 64, 100, 256, 256, 25) == "dense"
    assert choose("spectral", 64, 100, 256, 256, 3) == "spectral"
    with pytest.raises(ValueError, match="mode"):
        choose("fast", 64, 100, 256, 256, 25)
    # bf16 always runs dense (autocast conv); equal to dense_conv with bf16
    h = torch.rand(2, 20, 8)
    kern = torch.rand(6, 8, 25)
    assert torch.equal(delay_conv(h, kern, "spectral", bf16=True), dense_conv(h, kern, bf16=True))


@pytest.fixture(scope="module")
def delay_data(tmp_path_factory):
    from delaykit.data.synth import write_delay_task_pair

    d = tmp_path_factory.mktemp("delay")
    write_delay_task_pair(d, n_train=128, n_test=64, seed=5)
    return d


def test_training_with_the_spectral_path_gives_the_same_model(delay_data, tmp_path):
    # The delay-task network (2 x 64, K = 25: auto picks spectral for every layer), 2 epochs x 4
    # steps; the runs differ only in float rounding, which can flip a spike sitting on the
    # threshold, so the weights agree to a tolerance rather than bit for bit.
    from delaykit.train import config as C
    from delaykit.train.run import train_model

    results = {}
    for mode in ("dense", "auto"):
        cfg = C.load_config(
            "delay-task",
            [f"train.delay_conv={mode}", "train.epochs=2", "train.batch_size=32", "train.plots=false"],
        )
        path = train_model(cfg, delay_data, tmp_path / mode, progress=False, log=lambda s: None)
        results[mode] = torch.load(path, weights_only=True)
    a, b = results["dense"], results["auto"]
    for key, ref in a["state_dict"].items():
        if ref.is_floating_point():
            diff = float((b["state_dict"][key] - ref).abs().max())
            assert diff <= 1e-3 * max(float(ref.abs().max()), 1.0), (key, diff)
    acc = {m: r["metrics"] for m, r in results.items()}
    for key in ("test_acc_float", "test_acc_rounded"):
        assert abs(acc["dense"][key] - acc["auto"][key]) <= 100.0 / 64 + 1e-9, key  # one test sample


def test_bf16_request_without_native_bf16_warns_once_and_runs_fp32(monkeypatch):
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        assert cpu.resolve_bf16(True) is False
        assert cpu.resolve_bf16(False) is False
    assert len(got) == 1 and "no native bf16" in str(got[0].message) and "float32" in str(got[0].message)
    monkeypatch.setattr(cpu, "native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cpu.resolve_bf16(True) is True
        assert cpu.resolve_bf16(False) is False


def test_native_bf16_probe_reads_torch_and_cpuinfo(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: {"avx2", "fma"})
    assert cpu.native_bf16() is False
    monkeypatch.setattr(cpu, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert cpu.native_bf16() is True
    monkeypatch.setattr(cpu, "cpu_flags", lambda: set())
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu.native_bf16() is True


def test_passive_wait_env_keeps_what_the_user_set():
    assert cpu.passive_wait_env({}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert cpu.passive_wait_env({"OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_keep_freed_memory_is_safe_to_call_twice():
    first = cpu.keep_freed_memory()
    assert isinstance(first, bool) and cpu.keep_freed_memory() == first
    assert torch.ones(3 << 20).sum() == 3 << 20  # allocations still work (12 MiB)
