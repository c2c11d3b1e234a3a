"""The event engine's time-dense path, host side: synapse groups built per network, the choice
between gather and scatter per layer and sample, and the call of the gather kernels
(:mod:`delaykit.sim.dense_kernels`, where the algorithm is described; docs/design.md, "Engines").
"""

from __future__ import annotations

import numpy as np

from .dense_kernels import (
    GROUP,
    LANES,
    SRC_BLOCK,
    _block_bound,
    _gather_events,
    _gather_raster,
    _weighted_bound,
)

#: the delivery paths: "auto" chooses per layer and sample (:func:`choose_lanes`)
DELIVERY = ("auto", "dense", "scatter")
#: a scattered event costs about as much as this many lanes of the gather (measured on the
#: 2-core AMD EPYC, Zen 1, AVX2: a 256 -> 256 layer, K = 25, random spikes; the paths cross
#: between 14 and 27 lanes per event; docs/design.md)
DENSE_LANES_PER_EVENT = 16.0
_NO_COUNTS = np.zeros(0, dtype=np.float64)


class Scratch:
    """Work buffers reused from sample to sample (one per thread: :class:`EventNetwork` keeps
    them in a ``threading.local``). A fresh buffer of ~100 KB is mapped page by page as it is
    first written (glibc returns freed heap tops to the system), and those page faults cost
    ~15 % of an SHD-size sample; a reused one is already mapped. Contents are undefined, as
    ``np.empty``'s."""

    def __init__(self) -> None:
        self._bufs: dict[object, np.ndarray] = {}
        #: per (layer, run length, lanes): what :func:`gather_args` returned, views of these
        #: buffers (a later take that grows a buffer leaves the views on the old one, valid)
        self.plans: dict[tuple, tuple] = {}

    def take(self, key: object, size: int, dtype: type) -> np.ndarray:
        """A buffer of ``size`` elements of ``dtype`` for ``key`` (valid until the next take of
        the same key and dtype)."""
        buf = self._bufs.get((key, dtype))
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._bufs[(key, dtype)] = buf
        return buf[:size]


