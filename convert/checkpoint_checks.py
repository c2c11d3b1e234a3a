"""Value checks of a read checkpoint: every number finite, in range and consistent.

:func:`check_arch` runs on a delaykit checkpoint's ``arch`` before any of it is used (so a
fractional size is refused, not truncated); :func:`check_checkpoint` runs on the parameters
read from either kind of checkpoint (delaykit or reference code). Errors are
:class:`~delaykit.validate.InvalidValue` naming the file, the field, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from delaykit.convert.trained_params import Checkpoint, LayerParams
from delaykit.network import READOUT_RULES
from delaykit.validate import (
    MAX_KERNEL_SIZE,
    MAX_SEQUENCE_STEPS,
    finite_array,
    in_range,
    integral,
    invalid,
)

#: Largest layer width a checkpoint may declare.
MAX_WIDTH = 1_000_000
_RETRAIN = "the checkpoint is damaged or was edited; re-train or re-export it"


def check_arch(arch: Mapping[str, Any], path: str) -> None:
    """Sizes whole and bounded, kernel size in 1..MAX_KERNEL_SIZE, numbers finite."""
    where = f"{path}: arch"
    integral(arch["n_inputs"], where, "n_inputs", 1, MAX_WIDTH, _RETRAIN)
    integral(arch["n_classes"], where, "n_classes", 1, MAX_WIDTH, _RETRAIN)
    hidden = arch["hidden"]
    if not isinstance(hidden, (list, tuple)):
        raise invalid(where, "hidden", hidden, "must be a list of layer widths", _RETRAIN)
    for h in hidden:
        integral(h, where, "hidden", 1, MAX_WIDTH, _RETRAIN)
    integral(arch["kernel_size"], where, "kernel_size", 1, MAX_KERNEL_SIZE, "K is a number of steps >= 1")
    for key in ("window_steps", "channel_group", "n_units"):
        if arch.get(key) is not None:
            hi = MAX_SEQUENCE_STEPS if key == "window_steps" else 10_000_000
            integral(arch[key], where, key, 1, hi, _RETRAIN)
    for key in ("dt", "tau_steps", "readout_tau_steps", "v_threshold", "v_reset", "bn_eps"):
        if arch.get(key) is not None:
            in_range(arch[key], where, key, fix=_RETRAIN)


def check_checkpoint(cp: Checkpoint) -> None:
    """Refuse a checkpoint whose parameters no network can be built from (see module doc)."""
    where = cp.path
    in_range(cp.dt, where, "dt", 0, 10.0, lo_open=True, fix="dt is the step in seconds (0.01 = 10 ms)")
    k = integral(cp.kernel_size, where, "kernel_size", 1, MAX_KERNEL_SIZE, "K is a number of steps >= 1")
    integral(cp.channel_group, where, "channel_group", 1, 10_000_000, "units summed per channel, >= 1")
    integral(cp.n_units, where, "n_units", 1, 10_000_000, _RETRAIN)
    integral(cp.window_steps, where, "window_steps", 1, MAX_SEQUENCE_STEPS, _RETRAIN)
    if cp.readout not in READOUT_RULES:
        raise invalid(where, "readout", cp.readout, f"unknown readout; one of {list(READOUT_RULES)}")
    for i, layer in enumerate(cp.layers):
        _check_layer(layer, f"{where}: layer {i} ({layer.name})", k)


def _check_layer(layer: LayerParams, where: str, k: int) -> None:
    finite_array(layer.weight, where, "weight", _RETRAIN)
    pos = finite_array(layer.positions, where, "positions (P)", _RETRAIN)
    center = (k - 1) // 2
    lo, hi = center - (k - 1) - 0.5, center + 0.5
    if pos.size and (pos.min() < lo or pos.max() > hi):
        bad = float(pos.min() if pos.min() < lo else pos.max())
        raise invalid(
            where,
            "positions (P)",
            bad,
            f"outside the range {lo + 0.5:g}..{hi - 0.5:g} that kernel_size {k} holds",
            "kernel_size does not match the trained positions; the checkpoint is damaged",
        )
    for name in ("sig", "conv_bias"):
        v = getattr(layer, name)
        if v is not None:
            finite_array(v, where, name, _RETRAIN)
    if layer.bn is not None:
        for name in ("gamma", "beta", "mean", "var"):
            finite_array(layer.bn[name], where, f"BatchNorm {name}", _RETRAIN)
        if (np.asarray(layer.bn["var"]) < 0).any():
            raise invalid(
                where, "BatchNorm var", float(np.min(layer.bn["var"])), "negative variance", _RETRAIN
            )
        in_range(layer.bn["eps"], where, "BatchNorm eps", 0, lo_open=True, fix=_RETRAIN)
    in_range(layer.tau_steps, where, "tau_steps", 1.0, fix="tau is in steps of dt and must be >= 1")
    v_reset = in_range(layer.v_reset, where, "v_reset", fix=_RETRAIN)
    if layer.v_threshold is not None:
        th = in_range(layer.v_threshold, where, "v_threshold", fix=_RETRAIN)
        if th <= v_reset:
            raise invalid(where, "v_threshold", th, f"must be greater than v_reset {v_reset:g}", _RETRAIN)
    if layer.tau_syn is not None:
        in_range(layer.tau_syn, where, "tau_syn", 1.0, fix="tau_syn is in steps of dt and must be >= 1")
