"""The deployed-network contract: a feedforward SNN with integer synaptic delays.

``convert/`` writes it, ``sim/`` and ``hardware_targets/`` read it. numpy + h5py only.

Semantics (all times in **steps** of ``Network.dt`` seconds unless a name says otherwise):

* Layer ``l`` receives the input sequence ``x[t]`` (spikes or counts, ``t = 0..L_in-1``) and
  computes ``I[t, j] = sum_i W[j, i] * x[t - D[j, i], i] + bias[j]`` for
  ``t = 0 .. L_in + extend_steps - 1`` (``x`` is zero outside ``[0, L_in)``).
  ``extend_steps`` reproduces the right padding of a DCLS layer: each trained layer lengthens
  the sequence by ``(K - 1) // 2`` steps.
* A :class:`LIF` neuron then runs, per step (spikingjelly ``LIFNode``, ``decay_input=False``):
  ``h = v + (v_reset - v) / tau + I``; ``s = h >= v_threshold``; ``v = v_reset if s else h``.
* Every membrane starts at ``v_reset`` before step 0 (spikingjelly's convention).
* A :class:`LI` neuron (non-spiking readout) runs ``v = v + (v_reset - v) / tau + I`` and
  outputs its membrane ``v`` at every step.
* The prediction is the readout rule applied to the last layer's output sequence.

Weights are float, or integer with a per-output-neuron ``weight_scale`` (real value =
integer x scale). In that case ``bias``, ``v_threshold`` and ``v_reset`` are in the same
integer units as the weights of their neuron.

Relay neurons and input taps (format version 2; a network using neither is written as
version 1, byte-compatible with older readers). They let a network whose synapses all have
delay 0 realize delays on chips without native delays:

* **Relays.** A spiking layer (not the last) may carry ``n_relay`` relay neurons after its
  ``n_out`` main neurons (``Layer.relay_src``). Its output sequence is then
  ``y = [s | r]`` with ``n_out + n_relay`` columns, and the next layer has that many inputs.
  Relay ``k`` outputs ``y[t, n_out + k] = y[t - 1, relay_src[k]]`` (``y[-1] = 0``): an exact
  copy, one step later, of a main neuron or of another relay (relays chain; every chain starts
  at a main neuron, no cycles). So relay ``k`` is the spike train of main neuron ``root_k``
  delayed by ``lag_k`` steps (:func:`relay_roots`). A relay has no membrane, bias or leak: in
  every arithmetic it is a copy (it never saturates). Main neurons emit nothing after their
  ``L_in + extend_steps`` steps, as without relays; relay columns are defined at every step,
  and the next layer reads them for its whole run (``t < L_out + extend_steps_next``), so the
  spikes of the last main steps still arrive ``lag`` steps later. ``L_in`` of the next layer is
  the main sequence length ``L_out``, as without relays.
* **Input taps.** ``InputSpec.taps`` lists ``(channel, lag >= 1)`` pairs. The input carries
  counts, which a relay cannot copy, so the host appends one column per tap to the frames:
  the first layer reads ``n_channels + n_taps`` inputs, column ``n_channels + k`` at step ``t``
  being ``frames[t - lag_k, channel_k]`` (0 outside ``[0, T)``), defined at every step of the
  first layer's run (:func:`apply_input_taps`). ``L_in`` of the first layer stays ``T``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

import numpy as np

from delaykit import __version__
from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import atomic_path

FORMAT_NAME = "delaykit.network"
#: Newest file version this module reads and writes. Version 2 adds relay neurons
#: (``Layer.relay_src``) and input taps (``InputSpec.taps``); files that use neither are
#: written as :data:`BASE_FORMAT_VERSION` so that version-1 readers keep reading them.
FORMAT_VERSION = 2
BASE_FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1, 2)

#: How a class is predicted from the last layer's output sequence ``y[t, c]``.
#: ``softmax_sum``: argmax_c sum_t softmax(y[t])_c (the paper's 'sum' rule, needs the host);
#: ``membrane_sum``: argmax_c sum_t y[t, c]; ``membrane_max``: argmax_c max_t y[t, c];
#: ``spike_count``: argmax_c of the number of spikes (last layer must be LIF).
READOUT_RULES: tuple[str, ...] = ("softmax_sum", "membrane_sum", "membrane_max", "spike_count")

_FLOAT_DTYPES = (np.float32, np.float64)
_INT_DTYPES = (np.int8, np.int16, np.int32, np.int64)


def _err(where: str, field_name: str, problem: str) -> ValueError:
    return ValueError(f"{where}: field '{field_name}': {problem}")


def _scalar_or_vector(value: Any, n: int, where: str, name: str) -> float | np.ndarray:
    """Return a Python float or a float64 vector of length ``n``; reject anything else."""
    arr = np.asarray(value, dtype=np.float64) if not isinstance(value, np.ndarray) else value
    if arr.ndim == 0:
        v = float(arr)
        if math.isnan(v):
            raise _err(where, name, "is NaN")
        return v
    if arr.shape != (n,):
        raise _err(where, name, f"must be a scalar or have shape ({n},), got {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    if np.isnan(arr).any():
        raise _err(where, name, "contains NaN")
    return arr


def _to_json_value(v: float | np.ndarray) -> float | list[float]:
    return v.tolist() if isinstance(v, np.ndarray) else float(v)


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire neuron with hard reset, per step (see module docstring).

    ``tau`` is in steps (seconds / dt) and must be >= 1 (the paper uses 1.005 for SHD).
    ``v_threshold`` and ``v_reset`` are scalars or per-neuron vectors.
    """

    tau: float
    v_threshold: float | np.ndarray = 1.0
    v_reset: float | np.ndarray = 0.0
    kind: ClassVar[str] = "lif"
    spiking: ClassVar[bool] = True

    def validate(self, n: int, where: str) -> LIF:
        tau = float(self.tau)
        if not math.isfinite(tau) or tau < 1.0:
            raise _err(where, "neuron.tau", f"must be a finite number of steps >= 1, got {self.tau}")
        th = _scalar_or_vector(self.v_threshold, n, where, "neuron.v_threshold")
        rs = _scalar_or_vector(self.v_reset, n, where, "neuron.v_reset")
        if np.any(np.asarray(th) <= np.asarray(rs)):
            raise _err(where, "neuron.v_threshold", "must be greater than v_reset for every neuron")
        return LIF(tau=tau, v_threshold=th, v_reset=rs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tau": float(self.tau),
            "v_threshold": _to_json_value(self.v_threshold),
            "v_reset": _to_json_value(self.v_reset),
        }


