"""The DCLS delay kernel of a layer, built from its ``Dcls1d`` parameters (dcls 0.1.1 numerics).

A ``Dcls1d(kernel_count=1)`` layer holds a weight ``W`` (out, in, 1), a position ``P`` and a
width ``SIG`` (1, out, in, 1) per synapse; its convolution kernel (out, in, K) spreads ``W``
over ``K`` taps around the position (times in steps). Versions:

* ``"gauss"``: normalized Gaussian taps (learned delays while training), one fused autograd
  function per layer and step, numerically the same as dcls' ``ConstructKernel1d`` (tested),
  with a numba variant on CPU (:mod:`delaykit.train.kernels`);
* ``"max"``: dcls' normalized triangle (the frozen random delays);
* ``"rounded"``: one tap per synapse at ``round_half_even(clamp(P))`` holding exactly ``W``
  — the paper's evaluation (``version='max'``, ``SIG=0``, rounded ``P``) and what a deployed
  network computes. (dcls' own ``max`` kernel scales the tap by ``1/(1+1e-7)``, i.e. by
  ``1 - 2**-23`` in float32; we keep ``W`` exact so rounded evaluation matches deployment.)
"""

from __future__ import annotations

from typing import Any

import torch

from delaykit.train import kernels

#: dcls 0.1.1 adds this to |SIG| in the gauss kernel (sigma_eff = |SIG| + 0.27) ...
GAUSS_SIG_OFFSET = 0.27
#: ... and to the kernel's sum before normalizing.
DCLS_NORM_EPS = 1e-7


