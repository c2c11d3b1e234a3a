"""The event engine's time-dense delivery kernels (:mod:`delaykit.sim.event` chooses them).

A feed-forward layer's whole input spike train is known before the layer runs, so its synaptic
input can be gathered instead of scattered: with the sources as a dense array
``S[i * L + pad + t]`` (count of source ``i`` at source step ``t``, zero elsewhere, ``pad`` = the
largest shift), output neuron ``j``'s input row is

    row[t] = sum over synapses k of j:  w_k * S[i_k * L + pad - shift_k + t]

for ``t`` in the run (``shift`` = delay + relay lag + layer latency, steps): contiguous loads,
one add per lane. Synapses are ordered by block of ``SRC_BLOCK`` sources (their rows of ``S``
stay in L1 while every neuron reads them), then neuron, then shift, and cut into groups of
``GROUP`` (8, built per network); a group adds its shifted source rows into its neuron's row 16
time steps (lanes) at a time, with one load and one store of the row per 8 synapses, in
explicit 16-lane vector code (:func:`_make_group`: LLVM vectors emitted through a numba
intrinsic; numba's own loops over two arrays carry alias checks and scalar remainders that cost
as much as the work). A group runs over the steps its arrivals can reach: the first and last
event of its block of sources plus the group's smallest and largest shift, rounded out to 16
steps. The rows are then transposed, in 16 x 16 blocks held in vector registers, into the
step-major accumulator that the neuron kernels read.

Exactness: lanes are int16 when the layer's bound (largest ``sum_i |w_ij|`` times the largest
count) is below ``2**15``, else int32. Integer adds are exact in any order as long as the final
sum fits (two's complement sums wrap and unwrap), and the bound proves it; the step's total is
then reduced once by the neuron kernel, as in the reference. 0/1 spikes are stored as ``-1`` so
a product is one AND (``S & w``); counts above 1 multiply.

Compiled with ``cache=True`` (numba), like :mod:`delaykit.sim.event_kernels`.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .bits import load8

#: time steps per vector operation (16 int16 lanes fill one AVX2 register; int32 takes two)
LANES = 16


def _make_group(op: str):
    """A numba intrinsic ``group(row, s, r, offs, ws)``: ``row[r : r + 16] += sum_k op(s[offs[k] :
    offs[k] + 16], ws[k])`` over the ``GROUP`` synapses of tuples ``offs`` and ``ws``, with ``op``
    "and" or "mul", as 16-lane vectors; ``row`` is loaded and stored once."""

    @intrinsic
    def group(typingctx, row, s, r, offs, ws):
        sig = types.void(row, s, r, offs, ws)

        def codegen(context, builder, sig, args):
            elem = sig.args[0].dtype
            vty = ir.VectorType(context.get_value_type(elem), LANES)
            rdata = context.make_array(sig.args[0])(context, builder, args[0]).data
            sdata = context.make_array(sig.args[1])(context, builder, args[1]).data
            align = elem.bitwidth // 8
            rp = builder.bitcast(builder.gep(rdata, [args[2]]), vty.as_pointer())
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
            terms = []
            for k in range(GROUP):
                o = builder.extract_value(args[3], k)
                w = context.cast(builder, builder.extract_value(args[4], k), sig.args[4].dtype, elem)
                wv = builder.shuffle_vector(
                    builder.insert_element(undef, w, ir.Constant(ir.IntType(32), 0)), undef, splat
                )
                v = builder.load(builder.bitcast(builder.gep(sdata, [o]), vty.as_pointer()), align=align)
                terms.append(builder.and_(v, wv) if op == "and" else builder.mul(v, wv))
            while len(terms) > 1:  # a tree of adds: short dependency chains
                terms = [builder.add(terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
            builder.store(builder.add(builder.load(rp, align=align), terms[0]), rp, align=align)
            return context.get_dummy_value()

        return sig, codegen

    return group


#: synapses added per pass over a row: 8 loads and adds per row load and store (the intrinsic
#: and the kernel are written for 8)
GROUP = 8
#: sources per block of the gather's synapse order: a block's rows of ``S`` (32 x ~200 steps x 2
#: bytes) stay in a 32 KB L1 cache while every neuron reads them
SRC_BLOCK = 32
_group_and = _make_group("and")
_group_mul = _make_group("mul")


@nb.njit(cache=True, nogil=True)
def _weighted_bound(abs_wt, peak):  # pragma: no cover - compiled
    """``(abs_wt.T @ peak).max(initial=0)`` (``abs_wt``: ``|w|`` source-major, int16 or float64)
    on one thread: a BLAS call wakes its thread pool, 45-150 us a call on the 2-core machine;
    here silent sources are skipped and each source's row is added into all neurons' sums
    (vector adds over 2-byte weights: the matrix streams from L2, not memory). Integer
    entries: every partial sum is an integer below 2**53, so the order of the adds is free."""
    total = np.zeros(abs_wt.shape[1])
    for i in range(abs_wt.shape[0]):
        p = peak[i]
        if p != 0.0:
            row = abs_wt[i]
            for j in range(total.size):
                total[j] += np.float64(row[j]) * p
    top = 0.0
    for j in range(total.size):
        top = max(top, total[j])
    return top


@nb.njit(cache=True, nogil=True)
def _block_bound(abs_block, peak, block):  # pragma: no cover - compiled
    """``max_j sum_b abs_block[b, j] max(peak[block b])``: an upper bound of
    :func:`_weighted_bound` from per-block weight sums and each block's largest count."""
    n_blocks, n_out = abs_block.shape
    total = np.zeros(n_out)
    for b in range(n_blocks):
        p = 0.0
        for i in range(b * block, min(b * block + block, peak.size)):
            p = max(p, peak[i])
        if p != 0.0:
            for j in range(n_out):
                total[j] += abs_block[b, j] * p
    top = 0.0
    for j in range(n_out):
        top = max(top, total[j])
    return top


