"""Whether a training config fits SynSense Xylo, and Xylo's neuron settings (no torch).

Xylo's neuron itself (PyTorch) is :mod:`delaykit.train.xylo`; this part is imported by the
config code, which stays free of torch (``delaykit --help``).

Fit on Xylo (:func:`check_xylo_fit`, before any training): <= 16 input channels, <= 8
classes, and every delay a relay chain in the recurrent core, so the worst case -- every
presynaptic neuron with a chain of ``K - 1`` relays -- plus the hidden neurons must stay within
Xylo's 1000 hidden neurons. The delay range ``0..K-1`` is the constraint on the relay budget;
:func:`delaykit.train.xylo.relay_count` gives the count the trained delays actually need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_spec import MAX_HIDDEN, MAX_INPUTS, MAX_OUTPUTS

#: Largest ``dash`` of a Xylo bit-shift decay (4-bit fields): time constants up to 2**15 steps.
MAX_DASH = 15


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
            f"use a data set with at most {MAX_OUTPUTS} classes (delaykit data synth --preset xylo, or "
            f"data spoken-digits --classes 0,1,2,3,4,5,6,7 --compact-labels)"
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


__all__ = [
    "MAX_DASH",
    "check_xylo_fit",
    "is_xylo",
    "power_of_two_steps",
    "validate_xylo_model",
    "worst_case_relays",
    "xylo_arch_fields",
]
