"""The event-driven engine: same semantics as :mod:`delaykit.sim.reference`, built for speed.

Layout (docs/design.md, "Engines and how they are checked"): layers are simulated one at a
time. A layer with ``N`` neurons that runs ``L_out`` steps owns one linear accumulator of
``L_out * N`` slots (slot ``t * N + j`` = input of neuron ``j`` at step ``t``). Its synapses
are stored pre-major: the row of input ``i`` lists its nonzero-weight synapses as flat offsets
``d * N + j`` (sorted ascending; uint16 when they fit) next to their weights (int16 when they
fit). A spike (or a nonzero input bin) of input ``i`` at step ``t`` is delivered by adding the
row's weights at ``acc[(t + lat) * N + offset]``: a contiguous read of the row and scattered
adds into a window of ``(max_delay + 1) * N`` slots that stays in cache. Arrivals past the end
of the run are cut off by a binary search in the (sorted) row, only for the few sources near
the end (the "scatter" path).

In fixed point a layer can instead gather its whole input time-densely (the "dense" path,
:mod:`delaykit.sim.event_dense`): the layer's input spike train is known before it runs, so
each neuron adds its synapses' shifted source rows 16 steps per vector operation. Per layer and
sample :func:`_choose` takes the gather when it expects fewer than ``DENSE_LANES_PER_EVENT``
lanes per synaptic event (dense inputs) and the scatter otherwise (sparse inputs, float modes);
both fill the same accumulator. Then the neurons are stepped through the accumulator, and their
spikes, in time order, are the next layer's sources: a list, or, from Loihi neurons in float64
lanes, the spike raster itself, which the next gather transposes (:class:`_Sources`). A layer
gathered into such neurons runs as one compiled call (:func:`_dense_loihi`). Kernels
(:mod:`delaykit.sim.event_kernels`, :mod:`delaykit.sim.dense_kernels`) are numba-compiled
(``cache=True``): the first call in a fresh environment compiles them (a few seconds).

Relay neurons and input taps (format v2, :mod:`delaykit.network`) cost nothing at run time: a
relay is an exact copy of a main neuron ``lag`` steps late (a tap: of an input channel), so a
synapse from it is stored in its root's row with delay ``D + lag`` (see :class:`_EventLayer`).
The reference steps the copies literally; the property tests hold both to the same bits.

Fixed point is bit for bit equal to the reference on both paths (the per-step total is exact,
in any order, and reduced once). Float modes always scatter: they sum the synaptic input in float64 in event order, the reference in
delay/matrix order: the sums may differ in the last bits (relative ~1e-15), which changes a
spike only when a membrane lands within that distance of its threshold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from delaykit.arithmetic import Arithmetic, LayerConstants, layer_constants
from delaykit.network import Network, relay_roots

from .event_dense import DELIVERY, DenseSynapses, Scratch, choose_lanes, gather_args, gather_input
from .event_kernels import (
    _deliver,
    _input_sources,
    _neurons_fixed,
    _neurons_float,
    _neurons_loihi_f64,
    dense_loihi_layer,
    raster_events,
)
from .readout import result_of, scaled_softmax_sum
from .result import NON_FINITE_FRAMES, SimResult, frames_array, non_integer_frames

_DECAY_CODES = {"loihi12": 0, "shift": 1, "none": 2}


# ---- prepared network -----------------------------------------------------------------------


class _EventLayer:
    """A layer's synapses in pre-major rows of flat offsets, and its neuron constants.

    fold: for a layer fed by relays or input taps (format v2), ``(root, lag, n_src)``: input
    column ``i`` is source ``root[i]`` delayed by ``lag[i]`` steps (a relay is an exact delayed
    copy of a main neuron, a tap of an input channel), so its synapses join the row of
    ``root[i]`` with delay ``D + lag[i]``. Rows are then over the ``n_src`` main neurons (input
    channels) that actually spike, and relays cost nothing at run time.
    """

    def __init__(self, layer, arith: Arithmetic, fold: tuple[np.ndarray, np.ndarray, int] | None = None):
        c: LayerConstants = layer_constants(layer, arith)
        self.name = layer.name
        self.c = c
        self.n_out, self.n_in = layer.n_out, layer.n_in
        self.extend = layer.extend_steps
        self.lat = arith.layer_latency_steps
        self.spiking = c.spiking
        self.fixed = arith.is_fixed
        # the empty trace of a spiking layer and raster of an LI one (never written)
        self.no_trace = np.zeros((0, self.n_out), dtype=np.int64)
        self.no_raster = np.zeros((0, self.n_out), dtype=np.uint8)
        #: the float64-lane neuron kernel's constants, per (accumulator bytes, largest count)
        self.lane_args: dict[tuple[int, float], tuple] = {}
        w = c.weight
        post, pre = np.nonzero(w)  # synapses with a nonzero weight
        delay = layer.delay[post, pre].astype(np.int64)
        vals = w[post, pre]
        if fold is not None:
            root, lag, self.n_in = fold
            delay = delay + lag[pre]
            pre = root[pre]
        off = delay * self.n_out + post
        if off.size and off.max() >= 2**32:
            raise ValueError(f"layer {layer.name!r}: field 'delay': max delay x neurons exceeds 2**32 slots")
        order = np.argsort(
            pre * (int(off.max()) + 1 if off.size else 1) + off
        )  # pre-major, offsets ascending
        off_type = np.uint16 if (off.size == 0 or off.max() < 2**16) else np.uint32
        self.row_off = np.ascontiguousarray(off[order], dtype=off_type)
        counts = np.bincount(pre, minlength=self.n_in)
        self.row_ptr = np.zeros(self.n_in + 1, dtype=np.int64)
        np.cumsum(counts, out=self.row_ptr[1:])
        self.row_last = np.full(self.n_in, -1, dtype=np.int64)
        nz = counts > 0
        self.row_last[nz] = self.row_off[self.row_ptr[1:][nz] - 1]
        vals = vals[order]
        if arith.is_fixed:
            self._fixed_point(c, arith, w, vals, post[order], pre[order], delay[order])
        else:
            self._float(c, arith, vals)

    def _fixed_point(
        self,
        c: LayerConstants,
        arith: Arithmetic,
        w: np.ndarray,
        vals: np.ndarray,
        post: np.ndarray,
        pre: np.ndarray,
        delay: np.ndarray,
    ) -> None:
        """Integer weights of the rows, the accumulator bound, the neuron kernel's lanes and the
        dense groups (synapses ``post``/``pre``/``delay`` in row order, weights ``vals``)."""
        m = int(np.abs(vals).max()) if vals.size else 0
        w_type = np.int16 if m < 2**15 else (np.int32 if m < 2**31 else np.int64)
        self.row_w = np.ascontiguousarray(vals, dtype=w_type)
        # bound of |syn| per unit input count: does an int32 accumulator suffice?
        self.abs_bound = int(np.abs(w).sum(axis=1).max()) if w.size else 0
        # every decayed value fits 32 bits (|v - r'| < 2**29 + 2**28, |c| <= 2**30): a cheaper multiply
        mem, cur = arith.membrane_bits or 0, arith.current_bits or 0
        self.narrow = (
            0 < mem <= 30
            and int(np.abs(c.reset).max(initial=0)) < 2**28
            and (not c.has_current or 0 < cur <= 31)
        )
        # ... and every value of a Loihi neuron without a current is an integer below 2**53
        # (accumulators of <= 32 bits shifted by <= 20): float64 lanes give the same bits
        self.float_lanes = (
            self.narrow
            and arith.decay == "loihi12"
            and not c.has_current
            and arith.weight_shift <= 20
            and int(np.abs(c.threshold).max(initial=0)) < 2**40
            and int(np.abs(c.reset + c.bias).max(initial=0)) < 2**40
        )
        self.dense: DenseSynapses | None = None
        if m < 2**31:
            self.dense = DenseSynapses(post, pre, delay + self.lat, vals, self.n_out, self.n_in)

    def _float(self, c: LayerConstants, arith: Arithmetic, vals: np.ndarray) -> None:
        """Float weights of the rows and the float kernel's constants (float modes always scatter:
        their sums keep the scatter's order, module docstring)."""
        self.narrow = self.float_lanes = False
        self.dense = None
        # float32 storage when it holds every weight exactly (sums still run in float64)
        lossless = np.array_equal(vals.astype(np.float32).astype(np.float64), vals)
        self.row_w = np.ascontiguousarray(vals, dtype=np.float32 if lossless else np.float64)
        self.abs_bound = 0
        f = arith.float_dtype  # the float kernel's constants in F, made once
        self.f_consts: tuple[np.floating, np.ndarray, np.floating] = (
            f(c.mem_leak),
            c.bias.astype(f),
            f(c.syn_leak),
        )


