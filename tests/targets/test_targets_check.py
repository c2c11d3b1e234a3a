"""hardware_targets.check: one hand-built network per kind of violation; layer/limit/count/worst."""

from __future__ import annotations

import numpy as np
import pytest

from delaykit.hardware_targets import (
    LIMITS,
    apply_overrides,
    check,
    check_report,
    format_fit_report,
    load_target,
)
from delaykit.network import LI, LIF, InputSpec, Layer, Network


def _net(*layers: Layer) -> Network:
    n_in = layers[0].n_in
    return Network(
        layers=tuple(layers),
        dt=0.01,
        input=InputSpec(n_channels=n_in, window_steps=10, n_units=n_in, channel_group=1),
    )


def _layer(name: str, w, d=None, neuron=None, **kw) -> Layer:
    w = np.asarray(w)
    if w.dtype.kind == "f":
        w = w.astype(np.float64)
    d = np.zeros(w.shape, np.int32) if d is None else np.asarray(d)
    return Layer(name=name, weight=w, delay=d, neuron=neuron or LIF(tau=1.005), **kw)


def _generic(**over) -> object:
    return load_target("generic", {k: str(v) for k, v in over.items()})


def _only(violations, limit):
    hits = [v for v in violations if v.limit == limit]
    assert len(hits) == 1, [str(v) for v in violations]
    return hits[0]


W = [[1.0, 2.0, 0.0], [3.0, 0.0, 4.0]]
D = [[0, 3, 5], [2, 1, 0]]  # (0,2) and (1,1) have zero weight: their delays do not exist


def test_fitting_network_has_no_violations_and_check_is_pure():
    net = _net(_layer("a", W, D), _layer("b", [[1.0, -1.0]], [[1, 0]], neuron=LI(tau=2.0)))
    before = [(lay.weight.copy(), lay.delay.copy()) for lay in net.layers]
    assert check(net, load_target("generic")) == []
    assert check(net, load_target("loihi2")) != []  # float weights on an integer chip
    for (w, d), lay in zip(before, net.layers, strict=True):
        assert np.array_equal(w, lay.weight) and np.array_equal(d, lay.delay)
    assert "fits" in format_fit_report(check_report(net, load_target("generic")))


def test_delay_native():
    v = _only(check(_net(_layer("a", W, D)), _generic(delay_native="false")), "delay_native")
    assert (v.layer, v.count, v.worst, v.allowed) == ("a", 2, 3, 0)  # (0,1) d3 and (1,0) d2
    assert "realize" in v.detail


def test_delay_max_counts_only_real_synapses():
    v = _only(check(_net(_layer("a", W, D)), _generic(delay_max_steps=2)), "delay_max")
    assert (v.layer, v.count, v.worst, v.allowed, v.excess) == ("a", 1, 3, 2, 1)


def test_delay_min():
    v = _only(check(_net(_layer("a", W, D)), _generic(delay_min_steps=1)), "delay_min")
    assert (v.count, v.worst, v.allowed) == (2, 0, 1)  # (0,0) and (1,2) have delay 0


def test_delay_per_axon():
    w = np.ones((3, 3))
    w[2, 1] = 0.0
    d = [[0, 1, 0], [2, 1, 3], [0, 9, 3]]  # column 0: {0,2}; column 1: {1} (9 has no weight); column 2: {0,3}
    t = _generic(delay_per_synapse="false")
    assert t.delay_per_axon
    v = _only(check(_net(_layer("a", w, d)), t), "delay_per_axon")
    assert (v.layer, v.count, v.worst, v.allowed) == ("a", 2, 2, 1)
    assert "2 extra axons" in v.detail


def test_weight_float_on_integer_target():
    v = _only(check(_net(_layer("a", W, D)), _generic(weight_bits=8)), "weight_float")
    assert (v.count, v.allowed) == (4, 8)


def test_weight_bits():
    w = np.array([[127, -128, 200], [-300, 0, 5]], np.int16)
    lay = _layer(
        "a",
        w,
        weight_scale=np.ones(2),
        bias=np.zeros(2, np.int64),
        neuron=LIF(tau=1.005, v_threshold=np.array([10.0, 10.0])),
    )
    v = _only(check(_net(lay), _generic(weight_bits=8)), "weight_bits")
    assert (v.layer, v.count, v.worst, v.allowed) == ("a", 2, 10, 8)


def test_weight_bits_with_shared_exponent():
    t = load_target("loihi2")  # 8-bit mantissa + per-layer exponent
    ok = np.array([[4, 8, 400]], np.int32)  # = [1, 2, 100] * 2**2
    bad = np.array([[4, 8, 600]], np.int32)  # 600 >> 2 = 150 > 127
    kw = dict(weight_scale=np.ones(1), bias=np.zeros(1, np.int64), neuron=LIF(tau=1.005, v_threshold=5.0))
    assert [v.limit for v in check(_net(_layer("a", ok, **kw)), t)] == []
    v = _only(check(_net(_layer("a", bad, **kw)), t), "weight_bits")
    assert (v.count, v.worst, v.allowed) == (1, 9, 8)
    assert "2^2" in v.detail


