"""numba kernels of the current-based LIF (forward and surrogate-gradient backward).

The neuron is the deployed-network contract's format-3 LIF (``docs/design.md``, "One layer"),
with ``v_reset = 0``, in the operation order of the simulator's float arithmetic. A state ``x``
leaks as ``x + (0 - x) / p`` (forward Euler, ``p = tau``) or ``x + (0 - x) * p`` (exact leak,
``p = 1 - exp(-1 / tau)``), tau in steps. Per step, with a current (``has_current``)::

    c = c + x[t]
    h = ((v + leak_m(v)) + c) + b
    s = h >= th
    v = 0 (reset 0, "value"), h - th (1, "subtract"), h (2, "none") on a spike, else h
    c = c + leak_s(c)

and without one ``h = (v + leak_m(v)) + (x[t] + b)`` (the paper's LIF with its bias).

Arrays are (batch, time, neuron) with neurons contiguous, as in :mod:`delaykit.train.kernels`;
arithmetic stays in the arrays' dtype in this order (no fastmath), so in float64 the forward
is the contract's float64 update exactly.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

#: reset codes of the kernels
RESET_CODES: dict[str, int] = {"value": 0, "subtract": 1, "none": 2}


@numba.njit(cache=True, inline="always")
def _leak(x: np.floating, p: np.floating, div: bool) -> np.floating:  # pragma: no cover - compiled
    """``(0 - x) / p`` or ``(0 - x) * p`` (``0 - x`` is ``-x`` up to the sign of a zero)."""
    return -x / p if div else -x * p


@numba.njit(parallel=True, cache=True)
def cuba_forward(
    x: np.ndarray,
    b: np.ndarray,
    mem_p: np.floating,
    mem_div: bool,
    syn_p: np.floating,
    syn_div: bool,
    has_current: bool,
    th: np.floating,
    reset: int,
    h_out: np.ndarray,
    c_out: np.ndarray,
    s_out: np.ndarray,
    v_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """x (B, T, N) synaptic input, b (N,) per-step membrane bias. Writes h (charged membrane),
    c (current after adding the step's input), s (spike 0/1) and v (after reset), all (B, T, N)."""
    n_b, steps, n = x.shape
    zero = th - th
    one = zero + 1
    for bi in prange(n_b):
        v = np.zeros(n, dtype=x.dtype)
        c = np.zeros(n, dtype=x.dtype)
        for t in range(steps):
            for j in range(n):
                vj = v[j]
                vl = vj + _leak(vj, mem_p, mem_div)
                if has_current:
                    cj = c[j] + x[bi, t, j]
                    h = (vl + cj) + b[j]
                    c[j] = cj + _leak(cj, syn_p, syn_div)
                else:
                    cj = x[bi, t, j]
                    h = vl + (cj + b[j])
                c_out[bi, t, j] = cj
                h_out[bi, t, j] = h
                if h >= th:
                    s_out[bi, t, j] = one
                    if reset == 0:
                        v[j] = zero
                    elif reset == 1:
                        v[j] = h - th
                    else:
                        v[j] = h
                else:
                    s_out[bi, t, j] = zero
                    v[j] = h
                v_out[bi, t, j] = v[j]


@numba.njit(parallel=True, cache=True)
def cuba_backward(
    h: np.ndarray,
    c: np.ndarray,
    g_s: np.ndarray,
    g_v: np.ndarray,
    use_s: bool,
    use_v: bool,
    mem_p: np.floating,
    mem_div: bool,
    syn_p: np.floating,
    syn_div: bool,
    has_current: bool,
    th: np.floating,
    reset: int,
    half_alpha: np.floating,
    k: np.floating,
    gx: np.ndarray,
    gb: np.ndarray,
    gp: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Gradients given dL/ds and dL/dv (B, T, N): gx (B, T, N) of the input, gb (B, N) of the
    bias and gp (B, N) of ``syn_p`` (both summed over time; add to them). ATan surrogate
    ``half_alpha / (1 + (k (h - th))^2)`` for ds/dh; the reset is detached (dv/dh = 1 - s for
    "value", 1 otherwise); dh[t]/dv[t-1] and dc[t]/dc[t-1] are the leak factors."""
    n_b, steps, n = h.shape
    zero = th - th
    one = zero + 1
    for bi in prange(n_b):
        carry_v = np.zeros(n, dtype=h.dtype)
        carry_c = np.zeros(n, dtype=h.dtype)
        for t in range(steps - 1, -1, -1):
            for j in range(n):
                hv = h[bi, t, j]
                gh = zero
                if use_s:
                    z = k * (hv - th)
                    gh = g_s[bi, t, j] * (half_alpha / (one + z * z))
                gv = carry_v[j]
                if use_v:
                    gv = gv + g_v[bi, t, j]
                if reset != 0 or hv < th:
                    gh = gh + gv
                gb[bi, j] += gh
                carry_v[j] = gh + _leak(gh, mem_p, mem_div)
                if has_current:
                    gc = gh + carry_c[j]
                    gx[bi, t, j] = gc
                    if t > 0:  # c[t] = c[t-1] + leak_s(c[t-1]) + x[t]: d c[t] / d p
                        cp = c[bi, t - 1, j]
                        gp[bi, j] += gc * (cp / (syn_p * syn_p) if syn_div else -cp)
                    carry_c[j] = gc + _leak(gc, syn_p, syn_div)
                else:
                    gx[bi, t, j] = gh
