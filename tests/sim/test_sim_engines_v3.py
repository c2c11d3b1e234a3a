"""Contract version 3 in both engines: synaptic current, reset modes, leak rules.

The property tests run the random networks of ``test_sim_engines`` with random version-3
neurons (per layer: ``tau_syn`` None/1/1.5/2/5/20/1e6 steps, reset value/subtract/none, leak
euler/exact), under the same tolerance rules: fixed point bit for bit (300 networks with
Loihi's decays, 300 with shift decays, 100 without decay), float modes with
identical spikes and outputs within rtol 1e-9 (float64) / 1e-6 (float32). The tiny networks
check the equations of docs/design.md ("One layer", "Fixed point") by hand.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from engine_cases import SETTINGS, _compare, fixed_cases, float_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import random_frames, random_network, with_v3_neurons

from delaykit.network import LI, LIF, InputSpec, Layer, Network, uses_v3_neurons
from delaykit.sim import Arithmetic, simulate


@st.composite
def v3_fixed_cases(draw, decay):
    net, frames, arith = draw(fixed_cases())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    return with_v3_neurons(rng, net), frames, replace(arith, decay=decay)


@st.composite
def v3_float_cases(draw):
    net, frames, lat = draw(float_cases())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    return with_v3_neurons(rng, net), frames, lat


@settings(max_examples=300, **SETTINGS)
@given(v3_fixed_cases("loihi12"))
def test_v3_event_equals_reference_bit_for_bit_in_loihi_fixed_point(case):
    """Loihi 2's CUBA: 12-bit current and voltage decays rounding toward zero."""
    net, frames, arith = case
    _compare(net, frames, arith, rtol=0)


@settings(max_examples=300, **SETTINGS)
@given(v3_fixed_cases("shift"))
def test_v3_event_equals_reference_bit_for_bit_in_shift_fixed_point(case):
    """Xylo-style bit-shift decays of current and membrane."""
    net, frames, arith = case
    _compare(net, frames, arith, rtol=0)


@settings(max_examples=100, **SETTINGS)
@given(v3_fixed_cases("none"))
def test_v3_event_equals_reference_bit_for_bit_without_decay(case):
    net, frames, arith = case
    _compare(net, frames, arith, rtol=0)


@settings(max_examples=300, **SETTINGS)
@given(v3_float_cases())
def test_v3_event_equals_reference_in_float64(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float64(lat), rtol=1e-9)


@settings(max_examples=300, **SETTINGS)
@given(v3_float_cases())
def test_v3_event_equals_reference_in_float32(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float32(lat), rtol=1e-6)


def test_random_v3_networks_use_the_new_state():
    """The generator does produce currents, every reset mode and both leaks (else the
    properties above would be weak)."""
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(60):
        net = with_v3_neurons(rng, random_network(rng, (6, 5, 3)))
        assert net.layers[0].neuron.tau_syn is None or uses_v3_neurons(net)
        for layer in net.layers:
            n = layer.neuron
            seen |= {("cur", n.tau_syn is not None), ("leak", n.leak), ("reset", n.reset)}
    assert {("cur", True), ("leak", "exact"), ("reset", "subtract"), ("reset", "none")} <= seen


# ---- hand-computed tiny networks ----------------------------------------------------------


def _one(neuron, w=1.0, bias=0.0, integer=False):
    wt = np.array([[w]], dtype=np.int32 if integer else np.float64)
    layer = Layer(
        "l",
        wt,
        np.zeros((1, 1), int),
        neuron,
        bias=np.array([bias], dtype=np.int64 if integer else np.float64),
        weight_scale=np.ones(1) if integer else None,
    )
    return Network((layer,), 0.001, InputSpec(1, 8, 1, 1), readout="membrane_sum")


ENGINES = ["reference", "event"]


