"""hardware_targets.realize: relay lines and the delay queue reproduce the original network.

Relay: the expanded network is a contract Network (format v2: relay neurons, input taps, all
synapse delays 0); ``delaykit.sim.simulate`` runs it and the original, in float64 or a
target's fixed point, with both engines. Integer networks are compared bit for bit: every sum
is exact, so nothing may differ. Float networks: spikes must be identical and membranes may
differ only by the summation order of the synaptic input (relays regroup the columns, the
queue adds events one by one): with |w| <= ~2, inputs <= 3 and <= 20 terms per neuron, float64
rounding is below 1e-13; we allow 1e-11.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from engine_cases import SETTINGS, fixed_cases  # noqa: E402
from hypothesis import given, settings
from netgen import random_frames, random_network  # noqa: E402

from delaykit.hardware_targets import load_target  # noqa: E402
from delaykit.hardware_targets.check import check  # noqa: E402
from delaykit.hardware_targets.realize import (  # noqa: E402
    plan_realization,
    relay_expand,
    run_queue,
    verify_realization,
)
from delaykit.network import LI, LIF, InputSpec, Layer, Network, load_network, relay_roots  # noqa: E402

FLOAT_TOL = 1e-11


def _arith(name):
    from delaykit.sim import Arithmetic

    return None if name is None else Arithmetic.for_target(load_target(name))


def test_relay_expansion_structure_by_hand():
    l0 = Layer(
        name="a",
        weight=np.array([[1.0, 2.0], [3.0, 0.0]]),
        delay=np.array([[0, 2], [1, 5]]),
        neuron=LIF(tau=1.005),
    )
    l1 = Layer(name="b", weight=np.array([[4.0, 5.0]]), delay=np.array([[3, 0]]), neuron=LI(tau=1.005))
    net = Network(
        layers=(l0, l1), dt=0.01, input=InputSpec(n_channels=2, window_steps=5, n_units=2, channel_group=1)
    )
    r = relay_expand(net)
    assert isinstance(r, Network) and all(not lay.delay.any() for lay in r.layers)
    # host taps: (channel, lag >= 1) pairs of non-zero synapses, appended after the 2 channels;
    # (1, 5) has weight 0, (0, 0) is channel 0 itself
    assert r.input.taps == ((0, 1), (1, 2))
    a, b = r.layers
    # columns: ch0, ch1, tap (0, 1), tap (1, 2)
    assert a.weight.tolist() == [[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 3.0, 0.0]]
    # neuron 0 of layer a feeds b with delay 3: a chain of 3 relays; neuron 1 (delay 0): none
    assert a.relay_src.tolist() == [0, 2, 3]  # main 0, then the previous relay
    root, lag = relay_roots(a)
    assert root.tolist() == [0, 0, 0] and lag.tolist() == [1, 2, 3]
    assert b.weight.tolist() == [[0.0, 5.0, 0.0, 0.0, 4.0]]  # tap 3 of neuron 0 is column 2 + 2
    assert b.n_relay == 0 and a.n_relay == 3
    assert r.provenance["realization"]["relay_neurons"] == 3
    plan = plan_realization(net, load_target("xylo"), "relay")
    # host inputs in use: (0, 0), (0, 1), (1, 2)
    assert (plan.extra_neurons, plan.extra_synapses, plan.host_input_taps) == (3, 3, 3)
    assert plan.layers[0]["max_chain"] == 3
    q = plan_realization(net, load_target("seneca"), "queue")
    assert q.layers[0]["worst_entries"] == 1 + 2 and q.layers[1]["worst_entries"] == 3


CASES = [  # (sizes, max_delay, density, extend_steps, spiking_last, threshold)
    ((12, 10, 8, 5), 6, 1.0, 0, False, 0.5),
    ((9, 14, 6), 9, 0.6, 3, False, 0.7),
    ((7, 8, 8, 4), 4, 0.8, 2, True, 0.6),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["relay", "queue"])
def test_float_networks_match_the_simulator(rng, case, method):
    sizes, dmax, dens, ext, spk, th = case
    net = random_network(
        rng, sizes, max_delay=dmax, density=dens, extend_steps=ext, spiking_last=spk, threshold=th
    )
    inputs = [random_frames(rng, 15, sizes[0]) for _ in range(4)]
    v = verify_realization(net, method, inputs)
    assert v.reference.startswith("delaykit.sim")
    assert v.spikes_identical, v.details
    assert v.max_abs_output_diff <= FLOAT_TOL
    # the comparison is not vacuous: the hidden layers do spike
    from delaykit.sim import simulate

    spikes = simulate(net, inputs[0], engine="reference").spikes
    assert all(s.sum() > 0 for s in spikes)


@pytest.mark.parametrize("arith_name", [None, "loihi2", "xylo"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["relay", "queue"])
def test_integer_networks_are_bit_identical(rng, case, method, arith_name):
    sizes, dmax, dens, ext, spk, th = case
    net = random_network(
        rng,
        sizes,
        max_delay=dmax,
        density=dens,
        extend_steps=ext,
        spiking_last=spk,
        threshold=th,
        integer_bits=8,
    )
    inputs = [random_frames(rng, 15, sizes[0]) for _ in range(3)]
    v = verify_realization(net, method, inputs, arith=_arith(arith_name))
    assert v.identical, (v.details, v.max_abs_output_diff)
    # and the fixed-point run is not trivially silent
    from delaykit.sim import simulate

    res = simulate(net, inputs[0], engine="reference", arithmetic=_arith(arith_name) or None)
    assert sum(int(s.sum()) for s in res.spikes) > 0


@pytest.mark.parametrize("engine", ["reference", "event"])
def test_a_broken_realization_is_detected(rng, engine):
    net = random_network(rng, (10, 12, 8, 4), max_delay=6, integer_bits=8, threshold=0.5)
    inputs = [random_frames(rng, 15, 10) for _ in range(3)]
    good = relay_expand(net)
    assert verify_realization(net, "relay", inputs, expanded=good, engine=engine).identical
    lay = good.layers[0]
    root, lag = relay_roots(lay)
    k = int(np.flatnonzero(lag == 2)[0])
    src = lay.relay_src.copy()
    src[k] = root[k]  # skip a link: that relay (and its successors) now lag one step less
    bad = replace(good, layers=(replace(lay, relay_src=src), *good.layers[1:]))
    v = verify_realization(net, "relay", inputs, expanded=bad, engine=engine)
    assert not v.identical and not v.spikes_identical


@pytest.mark.parametrize("target", ["xylo", "seneca", "spinnaker2"])
def test_expanded_network_file_has_no_delay_violations(tmp_path, rng, target):
    net = random_network(rng, (8, 10, 6, 5), max_delay=7, integer_bits=8, extend_steps=1, threshold=0.5)
    t = load_target(target)
    assert any(v.limit == "delay_native" for v in check(net, t))
    p = tmp_path / "r.dkn"
    relay_expand(net).save(p)
    back = load_network(p)
    import h5py

    with h5py.File(p, "r") as f:
        assert int(f.attrs["format_version"]) == 2
    delay_limits = [v for v in check(back, t) if v.limit.startswith("delay")]
    assert delay_limits == []
    # relays are counted as the neurons they are on the chip
    n_relay = sum(lay.n_relay for lay in back.layers)
    assert n_relay > 0
    tight = load_target(
        "generic", {"delay_max_steps": "0", "neurons_max": str(sum(lay.n_out for lay in net.layers))}
    )
    over = [v for v in check(back, tight) if v.limit == "neurons"]
    assert over and over[0].count == n_relay
    frames = random_frames(rng, 10, 8)
    from delaykit.sim import simulate

    a = simulate(net, frames, "reference", _arith(target))
    b = simulate(back, frames, "reference", _arith(target))
    assert np.array_equal(a.output, b.output)
    assert all(np.array_equal(x, y) for x, y in zip(a.spikes, b.spikes, strict=True))


def test_queue_occupancy_is_bounded_by_the_worst_case(rng):
    from delaykit.hardware_targets.resources import queue_worst_entries

    net = random_network(rng, (10, 12, 6), max_delay=8, density=0.7, threshold=0.5)
    q = run_queue(net, random_frames(rng, 20, 10, rate=0.5))
    for layer, pending, events in zip(net.layers, q.max_pending, q.events, strict=True):
        assert 0 < pending <= queue_worst_entries(layer)
        assert events > 0
    # an input spiking every step saturates the bound
    lay = Layer(name="a", weight=np.ones((1, 1)), delay=np.array([[3]]), neuron=LI(tau=1.0))
    one = Network(
        layers=(lay,), dt=0.01, input=InputSpec(n_channels=1, window_steps=8, n_units=1, channel_group=1)
    )
    assert run_queue(one, np.ones((8, 1))).max_pending == [queue_worst_entries(lay)] == [3]


@settings(max_examples=100, **SETTINGS)
@given(fixed_cases())
def test_relay_expansion_equals_the_original_bit_for_bit(case):
    """Random integer networks, delays up to 62, every fixed-point rule, latency 0-2: the expanded
    network (relays stepped literally by the reference engine, folded by the event engine)
    gives the original's spikes, outputs and synaptic event counts exactly."""
    from delaykit.sim import simulate

    net, frames, arith = case
    expanded = relay_expand(net)
    for engine in ("reference", "event"):
        a = simulate(net, frames, engine, arith)
        b = simulate(expanded, frames, engine, arith)
        assert a.events == b.events and a.input_events == b.input_events
        assert all(np.array_equal(x, y) for x, y in zip(a.spikes, b.spikes, strict=True))
        assert np.array_equal(a.output, b.output) and a.prediction == b.prediction


