"""The paper's SNN with learned synaptic delays (Hammouamri et al., ICLR 2024), fast on CPU.

Per hidden layer: ``Dcls1d`` (dcls 0.1.1, ``kernel_count=1``, ``bias=False``) → BatchNorm1d →
LIF (spikingjelly ``LIFNode`` semantics, ``decay_input=False``, hard reset to 0,
``detach_reset=True``, ATan surrogate) → Dropout (one mask per sample for all steps, like
spikingjelly's multi-step ``Dropout``). Readout: ``Dcls1d`` → LIF with threshold 1e9 whose
membrane sequence is the output. Times are in **steps** of ``arch["dt"]`` seconds.

Each layer pads its input (time axis) left by ``K - 1`` and right by ``(K - 1) // 2`` steps,
so a layer with ``T`` input steps outputs ``T + (K - 1) // 2`` steps and the integer delay of a
synapse is ``(K - 1) // 2 - round(P)`` (``delaykit.convert.delays``).

The parameters live in real ``dcls.Dcls1d`` modules (so the state dict has the reference
names ``layers.{i}.weight|P|SIG`` and a reference checkpoint maps onto it), but the kernel
is built by :func:`dcls_kernel`, one fused autograd function per layer and step, numerically
the same as dcls' ``ConstructKernel1d`` (tested). Kernel modes:

* ``"train"``: the training kernel (``gauss`` for learned delays, ``max`` for the frozen
  random delays, a single tap for ``none``), with the current ``SIG``;
* ``"rounded"``: one tap per synapse at ``round_half_even(clamp(P))`` holding exactly ``W``
  — the paper's evaluation (``version='max'``, ``SIG=0``, rounded ``P``) and what a deployed
  network computes. (dcls' own ``max`` kernel scales the tap by ``1/(1+1e-7)``, i.e. by
  ``1 - 2**-23`` in float32; we keep ``W`` exact so rounded evaluation matches deployment.)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODEL_KINDS: tuple[str, ...] = ("learned", "random", "none")
#: dcls 0.1.1 adds this to |SIG| in the gauss kernel (sigma_eff = |SIG| + 0.27) ...
GAUSS_SIG_OFFSET = 0.27
#: ... and to the kernel's sum before normalizing.
DCLS_NORM_EPS = 1e-7

ARCH_KEYS: tuple[str, ...] = (
    "model",
    "n_inputs",
    "hidden",
    "n_classes",
    "kernel_size",
    "tau_steps",
    "v_threshold",
    "v_reset",
    "readout_tau_steps",
    "batchnorm",
    "bn_eps",
    "dt",
    "n_units",
    "channel_group",
    "window_steps",
    "readout",
)


def validate_arch(arch: Mapping[str, Any], where: str = "arch") -> dict[str, Any]:
    """Check an interface-A ``arch`` dict and return a normalized copy (raises ValueError)."""
    missing = [k for k in ARCH_KEYS if k not in arch]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    a = dict(arch)
    if a["model"] not in MODEL_KINDS:
        raise ValueError(f"{where}: field 'model': must be one of {MODEL_KINDS}, got {a['model']!r}")
    k = int(a["kernel_size"])
    if k < 1 or k % 2 == 0:
        raise ValueError(f"{where}: field 'kernel_size': must be an odd number of steps >= 1, got {k}")
    if a["model"] == "none" and k != 1:
        raise ValueError(
            f"{where}: field 'kernel_size': model 'none' has no delays, so K must be 1 (got {k})"
        )
    a["kernel_size"] = k
    a["hidden"] = [int(h) for h in a["hidden"]]
    if any(h < 1 for h in a["hidden"]):
        raise ValueError(f"{where}: field 'hidden': layer sizes must be >= 1, got {a['hidden']}")
    for key in ("n_inputs", "n_classes", "n_units", "channel_group", "window_steps"):
        a[key] = int(a[key])
        if a[key] < 1:
            raise ValueError(f"{where}: field {key!r}: must be >= 1, got {a[key]}")
    for key in ("tau_steps", "readout_tau_steps"):
        a[key] = float(a[key])
        if not a[key] > 1.0:
            raise ValueError(f"{where}: field {key!r}: spikingjelly's LIF needs tau > 1 step, got {a[key]}")
    a["v_threshold"] = float(a["v_threshold"])
    a["v_reset"] = float(a["v_reset"])
    if a["v_reset"] != 0.0:
        raise ValueError(f"{where}: field 'v_reset': the paper's model resets to 0, got {a['v_reset']}")
    a["batchnorm"] = bool(a["batchnorm"])
    a["bn_eps"] = float(a["bn_eps"])
    a["dt"] = float(a["dt"])
    if a["readout"] != "softmax_sum":
        raise ValueError(f"{where}: field 'readout': only 'softmax_sum' is trained, got {a['readout']!r}")
    return a


# --------------------------------------------------------------------------------------------
# DCLS kernel construction (one fused autograd function per layer)
# --------------------------------------------------------------------------------------------


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
        from delaykit.train import kernels

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
        from delaykit.train import kernels

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


# --------------------------------------------------------------------------------------------
# LIF (spikingjelly semantics, fused forward/backward)
# --------------------------------------------------------------------------------------------


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
        from delaykit.train import kernels

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
        from delaykit.train import kernels

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


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class DelaySNN(nn.Module):
    """Feedforward SNN with per-synapse learned delays (interface A state-dict names).

    ``forward(x)`` takes ``x (B, T, n_inputs)`` counts and returns the readout membrane
    sequence ``(T + (L+1) * (K-1)//2, B, n_classes)`` (time-major, like the reference code).
    """

    def __init__(
        self,
        arch: Mapping[str, Any],
        *,
        dropout: float = 0.0,
        surrogate_alpha: float = 5.0,
        readout_threshold: float = 1e9,
    ) -> None:
        super().__init__()
        from DCLS.construct.modules import Dcls1d

        self.arch = validate_arch(arch)
        a = self.arch
        k = a["kernel_size"]
        sizes = [a["n_inputs"], *a["hidden"], a["n_classes"]]
        version = "gauss" if a["model"] == "learned" else "max"
        self.layers = nn.ModuleList(
            Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=k, bias=False, version=version)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.bn = (
            nn.ModuleList(nn.BatchNorm1d(h, eps=a["bn_eps"]) for h in a["hidden"]) if a["batchnorm"] else None
        )
        self.dropout = float(dropout)
        self.surrogate_alpha = float(surrogate_alpha)
        self.readout_threshold = float(readout_threshold)
        self.kernel_version = version
        self.kernel_mode = "train"  # "train" | "rounded"
        self.quantizer: Any = None  # optional callable(model, layer_index, kernel) -> kernel (fine-tuning)
        self.bf16 = False
        #: optional replacement for BatchNorm, called as (bn, x, layer_index): data-parallel runs
        #: sync the statistics, fine-tuning folds it into the quantized weights
        self.bn_forward: Any = None
        #: optional per-hidden-layer thresholds (fine-tuning uses the quantized ones)
        self.thresholds: list[float] | None = None
        for layer in self.layers:
            layer.SIG.requires_grad_(False)
            if a["model"] != "learned":
                layer.P.requires_grad_(False)

    # -- parameters ----------------------------------------------------------------------
    @property
    def kernel_size(self) -> int:
        return int(self.arch["kernel_size"])

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def position_parameters(self) -> list[nn.Parameter]:
        return [layer.P for layer in self.layers if layer.P.requires_grad]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [layer.weight for layer in self.layers]

    def bn_parameters(self) -> list[nn.Parameter]:
        return [] if self.bn is None else [p for bn in self.bn for p in bn.parameters()]

    def clamp_positions(self) -> None:
        """Clamp P to ``[-(K//2), K//2]`` (dcls ``clamp_parameters``)."""
        for layer in self.layers:
            layer.clamp_parameters()

    def sigma(self) -> float:
        """Current SIG of the readout layer (all layers share the schedule)."""
        return float(self.layers[-1].SIG.detach().reshape(-1)[0])

    def delays(self) -> list[torch.Tensor]:
        """Integer delays (steps) per layer as (out, in) int64 tensors."""
        return [rounded_delays(layer.P.detach()[0, ..., 0], self.kernel_size) for layer in self.layers]

    def output_steps(self, t_in: int) -> int:
        return t_in + self.n_layers * ((self.kernel_size - 1) // 2)

    # -- forward -------------------------------------------------------------------------
    def kernel(self, i: int) -> torch.Tensor:
        layer = self.layers[i]
        version = "rounded" if self.kernel_mode == "rounded" else self.kernel_version
        k = dcls_kernel(layer.weight, layer.P, layer.SIG, self.kernel_size, version)
        if self.quantizer is not None:
            k = self.quantizer(self, i, k)
        return k

    def _conv(self, h: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
        """Delay convolution of ``h (B, T, C)`` with ``kern (out, C, K)`` -> ``(B, T + (K-1)//2, out)``.

        Runs as a channels-last conv2d (H = 1): oneDNN's fastest layout here, and ``(B, T, C)``
        with channels contiguous is what the data, the LIF kernels and BatchNorm use, so no
        transposes are needed between layers.
        """
        ksize = self.kernel_size
        if ksize > 1:
            h = F.pad(h, (0, 0, ksize - 1, (ksize - 1) // 2))
        x4 = h.permute(0, 2, 1).unsqueeze(2)  # (B, C, 1, T) over channels-last memory
        w4 = kern.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        if self.bf16 and self.training:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = F.conv2d(x4, w4)
            y = y.float()
        else:
            y = F.conv2d(x4, w4)
        return y.squeeze(2).permute(0, 2, 1)  # (B, T', out)

    def _hidden(self, i: int, cur: torch.Tensor) -> torch.Tensor:
        """BatchNorm and LIF of hidden layer ``i`` on ``cur (B, T, N)``; returns spikes (B, T, N)."""
        if self.bn is not None:
            b, t, c = cur.shape
            flat = cur.reshape(b * t, c)  # statistics over batch and time, like BatchNorm1d on (B, C, T)
            flat = self.bn[i](flat) if self.bn_forward is None else self.bn_forward(self.bn[i], flat, i)
            cur = flat.reshape(b, t, c)
        th = self.arch["v_threshold"] if self.thresholds is None else self.thresholds[i]
        spikes, _ = lif_btn(cur, self.arch["tau_steps"], th, self.surrogate_alpha)
        return spikes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.arch["n_inputs"]:
            raise ValueError(
                f"DelaySNN: input must be (batch, steps, {self.arch['n_inputs']}), got {tuple(x.shape)}"
            )
        h = x.to(self.layers[0].weight.dtype)  # (B, T, C): float32 unless model.double()
        n = self.n_layers
        for i in range(n - 1):
            spikes = self._hidden(i, self._conv(h, self.kernel(i)))
            if self.training and self.dropout > 0:
                # spikingjelly multi-step Dropout: one mask per sample and neuron for all steps
                mask = F.dropout(torch.ones_like(spikes[:, 0]), self.dropout, training=True)
                spikes = spikes * mask[:, None, :]
            h = spikes
        cur = self._conv(h, self.kernel(n - 1))
        _, out = lif_btn(cur, self.arch["readout_tau_steps"], self.readout_threshold, self.surrogate_alpha)
        return out.transpose(0, 1)  # (T', B, classes)

    def forward_spikes(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like forward without dropout (current kernel mode); also returns hidden spikes (T_l, B, n_l)."""
        h = x.to(self.layers[0].weight.dtype)
        spikes_all = []
        n = self.n_layers
        for i in range(n - 1):
            h = self._hidden(i, self._conv(h, self.kernel(i)))
            spikes_all.append(h.transpose(0, 1))
        _, out = lif_btn(
            self._conv(h, self.kernel(n - 1)), self.arch["readout_tau_steps"], self.readout_threshold
        )
        return out.transpose(0, 1), spikes_all

    @contextlib.contextmanager
    def rounded(self) -> Iterator[DelaySNN]:
        """Evaluate with one-hot integer delays (the paper's 'max', SIG=0, rounded P)."""
        old = self.kernel_mode
        self.kernel_mode = "rounded"
        try:
            yield self
        finally:
            self.kernel_mode = old


def sum_softmax(v_seq: torch.Tensor) -> torch.Tensor:
    """The paper's 'sum' readout: ``sum_t softmax(v_t)`` over classes, (B, C) from (T, B, C)."""
    return torch.softmax(v_seq, dim=2).sum(0)


def loss_fn(v_seq: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on ``sum_t softmax(v_t)`` used as logits (reference ``calc_loss``)."""
    return F.cross_entropy(sum_softmax(v_seq), labels, reduction=reduction)


def predict(v_seq: torch.Tensor) -> torch.Tensor:
    """argmax_c sum_t softmax(v_t)_c (contract readout 'softmax_sum')."""
    return sum_softmax(v_seq).argmax(1)


def init_model(model: DelaySNN, seed: int, *, init_pos: str = "uniform") -> None:
    """The reference initialisation (SnnDelays.init_model), deterministic from ``seed``.

    Weights: kaiming_uniform(relu). Positions: uniform(-K//2, K//2) with Python floor
    semantics (so (-13, 12) for K=25) then clamped; ``init_pos="zero"`` puts every delay at
    (K-1)//2. SIG: K//2 for learned delays, 0 otherwise (not learned).
    """
    g = torch.Generator().manual_seed(int(seed))
    k = model.kernel_size
    with torch.no_grad():
        for layer in model.layers:
            fan_in = layer.weight.shape[1] * layer.weight.shape[2]
            bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
            layer.weight.uniform_(-bound, bound, generator=g)
            if init_pos == "uniform":
                layer.P.uniform_(-k // 2, k // 2, generator=g)
            elif init_pos == "zero":
                layer.P.zero_()
            else:
                raise ValueError(f"init_pos: must be 'uniform' or 'zero', got {init_pos!r}")
            layer.clamp_parameters()
            layer.SIG.fill_(float(k // 2) if model.arch["model"] == "learned" else 0.0)
        if model.bn is not None:
            for bn in model.bn:
                bn.reset_parameters()


def build_model(
    arch: Mapping[str, Any],
    *,
    seed: int = 0,
    dropout: float = 0.0,
    surrogate_alpha: float = 5.0,
    init_pos: str = "uniform",
) -> DelaySNN:
    """Construct and initialize a :class:`DelaySNN` (interface A ``arch``)."""
    model = DelaySNN(arch, dropout=dropout, surrogate_alpha=surrogate_alpha)
    init_model(model, seed, init_pos=init_pos)
    return model
