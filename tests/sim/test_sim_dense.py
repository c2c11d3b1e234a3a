"""The event engine's two delivery paths, each forced, against the reference, bit for bit.

Fixed point delivers a layer's input either by scattering events (``"scatter"``) or by the
time-dense gather (``"dense"``, :mod:`delaykit.sim.dense_kernels`); ``"auto"`` chooses per layer
and sample. The same random networks (those of ``test_sim_engines``, with version-3 neurons, with
relays and input taps) run with each path forced and must equal the reference in spikes,
outputs and event counts. The edge cases are built by hand: arrivals at the last step of the
run and just past it, ``extend_steps``, latency, counts above 1, silent layers, sums that need
int32 lanes, and the choice rule itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import SETTINGS, fixed_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import random_frames, with_relays, with_v3_neurons

from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, simulate
from delaykit.sim.event import EventNetwork, _choose, _input

PATHS = ("dense", "scatter")


def _both_paths_equal_reference(net: Network, frames: np.ndarray, arith: Arithmetic) -> list[str]:
    """Run each forced path; both must equal the reference. Returns the dense run's paths."""
    ref = simulate(net, frames, "reference", arith)
    taken = []
    for path in PATHS:
        en = EventNetwork(net, arith, delivery=path)
        ev = en.run(frames)
        assert ev.events == ref.events, path
        assert len(ev.spikes) == len(ref.spikes)
        for a, b in zip(ev.spikes, ref.spikes, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=path)
        np.testing.assert_array_equal(ev.output, ref.output, err_msg=path)
        if ev.output_raw is not None:
            np.testing.assert_array_equal(ev.output_raw, ref.output_raw, err_msg=path)
        assert ev.prediction == ref.prediction
        if path == "scatter":
            assert en.last_paths == ["scatter"] * len(net.layers)
        else:
            taken = en.last_paths
    return taken


@settings(max_examples=200, **SETTINGS)
@given(fixed_cases())
def test_both_paths_equal_reference_in_fixed_point(case):
    net, frames, arith = case
    assert _both_paths_equal_reference(net, frames, arith) == ["dense"] * len(net.layers)


@settings(max_examples=150, **SETTINGS)
@given(fixed_cases(), st.sampled_from(["loihi12", "shift", "none"]), st.integers(0, 2**31 - 1))
def test_both_paths_equal_reference_with_v3_neurons(case, decay, seed):
    from dataclasses import replace

    net, frames, arith = case
    net = with_v3_neurons(np.random.default_rng(seed), net)
    _both_paths_equal_reference(net, frames, replace(arith, decay=decay))


@settings(max_examples=150, **SETTINGS)
@given(fixed_cases(), st.integers(0, 2**31 - 1), st.integers(0, 12), st.integers(0, 6))
def test_both_paths_equal_reference_with_relays_and_taps(case, seed, relays, taps):
    net, frames, arith = case
    net = with_relays(
        np.random.default_rng(seed),
        net,
        relays_per_layer=relays,
        n_taps=taps,
        max_tap_lag=30,
        relay_delays=True,
    )
    _both_paths_equal_reference(net, frames, arith)


def _layer(w, d, neuron, ext=0, name="l"):
    w = np.asarray(w, dtype=np.int32)
    return Layer(name, w, np.asarray(d), neuron, weight_scale=np.ones(w.shape[0]), extend_steps=ext)


def _net(layers, readout="membrane_sum"):
    n = layers[0].n_in
    return Network(tuple(layers), 0.01, InputSpec(n, 8, n, 1), readout=readout)


LOIHI = Arithmetic.for_target(load_target("loihi2"))
PLAIN = Arithmetic.fixed(weight_bits=8, decay="none")


@pytest.mark.parametrize("lat", [0, 1, 2])
@pytest.mark.parametrize("ext", [0, 1, 5, 30])
def test_arrivals_at_and_past_the_end_of_the_run(ext, lat):
    """Delays that land exactly on the last step, one past it, and far past it (cut off)."""
    rng = np.random.default_rng(ext * 10 + lat)
    steps = 7
    d = np.array([[0, steps - 1, steps + ext - 1, steps + ext, steps + ext + 3, 40]])
    w = np.array([[3, -5, 7, 11, -13, 17]])
    net = _net([_layer(w, d, LI(tau=1e9), ext=ext)])
    arith = Arithmetic.fixed(weight_bits=8, decay="none", layer_latency_steps=lat)
    frames = (rng.random((steps, 6)) < 0.7).astype(np.int64) * rng.integers(1, 4, (steps, 6))
    frames[-1] = 2  # every source fires at the last input step
    _both_paths_equal_reference(net, frames, arith)