class _GaussKernel(torch.autograd.Function):
    """``K[o, i, k] = W[o, i] * g_k / (sum_j g_j + 1e-7)``, ``g_k = exp(-((k - c) / s)^2 / 2)``.

    ``c = P + K // 2`` and ``s = |SIG| + 0.27`` per synapse (dcls 0.1.1 ``forward_vgauss``).
    Gradients flow to W and P (SIG is not learned in the paper; it gets none).
    """

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, p: torch.Tensor, sig: torch.Tensor, ksize: int) -> torch.Tensor:
        # w, p, sig: (out, in) float32
        idx = torch.arange(ksize, dtype=w.dtype, device=w.device).view(ksize, 1, 1)
        center = p + (ksize // 2)
        s = sig.abs() + GAUSS_SIG_OFFSET
        u = (idx - center) / s  # (K, out, in)
        g = torch.exp(-0.5 * (u * u))
        denom = g.sum(0) + DCLS_NORM_EPS
        gn = g / denom
        ctx.save_for_backward(w, gn, u, s, denom)
        return (gn * w).permute(1, 2, 0).contiguous()  # (out, in, K)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        w, gn, u, s, denom = ctx.saved_tensors
        gk = grad.permute(2, 0, 1)  # (K, out, in)
        grad_w = (gk * gn).sum(0) if ctx.needs_input_grad[0] else None
        grad_p = None
        if ctx.needs_input_grad[1]:
            # d g_k / d c = g_k * u_k / s;  d gn_k / d c = (g'_k - gn_k * sum_j g'_j) / denom
            dg = gn * u / s  # = (g_k * u_k / s) / denom
            sum_dg = dg.sum(0)
            dgn = dg - gn * sum_dg  # (since gn_k * sum_j g'_j/denom = gn_k * sum_j dg_j)
            grad_p = (gk * dgn).sum(0) * w
        return grad_w, grad_p, None, None


class _GaussKernelNumba(torch.autograd.Function):
    """:class:`_GaussKernel` computed per synapse by the numba kernels (CPU): no (K, out, in)
    temporaries, the taps are recomputed in backward. Same formula; the sum over taps is
    sequential, so results differ from dcls' in the last bits (tested to 1e-6 relative)."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, p: torch.Tensor, sig: torch.Tensor, ksize: int) -> torch.Tensor:
        w, p, sig = w.detach().contiguous(), p.detach().contiguous(), sig.detach().contiguous()
        out = torch.empty(*w.shape, ksize, dtype=w.dtype)
        dt = w.numpy().dtype.type
        kernels.gauss_kernel_forward(
            w.numpy(),
            p.numpy(),
            sig.numpy(),
            ksize,
            dt(ksize // 2),
            dt(GAUSS_SIG_OFFSET),
            dt(DCLS_NORM_EPS),
            out.numpy(),
        )
        ctx.save_for_backward(w, p, sig)
        ctx.ksize = ksize
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        w, p, sig = ctx.saved_tensors
        k = ctx.ksize
        grad = grad.contiguous()
        gw = torch.empty_like(w)
        gp = torch.empty_like(p)
        dt = w.numpy().dtype.type
        kernels.gauss_kernel_backward(
            grad.numpy(),
            w.numpy(),
            p.numpy(),
            sig.numpy(),
            k,
            dt(k // 2),
            dt(GAUSS_SIG_OFFSET),
            dt(DCLS_NORM_EPS),
            bool(ctx.needs_input_grad[1]),
            gw.numpy(),
            gp.numpy(),
        )
        return gw, (gp if ctx.needs_input_grad[1] else None), None, None


def _max_kernel(w: torch.Tensor, p: torch.Tensor, sig: torch.Tensor, ksize: int) -> torch.Tensor:
    """dcls 0.1.1 ``forward_vmax``: triangle of half-width ``|SIG| + 1``, normalized (autograd)."""
    idx = torch.arange(ksize, dtype=w.dtype, device=w.device).view(ksize, 1, 1)
    x = ((sig.abs() + 1.0) - (idx - (p + ksize // 2)).abs()).relu()
    x = x / (x.sum(0) + DCLS_NORM_EPS)
    return (x * w).permute(1, 2, 0).contiguous()


def rounded_delays(p: torch.Tensor, ksize: int) -> torch.Tensor:
    """Integer delays (steps) ``(K-1)//2 - round_half_even(clamp(P))`` as int64, same shape as P."""
    c = (ksize - 1) // 2
    return (c - torch.round(p.clamp(c - (ksize - 1), c))).long()


def onehot_kernel(w: torch.Tensor, p: torch.Tensor, ksize: int) -> torch.Tensor:
    """One tap per synapse at the rounded position holding exactly ``W``: (out, in, K)."""
    d = rounded_delays(p, ksize)  # delay d sits at kernel index K - 1 - d
    k = torch.zeros(*w.shape, ksize, dtype=w.dtype, device=w.device)
    k.scatter_(2, (ksize - 1 - d).unsqueeze(-1), w.unsqueeze(-1))
    return k


def dcls_kernel(
    weight: torch.Tensor, P: torch.Tensor, SIG: torch.Tensor, ksize: int, version: str, fast: bool = True
) -> torch.Tensor:
    """The conv1d kernel (out, in, K) of a ``Dcls1d(kernel_count=1)`` from its parameters.

    weight (out, in, 1), P and SIG (1, out, in, 1) as stored by dcls. version: 'gauss' | 'max' |
    'rounded' (see the module docstring). fast: use the numba gauss kernel on CPU (else the
    torch one, bit-identical to dcls).
    """
    w = weight[..., 0]
    p = P[0, ..., 0]
    if version == "rounded" or ksize == 1:
        if ksize == 1:
            return weight
        return onehot_kernel(w, p, ksize)
    sig = SIG[0, ..., 0]
    if version == "gauss":
        if w.device.type == "cpu" and w.dtype in (torch.float32, torch.float64) and fast:
            return _GaussKernelNumba.apply(w, p, sig, ksize)
        return _GaussKernel.apply(w, p, sig, ksize)
    if version == "max":
        return _max_kernel(w, p, sig, ksize)
    raise ValueError(f"dcls_kernel: version must be 'gauss', 'max' or 'rounded', got {version!r}")


__all__ = ["DCLS_NORM_EPS", "GAUSS_SIG_OFFSET", "dcls_kernel", "onehot_kernel", "rounded_delays"]