class EventNetwork:
    """A network prepared for the event engine under one arithmetic (reuse it across samples)."""

    def __init__(self, net: Network, arithmetic: Arithmetic | None = None, delivery: str = "auto"):
        """delivery: "auto" (per layer and sample, :func:`_choose`), or force "dense" (where a
        layer allows it) or "scatter" -- for tests and benchmarks; results are the same."""
        if delivery not in DELIVERY:
            raise ValueError(f"delivery: must be one of {', '.join(DELIVERY)}, got {delivery!r}")
        self.net = net
        self.arith = arithmetic or Arithmetic.float64()
        self.delivery = delivery
        self.layers = [_EventLayer(layer, self.arith, _fold(net, li)) for li, layer in enumerate(net.layers)]
        #: the path each layer took in the last run ("dense" or "scatter")
        self.last_paths: list[str] = []
        self._local = threading.local()  # each thread's work buffers (Scratch), reused per sample

    def _scratch(self) -> Scratch:
        got = getattr(self._local, "scratch", None)
        if got is None:
            got = self._local.scratch = Scratch()
        return got

    def run(self, frames: np.ndarray) -> SimResult:
        """Simulate one sample, frames (T, n_in) counts."""
        src, input_events = _input(self.net, frames, self.arith)
        steps = src.steps
        spikes: list[np.ndarray] = []
        events: list[int] = []
        paths: list[str] = []
        out = _LayerOut(np.zeros((0, 0)), np.zeros((0, 0)), src)
        scratch = self._scratch()
        fixed = self.arith.is_fixed
        for li, el in enumerate(self.layers):
            out_steps = steps + el.extend + el.lat
            lanes = _choose(el, src, out_steps, self.delivery) if fixed else None
            if lanes is not None and el.float_lanes and el.dense is not None:  # one call
                out, n_events = _dense_loihi(el, el.dense, src, out_steps, lanes, self.arith, scratch)
                path = "dense"
            else:
                acc, n_events, path = _deliver_layer(el, src, out_steps, lanes, scratch)
                # a layer's spikes are read by the next layer while it writes its own: two buffers
                spike_bufs = (
                    scratch.take(("t", li % 2), out_steps * el.n_out, np.int64),
                    scratch.take(("i", li % 2), out_steps * el.n_out, np.int64),
                )
                out = _step_layer(el, acc, out_steps, self.arith, src.max_count, spike_bufs)
            events.append(n_events)
            paths.append(path)
            if el.spiking:
                spikes.append(out.raster)
            src = out.spikes
            steps = out_steps
        self.last_paths = paths
        return self._result(out, spikes, events, input_events)

    def _result(
        self, last: _LayerOut, spikes: list[np.ndarray], events: list[int], input_events: int
    ) -> SimResult:
        arith = self.arith
        el = self.layers[-1]
        scores = None
        if el.spiking:
            out = last.raster.astype(np.float64)
        elif self.net.readout == "softmax_sum" and arith.is_fixed:  # one compiled call
            out, scores = scaled_softmax_sum(
                last.trace_raw, el.c.out_scale, arith.readout_offset(len(self.layers))
            )
        else:
            out = last.trace_raw.astype(np.float64) * el.c.out_scale
        raw = None if el.spiking else last.trace_raw
        return result_of(self.net, arith, "event", out, spikes, events, input_events, raw, scores)