@pytest.mark.parametrize("arith", [PLAIN, LOIHI], ids=["plain", "loihi2"])
def test_silent_input_and_silent_hidden_layer(arith):
    rng = np.random.default_rng(3)
    hidden = _layer(
        rng.integers(-5, 6, (9, 4)), rng.integers(0, 20, (9, 4)), LIF(tau=2.0, v_threshold=100), name="h"
    )
    out = _layer(rng.integers(-5, 6, (3, 9)), rng.integers(0, 20, (3, 9)), LI(tau=2.0))
    net = _net([hidden, out])
    for frames in (np.zeros((12, 4), np.int64), np.ones((12, 4), np.int64)):
        res = simulate(net, frames, "reference", arith)
        assert res.spikes[0].sum() == 0  # the hidden layer never fires: the output layer gets nothing
        _both_paths_equal_reference(net, frames, arith)


@pytest.mark.parametrize("count", [1, 2, 7, 200])
def test_counts_above_one_and_sums_that_need_int32_lanes(count):
    """Fan-in 300 of weight 127 (sums up to 38,100 x count: past int16) and counts > 1."""
    rng = np.random.default_rng(count)
    n_in = 300
    w = rng.choice([-127, 127, 126, 1], (4, n_in), p=[0.05, 0.85, 0.05, 0.05])
    d = rng.integers(0, 6, (4, n_in))
    net = _net([_layer(w, d, LI(tau=1e9), ext=3)])
    frames = np.full((10, n_in), count, dtype=np.int64)
    frames[3] = 0
    src, _ = _input(net, frames, PLAIN)
    el = EventNetwork(net, PLAIN).layers[0]
    assert _choose(el, src, 13, "dense") is np.int32  # the bound does not fit int16 lanes
    _both_paths_equal_reference(net, frames, PLAIN)


def test_small_bound_uses_int16_lanes():
    net = _net([_layer([[100, -100, 50]], [[0, 1, 2]], LI(tau=2.0))])
    frames = np.ones((5, 3), np.int64)
    src, _ = _input(net, frames, PLAIN)
    el = EventNetwork(net, PLAIN).layers[0]
    assert _choose(el, src, 5, "dense") is np.int16
    frames[0, 0] = 200  # 250 x 200 = 50,000 past int16, but only channel 0 counts that high:
    src, _ = _input(net, frames, PLAIN)  # 100 x 200 + 100 + 50 = 20,150 bounds every sum
    assert _choose(el, src, 5, "dense") is np.int16
    _both_paths_equal_reference(net, frames, PLAIN)
    frames[1] = 200  # now 250 x 200 = 50,000: past int16
    src, _ = _input(net, frames, PLAIN)
    assert _choose(el, src, 5, "dense") is np.int32
    _both_paths_equal_reference(net, frames, PLAIN)


def test_auto_scatters_sparse_input_and_gathers_dense_input():
    rng = np.random.default_rng(9)
    w = rng.integers(-20, 21, (64, 48))
    net = _net([_layer(w, rng.integers(0, 25, (64, 48)), LI(tau=4.0), ext=12)])
    en = EventNetwork(net, LOIHI)
    sparse = np.zeros((100, 48), np.int64)
    sparse[[5, 60], [3, 40]] = 1  # 2 events in 4,800 bins
    dense = random_frames(rng, 100, 48, rate=0.3)
    for frames, expect in ((sparse, "scatter"), (dense, "dense")):
        a = en.run(frames)
        assert en.last_paths == [expect]
        b = simulate(net, frames, "reference", LOIHI)
        np.testing.assert_array_equal(a.output, b.output)
        assert a.events == b.events


def test_float_modes_always_scatter():
    """Float sums keep the scatter's order: forcing "dense" changes nothing there."""
    net = _net([_layer([[1, 2]], [[0, 1]], LI(tau=2.0))])
    en = EventNetwork(net, Arithmetic.float64(), delivery="dense")
    en.run(np.ones((4, 2)))
    assert en.last_paths == ["scatter"]


def test_unknown_delivery_is_refused():
    net = _net([_layer([[1]], [[0]], LI(tau=2.0))])
    with pytest.raises(ValueError, match="delivery"):
        EventNetwork(net, PLAIN, delivery="simd")


