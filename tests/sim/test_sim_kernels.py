"""The event engine's vector kernels against plain numpy oracles.

Each kernel that reads several elements per instruction (bit masks of nonzero bins, 16 x 16
block transposes, the gather's 16-step groups over layers wider than one vector block, the
branch-free ``exp`` of the readout) is checked here on the shapes where its vector and scalar
parts meet: widths around 8, 16 and 64, runs longer than one 16-step block, and the special
values of the input (NaN, infinity, negative and fractional counts).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.sim import Arithmetic, readout_scores, simulate
from delaykit.sim.event import EventNetwork
from delaykit.sim.event_kernels import _input_sources
from delaykit.sim.readout import _exp_nonpositive, predict, scaled_softmax_sum


def _oracle_sources(x: np.ndarray, integer: bool):
    """:func:`_input_sources` in numpy: the nonzero finite bins in row-major order, status 2
    (negative or fractional, integer mode) over status 1 (NaN or infinity) over 0, and
    ``|max|`` per channel."""
    v = x.astype(np.float64)
    nz = (v != 0) | np.isnan(v)
    finite = np.isfinite(v)
    t, i = np.nonzero(nz & finite)
    vals = v[t, i]
    status = 1 if (nz & ~finite).any() else 0
    if integer and ((vals < 0) | (vals != np.floor(vals))).any():
        status = 2
    top = np.where(nz & finite, v, -np.inf).max(axis=0, initial=-np.inf)
    full = (nz & finite).sum(axis=0) == x.shape[0]
    peak = np.abs(np.where(full, top, np.maximum(top, 0.0)))
    ones = bool((vals == 1.0).all())
    vmax = float(np.abs(vals).max(initial=0.0))
    return t, i, vals, status, vmax, ones, peak


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("width", [1, 7, 8, 9, 63, 64, 65, 140, 200])
def test_input_sources_equal_numpy(dtype, width):
    rng = np.random.default_rng(width * 7 + np.dtype(dtype).itemsize)
    for trial in range(12):
        steps = int(rng.integers(0, 25))
        x = ((rng.random((steps, width)) < rng.random()) * rng.integers(1, 5, (steps, width))).astype(dtype)
        kind = trial % 6
        if np.dtype(dtype).kind == "f" and steps:
            bad = rng.random((steps, width)) < 0.05
            x[bad] = [np.nan, np.inf, -np.inf, 0.5, -1.0, 0.0][kind]
        elif np.dtype(dtype).kind == "i" and steps and kind == 1:
            x[rng.random((steps, width)) < 0.05] = -3
        for integer in (True, False):
            got = _input_sources(np.ascontiguousarray(x), integer)
            want = _oracle_sources(x, integer)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)


@nb.njit(cache=True)
def _exp_all(z):  # pragma: no cover - compiled
    out = np.empty_like(z)
    for k in range(z.size):
        out[k] = _exp_nonpositive(z[k])
    return out


def test_readout_exp_is_within_two_ulp_of_numpy():
    rng = np.random.default_rng(0)
    z = np.concatenate(
        [
            -rng.exponential(3.0, 200_000),
            -rng.uniform(0.0, 760.0, 200_000),  # down to subnormal results and past them
            -rng.uniform(0.0, 1e-9, 10_000),
            [0.0, -0.0, -np.inf, np.nan, -708.4, -709.0, -745.13, -745.2, -745.3, -1e300],
        ]
    )
    got, want = _exp_all(z), np.exp(z)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    normal = ok & (want >= np.finfo(np.float64).tiny)
    ulps = np.abs(got[normal] - want[normal]) / np.spacing(want[normal])
    assert ulps.max() <= 2.0
    sub = ok & ~normal  # subnormal results: within two of the smallest steps (4.9e-324)
    assert np.abs(got[sub] - want[sub]).max() <= 2 * 5e-324
    assert got[z == 0.0].tolist() == [1.0, 1.0] and got[np.isneginf(z)].tolist() == [0.0]


@pytest.mark.parametrize("shape", [(1, 1), (1, 20), (179, 20), (40, 3), (7, 65)])
def test_softmax_sum_equals_the_numpy_formula(shape):
    rng = np.random.default_rng(shape[0])
    y = rng.normal(0.0, 30.0, shape)
    e = np.exp(y - y.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True)).sum(axis=0)
    got = readout_scores("softmax_sum", y)
    np.testing.assert_allclose(got, want, rtol=4e-15, atol=1e-300)  # a few ulp per summed term
    y[0, 0] = np.nan
    assert np.isnan(readout_scores("softmax_sum", y)).all()  # a NaN row poisons every class


def _layer(rng, name, n_o, n_i, neuron, weights=(-40, 41)):
    """Integer weights drawn in ``[weights[0], weights[1])``, delays 0..24, extend 5 steps."""
    w = rng.integers(*weights, (n_o, n_i)).astype(np.int32)
    return Layer(name, w, rng.integers(0, 25, (n_o, n_i)), neuron, weight_scale=np.ones(n_o), extend_steps=5)


def _net(*layers, steps):
    n_in = layers[0].n_in
    return Network(tuple(layers), 0.01, InputSpec(n_in, steps, n_in, 1), readout="softmax_sum")


@pytest.mark.parametrize("n_hidden,n_out,steps", [(48, 37, 45), (33, 16, 70), (64, 80, 20)])
@pytest.mark.parametrize("arith", ["loihi2", "plain"])
def test_wide_layers_equal_the_reference_on_both_paths(n_hidden, n_out, steps, arith):
    """Layers of several 16-neuron transpose blocks (and a remainder), runs of several 16-step
    blocks, source blocks of 32: the gather, the block transpose and the 64-neuron spike masks
    over their whole range, bit for bit against the reference."""
    rng = np.random.default_rng(n_hidden + n_out + steps)
    n_in = 40
    a = (
        Arithmetic.for_target(load_target("loihi2"))
        if arith == "loihi2"
        else Arithmetic.fixed(weight_bits=8, decay="none")
    )
    net = _net(
        _layer(rng, "h1", n_hidden, n_in, LIF(tau=4.0, v_threshold=60.0)),
        _layer(rng, "h2", n_out, n_hidden, LIF(tau=4.0, v_threshold=60.0)),
        _layer(rng, "o", 5, n_out, LI(tau=8.0)),
        steps=steps,
    )
    frames = (rng.random((steps, n_in)) < 0.3).astype(np.int64)
    if arith == "loihi2":  # Loihi's neurons run in float64 lanes, with the 64-neuron spike masks
        assert all(el.float_lanes for el in EventNetwork(net, a).layers)
    ref = simulate(net, frames, "reference", a)
    assert all(s.sum() > 0 for s in ref.spikes)  # every layer fires: the masks see spikes
    for delivery in ("dense", "scatter"):
        got = EventNetwork(net, a, delivery=delivery).run(frames)
        for g, w in zip(got.spikes, ref.spikes, strict=True):
            np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(got.output, ref.output)
        assert got.events == ref.events and got.prediction == ref.prediction


def _numpy_predict(s: np.ndarray) -> int:
    best = int(s.argmax())
    return -1 if s.size > 1 and s[best] == s.min() else best


def test_predict_kernel_equals_numpys_argmax_rules():
    rng = np.random.default_rng(5)
    cases = [np.array([1.0]), np.array([np.nan]), np.array([2.0, 2.0]), np.array([-np.inf, -np.inf, 0.0])]
    for _ in range(3000):
        s = rng.integers(-2, 3, int(rng.integers(1, 7))).astype(np.float64)  # many ties
        if rng.random() < 0.2:
            s[rng.integers(s.size)] = rng.choice([np.nan, np.inf, -np.inf])
        cases.append(s)
    for s in cases:
        assert predict(s) == _numpy_predict(s), s
    assert predict(np.array([3, 1, 3])) == 0 and predict([1, 1]) == -1  # other dtypes: numpy's own


def test_scaled_softmax_sum_equals_numpy_scale_then_scores():
    rng = np.random.default_rng(6)
    raw = rng.integers(-(2**20), 2**20, (57, 11))
    scale = rng.uniform(1e-6, 1e-3, 11)
    for offset in (0, 3, 56, 57, 80):
        out, scores = scaled_softmax_sum(raw, scale, offset)
        np.testing.assert_array_equal(out, raw.astype(np.float64) * scale)  # the same products
        np.testing.assert_array_equal(scores, readout_scores("softmax_sum", out[offset:]))


def test_int32_lanes_from_a_raster_in_the_one_call_layer():
    """A Loihi hidden layer fed by 300 Loihi neurons with weights near 127: its bound (34,350)
    needs int32 lanes, built from the previous layer's raster, in the one-call layer path."""
    rng = np.random.default_rng(1)
    a = Arithmetic.for_target(load_target("loihi2"))
    net = _net(
        _layer(rng, "h1", 300, 30, LIF(tau=4.0, v_threshold=60.0)),
        _layer(rng, "h2", 33, 300, LIF(tau=4.0, v_threshold=3000.0), (100, 128)),
        _layer(rng, "o", 5, 33, LI(tau=8.0), (-120, 128)),
        steps=50,
    )
    en = EventNetwork(net, a, delivery="dense")
    assert en.layers[1].abs_bound >= 2**15 and all(el.float_lanes for el in en.layers)
    for _ in range(5):
        frames = (rng.random((50, 30)) < 0.3).astype(np.int64) * rng.integers(1, 4, (50, 30))
        ref = simulate(net, frames, "reference", a)
        got = en.run(frames)
        assert got.spikes[1].sum() > 0
        for g, w in zip(got.spikes, ref.spikes, strict=True):
            np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(got.output, ref.output)
        assert got.events == ref.events
