"""Xylo Audio 2's SNN core as integer numpy code, bit-exact with SynSense's ``xylosim.v2``.

:func:`evolve` runs a :class:`~delaykit.hardware_targets.xylo_spec.XyloSpec` on a raster of
input event counts and returns every recorded state. Each step ``t`` (all values int16 unless
said; ``sat`` clamps to [-32768, 32767], ``wrap`` keeps the low 16 bits as two's complement)::

    1. deliver: for each input channel c (ascending), min(x[t, c], 15) times, then for each
       hidden neuron p (ascending), min(s_hid[t-1, p], 31) times, every synapse (p -> j, k)
       does   i[j, k] <- sat(i[j, k] + wrap(w << shift))      (input / recurrent shift)
       and the readout synapses   i_out[o] <- sat(i_out[o] + wrap(w_out[p, o] << shift_out))
       for s_hid[t-1, p] (<= 31) times.
    2. decay:  d(x, dash) = x >> dash (arithmetic, rounds toward -inf);  d = 1 if d == 0 and x > 0
               i <- i - d(i, dash_syn)                         (every synaptic state)
    3. integrate:  dv = sat(wrap(-d(v, dash_mem)) + sum_k i[k]);  dv = sat(dv + bias)
                   v  <- sat(v + dv)
    4. fire:   while v >= threshold and n < max: n += 1; v <- wrap(v - threshold)
               (max = 31 hidden, 1 readout; n starts at the events aliased onto the neuron)
    5. alias:  in neuron order, a hidden neuron's n events are added to its alias target's
               count (capped at 31); a target later in the order starts step 4 with them.

Hidden events of step ``t`` reach hidden and readout neurons at step ``t + 1``; input events
of step ``t`` act at step ``t``. A synaptic current is decayed once before it reaches the
membrane (``dash_syn = 0`` clears it before it is used). ``docs/xylo.md`` gives the sources.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_spec import (
    MAX_HIDDEN_SPIKES,
    MAX_INPUT_COUNT,
    MAX_OUTPUT_SPIKES,
    STATE_RANGE,
    XyloSpec,
)

LO, HI = STATE_RANGE
#: Largest raster value xylosim's binding accepts (uint8); counts above 15 act as 15.
MAX_RASTER_COUNT = 255


class XyloRecord(NamedTuple):
    """What :func:`evolve` records, one row per step (all int64 arrays)."""

    spikes: np.ndarray  # [T, n_hid] hidden events per step, aliased events included
    v_mem_out: np.ndarray  # [T, n_out] readout membranes after the reset
    spikes_out: np.ndarray  # [T, n_out] readout events (0 or 1)
    i_syn: np.ndarray  # [T, n_hid, n_syn] hidden synaptic currents after the decay
    v_mem: np.ndarray  # [T, n_hid] hidden membranes after the reset
    i_syn_out: np.ndarray  # [T, n_out] readout synaptic currents after the decay


def sat16(x: np.ndarray) -> np.ndarray:
    """Saturate to the signed 16-bit range."""
    return np.minimum(np.maximum(x, LO), HI)


def wrap16(x: np.ndarray) -> np.ndarray:
    """Keep the low 16 bits, read as two's complement (C's int16_t conversion)."""
    return ((np.asarray(x, np.int64) - LO) & 0xFFFF) + LO


def decay_step(x: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """The amount a bit-shift decay removes: ``x >> dash``, or 1 when that is 0 and ``x > 0``."""
    d = np.right_shift(x, dash)
    return np.where((d == 0) & (x > 0), 1, d)


def _check_input(spec: XyloSpec, input_counts: np.ndarray) -> np.ndarray:
    x = np.asarray(input_counts)
    if x.ndim != 2 or x.shape[1] != spec.n_in:
        raise DelaykitError(f"input_counts: expected shape [T, {spec.n_in}], got {x.shape}")
    if x.dtype.kind not in "biu" and not (x.dtype.kind == "f" and np.all(x == np.round(x))):
        raise DelaykitError(f"input_counts: expected whole event counts, got dtype {x.dtype}")
    x = x.astype(np.int64)
    if x.size and (x.min() < 0 or x.max() > MAX_RASTER_COUNT):
        raise DelaykitError(f"input_counts: counts must lie in [0, {MAX_RASTER_COUNT}] (above 15 act as 15)")
    return x


def _deliver(acc: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Add ``counts[p]`` copies of ``weights[p]`` to ``acc``, saturating after every addition.

    Repeated saturating additions of one signed value saturate once, so each presynaptic
    source is one clipped step, in source order. Accumulators whose every partial sum stays
    in int16 (``|acc| + sum |c w| <= 32767``) take the plain sum.
    """
    active = np.flatnonzero(counts)
    if active.size == 0:
        return acc
    c = counts[active]
    w = weights[active].reshape(active.size, -1)
    flat = acc.reshape(-1)
    out = flat + c @ w
    risky = np.flatnonzero(np.abs(flat) + c @ np.abs(w) > HI)
    if risky.size:
        part, cw = flat[risky], c[:, None] * w[:, risky]
        for k in range(active.size):
            part = sat16(part + cw[k])
        out[risky] = part
    return out.reshape(acc.shape)


