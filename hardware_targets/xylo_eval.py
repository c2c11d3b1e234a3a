"""Accuracy of a delay network on Xylo: delaykit's Xylo mode and SynSense's xylosim, sample by sample.

A contract network runs ``T + E`` steps on a ``T``-step input (``E`` = the layers'
``extend_steps``, the DCLS right padding). In Xylo mode (:func:`~delaykit.hardware_targets.
xylo_reference.run_xylo_mode`) the input gets ``E`` silent steps; on Xylo (the mapped spec,
:func:`~delaykit.hardware_targets.xylo_map.map_to_xylo`) ``E + latency`` silent steps, and the
readout's recordings are read from step ``latency`` on. The class is the network's readout rule
(``softmax_sum`` for trained models) on the readout membranes in real units (integer x the
readout layer's ``weight_scale``).

:func:`compare_runs` counts every hidden-layer event count, readout event and readout membrane
that differs between the two (after the per-layer time shift of the mapping).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_check import RUNNER, SETUP_HINT, find_xylo_python
from delaykit.hardware_targets.xylo_map import XyloMapping
from delaykit.hardware_targets.xylo_reference import XyloModeRecord, run_xylo_mode_batch
from delaykit.hardware_targets.xylo_spec import save_spec
from delaykit.network import Network
from delaykit.sim.readout import predict, readout_scores


def extra_steps(net: Network) -> int:
    """``E``: the silent steps a network runs after its input (sum of ``extend_steps``)."""
    return int(sum(layer.extend_steps for layer in net.layers))


def pad_input(counts: np.ndarray, steps: int) -> np.ndarray:
    """``counts`` [T, C] (whole event counts) followed by ``steps`` silent steps, as int64."""
    x = np.asarray(counts)
    return np.concatenate([x.astype(np.int64), np.zeros((steps, x.shape[1]), np.int64)])


def predict_membranes(net: Network, v_mem_out: np.ndarray) -> int:
    """The class the network's readout rule gives for integer readout membranes [T, classes]."""
    scale = np.asarray(net.layers[-1].weight_scale, np.float64)
    return predict(readout_scores(net.readout, np.asarray(v_mem_out, np.float64) * scale))


@dataclass(frozen=True)
class XyloModeRun:
    """Xylo mode on a data set: one record and prediction per sample."""

    records: list[XyloModeRecord]
    predictions: np.ndarray
    labels: np.ndarray

    @property
    def accuracy(self) -> float:
        """Percent of samples predicted right."""
        return float(100.0 * np.mean(self.predictions == self.labels)) if len(self.labels) else 0.0

    @property
    def risky(self) -> int:
        """(neuron, step) pairs where a partial sum could saturate (Xylo's order would matter)."""
        return int(sum(r.risky for r in self.records))


def run_xylo_mode_dataset(
    net: Network, samples: Iterable[tuple[np.ndarray, int]], *, batch: int = 64
) -> XyloModeRun:
    """Run ``net`` in Xylo mode on (frames [T, C] counts, label) pairs, ``batch`` samples of
    one length at a time (:func:`~delaykit.hardware_targets.xylo_reference.run_xylo_mode_batch`)."""
    e = extra_steps(net)
    records: list[XyloModeRecord] = []
    labels: list[int] = []
    todo: list[np.ndarray] = []

    def flush() -> None:
        if todo:
            records.extend(run_xylo_mode_batch(net, np.stack(todo)))
            todo.clear()

    for frames, label in samples:
        x = pad_input(frames, e)
        if todo and (len(todo) >= batch or x.shape != todo[0].shape):
            flush()
        todo.append(x)
        labels.append(int(label))
    flush()
    preds = np.array([predict_membranes(net, r.v_mem_out) for r in records], np.int64)
    return XyloModeRun(records, preds, np.array(labels, np.int64))


