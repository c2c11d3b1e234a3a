"""The neurons chips run: a LIF with a synaptic current and a choice of reset and leak.

``model.neuron = "cuba"`` (current-based LIF, Loihi 2's CUBA neuron) gives every layer a
synaptic current that decays with ``model.tau_syn_steps`` (learned per layer with
``model.tau_syn_learnable``); ``model.reset = "subtract"`` keeps the charge above the threshold
after a spike; ``model.leak = "exact"`` decays by ``exp(-1 / tau)`` instead of forward Euler's
``1 - 1 / tau``. Per step, exactly the deployed-network contract's format-3 neuron
(``docs/design.md``, "One layer"; ``v_reset = 0``, tau in steps, ``k(tau)`` the fraction lost
per step, in the float simulator's operation order)::

    c = c + I                       # I: the layer's synaptic input, BatchNorm's gain applied
    h = ((v + (0 - v) * k(tau)) + c) + b
    s = h >= v_threshold
    v = 0 ("value") | h - v_threshold ("subtract") on a spike, else h
    c = c + (0 - c) * k(tau_syn)

(forward Euler computes ``(0 - x) * k`` as ``(0 - x) / tau``, as the simulator does). Without a
current (``model.neuron = "lif"`` with another reset or leak) ``h = (v + leak) + (I + b)``. The
readout is the same neuron without spikes (the contract's ``LI``).

``b`` is BatchNorm's shift ``beta - mean * g`` added to the membrane every step, where the
contract (and Loihi 2, and Xylo) add a layer's bias -- not to the current, where it would be
integrated to ``b * tau_syn``. So the model splits BatchNorm (:func:`split_batchnorm`): the
gain scales the current (``convert`` folds it into the weights, ``W * g``), the shift is the
bias. With the paper's LIF both placements are the same number.

Forward on CPU: the numba kernels of :mod:`delaykit.train.cuba_kernels`; elsewhere a loop of
torch operations. Both use the ATan surrogate with the reset detached, like the paper's LIF.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from delaykit.errors import DelaykitError
from delaykit.network import decay_fraction
from delaykit.train import cuba_kernels as K
from delaykit.train.lif import atan_surrogate_grad
from delaykit.train.xylo import xylo_btn
from delaykit.train.xylo_fit import is_xylo, xylo_arch_fields

NEURONS: tuple[str, ...] = ("lif", "cuba")
RESETS: tuple[str, ...] = ("value", "subtract")
LEAKS: tuple[str, ...] = ("euler", "exact")

#: arch fields of the neuron, with the values of the paper's LIF; a checkpoint of the paper's
#: neuron stores none of them (its ``arch`` stays what it was)
NEURON_ARCH_DEFAULTS: dict[str, Any] = {
    "neuron": "lif",
    "tau_syn_steps": None,
    "tau_syn_learnable": False,
    "reset": "value",
    "leak": "euler",
}


def neuron_of(a: Mapping[str, Any]) -> dict[str, Any]:
    """The neuron fields of an ``arch`` dict, defaults filled in."""
    return {k: a.get(k, v) for k, v in NEURON_ARCH_DEFAULTS.items()}


def is_paper_neuron(a: Mapping[str, Any]) -> bool:
    """Whether ``arch`` asks for the paper's LIF (no current, reset to a value, Euler leak)."""
    n = neuron_of(a)
    return n["neuron"] == "lif" and n["reset"] == "value" and n["leak"] == "euler"


