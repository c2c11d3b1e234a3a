"""Readout rules: a class from the last layer's output sequence ``y[t, c]`` (real units)."""

from __future__ import annotations

import numba as nb
import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.network import READOUT_RULES, Network

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
        y = np.ascontiguousarray(y)
        e = np.exp(_minus_row_max(y))
        return _column_sum_of_ratios(e, e.sum(axis=1))
    if rule == "membrane_max":
        return y.max(axis=0)
    return y.sum(axis=0)  # membrane_sum, spike_count


@nb.njit(cache=True, nogil=True)
def _minus_row_max(y):  # pragma: no cover - compiled
    """``y - y.max(axis=1, keepdims=True)``: the same values (max and one subtraction are exact;
    a row with a NaN gets NaN, as numpy's max), without numpy's per-call cost on a narrow
    (steps, classes) array."""
    z = np.empty_like(y)
    for t in range(y.shape[0]):
        m = y[t, 0]
        nan = m != m
        for c in range(1, y.shape[1]):
            v = y[t, c]
            m = max(m, v)
            nan |= v != v
        if nan:
            m = np.nan
        for c in range(y.shape[1]):
            z[t, c] = y[t, c] - m
    return z


@nb.njit(cache=True, nogil=True)
def _column_sum_of_ratios(e, row_sum):  # pragma: no cover - compiled
    """``(e / row_sum[:, None]).sum(axis=0)`` with numpy's operations in numpy's order: one
    division per element, then the rows added in turn (a reduction over axis 0 of a C-ordered
    array adds whole rows, first to last). ``np.exp`` and the row sums (pairwise) stay numpy's."""
    out = np.zeros(e.shape[1])
    for t in range(e.shape[0]):
        for c in range(e.shape[1]):
            out[c] += e[t, c] / row_sum[t]
    return out


#: The prediction of a sample whose readout scores all tie (e.g. a silent spiking network):
#: no class. It counts as wrong, and evaluations report how many samples were undecided.
UNDECIDED = -1


def predict(scores: np.ndarray) -> int:
    """The argmax of ``scores`` (first index when only some classes tie), or :data:`UNDECIDED`
    when every class has the same score (with two or more classes): the readout decides nothing."""
    s = np.asarray(scores)
    best = int(s.argmax())
    if s.size > 1 and s[best] == s.min():  # the best is also the worst: all tie
        return UNDECIDED
    return best


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
) -> SimResult:
    """The :class:`SimResult` of one run: scores over the readout steps (after the arithmetic's
    per-layer latency) and the prediction. Both engines finish through here."""
    offset = arith.readout_offset(len(net.layers))
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