def _fire(v: np.ndarray, threshold: np.ndarray, n0: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Subtractive-reset event generation: (events, membrane after the reset).

    xylosim loops ``while v >= th and n < cap: n += 1; v -= th`` (v int16). With th > 0 that
    is ``k = min(cap - n, v // th)`` events at once; th <= 0 keeps the loop (v may wrap).
    """
    pos = threshold > 0
    safe_th = np.where(pos, threshold, 1)
    k = np.where(pos & (v >= threshold), np.minimum(cap - n0, v // safe_th), 0)
    k = np.maximum(k, 0)
    n, v = n0 + k, v - k * np.where(pos, threshold, 0)
    for _ in range(cap):
        on = ~pos & (v >= threshold) & (n < cap)
        if not on.any():
            break
        n = n + on
        v = np.where(on, wrap16(v - threshold), v)
    return n, v


def _fire_hidden(spec: XyloSpec, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden events with aliases, in xylosim's neuron order: (event counts, membranes)."""
    zeros = np.zeros(spec.n_hid, np.int64)
    n, v_after = _fire(v, spec.threshold, zeros, MAX_HIDDEN_SPIKES)
    sources = np.flatnonzero(spec.aliases >= 0)
    if sources.size == 0:
        return n, v_after
    involved = np.union1d(sources, spec.aliases[sources])
    buffer = n.copy()
    buffer[involved] = 0
    for j in involved:
        if buffer[j] > 0:  # events aliased onto j by an earlier neuron: fire again from them
            nj, vj = _fire(v[j : j + 1], spec.threshold[j : j + 1], buffer[j : j + 1], MAX_HIDDEN_SPIKES)
            n[j], v_after[j] = nj[0], vj[0]
        buffer[j] = n[j]
        target = spec.aliases[j]
        if target >= 0:
            buffer[target] = min(buffer[target] + n[j], MAX_HIDDEN_SPIKES)
    return buffer, v_after


class _State:
    """The core's state between steps."""

    def __init__(self, spec: XyloSpec) -> None:
        self.i_syn = np.zeros((spec.n_hid, spec.n_syn), np.int64)
        self.v_mem = np.zeros(spec.n_hid, np.int64)
        self.i_out = np.zeros(spec.n_out, np.int64)
        self.v_out = np.zeros(spec.n_out, np.int64)
        self.spikes = np.zeros(spec.n_hid, np.int64)


def _integrate(i: np.ndarray, v: np.ndarray, dash_mem: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Membrane after leak, summed synaptic currents and bias (before firing)."""
    dv = sat16(wrap16(-decay_step(v, dash_mem)) + i)
    return sat16(v + sat16(dv + bias))


def _step(spec: XyloSpec, w: dict[str, np.ndarray], st: _State, x: np.ndarray) -> np.ndarray:
    """One time step in place; returns the readout events."""
    prev = np.minimum(st.spikes, MAX_HIDDEN_SPIKES)
    counts = np.concatenate([np.minimum(x, MAX_INPUT_COUNT), prev])
    st.i_syn = _deliver(st.i_syn, counts, w["hidden"])
    st.i_out = _deliver(st.i_out, prev, w["out"])
    st.i_syn = st.i_syn - decay_step(st.i_syn, spec.dash_syn)
    v = _integrate(st.i_syn.sum(axis=1), st.v_mem, spec.dash_mem, spec.bias)
    st.spikes, st.v_mem = _fire_hidden(spec, v)
    st.i_out = st.i_out - decay_step(st.i_out, spec.dash_syn_out)
    v_out = _integrate(st.i_out, st.v_out, spec.dash_mem_out, spec.bias_out)
    zeros = np.zeros(spec.n_out, np.int64)
    spikes_out, st.v_out = _fire(v_out, spec.threshold_out, zeros, MAX_OUTPUT_SPIKES)
    return spikes_out


def shifted_weights(spec: XyloSpec) -> dict[str, np.ndarray]:
    """The weights as added to the currents: ``wrap16(w << shift)``; inputs stacked above
    the recurrent rows (``hidden`` [n_in + n_hid, n_hid, n_syn]), readout as ``out``."""
    w_in = wrap16(np.left_shift(spec.weights_in, spec.weight_shift_in))
    w_rec = wrap16(np.left_shift(spec.weights_rec, spec.weight_shift_rec))
    return {
        "hidden": np.concatenate([w_in, w_rec], axis=0),
        "out": wrap16(np.left_shift(spec.weights_out, spec.weight_shift_out)),
    }


def evolve(spec: XyloSpec, input_counts: np.ndarray) -> XyloRecord:
    """Run ``spec`` from the zero state on ``input_counts`` [T, n_in] (events per step).

    Returns a :class:`XyloRecord` (hidden spikes, readout membranes, readout spikes, hidden
    currents, hidden membranes, readout currents), identical to xylosim.v2's recordings.
    """
    x = _check_input(spec, input_counts)
    n_steps = x.shape[0]
    w = shifted_weights(spec)
    st = _State(spec)
    rec = XyloRecord(
        spikes=np.zeros((n_steps, spec.n_hid), np.int64),
        v_mem_out=np.zeros((n_steps, spec.n_out), np.int64),
        spikes_out=np.zeros((n_steps, spec.n_out), np.int64),
        i_syn=np.zeros((n_steps, spec.n_hid, spec.n_syn), np.int64),
        v_mem=np.zeros((n_steps, spec.n_hid), np.int64),
        i_syn_out=np.zeros((n_steps, spec.n_out), np.int64),
    )
    for t in range(n_steps):
        rec.spikes_out[t] = _step(spec, w, st, x[t])
        rec.spikes[t], rec.v_mem[t], rec.i_syn[t] = st.spikes, st.v_mem, st.i_syn
        rec.v_mem_out[t], rec.i_syn_out[t] = st.v_out, st.i_out
    return rec
