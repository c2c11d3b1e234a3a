"""Field checks shared by the contract's classes: one error shape, numeric coercions.

Every validation error of the contract reads ``<where>: field '<name>': <problem>`` (a
``ValueError``), so a message names the layer (or ``input``, ``network``) and the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def field_error(where: str, field_name: str, problem: str) -> ValueError:
    """The contract's validation error: ``<where>: field '<field_name>': <problem>``."""
    return ValueError(f"{where}: field '{field_name}': {problem}")


def scalar_or_vector(value: Any, n: int, where: str, name: str) -> float | np.ndarray:
    """Return a Python float or a float64 vector of length ``n``; reject anything else."""
    arr = np.asarray(value, dtype=np.float64) if not isinstance(value, np.ndarray) else value
    if arr.ndim == 0:
        v = float(arr)
        if not math.isfinite(v):
            raise field_error(where, name, f"must be a finite number, got {v}")
        return v
    if arr.shape != (n,):
        raise field_error(where, name, f"must be a scalar or have shape ({n},), got {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise field_error(where, name, f"contains {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
    return arr


def to_json_value(v: float | np.ndarray) -> float | list[float]:
    """A scalar or per-neuron vector as JSON (float or list of floats)."""
    return v.tolist() if isinstance(v, np.ndarray) else float(v)


def is_integer_valued(arr: np.ndarray) -> bool:
    """True for an integer array, or a float array whose values are all finite integers."""
    if arr.dtype.kind in "iu":
        return True
    return arr.dtype.kind == "f" and bool(np.isfinite(arr).all() and (arr == np.round(arr)).all())