def test_expanded_network_relays_take_chip_resources(rng):
    """check and the core mapping count relays as neurons with one copy synapse each."""
    from delaykit.hardware_targets.resources import estimate_resources

    net = random_network(rng, (6, 8, 5, 3), max_delay=4, integer_bits=8, threshold=0.5)
    ex = relay_expand(net)
    n_relay = [lay.n_relay for lay in ex.layers]
    est = estimate_resources(ex, load_target("generic", {"neurons_per_core": "7"}))
    mapped = {}
    for core in est.assignments:
        for pop, a, b in core.segments:
            mapped[pop] = mapped.get(pop, 0) + b - a
    assert mapped == {"fc0": 8, "fc0:relays": n_relay[0], "fc1": 5, "fc1:relays": n_relay[1], "fc2": 3}
    # fan-out: a neuron's copy into its first relay counts as one outgoing synapse
    fan = load_target("generic", {"fan_out_max": "1"})
    fo = {v.layer: v for v in check(ex, fan) if v.limit == "fan_out"}
    src = ex.layers[0].relay_src
    expect = (ex.layers[1].weight != 0).sum(axis=0) + np.bincount(src, minlength=ex.layers[0].n_outputs)
    assert fo["fc1"].worst == int(expect.max()) and fo["fc1"].count == int((expect > 1).sum())