@nb.njit(cache=True, nogil=True)
def _dense_sources(
    src_t, src_i, src_c, unit, n_src, pad, row_len, out_steps, reach, fanout, max_shift, s
):  # pragma: no cover - compiled
    """The sources written into ``S`` = ``s`` (``(n_src + 1) * row_len`` lanes, zeroed here; row
    ``n_src`` stays silent), the first and last step with an event per block of ``SRC_BLOCK``
    sources, and the number of synaptic events.

    ``S[i * row_len + pad + t]``: count of source ``i`` at step ``t`` (``-1`` when ``unit``).
    ``reach[i * (max_shift + 1) + s]``: synapses of source ``i`` with shift <= ``s``, so an
    event at step ``t`` delivers ``reach[i, min(max_shift, out_steps - 1 - t)]`` arrivals that
    fall inside the run (none when ``t >= out_steps``); ``fanout[i]`` = ``reach[i, max_shift]``. Events come in time order (``src_t``
    nondecreasing), as every ``_Sources`` does.
    """
    s[:] = 0  # a reused buffer: its pages are mapped (a fresh one faults in ~25 pages a layer)
    n_blocks = (n_src + SRC_BLOCK - 1) // SRC_BLOCK
    first = np.full(n_blocks, 1 << 40, dtype=np.int64)  # a silent block: every range is empty
    last = np.full(n_blocks, -(1 << 40), dtype=np.int64)
    n_events = 0
    w = max_shift + 1
    for e in range(src_t.size):
        i = src_i[e]
        t = src_t[e]
        s[i * row_len + pad + t] = -1 if unit else src_c[e]
        b = i // SRC_BLOCK
        if t < first[b]:  # rarely taken: no chain of loads and stores through first[b]
            first[b] = t
        last[b] = t  # events come in time order
        room = out_steps - 1 - t
        if room >= max_shift:  # every arrival inside the run: all of the source's synapses
            n_events += fanout[i]
        elif room >= 0:
            n_events += reach[i * w + room]
    return s, first, last, n_events


