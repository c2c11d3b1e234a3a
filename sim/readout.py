"""Readout rules: a class from the last layer's output sequence ``y[t, c]`` (real units)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.network import READOUT_RULES, Network

from .bits import f64_from_bits, f64_to_int
from .result import SimResult


def readout_scores(rule: str, y: np.ndarray) -> np.ndarray:
    """Per-class scores (C,) of ``rule`` on ``y`` (T, C); the prediction is their argmax.

    softmax_sum: sum_t softmax(y[t]) (the paper's rule); membrane_sum: sum_t y[t];
    membrane_max: max_t y[t]; spike_count: sum_t y[t] for a spiking (0/1) output.
    An empty sequence (T = 0) scores every class 0.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"readout: output must be 2-D (steps, classes), got shape {y.shape}")
    if rule not in READOUT_RULES:
        raise ValueError(f"readout: rule must be one of {READOUT_RULES}, got {rule!r}")
    if y.shape[0] == 0:
        return np.zeros(y.shape[1])
    if rule == "softmax_sum":
        return _softmax_sum(np.ascontiguousarray(y))
    if rule == "membrane_max":
        return y.max(axis=0)
    return y.sum(axis=0)  # membrane_sum, spike_count


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490  # ln 2 in two parts (Cody-Waite): k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
#: 1, 1, 1/2!, ..., 1/13!: Taylor coefficients of exp on |r| <= ln(2)/2 (the first term left
#: out, r**14/14!, is below 4e-18 relative)
_C = tuple(1.0 / math.factorial(n) for n in range(14))


@nb.njit(cache=True, inline="always")
def _estrin13(r):  # pragma: no cover - compiled
    """``sum_n _C[n] r**n`` for n <= 13 in Estrin's scheme: pairs ``c + c' r`` combined with
    ``r**2``, ``r**4``, ``r**8``: a dependency chain of 5 multiply-adds instead of Horner's 13,
    so that 4-lane vectors of successive elements overlap in the pipeline."""
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a0 = (_C[0] + _C[1] * r) + r2 * (_C[2] + _C[3] * r)
    a1 = (_C[4] + _C[5] * r) + r2 * (_C[6] + _C[7] * r)
    a2 = (_C[8] + _C[9] * r) + r2 * (_C[10] + _C[11] * r)
    a3 = _C[12] + _C[13] * r
    return a0 + r4 * (a1 + r8 * a3) + r8 * a2


@nb.njit(cache=True, inline="always")
def _exp_nonpositive(z):  # pragma: no cover - compiled
    """``exp(z)`` for ``z <= 0`` (or NaN), within 2 ulp of the correctly rounded value
    (tested against numpy), without a branch: the loop that calls it runs 4 lanes per AVX2
    vector, where libm's scalar ``exp`` (numpy's on CPUs without AVX-512) costs ~17 cycles an
    element. ``z = k ln 2 + r``, ``exp(r)`` by its Taylor polynomial, times ``2**k`` built
    from its bits (scaled by ``2**-600`` first where ``2**k`` is subnormal); below -745.2 the
    result is 0, as ``exp`` rounds it."""
    zc = max(z, -745.2)  # NaN stays NaN (max returns its first operand when one is NaN)
    k = np.floor(zc * _LOG2E + 0.5)
    r = (zc - k * _LN2_HI) - k * _LN2_LO
    p = _estrin13(r)
    tiny = k < -1020.0
    ki = f64_to_int(k + 600.0 if tiny else k)  # no conversion instruction (AVX2 has none)
    scaled = p * f64_from_bits((ki + 1023) << 52)
    out = scaled * 2.0**-600 if tiny else scaled
    return out if z > -745.2 else (z if z != z else 0.0)


