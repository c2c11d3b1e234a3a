"""Read trained models: delaykit checkpoints, and dispatch to the reference-code reader.

Two inputs are understood (docs/design.md, "File formats"):

* a **delaykit checkpoint** (``torch.save`` of a dict with ``format == "delaykit.checkpoint"``,
  written by ``delaykit train``): the architecture is in ``arch``, the tensors in
  ``state_dict`` (``layers.{i}.weight/P/SIG/bias``, ``bn.{i}.*``);
* a **reference-code state dict** (Thvnvtos/SNN-delays ``torch.save(model.state_dict())``),
  read by :mod:`.reference_code` with :class:`ReferenceOptions`.

Files are opened with ``torch.load(weights_only=True)`` only. torch is imported inside the
functions, so importing this module is cheap. Errors name parameters (``reference_code=True``),
never command-line flags.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.convert.checkpoint_checks import check_arch, check_checkpoint
from delaykit.convert.reference_code import ReferenceOptions, checkpoint_from_reference
from delaykit.convert.trained_params import (
    Checkpoint,
    LayerParams,
    is_tensor,
    read_batchnorm,
    squeeze_positions,
    squeeze_weight,
    to_numpy,
)
from delaykit.errors import DelaykitError, FormatError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSIONS",
    "Checkpoint",
    "LayerParams",
    "ReferenceOptions",
    "file_sha256",
    "load_checkpoint",
    "torch_load_safe",
]

CHECKPOINT_FORMAT = "delaykit.checkpoint"
CHECKPOINT_VERSIONS = (1,)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def torch_load_safe(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True, map_location='cpu')`` with errors a user can act on."""
    import torch  # torch only when a checkpoint is read

    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        why = next(
            (ln for ln in lines if "Unsupported global" in ln or "Unpickler error" in ln),
            lines[0] if lines else type(e).__name__,
        )
        why = re.sub(r"\x1b\[[0-9;]*m", "", why)
        raise FormatError(
            f"{p}: cannot be loaded with torch.load(weights_only=True) ({why[:200]}). It holds "
            "Python objects beyond tensors and plain containers (e.g. a whole pickled nn.Module). "
            "If you trust the file, re-save only its state dict: "
            "torch.save(torch.load(path, weights_only=False).state_dict(), 'state.pt'), "
            "then convert state.pt"
        ) from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
    ) as e:
        # a damaged pickle stream fails inside torch's unpickler with any of these
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(
            f"{p}: not a PyTorch checkpoint readable by torch.load ({msg[:200]}); expected a "
            "delaykit model.pt or a state_dict saved by the paper's reference code"
        ) from None


# ---- entry point ---------------------------------------------------------------------------


def load_checkpoint(
    path: str | Path,
    *,
    reference_code: bool | None = None,
    options: ReferenceOptions | None = None,
) -> Checkpoint:
    """Load a delaykit checkpoint or a reference-code state dict.

    reference_code: True forces reading a plain state dict, False requires a delaykit
    checkpoint, None (default) decides from the content. ``options`` apply to reference
    state dicts only (a delaykit checkpoint stores its own architecture).
    Raises FormatError/DelaykitError naming the file and what is missing.
    """
    p = Path(path)
    obj = torch_load_safe(p)
    sha = file_sha256(p)
    is_dk = isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT
    if is_dk and reference_code:
        raise DelaykitError(
            f"{p}: is a delaykit checkpoint, not a reference-code state dict; drop reference_code=True"
        )
    if is_dk:
        given = options.given() if options is not None else []
        if given:
            raise DelaykitError(
                f"{p}: is a delaykit checkpoint, which stores its own tau, dt, threshold and kernel "
                f"size; {', '.join(given)}: these options apply to reference-code state dicts only"
            )
        cp = _from_delaykit(obj, str(p), sha)
        check_checkpoint(cp)
        return cp
    if reference_code is False:
        raise FormatError(
            f"{p}: not a delaykit checkpoint (no 'format': '{CHECKPOINT_FORMAT}' entry); for a "
            "state dict of the paper's reference code pass reference_code=True"
        )
    sd = _unwrap_state_dict(obj, p)
    cp = checkpoint_from_reference(sd, str(p), sha, options or ReferenceOptions())
    check_checkpoint(cp)
    return cp


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _unwrap_state_dict(obj: Any, p: Path) -> Mapping[str, Any]:
    """The state dict of tensors in ``obj``: itself, or under one of the usual wrapper keys."""
    if not isinstance(obj, Mapping):
        raise FormatError(
            f"{p}: holds a {type(obj).__name__}, not a checkpoint dict or a state dict; expected a "
            "delaykit model.pt or torch.save(model.state_dict()) of the paper's reference code"
        )
    if obj and all(is_tensor(v) for v in obj.values()):
        return obj
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(is_tensor(v) for v in inner.values()):
            return inner
    keys = sorted(map(str, obj))[:8]
    raise FormatError(
        f"{p}: not a delaykit checkpoint (no 'format': '{CHECKPOINT_FORMAT}') and not a state dict "
        f"of tensors (top-level keys: {keys}); expected a delaykit model.pt or a reference-code "
        "state_dict"
    )


