"""Relay neurons and input taps (format version 2): validation, chains, the host's tap columns.

They let a network whose synapses all have delay 0 realize delays on chips without native
delays (the semantics are in :mod:`delaykit.network`). A network using neither is written as
version 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from delaykit.errors import RelayNotSupported
from delaykit.network.fields import field_error, is_integer_valued

if TYPE_CHECKING:
    from delaykit.network.contract import Network
    from delaykit.network.layer import Layer

_INT32_MAX = int(np.iinfo(np.int32).max)


def validate_relay_src(value: Any, n_out: int, spiking: bool, where: str) -> np.ndarray:
    """``relay_src`` as an int64 vector, checked: in range, spiking layer, chains without cycles."""
    if value is None:
        return np.zeros(0, dtype=np.int64)
    src = np.asarray(value)
    if src.size == 0:
        return np.zeros(0, dtype=np.int64)
    if src.ndim != 1:
        raise field_error(
            where, "relay_src", f"must be a 1-D (n_relay,) integer array, got shape {src.shape}"
        )
    if src.dtype.kind not in "iu":
        raise field_error(where, "relay_src", f"must hold integer indices, got dtype {src.dtype}")
    src = src.astype(np.int64)
    n_ext = n_out + src.size
    bad = np.flatnonzero((src < 0) | (src >= n_ext))
    if bad.size:
        k = int(bad[0])
        raise field_error(
            where,
            "relay_src",
            f"relay {k} copies index {int(src[k])}, outside the layer's output "
            f"[0, {n_ext}) = {n_out} main neurons + {src.size} relays",
        )
    if not spiking:
        raise field_error(
            where, "relay_src", "relays copy spikes; a non-spiking (LI) layer cannot have relays"
        )
    resolve_relay_chains(src, n_out, where)  # raises on a cycle
    return np.ascontiguousarray(src)


def resolve_relay_chains(src: np.ndarray, n_out: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Pointer doubling along the chains: (root main neuron, lag in steps) of every relay."""
    n = src.size
    root = src.astype(np.int64).copy()
    lag = np.ones(n, dtype=np.int64)
    for _ in range(max(1, int(n).bit_length()) + 1):  # 2**rounds > n hops: every chain resolved
        rel = root >= n_out
        if not rel.any():
            break
        k = root[rel] - n_out
        lag[rel] = lag[rel] + lag[k]
        root[rel] = root[k]
    rel = root >= n_out
    if rel.any():
        bad = int(np.flatnonzero(rel)[0])
        what = (
            "copies itself"
            if src[bad] == n_out + bad
            else "is on a cycle of relays (or fed by one) and never reaches a main neuron"
        )
        raise field_error(
            where,
            "relay_src",
            f"relay {bad} (relay_src[{bad}] = {int(src[bad])}) {what}; every chain "
            f"must start at a main neuron (index < {n_out})",
        )
    return root, lag


def relay_roots(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """For every relay of ``layer``: the main neuron it copies and its lag in steps (>= 1).

    Relay ``k`` outputs ``s[t - lag[k], root[k]]``, ``s`` the layer's main spikes.
    """
    return resolve_relay_chains(layer.relay_src, layer.n_out, f"layer {layer.name!r}")  # type: ignore[arg-type]


def validate_taps(value: Any, n_channels: int) -> tuple[tuple[int, int], ...]:
    """``InputSpec.taps`` as ``(channel, lag)`` int pairs: channel in range, lag in steps >= 1."""
    if value is None:
        return ()
    arr = np.asarray(value)
    if arr.size == 0:
        return ()
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise field_error(
            "input", "taps", f"must be (n_taps, 2) pairs of (channel, lag), got shape {arr.shape}"
        )
    if not is_integer_valued(arr):
        raise field_error(
            "input", "taps", f"must hold integers (channel, lag in steps), got dtype {arr.dtype}"
        )
    pairs = arr.astype(np.int64).tolist()
    for k, (c, lag) in enumerate(pairs):
        if not 0 <= c < n_channels:
            raise field_error("input", "taps", f"tap {k} reads channel {c}, outside [0, {n_channels})")
        if not 1 <= lag <= _INT32_MAX:
            raise field_error(
                "input",
                "taps",
                f"tap {k} has lag {lag}; a lag is steps >= 1 (lag 0 is the channel itself, already an input)",
            )
    return tuple((int(c), int(lag)) for c, lag in pairs)


def apply_input_taps(frames: np.ndarray, taps: Sequence[tuple[int, int]], steps: int) -> np.ndarray:
    """The first layer's input with taps: (steps, C + n_taps), frames (T, C) zero-padded to
    ``steps`` rows, then column ``C + k`` = ``frames[t - lag_k, channel_k]`` (0 outside [0, T))."""
    x = np.asarray(frames)
    if x.ndim != 2:
        raise ValueError(f"frames: must be a (steps, channels) array, got shape {x.shape}")
    T, C = x.shape
    out = np.zeros((steps, C + len(taps)), dtype=x.dtype)
    m = min(T, steps)
    out[:m, :C] = x[:m]
    for k, (c, lag) in enumerate(taps):
        n = max(0, min(T, steps - lag))
        out[lag : lag + n, C + k] = x[:n, c]
    return out


def uses_relays(net: Network) -> bool:
    """True if ``net`` has input taps or relay neurons (format version 2 features)."""
    return bool(net.input.taps) or any(layer.n_relay for layer in net.layers)


def require_no_relays(net: Network, consumer: str) -> None:
    """Raise :class:`RelayNotSupported` naming the layer if ``net`` uses relays or input taps
    (format v2), which ``consumer`` cannot represent."""
    if net.input.taps:
        raise RelayNotSupported(
            f"input: field 'taps': {consumer} cannot represent host-side input taps ({net.input.n_taps} "
            f"taps); export the original network (synaptic delays) instead of its relay realization"
        )
    for layer in net.layers:
        if layer.n_relay:
            raise RelayNotSupported(
                f"layer {layer.name!r}: field 'relay_src': {consumer} cannot represent relay neurons "
                f"({layer.n_relay} relays); export the original network (synaptic delays) instead of "
                f"its relay realization"
            )
