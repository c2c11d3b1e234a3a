"""convert: reading checkpoints, building the float network, and its fidelity to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("DCLS")
pytest.importorskip("spikingjelly")

from convert_fixtures import make_delaykit_checkpoint, make_reference_state_dict  # noqa: E402
from netgen import random_frames  # noqa: E402

from delaykit.convert.build import build_network, convert_checkpoint, fold_batchnorm  # noqa: E402
from delaykit.convert.checkpoint import ReferenceOptions, load_checkpoint  # noqa: E402
from delaykit.convert.torch_eval import RoundedDelayModel, softmax_sum_prediction  # noqa: E402
from delaykit.errors import DelaykitError, FormatError  # noqa: E402
from delaykit.network import LI, LIF, load_network, save_network  # noqa: E402
from delaykit.sim import Arithmetic, simulate  # noqa: E402

# Float tolerance of membrane traces, deployed (float64, BN folded) vs PyTorch (float32,
# conv then BN): each current is a sum of <= n_in products of float32 values (relative
# rounding ~6e-8 each) passed through BN; with |I| up to ~10 and the LIF keeping only
# 0.5% of v per step, the expected difference is ~1e-6 absolute. 1e-4 leaves margin while
# still catching any wrong delay, weight or bias (those move traces by >= 1e-2).
ATOL = 1e-4


def test_delaykit_checkpoint_loads_and_builds(tmp_path, rng):
    p = make_delaykit_checkpoint(tmp_path / "model.pt", rng, (20, 16, 12, 5), k=9)
    ck = load_checkpoint(p)
    assert ck.kind == "delaykit" and ck.kernel_size == 9 and ck.sizes == [20, 16, 12, 5]
    net = build_network(ck)
    assert [lay.name for lay in net.layers] == ["fc0", "fc1", "readout"]
    assert all(lay.extend_steps == 4 for lay in net.layers)
    assert isinstance(net.layers[0].neuron, LIF) and isinstance(net.layers[-1].neuron, LI)
    assert net.dt == 0.01 and net.input.window_steps == 30 and net.readout == "softmax_sum"
    assert net.metadata["metrics"]["test_acc_rounded"] == 90.25
    assert net.metadata["class_names"][0] == "class0"
    assert len(net.provenance["source_sha256"]) == 64
    # delays: exactly the reference rule, all in 0..K-1, and spread over the range
    d = net.layers[0].delay
    assert d.min() == 0 and d.max() == 8
    sd = torch.load(p, weights_only=True)["state_dict"]
    P = sd["layers.0.P"][0, :, :, 0]
    expect = (9 // 2 - torch.round(torch.clamp(P, -4, 4))).to(torch.int32).numpy()
    np.testing.assert_array_equal(d, expect)


def test_batchnorm_folding_matches_formula(tmp_path, rng):
    p = make_delaykit_checkpoint(tmp_path / "model.pt", rng, (6, 5, 3), k=5)
    ck = load_checkpoint(p)
    lp = ck.layers[0]
    w, b = fold_batchnorm(lp)
    g = lp.bn["gamma"] / np.sqrt(lp.bn["var"] + 1e-5)
    np.testing.assert_allclose(w, lp.weight * g[:, None], rtol=1e-12)
    np.testing.assert_allclose(b, lp.bn["beta"] - lp.bn["mean"] * g, rtol=1e-12)
    # readout has no BN
    w2, b2 = fold_batchnorm(ck.layers[1])
    np.testing.assert_array_equal(w2, ck.layers[1].weight)
    assert not b2.any()


def test_reference_state_dict_infers_architecture(tmp_path, rng):
    p = make_reference_state_dict(tmp_path / "ref.pt", rng, (30, 16, 16, 4), k=25)
    ck = load_checkpoint(p)
    assert ck.kind == "reference" and ck.sizes == [30, 16, 16, 4]
    assert ck.kernel_size == 25  # 250 ms // 10 ms, made odd
    assert ck.dt == pytest.approx(0.01)
    assert ck.layers[0].tau_steps == pytest.approx(1.005)
    assert ck.layers[0].bn is not None and ck.layers[-1].bn is None
    assert ck.layers[-1].v_threshold is None  # threshold 1e9: non-spiking readout
    net = build_network(ck)
    assert all(lay.extend_steps == 12 for lay in net.layers)
    assert net.input.n_channels == 30 and net.input.channel_group == 5 and net.input.n_units == 150
    assert net.input.window_steps == 140
    assert net.provenance["source_kind"] == "reference"
    # flags change what the file cannot say
    ck2 = load_checkpoint(p, options=ReferenceOptions(tau_ms=20.0, dt_ms=5.0, kernel_size=51))
    assert ck2.kernel_size == 51 and ck2.dt == pytest.approx(0.005)
    assert ck2.layers[0].tau_steps == pytest.approx(4.0)


def test_reference_wrapped_and_prefixed_state_dict(tmp_path, rng):
    p = make_reference_state_dict(tmp_path / "ref.pt", rng, (10, 8, 3), k=7)
    sd = torch.load(p, weights_only=True)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, wrapped)
    ck = load_checkpoint(wrapped, options=ReferenceOptions(kernel_size=7))
    assert ck.sizes == [10, 8, 3]


def test_kernel_size_too_small_for_positions_is_refused(tmp_path, rng):
    p = make_reference_state_dict(tmp_path / "ref.pt", rng, (10, 8, 3), k=25)
    with pytest.raises(DelaykitError, match="kernel_size=9 allows at most 4"):
        load_checkpoint(p, options=ReferenceOptions(kernel_size=9))


def test_not_a_checkpoint_errors(tmp_path, rng):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"definitely not a torch file")
    with pytest.raises(FormatError, match="x.pt"):
        load_checkpoint(bad)
    with pytest.raises(DelaykitError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    lst = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], lst)
    with pytest.raises(FormatError, match="not a checkpoint dict"):
        load_checkpoint(lst)
    other = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}, other)
    with pytest.raises(FormatError, match="not part of a supported network"):
        load_checkpoint(other)
    nodcls = tmp_path / "nodcls.pt"
    torch.save({"a.running_mean": torch.zeros(3)}, nodcls)
    with pytest.raises(FormatError, match="no Dcls1d layer"):
        load_checkpoint(nodcls)


def test_pickled_module_fails_weights_only_with_advice(tmp_path):
    m = torch.nn.Linear(3, 2)
    p = tmp_path / "module.pt"
    torch.save(m, p)
    with pytest.raises(FormatError, match=r"weights_only=True.*state_dict\(\)"):
        load_checkpoint(p)


def test_incomplete_delaykit_checkpoint_names_missing_field(tmp_path, rng):
    p = make_delaykit_checkpoint(tmp_path / "m.pt", rng, (6, 5, 3), k=5)
    ck = torch.load(p, weights_only=True)
    del ck["state_dict"]["bn.0.running_var"]
    torch.save(ck, p)
    with pytest.raises(FormatError, match="bn.0.running_var"):
        load_checkpoint(p)
    ck["state_dict"]["bn.0.running_var"] = torch.ones(5)
    ck["state_dict"]["layers.1.weight"] = torch.zeros(3, 4, 1)
    torch.save(ck, p)
    with pytest.raises(FormatError, match=r"layers.1.weight.*\(3, 5\)"):
        load_checkpoint(p)
    ck["format_version"] = 99
    torch.save(ck, p)
    with pytest.raises(FormatError, match="format_version 99"):
        load_checkpoint(p)


def test_mismatched_chain_in_reference_dict(tmp_path, rng):
    p = make_reference_state_dict(tmp_path / "ref.pt", rng, (10, 8, 3), k=7)
    sd = torch.load(p, weights_only=True)
    last = max(k for k in sd if k.endswith(".P"))
    pre = last[: -len(".P")]
    sd[f"{pre}.weight"] = torch.zeros(3, 6, 1)
    sd[f"{pre}.P"] = torch.zeros(1, 3, 6, 1)
    sd[f"{pre}.SIG"] = torch.zeros(1, 3, 6, 1)
    torch.save(sd, p)
    with pytest.raises(FormatError, match="6 inputs but the previous layer has 8"):
        load_checkpoint(p, options=ReferenceOptions(kernel_size=7))


def test_delaykit_checkpoint_rejects_reference_flags(tmp_path, rng):
    p = make_delaykit_checkpoint(tmp_path / "m.pt", rng, (6, 5, 3), k=5)
    with pytest.raises(DelaykitError, match="reference-code state dicts only"):
        load_checkpoint(p, options=ReferenceOptions(tau_ms=20))
    with pytest.raises(DelaykitError, match="drop reference_code=True"):
        load_checkpoint(p, reference_code=True)


def _fidelity(net, model, frames_list):
    """Deployed network (simulator's time-stepped reference, float64) vs PyTorch with rounded
    delays; returns worst |dv| of the readout, #same predictions and #hidden spikes."""
    worst, agree, hidden_spikes = 0.0, 0, 0
    for frames in frames_list:
        ref = model(frames)
        ours = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float64())
        torch_out = ref["output"][:, 0, :]
        assert ours.output.shape == torch_out.shape
        worst = max(worst, float(np.abs(ours.output - torch_out).max()))
        for s_ours, s_t in zip(ours.spikes, ref["spikes"], strict=True):
            np.testing.assert_array_equal(s_ours, s_t[:, 0, :])
            hidden_spikes += int(s_ours.sum())
        agree += int(softmax_sum_prediction(ref["output"])[0] == ours.prediction)
    return worst, agree, hidden_spikes