# ---- delaykit checkpoints ------------------------------------------------------------------

_ARCH_REQUIRED = (
    "model",
    "n_inputs",
    "hidden",
    "n_classes",
    "kernel_size",
    "tau_steps",
    "v_threshold",
    "readout_tau_steps",
    "batchnorm",
    "dt",
)


@dataclass(frozen=True)
class _Arch:
    """What every layer of a delaykit checkpoint needs from ``arch`` (taus in steps)."""

    sizes: list[int]
    kernel_size: int
    batchnorm: bool
    bn_eps: float
    tau_steps: float
    readout_tau_steps: float
    v_threshold: float
    v_reset: float
    neuron: str = "lif"  # "cuba": a synaptic current with tau_syn steps (train/cuba.py)
    tau_syn: float | None = None
    reset: str = "value"
    leak: str = "euler"


_NEURON_CHOICES = {"neuron": ("lif", "cuba"), "reset": ("value", "subtract"), "leak": ("euler", "exact")}


def _neuron_fields(arch: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The optional neuron fields of ``arch`` (absent: the paper's LIF), checked."""
    out: dict[str, Any] = {}
    for key, choices in _NEURON_CHOICES.items():
        value = arch.get(key, choices[0])
        if value not in choices:
            raise FormatError(f"{path}: arch field {key!r} must be one of {list(choices)}, got {value!r}")
        out[key] = value
    tau = arch.get("tau_syn_steps")
    if out["neuron"] == "cuba":
        if tau is None or not np.isfinite(float(tau)) or float(tau) < 1.0:
            raise FormatError(
                f"{path}: arch field 'tau_syn_steps' must be a number of steps >= 1, got {tau!r}"
            )
        out["tau_syn"] = float(tau)
    return out


def _checked_parts(ck: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """``arch`` and ``state_dict`` of a delaykit checkpoint, after checking the format version."""
    version = ck.get("format_version")
    if version not in CHECKPOINT_VERSIONS:
        raise FormatError(
            f"{path}: checkpoint format_version {version!r} is not supported (supported: "
            f"{list(CHECKPOINT_VERSIONS)}); upgrade delaykit or re-train"
        )
    arch = ck.get("arch")
    if not isinstance(arch, Mapping):
        raise FormatError(f"{path}: checkpoint field 'arch' is missing or not a dict")
    missing = [k for k in _ARCH_REQUIRED if k not in arch]
    if missing:
        raise FormatError(f"{path}: checkpoint field 'arch' lacks {missing}")
    sd = ck.get("state_dict")
    if not isinstance(sd, Mapping):
        raise FormatError(f"{path}: checkpoint field 'state_dict' is missing or not a dict")
    return arch, sd


def _arch_of(arch: Mapping[str, Any], path: str) -> _Arch:
    sizes = [int(arch["n_inputs"])] + [int(h) for h in arch["hidden"]] + [int(arch["n_classes"])]
    k = int(arch["kernel_size"])
    if k < 1:
        raise FormatError(f"{path}: arch field 'kernel_size' must be >= 1, got {k}")
    return _Arch(
        sizes=sizes,
        kernel_size=k,
        batchnorm=bool(arch["batchnorm"]),
        bn_eps=float(arch.get("bn_eps", 1e-5)),
        tau_steps=float(arch["tau_steps"]),
        readout_tau_steps=float(arch["readout_tau_steps"]),
        v_threshold=float(arch["v_threshold"]),
        v_reset=float(arch.get("v_reset", 0.0)),
        **_neuron_fields(arch, path),
    )


def _tau_syn(sd: Mapping[str, Any], i: int, a: _Arch, path: str) -> float | None:
    """Layer ``i``'s tau_syn in steps: learned (``state_dict['tau_syn']``, one per layer, used
    clamped to >= 1 as in training) or the arch's; None without a synaptic current."""
    if a.neuron != "cuba":
        return None
    if "tau_syn" not in sd:
        return a.tau_syn
    learned = to_numpy(sd["tau_syn"], "tau_syn").reshape(-1)
    if learned.shape != (len(a.sizes) - 1,):
        raise FormatError(f"{path}: state_dict['tau_syn'] has {learned.size} values, expected one per layer")
    return max(float(learned[i]), 1.0)


def _delaykit_layer(sd: Mapping[str, Any], i: int, a: _Arch, path: str) -> LayerParams:
    """Layer ``i`` of a delaykit checkpoint's state dict (the last one is the readout)."""
    n_layers = len(a.sizes) - 1
    last = i == n_layers - 1
    where = f"{path}: state_dict"
    key_w = f"layers.{i}.weight"
    if key_w not in sd:
        raise FormatError(f"{where} lacks '{key_w}' (layer {i} of {n_layers} per arch)")
    w = squeeze_weight(to_numpy(sd[key_w], f"{where}['{key_w}']"), f"{where}['{key_w}']")
    if w.shape != (a.sizes[i + 1], a.sizes[i]):
        raise FormatError(
            f"{where}['{key_w}'] has shape {w.shape[:2]} but arch says ({a.sizes[i + 1]}, {a.sizes[i]})"
        )
    key_p = f"layers.{i}.P"
    if key_p in sd:
        pos = squeeze_positions(to_numpy(sd[key_p], f"{where}['{key_p}']"), w.shape, f"{where}['{key_p}']")
    elif a.kernel_size == 1:
        pos = np.zeros_like(w)
    else:
        raise FormatError(f"{where} lacks '{key_p}' (delay positions of layer {i})")
    key_s, key_b = f"layers.{i}.SIG", f"layers.{i}.bias"
    return LayerParams(
        name="readout" if last else f"fc{i}",
        weight=w,
        positions=pos,
        sig=to_numpy(sd[key_s], key_s).reshape(-1) if key_s in sd else None,
        conv_bias=to_numpy(sd[key_b], key_b).reshape(-1) if key_b in sd else None,
        bn=read_batchnorm(sd, f"bn.{i}", w.shape[0], a.bn_eps, where) if a.batchnorm and not last else None,
        tau_steps=a.readout_tau_steps if last else a.tau_steps,
        v_threshold=None if last else a.v_threshold,
        v_reset=a.v_reset,
        tau_syn=_tau_syn(sd, i, a, path),
        reset="value" if last else a.reset,
        leak=a.leak,
    )


def _from_delaykit(ck: Mapping[str, Any], path: str, sha: str) -> Checkpoint:
    arch, sd = _checked_parts(ck, path)
    check_arch(arch, path)
    a = _arch_of(arch, path)
    layers = [_delaykit_layer(sd, i, a, path) for i in range(len(a.sizes) - 1)]
    dt = float(arch["dt"])
    group = int(arch.get("channel_group", 1) or 1)
    return Checkpoint(
        path=path,
        sha256=sha,
        kind="delaykit",
        dt=dt,
        kernel_size=a.kernel_size,
        layers=layers,
        arch=dict(arch),
        n_units=int(arch.get("n_units") or a.sizes[0] * group),
        channel_group=group,
        window_steps=int(arch.get("window_steps") or round(1.4 / dt)),
        readout=str(arch.get("readout", "softmax_sum")),
        metrics=dict(ck.get("metrics") or {}),
        class_names=[str(c) for c in (ck.get("class_names") or [])],
        config=dict(ck.get("config") or {}),
        versions=dict(ck.get("versions") or {}),
    )