def test_weight_levels():
    w = [[1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0]]
    v = _only(check(_net(_layer("a", w)), _generic(weight_levels_per_neuron=2)), "weight_levels")
    assert (v.count, v.worst, v.allowed) == (1, 3, 2)


def test_threshold_and_bias_bits():
    w = np.ones((4, 2), np.int8)
    lay = _layer(
        "a",
        w,
        weight_scale=np.ones(4),
        bias=np.array([7, -8, 9, -20]),
        neuron=LIF(tau=1.005, v_threshold=np.array([10.0, 20.0, 30.0, 15.0])),
    )
    vs = check(_net(lay), _generic(threshold_bits=4, bias_bits=4))
    th = _only(vs, "threshold_bits")
    assert (th.count, th.worst, th.allowed) == (2, 30.0, 15)
    b = _only(vs, "bias_bits")
    assert (b.count, b.worst, b.allowed) == (2, 6, 4)  # -20 needs 6 signed bits


def test_fan_in_and_fan_out():
    w = [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # fan-in 3, 2, 1; fan-out 2, 2, 2
    vs = check(_net(_layer("a", w)), _generic(fan_in_max=2, fan_out_max=1))
    fi = _only(vs, "fan_in")
    assert (fi.count, fi.worst, fi.allowed) == (1, 3, 2)
    fo = _only(vs, "fan_out")
    assert (fo.count, fo.worst, fo.allowed) == (3, 2, 1)


def test_chip_totals_inputs_outputs_neurons_synapses():
    net = _net(_layer("a", np.ones((4, 3))), _layer("b", np.ones((2, 4)), neuron=LI(tau=1.005)))
    vs = check(net, _generic(input_channels_max=2, output_neurons_max=1, neurons_max=5, synapses_max=15))
    assert (_only(vs, "input_channels").layer, _only(vs, "input_channels").count) == ("a", 1)
    assert (_only(vs, "output_neurons").layer, _only(vs, "output_neurons").count) == ("b", 1)
    n = _only(vs, "neurons")
    assert (n.layer, n.count, n.worst, n.allowed) == (None, 1, 6, 5)
    s = _only(vs, "synapses")
    assert (s.count, s.worst, s.allowed) == (5, 20, 15)


def test_neuron_reset_reports_spiking_layers_only():
    net = _net(_layer("a", np.ones((4, 3))), _layer("b", np.ones((2, 4)), neuron=LI(tau=1.005)))
    v = _only(check(net, _generic(neuron_reset="subtractive")), "neuron_reset")
    assert (v.layer, v.count) == ("a", 4)


def test_cores_from_the_mapping():
    net = _net(_layer("a", np.ones((3, 3))), _layer("b", np.ones((2, 3)), neuron=LI(tau=1.005)))
    # 5 neurons, 2 per core -> a[0:2] | a[2:3] + b[0:1] | b[1:2] = 3 cores
    v = _only(check(net, _generic(neurons_per_core=2, cores=1)), "cores")
    assert (v.count, v.worst, v.allowed) == (2, 3, 1)


def test_synapse_memory():
    d = np.tile(np.arange(4), (4, 1))  # delays 0..3: a 2-bit delay field per synapse
    net = _net(_layer("a", np.ones((4, 4)), d))
    # float weights: 32 bits; dense 16 x (32 + 2) = 544 bits = 68 B < sparse 16 x (32 + 2 + 2)
    v = _only(check(net, _generic(synapse_memory_bytes=10)), "synapse_memory")
    assert (v.worst, v.allowed, v.count) == (68, 10, 58)


def test_every_reported_limit_is_documented_and_serializable(rng):
    import json

    from netgen import random_network

    net = random_network(rng, (20, 16, 8, 4), max_delay=70, integer_bits=10)
    seen = set()
    for name in ("loihi2", "truenorth", "xylo", "dynapse2", "spinnaker2"):
        for v in check(net, load_target(name)):
            assert v.limit in LIMITS
            assert v.count > 0
            json.dumps(v.to_dict())
            assert v.limit in str(v)
            seen.add(v.limit)
    assert {
        "delay_max",
        "delay_per_axon",
        "weight_bits",
        "weight_levels",
        "delay_native",
        "input_channels",
        "neuron_reset",
    } <= seen


def test_report_table_lists_each_violation():
    net = _net(_layer("a", W, D))
    t = apply_overrides(load_target("generic"), {"delay_max_steps": "1", "fan_in_max": "1"})
    report = check_report(net, t)
    text = format_fit_report(report, "m.dkn")
    assert "does NOT fit" in text and text.count("\na ") == len(report.violations) == 2


@pytest.mark.parametrize("name", ["loihi2", "spinnaker1"])
def test_reference_shd_model_fits_delay_capable_chips(name):
    from delaykit.hardware_targets.report import reference_shd_network

    assert check(reference_shd_network(), load_target(name)) == []