# ---- one sample, step by step -----------------------------------------------------------------


class _Sources:
    """Events into a layer, in time order: step ``t``, source ``i``, count ``values`` (empty
    when every count is 1: ``unit``); ``steps`` is the length of the sequence they come from;
    ``peak``: each source's largest count (the input layer's, when counts exceed 1).

    Spikes of a layer whose kernel writes only its raster (:func:`_step_loihi_lanes`) keep
    ``raster`` (rows padded with zeros to a multiple of 16): the time-dense gather transposes
    it whole, and ``t``/``i`` are listed from it only when asked (the scatter path). ``span``:
    (events, first step, last step; -1 when none)."""

    def __init__(
        self,
        t: np.ndarray | None,
        i: np.ndarray | None,
        values: np.ndarray,
        unit: bool,
        max_count: float,
        steps: int,
        peak: np.ndarray | None = None,
        raster: tuple[np.ndarray, int, tuple[int, int, int]] | None = None,
    ):
        self._t, self._i = t, i
        self.values, self.unit, self.max_count, self.steps, self.peak = values, unit, max_count, steps, peak
        self.raster: tuple[np.ndarray, int, int] | None = None
        if raster is not None:
            padded, n_steps, self.span = raster
            self.raster = (padded, n_steps, self.span[0])
        elif t is not None and t.size:
            self.span = (int(t.size), int(t[0]), int(t[-1]))
        else:
            self.span = (0, -1, -1)

    def _listed(self) -> tuple[np.ndarray, np.ndarray]:
        if (self._t is None or self._i is None) and self.raster is not None:
            padded, n_steps, count = self.raster
            # one slot more: the list's branch-free tail writes one past the last spike
            t, i = np.empty(count + 1, dtype=np.int64), np.empty(count + 1, dtype=np.int64)
            raster_events(padded, n_steps, t, i)
            self._t, self._i = t[:count], i[:count]
        if self._t is None or self._i is None:
            raise ValueError("_Sources: neither a list nor a raster of spikes")
        return self._t, self._i

    @property
    def t(self) -> np.ndarray:
        return self._listed()[0]

    @property
    def i(self) -> np.ndarray:
        return self._listed()[1]