class DenseSynapses:
    """A layer's synapses for the time-dense gather (:mod:`delaykit.sim.dense_kernels`), in cells
    (source block of ``SRC_BLOCK`` sources, neuron), source block-major: a block's rows of ``S``
    stay in the L1 cache while every neuron adds its synapses from them. Within a cell, synapses
    (source, shift = delay + lag + latency in steps, weight) are sorted by shift and cut into
    groups of ``GROUP`` (so that a group's sources reach similar steps); a cell's last group is
    padded with silent synapses (source ``n_src``, weight 0, the cell's largest shift).
    ``q_ptr[c]..q_ptr[c + 1]``: the groups of cell ``c``; ``q_hmin``/``q_hmax``: each group's
    smallest and largest shift. ``reach[i, s]``: synapses of source ``i`` with shift <= ``s``
    (the events an arrival cut-off keeps)."""

    def __init__(
        self, post: np.ndarray, pre: np.ndarray, shift: np.ndarray, w: np.ndarray, n_out: int, n_src: int
    ):
        n_cells = max(1, -(-n_src // SRC_BLOCK)) * n_out
        cell = (pre // SRC_BLOCK) * n_out + post
        width = int(shift.max()) + 1 if shift.size else 1
        order = np.argsort((cell * width + shift) * (n_src + 1) + pre)  # one int64 key: fast
        cell, pre, shift, w = cell[order], pre[order], shift[order], w[order]
        per_cell = np.bincount(cell, minlength=n_cells)
        groups = (per_cell + GROUP - 1) // GROUP
        self.q_ptr = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(groups, out=self.q_ptr[1:])
        start = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(per_cell, out=start[1:])
        slot = GROUP * self.q_ptr[cell] + (np.arange(cell.size) - start[cell])
        n = GROUP * int(self.q_ptr[-1])
        self.max_shift = int(shift.max()) if shift.size else 0
        # padding slots take their cell's largest shift (its last synapse: sorted by shift)
        owner = np.repeat(np.arange(n_cells), GROUP * groups)
        largest = np.zeros(n_cells, dtype=np.int64)
        has = per_cell > 0
        largest[has] = shift[start[1:][has] - 1]
        self.q_src = np.full(n, n_src, dtype=np.int64)
        self.q_shift = largest[owner]
        small = not w.size or int(np.abs(w).max()) < 2**15  # int16 weights: half the bytes to stream
        self.q_w = np.zeros(n, dtype=np.int16 if small else np.int32)
        self.q_src[slot], self.q_shift[slot], self.q_w[slot] = pre, shift, w
        by_group = self.q_shift.reshape(-1, GROUP)
        self.q_hmin = np.ascontiguousarray(by_group[:, 0])
        self.q_hmax = np.ascontiguousarray(by_group[:, -1])
        self._bases: tuple[int, np.ndarray] = (-1, self.q_src)
        hist = np.bincount(pre * width + shift, minlength=n_src * width).reshape(n_src, width)
        self.reach = np.ascontiguousarray(np.cumsum(hist, axis=1).ravel())
        self.fanout = np.ascontiguousarray(hist.sum(axis=1))  # = reach[i, max_shift]: 2 KB, in L1
        self.n_syn = int(pre.size)
        self.n_src = n_src
        self._abs_block: np.ndarray | None = None
        self._abs_w: tuple[np.ndarray, np.ndarray, np.ndarray, int] | np.ndarray = (
            cell % n_out,
            pre,
            w,
            n_out,
        )

    @property
    def abs_wt(self) -> np.ndarray:
        """``|w|`` per (source, neuron), relays folded into their root (int16 where the sums of
        folded weights fit, else float64): the matrix of the per-sample bound, made on first use (only an input layer with counts above 1 needs it)."""
        got = self._abs_w
        if isinstance(got, tuple):
            post, pre, w, n_out = got
            flat = np.bincount(
                pre * n_out + post, weights=np.abs(w).astype(np.float64), minlength=n_out * self.n_src
            )
            got = flat.reshape(self.n_src, n_out)
            if got.max(initial=0.0) < 2**15:  # a quarter of the bytes to stream per sample
                got = got.astype(np.int16)
            self._abs_w = got  # replaced whole: safe to share between threads
        return got

    @property
    def abs_block(self) -> np.ndarray:
        """``A[b, j] = sum_{i in block b} |w_ij|`` (blocks of ``SRC_BLOCK`` sources, float64):
        the cheap per-sample bound (:func:`choose_lanes`), made on first use."""
        got = self._abs_block
        if got is None:
            a = self.abs_wt.astype(np.float64)
            n_blocks = -(-self.n_src // SRC_BLOCK)
            got = np.add.reduceat(a, np.arange(n_blocks) * SRC_BLOCK, axis=0) if a.size else np.zeros((0, 0))
            got = self._abs_block = np.ascontiguousarray(got)
        return got

    def bases(self, row_len: int) -> np.ndarray:
        """Where each synapse's shifted source row starts in ``S`` (rows of ``row_len`` lanes),
        kept for the last ``row_len`` (samples of one length share it)."""
        got = self._bases
        if got[0] != row_len:
            b = self.q_src * row_len + self.max_shift - self.q_shift
            got = (row_len, b.astype(np.int32) if (self.n_src + 1) * row_len < 2**31 else b)
            self._bases = got  # one tuple, replaced whole: safe to share between threads
        return got[1]


def choose_lanes(
    d: DenseSynapses | None,
    abs_bound: int,
    span: tuple[int, int, int],
    max_count: float,
    peak: np.ndarray | None,
    out_steps: int,
    delivery: str,
) -> type | None:
    """The lane type of the time-dense gather for this layer and input, or None: scatter.

    The gather needs a fixed-point layer (``d``) whose bound ``abs_bound = max_j sum_i |w_ij|``
    times the largest count -- or, tighter, ``max_j sum_i |w_ij| peak_i`` with each source's
    largest count ``peak`` -- fits the lanes (int16, else int32). ``span``: the source events'
    number and their first and last step. "auto" takes it when the expected events (source
    events x mean fan-out) exceed its lanes (synapses x the steps from the first source event
    to the last one plus the largest shift) / :data:`DENSE_LANES_PER_EVENT`.
    """
    if delivery == "scatter" or d is None:
        return None
    bound = abs_bound * max_count
    if bound >= 2**15 and peak is not None:  # |syn[t, j]| <= sum_i |w_ij| peak_i
        # first by blocks of sources (sum_b A[b, j] max_{i in b} peak_i: a 10 KB matrix in
        # cache), exactly only when that is not enough (a 72 KB matrix, ~40 us from L2/L3)
        bound = min(bound, _block_bound(d.abs_block, peak, SRC_BLOCK))
        if bound >= 2**15:
            bound = min(bound, _weighted_bound(d.abs_wt, peak))
    if bound >= 2**31:
        return None
    if delivery == "auto":
        count, t_first, t_last = span
        if count == 0:
            return None
        expected = count * d.n_syn / max(d.n_src, 1)
        steps = min(out_steps, t_last + d.max_shift + 1) - t_first
        if expected * DENSE_LANES_PER_EVENT < d.n_syn * steps:
            return None
    return np.int16 if bound < 2**15 else np.int32


def gather_args(
    d: DenseSynapses, n_out: int, out_steps: int, lanes: type, scratch: Scratch
) -> tuple[tuple, np.ndarray, np.ndarray, np.ndarray]:
    """The gather kernels' layer tuple (:func:`delaykit.sim.dense_kernels._gather_events`) and
    their work buffers (``S``, the accumulator of whole 16-step blocks, the neuron rows; in
    ``scratch``, contents undefined) for a run of ``out_steps`` in ``lanes``."""
    pad = d.max_shift
    n_lanes = (out_steps + LANES - 1) // LANES * LANES
    row_len = pad + n_lanes
    layer: tuple = (d.n_src, pad, row_len, out_steps, d.reach, d.fanout, d.max_shift, d.q_ptr)
    layer += (d.bases(row_len), d.q_w, d.q_hmin, d.q_hmax, n_out)
    s = scratch.take("S", (d.n_src + 1) * row_len, lanes)
    acc = scratch.take("acc", n_lanes * n_out, lanes)  # every slot written (the bound: sums fit)
    rows = scratch.take("rows", n_out * n_lanes, lanes)
    return layer, s, acc, rows


def gather_input(
    d: DenseSynapses,
    src_t: np.ndarray,
    src_i: np.ndarray,
    values: np.ndarray,
    unit: bool,
    n_out: int,
    out_steps: int,
    lanes: type,
    scratch: Scratch | None = None,
    raster: tuple[np.ndarray, int, int] | None = None,
) -> tuple[np.ndarray, int]:
    """The layer's step-major accumulator (``out_steps * n_out``, dtype ``lanes``; in ``scratch``'s
    buffer when given) and synaptic events from sources in time order (step ``src_t``, source
    ``src_i``, counts ``values`` unless ``unit``) or, for 0/1 spikes, from ``raster``: (its
    rows padded to a multiple of 16 with zeros, steps, spikes)."""
    if (src_t.size if raster is None else raster[2]) == 0:
        return np.zeros(out_steps * n_out, dtype=lanes), 0
    scratch = scratch or Scratch()
    layer, s_buf, acc, rows = gather_args(d, n_out, out_steps, lanes, scratch)
    if raster is not None:
        n_events = _gather_raster(raster[0], raster[1], layer, s_buf, acc, rows)
    else:
        n_events = _gather_events(src_t, src_i, _NO_COUNTS if unit else values, unit, layer, s_buf, acc, rows)
    return acc[: out_steps * n_out], int(n_events)
