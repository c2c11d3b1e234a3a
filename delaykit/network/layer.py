"""One layer of the contract (:class:`Layer`) and the input description (:class:`InputSpec`).

Each class checks its fields on construction, in named steps, and stores them normalized
(delays int32, biases int64 or float64, per-neuron vectors float64). A bad field raises
``ValueError("<where>: field '<name>': <problem>")``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from delaykit.network.fields import field_error, is_integer_valued
from delaykit.network.neurons import Neuron, validate_neuron
from delaykit.network.relays import validate_relay_src, validate_taps
from delaykit.validate import MAX_DELAY_STEPS, MAX_SEQUENCE_STEPS

_FLOAT_DTYPES = (np.float32, np.float64)
_INT_DTYPES = (np.int8, np.int16, np.int32, np.int64)
_INT32_MAX = int(np.iinfo(np.int32).max)


def _check_weight(w: Any, where: str) -> bool:
    """Check the (out, in) weight matrix; return True for integer weights, False for float."""
    if not isinstance(w, np.ndarray):
        raise field_error(where, "weight", f"must be a numpy array, got {type(w).__name__}")
    if w.ndim != 2 or 0 in w.shape:
        raise field_error(where, "weight", f"must be a non-empty 2-D (out, in) array, got shape {w.shape}")
    if w.dtype.type in _FLOAT_DTYPES:
        if not np.isfinite(w).all():
            raise field_error(where, "weight", "contains NaN or infinity")
        return False
    if w.dtype.type in _INT_DTYPES:
        return True
    raise field_error(where, "weight", f"dtype must be float32/64 or int8/16/32/64, got {w.dtype}")


def _check_delay(d: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Delays in steps (>= 0, integer-valued, the weight's shape) as a contiguous int32 matrix."""
    if not isinstance(d, np.ndarray):
        raise field_error(where, "delay", f"must be a numpy array, got {type(d).__name__}")
    if d.shape != shape:
        raise field_error(where, "delay", f"shape {d.shape} differs from weight shape {shape}")
    if d.dtype.kind == "f" and not np.isfinite(d).all():
        raise field_error(
            where,
            "delay",
            f"{int((~np.isfinite(d)).sum())} NaN or infinite delay(s); delays are whole steps >= 0",
        )
    if not is_integer_valued(d):  # integer-valued floats are accepted and converted
        bad = d[d != np.round(d)] if d.dtype.kind == "f" else d
        detail = (
            f"value {bad.flat[0]!r} is not a whole number" if d.dtype.kind == "f" else f"got dtype {d.dtype}"
        )
        raise field_error(where, "delay", f"must hold integers (steps): {detail}")
    if d.size and d.min() < 0:
        raise field_error(where, "delay", f"negative delay {d.min().item()!r}; delays are steps >= 0")
    if d.size and d.max() > MAX_DELAY_STEPS:
        raise field_error(
            where,
            "delay",
            f"delay {d.max().item()!r} steps is above the limit of {MAX_DELAY_STEPS} steps "
            f"(docs/design.md, 'Input limits'); is dt right?",
        )
    return np.ascontiguousarray(d, dtype=np.int32)


def _check_bias(b: Any, n_out: int, weight_dtype: np.dtype, integer: bool, where: str) -> np.ndarray:
    """Per-step bias (n_out,): int64 for integer weights, finite float64 otherwise; None = zeros."""
    if b is None:
        b = np.zeros(n_out, dtype=weight_dtype if integer else np.float64)
    b = np.asarray(b)
    if b.shape != (n_out,):
        raise field_error(where, "bias", f"must have shape ({n_out},), got {b.shape}")
    if integer:
        if b.dtype.kind not in "iu":
            raise field_error(where, "bias", "must be integer when the weights are integer")
        return b.astype(np.int64)
    if b.dtype.kind not in "fiu":
        raise field_error(where, "bias", f"must be numeric, got dtype {b.dtype}")
    b = b.astype(np.float64)
    if not np.isfinite(b).all():
        raise field_error(where, "bias", "contains NaN or infinity")
    return b


def _check_weight_scale(s: Any, n_out: int, integer: bool, where: str) -> np.ndarray | None:
    """Per-neuron scale (n_out,) float64 > 0 for integer weights (a scalar is broadcast); None for float."""
    if not integer:
        if s is not None:
            raise field_error(where, "weight_scale", "must be None for float weights")
        return None
    if s is None:
        raise field_error(where, "weight_scale", "is required for integer weights (real = int x scale)")
    s = np.asarray(s, dtype=np.float64)
    if s.ndim == 0:
        s = np.full(n_out, float(s))
    if s.shape != (n_out,):
        raise field_error(where, "weight_scale", f"must be a scalar or have shape ({n_out},), got {s.shape}")
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise field_error(where, "weight_scale", "must be finite and > 0")
    return s


def _check_extend_steps(value: Any, where: str) -> int:
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise field_error(where, "extend_steps", f"must be an integer >= 0, got {value!r}")
    if value > MAX_SEQUENCE_STEPS:
        raise field_error(
            where,
            "extend_steps",
            f"{value} is above the limit of {MAX_SEQUENCE_STEPS} steps (docs/design.md, 'Input limits')",
        )
    return int(value)


