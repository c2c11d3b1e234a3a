"""The event engine's numba kernels (:mod:`delaykit.sim.event` prepares their arrays).

Compiled with ``cache=True``: the first call in a fresh environment compiles them (a few
seconds). The equations are those of :mod:`delaykit.arithmetic`, operation for operation in
the reference's order (docs/design.md, "Engines and how they are checked").
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .bits import ctz, f64_to_int, load8, nonzero8, popcount
from .dense_kernels import _gather_events, _gather_raster

# ---- kernels ------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _deliver(
    src_t, src_i, src_c, n_src, row_ptr, row_off, row_w, row_last, acc, n_out, out_steps, lat, unit_counts
):  # pragma: no cover - compiled
    """Add every source's row into ``acc``; return the number of synaptic events delivered.

    The inner loops run on unsigned indices: numba then emits no negative-index wrap-around
    code, and the loop is two loads and one add to memory per event.
    """
    total = out_steps * n_out
    n_events = 0
    one = np.uint64(1)
    for e in range(n_src):
        i = src_i[e]
        k0 = row_ptr[i]
        k1 = row_ptr[i + 1]
        if k0 == k1:
            continue
        base = (src_t[e] + lat) * n_out
        room = total - base  # offsets must stay below this
        if room <= 0:
            continue
        if row_last[i] >= room:  # the row runs past the end of the run: find the cut
            lo = k0
            hi = k1
            while lo < hi:
                mid = (lo + hi) >> 1
                if row_off[mid] < room:
                    lo = mid + 1
                else:
                    hi = mid
            k1 = lo
        n_events += k1 - k0
        a = acc[base:]
        k = np.uint64(k0)
        end = np.uint64(k1)
        if unit_counts or src_c[e] == 1:
            while k < end:
                a[np.uint64(row_off[k])] += row_w[k]
                k += one
        else:
            c = src_c[e]
            while k < end:
                a[np.uint64(row_off[k])] += row_w[k] * c
                k += one
    return n_events


@nb.njit(cache=True, inline="always")
def _bounds(bits, wrap):  # pragma: no cover - compiled
    """``(lo, hi, half, mask)`` with ``reduce(x) = ((min(max(x, lo), hi) + half) & mask) - half``:
    :func:`delaykit.arithmetic.reduce_int` without branches (bits 0: no limit)."""
    top = np.int64(0x7FFFFFFFFFFFFFFF)
    if bits == 0:
        return -top - 1, top, np.int64(0), np.int64(-1)
    half = np.int64(1) << (bits - 1)
    if wrap:
        return -top - 1, top, half, (half << 1) - 1
    return 1 - half, half - 1, np.int64(0), np.int64(-1)


@nb.njit(cache=True, inline="always")
def _decay(x, decay_kind, dparam):  # pragma: no cover - compiled
    """``decay(x)`` of :mod:`delaykit.arithmetic`: 0 loihi12 (magnitude shifted), 1 shift, 2 none,
    3 loihi12 for ``x`` known to fit 32 bits (the product is one 32x32 -> 64-bit multiply, which
    AVX2 has; a 64-bit one it must emulate)."""
    if decay_kind == 0 or decay_kind == 3:
        p = np.int64(np.int32(x)) * np.int64(np.int32(dparam)) if decay_kind == 3 else x * dparam
        m = np.abs(p) >> 12
        return m if p >= 0 else -m
    if decay_kind == 1:
        return x - (x >> dparam)
    return x


@nb.njit(cache=True, nogil=True)
def _neurons_fixed(
    acc,
    out_steps,
    n,
    bias,
    thr,
    reset,
    spiking,
    decay_kind,
    dparam,
    ws,
    cur_bits,
    cur_wrap,
    mem_bits,
    mem_wrap,
    strict,
    has_cur,
    syn_dparam,
    reset_mode,
    raster,
    out_t,
    out_i,
    trace,
):  # pragma: no cover
    """Step the integer neurons through the accumulator; return the number of spikes.

    Per step, three passes over the neurons: the membrane update (no data-dependent branches:
    the reductions are min/max/and, LLVM hoists the uniform mode tests out of the loop and
    vectorizes it), threshold and reset, then the spike list (written without a branch: a
    spike's slot is written for every neuron and kept only when it fired). ``has_cur``: a
    synaptic current state ``cur`` (decayed with ``syn_dparam``) instead of the step's input
    alone; ``reset_mode`` 0 value, 1 subtract, 2 none. ``out_t``/``out_i``: ``out_steps * n``
    slots (a step writes at most ``n`` past the spikes before it).
    """
    v = reset.copy()
    h = np.empty(n, dtype=np.int64)
    cur = np.zeros(n, dtype=np.int64)
    rb = reset + bias  # int64 sums wrap: the same bits in any order
    clo, chi, chalf, cmask = _bounds(cur_bits, cur_wrap)
    mlo, mhi, mhalf, mmask = _bounds(mem_bits, mem_wrap)
    n_sp = 0
    for t in range(out_steps):
        row = t * n
        if has_cur:  # contract v3: c = reduce(cdecay(c) + (syn << ws))
            for j in range(n):
                u = (np.int64(acc[row + j]) << ws) + _decay(cur[j], decay_kind, syn_dparam)
                u = ((min(max(u, clo), chi) + chalf) & cmask) - chalf
                cur[j] = u
                hj = rb[j] + _decay(v[j] - reset[j], decay_kind, dparam) + u
                h[j] = ((min(max(hj, mlo), mhi) + mhalf) & mmask) - mhalf
        else:
            for j in range(n):
                u = np.int64(acc[row + j]) << ws
                u = ((min(max(u, clo), chi) + chalf) & cmask) - chalf
                hj = rb[j] + _decay(v[j] - reset[j], decay_kind, dparam) + u
                h[j] = ((min(max(hj, mlo), mhi) + mhalf) & mmask) - mhalf
        if spiking:
            r = raster[t]
            if reset_mode == 0:  # written out here: an inlined helper measured slower
                for j in range(n):
                    hj = h[j]
                    fire = (hj > thr[j]) if strict else (hj >= thr[j])
                    v[j] = reset[j] if fire else hj
                    r[j] = fire
            else:
                for j in range(n):
                    hj = h[j]
                    fire = (hj > thr[j]) if strict else (hj >= thr[j])
                    if fire and reset_mode == 1:
                        hj = hj - thr[j]
                        hj = ((min(max(hj, mlo), mhi) + mhalf) & mmask) - mhalf
                    v[j] = hj
                    r[j] = fire
            for j in range(n):
                out_t[n_sp] = t
                out_i[n_sp] = j
                n_sp += int(r[j])
        else:
            for j in range(n):
                v[j] = h[j]
                trace[t, j] = h[j]
    return n_sp


@nb.njit(cache=True, nogil=True)
def _neurons_float(
    current,
    out_steps,
    n,
    thr,
    reset,
    leak,
    spiking,
    has_cur,
    bias,
    syn_leak,
    mem_div,
    syn_div,
    reset_mode,
    raster,
    out_t,
    out_i,
    trace,
):  # pragma: no cover
    """Step float neurons (dtype of ``current``: float32 or float64); return the spike count.

    Same three passes as :func:`_neurons_fixed`; each operation is the reference's, in the
    same order, so results are identical for identical currents. ``mem_div``/``syn_div``: the
    membrane/current leak divides by ``leak`` (forward Euler) or multiplies (exact);
    ``has_cur``: ``current`` is the step's input to a current state, ``bias`` the membrane's.
    """
    v = reset.copy()
    h = np.empty_like(v)
    cur = np.zeros_like(v)
    zero = np.zeros(1, dtype=reset.dtype)[0]  # 0 in the float type of the state
    n_sp = 0
    for t in range(out_steps):
        if has_cur:  # contract v3: c = c + I; h = ((v + leak) + c) + b; then c decays
            for j in range(n):
                d = (reset[j] - v[j]) / leak if mem_div else (reset[j] - v[j]) * leak
                c = cur[j] + current[t, j]
                h[j] = v[j] + d + c + bias[j]
                cur[j] = c + ((zero - c) / syn_leak if syn_div else (zero - c) * syn_leak)
        elif mem_div:
            for j in range(n):
                h[j] = v[j] + (reset[j] - v[j]) / leak + current[t, j]
        else:
            for j in range(n):
                h[j] = v[j] + (reset[j] - v[j]) * leak + current[t, j]
        if spiking:
            r = raster[t]
            if reset_mode == 0:  # written out here: an inlined helper measured ~20 % slower
                for j in range(n):
                    hj = h[j]
                    fire = hj >= thr[j]
                    v[j] = reset[j] if fire else hj
                    r[j] = fire
            else:
                for j in range(n):
                    hj = h[j]
                    fire = hj >= thr[j]
                    v[j] = (hj - thr[j] if reset_mode == 1 else hj) if fire else hj
                    r[j] = fire
            for j in range(n):
                if r[j]:
                    out_t[n_sp] = t
                    out_i[n_sp] = j
                    n_sp += 1
        else:
            for j in range(n):
                v[j] = h[j]
                trace[t, j] = h[j]
    return n_sp


@nb.njit(cache=True, nogil=True)
def _input_sources(x, integer):  # pragma: no cover - compiled
    """Nonzero bins of frames ``x`` (C-contiguous) in time order: (t, i, value, status, max
    |value|, every value 1, ``|x.max(axis=0)|``: each channel's largest value, made positive).

    status 0 ok, 1 NaN/infinity, 2 (integer mode) a negative or fractional count. Each row is
    read 64 channels at a time into a bit mask of its nonzero bins (8 vector compares), whose
    set bits are walked (count trailing zeros, clear the lowest): inputs are sparse, so the
    cost is per nonzero bin, with one branch per 64 channels. A NaN or infinite bin is nonzero
    (``v - v`` is NaN): left out, status 1.
    """
    steps, n_in = x.shape
    flat = x.reshape(steps * n_in)
    n8 = n_in & ~7
    chunks = (n_in + 63) // 64
    masks = np.empty(steps * chunks, dtype=np.uint64)
    n = 0
    for t in range(steps):  # pass 1: the masks, and how many bins are nonzero
        row = t * n_in
        for c in range(chunks):
            i0 = 64 * c
            m = np.uint64(0)
            for q in range(min(8, (n8 - i0) // 8) if i0 < n8 else 0):
                m |= nonzero8(flat, row + i0 + 8 * q) << np.uint64(8 * q)
            for i in range(max(i0, n8), min(i0 + 64, n_in)):  # the row's last n_in % 8 bins
                v = flat[row + i]
                if v != 0 or v != v:
                    m |= np.uint64(1) << np.uint64(i - i0)
            masks[t * chunks + c] = m
            n += popcount(m)
    src_t = np.empty(n, dtype=np.int64)
    src_i = np.empty(n, dtype=np.int64)
    vals = np.empty(n, dtype=np.float64)
    top = np.full(n_in, -np.inf)  # each channel's largest nonzero value
    nonzero = np.zeros(n_in, dtype=np.int64)
    status = 0
    vmax = 0.0
    ones = True
    k = 0
    for t in range(steps):  # pass 2: the nonzero bins, walked bit by bit
        row = t * n_in
        for c in range(chunks):
            m = masks[t * chunks + c]
            while m != 0:
                i = 64 * c + ctz(m)
                m &= m - np.uint64(1)
                v = np.float64(flat[row + i])
                if v - v != 0.0:  # NaN or infinity: left out
                    status = max(status, 1)
                    continue
                if integer and (v < 0 or v != np.floor(v)):
                    status = 2
                src_t[k] = t
                src_i[k] = i
                vals[k] = v
                k += 1
                vmax = max(vmax, abs(v))
                ones &= v == 1.0
                top[i] = max(top[i], v)
                nonzero[i] += 1
    peak = np.empty(n_in)
    for i in range(n_in):  # a channel with a zero bin has a largest value of at least 0
        peak[i] = abs(max(top[i], 0.0) if nonzero[i] < steps else top[i])
    return src_t[:k], src_i[:k], vals[:k], status, vmax, ones, peak


@nb.njit(cache=True, inline="always")
def _reduce_f(x, lo, hi, wrap, half, inv_mod, mod):  # pragma: no cover - compiled
    """:func:`delaykit.arithmetic.reduce_int` on an integer-valued float64 below 2**53 in
    magnitude: exact (the wrap is a floor modulo by a power of two)."""
    if wrap:
        return x - np.floor((x + half) * inv_mod) * mod
    return min(max(x, lo), hi)


@nb.njit(cache=True, nogil=True)
def _neurons_loihi_f64(
    acc,
    out_steps,
    n,
    bias,
    thr,
    reset,
    spiking,
    dparam,
    ws,
    cur_bits,
    cur_wrap,
    mem_bits,
    mem_wrap,
    strict,
    reset_mode,
    raster,
    trace,
):  # pragma: no cover - compiled
    """:func:`_neurons_fixed` for Loihi's decay without a current state, in float64 lanes.

    Only for layers where every value is an integer below 2**53 (the caller checks: accumulator
    of at most 32 bits, weight shift <= 20, membrane <= 30 bits, reset and threshold small):
    then each float operation is exact and gives the integer kernel's bits, and AVX2 has float64
    multiply, floor, min and max, which it lacks for int64. The decay is ``sign(x) * floor(|x| *
    dparam / 4096)`` = ``trunc(x * dparam / 4096)`` (exact: ``x * dparam`` < 2**42, a
    power-of-two division), the reductions :func:`_reduce_f`. ``cur_bits`` 0: the caller proved that
    every ``acc << ws`` fits the current (no reduction; a floor costs ~1 cycle a neuron on Zen 1).
    The common case (no current reduction, saturating membrane, reset to a value) runs membrane,
    threshold and reset in one pass. Spikes go to ``raster`` only (no list: the next layer reads
    the raster, :func:`raster_events` lists it when needed); returns (spikes, first and last step
    with a spike, -1 when none).
    """
    big = 2.0**52
    chalf = 2.0 ** (cur_bits - 1) if cur_bits else 0.0
    clo, chi = (1.0 - chalf, chalf - 1.0) if cur_bits and not cur_wrap else (-big, big)
    mhalf = 2.0 ** (mem_bits - 1) if mem_bits else 0.0
    mlo, mhi = (1.0 - mhalf, mhalf - 1.0) if mem_bits and not mem_wrap else (-big, big)
    cwrap = cur_wrap and cur_bits > 0
    mwrap = mem_wrap and mem_bits > 0
    plain = cur_bits == 0 and not mwrap  # the common case: min/max only
    cmod, mmod = 2.0 * chalf, 2.0 * mhalf
    cinv = 1.0 / cmod if cwrap else 0.0
    minv = 1.0 / mmod if mwrap else 0.0
    scale = 2.0**ws
    d = dparam / 4096.0  # exact: a power-of-two division
    r = reset.astype(np.float64)
    rb = (reset + bias).astype(np.float64)
    th0 = thr.astype(np.float64)
    th = th0 if strict else th0 - 1.0  # integers: h >= thr exactly when h > thr - 1
    v = r.copy()
    h = np.empty(n)
    fired = 0
    t_first = -1
    t_last = -1
    for t in range(out_steps):
        a = acc[t * n : t * n + n]
        before = fired
        if plain and spiking and reset_mode == 0:  # the common case, one pass: ~3.5 cycles a neuron
            s = raster[t]
            for j in range(n):
                hj = min(max(rb[j] + np.trunc((v[j] - r[j]) * d) + a[j] * scale, mlo), mhi)
                fire = hj > th[j]
                v[j] = r[j] if fire else hj
                s[j] = fire
                fired += fire
            if fired > before:
                t_last = t
                t_first = t if t_first < 0 else t_first
            continue
        if plain:
            for j in range(n):
                h[j] = min(max(rb[j] + np.trunc((v[j] - r[j]) * d) + a[j] * scale, mlo), mhi)
        else:
            for j in range(n):
                u = _reduce_f(a[j] * scale, clo, chi, cwrap, chalf, cinv, cmod)
                h[j] = _reduce_f(rb[j] + np.trunc((v[j] - r[j]) * d) + u, mlo, mhi, mwrap, mhalf, minv, mmod)
        if spiking:
            s = raster[t]
            for j in range(n):
                hj = h[j]
                fire = hj > th[j]
                if reset_mode == 0:
                    v[j] = r[j] if fire else hj
                elif reset_mode == 1 and fire:
                    v[j] = _reduce_f(hj - th0[j], mlo, mhi, mwrap, mhalf, minv, mmod)
                else:
                    v[j] = hj
                s[j] = fire
                fired += fire
            if fired > before:
                t_last = t
                t_first = t if t_first < 0 else t_first
        else:
            for j in range(n):
                v[j] = h[j]
                trace[t, j] = f64_to_int(h[j])
    return fired, t_first, t_last


#: ``(w * _GATHER_BITS) >> 56``: the low bit of each of ``w``'s 8 bytes (byte ``k`` to bit ``k``;
#: every product bit comes from one byte, so no carries mix them)
_GATHER_BITS = np.uint64(0x0102040810204080)


@nb.njit(cache=True, inline="always")
def _spike_list(raster, t, out_t, out_i, n_sp):  # pragma: no cover - compiled
    """Append step ``t``'s spikes (row ``t`` of ``raster``, C-contiguous 0/1 bytes) to
    ``out_t``/``out_i`` from ``n_sp``; return the new count. 64 neurons at a time: their bytes
    become one 64-bit mask (eight multiplies) whose set bits are walked (count trailing zeros,
    clear the lowest): a few percent fire, so a step costs about one store pair per spike and
    one loop exit per 64 neurons. The last ``n % 8`` neurons are written without a branch: the
    lists need one slot past the new count."""
    n = raster.shape[1]
    row = t * n
    n8 = n & ~7
    for j0 in range(0, n8, 64):
        m = np.uint64(0)
        for k in range(min(8, (n8 - j0) // 8)):
            m |= ((load8(raster, row + j0 + 8 * k) * _GATHER_BITS) >> np.uint64(56)) << np.uint64(8 * k)
        while m != 0:
            out_t[n_sp] = t
            out_i[n_sp] = j0 + ctz(m)
            n_sp += 1
            m &= m - np.uint64(1)
    for j in range(n8, n):
        out_t[n_sp] = t
        out_i[n_sp] = j
        n_sp += int(raster[t, j])
    return n_sp


@nb.njit(cache=True, nogil=True)
def raster_events(raster, steps, out_t, out_i):  # pragma: no cover - compiled
    """The spikes of ``raster[:steps]`` (C-contiguous 0/1 bytes) as a list in time order, into
    ``out_t``/``out_i`` (one slot more than the spikes: :func:`_spike_list`); returns their
    number."""
    n_sp = 0
    for t in range(steps):
        n_sp = _spike_list(raster, t, out_t, out_i, n_sp)
    return n_sp


@nb.njit(cache=True, nogil=True)
def dense_loihi_layer(sources, layer, neurons, s, acc, rows, raster, trace):  # pragma: no cover - compiled
    """One layer in one call: the time-dense gather of its input (from a spike raster when
    ``sources[0]``, else from time-ordered events) into ``acc``, then Loihi neurons in float64
    lanes (:func:`_neurons_loihi_f64`) into ``raster``/``trace``; returns (synaptic events,
    spikes, first and last step with a spike). One dispatch replaces two and the Python
    between them.

    sources: (from_raster, in_raster, in_steps, src_t, src_i, src_c, unit); layer: the gather's
    arguments (:func:`delaykit.sim.dense_kernels._gather_events`); neurons: the constants of
    :func:`_neurons_loihi_f64` after ``n``."""
    from_raster, in_raster, in_steps, src_t, src_i, src_c, unit = sources
    if from_raster:
        n_events = _gather_raster(in_raster, in_steps, layer, s, acc, rows)
    else:
        n_events = _gather_events(src_t, src_i, src_c, unit, layer, s, acc, rows)
    out_steps, n_out = layer[3], layer[12]
    bias, thr, reset, spiking, dparam, ws, cur_bits, cur_wrap, mem_bits, mem_wrap, strict, reset_mode = (
        neurons
    )
    fired, first, last = _neurons_loihi_f64(
        acc, out_steps, n_out, bias, thr, reset, spiking, dparam, ws, cur_bits, cur_wrap,
        mem_bits, mem_wrap, strict, reset_mode, raster, trace,
    )  # fmt: skip
    return n_events, fired, first, last
