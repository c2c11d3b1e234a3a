"""The float64-lane Loihi neuron kernel against the int64 one, directly on random accumulators:
every reset mode, threshold compare and overflow rule, with and without the current's
reduction (left out by the caller when every input provably fits the current)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from delaykit.sim.event_kernels import _neurons_fixed, _neurons_loihi_f64, raster_events


def _run(kernel, acc, steps, n, consts, spiking, flags):
    raster = np.zeros((steps if spiking else 0, n), dtype=np.uint8)
    out_t = np.empty(steps * n if spiking else 0, dtype=np.int64)
    out_i = np.empty_like(out_t)
    trace = np.zeros((0 if spiking else steps, n), dtype=np.int64)
    if kernel is _neurons_fixed:
        n_sp = kernel(acc, steps, n, *consts, spiking, *flags, raster, out_t, out_i, trace)
        return raster, out_t[:n_sp], out_i[:n_sp], trace
    # the float64-lane kernel writes the raster only, and says how many spikes and when
    fired, first, last = kernel(acc, steps, n, *consts, spiking, *flags, raster, trace)
    n_sp = raster_events(raster, raster.shape[0], out_t, out_i)
    assert fired == n_sp == raster.sum()
    assert (first, last) == ((int(out_t[0]), int(out_t[n_sp - 1])) if n_sp else (-1, -1))
    return raster, out_t[:n_sp], out_i[:n_sp], trace


@pytest.mark.parametrize("reset_mode", [0, 1, 2])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("mem_wrap", [True, False])
def test_float_lanes_equal_int64_kernel(reset_mode, strict, mem_wrap):
    rng = np.random.default_rng(reset_mode * 4 + 2 * strict + mem_wrap)
    n, steps, mem_bits = 101, 60, 16  # n not a multiple of 8 (the list's tail), past one 64-bit mask
    cases = itertools.product([True, False], [0, 12, 24], [True, False], [0, 1, 2])
    for spiking, cur_bits, cur_wrap, size in cases:
        if cur_bits == 0 and size == 2:
            continue
        # small and medium inputs fit a 24-bit current (the caller passes 0 then), large ones
        # overflow 12 bits; small ones keep the membrane near its threshold, where a decay off
        # by one flips spikes
        ws, top = [(0, 8), (6, 2**10), (6, 2**15)][size]
        acc = rng.integers(-top, top, steps * n).astype(np.int32 if size == 2 else np.int16)
        thr = rng.integers(1, min(4 * top << ws, 2**14), n).astype(np.int64)
        reset = rng.integers(-top, top, n).astype(np.int64) << ws
        bias = rng.integers(-top, top, n).astype(np.int64) << ws >> 3
        dparam = int(rng.integers(0, 4097))
        full = cur_bits or 24  # the int64 kernel always reduces; 0 in float lanes stands for "fits"
        a = _run(
            _neurons_fixed,
            acc,
            steps,
            n,
            (bias, thr, reset),
            spiking,
            (0, dparam, ws, full, cur_wrap, mem_bits, mem_wrap, strict, False, 0, reset_mode),
        )
        b = _run(
            _neurons_loihi_f64,
            acc,
            steps,
            n,
            (bias, thr, reset),
            spiking,
            (dparam, ws, cur_bits, cur_wrap, mem_bits, mem_wrap, strict, reset_mode),
        )
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
        if spiking and size < 2:  # resets happen, and not every step
            assert 0 < a[0].mean() < 0.9
