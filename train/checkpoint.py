"""Checkpoints: ``model.pt`` (the trained model) and ``resume.pt`` (everything to continue a run).

Both are ``torch.save`` of plain dicts of tensors, dicts, lists, str, int, float, bool and
None, loadable with ``torch.load(path, weights_only=True)``, and written atomically. The
``model.pt`` fields are described in ``docs/design.md`` ("File formats").
"""

from __future__ import annotations

import io
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from delaykit import __version__
from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import write_bytes_atomic
from delaykit.train.model import DelaySNN

CHECKPOINT_FORMAT = "delaykit.checkpoint"
CHECKPOINT_VERSION = 1
RESUME_FORMAT = "delaykit.resume"


def versions() -> dict[str, str]:
    """Versions of the packages that define the model's numerics."""
    out = {
        "delaykit": str(__version__),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }
    for name in ("dcls", "spikingjelly"):
        try:
            out[name] = str(version(name))
        except PackageNotFoundError:  # pragma: no cover - metadata missing in odd installs
            out[name] = "unknown"
    return out


def plain(obj: Any) -> Any:
    """Make ``obj`` weights_only-loadable: tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, int) else k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, str):
        return str(obj)  # str subclasses (torch's TorchVersion) are not weights_only-loadable
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    return obj


def save_torch_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary name, then rename (never a half-written file)."""
    buf = io.BytesIO()  # torch.save reports a full disk as a RuntimeError: write the bytes ourselves
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)


def load_checked(path: str | Path, fmt: str) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` and check the ``format`` field."""
    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FormatError(
            f"{p}: cannot be loaded with torch.load(weights_only=True): {str(e).splitlines()[0][:200]}"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise FormatError(f"{p}: field 'format' is {got!r}, expected {fmt!r}")
    return obj


def model_checkpoint(
    model: Any,
    cfg: dict[str, Any],
    metrics: dict[str, Any],
    class_names: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``model.pt`` dict for ``model`` (a DelaySNN, not wrapped in DDP)."""
    cfg_plain = {k: v for k, v in cfg.items()}
    ck = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "arch": plain(model.arch),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "config": plain(cfg_plain),
        "metrics": plain(metrics),
        "class_names": [str(c) for c in class_names],
        "versions": versions(),
    }
    if extra:
        ck.update(plain(extra))
    return ck


def load_model_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a ``model.pt`` (format and version)."""
    ck = load_checked(path, CHECKPOINT_FORMAT)
    if ck.get("format_version") != CHECKPOINT_VERSION:
        raise FormatError(
            f"{path}: field 'format_version' is {ck.get('format_version')!r}; this delaykit reads "
            f"{CHECKPOINT_VERSION}"
        )
    for key in ("arch", "state_dict"):
        if key not in ck:
            raise FormatError(f"{path}: missing field {key!r}")
    return ck


def model_from_checkpoint(path_or_ck: str | Path | dict[str, Any], **kwargs: Any) -> DelaySNN:
    """Rebuild the DelaySNN of a ``model.pt`` with its trained state (kwargs: DelaySNN options)."""
    ck = path_or_ck if isinstance(path_or_ck, dict) else load_model_checkpoint(path_or_ck)
    model = DelaySNN(ck["arch"], **kwargs)
    model.load_state_dict(ck["state_dict"], strict=True)
    return model
