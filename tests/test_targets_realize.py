"""hardware_targets.realize: relay lines and the delay queue reproduce the original network.

The reference is the simulator (``delaykit.sim.simulate(engine='reference')``) in float64 or a
target's fixed point. Integer networks are compared bit for bit: every sum is exact, so
nothing may differ. Float networks: spikes must be identical and membranes may differ only by
the summation order of the synaptic input (relays regroup the columns, the queue adds events
one by one): with |w| <= ~2, inputs <= 3 and <= 20 terms per neuron, float64 rounding is below
1e-13; we allow 1e-11.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from delaykit.hardware_targets import load_target  # noqa: E402
from delaykit.hardware_targets.realize import (  # noqa: E402
    RelayLayer,
    load_relay_network,
    plan_realization,
    reference_run,
    relay_expand,
    run_queue,
    run_relay,
    save_relay_network,
    verify_realization,
)
from netgen import random_frames, random_network  # noqa: E402

from delaykit.network import LI, LIF, InputSpec, Layer, Network  # noqa: E402

FLOAT_TOL = 1e-11


def _arith(name):
    from delaykit.sim import Arithmetic

    return None if name is None else Arithmetic.for_target(load_target(name))


def test_relay_expansion_structure_by_hand():
    l0 = Layer(name="a", weight=np.array([[1.0, 2.0], [3.0, 0.0]]), delay=np.array([[0, 2], [1, 5]]),
               neuron=LIF(tau=1.005))
    l1 = Layer(name="b", weight=np.array([[4.0, 5.0]]), delay=np.array([[3, 0]]), neuron=LI(tau=1.005))
    net = Network(layers=(l0, l1), dt=0.01, input=InputSpec(n_channels=2, window_steps=5, n_units=2,
                                                              channel_group=1))
    r = relay_expand(net)
    # host taps: (channel, lag) pairs of non-zero synapses; (1, 5) has weight 0
    assert r.input_taps.tolist() == [[0, 0], [0, 1], [1, 2]]
    a, b = r.layers
    assert a.weight.tolist() == [[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]
    # neuron 0 of layer a feeds b with delay 3: a chain of 3 relays; neuron 1 (delay 0): none
    assert a.relay_main.tolist() == [0, 0, 0] and a.relay_lag.tolist() == [1, 2, 3]
    assert a.relay_src.tolist() == [0, 2, 3]  # ext index: main 0, then the previous relay
    assert b.weight.tolist() == [[0.0, 5.0, 0.0, 0.0, 4.0]]  # tap 3 of neuron 0 is ext column 4
    assert b.n_relay == 0 and r.relay_neurons == 3
    plan = plan_realization(net, load_target("xylo"), "relay")
    assert (plan.extra_neurons, plan.extra_synapses, plan.host_input_taps) == (3, 3, 3)
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
    net = random_network(rng, sizes, max_delay=dmax, density=dens, extend_steps=ext, spiking_last=spk,
                         threshold=th)
    inputs = [random_frames(rng, 15, sizes[0]) for _ in range(4)]
    v = verify_realization(net, method, inputs)
    assert v.reference.startswith("delaykit.sim")
    assert v.spikes_identical, v.details
    assert v.max_abs_output_diff <= FLOAT_TOL
    # the comparison is not vacuous: the hidden layers do spike
    _, spikes = reference_run(net, inputs[0])
    assert all(s.sum() > 0 for s in spikes)


@pytest.mark.parametrize("arith_name", [None, "loihi2", "xylo"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["relay", "queue"])
def test_integer_networks_are_bit_identical(rng, case, method, arith_name):
    sizes, dmax, dens, ext, spk, th = case
    net = random_network(rng, sizes, max_delay=dmax, density=dens, extend_steps=ext, spiking_last=spk,
                         threshold=th, integer_bits=8)
    inputs = [random_frames(rng, 15, sizes[0]) for _ in range(3)]
    v = verify_realization(net, method, inputs, arith=_arith(arith_name))
    assert v.identical, (v.details, v.max_abs_output_diff)
    # and the fixed-point run is not trivially silent
    from delaykit.sim import simulate

    res = simulate(net, inputs[0], engine="reference", arithmetic=_arith(arith_name) or None)
    assert sum(int(s.sum()) for s in res.spikes) > 0


def test_own_reference_agrees_with_the_simulator(rng):
    from delaykit.sim import Arithmetic, simulate

    net = random_network(rng, (10, 12, 6), max_delay=5, extend_steps=2, integer_bits=8, threshold=0.5)
    for arith in (None, _arith("loihi2"), _arith("xylo")):
        for _ in range(3):
            frames = random_frames(rng, 12, 10)
            out, spikes = reference_run(net, frames, arith)
            model_time = replace(arith or Arithmetic.float64(), layer_latency_steps=0)
            res = simulate(net, frames, engine="reference", arithmetic=model_time)
            assert np.array_equal(out, res.output)
            assert all(np.array_equal(a, b) for a, b in zip(spikes, res.spikes, strict=True))


def test_a_broken_realization_is_detected(rng):
    net = random_network(rng, (10, 12, 8, 4), max_delay=6, integer_bits=8, threshold=0.5)
    inputs = [random_frames(rng, 15, 10) for _ in range(3)]
    good = relay_expand(net)
    assert verify_realization(net, "relay", inputs, rnet=good).identical
    lay = good.layers[0]
    k = int(np.flatnonzero(lay.relay_lag == 2)[0])
    src = lay.relay_src.copy()
    src[k] = lay.relay_main[k]  # skip a link: that relay now lags by 1 instead of 2
    bad_layer = RelayLayer(**{**lay.__dict__, "relay_src": src})
    bad = good.__class__(**{**good.__dict__, "layers": (bad_layer, *good.layers[1:])})
    v = verify_realization(net, "relay", inputs, rnet=bad)
    assert not v.identical and not v.spikes_identical


def test_relay_network_file_round_trip(tmp_path, rng):
    net = random_network(rng, (8, 10, 5), max_delay=7, integer_bits=8, extend_steps=1, threshold=0.5)
    r = relay_expand(net)
    p = tmp_path / "r.dkr"
    save_relay_network(r, p)
    back = load_relay_network(p)
    assert np.array_equal(back.input_taps, r.input_taps) and back.relay_neurons == r.relay_neurons
    for a, b in zip(back.layers, r.layers, strict=True):
        assert np.array_equal(a.weight, b.weight) and a.weight.dtype == b.weight.dtype
        assert np.array_equal(a.relay_src, b.relay_src) and a.neuron.to_dict() == b.neuron.to_dict()
    frames = random_frames(rng, 10, 8)
    o1, s1 = run_relay(r, frames, _arith("xylo"))
    o2, s2 = run_relay(back, frames, _arith("xylo"))
    assert np.array_equal(o1, o2) and all(np.array_equal(a, b) for a, b in zip(s1, s2, strict=True))
    (tmp_path / "x.dkr").write_bytes(b"not hdf5")
    from delaykit.errors import FormatError

    with pytest.raises(FormatError):
        load_relay_network(tmp_path / "x.dkr")


def test_queue_occupancy_is_bounded_by_the_worst_case(rng):
    from delaykit.hardware_targets.resources import queue_worst_entries

    net = random_network(rng, (10, 12, 6), max_delay=8, density=0.7, threshold=0.5)
    q = run_queue(net, random_frames(rng, 20, 10, rate=0.5))
    for layer, pending, events in zip(net.layers, q.max_pending, q.events, strict=True):
        assert 0 < pending <= queue_worst_entries(layer)
        assert events > 0
    # an input spiking every step saturates the bound
    lay = Layer(name="a", weight=np.ones((1, 1)), delay=np.array([[3]]), neuron=LI(tau=1.0))
    one = Network(layers=(lay,), dt=0.01, input=InputSpec(n_channels=1, window_steps=8, n_units=1,
                                                          channel_group=1))
    assert run_queue(one, np.ones((8, 1))).max_pending == [queue_worst_entries(lay)] == [3]