@dataclass
class _LayerOut:
    """A layer's run: spike raster (spiking) or membrane trace (LI), and its spikes as sources."""

    raster: np.ndarray
    trace_raw: np.ndarray
    spikes: _Sources


def _input(net: Network, frames: np.ndarray, arith: Arithmetic) -> tuple[_Sources, int]:
    """The input frames as the first layer's sources, and the number of input events."""
    x = frames_array(net, frames)  # input taps (format v2) are folded into the first layer's rows
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    x = np.ascontiguousarray(x)
    src_t, src_i, values, status, max_count, ones, top = _input_sources(x, arith.is_fixed)
    if status == 1:
        raise ValueError(NON_FINITE_FRAMES)
    if status == 2:
        raise ValueError(non_integer_frames(arith))
    unit = max_count == 1.0 and bool(ones)
    peak = None if unit else top  # |x.max(axis=0)|; counts are >= 0 in fixed point
    return _Sources(src_t, src_i, values, unit, max_count, x.shape[0], peak), int(src_t.size)


def _choose(el: _EventLayer, src: _Sources, out_steps: int, delivery: str) -> type | None:
    """The gather's lane type for this layer and input, or None: scatter (:func:`choose_lanes`)."""
    return choose_lanes(el.dense, el.abs_bound, src.span, src.max_count, src.peak, out_steps, delivery)