@nb.njit(cache=True, nogil=True)
def _raster_sources(
    raster, steps, pad, row_len, out_steps, reach, fanout, max_shift, s
):  # pragma: no cover - compiled
    """:func:`_dense_sources` for 0/1 spikes given as a raster: ``raster`` (``T16`` x ``n``
    C-contiguous uint8, ``T16`` a multiple of 16, rows from ``steps`` on zero; ``n`` sources).
    ``S`` is the raster transposed in 16 x 16 blocks (:func:`_block16_spikes`: no list of
    spikes is made); a block of sources' first and last step with a spike come from four
    8-byte loads per step and block, and the synaptic events from each source's spikes
    (vector adds of the raster's rows) times its fan-out (``reach`` near the end of the run)."""
    t16, n = raster.shape
    n16 = n - n % LANES
    s[:] = 0
    for j0 in range(0, n16, LANES):
        for t0 in range(0, t16, LANES):
            _block16_spikes(raster, t0 * n + j0, n, s, j0 * row_len + pad + t0, row_len)
    for j in range(n16, n):
        for t in range(steps):
            s[j * row_len + pad + t] = -np.int64(raster[t, j])
    n_blocks = (n + SRC_BLOCK - 1) // SRC_BLOCK
    first = np.full(n_blocks, 1 << 40, dtype=np.int64)  # a silent block: every range is empty
    last = np.full(n_blocks, -(1 << 40), dtype=np.int64)
    n_events = 0
    w = max_shift + 1
    n8 = n & ~7
    for t in range(steps):
        row = t * n
        for b in range(n_blocks):
            j0 = b * SRC_BLOCK
            j1 = min(j0 + SRC_BLOCK, n)
            anyb = np.uint64(0)
            for j in range(j0, min(j1, n8), 8):
                anyb |= load8(raster, row + j)
            for j in range(max(j0, n8), j1):
                anyb |= np.uint64(raster[t, j])
            if anyb != 0:
                if t < first[b]:
                    first[b] = t
                last[b] = t
    # events: a spike at step t delivers fanout[j] arrivals while t + max_shift < out_steps
    # (spikes counted per source in byte lanes, 32 per vector add, flushed every 128 rows),
    # reach[j, out_steps - 1 - t] after that (the last few steps)
    head = max(0, min(steps, out_steps - max_shift))
    part = np.zeros(n, dtype=np.uint8)
    counts = np.zeros(n, dtype=np.int64)
    for t in range(head):
        row = raster[t]
        for j in range(n):
            part[j] += row[j]
        if t % 128 == 127 or t == head - 1:
            for j in range(n):
                counts[j] += part[j]
                part[j] = 0
    for j in range(n):
        n_events += counts[j] * fanout[j]
    for t in range(head, min(steps, out_steps)):
        row = raster[t]
        for j in range(n):  # no branch: a spike in 6 or so would mispredict
            n_events += row[j] * reach[j * w + out_steps - 1 - t]
    return s, first, last, n_events