@pytest.mark.parametrize("kind", ["delaykit", "reference"])
def test_float_network_reproduces_pytorch_rounded_delays(tmp_path, rng, kind):
    sizes = (24, 20, 16, 6)
    if kind == "delaykit":
        p = make_delaykit_checkpoint(tmp_path / "m.pt", rng, sizes, k=9)
    else:
        p = make_reference_state_dict(tmp_path / "m.pt", rng, sizes, k=25)
    ck = load_checkpoint(p)
    net = build_network(ck)
    model = RoundedDelayModel(ck)
    frames = [random_frames(rng, 30, sizes[0], rate=0.3) for _ in range(12)]
    worst, agree, hidden_spikes = _fidelity(net, model, frames)
    assert hidden_spikes > 100, "inputs too weak: the comparison would prove nothing"
    assert worst < ATOL
    assert agree == len(frames)


def test_dkn_roundtrip_and_convert_checkpoint_api(tmp_path, rng):
    p = make_delaykit_checkpoint(tmp_path / "m.pt", rng, (8, 6, 3), k=5)
    net = convert_checkpoint(p)
    save_network(net, tmp_path / "m.dkn")
    again = convert_checkpoint(tmp_path / "m.dkn")
    for a, b in zip(net.layers, again.layers, strict=False):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.delay, b.delay)
    assert load_network(tmp_path / "m.dkn").provenance == net.provenance
    q = convert_checkpoint(p, bits=8)
    assert all(lay.is_integer for lay in q.layers)