def _deliver_layer(
    el: _EventLayer,
    src: _Sources,
    out_steps: int,
    lanes: type | None,
    scratch: Scratch | None = None,
) -> tuple[np.ndarray, int, str]:
    """The layer's accumulator (``out_steps * n`` slots) after delivering every source, the
    number of synaptic events, and the path taken: "dense" in ``lanes`` (:func:`_choose`), or
    "scatter" when None."""
    if lanes is not None and el.dense is not None:  # _choose gives lanes only to a dense layer
        if src.raster is not None:
            acc, n_events = gather_input(
                el.dense,
                _NO_EVENTS,
                _NO_EVENTS,
                src.values,
                True,
                el.n_out,
                out_steps,
                lanes,
                scratch,
                src.raster,
            )
        else:
            acc, n_events = gather_input(
                el.dense, src.t, src.i, src.values, src.unit, el.n_out, out_steps, lanes, scratch
            )
        return acc, n_events, "dense"
    acc_type: type
    if el.fixed:  # int32, not int16: a 16-bit add to memory costs up to 2x per event on AMD Zen 1
        acc_type = np.int32 if el.abs_bound * src.max_count < 2**31 else np.int64
    else:
        acc_type = np.float64
    acc = np.zeros(out_steps * el.n_out, dtype=acc_type)
    counts = _NO_COUNTS[acc_type] if src.unit else src.values.astype(acc_type)
    n_events = _deliver(
        src.t,
        src.i,
        counts,
        src.t.size,
        el.row_ptr,
        el.row_off,
        el.row_w,
        el.row_last,
        acc,
        el.n_out,
        out_steps,
        el.lat,
        src.unit,
    )
    return acc, int(n_events), "scatter"


