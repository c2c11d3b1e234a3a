"""Read a state dict of the paper's reference code (Thvnvtos/SNN-delays).

``torch.save(model.state_dict())`` of its ``nn.Sequential`` holds per Dcls1d
``model.{i}.weight`` (out, in, 1), ``model.{i}.P`` (1, out, in, 1) and ``model.{i}.SIG``,
BatchNorm ``weight/bias/running_mean/running_var`` after each hidden Dcls1d and optionally a
ParametricLIF ``w``. The architecture is inferred from tensor shapes and module order; time
constants, threshold, step and kernel size come from :class:`ReferenceOptions` (defaults: the
paper's SHD run). Errors name parameters (``kernel_size=9``), never command-line flags.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from delaykit.convert.trained_params import (
    Checkpoint,
    LayerParams,
    read_batchnorm,
    squeeze_positions,
    squeeze_weight,
    to_numpy,
)
from delaykit.errors import DelaykitError, FormatError


@dataclass(frozen=True)
class ReferenceOptions:
    """What a reference-code state dict does not store (defaults: the paper's SHD run).

    tau_ms: membrane time constant in ms (``init_tau`` of best_config_SHD.py: 10.05 ms).
    dt_ms: simulation step in ms (``time_step``: 10 ms).
    kernel_size: DCLS dilated kernel size K in steps; None = ``250 ms // dt`` made odd
    (the reference code's ``max_delay``).
    v_threshold: hidden LIF threshold (1.0). output_v_threshold: readout threshold; >= 1e8
    means "never spikes" (the paper's 1e9, deployed as a non-spiking LI readout).
    bn_eps: BatchNorm epsilon (1e-5, PyTorch's default).
    window_ms: fixed input window per sample in ms (1400 ms covers every SHD/SSC sample).
    n_units / channel_group: raw input units and units summed per channel (700 / 5 for SHD).
    """

    tau_ms: float = 10.05
    dt_ms: float = 10.0
    kernel_size: int | None = None
    v_threshold: float = 1.0
    output_v_threshold: float = 1e9
    bn_eps: float = 1e-5
    window_ms: float = 1400.0
    n_units: int | None = None
    channel_group: int = 5

    def resolved_kernel_size(self) -> int:
        """K in steps: ``kernel_size``, or ``250 ms // dt`` made odd."""
        if self.kernel_size is not None:
            return int(self.kernel_size)
        k = int(250.0 // self.dt_ms)
        return k if k % 2 == 1 else k + 1

    def given(self) -> list[str]:
        """``name=value`` of every option that differs from the default."""
        default = asdict(ReferenceOptions())
        return [f"{k}={v!r}" for k, v in asdict(self).items() if v != default[k]]


#: Spiking readouts have a threshold below this; the paper's 1e9 means "never spikes".
_NEVER_SPIKES = 1e8


@dataclass(frozen=True)
class _Timing:
    """Kernel size K (steps), step dt (seconds) and hidden tau (steps) of the options."""

    kernel_size: int
    dt: float
    tau_steps: float


def _natural_key(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _module_sequence(
    sd: Mapping[str, Any], where: str
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """Tensors grouped per module, and (kind, prefix) per module in network order."""
    modules: dict[str, dict[str, Any]] = {}
    for key, value in sd.items():
        prefix, _, leaf = str(key).rpartition(".")
        modules.setdefault(prefix, {})[leaf] = value
    seq: list[tuple[str, str]] = []
    for prefix in sorted(modules, key=_natural_key):
        m = modules[prefix]
        if "P" in m and "weight" in m:
            seq.append(("dcls", prefix))
        elif "running_mean" in m:
            seq.append(("bn", prefix))
        elif set(m) == {"w"}:
            seq.append(("plif", prefix))
        elif set(m) <= {"num_batches_tracked"}:
            continue
        else:
            raise FormatError(
                f"{where}: module '{prefix}' with tensors {sorted(m)} is not part of a supported "
                "network (Dcls1d weight/P/SIG, BatchNorm1d, ParametricLIF w)"
            )
    return modules, seq


def _dcls_starts(seq: list[tuple[str, str]], sd: Mapping[str, Any], where: str) -> list[int]:
    """Indices into ``seq`` of the Dcls1d modules; the first module must be one."""
    starts = [i for i, (kind, _) in enumerate(seq) if kind == "dcls"]
    if not starts:
        raise FormatError(
            f"{where}: no Dcls1d layer found (no '<prefix>.P' next to '<prefix>.weight'); "
            f"keys start with {sorted(map(str, sd))[:6]}"
        )
    if starts[0] != 0:
        raise FormatError(f"{where}: '{seq[0][1]}' comes before the first Dcls1d layer")
    return starts


def _timing(opt: ReferenceOptions) -> _Timing:
    """Validate the options' kernel size, step and tau; tau in steps as the reference code computes it."""
    k = opt.resolved_kernel_size()
    if k < 1:
        raise DelaykitError(f"kernel_size={k}: must be >= 1")
    dt = opt.dt_ms / 1e3
    if not (math.isfinite(dt) and dt > 0):
        raise DelaykitError(f"dt_ms={opt.dt_ms}: must be a positive number of milliseconds")
    if opt.tau_ms < opt.dt_ms:
        raise DelaykitError(
            f"tau_ms={opt.tau_ms} is shorter than dt_ms={opt.dt_ms}; the reference code requires "
            "tau >= time_step"
        )
    # best_config_*.py: init_tau = (tau + 1e-9) / time_step
    return _Timing(kernel_size=k, dt=dt, tau_steps=(opt.tau_ms + 1e-9) / opt.dt_ms)


def _layer_tail(
    modules: dict[str, dict[str, Any]],
    tail: list[tuple[str, str]],
    prefix: str,
    n_out: int,
    last: bool,
    opt: ReferenceOptions,
    where: str,
) -> tuple[dict[str, Any] | None, float | None]:
    """The BatchNorm (or None) and ParametricLIF tau in steps (or None) after Dcls1d ``prefix``."""
    bn = None
    tau = None
    for kind, pfx in tail:
        if kind == "bn":
            if bn is not None:
                raise FormatError(f"{where}: two BatchNorm modules after '{prefix}' ('{pfx}')")
            if last:
                raise FormatError(
                    f"{where}: BatchNorm '{pfx}' after the readout layer '{prefix}' is not part "
                    "of the reference architecture"
                )
            flat = {f"{pfx}.{leaf}": v for leaf, v in modules[pfx].items()}
            bn = read_batchnorm(flat, pfx, n_out, opt.bn_eps, where)
        elif kind == "plif":
            wv = to_numpy(modules[pfx]["w"], f"{pfx}.w").reshape(-1)
            if wv.size != 1:
                raise FormatError(f"{where}['{pfx}.w'] must be a scalar (ParametricLIF)")
            tau = float(1.0 / (1.0 / (1.0 + math.exp(-float(wv[0])))))  # 1 / sigmoid(w)
    return bn, tau


def _read_dcls(m: dict[str, Any], prefix: str, prev: LayerParams | None, where: str) -> dict[str, Any]:
    """weight, positions, sig and conv_bias of one Dcls1d module, checked against the previous layer."""
    w = squeeze_weight(to_numpy(m["weight"], f"{prefix}.weight"), f"{where}['{prefix}.weight']")
    pos = squeeze_positions(to_numpy(m["P"], f"{prefix}.P"), w.shape, f"{where}['{prefix}.P']")
    sig = to_numpy(m["SIG"], f"{prefix}.SIG").reshape(-1) if "SIG" in m else None
    cb = to_numpy(m["bias"], f"{prefix}.bias").reshape(-1) if "bias" in m else None
    if cb is not None and cb.shape != (w.shape[0],):
        raise FormatError(f"{where}['{prefix}.bias'] has {cb.size} values, expected {w.shape[0]}")
    if prev is not None and prev.n_out != w.shape[1]:
        raise FormatError(
            f"{where}['{prefix}.weight'] has {w.shape[1]} inputs but the previous layer has "
            f"{prev.n_out} neurons: the tensors do not form a feedforward network"
        )
    return {"weight": w, "positions": pos, "sig": sig, "conv_bias": cb}


def _read_layers(
    modules: dict[str, dict[str, Any]],
    seq: list[tuple[str, str]],
    starts: list[int],
    timing: _Timing,
    opt: ReferenceOptions,
    where: str,
) -> list[LayerParams]:
    """One LayerParams per Dcls1d, with the BatchNorm and ParametricLIF that follow it."""
    layers: list[LayerParams] = []
    spiking_readout = opt.output_v_threshold < _NEVER_SPIKES
    for li, start in enumerate(starts):
        end = starts[li + 1] if li + 1 < len(starts) else len(seq)
        last = li == len(starts) - 1
        prefix = seq[start][1]
        tensors = _read_dcls(modules[prefix], prefix, layers[-1] if layers else None, where)
        n_out = tensors["weight"].shape[0]
        bn, plif_tau = _layer_tail(modules, seq[start + 1 : end], prefix, n_out, last, opt, where)
        if last:
            vth = opt.output_v_threshold if spiking_readout else None
        else:
            vth = opt.v_threshold
        layers.append(
            LayerParams(
                name="readout" if last else f"fc{li}",
                bn=bn,
                tau_steps=timing.tau_steps if plif_tau is None else plif_tau,
                v_threshold=vth,
                **tensors,
            )
        )
    return layers


def _input_units(layers: list[LayerParams], opt: ReferenceOptions, path: str) -> int:
    """Raw input units; they must sum, ``channel_group`` at a time, to the first layer's inputs."""
    n_in = layers[0].n_in
    group = int(opt.channel_group)
    n_units = int(opt.n_units) if opt.n_units is not None else n_in * group
    if math.ceil(n_units / group) != n_in:
        raise DelaykitError(
            f"{path}: first layer has {n_in} inputs but n_units={n_units} / channel_group={group} "
            f"gives {math.ceil(n_units / group)} channels; pass a matching n_units or channel_group"
        )
    return n_units


def _check_positions(layers: list[LayerParams], k: int, path: str) -> None:
    """Refuse positions the kernel size cannot hold (a wrong ``kernel_size``)."""
    max_p = max(float(np.abs(lay.positions).max()) for lay in layers)
    if max_p > k // 2 + 0.5 + 1e-6:
        raise DelaykitError(
            f"{path}: positions reach |P| = {max_p:.2f} but kernel_size={k} allows at most {k // 2}; "
            "pass the kernel size (max_delay) the model was trained with"
        )


def _arch(layers: list[LayerParams], timing: _Timing, opt: ReferenceOptions, n_units: int) -> dict[str, Any]:
    """The inferred architecture, with the keys of a delaykit checkpoint's ``arch``."""
    return {
        "model": "learned",
        "n_inputs": layers[0].n_in,
        "hidden": [lay.n_out for lay in layers[:-1]],
        "n_classes": layers[-1].n_out,
        "kernel_size": timing.kernel_size,
        "tau_steps": timing.tau_steps,
        "v_threshold": opt.v_threshold,
        "v_reset": 0.0,
        "readout_tau_steps": layers[-1].tau_steps,
        "batchnorm": any(lay.bn is not None for lay in layers),
        "bn_eps": opt.bn_eps,
        "dt": timing.dt,
        "n_units": n_units,
        "channel_group": int(opt.channel_group),
        "window_steps": int(round(opt.window_ms / opt.dt_ms)),
        "readout": "spike_count" if opt.output_v_threshold < _NEVER_SPIKES else "softmax_sum",
    }


def checkpoint_from_reference(
    sd: Mapping[str, Any], path: str, sha: str, opt: ReferenceOptions
) -> Checkpoint:
    """A :class:`Checkpoint` from a reference-code state dict of tensors (``sha``: of the file)."""
    where = f"{path}: state dict"
    modules, seq = _module_sequence(sd, where)
    starts = _dcls_starts(seq, sd, where)
    timing = _timing(opt)
    layers = _read_layers(modules, seq, starts, timing, opt, where)
    n_units = _input_units(layers, opt, path)
    _check_positions(layers, timing.kernel_size, path)
    arch = _arch(layers, timing, opt, n_units)
    return Checkpoint(
        path=path,
        sha256=sha,
        kind="reference",
        dt=timing.dt,
        kernel_size=timing.kernel_size,
        layers=layers,
        arch=arch,
        n_units=n_units,
        channel_group=arch["channel_group"],
        window_steps=arch["window_steps"],
        readout=arch["readout"],
        options={"reference_code": asdict(opt)},
    )
