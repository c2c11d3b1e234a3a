"""The delay convolution of a layer, dense or spectral, chosen per layer by a cost model.

A layer's delay convolution maps spikes ``h (B, T, C)`` and a kernel ``(O, C, K)`` (tap ``k``
is delay ``K - 1 - k``; times in steps) to currents ``y (B, T + (K-1)//2, O)``::

    y[b, t, o] = sum_{c, k} kern[o, c, k] * h[b, t + k - (K - 1), c]      (h = 0 outside 0..T-1)

Two exact implementations (same function; results differ only by float rounding):

* ``"dense"``: a channels-last ``conv2d`` (oneDNN), ``2 B T' C O K`` multiply-adds forward,
  and as many for each of the input and kernel gradients;
* ``"spectral"``: the same linear (not circular) convolution through a real DFT of length
  ``N = T + K - 1`` (so nothing wraps around). The transforms along time are real matrix
  products with precomputed DFT matrices (any N; at these lengths they beat FFTs plus the
  transposes they need); the channel mixing is one product per
  frequency, with real and imaginary parts stacked along the batch so that two real ``bmm``
  calls ``(F, 2B, C) @ (F, C, O)`` do the complex product (``F = N // 2 + 1``). About
  ``4 F`` instead of ``T' K`` multiply-adds per (sample, input, output): ~6x less arithmetic
  at the paper's SHD sizes (K = 25, T = 100), whatever the delays' spread (SIG) or the spike
  rate, so the choice never needs revisiting as SIG anneals.

:func:`choose` picks per layer and batch shape from an operation count (deterministic: the
same shapes give the same path on every run, rank and resume, so resumed runs stay
bit-identical); ``mode`` forces a path. Tap-sparse kernels (few taps once SIG is small) were
not used: at ``SIG = 0.23`` the normalized Gaussian still has ~9 taps above float32 resolution
(``exp(-2 k^2)``), and a per-synapse gather over 9 of 25 taps cannot beat ~6x less work done
by BLAS. Inputs are spikes at ~20 % rate: CPU sparse-dense products do not beat dense BLAS at
that density.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

MODES: tuple[str, ...] = ("auto", "dense", "spectral")

#: the spectral path is chosen when its operation count is below the dense one divided by this
#: (its small transforms and the transposes between them run below BLAS peak; measured on an
#: AVX2 EPYC: the spectral path ran 4x faster at 2.5x and 6x fewer operations)
SPECTRAL_MARGIN = 1.5


def op_counts(batch: int, steps: int, c_in: int, c_out: int, ksize: int) -> tuple[float, float]:
    """Multiply-adds of one forward pass: ``(dense, spectral)`` (backward is about twice each)."""
    t_out = steps + (ksize - 1) // 2
    n = steps + ksize - 1
    f = n // 2 + 1
    dense = float(batch * t_out * c_in * c_out * ksize)
    spectral = float(
        2 * f * steps * batch * c_in  # DFT of the input
        + 2 * f * ksize * c_in * c_out  # DFT of the kernel
        + 4 * f * batch * c_in * c_out  # channel mixing, complex
        + 2 * f * t_out * batch * c_out  # inverse DFT
    )
    return dense, spectral


def choose(mode: str, batch: int, steps: int, c_in: int, c_out: int, ksize: int) -> str:
    """``"dense"`` or ``"spectral"`` for one layer call (``mode``: one of :data:`MODES`)."""
    if mode not in MODES:
        raise ValueError(f"delay_conv: mode must be one of {MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    if ksize < 3:
        return "dense"
    dense, spectral = op_counts(batch, steps, c_in, c_out, ksize)
    return "spectral" if spectral * SPECTRAL_MARGIN < dense else "dense"


@lru_cache(maxsize=32)
def _dft_mats(
    steps: int, ksize: int, n: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DFT matrices (computed in float64, stored in ``dtype``).

    ``din (F, 2, T)``: rows (f, re/im) of the input's rfft at length n (re, im interleaved per
    f, so the product's rows read as ``(F, 2B)``); ``dk (2, F, K)``: rfft of the flipped kernel
    (tap k sits at delay K-1-k); ``dout (T', F, 2)``: irfft restricted to the T' output steps.
    """
    f = n // 2 + 1
    t_out = steps + (ksize - 1) // 2
    w = 2.0 * math.pi * torch.arange(f, dtype=torch.float64) / n  # (F,)
    t = torch.arange(steps, dtype=torch.float64)
    ang = w[:, None] * t[None, :]
    din = torch.stack([torch.cos(ang), -torch.sin(ang)], 1)  # (F, 2, T)
    d = (ksize - 1 - torch.arange(ksize, dtype=torch.float64))[None, :]
    dk = torch.stack([torch.cos(w[:, None] * d), -torch.sin(w[:, None] * d)], 0)  # (2, F, K)
    scale = torch.full((f,), 2.0 / n, dtype=torch.float64)
    scale[0] = 1.0 / n
    if n % 2 == 0:
        scale[-1] = 1.0 / n
    to = torch.arange(t_out, dtype=torch.float64)
    ang_o = to[:, None] * w[None, :]  # (T', F)
    dout = torch.stack([torch.cos(ang_o) * scale, -torch.sin(ang_o) * scale], 2)  # (T', F, 2)
    return din.to(dtype).contiguous(), dk.to(dtype).contiguous(), dout.to(dtype).contiguous()


