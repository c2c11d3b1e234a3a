"""Small hand-built networks for the target-limit tests (integer weights unless asked)."""

from __future__ import annotations

import numpy as np

from delaykit.network import LI, LIF, InputSpec, Layer, Network


def int_layer(name: str, w, d=None, threshold: float = 10.0, readout: bool = False) -> Layer:
    """A layer with integer weights ``w`` (out x in) and delays ``d`` in steps (default 0)."""
    w = np.asarray(w, np.int64)
    n = w.shape[0]
    d = np.zeros(w.shape, np.int64) if d is None else np.asarray(d, np.int64)
    neuron = LI(tau=1.005) if readout else LIF(tau=1.005, v_threshold=np.full(n, float(threshold)))
    return Layer(
        name=name,
        weight=w,
        delay=d,
        weight_scale=np.ones(n),
        bias=np.zeros(n, np.int64),
        neuron=neuron,
    )


def net(*layers: Layer) -> Network:
    """A network of ``layers`` with one input channel per input of the first."""
    n_in = layers[0].n_in
    return Network(
        layers=tuple(layers),
        dt=0.01,
        input=InputSpec(n_channels=n_in, window_steps=10, n_units=n_in, channel_group=1),
    )


def limits(violations) -> set[str]:
    """The names of the broken limits."""
    return {v.limit for v in violations}


def one(violations, limit: str):
    """The single violation of ``limit``."""
    hits = [v for v in violations if v.limit == limit]
    assert len(hits) == 1, [str(v) for v in violations]
    return hits[0]
