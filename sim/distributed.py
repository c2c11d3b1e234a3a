"""Evaluation of a test set, or of a sweep of network variants, on a Dask cluster.

For test sets and sweeps (bit widths x delay ranges x targets) bigger than one machine, the
same per-sample simulation that :func:`delaykit.sim.evaluate` runs on local cores is spread
over a ``dask.distributed`` cluster: a ``LocalCluster`` started here (processes, one thread
each), or an existing scheduler given by address (``tcp://host:8786``) or ``Client``.
Optional extra: ``pip install "dask[distributed]"``.

* The network is scattered once to every worker; each task simulates a chunk of sample
  indices and returns per-sample rows (prediction, wall time, spikes and synaptic events per
  layer), exactly what the serial ``evaluate`` records, so the merged
  :class:`~delaykit.sim.result.EvalResult` has the same predictions and counts.
* Data: an :class:`~delaykit.data.shd.SHDFile` travels as its path and binning: each worker
  opens the file itself (on a multi-machine cluster the path must be readable by every
  worker, e.g. a shared file system). A list of ``(frames, label)`` pairs is scattered in
  chunks.
* Sweeps: :func:`sweep_distributed` takes ready :class:`SweepPoint` variants (network,
  arithmetic, engine); :func:`grid` builds them from a base network and a caller-supplied
  ``build(net, bits, max_delay, target)`` (e.g. convert's quantizer and delay fitting: sim
  never imports convert). All chunks of all points are queued at once.

Command line (an existing cluster, or a local one): :mod:`delaykit.sim.distributed_cli`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.data.shd import SHDFile
from delaykit.errors import DelaykitError
from delaykit.network import Network
from delaykit.progress import progress_bar

from .evaluate import ENGINES, Row, assemble_result, make_runner, sample_row
from .result import EvalResult


def _require_dask() -> Any:
    try:
        import distributed  # optional extra ("distributed")
    except ImportError:
        raise DelaykitError('distributed evaluation needs Dask: pip install "dask[distributed]"') from None
    return distributed


# ---- what travels to the workers ------------------------------------------------------------


@dataclass(frozen=True)
class _FileData:
    """An SHD-schema file by path and binning; opened lazily on each worker."""

    path: str
    spec: Any
    n_units: int | None


_WORKER_CACHE: dict[str, Any] = {}


def _worker_runner(key: str, net: Network, engine: str, arith: Arithmetic) -> Any:
    runner = _WORKER_CACHE.get(key)
    if runner is None:
        runner = make_runner(net, engine, arith)
        _WORKER_CACHE[key] = runner
    return runner


def _worker_file(data: _FileData) -> Any:
    key = f"file:{data.path}:{data.spec!r}:{data.n_units}"
    ds = _WORKER_CACHE.get(key)
    if ds is None:
        ds = SHDFile(data.path, data.spec, data.n_units)
        _WORKER_CACHE[key] = ds
    return ds


def _run_chunk(
    key: str, net: Network, engine: str, arith: Arithmetic, data: Any, indices: Sequence[int]
) -> list[Row]:
    """Worker task: simulate samples ``indices`` (a list chunk carries its own samples)."""
    runner = _worker_runner(key, net, engine, arith)
    if isinstance(data, _FileData):
        ds = _worker_file(data)
        samples: Iterator[tuple[int, Any]] = ((i, ds[i]) for i in indices)
    else:  # the chunk's own (frames, label) pairs, in the order of ``indices``
        samples = iter(zip(indices, data, strict=True))
    return [sample_row(runner, i, frames, label) for i, (frames, label) in samples]


# ---- client side ----------------------------------------------------------------------------


@contextlib.contextmanager
def _client(client: Any = None, scheduler: str | None = None, n_workers: int = 2) -> Iterator[Any]:
    """The given client, one connected to ``scheduler``, or a LocalCluster for the duration."""
    distributed = _require_dask()
    if client is not None:
        yield client
        return
    if scheduler:
        try:
            c = distributed.Client(scheduler, timeout=30)
        except OSError as e:
            raise DelaykitError(f"scheduler {scheduler}: cannot reach the Dask scheduler ({e})") from None
        with c:
            yield c
        return
    if int(n_workers) < 1:
        raise DelaykitError(f"workers: must be >= 1, got {n_workers}")
    cluster = distributed.LocalCluster(
        n_workers=int(n_workers), threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def _n_workers(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {})) or 1


def _dataset_parts(client: Any, dataset: Any, n: int, size: int) -> list[tuple[Any, list[int]]]:
    """(data handle, indices) per chunk: file descriptors, or scattered sample lists."""
    chunks = [list(range(a, min(n, a + size))) for a in range(0, n, size)]
    if isinstance(dataset, SHDFile):
        desc = _FileData(str(dataset.path), dataset.spec, getattr(dataset, "n_units", None))
        return [(desc, ch) for ch in chunks]
    parts = []
    for ch in chunks:
        samples = [(np.asarray(dataset[i][0]), int(dataset[i][1])) for i in ch]
        parts.append((client.scatter(samples), ch))
    return parts


@dataclass(frozen=True)
class SweepPoint:
    """One variant of a sweep: a network and how to simulate it.

    params: JSON-able description (e.g. ``{"bits": 8, "max_delay": 24, "target": "loihi2"}``).
    """

    name: str
    network: Network
    arithmetic: Arithmetic | None = None
    engine: str = "event"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepOutcome:
    """A sweep point's evaluation."""

    point: SweepPoint
    result: EvalResult

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "name": self.point.name,
            "params": self.point.params,
            "accuracy": r.accuracy,
            "arithmetic": r.arithmetic,
            "engine": r.engine,
            "n_samples": r.n_samples,
            "spikes_per_sample": r.spikes_per_layer.sum(axis=1).mean().item() if r.n_samples else 0.0,
            "events_per_sample": r.events_per_layer.sum(axis=1).mean().item() if r.n_samples else 0.0,
        }