def test_weights_wider_than_16_bits():
    """20-bit weights: int32 weights and lanes in the gather, same bits as the reference."""
    rng = np.random.default_rng(11)
    w = rng.integers(-(2**19), 2**19, (5, 12))
    net = _net([_layer(w, rng.integers(0, 9, (5, 12)), LI(tau=1e9), ext=4)])
    arith = Arithmetic.fixed(weight_bits=20, decay="none")
    frames = random_frames(rng, 15, 12, rate=0.5, max_count=3).astype(np.int64)
    el = EventNetwork(net, arith).layers[0]
    assert el.dense is not None and el.dense.q_w.dtype == np.int32
    assert _choose(el, _input(net, frames, arith)[0], 19, "dense") is np.int32
    _both_paths_equal_reference(net, frames, arith)


@pytest.mark.parametrize("reset", ["value", "subtract", "none"])
@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_loihi_neurons_in_float64_lanes_equal_integer_lanes(reset, overflow):
    """Loihi's neurons without a current run in float64 lanes (exact integers): the same bits as
    the int64 kernel and the reference, wrap-around and saturation reached."""
    from dataclasses import replace

    rng = np.random.default_rng(len(reset) + len(overflow))
    hidden = _layer(
        rng.integers(-127, 128, (24, 16)), rng.integers(0, 9, (24, 16)), LIF(tau=3.0, v_threshold=40)
    )
    hidden = replace(hidden, name="h", neuron=replace(hidden.neuron, reset=reset))
    out = _layer(rng.integers(-127, 128, (5, 24)), rng.integers(0, 9, (5, 24)), LI(tau=20.0), ext=3)
    net = _net([hidden, out])
    arith = Arithmetic.fixed(
        weight_bits=8, membrane_bits=12, current_bits=10, decay="loihi12", overflow=overflow, weight_shift=6
    )
    frames = random_frames(rng, 30, 16, rate=0.5, max_count=4).astype(np.int64)
    fast = EventNetwork(net, arith)
    assert all(el.float_lanes for el in fast.layers)
    slow = EventNetwork(net, arith)
    for el in slow.layers:
        el.float_lanes = False
    a, b = fast.run(frames), slow.run(frames)
    ref = simulate(net, frames, "reference", arith)
    for x, y, z in zip(a.spikes, b.spikes, ref.spikes, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    np.testing.assert_array_equal(a.output_raw, b.output_raw)
    np.testing.assert_array_equal(a.output_raw, ref.output_raw)
    assert 0 < a.spikes[0].mean() < 1 and ref.output_raw.any()  # resets happen; 10-bit currents overflow


@pytest.mark.parametrize("delivery", ["dense", "scatter", "auto"])
def test_reused_work_buffers_carry_nothing_between_samples(delivery):
    """One prepared network runs samples of different lengths, densities and counts in turn, and
    from two threads at once: each result equals a freshly prepared network's (the buffers the
    engine reuses from sample to sample hold nothing over)."""
    import threading

    rng = np.random.default_rng(7)
    hidden = _layer(
        rng.integers(-127, 128, (24, 16)),
        rng.integers(0, 9, (24, 16)),
        LIF(tau=3.0, v_threshold=60),
        name="h",
    )
    out = _layer(rng.integers(-127, 128, (5, 24)), rng.integers(0, 9, (5, 24)), LI(tau=20.0), ext=3)
    net = _net([hidden, out])
    samples = [
        random_frames(rng, steps, 16, rate=rate, max_count=count).astype(np.int64)
        for steps, rate, count in [(30, 0.5, 4), (8, 0.1, 1), (45, 0.9, 1), (3, 0.0, 1), (30, 0.3, 9)]
    ]
    fresh = [EventNetwork(net, LOIHI, delivery=delivery).run(f) for f in samples]
    shared = EventNetwork(net, LOIHI, delivery=delivery)

    def check(order: list[int], failures: list[str]) -> None:
        for k in order:
            got = shared.run(samples[k])
            same = got.events == fresh[k].events and np.array_equal(got.output_raw, fresh[k].output_raw)
            if not (
                same and all(np.array_equal(a, b) for a, b in zip(got.spikes, fresh[k].spikes, strict=True))
            ):
                failures.append(f"sample {k}")

    failures: list[str] = []
    check([0, 1, 2, 3, 4, 0, 2, 1, 4], failures)
    threads = [threading.Thread(target=check, args=([0, 2, 4, 1] * 5, failures)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