@pytest.mark.parametrize("engine", ENGINES)
def test_current_feeds_membrane_then_decays(engine):
    # LI, tau huge-ish 1e9 (no leak), tau_syn = 2: c = 1, 0.5, 0.25 ... from one input at t = 0
    net = _one(LI(tau=1e9, tau_syn=2.0), bias=0.1)
    frames = np.zeros((5, 1), np.float32)
    frames[0, 0] = 1
    out = simulate(net, frames, engine).output[:, 0]
    c = np.array([1, 0.5, 0.25, 0.125, 0.0625])
    expect = np.cumsum(c + 0.1)
    np.testing.assert_allclose(out, expect, rtol=1e-7)  # tau = 1e9 leaks 1e-9 per step


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "reset, after", [("value", [0.0, 0.0]), ("subtract", [0.25, 0.5]), ("none", [1.25, 2.5])]
)
def test_reset_modes(engine, reset, after):
    # no leak (tau 1e9), threshold 1, input 1.25 per step: s at t=0 and t=1 in every mode
    net = _one(LIF(tau=1e9, v_threshold=1.0, reset=reset), w=1.25)
    frames = np.ones((2, 1), np.float32)
    res = simulate(net, frames, engine)
    assert res.spikes[0][:, 0].tolist() == [1, 1]
    from delaykit.sim.reference import run_layer

    _, trace, _ = run_layer(net.layers[0], frames.astype(np.float64), Arithmetic.float64())
    np.testing.assert_allclose(trace[:, 0], after, rtol=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_exact_leak_keeps_exp(engine):
    net = _one(LI(tau=4.0, leak="exact"))
    frames = np.zeros((3, 1), np.float32)
    frames[0, 0] = 1
    out = simulate(net, frames, engine).output[:, 0]
    np.testing.assert_allclose(out, [1, math.exp(-0.25), math.exp(-0.5)], rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_loihi_cuba_current_decay_as_lava(engine):
    # Lava PyLifModelBitAcc: u = sign(u*(4096-du-1)) (|u*(4096-du-1)| >> 12) + (a << 6);
    # v = sign(v*(4096-dv)) (|v*(4096-dv)| >> 12) + u + (bias << 6); netx du = iDecay - 1.
    arith = Arithmetic.fixed(weight_bits=8, weight_shift=6, threshold_shift=6, decay="loihi12")
    tau_syn, tau = 5.0, 3.0
    net = _one(LI(tau=tau, tau_syn=tau_syn), w=7, bias=1, integer=True)
    frames = np.zeros((8, 1), np.float32)
    frames[0, 0], frames[3, 0] = 3, 1

    def dec(x, keep):
        p = x * keep
        return int(np.sign(p)) * (abs(p) >> 12)

    keep_u = 4096 - round(4096 / tau_syn)  # iDecay = 819
    keep_v = 4096 - round(4096 / tau)
    u = v = 0
    expect = []
    for t in range(8):
        u = dec(u, keep_u) + (int(frames[t, 0]) * 7 << 6)
        v = dec(v, keep_v) + u + (1 << 6)
        expect.append(v)
    res = simulate(net, frames, engine, arith)
    assert res.output_raw[:, 0].tolist() == expect


@pytest.mark.parametrize("engine", ENGINES)
def test_shift_current_and_subtractive_reset(engine):
    arith = Arithmetic.fixed(weight_bits=8, decay="shift")
    net = _one(LIF(tau=4.0, tau_syn=2.0, v_threshold=10, reset="subtract"), w=9, integer=True)
    frames = np.zeros((6, 1), np.float32)
    frames[0, 0] = 2
    c = v = 0
    spikes = []
    for t in range(6):
        c = (c - (c >> 1)) + int(frames[t, 0]) * 9
        h = v - (v >> 2) + c
        s = h >= 10
        v = h - 10 if s else h
        spikes.append(int(s))
    assert simulate(net, frames, engine, arith).spikes[0][:, 0].tolist() == spikes
    assert sum(spikes) >= 2


def test_tau_syn_one_euler_equals_no_current():
    rng = np.random.default_rng(0)
    net = random_network(rng, (6, 5, 3), integer_bits=8)
    same = with_v3_neurons(rng, net, tau_syns=(1.0,), resets=("value",), leaks=("euler",))
    frames = random_frames(rng, 12, 6)
    for arith in (Arithmetic.fixed(weight_bits=8), Arithmetic.fixed(decay="shift")):  # exact
        a = simulate(net, frames, "reference", arith)
        b = simulate(same, frames, "reference", arith)
        np.testing.assert_array_equal(a.output, b.output)
    # float: the same up to where the bias is rounded in (membrane vs current)
    a = simulate(net, frames, "reference", Arithmetic.float64())
    b = simulate(same, frames, "reference", Arithmetic.float64())
    np.testing.assert_allclose(a.output, b.output, rtol=1e-12)
