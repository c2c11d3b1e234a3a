"""Relay neurons and input taps (format v2) in both simulator engines.

The reference steps every relay copy literally (``y[t, n + k] = y[t - 1, relay_src[k]]``) and
appends the tap columns to the frames; the event engine folds both into delayed synapses of
their root neuron (channel). Fixed point: the engines must agree bit for bit (spikes, outputs,
event counts). Float modes: the tolerances of ``test_sim_engines`` (rtol 1e-9 for float64, 1e-6
for float32; the engines sum a step's input in different orders), spikes identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import SETTINGS, _compare, fixed_cases, float_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import random_frames, random_network, with_relays

from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, simulate

ENGINES = ["event", "reference"]


def _draw_relays(draw, net):
    """``net`` with drawn relays and input taps (relays_per_layer, taps, lags, relay delays)."""
    return with_relays(
        np.random.default_rng(draw(st.integers(0, 2**31 - 1))),
        net,
        relays_per_layer=draw(st.integers(0, 12)),
        n_taps=draw(st.integers(0, 6)),
        max_tap_lag=draw(st.sampled_from([1, 3, 30])),
        relay_delays=draw(st.booleans()),
    )


@st.composite
def relay_fixed_cases(draw):
    net, frames, arith = draw(fixed_cases())
    return _draw_relays(draw, net), frames, arith


@st.composite
def relay_float_cases(draw):
    net, frames, lat = draw(float_cases())
    return _draw_relays(draw, net), frames, lat


@settings(max_examples=150, **SETTINGS)
@given(relay_fixed_cases())
def test_relays_event_equals_reference_bit_for_bit_in_fixed_point(case):
    net, frames, arith = case
    _compare(net, frames, arith, rtol=0)


@settings(max_examples=60, **SETTINGS)
@given(relay_float_cases())
def test_relays_event_equals_reference_in_float64(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float64(lat), rtol=1e-9)


@settings(max_examples=40, **SETTINGS)
@given(relay_float_cases())
def test_relays_event_equals_reference_in_float32(case):
    net, frames, lat = case
    _compare(net, frames, Arithmetic.float32(lat), rtol=1e-6)


def test_random_relay_networks_do_use_their_relays(rng):
    """The property tests are not vacuous: relay and tap columns carry spikes and change outputs."""
    changed = 0
    for _ in range(10):
        base = random_network(rng, (8, 10, 6, 4), integer_bits=8, max_delay=3, threshold=0.5)
        net = with_relays(rng, base, relays_per_layer=8, n_taps=4)
        frames = random_frames(rng, 12, 8)
        arith = Arithmetic.for_target(load_target("xylo"))
        a = simulate(net, frames, "reference", arith)
        b = simulate(base, frames, "reference", arith)
        changed += not np.array_equal(a.output, b.output)
        assert sum(a.events) > sum(b.events)  # synapses from relays and taps delivered events
    assert changed >= 8


# ---- hand-computed tiny networks ----------------------------------------------------------


def _chain_net(ext: int = 2, relay_delay: int = 0) -> Network:
    """1 input -> 1 LIF (fires on any input) with relays lag 1, 2 -> LI readout (tau 1)."""
    hidden = Layer(
        "h", np.array([[1.0]]), np.array([[0]]), LIF(tau=1.0, v_threshold=0.5), relay_src=np.array([2, 0])
    )  # relay 0 copies relay 1 (lag 2), relay 1 copies main
    out = Layer(
        "o", np.array([[1.0, 100.0, 10.0]]), np.array([[0, 0, relay_delay]]), LI(tau=1.0), extend_steps=ext
    )
    return Network((hidden, out), 0.01, InputSpec(1, 3, 1, 1), readout="membrane_sum")


@pytest.mark.parametrize("engine", ENGINES)
def test_relay_chain_by_hand(engine):
    # main spikes at t = 2 (the last input step); relay 1 (lag 1) at 3, relay 0 (lag 2) at 4:
    # the readout runs 3 + 2 steps and still receives both copies
    res = simulate(_chain_net(), np.array([[0.0], [0.0], [1.0]]), engine)
    assert res.spikes[0][:, 0].tolist() == [0, 0, 1]  # main neurons only, their own 3 steps
    assert res.output[:, 0].tolist() == [0.0, 0.0, 1.0, 10.0, 100.0]
    assert res.events == [1, 3]
    # one step shorter: the lag-2 copy arrives after the end of the run
    short = simulate(_chain_net(ext=1), np.array([[0.0], [0.0], [1.0]]), engine)
    assert short.output[:, 0].tolist() == [0.0, 0.0, 1.0, 10.0] and short.events == [1, 2]
    # a synapse delay on a relay column adds to its lag: lag 1 + delay 1
    d = simulate(_chain_net(relay_delay=1), np.array([[1.0], [0.0], [0.0]]), engine)
    assert d.output[:, 0].tolist() == [1.0, 0.0, 110.0, 0.0, 0.0]


@pytest.mark.parametrize("engine", ENGINES)
def test_input_taps_by_hand(engine):
    # channel 0 and a tap (0, lag 2): column 1 = frames[t - 2, 0], read beyond the 3 frames
    layer = Layer("o", np.array([[2.0, 5.0]]), np.zeros((1, 2), int), LI(tau=1.0), extend_steps=2)
    net = Network((layer,), 0.01, InputSpec(1, 3, 1, 1, taps=((0, 2),)), readout="membrane_sum")
    res = simulate(net, np.array([[1.0], [0.0], [3.0]]), engine)
    assert res.output[:, 0].tolist() == [2.0, 0.0, 6.0 + 5.0, 0.0, 15.0]
    assert res.events == [4] and res.input_events == 2
    with pytest.raises(ValueError, match=r"shape \(steps, 1\)"):
        simulate(net, np.zeros((3, 2)), engine)  # the frames hold the channels only


@pytest.mark.parametrize("engine", ENGINES)
def test_relays_with_latency_and_tiny_fixed_point(engine):
    # Loihi-like latency 1 per layer and a 4-bit membrane: a relay is a copy, never saturated
    arith = Arithmetic.fixed(weight_bits=8, membrane_bits=4, decay="none", layer_latency_steps=1)
    hidden = Layer(
        "h",
        np.array([[3]], np.int32),
        np.array([[0]]),
        LIF(tau=1.0, v_threshold=2),
        weight_scale=np.array([1.0]),
        relay_src=np.array([0]),
    )
    out = Layer(
        "o",
        np.array([[1, 7]], np.int32),
        np.zeros((1, 2), int),
        LI(tau=1.0),
        weight_scale=np.array([1.0]),
        extend_steps=1,
    )
    net = Network((hidden, out), 0.01, InputSpec(1, 2, 1, 1), readout="membrane_sum")
    res = simulate(net, np.array([[1], [0]]), engine, arith)
    # input 0 -> hidden spike at 1 (latency); relay at 2; readout +1 latency: main at 2, relay at 3;
    # decay 'none' integrates: 1, then 1 + 7 = 8 saturates the 4-bit membrane at 7
    assert res.spikes[0][:, 0].tolist() == [0, 1, 0]
    assert res.output[:, 0].tolist() == [0, 0, 1, 7, 7]