class _SpectralConv(torch.autograd.Function):
    """The delay convolution through a length-N real DFT (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
        b, steps, c = h.shape
        o, _, k = kern.shape
        n = steps + k - 1
        f = n // 2 + 1
        din, dk, dout = _dft_mats(steps, k, n, h.dtype)
        # input spectrum X (F, 2B, C): rows (re/im, sample)
        x = (din.view(2 * f, steps) @ h.transpose(0, 1).reshape(steps, b * c)).view(f, 2 * b, c)
        # kernel spectrum: wr, wi (F, C, O)
        kt = kern.detach().permute(2, 1, 0).reshape(k, c * o)
        # two (F, C, O) halves, not one (2, F, C, O): each stays below glibc's mmap threshold
        wr, wi = (dk[0] @ kt).view(f, c, o), (dk[1] @ kt).view(f, c, o)
        p1 = torch.bmm(x, wr)  # (F, 2B, O): [Xr Wr; Xi Wr]
        p2 = torch.bmm(x, wi)  # [Xr Wi; Xi Wi]
        ys = torch.empty(f, 2, b, o, dtype=h.dtype)
        torch.sub(p1[:, :b], p2[:, b:], out=ys[:, 0])  # Yr = Xr Wr - Xi Wi
        torch.add(p2[:, :b], p1[:, b:], out=ys[:, 1])  # Yi = Xr Wi + Xi Wr
        y = dout.view(-1, 2 * f) @ ys.view(2 * f, b * o)  # (T', B*O)
        ctx.save_for_backward(x, wr, wi)
        ctx.shape = (b, steps, c, o, k, f)
        return y.view(-1, b, o).transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, wr, wi = ctx.saved_tensors
        b, steps, c, o, k, f = ctx.shape
        n = steps + k - 1
        din, dk, dout = _dft_mats(steps, k, n, x.dtype)
        t_out = gy.shape[1]
        gys = (dout.view(t_out, 2 * f).t() @ gy.transpose(0, 1).reshape(t_out, b * o)).view(f, 2, b, o)
        g1 = gys.view(f, 2 * b, o)  # [gYr; gYi]
        g2 = torch.empty_like(g1)  # [gYi; -gYr]
        g2[:, :b] = gys[:, 1]
        torch.neg(gys[:, 0], out=g2[:, b:])
        gh = gk = None
        if ctx.needs_input_grad[0]:
            # [gXr; gXi] = G1 Wr^T + G2 Wi^T
            gx = torch.baddbmm(torch.bmm(g1, wr.transpose(1, 2)), g2, wi.transpose(1, 2))
            ght = din.view(2 * f, steps).t() @ gx.view(2 * f, b * c)  # (T, B*C)
            gh = ght.view(steps, b, c).transpose(0, 1).contiguous()
        if ctx.needs_input_grad[1]:
            xt = x.transpose(1, 2)  # (F, C, 2B)
            gwr = torch.bmm(xt, g1).view(f, c * o)
            gwi = torch.bmm(xt, g2).view(f, c * o)
            gkt = torch.addmm(dk[0].t() @ gwr, dk[1].t(), gwi)  # (K, C*O)
            gk = gkt.view(k, c, o).permute(2, 1, 0)
        return gh, gk


def dense_conv(h: torch.Tensor, kern: torch.Tensor, *, bf16: bool = False) -> torch.Tensor:
    """The delay convolution as a channels-last conv2d (H = 1); ``bf16``: autocast it."""
    ksize = kern.shape[-1]
    if ksize > 1:
        h = F.pad(h, (0, 0, ksize - 1, (ksize - 1) // 2))
    x4 = h.permute(0, 2, 1).unsqueeze(2)  # (B, C, 1, T) over channels-last memory
    w4 = kern.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    if bf16:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = F.conv2d(x4, w4)
        y = y.float()
    else:
        y = F.conv2d(x4, w4)
    return y.squeeze(2).permute(0, 2, 1)  # (B, T', out)


def spectral_conv(h: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
    """The delay convolution through a real DFT (CPU or any device; float32/float64)."""
    return _SpectralConv.apply(h, kern)


def delay_conv(
    h: torch.Tensor, kern: torch.Tensor, mode: str = "auto", *, bf16: bool = False
) -> torch.Tensor:
    """``h (B, T, C)`` delayed and mixed by ``kern (O, C, K)`` -> ``(B, T + (K-1)//2, O)``.

    mode: ``"auto"`` (:func:`choose`), ``"dense"`` or ``"spectral"``. ``bf16`` (autocast, only
    where the CPU computes bf16 natively) always runs the dense path: there the matrix units
    make it the fastest.
    """
    b, steps, c = h.shape
    o, _, k = kern.shape
    if bf16 or choose(mode, b, steps, c, o, k) == "dense":
        return dense_conv(h, kern, bf16=bf16)
    return spectral_conv(h, kern)


__all__ = ["MODES", "SPECTRAL_MARGIN", "choose", "delay_conv", "dense_conv", "op_counts", "spectral_conv"]