@nb.njit(cache=True, nogil=True)
def _gather(
    q_ptr, q_base, q_w, q_hmin, q_hmax, s, first, last, unit, acc, n_out, out_steps, rows
):  # pragma: no cover - compiled
    """Each output neuron's input row, group by group, written into ``acc[t * n_out + j]``.

    ``q_ptr[j]..q_ptr[j + 1]``: the groups of neuron ``j``; group ``q`` holds synapses
    ``GROUP * q ..`` ``GROUP * q + GROUP - 1``: ``q_base`` (where the source row, shifted by the
    synapse's delay + lag + latency, starts in ``s``) and ``q_w`` (weight; padding synapses read
    the silent row with weight 0); ``q_hmin``/``q_hmax``: the group's smallest and largest shift
    (steps). ``first[b]`` and ``last[b]``: the first and last step with an event in source block
    ``b``; a group of block ``b`` adds the steps ``[first[b] + hmin, last[b] + hmax]`` (rounded
    out to 16), where its arrivals can fall (input channels in a block of frequencies are
    active for part of a sample: ~17 % fewer lanes on SHD-like inputs than one range per layer).
    """
    n_lanes = (out_steps + LANES - 1) // LANES * LANES
    rows[:] = 0  # n_out * n_lanes lanes of s's dtype (reused): neuron j's row at j * n_lanes
    n_cells = q_ptr.size - 1
    for cell0 in range(0, n_cells, n_out):  # one source block's cells (no division per cell)
        f0 = first[cell0 // n_out]
        l0 = last[cell0 // n_out]
        if f0 > l0:  # a silent block: every range is empty
            continue
        for cell in range(cell0, min(cell0 + n_out, n_cells)):
            _gather_cell(
                q_ptr[cell],
                q_ptr[cell + 1],
                (cell - cell0) * n_lanes,
                f0,
                l0,
                q_base,
                q_w,
                q_hmin,
                q_hmax,
                s,
                unit,
                rows,
                out_steps,
            )
    _transpose(rows, n_lanes, acc, n_out, out_steps)


@nb.njit(cache=True, nogil=True, inline="always")
def _gather_cell(
    q0, q1, r0, f0, l0, q_base, q_w, q_hmin, q_hmax, s, unit, rows, out_steps
):  # pragma: no cover - compiled
    """The groups ``q0 .. q1 - 1`` of one cell added into the row at ``rows[r0:]`` (:func:`_gather`)."""
    for q in range(q0, q1):
        lo = f0 + q_hmin[q]
        hi = min(l0 + q_hmax[q] + 1, out_steps)
        if lo >= hi:
            continue
        t = lo - lo % LANES
        k = GROUP * q
        b = (q_base[k], q_base[k + 1], q_base[k + 2], q_base[k + 3],
             q_base[k + 4], q_base[k + 5], q_base[k + 6], q_base[k + 7])  # fmt: skip
        w = (q_w[k], q_w[k + 1], q_w[k + 2], q_w[k + 3], q_w[k + 4], q_w[k + 5], q_w[k + 6], q_w[k + 7])  # fmt: skip
        if unit:
            while t < hi:
                _group_and(rows, s, r0 + t, (b[0] + t, b[1] + t, b[2] + t, b[3] + t,
                                       b[4] + t, b[5] + t, b[6] + t, b[7] + t), w)  # fmt: skip
                t += LANES
        else:
            while t < hi:
                _group_mul(rows, s, r0 + t, (b[0] + t, b[1] + t, b[2] + t, b[3] + t,
                                       b[4] + t, b[5] + t, b[6] + t, b[7] + t), w)  # fmt: skip
                t += LANES


@nb.njit(cache=True, nogil=True)
def _transpose(rows, n_lanes, acc, n_out, out_steps):  # pragma: no cover - compiled
    """``acc[t * n_out + j] = rows[j * n_lanes + t]`` for ``t < out_steps``, 16 x 16 blocks in
    vector registers (:func:`_block16`); ``acc`` holds ``n_lanes * n_out`` slots (the last block
    of steps writes whole vectors past ``out_steps``)."""
    if rows.size < n_out * n_lanes or acc.size < n_lanes * n_out or n_lanes % LANES:
        raise ValueError("_transpose: buffers too small for the vector blocks")
    j16 = n_out - n_out % LANES
    for j0 in range(0, j16, LANES):
        for t0 in range(0, n_lanes, LANES):
            _block16(rows, j0 * n_lanes + t0, n_lanes, acc, t0 * n_out + j0, n_out)
    for j in range(j16, n_out):
        for t in range(out_steps):
            acc[t * n_out + j] = rows[j * n_lanes + t]


def _make_block16(spikes: bool = False):
    """A numba intrinsic ``block16(src, a, sa, dst, b, sb)``: ``dst[b + k * sb + u] = src[a + u *
    sa + k]`` for ``u, k < 16``: 16 vector loads, four rounds of interleaves (each round rotates
    the 8-bit (vector, lane) index left by one bit: four rounds swap its halves), 16 vector
    stores. ``spikes``: ``src`` holds 0/1 bytes and ``dst`` gets ``-src`` in its own integer
    type (a spike is stored as -1, all bits set: :func:`_group_and`)."""

    @intrinsic
    def block16(typingctx, src, a, sa, dst, b, sb):
        sig = types.void(src, a, sa, dst, b, sb)

        def codegen(context, builder, sig, args):
            elem = sig.args[0].dtype
            vty = ir.VectorType(context.get_value_type(elem), LANES)
            align = elem.bitwidth // 8
            sdata = context.make_array(sig.args[0])(context, builder, args[0]).data
            ddata = context.make_array(sig.args[3])(context, builder, args[3]).data
            half = LANES // 2
            lo = ir.Constant(
                ir.VectorType(ir.IntType(32), LANES), [m // 2 + (m % 2) * LANES for m in range(LANES)]
            )
            hi = ir.Constant(
                ir.VectorType(ir.IntType(32), LANES), [half + m // 2 + (m % 2) * LANES for m in range(LANES)]
            )
            v = []
            for u in range(LANES):
                off = builder.add(args[1], builder.mul(args[2], ir.Constant(args[2].type, u)))
                v.append(
                    builder.load(builder.bitcast(builder.gep(sdata, [off]), vty.as_pointer()), align=align)
                )
            for _ in range(4):
                nxt = []
                for i in range(half):
                    nxt.append(builder.shuffle_vector(v[i], v[i + half], lo))
                    nxt.append(builder.shuffle_vector(v[i], v[i + half], hi))
                v = nxt
            dty = ir.VectorType(context.get_value_type(sig.args[3].dtype), LANES)
            dalign = sig.args[3].dtype.bitwidth // 8
            for k in range(LANES):
                out = v[k]
                if spikes:  # 0/1 -> 0/-1, widened
                    out = builder.sub(ir.Constant(dty, [0] * LANES), builder.zext(out, dty))
                off = builder.add(args[4], builder.mul(args[5], ir.Constant(args[5].type, k)))
                builder.store(out, builder.bitcast(builder.gep(ddata, [off]), dty.as_pointer()), align=dalign)
            return context.get_dummy_value()

        return sig, codegen

    return block16


_block16 = _make_block16()
_block16_spikes = _make_block16(spikes=True)


@nb.njit(cache=True, nogil=True)
def _gather_events(src_t, src_i, src_c, unit, layer, s, acc, rows):  # pragma: no cover - compiled
    """:func:`_dense_sources` then :func:`_gather`, in one call (no arrays boxed between them);
    returns the synaptic events. ``layer``: (n_src, pad, row_len, out_steps, reach, fanout,
    max_shift, q_ptr, q_base, q_w, q_hmin, q_hmax, n_out), built per layer and sample
    (:func:`delaykit.sim.event_dense.gather_args`)."""
    n_src, pad, row_len, out_steps, reach, fanout, max_shift, q_ptr, q_base, q_w, q_hmin, q_hmax, n_out = (
        layer
    )
    s, first, last, n_events = _dense_sources(
        src_t, src_i, src_c, unit, n_src, pad, row_len, out_steps, reach, fanout, max_shift, s
    )
    _gather(q_ptr, q_base, q_w, q_hmin, q_hmax, s, first, last, unit, acc, n_out, out_steps, rows)
    return n_events


@nb.njit(cache=True, nogil=True)
def _gather_raster(raster, steps, layer, s, acc, rows):  # pragma: no cover - compiled
    """:func:`_raster_sources` then :func:`_gather`, in one call; returns the synaptic events
    (``layer`` as in :func:`_gather_events`)."""
    _, pad, row_len, out_steps, reach, fanout, max_shift, q_ptr, q_base, q_w, q_hmin, q_hmax, n_out = layer
    s, first, last, n_events = _raster_sources(
        raster, steps, pad, row_len, out_steps, reach, fanout, max_shift, s
    )
    _gather(q_ptr, q_base, q_w, q_hmin, q_hmax, s, first, last, True, acc, n_out, out_steps, rows)
    return n_events
