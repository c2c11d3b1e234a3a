"""numba kernels for the LIF recurrence (forward and surrogate-gradient backward).

Arrays are (batch, time, neuron) with neurons contiguous (the layout of channels-last
convolutions): samples run in parallel, each walks its membranes through time, the inner loop
over neurons vectorizes. Arithmetic stays in the
array's dtype (float32 in training) in spikingjelly's operation order, without fastmath, so
the forward is bit-identical to ``LIFNode(decay_input=False, v_reset=0)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import prange


@numba.njit(parallel=True, cache=True)
def lif_forward(
    x: np.ndarray, tau: np.floating, th: np.floating, h_out: np.ndarray, s_out: np.ndarray, v_out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """x (B, T, N): input current, neurons contiguous. Writes h (charged), s (spike 0/1) and
    v (after reset), all (B, T, N). Samples run in parallel, neurons in the inner loop."""
    n_b, steps, n = x.shape
    zero = tau - tau
    one = tau / tau
    for b in prange(n_b):
        v = np.zeros(n, dtype=x.dtype)
        for t in range(steps):
            for j in range(n):
                vj = v[j]
                h = vj - vj / tau + x[b, t, j]
                h_out[b, t, j] = h
                if h >= th:
                    s_out[b, t, j] = one
                    v[j] = zero
                else:
                    s_out[b, t, j] = zero
                    v[j] = h
                v_out[b, t, j] = v[j]


@numba.njit(parallel=True, cache=True)
def lif_backward(
    h: np.ndarray,
    g_s: np.ndarray,
    g_v: np.ndarray,
    use_s: bool,
    use_v: bool,
    tau: np.floating,
    th: np.floating,
    half_alpha: np.floating,
    k: np.floating,
    gx: np.ndarray,
) -> None:  # pragma: no cover
    """Gradient of the input given dL/ds and dL/dv, all (B, T, N); ATan surrogate
    ``half_alpha / (1 + (k (h - th))^2)``. The reset is detached: dv[t]/dh[t] = 1 - s[t];
    dh[t]/dv[t-1] = 1 - 1/tau."""
    n_b, steps, n = h.shape
    zero = tau - tau
    one = tau / tau
    for b in prange(n_b):
        carry = np.zeros(n, dtype=h.dtype)
        for t in range(steps - 1, -1, -1):
            for j in range(n):
                hv = h[b, t, j]
                gh = zero
                if use_s:
                    z = k * (hv - th)
                    gh = g_s[b, t, j] * (half_alpha / (one + z * z))
                if hv < th:
                    gv = carry[j]
                    if use_v:
                        gv = g_v[b, t, j] + carry[j]
                    gh = gh + gv
                gx[b, t, j] = gh
                carry[j] = gh - gh / tau


@numba.njit(parallel=True, cache=True)
def gauss_kernel_forward(
    w: np.ndarray,
    p: np.ndarray,
    sig: np.ndarray,
    ksize: int,
    half_k: np.floating,
    offset: np.floating,
    eps: np.floating,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """dcls 'gauss' kernel per synapse: out[o, i, k] = w * g_k / (sum_j g_j + eps).

    w, p, sig: (O, I); g_k = exp(-0.5 ((k - (p + K//2)) / (|sig| + offset))^2); out: (O, I, K).
    """
    n_out, n_in = w.shape
    half = offset - offset + np.float32(0.5)
    idx = np.arange(ksize).astype(w.dtype)
    for o in prange(n_out):
        for i in range(n_in):
            c = p[o, i] + half_k
            s = abs(sig[o, i]) + offset
            denom = eps - eps
            for k in range(ksize):
                u = (idx[k] - c) / s
                g = math.exp(-half * (u * u))
                out[o, i, k] = g
                denom += g
            denom += eps
            wv = w[o, i]
            for k in range(ksize):
                out[o, i, k] = (out[o, i, k] / denom) * wv


@numba.njit(parallel=True, cache=True)
def gauss_kernel_backward(
    grad: np.ndarray,
    w: np.ndarray,
    p: np.ndarray,
    sig: np.ndarray,
    ksize: int,
    half_k: np.floating,
    offset: np.floating,
    eps: np.floating,
    need_p: bool,
    grad_w: np.ndarray,
    grad_p: np.ndarray,
) -> None:  # pragma: no cover
    """Gradients of w and p given dL/dK (O, I, K); recomputes the Gaussian taps."""
    n_out, n_in = w.shape
    half = offset - offset + np.float32(0.5)
    zero = offset - offset
    idx = np.arange(ksize).astype(w.dtype)
    for o in prange(n_out):
        g = np.empty(ksize, dtype=w.dtype)
        for i in range(n_in):
            c = p[o, i] + half_k
            s = abs(sig[o, i]) + offset
            denom = zero
            for k in range(ksize):
                u = (idx[k] - c) / s
                gk = math.exp(-half * (u * u))
                g[k] = gk
                denom += gk
            denom += eps
            gw = zero
            sum_dg = zero
            for k in range(ksize):
                gn = g[k] / denom
                gw += grad[o, i, k] * gn
                sum_dg += gn * ((idx[k] - c) / s) / s
            grad_w[o, i] = gw
            if need_p:
                acc = zero
                for k in range(ksize):
                    gn = g[k] / denom
                    dgn = gn * ((idx[k] - c) / s) / s - gn * sum_dg
                    acc += grad[o, i, k] * dgn
                grad_p[o, i] = acc * w[o, i]


@numba.njit(parallel=True, cache=True)
def _touch(x: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in prange(x.shape[0]):
        x[i] = x[i]


def set_threads(n: int) -> None:
    """Use ``n`` threads in torch and in these kernels (0 = keep torch's count).

    numba's OpenMP threading layer resets the process-wide OpenMP thread count to its own
    when it starts, which would silently change torch's thread count (and with it the float
    summation order of convolutions) in the middle of a run. This starts it first, then
    sets both counts.
    """
    want = int(n) if n and n > 0 else torch.get_num_threads()
    _touch(np.zeros(2))
    numba.set_num_threads(max(1, min(want, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(want)


def _start_threading_layer() -> None:
    """Start numba's threading layer now, keeping torch's thread count (see set_threads)."""
    prev = torch.get_num_threads()
    _touch(np.zeros(2))
    torch.set_num_threads(prev)


_start_threading_layer()