def validate_neuron_arch(a: dict[str, Any], where: str = "arch") -> None:
    """Check the neuron fields of an ``arch`` dict; normalize the present ones in place
    (absent ones mean the paper's LIF). Raises ValueError naming the field."""
    n = neuron_of(a)
    for key, choices in (("neuron", NEURONS), ("reset", RESETS), ("leak", LEAKS)):
        if n[key] not in choices:
            raise ValueError(f"{where}: field {key!r}: must be one of {choices}, got {n[key]!r}")
    n["tau_syn_learnable"] = bool(n["tau_syn_learnable"])
    tau = n["tau_syn_steps"]
    if n["neuron"] == "cuba":
        if tau is None or not math.isfinite(float(tau)) or float(tau) < 1.0:
            raise ValueError(
                f"{where}: field 'tau_syn_steps': neuron 'cuba' needs a number >= 1, got {tau!r}"
            )
        n["tau_syn_steps"] = float(tau)
    elif tau is not None or n["tau_syn_learnable"]:
        raise ValueError(
            f"{where}: field 'tau_syn_steps': only neuron 'cuba' has a synaptic current (got {tau!r})"
        )
    for key in NEURON_ARCH_DEFAULTS:
        if key in a:
            a[key] = n[key]


def arch_fields(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``arch`` fields of a config's ``model`` section: none for the paper's LIF (so its
    checkpoints stay as they were), all five otherwise."""
    m = model_cfg
    if m["neuron"] == "xylo":  # Xylo's neuron: the contract's cuba neuron, flagged (train/xylo.py)
        return xylo_arch_fields(m)
    if m["neuron"] == "lif" and m["reset"] == "value" and m["leak"] == "euler":
        return {}
    cuba = m["neuron"] == "cuba"
    return {
        "neuron": m["neuron"],
        "tau_syn_steps": float(m["tau_syn_steps"]) if cuba else None,
        "tau_syn_learnable": bool(m["tau_syn_learnable"]) and cuba,
        "reset": m["reset"],
        "leak": m["leak"],
    }


def split_batchnorm(bn: torch.nn.BatchNorm1d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm of ``x (rows, C)`` split into ``(x * g, beta - mean * g)``: the scaled input
    (the synaptic current, what the folded weights ``W * g`` deliver) and the shift (the
    contract's per-step membrane bias). ``g = gamma / sqrt(var + eps)``; training mode uses the
    batch statistics and updates the running ones as ``bn`` does, eval mode the running ones."""
    if bn.training or bn.running_mean is None or bn.running_var is None:
        with torch.no_grad():
            bn(x)  # updates running_mean / running_var exactly as the module does
        mean = x.mean(0)
        var = x.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    g = bn.weight * torch.rsqrt(var + bn.eps)
    return x * g, bn.bias - mean * g


def _leak_param(tau: float, leak: str) -> tuple[float, bool]:
    """(p, divide?) of a leak: ``x + (0 - x) / tau`` (Euler) or ``x + (0 - x) * k(tau)`` (exact)."""
    return (float(tau), True) if leak == "euler" else (decay_fraction(tau, leak), False)


class _CubaBTN(torch.autograd.Function):
    """Current-based LIF over ``x (B, T, N)`` with the numba kernels (CPU).

    ``syn_p`` (0-d tensor) is ``tau_syn`` (Euler) or ``k(tau_syn)`` (exact) and gets a gradient;
    ``spec = (mem_p, mem_div, syn_div, has_current, th, reset code, alpha)``.
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, b: torch.Tensor, syn_p: torch.Tensor, spec: tuple[Any, ...]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mem_p, mem_div, syn_div, has_current, th, reset, _alpha = spec
        x = x.contiguous()
        h, c, s, v = (torch.empty_like(x) for _ in range(4))
        f = x.numpy().dtype.type
        bb = b.detach().to(x.dtype).contiguous().numpy()
        sp = f(float(syn_p))
        K.cuba_forward(
            x.numpy(), bb, f(mem_p), mem_div, sp, syn_div, has_current, f(th), reset,
            h.numpy(), c.numpy(), s.numpy(), v.numpy(),
        )  # fmt: skip
        ctx.save_for_backward(h, c)
        ctx.spec, ctx.sp, ctx.meta = spec, sp, (syn_p.dtype, b.shape)
        return s, v

    @staticmethod
    def backward(ctx: Any, g_s: torch.Tensor | None, g_v: torch.Tensor | None) -> tuple[Any, ...]:
        h, c = ctx.saved_tensors
        mem_p, mem_div, syn_div, has_current, th, reset, alpha = ctx.spec
        p_dtype, b_shape = ctx.meta
        dummy = h[:1, :1, :1]
        gs = g_s.contiguous() if g_s is not None else dummy
        gv = g_v.contiguous() if g_v is not None else dummy
        gx = torch.empty_like(h)
        gb = torch.zeros_like(h[:, 0])
        gp = torch.zeros_like(h[:, 0])
        f = h.numpy().dtype.type
        K.cuba_backward(
            h.numpy(), c.numpy(), gs.numpy(), gv.numpy(), g_s is not None, g_v is not None,
            f(mem_p), mem_div, ctx.sp, syn_div, has_current, f(th), reset,
            f(alpha / 2), f(math.pi / 2 * alpha), gx.numpy(), gb.numpy(), gp.numpy(),
        )  # fmt: skip
        return gx, gb.sum(0).reshape(b_shape), gp.sum().to(p_dtype), None


class _Spike(torch.autograd.Function):
    """Heaviside ``u >= 0`` with the ATan surrogate gradient (the torch loop's spike)."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (u,) = ctx.saved_tensors
        return g * atan_surrogate_grad(u, ctx.alpha), None


def _torch_leak(x: torch.Tensor, p: Any, div: bool) -> torch.Tensor:
    return -x / p if div else -x * p


def cuba_torch(
    x: torch.Tensor, b: torch.Tensor, syn_p: torch.Tensor | None, spec: tuple[Any, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same neuron as a loop of torch operations over ``x (B, T, N)`` (any device; autograd).
    ``syn_p`` and ``spec`` as for the numba function (``syn_p`` None: no current)."""
    mem_p, mem_div, syn_div, has_current, th, reset, alpha = spec
    v = torch.zeros_like(x[:, 0])
    c = torch.zeros_like(x[:, 0])
    s_seq, v_seq = [], []
    for t in range(x.shape[1]):
        vl = v + _torch_leak(v, mem_p, mem_div)
        if has_current:
            c = c + x[:, t]
            h = (vl + c) + b
            c = c + _torch_leak(c, syn_p, syn_div)
        else:
            h = vl + (x[:, t] + b)
        s = _Spike.apply(h - th, alpha)
        if reset == K.RESET_CODES["value"]:
            v = h * (1.0 - s.detach())
        elif reset == K.RESET_CODES["subtract"]:
            v = h - th * s.detach()
        else:
            v = h
        s_seq.append(s)
        v_seq.append(v)
    return torch.stack(s_seq, 1), torch.stack(v_seq, 1)


def cuba_btn(
    x: torch.Tensor,
    *,
    tau: float,
    v_threshold: float,
    tau_syn: torch.Tensor | float | None = None,
    bias: torch.Tensor | None = None,
    reset: str = "subtract",
    leak: str = "euler",
    alpha: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Current-based LIF over ``x (B, T, N)``: returns ``(spikes, v_seq)`` of the same shape.

    tau, tau_syn: membrane and current time constants in steps (``tau_syn`` None: no current;
    a tensor gets a gradient, clamped to >= 1). bias: (N,) added to the membrane every step.
    reset: "value" (to 0), "subtract" (``v = h - v_threshold``) or "none". leak: "euler" | "exact".
    """
    mem_p, mem_div = _leak_param(tau, leak)
    syn_div = leak == "euler"
    if isinstance(tau_syn, torch.Tensor):
        ts = tau_syn.clamp_min(1.0)
        syn_p = ts if syn_div else -torch.expm1(-1.0 / ts)
    else:
        syn_p = torch.tensor(
            _leak_param(tau_syn, leak)[0] if tau_syn is not None else 1.0, dtype=torch.float64
        )
    spec = (
        mem_p,
        mem_div,
        syn_div,
        tau_syn is not None,
        float(v_threshold),
        K.RESET_CODES[reset],
        float(alpha),
    )
    b = bias if bias is not None else torch.zeros(x.shape[2], dtype=x.dtype, device=x.device)
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return _CubaBTN.apply(x, b, syn_p, spec)
    return cuba_torch(x, b, syn_p.to(x.device, x.dtype), spec)


def _bn_split(model: Any, i: int, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden layer ``i``'s BatchNorm of ``flat (rows, C)`` as (current input, membrane bias).

    The module itself: :func:`split_batchnorm`. A ``model.bn_forward`` hook (fine-tuning's
    folded BatchNorm) is affine per channel, so its bias is its value at 0 and the current the
    rest. Data-parallel BatchNorm (batch statistics synced over ranks) is not split: refused.
    """
    if model.bn is None:
        return flat, None
    bn = model.bn[i]
    hook = model.bn_forward
    if hook is None:
        return split_batchnorm(bn, flat)
    if bn.training and getattr(hook, "__self__", None) is None:
        raise DelaykitError(
            "model.neuron/model.reset/model.leak: a neuron other than the paper's LIF cannot train "
            "with data-parallel BatchNorm yet; train on one process"
        )
    b = hook(bn, torch.zeros_like(flat[:1]), i)[0]
    return hook(bn, flat, i) - b, b


def tau_syn_of(model: Any, i: int) -> torch.Tensor | float | None:
    """Layer ``i``'s ``tau_syn`` in steps: the learned parameter, the arch's value, or None."""
    n = neuron_of(model.arch)
    if n["neuron"] != "cuba":
        return None
    learned = getattr(model, "tau_syn", None)
    if learned is None:
        return float(n["tau_syn_steps"])
    if learned.requires_grad and torch.is_grad_enabled():
        return learned[i]
    return max(float(learned[i]), 1.0)  # as the converter reads it: the contract's own k(tau)


def hidden_forward(model: Any, i: int, cur: torch.Tensor) -> torch.Tensor:
    """BatchNorm and the configured neuron of hidden layer ``i`` on ``cur (B, T, N)``: spikes."""
    b_, t_, c_ = cur.shape
    x, bias = _bn_split(model, i, cur.reshape(b_ * t_, c_))
    n = neuron_of(model.arch)
    th = model.arch["v_threshold"] if model.thresholds is None else model.thresholds[i]
    if is_xylo(model.arch):
        ts = float(n["tau_syn_steps"])
        x3 = x.reshape(b_, t_, c_)
        return xylo_btn(x3, tau=model.arch["tau_steps"], tau_syn=ts, v_threshold=th, bias=bias,
                        alpha=model.surrogate_alpha)[0]  # fmt: skip
    spikes, _ = cuba_btn(
        x.reshape(b_, t_, c_),
        tau=model.arch["tau_steps"],
        v_threshold=th,
        tau_syn=tau_syn_of(model, i),
        bias=bias,
        reset=n["reset"],
        leak=n["leak"],
        alpha=model.surrogate_alpha,
    )
    return spikes


def readout_forward(model: Any, cur: torch.Tensor) -> torch.Tensor:
    """The readout (the contract's non-spiking ``LI``) of ``cur (B, T, classes)``: membranes."""
    n = neuron_of(model.arch)
    if is_xylo(model.arch):
        ts = float(n["tau_syn_steps"])
        return xylo_btn(cur, tau=model.arch["readout_tau_steps"], tau_syn=ts, v_threshold=1.0, spiking=False)[
            1
        ]
    _, v = cuba_btn(
        cur,
        tau=model.arch["readout_tau_steps"],
        v_threshold=model.readout_threshold,
        tau_syn=tau_syn_of(model, model.n_layers - 1),
        reset="none",
        leak=n["leak"],
        alpha=model.surrogate_alpha,
    )
    return v


__all__ = [
    "arch_fields",
    "hidden_forward",
    "neuron_of",
    "readout_forward",
    "tau_syn_of",
    "LEAKS",
    "NEURONS",
    "NEURON_ARCH_DEFAULTS",
    "RESETS",
    "cuba_btn",
    "cuba_torch",
    "is_paper_neuron",
    "split_batchnorm",
    "validate_neuron_arch",
]
