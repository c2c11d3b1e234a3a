"""The event-driven engine: same semantics as :mod:`delaykit.sim.reference`, built for speed.

Layout (DESIGN.md section 7): layers are simulated one at a time. A layer with ``N`` neurons
that runs ``L_out`` steps owns one linear accumulator of ``L_out * N`` slots (slot
``t * N + j`` = input of neuron ``j`` at step ``t``). Its synapses are stored pre-major: the
row of input ``i`` lists its nonzero-weight synapses as flat offsets ``(d + lat) * N + j``
(sorted ascending) next to their weights. A spike (or a nonzero input bin) of input ``i`` at
step ``t`` is delivered by adding the row's weights at ``acc[t * N + offset]``: a contiguous
read of the row and scattered adds into a window of ``(max_delay + 1) * N`` slots that stays
in cache. Arrivals past the end of the run are cut off by a binary search in the (sorted) row,
only for the few sources near the end. Then the neurons are stepped through the accumulator,
and their spikes, in time order, are the next layer's sources. Kernels are numba-compiled
(``cache=True``): the first call in a fresh environment compiles them (a few seconds).

Fixed point is bit for bit equal to the reference (the per-step total is exact and reduced
once). Float modes sum the synaptic input in float64 in event order, the reference in
delay/matrix order: the sums may differ in the last bits (relative ~1e-15), which changes a
spike only when a membrane lands within that distance of its threshold.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from delaykit.network import Network

from .arithmetic import Arithmetic, LayerConstants, layer_constants
from .readout import readout_scores
from .result import SimResult, check_frames

_DECAY_CODES = {"loihi12": 0, "shift": 1, "none": 2}


# ---- kernels ------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _deliver(src_t, src_i, src_c, n_src, row_ptr, row_off, row_w, row_last, acc, n_out, out_steps, lat,
             unit_counts):  # pragma: no cover - compiled
    """Add every source's row into ``acc``; return the number of synaptic events delivered."""
    total = out_steps * n_out
    n_events = 0
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
        if row_last[i] >= room:  # the row runs past the end: find the cut
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
        if unit_counts:
            for k in range(k0, k1):
                a[np.uint64(row_off[k])] += row_w[k]
        else:
            c = src_c[e]
            if c == 1:
                for k in range(k0, k1):
                    a[np.uint64(row_off[k])] += row_w[k]
            else:
                for k in range(k0, k1):
                    a[np.uint64(row_off[k])] += row_w[k] * c
    return n_events


@nb.njit(cache=True, inline="always")
def _reduce(x, bits, wrap):  # pragma: no cover - compiled
    if bits == 0:
        return x
    half = np.int64(1) << (bits - 1)
    if wrap:
        return ((x + half) & ((half << 1) - 1)) - half
    if x > half - 1:
        return half - 1
    if x < 1 - half:
        return 1 - half
    return x


@nb.njit(cache=True, nogil=True)
def _neurons_fixed(acc, out_steps, n, bias, thr, reset, spiking, decay_kind, dparam, ws, cur_bits,
                   cur_wrap, mem_bits, mem_wrap, strict, raster, out_t, out_i, trace):  # pragma: no cover
    """Step the integer neurons through the accumulator; return the number of spikes."""
    v = reset.copy()
    n_sp = 0
    for t in range(out_steps):
        row = t * n
        for j in range(n):
            syn = _reduce(np.int64(acc[row + j]), cur_bits, cur_wrap)
            x = v[j] - reset[j]
            if decay_kind == 0:
                p = x * dparam
                if p >= 0:
                    x = p >> 12
                else:
                    x = -((-p) >> 12)
            elif decay_kind == 1:
                x = x - (x >> dparam)
            h = _reduce(reset[j] + x + (syn << ws) + bias[j], mem_bits, mem_wrap)
            if spiking:
                if strict:
                    fire = h > thr[j]
                else:
                    fire = h >= thr[j]
                if fire:
                    raster[t, j] = 1
                    out_t[n_sp] = t
                    out_i[n_sp] = j
                    n_sp += 1
                    v[j] = reset[j]
                else:
                    v[j] = h
            else:
                v[j] = h
                trace[t, j] = h
    return n_sp


@nb.njit(cache=True, nogil=True)
def _neurons_float(current, out_steps, n, thr, reset, tau, spiking, raster, out_t, out_i,
                   trace):  # pragma: no cover
    """Step float neurons (dtype of ``current``: float32 or float64); return the spike count."""
    v = reset.copy()
    n_sp = 0
    for t in range(out_steps):
        for j in range(n):
            h = v[j] + (reset[j] - v[j]) / tau + current[t, j]
            if spiking:
                if h >= thr[j]:
                    raster[t, j] = 1
                    out_t[n_sp] = t
                    out_i[n_sp] = j
                    n_sp += 1
                    v[j] = reset[j]
                else:
                    v[j] = h
            else:
                v[j] = h
                trace[t, j] = h
    return n_sp


# ---- prepared network -----------------------------------------------------------------------


