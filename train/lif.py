"""LIF neurons with spikingjelly's semantics, fused forward and surrogate-gradient backward.

``LIFNode(tau, decay_input=False, v_reset=0, detach_reset=True)`` with the ATan surrogate:
per step ``h = v - v / tau + x``, spike ``s = h >= th``, ``v = s ? 0 : h``. ``tau`` is in steps.
On CPU the recurrence runs in the numba kernels of :mod:`delaykit.train.kernels`; elsewhere
as a loop of torch operations (same operations in the same order).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from delaykit.train import kernels


def atan_surrogate_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """spikingjelly ``surrogate.ATan``: d/dx heaviside ~ alpha / 2 / (1 + (pi/2 * alpha * x)^2)."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x).square())


class _LIFMultiStep(torch.autograd.Function):
    """LIF over a time-major sequence ``x (T, ...)``, initial v = 0 (spikingjelly after reset).

    Per step: ``h = v - (v - 0) / tau + x``; ``s = h >= th``; ``v = s ? 0 : h`` (hard reset,
    reset detached). Returns ``(spikes, v_seq)``. Backward uses the ATan surrogate for ds/dh.
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, tau: float, th: float, alpha: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous()
        v = torch.zeros_like(x[0])
        h_seq = torch.empty_like(x)
        v_seq = torch.empty_like(x)
        s_seq = torch.empty_like(x)
        for t in range(x.shape[0]):
            h = v - v / tau + x[t]
            h_seq[t] = h
            s = h >= th
            s_seq[t] = s
            v = h.masked_fill(s, 0.0)
            v_seq[t] = v
        ctx.save_for_backward(h_seq)
        ctx.params = (tau, th, alpha)
        return s_seq, v_seq

    @staticmethod
    def backward(
        ctx: Any, g_s: torch.Tensor | None, g_v: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        (h_seq,) = ctx.saved_tensors
        tau, th, alpha = ctx.params
        steps = h_seq.shape[0]
        if g_s is None:
            g_s = torch.zeros_like(h_seq)
        if g_v is None:
            g_v = torch.zeros_like(h_seq)
        sg = atan_surrogate_grad(h_seq - th, alpha)
        keep = (h_seq < th).to(h_seq.dtype)  # d v / d h with the reset detached
        a_s = g_s * sg
        gx = torch.empty_like(h_seq)
        carry = torch.zeros_like(h_seq[0])
        for t in range(steps - 1, -1, -1):
            gh = a_s[t] + (g_v[t] + carry) * keep[t]
            gx[t] = gh
            carry = gh - gh / tau  # d h[t] / d v[t-1] = 1 - 1/tau, in spikingjelly's operation order
        return gx, None, None, None


class _LIFBTN(torch.autograd.Function):
    """LIF over ``x (B, T, N)`` (neurons contiguous) with the numba kernels (CPU)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, tau: float, th: float, alpha: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous()
        h = torch.empty_like(x)
        s = torch.empty_like(x)
        v = torch.empty_like(x)
        npdt = x.numpy().dtype.type
        kernels.lif_forward(x.numpy(), npdt(tau), npdt(th), h.numpy(), s.numpy(), v.numpy())
        ctx.save_for_backward(h)
        ctx.params = (tau, th, alpha)
        return s, v

    @staticmethod
    def backward(
        ctx: Any, g_s: torch.Tensor | None, g_v: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        (h,) = ctx.saved_tensors
        tau, th, alpha = ctx.params
        dummy = h[:1, :1, :1]
        gs = g_s.contiguous() if g_s is not None else dummy
        gv = g_v.contiguous() if g_v is not None else dummy
        gx = torch.empty_like(h)
        npdt = h.numpy().dtype.type
        kernels.lif_backward(
            h.numpy(),
            gs.numpy(),
            gv.numpy(),
            g_s is not None,
            g_v is not None,
            npdt(tau),
            npdt(th),
            npdt(alpha / 2),
            npdt(math.pi / 2 * alpha),
            gx.numpy(),
        )
        return gx, None, None, None


def lif_btn(
    x: torch.Tensor, tau: float, v_threshold: float, alpha: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF over ``x (B, T, N)``: returns ``(spikes, v_seq)`` of the same shape (see :func:`lif_multistep`).

    Uses the numba kernels on CPU and the torch loop elsewhere (GPU).
    """
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return _LIFBTN.apply(x, float(tau), float(v_threshold), float(alpha))
    s, v = _LIFMultiStep.apply(x.transpose(0, 1), float(tau), float(v_threshold), float(alpha))
    return s.transpose(0, 1), v.transpose(0, 1)


def lif_multistep(
    x: torch.Tensor, tau: float, v_threshold: float, alpha: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF over ``x (T, ...)``: returns ``(spikes, v_seq)`` (float, same shape).

    Forward is bit-identical to spikingjelly 2.0.0 ``LIFNode(tau, decay_input=False,
    v_reset=0, detach_reset=True)``; the gradient is its ATan(alpha) surrogate gradient.
    """
    shape = x.shape
    s, v = lif_btn(x.reshape(1, shape[0], -1), tau, v_threshold, alpha)
    return s.reshape(shape), v.reshape(shape)


def lif_multistep_torch(
    x: torch.Tensor, tau: float, v_threshold: float, alpha: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same LIF as a loop of torch operations over ``x (T, ...)`` (any device)."""
    return _LIFMultiStep.apply(x, float(tau), float(v_threshold), float(alpha))


__all__ = ["atan_surrogate_grad", "lif_btn", "lif_multistep", "lif_multistep_torch"]
