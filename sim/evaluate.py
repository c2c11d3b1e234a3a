"""``simulate`` one sample and ``evaluate`` a data set, in parallel across cores."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic, layer_constants
from delaykit.errors import FormatError
from delaykit.network import Network
from delaykit.progress import progress_bar

from .reference import simulate_reference
from .result import EvalResult, SimResult
from .samples import chunk_reader

ENGINES = ("event", "reference")

Runner = Callable[[np.ndarray], SimResult]
#: Row recorded per sample: (index, label, prediction, seconds, spikes per spiking layer,
#: events per layer, input events); workers of any kind return these.
Row = tuple[int, int, int, float, list[int], list[int], int]


def make_runner(net: Network, engine: str = "event", arithmetic: Arithmetic | None = None) -> Runner:
    """A function frames -> SimResult with the network prepared once (checks run now)."""
    arith = arithmetic or Arithmetic.float64()
    if engine == "event":
        from .event import EventNetwork  # lazy: numba's import (~0.5 s) stays off the CLI's start-up

        return EventNetwork(net, arith).run
    if engine == "reference":
        for layer in net.layers:  # fail early on parameters the arithmetic cannot hold
            layer_constants(layer, arith)
        return lambda frames: simulate_reference(net, frames, arith)
    raise ValueError(f"engine: must be one of {ENGINES}, got {engine!r}")


def simulate(
    net: Network, frames: np.ndarray, engine: str = "event", arithmetic: Arithmetic | None = None
) -> SimResult:
    """Simulate one sample: frames (T, n_in) counts per step, T any length >= 1.

    engine: 'event' (fast) or 'reference' (the numpy oracle); arithmetic: float64 (default),
    float32 or a target's fixed point (:meth:`Arithmetic.for_target`). The event engine keeps
    what it builds per network (:mod:`delaykit.sim.event_cache`: the network's arrays become
    read-only), so calling this once per sample costs what a :func:`make_runner` runner does.
    """
    if engine == "event":
        from .event_cache import prepared  # lazy: numba stays off the CLI start-up, as in make_runner

        return prepared(net, arithmetic).run(frames)
    return make_runner(net, engine, arithmetic)(frames)


# ---- data-set evaluation ------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init_worker(net: Network | None, engine: str, arith: Arithmetic, dataset: Any) -> None:
    """Pool initializer: fork inherits the prepared runner, spawn rebuilds it; every worker
    opens its own reader (an h5py handle must not be shared across processes)."""
    if net is not None:
        _STATE["runner"] = make_runner(net, engine, arith)
    _STATE["reader"] = chunk_reader(dataset)


def sample_row(runner: Runner, index: int, frames: np.ndarray, label: int) -> Row:
    """Simulate one sample and record its :data:`Row` (seconds: the simulation's wall time)."""
    t0 = time.perf_counter()
    res = runner(frames)
    seconds = time.perf_counter() - t0
    return (
        int(index),
        int(label),
        int(res.prediction),
        seconds,
        list(res.spike_counts),
        [int(e) for e in res.events],
        int(res.input_events),
    )


def _run_chunk(indices: Sequence[int]) -> list[Row]:
    runner: Runner = _STATE["runner"]
    samples = zip(indices, _STATE["reader"].read(indices), strict=True)
    return [sample_row(runner, i, frames, label) for i, (frames, label) in samples]


def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(a, min(n, a + size))) for a in range(0, n, size)]


def _progress_bar(progress: bool, n: int, desc: str) -> Any:
    if not progress:
        return None
    return progress_bar(total=n, unit="sample", desc=desc, leave=False)


def _run_serial(chunks: list[list[int]], engine: str, arith: Arithmetic, dataset: Any, bar: Any) -> list[Row]:
    """Every chunk in this process (the runner is already in ``_STATE``)."""
    _init_worker(None, engine, arith, dataset)
    rows: list[Row] = []
    for ch in chunks:
        rows.extend(_run_chunk(ch))
        if bar is not None:
            bar.update(len(ch))
    return rows