@dataclass(frozen=True)
class XylosimRun:
    """xylosim's recordings of a mapped network on many inputs (full Xylo time, per sample)."""

    spikes: np.ndarray  # [N, T', n_hid] hidden events (relays included)
    spikes_out: np.ndarray  # [N, T', n_out]
    v_mem_out: np.ndarray  # [N, T', n_out]


def run_xylosim_dataset(
    mapping: XyloMapping,
    net: Network,
    inputs: Sequence[np.ndarray],
    *,
    python: str | None = None,
    timeout: float = 3600.0,
) -> XylosimRun:
    """Run the mapped spec in xylosim (one subprocess, one layer, state reset per sample) on
    every input [T, C] (all of one length), padded with ``E + latency`` silent steps."""
    exe = find_xylo_python(python)
    if exe is None:
        raise DelaykitError(f"xylosim not found: {SETUP_HINT}")
    pad = extra_steps(net) + mapping.plan.latency
    x = (
        np.stack([pad_input(f, pad) for f in inputs])
        if len(inputs)
        else np.zeros((0, pad, mapping.spec.n_in))
    )
    with tempfile.TemporaryDirectory(prefix="delaykit-xylo-") as tmp:
        root = Path(tmp)
        save_spec(mapping.spec, root / "spec")
        np.savez(root / "in.npz", input_counts=x)
        cmd = [exe, str(RUNNER), "--batch", str(root / "spec"), str(root / "in.npz"), str(root / "out.npz")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise DelaykitError(f"xylosim run failed ({exe} {RUNNER.name}):\n{proc.stderr[-3000:]}")
        with np.load(root / "out.npz", allow_pickle=False) as z:
            return XylosimRun(
                spikes=z["spikes"].astype(np.int64),
                spikes_out=z["spikes_out"].astype(np.int64),
                v_mem_out=z["v_mem_out"].astype(np.int64),
            )


def xylosim_predictions(net: Network, mapping: XyloMapping, run: XylosimRun) -> np.ndarray:
    """The class of each xylosim run (readout membranes from step ``latency`` on)."""
    lat = mapping.plan.latency
    return np.array([predict_membranes(net, v[lat:]) for v in run.v_mem_out], np.int64)


@dataclass(frozen=True)
class Comparison:
    """Differences between Xylo mode and xylosim over a data set."""

    samples: int
    hidden_values: int  # hidden-layer (neuron, step) event counts compared
    hidden_events: int  # events in them (Xylo mode)
    hidden_mismatches: int
    readout_mismatches: int  # readout events and membranes that differ
    samples_differing: int


def compare_runs(mapping: XyloMapping, ref: Sequence[XyloModeRecord], run: XylosimRun) -> Comparison:
    """Every hidden-layer event count and readout event and membrane of Xylo mode vs xylosim."""
    lat, n_hid, n_ev, bad_h, bad_o, bad_s = mapping.plan.latency, 0, 0, 0, 0, 0
    for k, rec in enumerate(ref):
        steps, h, o = rec.spikes_out.shape[0], 0, 0
        for layer, idx in enumerate(mapping.layer_index):
            theirs = run.spikes[k, layer : layer + steps][:, idx]
            h += int(np.count_nonzero(theirs != rec.spikes[layer]))
            n_hid += rec.spikes[layer].size
            n_ev += int(rec.spikes[layer].sum())
        o += int(np.count_nonzero(run.spikes_out[k, lat : lat + steps] != rec.spikes_out))
        o += int(np.count_nonzero(run.v_mem_out[k, lat : lat + steps] != rec.v_mem_out))
        bad_h, bad_o, bad_s = bad_h + h, bad_o + o, bad_s + int(h + o > 0)
    return Comparison(len(ref), n_hid, n_ev, bad_h, bad_o, bad_s)


__all__ = [
    "Comparison",
    "XyloModeRun",
    "XylosimRun",
    "compare_runs",
    "extra_steps",
    "pad_input",
    "predict_membranes",
    "run_xylo_mode_dataset",
    "run_xylosim_dataset",
    "xylosim_predictions",
]
