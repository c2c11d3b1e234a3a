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

Fit on Xylo (:func:`check_xylo_fit`, before any training): <= 16 input channels, <= 8
classes, and every delay a relay chain in the recurrent core, so the worst case -- every
presynaptic neuron with a chain of ``K - 1`` relays -- plus the hidden neurons must stay within
Xylo's 1000 hidden neurons. The delay range ``0..K-1`` is the constraint on the relay budget;
:func:`relay_count` gives the count the trained delays actually need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_spec import MAX_HIDDEN, MAX_HIDDEN_SPIKES, MAX_INPUTS, MAX_OUTPUTS
from delaykit.train.lif import atan_surrogate_grad

#: Largest ``dash`` of a Xylo bit-shift decay (4-bit fields): time constants up to 2**15 steps.
MAX_DASH = 15


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


def is_xylo(arch: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's ``arch`` asks for Xylo's neuron."""
    return bool(arch.get("xylo_neuron", False))


def power_of_two_steps(steps: float, lo: int, what: str) -> float:
    """``steps`` snapped to the power of two ``2**dash`` (``lo <= dash <= 15``) it is within 1e-6
    of; otherwise a DelaykitError naming ``what`` (Xylo decays by a bit shift)."""
    dash = round(math.log2(steps)) if steps > 0 else -1
    if not lo <= dash <= MAX_DASH or abs(steps - 2.0**dash) > 1e-6 * 2.0**dash:
        options = ", ".join(str(2**k) for k in range(lo, 6))
        raise DelaykitError(
            f"{what}: {steps:g} steps is not a power of two 2**{lo}..2**{MAX_DASH}; Xylo decays by a "
            f"bit shift: use one of {options}, ... steps"
        )
    return float(2.0**dash)


def xylo_arch_fields(m: Mapping[str, Any]) -> dict[str, Any]:
    """The neuron fields of a ``model.neuron = "xylo"`` arch (the contract's cuba neuron, flagged)."""
    return {
        "neuron": "cuba",
        "tau_syn_steps": float(m["tau_syn_steps"]),
        "tau_syn_learnable": False,
        "reset": "subtract",
        "leak": "euler",
        "xylo_neuron": True,
    }


def validate_xylo_model(m: Mapping[str, Any], dt_s: float) -> None:
    """The ``model`` keys Xylo's neuron needs (raises DelaykitError naming the key and the fix)."""
    if m["reset"] != "subtract" or m["leak"] != "euler":
        raise DelaykitError(
            f"model.neuron=xylo: Xylo resets by subtraction with a bit-shift (euler) leak; set "
            f"model.reset=subtract and model.leak=euler (got {m['reset']!r}, {m['leak']!r})"
        )
    if m["tau_syn_learnable"]:
        raise DelaykitError("model.tau_syn_learnable: Xylo's tau_syn is a power of two; drop it")
    dt_ms = dt_s * 1e3
    power_of_two_steps(float(m["tau_syn_steps"]), 1, "model.tau_syn_steps")
    power_of_two_steps(float(m["tau_ms"]) / dt_ms, 0, f"model.tau_ms / dt ({m['tau_ms']} ms / {dt_ms:g} ms)")
    power_of_two_steps(
        float(m["readout_tau_ms"]) / dt_ms,
        0,
        f"model.readout_tau_ms / dt ({m['readout_tau_ms']} ms / {dt_ms:g} ms)",
    )


def worst_case_relays(n_inputs: int, hidden: list[int], kernel_size: int) -> int:
    """Relay neurons when every presynaptic neuron (input channel or hidden neuron) needs a chain
    of ``kernel_size - 1`` relays: ``(n_inputs + sum(hidden)) * (K - 1)``."""
    return (int(n_inputs) + sum(int(h) for h in hidden)) * max(int(kernel_size) - 1, 0)


def check_xylo_fit(cfg: Mapping[str, Any], n_inputs: int, n_classes: int, n_units: int) -> None:
    """Refuse (one line: key, value, fix) a config and data that cannot fit Xylo."""
    m, d = cfg["model"], cfg["data"]
    if m["neuron"] != "xylo":
        raise DelaykitError(
            f"--target xylo: model.neuron is {m['neuron']!r}; Xylo needs its own neuron: use "
            f"--config delay-task-xylo or --set model.neuron=xylo --set model.reset=subtract"
        )
    if n_inputs > MAX_INPUTS:
        need = math.ceil(n_units / MAX_INPUTS)
        raise DelaykitError(
            f"--target xylo: {n_units} units / data.channel_group {d['channel_group']} = {n_inputs} input "
            f"channels, Xylo reads at most {MAX_INPUTS}: set data.channel_group={need} (or use 16-channel "
            f"data, e.g. delaykit data synth --preset xylo)"
        )
    if n_classes > MAX_OUTPUTS:
        raise DelaykitError(
            f"--target xylo: the data have {n_classes} classes, Xylo has {MAX_OUTPUTS} readout neurons: "
            f"use a data set with at most {MAX_OUTPUTS} classes (e.g. delaykit data synth --preset xylo)"
        )
    k = 1 if m["kind"] == "none" else int(m["kernel_size"])
    relays = worst_case_relays(n_inputs, list(m["hidden"]), k)
    total = relays + sum(m["hidden"])
    if total > MAX_HIDDEN:
        per = MAX_HIDDEN - sum(m["hidden"])
        k_max = 1 + max(per, 0) // (n_inputs + sum(m["hidden"]))
        raise DelaykitError(
            f"--target xylo: model.kernel_size={k} with model.hidden={list(m['hidden'])} may need "
            f"{relays} delay relays + {sum(m['hidden'])} neurons = {total} hidden neurons, Xylo has "
            f"{MAX_HIDDEN}: set model.kernel_size<={k_max - (1 - k_max % 2)} or fewer hidden neurons"
        )


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


__all__ = [
    "check_xylo_fit",
    "is_xylo",
    "power_of_two_steps",
    "relay_count",
    "validate_xylo_model",
    "worst_case_relays",
    "xylo_arch_fields",
    "xylo_btn",
]