def _run_pool(
    chunks: list[list[int]],
    net: Network,
    engine: str,
    arith: Arithmetic,
    dataset: Any,
    workers: int,
    method: str,
    bar: Any,
) -> list[Row]:
    """The chunks across ``workers`` processes started with ``method``."""
    if method == "fork":  # workers inherit the prepared network and compiled kernels
        pool = mp.get_context("fork").Pool(workers, _init_worker, (None, engine, arith, dataset))
    else:
        pool = mp.get_context(method).Pool(workers, _init_worker, (net, engine, arith, dataset))
    rows: list[Row] = []
    with pool:
        for part in pool.imap_unordered(_run_chunk, chunks):
            rows.extend(part)
            if bar is not None:
                bar.update(len(part))
    return rows


def evaluate(
    net: Network,
    dataset: Any,
    engine: str = "event",
    arithmetic: Arithmetic | None = None,
    workers: int | None = 1,
    progress: bool = True,
    limit: int | None = None,
    chunk_size: int | None = None,
    start_method: str | None = None,
) -> EvalResult:
    """Simulate every sample of ``dataset`` and score the predictions.

    dataset: an SHDFile (binned as the network expects) or a sequence of (frames, label).
    workers: processes (None = all cores); samples are split in chunks across them.
    limit: only the first ``limit`` samples. Returns an :class:`EvalResult`.
    start_method: multiprocessing start method; default 'fork' where available (workers
    inherit the prepared network and compiled kernels), else 'spawn'.
    """
    arith = arithmetic or Arithmetic.float64()
    n = len(dataset) if limit is None else min(len(dataset), int(limit))
    if n < 1:
        raise ValueError("dataset: has no samples to evaluate")
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    workers = min(workers, n)
    runner = make_runner(net, engine, arith)  # validates in the parent, compiles the kernels
    t_start = time.perf_counter()
    _STATE.clear()
    _STATE["runner"] = runner
    frames0, _ = dataset[0]
    runner(frames0)  # warm-up: numba compiles (or loads its cache) once, before any fork
    size = chunk_size or max(1, min(64, n // (workers * 8) or 1))
    chunks = _chunks(n, size)
    bar = _progress_bar(progress, n, "simulate" if workers == 1 else f"simulate x{workers}")
    try:
        if workers == 1:
            rows = _run_serial(chunks, engine, arith, dataset, bar)
        else:
            method = start_method or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            rows = _run_pool(chunks, net, engine, arith, dataset, workers, method, bar)
    finally:
        if bar is not None:
            bar.close()
        if "reader" in _STATE:
            _STATE["reader"].close()
        _STATE.clear()
    wall = time.perf_counter() - t_start
    return assemble_result(net, rows, engine, arith, workers, wall, dataset)


def assemble_result(
    net: Network,
    rows: list[Row],
    engine: str,
    arith: Arithmetic,
    workers: int,
    wall: float,
    dataset: Any,
) -> EvalResult:
    """Per-sample rows ``(index, label, prediction, seconds, spikes, events, input_events)``
    from any number of workers -> the EvalResult (sorted by sample index)."""
    rows = sorted(rows, key=lambda r: r[0])
    n = len(rows)
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    preds = np.array([r[2] for r in rows], dtype=np.int64)
    n_classes = net.n_classes
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise FormatError(
            f"dataset: labels span {labels.min()}..{labels.max()} but the network has "
            f"{n_classes} classes; is it the right data file for this network?"
        )
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    decided = preds >= 0  # UNDECIDED (-1): every class scored the same; counted as wrong
    np.add.at(confusion, (labels[decided], preds[decided]), 1)
    spiking = [layer.name for layer in net.layers if layer.neuron.spiking]
    class_names = list(net.metadata.get("class_names", [])) if isinstance(net.metadata, dict) else []
    if not class_names and hasattr(dataset, "class_names"):
        class_names = list(dataset.class_names())
    return EvalResult(
        accuracy=float(100.0 * (preds == labels).mean()),
        confusion=confusion,
        predictions=preds,
        labels=labels,
        per_sample_seconds=np.array([r[3] for r in rows], dtype=np.float64),
        spikes_per_layer=np.array([r[4] for r in rows], dtype=np.int64).reshape(n, len(spiking)),
        events_per_layer=np.array([r[5] for r in rows], dtype=np.int64).reshape(n, len(net.layers)),
        input_events=np.array([r[6] for r in rows], dtype=np.int64),
        layer_names=[layer.name for layer in net.layers],
        spiking_layer_names=spiking,
        engine=engine,
        arithmetic=arith.name,
        readout=net.readout,
        workers=workers,
        wall_seconds=wall,
        class_names=class_names,
        undecided=int((~decided).sum()),
    )
