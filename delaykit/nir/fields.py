"""Reading the fields of NIR nodes: errors that name the node, per-neuron vectors, 1-D sizes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError

#: Relative tolerance for "equal" continuous parameters (uniform tau, tau_syn == dt, gain == 1).
#: 1e-6 accepts parameters that a tool stored as float32 (7 significant digits; snntorch,
#: norse and rockpool write float32) -- e.g. r = 1.005f over tau = 1.005e-4f s / 1e-4 s.
PARAM_RTOL = 1e-6


def node_error(node: str, why: str) -> DelaykitError:
    """The error for a node that cannot be imported exactly (names the node)."""
    return DelaykitError(f"NIR node {node!r}: {why}")


def vector(node_name: str, field_name: str, value: Any, n: int) -> np.ndarray:
    """A node field as ``n`` float64 values (a single value is broadcast); no NaN."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(n, float(arr.reshape(-1)[0]))
    arr = arr.reshape(-1)
    if arr.shape != (n,):
        raise node_error(node_name, f"field {field_name!r} has {arr.size} values, expected {n}")
    if np.isnan(arr).any():
        raise node_error(node_name, f"field {field_name!r} contains NaN")
    return arr


def uniform(node_name: str, field_name: str, values: np.ndarray, why: str) -> float:
    """The one value of a field that must be equal for every neuron (within PARAM_RTOL)."""
    v0 = float(values[0])
    if not np.allclose(values, v0, rtol=PARAM_RTOL, atol=0.0):
        raise node_error(
            node_name,
            f"field {field_name!r} differs between neurons ({float(values.min())} .. "
            f"{float(values.max())}); {why}",
        )
    return v0


def snap(x: float) -> float:
    """Undo float noise such as ``tau*dt/dt``: snap to a 12-significant-digit decimal."""
    if not math.isfinite(x) or x == 0:
        return x
    y = float(f"{x:.12g}")
    return y if abs(y - x) <= 1e-12 * abs(x) else x


def float32_decimal(x: float) -> float:
    """A time constant that a tool stored as float32 (snntorch, norse, rockpool write float32):
    the shortest decimal that rounds to the same float32 (``np.float32(2e-3)`` = 0.0020000000949
    -> 0.002), so that ``tau / dt`` is the whole number of steps the user wrote. Values that are
    not exactly a float32 (float64 exports, delaykit's own) are returned unchanged."""
    if not math.isfinite(x) or x == 0 or float(np.float32(x)) != x:
        return x
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def size_1d(shape: Any) -> int:
    """Number of elements of a NIR 1-D type; -1 for a shape with more than one non-trivial
    axis (the caller rejects it)."""
    dims = [int(s) for s in np.asarray(shape).reshape(-1)]
    big = [s for s in dims if s != 1]
    if len(big) > 1:
        return -1
    return big[0] if big else 1
