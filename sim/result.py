"""Result records of ``simulate`` and ``evaluate``, and input checks shared by both engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.network import Network


@dataclass
class SimResult:
    """One sample's simulation.

    output: (T_out, n_out) float64, the last layer's membrane in real units (LI) or its 0/1
        spikes (LIF); ``T_out = net.output_steps(T) + n_layers * layer_latency_steps``.
    spikes: (T_l, n_l) uint8 spike rasters of every spiking layer, in layer order (main
        neurons only: relay neurons are delayed copies of them, see ``delaykit.network``).
    events: synaptic events delivered per layer (one per pair of a nonzero input bin or
        spike and a nonzero-weight synapse, whose arrival falls inside the layer's run).
    prediction: the network's readout rule applied to ``output[readout_offset:]``;
        ``UNDECIDED`` (-1) when every class scores the same (``delaykit.sim.readout``).
    scores: (n_out,) the readout's per-class scores.
    readout_offset: output steps skipped by the readout (the layers' latency, steps).
    input_events: nonzero input bins (the first layer's event sources).
    output_raw: for a non-spiking (LI) last layer, its membrane in the arithmetic's own units
        (int64 membrane units in fixed point: ``output = output_raw * weight_scale /
        2**weight_shift``; float32/float64 values in float modes); None for a spiking one.
    """

    output: np.ndarray
    spikes: list[np.ndarray]
    events: list[int]
    prediction: int
    scores: np.ndarray
    readout_offset: int = 0
    input_events: int = 0
    engine: str = ""
    arithmetic: str = ""
    output_raw: np.ndarray | None = None

    @property
    def spike_counts(self) -> list[int]:
        """Spikes emitted per spiking layer."""
        return [int(s.sum()) for s in self.spikes]


@dataclass
class EvalResult:
    """Simulation of a whole data set.

    accuracy: percent; an undecided sample (prediction -1: every class scored the same)
    counts as wrong. confusion: (C, C) int64, rows = true label, columns = prediction
    (undecided samples are not in it). undecided: how many samples had no prediction.
    per_sample_seconds: wall time of each sample's simulation (s, excluding data reading).
    spikes_per_layer: (S, n_spiking_layers) spikes per sample and spiking layer.
    events_per_layer: (S, n_layers) synaptic events per sample and layer.
    """

    accuracy: float
    confusion: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    per_sample_seconds: np.ndarray
    spikes_per_layer: np.ndarray
    events_per_layer: np.ndarray
    input_events: np.ndarray
    layer_names: list[str]
    spiking_layer_names: list[str]
    engine: str
    arithmetic: str
    readout: str
    workers: int
    wall_seconds: float
    class_names: list[str] = field(default_factory=list)
    undecided: int = 0

    @property
    def n_samples(self) -> int:
        return int(len(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (per-sample arrays included)."""

        def stats(a: np.ndarray) -> dict[str, float]:
            a = np.asarray(a, dtype=np.float64)
            if a.size == 0:
                return {"mean": 0.0, "median": 0.0, "max": 0.0}
            return {"mean": float(a.mean()), "median": float(np.median(a)), "max": float(a.max())}

        return {
            "accuracy": self.accuracy,
            "n_samples": self.n_samples,
            "undecided": self.undecided,
            "engine": self.engine,
            "arithmetic": self.arithmetic,
            "readout": self.readout,
            "workers": self.workers,
            "wall_seconds": self.wall_seconds,
            "class_names": self.class_names,
            "confusion": self.confusion.tolist(),
            "per_sample_seconds": stats(self.per_sample_seconds),
            "spikes_per_sample": {
                n: stats(self.spikes_per_layer[:, k]) for k, n in enumerate(self.spiking_layer_names)
            },
            "events_per_sample": {
                n: stats(self.events_per_layer[:, k]) for k, n in enumerate(self.layer_names)
            },
            "input_events_per_sample": stats(self.input_events),
            "samples": {
                "labels": self.labels.tolist(),
                "predictions": self.predictions.tolist(),
                "seconds": self.per_sample_seconds.tolist(),
                "spikes_per_layer": self.spikes_per_layer.tolist(),
                "events_per_layer": self.events_per_layer.tolist(),
            },
        }


#: The messages of the input checks both engines make (the event engine in its kernel).
NON_FINITE_FRAMES = "frames: contain NaN or infinity"


def non_integer_frames(arith: Arithmetic) -> str:
    """The message for frames that fixed-point arithmetic ``arith`` cannot take."""
    return f"frames: fixed-point arithmetic {arith.name!r} needs non-negative integer event counts"


def frames_array(net: Network, frames: Any) -> np.ndarray:
    """``frames`` as an array of shape (steps >= 1, n_channels) and a numeric dtype.

    With input taps (format v2) the frames hold the channels only; the simulator appends the taps.
    """
    x = np.asarray(frames)
    n_in = net.input.n_channels
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"frames: must have shape (steps, {n_in}) for this network, got {x.shape}")
    if x.shape[0] < 1:
        raise ValueError("frames: need at least one step")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"frames: must be numeric counts, got dtype {x.dtype}")
    return x


def check_frames(net: Network, frames: Any, arith: Arithmetic) -> np.ndarray:
    """Validate input frames (T, n_channels); return int64 counts (fixed point) or float64."""
    xf = frames_array(net, frames).astype(np.float64)
    if not np.isfinite(xf).all():
        raise ValueError(NON_FINITE_FRAMES)
    if arith.is_fixed:
        if (xf < 0).any() or (xf != np.round(xf)).any():
            raise ValueError(non_integer_frames(arith))
        return xf.astype(np.int64)
    return xf