def sweep_distributed(
    points: Sequence[SweepPoint],
    dataset: Any,
    *,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    chunk_size: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> list[SweepOutcome]:
    """Evaluate every point on ``dataset`` (SHDFile or sequence of (frames, label)) on Dask.

    client / scheduler: an existing ``distributed.Client`` or scheduler address; neither =
    a LocalCluster of ``n_workers`` processes for this call. chunk_size: samples per task
    (default: about 8 tasks per worker and point, at most 64). limit: first ``limit`` samples.
    Returns one :class:`SweepOutcome` per point, in the order given.
    """
    ariths = _prepare_points(points)
    n = _n_samples(dataset, limit)
    with _client(client, scheduler, n_workers) as c:
        workers = _n_workers(c)
        size = chunk_size or max(1, min(64, n // (workers * 8) or 1))
        t_start = time.perf_counter()
        futures = _submit(c, points, ariths, _dataset_parts(c, dataset, n, size))
        rows, walls = _gather(futures, len(points), t_start, progress, n, workers)
    return [
        SweepOutcome(p, assemble_result(p.network, r, p.engine, a, workers, w, dataset))
        for p, a, r, w in zip(points, ariths, rows, walls, strict=True)
    ]


def _n_samples(dataset: Any, limit: int | None) -> int:
    n = len(dataset) if limit is None else min(len(dataset), int(limit))
    if n < 1:
        raise DelaykitError("dataset: has no samples to evaluate")
    return n


def _prepare_points(points: Sequence[SweepPoint]) -> list[Arithmetic]:
    """Check the points here, not on a worker; their arithmetics (float64 where None)."""
    if not points:
        raise DelaykitError("sweep: no points to evaluate")
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise DelaykitError(f"sweep: point names must be unique, got {names}")
    ariths = []
    for p in points:
        if p.engine not in ENGINES:
            raise DelaykitError(f"sweep point {p.name!r}: engine must be one of {ENGINES}, got {p.engine!r}")
        arith = p.arithmetic or Arithmetic.float64()
        try:  # fail here, not on a worker, on parameters the arithmetic cannot hold
            make_runner(p.network, p.engine, arith)
        except ValueError as e:
            raise DelaykitError(f"sweep point {p.name!r}: {e}") from None
        ariths.append(arith)
    return ariths


def _submit(
    c: Any, points: Sequence[SweepPoint], ariths: list[Arithmetic], parts: list[tuple[Any, list[int]]]
) -> dict[Any, int]:
    """Queue every chunk of every point at once; future -> point index."""
    futures: dict[Any, int] = {}
    for k, (p, arith) in enumerate(zip(points, ariths, strict=True)):
        key = uuid.uuid4().hex
        net_f = c.scatter(p.network, broadcast=True)
        for data, idx in parts:
            fut = c.submit(_run_chunk, key, net_f, p.engine, arith, data, idx, pure=False)
            futures[fut] = k
    return futures


def _gather(
    futures: dict[Any, int], n_points: int, t_start: float, progress: bool, n: int, workers: int
) -> tuple[list[list[Row]], list[float]]:
    """Rows per point as chunks complete, and each point's wall time (s) since ``t_start``."""
    distributed = _require_dask()
    rows: list[list[Row]] = [[] for _ in range(n_points)]
    walls = [0.0] * n_points
    bar = None
    if progress:
        bar = progress_bar(total=n * n_points, unit="sample", desc=f"dask x{workers}", leave=False)
    try:
        for fut in distributed.as_completed(list(futures)):
            k = futures[fut]
            part = fut.result()
            rows[k].extend(part)
            walls[k] = time.perf_counter() - t_start
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
    return rows, walls


def evaluate_distributed(
    net: Network,
    dataset: Any,
    engine: str = "event",
    arithmetic: Arithmetic | None = None,
    *,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    chunk_size: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """:func:`delaykit.sim.evaluate` on a Dask cluster (see :func:`sweep_distributed`)."""
    point = SweepPoint("network", net, arithmetic, engine)
    return sweep_distributed(
        [point],
        dataset,
        client=client,
        scheduler=scheduler,
        n_workers=n_workers,
        chunk_size=chunk_size,
        limit=limit,
        progress=progress,
    )[0].result


def grid(
    net: Network,
    build: Callable[[Network, int | None, int | None, Any], tuple[Network, Arithmetic | None]],
    *,
    weight_bits: Sequence[int | None] = (None,),
    max_delays: Sequence[int | None] = (None,),
    targets: Sequence[Any] = (None,),
    engine: str = "event",
) -> list[SweepPoint]:
    """The sweep points of bit widths x delay ranges x targets.

    build(net, bits, max_delay, target) -> (network, arithmetic) makes one variant (bits None =
    float weights, max_delay None = delays as they are, target None = float64). It runs here,
    on the client; a variant it cannot build raises and names the point.
    """
    points = []
    for bits in weight_bits:
        for dmax in max_delays:
            for target in targets:
                tname = None if target is None else str(getattr(target, "name", target))
                dname = "all" if dmax is None else dmax
                name = f"bits={bits or 'float'},max_delay={dname},target={tname or 'float64'}"
                try:
                    variant, arith = build(net, bits, dmax, target)
                except (ValueError, DelaykitError) as e:
                    raise DelaykitError(f"sweep point {name}: {e}") from None
                points.append(
                    SweepPoint(
                        name, variant, arith, engine, {"bits": bits, "max_delay": dmax, "target": tname}
                    )
                )
    return points
