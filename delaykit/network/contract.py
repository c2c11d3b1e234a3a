"""The whole deployed network (:class:`Network`): layers chained, input, dt, readout rule.

See :mod:`delaykit.network` for the semantics and the "The deployed-network contract"
section of docs/design.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from delaykit.network import io as dkn_io
from delaykit.network.fields import field_error
from delaykit.network.layer import InputSpec, Layer
from delaykit.network.summary import network_summary
from delaykit.validate import MAX_SEQUENCE_STEPS, MAX_STATE_CELLS

#: How a class is predicted from the last layer's output sequence ``y[t, c]``.
#: ``softmax_sum``: argmax_c sum_t softmax(y[t])_c (the paper's 'sum' rule, needs the host);
#: ``membrane_sum``: argmax_c sum_t y[t, c]; ``membrane_max``: argmax_c max_t y[t, c];
#: ``spike_count``: argmax_c of the number of spikes (last layer must be LIF).
READOUT_RULES: tuple[str, ...] = ("softmax_sum", "membrane_sum", "membrane_max", "spike_count")


def _check_layers(layers: tuple[Any, ...]) -> None:
    """At least one :class:`Layer`, unique names."""
    if not layers:
        raise field_error("network", "layers", "must contain at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise field_error("network", f"layers[{i}]", f"must be a Layer, got {type(layer).__name__}")
    names = [lay.name for lay in layers]
    if len(set(names)) != len(names):
        raise field_error("network", "layers", f"layer names must be unique, got {names}")


def _check_dt(dt: Any) -> float:
    value = float(dt)
    if not (math.isfinite(value) and value > 0):
        raise field_error("network", "dt", f"must be a positive number of seconds, got {dt!r}")
    return value


def _check_chain(layers: tuple[Layer, ...], inp: Any) -> None:
    """Each layer reads what the one before outputs (the input spec for the first); relays and
    non-spiking neurons only where something can read them."""
    if not isinstance(inp, InputSpec):
        raise field_error("network", "input", "must be an InputSpec")
    if inp.n_inputs != layers[0].n_in:
        taps = f" + {inp.n_taps} input taps" if inp.n_taps else ""
        raise field_error(
            f"layer {layers[0].name!r}",
            "weight",
            f"has {layers[0].n_in} inputs but the input spec has {inp.n_channels} channels{taps}",
        )
    for prev, cur in zip(layers, layers[1:]):
        if cur.n_in != prev.n_outputs:
            relays = f" + {prev.n_relay} relays" if prev.n_relay else ""
            raise field_error(
                f"layer {cur.name!r}",
                "weight",
                f"has {cur.n_in} inputs but layer {prev.name!r} has {prev.n_out} neurons{relays}",
            )
    if layers[-1].n_relay:
        raise field_error(
            f"layer {layers[-1].name!r}",
            "relay_src",
            "the last layer cannot have relays: no layer reads them",
        )
    for layer in layers[:-1]:
        if not layer.neuron.spiking:
            raise field_error(f"layer {layer.name!r}", "neuron", "hidden layers must be spiking (LIF)")


def _check_readout(readout: str, last: Layer) -> None:
    if readout not in READOUT_RULES:
        raise field_error("network", "readout", f"must be one of {READOUT_RULES}, got {readout!r}")
    if readout == "spike_count" and not last.neuron.spiking:
        raise field_error("network", "readout", "'spike_count' needs a spiking (LIF) last layer")


def _check_work(layers: tuple[Layer, ...], inp: InputSpec) -> None:
    """Refuse a network whose run would exceed the sequence or state bounds (docs/design.md)."""
    steps, cells = inp.window_steps, 0
    for layer in layers:
        steps += layer.extend_steps
        cells += steps * layer.n_outputs
    if steps > MAX_SEQUENCE_STEPS:
        raise field_error(
            "network",
            "extend_steps",
            f"window + extensions = {steps} steps, above the limit of {MAX_SEQUENCE_STEPS}",
        )
    if cells > MAX_STATE_CELLS:
        raise field_error(
            "network",
            "layers",
            f"a run holds {cells:.3g} state cells (steps x neurons), above the limit of {MAX_STATE_CELLS:.3g}",
        )


def _check_json(name: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise field_error("network", name, f"must be JSON-serializable: {e}") from None


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
        _check_layers(layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "dt", _check_dt(self.dt))
        _check_chain(layers, self.input)
        _check_readout(self.readout, layers[-1])
        _check_work(layers, self.input)
        _check_json("provenance", self.provenance)
        _check_json("metadata", self.metadata)

    # -- shape helpers -------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        """Classes predicted: the last layer's main neurons."""
        return self.layers[-1].n_out

    @property
    def max_delay(self) -> int:
        """Largest synaptic delay in steps over all layers."""
        return max(layer.max_delay for layer in self.layers)

    def output_steps(self, input_steps: int | None = None) -> int:
        """Length in steps of the last layer's output sequence for ``input_steps`` frames."""
        t = self.input.window_steps if input_steps is None else int(input_steps)
        return t + sum(layer.extend_steps for layer in self.layers)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network to one HDF5 file, atomically."""
        dkn_io.save_network(self, path)

    @staticmethod
    def load(path: str | Path) -> Network:
        """Same as :func:`load_network`."""
        return load_network(path)

    def summary(self) -> dict[str, Any]:
        """Same as :func:`~delaykit.network.summary.network_summary`."""
        return network_summary(self)


def load_network(path: str | Path) -> Network:
    """Load a network saved by :func:`save_network`.

    Raises DelaykitError for a missing file and FormatError (a ValueError) for a file that
    is not a delaykit network, has an unknown format version, lacks a field or is truncated.
    """
    with dkn_io.reading(path) as (f, version):
        net = Network(**dkn_io.read_fields(f))
        dkn_io.check_version(net, version, Path(path))
    return net
