"""Random networks and inputs for the engine property tests (hypothesis strategies) and the
engine comparison they share: tests/sim/test_sim_engines*.py, test_sim_relay.py and the
realization tests import them from here."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st
from netgen import random_frames, random_network

from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, simulate

SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- random networks ---------------------------------------------------------------------


@st.composite
def fixed_cases(draw):
    """A random integer network, input and fixed-point arithmetic (saturation edges included)."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_layers = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 24)) for _ in range(n_layers + 1))
    wbits = draw(st.integers(2, 12))
    max_delay = draw(st.sampled_from([0, 1, 5, 24, 62]))
    density = draw(st.sampled_from([0.05, 0.3, 1.0]))
    ext = draw(st.integers(0, 4))
    taus = draw(
        st.lists(
            st.sampled_from([1.0, 1.005, 1.5, 2.0, 5.5, 20.0, 1e6]), min_size=n_layers, max_size=n_layers
        )
    )
    spiking_last = draw(st.booleans())
    decay = draw(st.sampled_from(["loihi12", "shift", "none"]))
    mem_bits = draw(st.sampled_from([None, 4, 6, 8, 12, 24]))
    cur_bits = draw(st.sampled_from([None, 4, 8, 16]))
    arith = Arithmetic.fixed(
        weight_bits=wbits,
        membrane_bits=mem_bits,
        current_bits=cur_bits,
        decay=decay,
        current_overflow=draw(st.sampled_from(["saturate", "wrap"])),
        membrane_overflow=draw(st.sampled_from(["saturate", "wrap"])),
        threshold_shift=draw(st.sampled_from([0, 2, 6])),
        weight_shift=draw(st.sampled_from([0, 3, 6])),
        threshold_compare=draw(st.sampled_from(["ge", "gt"])),
        layer_latency_steps=draw(st.integers(0, 2)),
    )
    qmax = 2 ** (wbits - 1) - 1
    small_reset = mem_bits is None or mem_bits >= 12  # a reset must fit the membrane
    layers = []
    for li in range(n_layers):
        n_in, n_out = sizes[li], sizes[li + 1]
        w = rng.integers(-qmax - 1, qmax + 1, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        d = rng.integers(0, max_delay + 1, (n_out, n_in))
        bias = rng.integers(-qmax // 4 - 1, qmax // 4 + 2, n_out)
        last = li == n_layers - 1
        if last and not spiking_last:
            neuron = LI(tau=taus[li], v_reset=int(rng.integers(-2, 3)) if small_reset else 0)
        else:
            th = rng.integers(1, 2 * qmax + 2, n_out)  # per-neuron integer thresholds
            neuron = LIF(tau=taus[li], v_threshold=th, v_reset=int(rng.integers(-1, 1)) if small_reset else 0)
        layers.append(
            Layer(
                f"l{li}",
                w.astype(np.int32),
                d,
                neuron,
                bias=bias,
                weight_scale=rng.uniform(0.01, 1.0, n_out),
                extend_steps=ext,
            )
        )
    net = Network(
        tuple(layers),
        0.01,
        InputSpec(sizes[0], 10, sizes[0], 1),
        readout="spike_count" if spiking_last else "softmax_sum",
    )
    steps = draw(st.integers(1, 30))
    frames = random_frames(
        rng,
        steps,
        sizes[0],
        rate=draw(st.sampled_from([0.05, 0.3, 0.9])),
        max_count=draw(st.sampled_from([1, 5])),
    )
    return net, frames, arith


@st.composite
def float_cases(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_layers = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 24)) for _ in range(n_layers + 1))
    net = random_network(
        rng,
        sizes,
        max_delay=draw(st.sampled_from([0, 3, 24, 62])),
        density=draw(st.sampled_from([0.1, 1.0])),
        integer_bits=draw(st.sampled_from([None, None, 8])),
        tau=draw(st.sampled_from([1.005, 2.0, 10.0])),
        threshold=draw(st.sampled_from([0.3, 1.0])),
        spiking_last=draw(st.booleans()),
        extend_steps=draw(st.integers(0, 3)),
    )
    frames = random_frames(rng, draw(st.integers(1, 30)), sizes[0], max_count=draw(st.sampled_from([1, 4])))
    return net, frames, draw(st.integers(0, 1))


def _compare(net, frames, arith, rtol):
    ev = simulate(net, frames, "event", arith)
    ref = simulate(net, frames, "reference", arith)
    assert ev.events == ref.events
    assert ev.input_events == ref.input_events
    assert len(ev.spikes) == len(ref.spikes)
    for a, b in zip(ev.spikes, ref.spikes, strict=True):
        assert a.dtype == np.uint8 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert (
        ev.output.shape
        == ref.output.shape
        == (net.output_steps(len(frames)) + len(net.layers) * arith.layer_latency_steps, net.n_classes)
    )
    if rtol == 0:
        np.testing.assert_array_equal(ev.output, ref.output)
        assert ev.prediction == ref.prediction
        if ev.output_raw is not None:
            assert ev.output_raw.dtype == ref.output_raw.dtype == np.int64
            np.testing.assert_array_equal(ev.output_raw, ref.output_raw)
    else:
        np.testing.assert_allclose(ev.output, ref.output, rtol=rtol, atol=rtol * 1e-3)
        if ev.output_raw is not None:
            assert ev.output_raw.dtype == ref.output_raw.dtype == arith.float_dtype
    return ev, ref