class _EventLayer:
    """A layer's synapses in pre-major rows of flat offsets, and its neuron constants."""

    def __init__(self, layer, arith: Arithmetic):
        c: LayerConstants = layer_constants(layer, arith)
        self.name = layer.name
        self.c = c
        self.n_out, self.n_in = layer.n_out, layer.n_in
        self.extend = layer.extend_steps
        self.lat = arith.layer_latency_steps
        self.spiking = c.spiking
        w = c.weight
        post, pre = np.nonzero(w)  # synapses with a nonzero weight
        off = layer.delay[post, pre].astype(np.int64) * self.n_out + post
        if off.size and off.max() >= 2**32:
            raise ValueError(f"layer {layer.name!r}: field 'delay': max delay x neurons exceeds 2**32 slots")
        order = np.lexsort((off, pre))  # pre-major, offsets ascending within a row
        self.row_off = np.ascontiguousarray(off[order], dtype=np.uint32)
        counts = np.bincount(pre, minlength=self.n_in)
        self.row_ptr = np.zeros(self.n_in + 1, dtype=np.int64)
        np.cumsum(counts, out=self.row_ptr[1:])
        self.row_last = np.full(self.n_in, -1, dtype=np.int64)
        nz = counts > 0
        self.row_last[nz] = self.row_off[self.row_ptr[1:][nz] - 1]
        vals = w[post, pre][order]
        if arith.is_fixed:
            big = vals.size and np.abs(vals).max() >= 2**31
            self.row_w = np.ascontiguousarray(vals, dtype=np.int64 if big else np.int32)
            # bound of |syn| per unit input count: does an int32 accumulator suffice?
            self.abs_bound = int(np.abs(w).sum(axis=1).max()) if w.size else 0
        else:
            self.row_w = np.ascontiguousarray(vals, dtype=np.float64)
            self.abs_bound = 0


class EventNetwork:
    """A network prepared for the event engine under one arithmetic (reuse it across samples)."""

    def __init__(self, net: Network, arithmetic: Arithmetic | None = None):
        self.net = net
        self.arith = arithmetic or Arithmetic.float64()
        self.layers = [_EventLayer(layer, self.arith) for layer in net.layers]

    def run(self, frames: np.ndarray) -> SimResult:
        """Simulate one sample, frames (T, n_in) counts."""
        arith = self.arith
        x = check_frames(self.net, frames, arith)
        src_t, src_i = np.nonzero(x)  # time-major: sources in time order
        src_c = x[src_t, src_i]
        input_events = int(src_t.size)
        unit = bool(src_c.size == 0 or (src_c == 1).all())
        max_count = int(np.abs(src_c).max()) if (arith.is_fixed and src_c.size) else 1
        steps = x.shape[0]
        spikes: list[np.ndarray] = []
        events: list[int] = []
        out = np.zeros((0, 0))
        fixed = arith.is_fixed
        for el in self.layers:
            n = el.n_out
            out_steps = steps + el.extend + el.lat
            if fixed:
                acc_type = np.int32 if (el.abs_bound * max_count < 2**31 and el.row_w.dtype == np.int32) else np.int64
                acc = np.zeros(out_steps * n, dtype=acc_type)
                c_arr = src_c.astype(el.row_w.dtype)
            else:
                acc = np.zeros(out_steps * n, dtype=np.float64)
                c_arr = src_c.astype(np.float64)
            ev = _deliver(src_t.astype(np.int64), src_i.astype(np.int64), c_arr, src_t.size, el.row_ptr,
                          el.row_off, el.row_w, el.row_last, acc, n, out_steps, el.lat, unit)
            events.append(int(ev))
            raster = np.zeros((out_steps, n), dtype=np.uint8)
            cap = out_steps * n if el.spiking else 0
            out_t = np.empty(cap, dtype=np.int64)
            out_i = np.empty(cap, dtype=np.int64)
            c = el.c
            if fixed:
                trace_raw = np.zeros((0 if el.spiking else out_steps, n), dtype=np.int64)
                n_sp = _neurons_fixed(acc, out_steps, n, c.bias, c.threshold, c.reset, el.spiking,
                                      _DECAY_CODES[arith.decay], c.decay_param, arith.weight_shift,
                                      arith.current_bits or 0, arith.current_overflow == "wrap",
                                      arith.membrane_bits or 0, arith.membrane_overflow == "wrap",
                                      arith.threshold_compare == "gt", raster, out_t, out_i, trace_raw)
            else:
                ftype = arith.float_dtype
                current = (acc.reshape(out_steps, n) + c.bias).astype(ftype)  # I = F(syn + F(b))
                trace_raw = np.zeros((0 if el.spiking else out_steps, n), dtype=ftype)
                n_sp = _neurons_float(current, out_steps, n, c.threshold, c.reset, ftype(c.tau), el.spiking,
                                      raster, out_t, out_i, trace_raw)
            if el.spiking:
                spikes.append(raster)
                out = raster.astype(np.float64)
            else:
                out = trace_raw.astype(np.float64) * c.out_scale
            src_t, src_i = out_t[:n_sp], out_i[:n_sp]
            src_c = np.ones(n_sp, dtype=np.int64)
            unit, max_count = True, 1
            steps = out_steps
        offset = arith.readout_offset(len(self.layers))
        scores = readout_scores(self.net.readout, out[offset:])
        return SimResult(output=out, spikes=spikes, events=events, prediction=int(np.argmax(scores)),
                         scores=scores, readout_offset=offset, input_events=input_events,
                         engine="event", arithmetic=arith.name)


def simulate_event(net: Network, frames: np.ndarray, arithmetic: Arithmetic | None = None) -> SimResult:
    """Simulate one sample with the event engine (prepares the network each call; for many
    samples build an :class:`EventNetwork` once)."""
    return EventNetwork(net, arithmetic).run(frames)
