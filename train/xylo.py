"""Training for SynSense Xylo: Xylo's neuron in PyTorch, the fit checks and the relay count.

``model.neuron = "xylo"`` trains the neuron Xylo's core computes (``docs/xylo.md``, rules 1-4;
``hardware_targets/xylo_core.py`` is the integer version), in floats. Per step, ``I`` the
layer's synaptic input (BatchNorm's gain applied), ``b`` BatchNorm's shift (the membrane
bias), ``tau`` and ``tau_syn`` powers of two in steps::

    i = (i + I) * (1 - 1/tau_syn)      # Xylo decays the current *before* the membrane sees it
    h = v * (1 - 1/tau) + i + b
    n = min(floor(h / th), 31) if h >= th else 0     # up to 31 events per step (hidden)
    v = h - n * th                                   # subtractive reset
    readout: v = h (no events; the membrane is the output)

The input counts are capped at 15 events per channel and step, as Xylo caps them
(``DelaySNN._input``): a speech channel summing 44 cochlea units often has more.

The checkpoint stores it as the contract's current-based neuron (``arch["neuron"] = "cuba"``,
``reset = "subtract"``, ``leak = "euler"``) plus ``arch["xylo_neuron"] = True``: converted with
``--bits 8`` it is a contract network that Xylo can express (``hardware_targets/xylo_reference``
reads it in Xylo's arithmetic: exactly the lines above in integers). The contract's own float
reading of that file differs (it feeds the current to the membrane before decaying it and
fires once per step): a Xylo-trained network is meant to be run in Xylo mode or on Xylo.

Gradients: the ATan surrogate of ``h - th`` for the first event, the event count beyond it and
the reset detached (as the paper's LIF detaches its reset).

What fits Xylo is checked, without torch, by :mod:`delaykit.train.xylo_fit`; :func:`relay_count`
gives the relays the trained delays need.
"""

from __future__ import annotations

from typing import Any

import torch

from delaykit.hardware_targets.xylo_spec import MAX_HIDDEN_SPIKES
from delaykit.train.lif import atan_surrogate_grad


class _Events(torch.autograd.Function):
    """Xylo's event count ``min(floor(h/th), 31)`` for ``h >= th`` (else 0); ATan surrogate of
    ``h - th`` as its gradient (the first event's)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, th: float, alpha: float, cap: int) -> torch.Tensor:
        ctx.save_for_backward(h)
        ctx.th, ctx.alpha = th, alpha
        n = torch.floor(h / th).clamp(0, cap)
        return torch.where(h >= th, n.clamp_min(1.0), torch.zeros_like(h))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (h,) = ctx.saved_tensors
        return g * atan_surrogate_grad(h - ctx.th, ctx.alpha), None, None, None


def xylo_btn(
    x: torch.Tensor,
    *,
    tau: float,
    tau_syn: float,
    v_threshold: float,
    bias: torch.Tensor | None = None,
    spiking: bool = True,
    alpha: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Xylo's neuron over ``x (B, T, N)`` (module doc): ``(events, v_seq)`` of the same shape.

    tau, tau_syn: membrane and current time constants in steps; bias (N,) added to the
    membrane every step; ``spiking=False`` is the readout (no events, ``v = h``).
    """
    a_mem, a_syn = 1.0 - 1.0 / float(tau), 1.0 - 1.0 / float(tau_syn)
    i = torch.zeros_like(x[:, 0])
    v = torch.zeros_like(x[:, 0])
    b = bias if bias is not None else torch.zeros_like(x[0, 0])
    th = float(v_threshold)
    n_seq, v_seq = [], []
    for t in range(x.shape[1]):
        i = (i + x[:, t]) * a_syn
        h = v * a_mem + i + b
        if spiking:
            n = _Events.apply(h, th, float(alpha), MAX_HIDDEN_SPIKES)
            v = h - th * n.detach()
            n_seq.append(n)
        else:
            v = h
        v_seq.append(v)
    v_all = torch.stack(v_seq, 1)
    return (torch.stack(n_seq, 1) if spiking else torch.zeros_like(v_all)), v_all


def relay_count(weights: list[torch.Tensor], delays: list[torch.Tensor]) -> list[int]:
    """Relays per layer for the trained delays (as the Xylo mapper builds them): one chain per
    presynaptic neuron, as long as its largest delay over its non-zero synapses.

    weights, delays: per layer ``(out, in)``; returns one count per layer (its inputs' chains).
    """
    out = []
    for w, d in zip(weights, delays):
        dd = torch.where(w != 0, d, torch.zeros_like(d))
        out.append(int(dd.max(dim=0).values.sum()) if dd.numel() else 0)
    return out


__all__ = ["relay_count", "xylo_btn"]