@dataclass(frozen=True)
class LI:
    """Non-spiking leaky integrator (the readout); outputs its membrane every step.

    ``tau`` is in steps (seconds / dt), >= 1.
    """

    tau: float
    v_reset: float | np.ndarray = 0.0
    kind: ClassVar[str] = "li"
    spiking: ClassVar[bool] = False

    def validate(self, n: int, where: str) -> LI:
        tau = float(self.tau)
        if not math.isfinite(tau) or tau < 1.0:
            raise _err(where, "neuron.tau", f"must be a finite number of steps >= 1, got {self.tau}")
        return LI(tau=tau, v_reset=_scalar_or_vector(self.v_reset, n, where, "neuron.v_reset"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tau": float(self.tau), "v_reset": _to_json_value(self.v_reset)}


Neuron = Union[LIF, LI]  # noqa: UP007 (a runtime alias; X | Y needs 3.10 at import)
NEURON_TYPES: dict[str, type] = {"lif": LIF, "li": LI}


def neuron_from_dict(d: Mapping[str, Any], where: str = "neuron") -> Neuron:
    """Build a neuron from its ``to_dict`` form; unknown kinds raise ValueError."""
    kind = d.get("kind")
    cls = NEURON_TYPES.get(str(kind))
    if cls is None:
        raise _err(where, "neuron.kind", f"unknown neuron kind {kind!r}; known: {sorted(NEURON_TYPES)}")
    kwargs = {
        k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v)
        for k, v in d.items()
        if k != "kind"
    }
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise _err(where, "neuron", f"bad parameters for {kind!r}: {e}") from None


def _validate_relay_src(value: Any, n_out: int, neuron: Any, where: str) -> np.ndarray:
    """``relay_src`` as an int64 vector, checked: in range, spiking layer, chains without cycles."""
    if value is None:
        return np.zeros(0, dtype=np.int64)
    src = np.asarray(value)
    if src.size == 0:
        return np.zeros(0, dtype=np.int64)
    if src.ndim != 1:
        raise _err(where, "relay_src", f"must be a 1-D (n_relay,) integer array, got shape {src.shape}")
    if src.dtype.kind not in "iu":
        raise _err(where, "relay_src", f"must hold integer indices, got dtype {src.dtype}")
    src = src.astype(np.int64)
    n_ext = n_out + src.size
    bad = np.flatnonzero((src < 0) | (src >= n_ext))
    if bad.size:
        k = int(bad[0])
        raise _err(
            where,
            "relay_src",
            f"relay {k} copies index {int(src[k])}, outside the layer's output "
            f"[0, {n_ext}) = {n_out} main neurons + {src.size} relays",
        )
    if not neuron.spiking:
        raise _err(where, "relay_src", "relays copy spikes; a non-spiking (LI) layer cannot have relays")
    _relay_roots(src, n_out, where)  # raises on a cycle
    return np.ascontiguousarray(src)


def _relay_roots(src: np.ndarray, n_out: int, where: str) -> tuple[np.ndarray, np.ndarray]:
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
        k = int(np.flatnonzero(rel)[0])
        what = (
            "copies itself"
            if src[k] == n_out + k
            else "is on a cycle of relays (or fed by one) and never reaches a main neuron"
        )
        raise _err(
            where,
            "relay_src",
            f"relay {k} (relay_src[{k}] = {int(src[k])}) {what}; every chain "
            f"must start at a main neuron (index < {n_out})",
        )
    return root, lag


def relay_roots(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """For every relay of ``layer``: the main neuron it copies and its lag in steps (>= 1).

    Relay ``k`` outputs ``s[t - lag[k], root[k]]``, ``s`` the layer's main spikes.
    """
    return _relay_roots(layer.relay_src, layer.n_out, f"layer {layer.name!r}")  # type: ignore[arg-type]


def _validate_taps(value: Any, n_channels: int) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    arr = np.asarray(value)
    if arr.size == 0:
        return ()
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise _err("input", "taps", f"must be (n_taps, 2) pairs of (channel, lag), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if not (arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise _err("input", "taps", f"must hold integers (channel, lag in steps), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    for k, (c, lag) in enumerate(arr.tolist()):
        if not 0 <= c < n_channels:
            raise _err("input", "taps", f"tap {k} reads channel {c}, outside [0, {n_channels})")
        if not 1 <= lag <= np.iinfo(np.int32).max:
            raise _err(
                "input",
                "taps",
                f"tap {k} has lag {lag}; a lag is steps >= 1 (lag 0 is the channel itself, already an input)",
            )
    return tuple((int(c), int(lag)) for c, lag in arr.tolist())


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


class RelayNotSupported(DelaykitError, ValueError):
    """A consumer (exporter, table writer) cannot represent relay neurons or input taps."""


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


def format_version(net: Network) -> int:
    """The file version ``net`` is written as: 2 if it uses relays or input taps, else 1."""
    if net.input.taps or any(layer.n_relay for layer in net.layers):
        return FORMAT_VERSION
    return BASE_FORMAT_VERSION


@dataclass(frozen=True)
class Layer:
    """One fully connected layer with per-synapse integer delays.

    weight: (out, in) float32/float64, or int8/16/32/64 with ``weight_scale``.
    delay: (out, in) integer delays in steps, >= 0 (stored as int32).
    bias: (out,) constant input current added every step (same units as the weights).
    weight_scale: None for float weights; (out,) positive floats for integer weights.
    extend_steps: steps this layer adds to the sequence length (DCLS right padding).
    relay_src: (n_relay,) int, relay neurons after the main ones (format v2, see the module
      docstring): relay ``k`` outputs ``y[t - 1, relay_src[k]]`` with ``y = [main | relays]``.
      None or empty: no relays (the next layer then has ``n_out`` inputs).
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
        where = f"layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise _err("layer", "name", "must be a non-empty string")
        w = self.weight
        if not isinstance(w, np.ndarray):
            raise _err(where, "weight", f"must be a numpy array, got {type(w).__name__}")
        if w.ndim != 2 or 0 in w.shape:
            raise _err(where, "weight", f"must be a non-empty 2-D (out, in) array, got shape {w.shape}")
        n_out, _n_in = w.shape
        if w.dtype.type in _FLOAT_DTYPES:
            if not np.isfinite(w).all():
                raise _err(where, "weight", "contains NaN or infinity")
            integer = False
        elif w.dtype.type in _INT_DTYPES:
            integer = True
        else:
            raise _err(where, "weight", f"dtype must be float32/64 or int8/16/32/64, got {w.dtype}")

        d = self.delay
        if not isinstance(d, np.ndarray):
            raise _err(where, "delay", f"must be a numpy array, got {type(d).__name__}")
        if d.shape != w.shape:
            raise _err(where, "delay", f"shape {d.shape} differs from weight shape {w.shape}")
        if d.dtype.kind not in "iu":
            if d.dtype.kind == "f" and np.isfinite(d).all() and (d == np.round(d)).all():
                pass  # integer-valued floats are accepted and converted
            else:
                raise _err(where, "delay", f"must hold integers (steps), got dtype {d.dtype}")
        if d.size and d.min() < 0:
            raise _err(where, "delay", f"negative delay {int(d.min())}; delays are steps >= 0")
        if d.size and d.max() > np.iinfo(np.int32).max:
            raise _err(where, "delay", "delay too large for int32")
        object.__setattr__(self, "delay", np.ascontiguousarray(d, dtype=np.int32))

        b = self.bias
        if b is None:
            b = np.zeros(n_out, dtype=w.dtype if integer else np.float64)
        b = np.asarray(b)
        if b.shape != (n_out,):
            raise _err(where, "bias", f"must have shape ({n_out},), got {b.shape}")
        if integer:
            if b.dtype.kind not in "iu":
                raise _err(where, "bias", "must be integer when the weights are integer")
            b = b.astype(np.int64)
        else:
            if b.dtype.kind not in "fiu":
                raise _err(where, "bias", f"must be numeric, got dtype {b.dtype}")
            b = b.astype(np.float64)
            if not np.isfinite(b).all():
                raise _err(where, "bias", "contains NaN or infinity")
        object.__setattr__(self, "bias", b)

        s = self.weight_scale
        if integer:
            if s is None:
                raise _err(where, "weight_scale", "is required for integer weights (real = int x scale)")
            s = np.asarray(s, dtype=np.float64)
            if s.ndim == 0:
                s = np.full(n_out, float(s))
            if s.shape != (n_out,):
                raise _err(where, "weight_scale", f"must be a scalar or have shape ({n_out},), got {s.shape}")
            if not (np.isfinite(s).all() and (s > 0).all()):
                raise _err(where, "weight_scale", "must be finite and > 0")
            object.__setattr__(self, "weight_scale", s)
        elif s is not None:
            raise _err(where, "weight_scale", "must be None for float weights")

        if not isinstance(self.neuron, (LIF, LI)):
            raise _err(where, "neuron", f"must be LIF or LI, got {type(self.neuron).__name__}")
        object.__setattr__(self, "neuron", self.neuron.validate(n_out, where))
        if not isinstance(self.extend_steps, (int, np.integer)) or self.extend_steps < 0:
            raise _err(where, "extend_steps", f"must be an integer >= 0, got {self.extend_steps!r}")
        object.__setattr__(self, "extend_steps", int(self.extend_steps))
        object.__setattr__(self, "relay_src", _validate_relay_src(self.relay_src, n_out, self.neuron, where))

    @property
    def n_in(self) -> int:
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
      first layer reads ``n_channels + len(taps)`` inputs (see the module docstring).
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
                raise _err("input", name, f"must be an integer >= 1, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.encoding not in ("counts", "binary"):
            raise _err("input", "encoding", f"must be 'counts' or 'binary', got {self.encoding!r}")
        if math.ceil(self.n_units / self.channel_group) != self.n_channels:
            raise _err(
                "input",
                "n_channels",
                f"{self.n_channels} != ceil(n_units {self.n_units} / channel_group {self.channel_group})",
            )
        object.__setattr__(self, "taps", _validate_taps(self.taps, self.n_channels))

    @property
    def n_taps(self) -> int:
        return len(self.taps)

    @property
    def n_inputs(self) -> int:
        """Inputs of the first layer: channels + taps."""
        return self.n_channels + len(self.taps)

    def to_dict(self) -> dict[str, Any]:
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


@dataclass(frozen=True)
class Network:
    """A validated feedforward SNN ready for deployment.

    dt: step length in seconds (0.01 for the paper's 10 ms frames).
    readout: one of :data:`READOUT_RULES`.
    provenance: JSON-able facts about where it came from (checkpoint sha256, options).
    metadata: JSON-able extras (class names, training metrics such as
    ``metrics["test_acc_rounded"]`` in percent).
    """

    layers: tuple[Layer, ...]
    dt: float
    input: InputSpec
    readout: str = "softmax_sum"
    provenance: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise _err("network", "layers", "must contain at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise _err("network", f"layers[{i}]", f"must be a Layer, got {type(layer).__name__}")
        object.__setattr__(self, "layers", layers)
        names = [lay.name for lay in layers]
        if len(set(names)) != len(names):
            raise _err("network", "layers", f"layer names must be unique, got {names}")
        dt = float(self.dt)
        if not (math.isfinite(dt) and dt > 0):
            raise _err("network", "dt", f"must be a positive number of seconds, got {self.dt!r}")
        object.__setattr__(self, "dt", dt)
        if not isinstance(self.input, InputSpec):
            raise _err("network", "input", "must be an InputSpec")
        if self.input.n_inputs != layers[0].n_in:
            taps = f" + {self.input.n_taps} input taps" if self.input.n_taps else ""
            raise _err(
                f"layer {layers[0].name!r}",
                "weight",
                f"has {layers[0].n_in} inputs but the input spec has {self.input.n_channels} channels{taps}",
            )
        for prev, cur in zip(layers, layers[1:]):
            if cur.n_in != prev.n_outputs:
                relays = f" + {prev.n_relay} relays" if prev.n_relay else ""
                raise _err(
                    f"layer {cur.name!r}",
                    "weight",
                    f"has {cur.n_in} inputs but layer {prev.name!r} has {prev.n_out} neurons{relays}",
                )
        if layers[-1].n_relay:
            raise _err(
                f"layer {layers[-1].name!r}",
                "relay_src",
                "the last layer cannot have relays: no layer reads them",
            )
        for layer in layers[:-1]:
            if not layer.neuron.spiking:
                raise _err(f"layer {layer.name!r}", "neuron", "hidden layers must be spiking (LIF)")
        if self.readout not in READOUT_RULES:
            raise _err("network", "readout", f"must be one of {READOUT_RULES}, got {self.readout!r}")
        if self.readout == "spike_count" and not layers[-1].neuron.spiking:
            raise _err("network", "readout", "'spike_count' needs a spiking (LIF) last layer")
        for name in ("provenance", "metadata"):
            value = getattr(self, name)
            try:
                json.dumps(value)
            except (TypeError, ValueError) as e:
                raise _err("network", name, f"must be JSON-serializable: {e}") from None

    # -- shape helpers -------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_out

    @property
    def max_delay(self) -> int:
        return max(layer.max_delay for layer in self.layers)

    def output_steps(self, input_steps: int | None = None) -> int:
        """Length in steps of the last layer's output sequence for ``input_steps`` frames."""
        t = self.input.window_steps if input_steps is None else int(input_steps)
        return t + sum(layer.extend_steps for layer in self.layers)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network to one HDF5 file, atomically."""
        save_network(self, path)

    @staticmethod
    def load(path: str | Path) -> Network:
        return load_network(path)

    def summary(self) -> dict[str, Any]:
        return network_summary(self)


# ---- HDF5 persistence ---------------------------------------------------------------------


def save_network(net: Network, path: str | Path) -> None:
    """Save ``net`` to ``path`` (HDF5). Writes a temporary file, then renames it."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = format_version(net)
            f.attrs["delaykit_version"] = __version__
            f.attrs["dt"] = net.dt
            f.attrs["readout"] = net.readout
            f.attrs["input"] = json.dumps(net.input.to_dict())
            f.attrs["provenance"] = json.dumps(net.provenance)
            f.attrs["metadata"] = json.dumps(net.metadata)
            f.attrs["n_layers"] = len(net.layers)
            g = f.create_group("layers")
            for i, layer in enumerate(net.layers):
                lg = g.create_group(f"{i:03d}")
                lg.attrs["name"] = layer.name
                lg.attrs["extend_steps"] = layer.extend_steps
                lg.attrs["neuron"] = json.dumps(layer.neuron.to_dict())
                lg.create_dataset("weight", data=layer.weight, compression="gzip")
                lg.create_dataset("delay", data=_compact_delay(layer.delay), compression="gzip")
                lg.create_dataset("bias", data=layer.bias)
                if layer.weight_scale is not None:
                    lg.create_dataset("weight_scale", data=layer.weight_scale)
                if layer.n_relay:  # version 2
                    lg.create_dataset("relay_src", data=layer.relay_src, compression="gzip")


def _compact_delay(d: np.ndarray) -> np.ndarray:
    m = int(d.max()) if d.size else 0
    for dt in (np.uint8, np.uint16):
        if m <= np.iinfo(dt).max:
            return d.astype(dt)
    return d.astype(np.int32)


def load_network(path: str | Path) -> Network:
    """Load a network saved by :func:`save_network`.

    Raises DelaykitError for a missing file and FormatError (a ValueError) for a file that
    is not a delaykit network, has an unknown format version, lacks a field or is truncated.
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise FormatError(
            f"{p}: not a readable HDF5 file ({e}); is it truncated, or not a delaykit network?"
        ) from None
    try:
        with f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode()
            if fmt != FORMAT_NAME:
                raise FormatError(
                    f"{p}: not a delaykit network file (attribute 'format' is {fmt!r}, "
                    f"expected {FORMAT_NAME!r}); convert a checkpoint with 'delaykit convert'"
                )
            version = int(f.attrs.get("format_version", -1))
            if version not in SUPPORTED_FORMAT_VERSIONS:
                raise FormatError(
                    f"{p}: network format_version {version} is not supported by delaykit "
                    f"{__version__} (supports {', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}); "
                    f"re-export the network or upgrade delaykit"
                )
            try:
                net = _read_network(f, p)
                if format_version(net) > version:
                    raise FormatError(
                        f"{p}: format_version {version} file holds relay neurons or input "
                        f"taps, which need version {format_version(net)}; the file is damaged"
                    )
                return net
            except KeyError as e:
                raise FormatError(f"{p}: missing field {e}; the file is incomplete") from None
            except (OSError, json.JSONDecodeError) as e:
                raise FormatError(f"{p}: unreadable content ({e}); the file may be truncated") from None
            except ValueError as e:
                if isinstance(e, FormatError):
                    raise
                raise FormatError(f"{p}: {e}") from None
    except OSError as e:  # h5py can fail while closing a damaged file
        raise FormatError(f"{p}: unreadable HDF5 file ({e})") from None


def _attr(obj: Any, key: str) -> Any:
    if key not in obj.attrs:
        raise KeyError(f"{obj.name}@{key}")
    v = obj.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def _read_network(f: Any, p: Path) -> Network:
    n_layers = int(_attr(f, "n_layers"))
    layers = []
    for i in range(n_layers):
        key = f"layers/{i:03d}"
        if key not in f:
            raise KeyError(key)
        lg = f[key]
        neuron = neuron_from_dict(json.loads(_attr(lg, "neuron")), where=f"layer {i}")
        scale = lg["weight_scale"][()] if "weight_scale" in lg else None
        layers.append(
            Layer(
                name=str(_attr(lg, "name")),
                weight=lg["weight"][()],
                delay=lg["delay"][()].astype(np.int32),
                bias=lg["bias"][()],
                neuron=neuron,
                weight_scale=scale,
                extend_steps=int(_attr(lg, "extend_steps")),
                relay_src=lg["relay_src"][()] if "relay_src" in lg else None,
            )
        )
    inp = json.loads(_attr(f, "input"))
    if "taps" in inp:
        inp["taps"] = np.asarray(inp["taps"], dtype=np.int64).reshape(-1, 2)
    return Network(
        layers=tuple(layers),
        dt=float(_attr(f, "dt")),
        input=InputSpec(**inp),
        readout=str(_attr(f, "readout")),
        provenance=json.loads(_attr(f, "provenance")),
        metadata=json.loads(_attr(f, "metadata")),
    )


# ---- summary -------------------------------------------------------------------------------


def network_summary(net: Network) -> dict[str, Any]:
    """Parameters, synapses, delay histograms and sparsity, as a JSON-able dict."""
    layers = []
    for layer in net.layers:
        nz = layer.weight != 0
        hist = (
            np.bincount(layer.delay[nz].ravel(), minlength=layer.max_delay + 1)
            if nz.any()
            else np.zeros(1, int)
        )
        layers.append(
            {
                "name": layer.name,
                "shape": [layer.n_out, layer.n_in],
                "neuron": layer.neuron.kind,
                "weight_dtype": str(layer.weight.dtype),
                "parameters": int(layer.weight.size * 2 + layer.n_out),
                "synapses": int(nz.sum()),
                "sparsity": float(1.0 - nz.mean()),
                "max_delay": layer.max_delay,
                "mean_delay": float(layer.delay[nz].mean()) if nz.any() else 0.0,
                "delay_histogram": hist.astype(int).tolist(),
                "extend_steps": layer.extend_steps,
                "relays": layer.n_relay,
                "relay_max_lag": int(relay_roots(layer)[1].max()) if layer.n_relay else 0,
            }
        )
    return {
        "format_version": format_version(net),
        "relay_neurons": sum(x["relays"] for x in layers),
        "input_taps": net.input.n_taps,
        "dt_s": net.dt,
        "input": net.input.to_dict(),
        "readout": net.readout,
        "n_classes": net.n_classes,
        "parameters": sum(x["parameters"] for x in layers),
        "synapses": sum(x["synapses"] for x in layers),
        "max_delay_steps": net.max_delay,
        "max_delay_ms": net.max_delay * net.dt * 1e3,
        "layers": layers,
        "provenance": net.provenance,
        "metadata": net.metadata,
    }


def format_summary(net: Network, path: str | None = None) -> str:
    """A human-readable summary (what ``delaykit info`` prints)."""
    s = network_summary(net)
    lines = []
    if path:
        lines.append(f"{path}: delaykit network v{s['format_version']}")
    inp = s["input"]
    lines.append(
        f"dt {s['dt_s'] * 1e3:g} ms, input {inp['n_units']} units / group {inp['channel_group']} "
        f"-> {inp['n_channels']} channels, window {inp['window_steps']} steps ({inp['encoding']}), "
        f"readout {s['readout']}, {s['n_classes']} classes"
    )
    lines.append(
        f"{s['parameters']:,} parameters, {s['synapses']:,} synapses, max delay "
        f"{s['max_delay_steps']} steps ({s['max_delay_ms']:g} ms)"
    )
    lines.append(
        f"{'layer':<12} {'shape':>11} {'neuron':>6} {'dtype':>8} {'synapses':>9} "
        f"{'sparsity':>8} {'delay max':>9} {'mean':>6}"
    )
    for x in s["layers"]:
        shape = f"{x['shape'][0]}x{x['shape'][1]}"
        lines.append(
            f"{x['name']:<12} {shape:>11} {x['neuron']:>6} {x['weight_dtype']:>8} {x['synapses']:>9,} "
            f"{x['sparsity']:>8.1%} {x['max_delay']:>9} {x['mean_delay']:>6.2f}"
        )
    if s["relay_neurons"] or s["input_taps"]:
        per = ", ".join(
            f"{x['name']} {x['relays']:,} (chains up to {x['relay_max_lag']} steps)"
            for x in s["layers"]
            if x["relays"]
        )
        lines.append(
            f"relay neurons: {s['relay_neurons']:,}"
            + (f" ({per})" if per else "")
            + f"; host input taps: {s['input_taps']:,}"
        )
    for x in s["layers"]:
        lines.append(f"delay histogram {x['name']} (steps 0..{len(x['delay_histogram']) - 1}):")
        lines.append("  " + _sparkline(x["delay_histogram"]))
    metrics = s["metadata"].get("metrics")
    if metrics:
        lines.append("training metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    return "\n".join(lines)


def _sparkline(values: Sequence[int]) -> str:
    bars = " ▁▂▃▄▅▆▇█"
    m = max(values) if values else 0
    if m == 0:
        return "(no synapses)"
    return "".join(bars[min(8, math.ceil(8 * v / m))] for v in values) + f"  (max {m} synapses)"