@nb.njit(cache=True, nogil=True)
def _softmax_sum(y):  # pragma: no cover - compiled
    """``sum_t softmax(y[t])`` for ``y`` (T, C) C-contiguous float64, row by row: the row's
    max (NaN if it holds a NaN), ``e = exp(y - max)`` (:func:`_exp_nonpositive`), its sum
    (in index order), then each ``e / sum`` added into the scores, row after row."""
    n_t, n_c = y.shape
    out = np.zeros(n_c)
    e = np.empty(n_c)
    for t in range(n_t):
        m = y[t, 0]
        nan = m != m
        for c in range(1, n_c):
            v = y[t, c]
            m = max(m, v)
            nan |= v != v
        if nan:
            m = np.nan
        total = 0.0
        for c in range(n_c):
            e[c] = _exp_nonpositive(y[t, c] - m)
        for c in range(n_c):
            total += e[c]
        for c in range(n_c):
            out[c] += e[c] / total
    return out


#: The prediction of a sample whose readout scores all tie (e.g. a silent spiking network):
#: no class. It counts as wrong, and evaluations report how many samples were undecided.
UNDECIDED = -1


def predict(scores: np.ndarray) -> int:
    """The argmax of ``scores`` (first index when only some classes tie), or :data:`UNDECIDED`
    when every class has the same score (with two or more classes): the readout decides nothing."""
    s = np.asarray(scores)
    if not s.size:
        return int(s.argmax())  # numpy's error for an empty sequence
    # one compiled call (numpy's argmax and min cost ~10 us with cold caches), in the scores' type
    return int(_predict(np.ascontiguousarray(s).ravel()))


@nb.njit(cache=True, nogil=True)
def _predict(s):  # pragma: no cover - compiled
    """:func:`predict` of a non-empty vector (any number type), with numpy's rules: the argmax
    is the first NaN if there is one, else the first largest; a NaN never ties."""
    best = 0
    for c in range(s.size):
        if s[c] != s[c]:
            return c  # numpy's argmax stops at the first NaN; min is NaN then: no tie
        if s[c] > s[best]:
            best = c
    low = s[0]
    for c in range(1, s.size):
        low = min(low, s[c])
    return UNDECIDED if s.size > 1 and s[best] == low else best


@nb.njit(cache=True, nogil=True)
def scaled_softmax_sum(raw, scale, offset):  # pragma: no cover - compiled
    """``(out, scores)``: ``out[t, c] = float64(raw[t, c]) * scale[c]`` (an LI layer's membrane
    in real units from its integer trace, as numpy's ``raw.astype(float64) * scale``) and
    :func:`_softmax_sum` of ``out[offset:]``, in one call."""
    n_t, n_c = raw.shape
    out = np.empty((n_t, n_c))
    for t in range(n_t):
        for c in range(n_c):
            out[t, c] = np.float64(raw[t, c]) * scale[c]
    if offset >= n_t:
        return out, np.zeros(n_c)
    return out, _softmax_sum(out[offset:])


def apply_readout(rule: str, y: np.ndarray) -> int:
    """The predicted class (first index on ties), :data:`UNDECIDED` when all scores tie."""
    return predict(readout_scores(rule, y))


def result_of(
    net: Network,
    arith: Arithmetic,
    engine: str,
    out: np.ndarray,
    spikes: list[np.ndarray],
    events: list[int],
    input_events: int,
    output_raw: np.ndarray | None,
    scores: np.ndarray | None = None,
) -> SimResult:
    """The :class:`SimResult` of one run: scores over the readout steps (after the arithmetic's
    per-layer latency; given when the engine computed them with ``out``) and the prediction.
    Both engines finish through here."""
    offset = arith.readout_offset(len(net.layers))
    if scores is None:
        scores = readout_scores(net.readout, out[offset:])
    return SimResult(
        output=out,
        spikes=spikes,
        events=events,
        prediction=predict(scores),
        scores=scores,
        readout_offset=offset,
        input_events=input_events,
        engine=engine,
        arithmetic=arith.name,
        output_raw=output_raw,
    )