@dataclass(frozen=True)
class Layer:
    """One fully connected layer with per-synapse integer delays.

    weight: (out, in) float32/float64, or int8/16/32/64 with ``weight_scale``.
    delay: (out, in) integer delays in steps, >= 0 (stored as int32).
    bias: (out,) constant input current added every step (same units as the weights).
    weight_scale: None for float weights; (out,) positive floats for integer weights.
    extend_steps: steps this layer adds to the sequence length (DCLS right padding).
    relay_src: (n_relay,) int, relay neurons after the main ones (format v2, see
      :mod:`delaykit.network`): relay ``k`` outputs ``y[t - 1, relay_src[k]]`` with
      ``y = [main | relays]``. None or empty: no relays (the next layer then has ``n_out`` inputs).
    """

    name: str
    weight: np.ndarray
    delay: np.ndarray
    neuron: Neuron
    bias: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    extend_steps: int = 0
    relay_src: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise field_error("layer", "name", "must be a non-empty string")
        where = f"layer {self.name!r}"
        integer = _check_weight(self.weight, where)
        n_out = self.weight.shape[0]
        self._set("delay", _check_delay(self.delay, self.weight.shape, where))
        self._set("bias", _check_bias(self.bias, n_out, self.weight.dtype, integer, where))
        self._set("weight_scale", _check_weight_scale(self.weight_scale, n_out, integer, where))
        self._set("neuron", validate_neuron(self.neuron, n_out, where))
        self._set("extend_steps", _check_extend_steps(self.extend_steps, where))
        self._set("relay_src", validate_relay_src(self.relay_src, n_out, self.neuron.spiking, where))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def n_in(self) -> int:
        """Inputs (columns of the weight matrix), relays and taps of the layer before included."""
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        """Main neurons (relays not included)."""
        return int(self.weight.shape[0])

    @property
    def n_relay(self) -> int:
        """Relay neurons (0 without relays)."""
        return int(self.relay_src.size)  # type: ignore[union-attr]

    @property
    def n_outputs(self) -> int:
        """Columns of this layer's output sequence, i.e. inputs of the next layer: main + relays."""
        return self.n_out + self.n_relay

    @property
    def is_integer(self) -> bool:
        """True for integer weights (with ``weight_scale``)."""
        return self.weight.dtype.kind in "iu"

    @property
    def max_delay(self) -> int:
        """Largest delay in steps among synapses with a non-zero weight (0 if none)."""
        nz = self.weight != 0
        return int(self.delay[nz].max()) if nz.any() else 0

    def real_weight(self) -> np.ndarray:
        """Weights as float64 in real units (integer x scale for quantized layers)."""
        if self.weight_scale is None:
            return self.weight.astype(np.float64)
        return self.weight.astype(np.float64) * self.weight_scale[:, None]


@dataclass(frozen=True)
class InputSpec:
    """How raw events become the network's input frames.

    n_channels: input channels after grouping (= in-features of the first layer).
    n_units: raw input units (700 cochlear channels for SHD/SSC).
    channel_group: raw units summed per channel (5 for SHD: 700 -> 140).
    window_steps: fixed number of input frames per sample (frames = steps of dt).
    encoding: 'counts' (events per frame, as in the paper) or 'binary'.
    taps: host-side input taps (format v2): ``(channel, lag)`` pairs, lag in steps >= 1; the
      first layer reads ``n_channels + len(taps)`` inputs (see :mod:`delaykit.network`).
    """

    n_channels: int
    window_steps: int
    n_units: int = 700
    channel_group: int = 5
    encoding: str = "counts"
    taps: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("n_channels", "window_steps", "n_units", "channel_group"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise field_error("input", name, f"must be an integer >= 1, got {v!r}")
            if name == "window_steps" and v > MAX_SEQUENCE_STEPS:
                raise field_error(
                    "input",
                    name,
                    f"{v} is above the limit of {MAX_SEQUENCE_STEPS} steps (docs/design.md, 'Input limits')",
                )
            object.__setattr__(self, name, int(v))
        if self.encoding not in ("counts", "binary"):
            raise field_error("input", "encoding", f"must be 'counts' or 'binary', got {self.encoding!r}")
        if math.ceil(self.n_units / self.channel_group) != self.n_channels:
            raise field_error(
                "input",
                "n_channels",
                f"{self.n_channels} != ceil(n_units {self.n_units} / channel_group {self.channel_group})",
            )
        object.__setattr__(self, "taps", validate_taps(self.taps, self.n_channels))

    @property
    def n_taps(self) -> int:
        """Host-side input taps (0 without taps)."""
        return len(self.taps)

    @property
    def n_inputs(self) -> int:
        """Inputs of the first layer: channels + taps."""
        return self.n_channels + len(self.taps)

    def to_dict(self) -> dict[str, Any]:
        """JSON form as stored in ``.dkn`` files (``taps`` only when there are some)."""
        d: dict[str, Any] = {
            "n_channels": self.n_channels,
            "window_steps": self.window_steps,
            "n_units": self.n_units,
            "channel_group": self.channel_group,
            "encoding": self.encoding,
        }
        if self.taps:  # only in version-2 files
            d["taps"] = [list(t) for t in self.taps]
        return d