def _dense_loihi(
    el: _EventLayer,
    d: DenseSynapses,
    src: _Sources,
    out_steps: int,
    lanes: type,
    arith: Arithmetic,
    scratch: Scratch,
) -> tuple[_LayerOut, int]:
    """A layer whose input is gathered time-densely (``lanes``) and whose Loihi neurons run in
    float64 lanes (``el.float_lanes``), in one kernel call (:func:`dense_loihi_layer`): the
    same kernels as :func:`_deliver_layer` and :func:`_step_layer`, less Python between them."""
    n = el.n_out
    plan = scratch.plans.get((id(el), out_steps, lanes))
    if plan is None:  # samples of one length reuse the kernel's layer tuple and buffers
        if len(scratch.plans) > 64:
            scratch.plans.clear()
        plan = scratch.plans[(id(el), out_steps, lanes)] = gather_args(d, n, out_steps, lanes, scratch)
    layer, s, acc, rows = plan
    if src.raster is not None:
        sources = (True, src.raster[0], src.raster[1], _NO_EVENTS, _NO_EVENTS, _NO_COUNTS[np.float64], True)
    else:
        values = _NO_COUNTS[np.float64] if src.unit else src.values
        sources = (False, _NO_RASTER, 0, src.t, src.i, values, src.unit)
    neurons = _lane_args(el, arith, _LANE_BYTES[lanes], src.max_count)
    if el.spiking:  # a fresh raster (it goes to the result); no trace
        padded = np.zeros(((out_steps + 15) // 16 * 16, n), dtype=np.uint8)
        raster, trace = padded[:out_steps], el.no_trace
    else:
        padded = raster = el.no_raster
        trace = np.zeros((out_steps, n), dtype=np.int64)
    n_events, fired, first, last = dense_loihi_layer(sources, layer, neurons, s, acc, rows, raster, trace)
    no_counts = _NO_COUNTS[np.float64]
    if el.spiking:
        out_src = _Sources(
            None,
            None,
            no_counts,
            True,
            1.0,
            out_steps,
            raster=(padded, out_steps, (fired, first, last)),
        )
    else:
        out_src = _Sources(_NO_EVENTS, _NO_EVENTS, no_counts, True, 1.0, out_steps)
    return _LayerOut(raster, trace, out_src), int(n_events)


def _step_layer(
    el: _EventLayer,
    acc: np.ndarray,
    out_steps: int,
    arith: Arithmetic,
    max_count: float = np.inf,
    spike_bufs: tuple[np.ndarray, np.ndarray] | None = None,
) -> _LayerOut:
    """Step the layer's neurons through its accumulator (filled from sources whose largest
    count is ``max_count``); the spike list goes into ``spike_bufs`` (``out_steps * n`` int64
    slots each, reused) when given."""
    n = el.n_out
    # rows padded to a multiple of 16 (zeros): the next layer's gather transposes 16 x 16 blocks
    padded = np.zeros(((out_steps + 15) // 16 * 16 if el.spiking else 0, n), dtype=np.uint8)
    raster = padded[:out_steps]
    cap = out_steps * n if el.spiking else 0
    if spike_bufs is None:
        spike_bufs = (np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64))
    out_t, out_i = spike_bufs[0][:cap], spike_bufs[1][:cap]
    step = _step_fixed if arith.is_fixed else _step_float
    n_sp, trace_raw, span = step(el, acc, out_steps, arith, raster, out_t, out_i, max_count)
    no_counts = _NO_COUNTS[np.float64]
    if span is not None:  # the kernel wrote the raster only: listed when the scatter asks
        spikes = _Sources(None, None, no_counts, True, 1.0, out_steps, raster=(padded, out_steps, span))
    else:
        spikes = _Sources(out_t[:n_sp], out_i[:n_sp], no_counts, True, 1.0, out_steps)
    return _LayerOut(raster, trace_raw, spikes)


def _step_fixed(
    el: _EventLayer,
    acc: np.ndarray,
    out_steps: int,
    arith: Arithmetic,
    raster: np.ndarray,
    out_t: np.ndarray,
    out_i: np.ndarray,
    max_count: float = np.inf,
) -> tuple[int, np.ndarray, tuple[int, int, int] | None]:
    """The fixed-point neurons: (spike count, int64 membrane trace of an LI layer, and None when
    the spikes were listed into ``out_t``/``out_i``, else (spikes, first, last step with one):
    the raster alone holds them)."""
    n, c = el.n_out, el.c
    trace_raw = np.zeros((0 if el.spiking else out_steps, n), dtype=np.int64)
    if el.float_lanes and acc.dtype.itemsize <= 4:
        span = _step_loihi_lanes(el, acc, out_steps, arith, raster, max_count, trace_raw)
        return span[0], trace_raw, span
    n_sp = _neurons_fixed(
        acc,
        out_steps,
        n,
        c.bias,
        c.threshold,
        c.reset,
        el.spiking,
        3 if arith.decay == "loihi12" and el.narrow else _DECAY_CODES[arith.decay],
        c.decay_param,
        arith.weight_shift,
        arith.current_bits or 0,
        arith.current_overflow == "wrap",
        arith.membrane_bits or 0,
        arith.membrane_overflow == "wrap",
        arith.threshold_compare == "gt",
        c.has_current,
        c.syn_decay_param,
        c.reset_mode,
        raster,
        out_t,
        out_i,
        trace_raw,
    )
    return n_sp, trace_raw, None


def _lane_args(el: _EventLayer, arith: Arithmetic, acc_bytes: int, max_count: float) -> tuple:
    """The constants of :func:`_neurons_loihi_f64` after ``n``, for an accumulator of
    ``acc_bytes`` per slot filled from sources whose largest count is ``max_count`` (made once
    per layer and key, kept in ``el.lane_args``)."""
    got = el.lane_args.get((acc_bytes, max_count))
    if got is None:
        got = el.lane_args[(acc_bytes, max_count)] = _make_lane_args(el, arith, acc_bytes, max_count)
    return got


def _make_lane_args(el: _EventLayer, arith: Arithmetic, acc_bytes: int, max_count: float) -> tuple:
    c = el.c
    cur_bits = arith.current_bits or 0
    # |syn| <= sum_i |w_ij| x the largest count (and an int16 accumulator holds it): when
    # every syn << ws fits the current, its reduction is the identity and is left out (0)
    top = min(el.abs_bound * max_count, 2.0**15 if acc_bytes == 2 else np.inf)
    if cur_bits and top * 2.0**arith.weight_shift < 2.0 ** (cur_bits - 1):
        cur_bits = 0
    return (
        c.bias,
        c.threshold,
        c.reset,
        el.spiking,
        c.decay_param,
        arith.weight_shift,
        cur_bits,
        arith.current_overflow == "wrap",
        arith.membrane_bits or 0,
        arith.membrane_overflow == "wrap",
        arith.threshold_compare == "gt",
        c.reset_mode,
    )


def _step_loihi_lanes(
    el: _EventLayer,
    acc: np.ndarray,
    out_steps: int,
    arith: Arithmetic,
    raster: np.ndarray,
    max_count: float,
    trace_raw: np.ndarray,
) -> tuple[int, int, int]:
    """Loihi neurons in exact float64 lanes (``el.float_lanes``), spikes into ``raster`` only;
    returns (spikes, first and last step with a spike, -1 when none)."""
    args = _lane_args(el, arith, acc.dtype.itemsize, max_count)
    fired, first, last = _neurons_loihi_f64(acc, out_steps, el.n_out, *args, raster, trace_raw)  # type: ignore[call-arg]
    return int(fired), int(first), int(last)


def _step_float(
    el: _EventLayer,
    acc: np.ndarray,
    out_steps: int,
    arith: Arithmetic,
    raster: np.ndarray,
    out_t: np.ndarray,
    out_i: np.ndarray,
    max_count: float = np.inf,
) -> tuple[int, np.ndarray, None]:
    """The float neurons: (spike count, membrane trace in F of an LI layer, None: the spikes are
    listed)."""
    n, c = el.n_out, el.c
    ftype = arith.float_dtype
    current: np.ndarray
    if c.has_current:  # the current takes F(syn); the bias goes to the membrane
        current = acc.reshape(out_steps, n).astype(ftype)
    else:
        current = (acc.reshape(out_steps, n) + c.bias).astype(ftype)  # I = F(syn + F(b))
    trace_raw = np.zeros((0 if el.spiking else out_steps, n), dtype=ftype)
    n_sp = _neurons_float(
        current,
        out_steps,
        n,
        c.threshold,
        c.reset,
        el.f_consts[0],
        el.spiking,
        c.has_current,
        el.f_consts[1],
        el.f_consts[2],
        c.mem_leak_div,
        c.syn_leak_div,
        c.reset_mode,
        raster,
        out_t,
        out_i,
        trace_raw,
    )
    return n_sp, trace_raw, None


def _fold(net: Network, li: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(root, lag, n_src)`` of layer ``li``'s input columns when relays or taps feed it, else None."""
    if li == 0:
        taps = net.input.taps
        if not taps:
            return None
        c = net.input.n_channels
        t = np.asarray(taps, dtype=np.int64).reshape(-1, 2)
        root = np.concatenate([np.arange(c, dtype=np.int64), t[:, 0]])
        lag = np.concatenate([np.zeros(c, np.int64), t[:, 1]])
        return root, lag, c
    prev = net.layers[li - 1]
    if not prev.n_relay:
        return None
    r_root, r_lag = relay_roots(prev)
    n = prev.n_out
    return (
        np.concatenate([np.arange(n, dtype=np.int64), r_root]),
        np.concatenate([np.zeros(n, np.int64), r_lag]),
        n,
    )


_NO_COUNTS = {t: np.zeros(0, dtype=t) for t in (np.int32, np.int64, np.float64)}
_NO_EVENTS = np.zeros(0, dtype=np.int64)
_NO_RASTER = np.zeros((0, 0), dtype=np.uint8)
_LANE_BYTES: dict[type, int] = {np.int16: 2, np.int32: 4}


def simulate_event(net: Network, frames: np.ndarray, arithmetic: Arithmetic | None = None) -> SimResult:
    """Simulate one sample with the event engine (prepares the network each call; for many
    samples build an :class:`EventNetwork` once)."""
    return EventNetwork(net, arithmetic).run(frames)
