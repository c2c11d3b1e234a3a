"""The event engine equals the reference; both equal hand-computed answers on tiny networks.

Tolerances: in fixed point the engines must agree bit for bit (spikes, outputs, event counts).
In float modes they sum each step's synaptic input in a different order (event order vs one
matrix product per delay), so sums may differ by a few ulps of float64 (relative ~1e-15, the
float32 mode rounds the same float64 sum once). Outputs are compared with rtol 1e-9 (float64)
and 1e-6 (float32, about 8 float32 ulps), and spikes must be identical: a flip would need a
membrane within ~1e-15 (relative) of its threshold, which continuous random weights hit with
probability ~1e-12 over this whole file.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import SETTINGS, _compare, fixed_cases, float_cases
from hypothesis import given, settings
from netgen import random_frames, random_network

from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, simulate
from delaykit.sim.event import EventNetwork


@settings(max_examples=300, **SETTINGS)
@given(fixed_cases())
def test_event_equals_reference_bit_for_bit_in_fixed_point(case):
    net, frames, arith = case
    _compare(net, frames, arith, rtol=0)


@settings(max_examples=150, **SETTINGS)
@given(float_cases())
def test_event_equals_reference_in_float64(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float64(lat), rtol=1e-9)


@settings(max_examples=150, **SETTINGS)
@given(float_cases())
def test_event_equals_reference_in_float32(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float32(lat), rtol=1e-6)


def test_fixed_point_cases_reach_saturation_and_wrap():
    """The random cases above do exercise the overflow edges (else the property is weak)."""
    from delaykit.arithmetic import reduce_int
    from delaykit.sim.reference import synaptic_input

    hits = {"saturate": 0, "wrap": 0}
    rng = np.random.default_rng(5)
    for _ in range(40):
        net = random_network(rng, (12, 8), integer_bits=8, max_delay=3)
        frames = random_frames(rng, 10, 12, rate=0.9, max_count=5)
        syn, _ = synaptic_input(
            frames.astype(np.int64), net.layers[0].weight.astype(np.int64), net.layers[0].delay, 0, 10
        )
        for mode in hits:
            hits[mode] += int((reduce_int(syn, 8, mode) != syn).sum())
    assert hits["saturate"] > 0 and hits["wrap"] > 0


def test_prepared_network_is_reusable(rng):
    net = random_network(rng, (10, 12, 4), integer_bits=8, max_delay=6)
    arith = Arithmetic.for_target(load_target("loihi2"))
    prepared = EventNetwork(net, arith)
    for _ in range(5):
        frames = random_frames(rng, 15, 10)
        a = prepared.run(frames)
        b = simulate(net, frames, "reference", arith)
        np.testing.assert_array_equal(a.output, b.output)


# ---- hand-computed tiny networks ----------------------------------------------------------


def _net(layers, window=3, readout="membrane_sum"):
    n_in = layers[0].n_in
    return Network(tuple(layers), 0.01, InputSpec(n_in, window, n_in, 1), readout=readout)


def _li(w, d, tau=1.0, ext=0, name="out", bias=None, scale=None):
    w = np.asarray(w)
    return Layer(name, w, np.asarray(d), LI(tau=tau), bias=bias, weight_scale=scale, extend_steps=ext)


ENGINES = ["event", "reference"]


@pytest.mark.parametrize("engine", ENGINES)
def test_delay_zero_is_the_same_step(engine):
    net = _net([_li([[2.0]], [[0]])])
    res = simulate(net, np.array([[1.0], [0.0], [3.0]]), engine)
    assert res.output[:, 0].tolist() == [2.0, 0.0, 6.0]  # tau = 1: the membrane is this step's input
    assert res.events == [2]


@pytest.mark.parametrize("engine", ENGINES)
def test_delay_and_extend_steps(engine):
    frames = np.array([[0.0], [0.0], [1.0]])
    cut = simulate(_net([_li([[2.0]], [[2]])]), frames, engine)
    assert cut.output[:, 0].tolist() == [0.0, 0.0, 0.0] and cut.events == [0]  # arrives at step 4
    ext = simulate(_net([_li([[2.0]], [[2]], ext=2)]), frames, engine)
    assert ext.output[:, 0].tolist() == [0.0, 0.0, 0.0, 0.0, 2.0] and ext.events == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_lif_leak_reset_and_two_layers(engine):
    # hidden LIF: tau 2, threshold 1, inputs 0.6 per step -> h = 0.6, 0.9, 1.05 (spike), 0.6, ...
    hidden = Layer("h", np.array([[0.6]]), np.array([[1]]), LIF(tau=2.0, v_threshold=1.0))
    out = _li([[1.0]], [[0]])
    net = _net([hidden, out], window=6)
    res = simulate(net, np.ones((6, 1)), engine)
    # delay 1: the input of step t arrives at t + 1
    # h: t1 0.6, t2 0.9, t3 1.05 -> spike, reset 0; t4 0.6, t5 0.9
    assert res.spikes[0][:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    assert res.output[:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    assert res.events == [5, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_bias_and_leak_closed_form(engine):
    # LI with bias only: v_t = v_{t-1} (1 - 1/tau) + b -> b * tau * (1 - (1 - 1/tau)^(t+1))
    tau, b = 4.0, 0.5
    net = _net([_li([[0.0]], [[0]], tau=tau, bias=np.array([b]))], window=8)
    res = simulate(net, np.zeros((8, 1)), engine)
    expect = b * tau * (1 - (1 - 1 / tau) ** np.arange(1, 9))
    np.testing.assert_allclose(res.output[:, 0], expect, rtol=1e-12)  # float64 rounding only
    assert res.events == [0]


@pytest.mark.parametrize("engine", ENGINES)
def test_loihi_latency_one_step_per_layer(engine):
    arith = Arithmetic.fixed(
        weight_bits=8,
        membrane_bits=24,
        decay="loihi12",
        threshold_shift=6,
        weight_shift=6,
        layer_latency_steps=1,
    )
    hidden = Layer(
        "h",
        np.array([[3]], np.int32),
        np.array([[0]]),
        LIF(tau=1.0, v_threshold=2),
        weight_scale=np.array([1.0]),
    )
    out = Layer("o", np.array([[5]], np.int32), np.array([[1]]), LI(tau=1e9), weight_scale=np.array([0.5]))
    net = _net([hidden, out], window=3)
    res = simulate(net, np.array([[1], [0], [0]]), engine, arith)
    # input step 0 -> hidden at step 1 (3*64 > 2*64: spike) -> output at 1 + 1 (delay) + 1 (latency) = 3
    assert res.output.shape == (3 + 2, 1) and res.readout_offset == 2
    assert res.spikes[0][:, 0].tolist() == [0, 1, 0, 0]
    # LI with tau 1e9: dv = 0, no leak: 5 << 6 stays; real units 5 * 0.5
    assert res.output[:, 0].tolist() == [0, 0, 0, 2.5, 2.5]
    assert res.events == [1, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_loihi_decay_sequence_rounds_toward_zero(engine):
    arith = Arithmetic.fixed(weight_bits=8, decay="loihi12", weight_shift=6, threshold_shift=6)
    layer = Layer("o", np.array([[-3]], np.int32), np.array([[0]]), LI(tau=2.0), weight_scale=np.array([1.0]))
    net = _net([layer], window=10)
    frames = np.zeros((10, 1))
    frames[0, 0] = 1
    res = simulate(net, frames, engine, arith)
    raw = res.output_raw[:, 0]
    np.testing.assert_array_equal(res.output[:, 0], raw / 64)
    # -192 halves toward zero: ..., -3, -1 (1.5 -> 1), 0 (0.5 -> 0); floor would stick at -1
    assert raw.tolist() == [-192, -96, -48, -24, -12, -6, -3, -1, 0, 0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode,expect", [("saturate", [100, 127, 127, 127]), ("wrap", [100, -56, 44, 44])])
def test_membrane_overflow(engine, mode, expect):
    # no leak, 8-bit membrane: 100, 200 -> 127 or -56, then +100 -> 127 or 44, then no input
    arith = Arithmetic.fixed(weight_bits=8, membrane_bits=8, decay="none", overflow=mode)
    layer = Layer(
        "o", np.array([[100]], np.int32), np.array([[0]]), LI(tau=3.0), weight_scale=np.array([1.0])
    )
    net = _net([layer], window=4)
    res = simulate(net, np.array([[1], [1], [1], [0]]), engine, arith)
    assert res.output[:, 0].tolist() == expect


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode,expect", [("saturate", [31, -31, 20]), ("wrap", [-24, 24, 20])])
def test_current_overflow(engine, mode, expect):
    arith = Arithmetic.fixed(weight_bits=8, current_bits=6, membrane_bits=24, decay="shift", overflow=mode)
    layer = Layer(
        "o",
        np.array([[40, -40, 20]], np.int32),
        np.zeros((1, 3), np.int32),
        LI(tau=1.0),
        weight_scale=np.array([1.0]),
    )
    net = Network((layer,), 0.01, InputSpec(3, 3, 3, 1), readout="membrane_sum")
    frames = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    res = simulate(net, frames, engine, arith)  # tau 1 -> k 0: full decay, v = this step's current
    assert res.output[:, 0].tolist() == expect


@pytest.mark.parametrize("engine", ENGINES)
def test_threshold_compare_ge_and_gt(engine):
    layer = Layer(
        "h",
        np.array([[2]], np.int32),
        np.array([[0]]),
        LIF(tau=1.0, v_threshold=2),
        weight_scale=np.array([1.0]),
    )
    net = _net([layer], window=2, readout="spike_count")
    frames = np.array([[1], [0]])
    ge = simulate(net, frames, engine, Arithmetic.fixed(decay="shift", threshold_compare="ge"))
    gt = simulate(net, frames, engine, Arithmetic.fixed(decay="shift", threshold_compare="gt"))
    f64 = simulate(net, frames, engine)
    assert ge.spikes[0][:, 0].tolist() == [1, 0] == f64.spikes[0][:, 0].tolist()
    assert gt.spikes[0][:, 0].tolist() == [0, 0]


@pytest.mark.parametrize("engine", ENGINES)
def test_integer_network_in_float_mode_reports_real_units(engine):
    layer = _li(np.array([[3, -2]], np.int32), [[0, 1]], scale=np.array([0.25]))
    net = Network((layer,), 0.01, InputSpec(2, 2, 2, 1), readout="membrane_sum")
    res = simulate(net, np.array([[1, 1], [0, 0]]), engine)
    assert res.output[:, 0].tolist() == [0.75, -0.5]


@pytest.mark.parametrize("engine", ENGINES)
def test_event_counts_per_layer(engine):
    # 2 inputs, 3 outputs, one zero weight; input 0 fires twice, input 1 once
    w = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    net = Network((_li(w, np.zeros((3, 2), int)),), 0.01, InputSpec(2, 3, 2, 1), readout="membrane_sum")
    res = simulate(net, np.array([[1, 0], [2, 1], [0, 0]]), engine)
    assert res.events == [2 * 2 + 1 * 3] and res.input_events == 3


def test_readout_rules_and_prediction():
    from delaykit.sim import apply_readout, readout_scores

    y = np.array([[0.0, 1.0, 0.0]] * 4 + [[10.0, 0.0, 0.0]])
    assert apply_readout("membrane_sum", y) == 0  # 10 > 4
    assert apply_readout("membrane_max", y) == 0
    assert apply_readout("softmax_sum", y) == 1  # 4 x 0.58 > 4 x 0.21 + 1.0
    np.testing.assert_allclose(readout_scores("softmax_sum", y).sum(), 5.0)
    with pytest.raises(ValueError, match="rule"):
        readout_scores("vote", y)


def test_input_validation(rng):
    net = random_network(rng, (4, 3), integer_bits=8)
    with pytest.raises(ValueError, match="shape"):
        simulate(net, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least one step"):
        simulate(net, np.zeros((0, 4)))
    with pytest.raises(ValueError, match="integer event counts"):
        simulate(net, np.full((5, 4), 0.5), arithmetic=Arithmetic.fixed(decay="none"))
    for engine in ENGINES:
        bad = np.zeros((5, 4))
        bad[2, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or infinity"):
            simulate(net, bad, engine)
        bad[2, 1] = -np.inf
        with pytest.raises(ValueError, match="NaN or infinity"):
            simulate(net, bad, engine, Arithmetic.fixed(decay="none"))
        with pytest.raises(ValueError, match="integer event counts"):
            simulate(net, -np.ones((5, 4)), engine, Arithmetic.fixed(decay="none"))
    with pytest.raises(ValueError, match="engine"):
        simulate(net, np.zeros((5, 4)), engine="gpu")
    with pytest.raises(ValueError, match="float weights cannot run"):
        simulate(
            random_network(rng, (4, 3)),
            np.zeros((5, 4)),
            arithmetic=Arithmetic.for_target(load_target("loihi2")),
        )
