"""convert: n-bit quantization, target fitting (delay ranges, clipping) and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.convert.quantize import fit_delays, prepare_for_target, quantize_layer, quantize_network
from delaykit.convert.report import build_report, format_conversion_report, plot_report, write_report
from delaykit.errors import DelaykitError
from delaykit.hardware_targets import load_target
from delaykit.sim import Arithmetic, simulate


@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("bits", [4, 8, 12])
def test_quantize_layer_error_bound_and_units(rng, bits, per_neuron):
    net = random_network(rng, (30, 20, 5), max_delay=3)
    layer = net.layers[0]
    q, stats = quantize_layer(layer, bits, per_neuron)
    qmax = 2 ** (bits - 1) - 1
    assert q.is_integer and np.abs(q.weight).max() == qmax  # the largest weight uses the full range
    s = q.weight_scale
    if per_neuron:
        np.testing.assert_allclose(s, np.abs(layer.weight).max(axis=1) / qmax)
        assert (np.abs(q.weight).max(axis=1) == qmax).all()
    else:
        assert np.unique(s).size == 1
    err = q.real_weight() - layer.weight
    assert (np.abs(err) <= s[:, None] / 2 + 1e-12).all()  # round to nearest
    assert stats["weight_max_abs_error"] == pytest.approx(np.abs(err).max())
    # bias and threshold are in the neuron's weight units, rounded to nearest
    assert (np.abs(q.bias * s - layer.bias) <= s / 2 + 1e-12).all()
    th = np.broadcast_to(np.asarray(q.neuron.v_threshold), (layer.n_out,))
    assert (np.abs(th * s - 1.0) <= s / 2 + 1e-12).all() and (th >= 1).all()


def test_quantized_network_tracks_float_network(rng):
    # 16-bit weights: the quantized network's readout traces stay within a few quantization
    # steps of the float one (real units), and both run in the simulator's float mode.
    net = random_network(rng, (16, 12, 4), max_delay=4, extend_steps=2)
    q, _ = quantize_network(net, 16, per_neuron=True)
    frames = random_frames(rng, 20, 16)
    a = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float64())
    b = simulate(q, frames, engine="reference", arithmetic=Arithmetic.float64())
    np.testing.assert_array_equal(a.spikes[0], b.spikes[0])
    assert a.spikes[0].sum() > 10
    assert np.abs(a.output - b.output).max() < 1e-3
    assert q.provenance["quantization"]["bits"] == 16


def test_loihi2_target_takes_8_bits_and_refuses_long_delays(rng):
    t = load_target("loihi2")
    net = random_network(rng, (10, 8, 4), max_delay=70)
    with pytest.raises(DelaykitError, match=r"outside loihi2's range 0\.\.62.*clip=True"):
        prepare_for_target(net, target=t)
    clipped, info = prepare_for_target(net, target=t, clip=True)
    n_over = sum(int(((lay.delay > 62) & (lay.weight != 0)).sum()) for lay in net.layers)
    assert n_over > 0
    assert sum(r["clipped"] for r in info["delays"]) == n_over
    assert max(lay.max_delay for lay in clipped.layers) == 62
    assert all(lay.is_integer and np.abs(lay.weight).max() <= 127 for lay in clipped.layers)
    assert info["quantization"][0]["bits"] == 8
    assert clipped.provenance["clipped_delays"]["fc0"] == info["delays"][0]["clipped"]
    assert clipped.provenance["target"] == "loihi2"
    assert isinstance(info["violations"], list)


def test_target_without_native_delays_refuses_any_delay(rng):
    net = random_network(rng, (10, 8, 4), max_delay=3)
    with pytest.raises(DelaykitError, match="xylo"):
        prepare_for_target(net, target="xylo")
    no_delay = random_network(rng, (10, 8, 4), max_delay=0)
    _, info = prepare_for_target(no_delay, target="xylo")
    assert all(r["out_of_range"] == 0 for r in info["delays"])


def test_fit_delays_ignores_zero_weight_synapses(rng):
    net = random_network(rng, (6, 4), max_delay=9)
    lay = net.layers[0]
    w = np.where(lay.delay > 5, 0.0, lay.weight)
    net = type(net)(
        layers=(type(lay)(name=lay.name, weight=w, delay=lay.delay, neuron=lay.neuron),),
        dt=net.dt,
        input=net.input,
        readout="membrane_sum",
    )
    out, recs = fit_delays(net, 0, 5, clip=False)
    assert recs[0]["out_of_range"] == 0 and out is net


def test_report_text_json_png(tmp_path, rng):
    net = random_network(rng, (10, 8, 4), max_delay=70)
    deployed, info = prepare_for_target(net, target="loihi2", clip=True)
    rep = build_report(deployed, info, float_net=net)
    lay = deployed.layers[0]
    np.testing.assert_array_equal(
        rep["layers"][0]["delay_histogram"], np.bincount(lay.delay[lay.weight != 0])
    )
    assert rep["total_clipped_delays"] == sum(r["clipped"] for r in info["delays"]) > 0
    assert rep["target"] == "loihi2" and rep["quantized"]
    assert sum(rep["layers"][0]["weight_error_histogram"]["counts"]) == lay.weight.size
    text = format_conversion_report(rep)
    assert "CLIPPED" in text and "8-bit per-layer" in text and "fc0" in text
    write_report(rep, tmp_path / "r.json", tmp_path / "r.txt")
    assert json.loads((tmp_path / "r.json").read_text())["layers"][1]["name"] == "fc1"
    assert (tmp_path / "r.txt").read_text().startswith("conversion report")
    plot_report(rep, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bits_out_of_range_and_double_quantization(rng):
    net = random_network(rng, (6, 4), max_delay=2)
    with pytest.raises(DelaykitError, match="bits=1: must be between 2 and 32"):
        quantize_network(net, 1)
    q, _ = quantize_network(net, 8)
    with pytest.raises(DelaykitError, match="already quantized"):
        prepare_for_target(q, bits=8)


def test_fixed_point_parameters_for_loihi(rng):
    from delaykit.arithmetic import loihi_decay_constant

    net = random_network(rng, (10, 8, 4), max_delay=5, tau=2.0)
    q, info = prepare_for_target(net, target="loihi2")
    fp = info["fixed_point"]
    assert [r["layer"] for r in fp] == ["fc0", "fc1"]
    assert fp[0]["loihi_vDecay"] == loihi_decay_constant(2.0) == 2048
    assert fp[0]["decay_param"] == 4096 - 2048
    th = int(np.asarray(q.layers[0].neuron.v_threshold))
    assert fp[0]["threshold_int"] == [th, th] and fp[0]["threshold_membrane_units"] == [th << 6, th << 6]
    assert "threshold_int" not in fp[1]  # LI readout
    assert "vDecay 2048" in format_conversion_report(build_report(q, info))
    _, info_float = prepare_for_target(net, target="generic")
    assert info_float["fixed_point"] == []
