"""Distributed evaluation (sim/distributed.py) on a local Dask cluster of 2 worker processes:
the same predictions, spike and event counts as the serial ``evaluate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.data.shd import BinSpec, SHDFile
from delaykit.data.synth import write_delay_task_pair
from delaykit.errors import DelaykitError
from delaykit.hardware_targets import load_target
from delaykit.sim import Arithmetic, evaluate

distributed = pytest.importorskip("distributed", reason="optional extra: pip install 'dask[distributed]'")

from delaykit.sim.distributed import (  # noqa: E402
    SweepPoint,
    evaluate_distributed,
    grid,
    sweep_distributed,
)


@pytest.fixture(scope="module")
def client():
    """One LocalCluster (2 processes, 1 thread each) for the module: startup costs seconds."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def assert_same(a, b) -> None:
    assert a.n_samples == b.n_samples
    assert np.array_equal(a.predictions, b.predictions)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.confusion, b.confusion)
    assert np.array_equal(a.spikes_per_layer, b.spikes_per_layer)
    assert np.array_equal(a.events_per_layer, b.events_per_layer)
    assert np.array_equal(a.input_events, b.input_events)
    assert a.accuracy == b.accuracy
    assert a.layer_names == b.layer_names and a.arithmetic == b.arithmetic


def test_list_dataset_matches_serial_evaluate(client):
    rng = np.random.default_rng(7)
    net = random_network(
        rng, (16, 12, 5), max_delay=10, density=0.8, readout="membrane_max", weight_scale=2.0
    )
    data = [(random_frames(rng, 25, 16), int(rng.integers(0, 5))) for _ in range(23)]
    serial = evaluate(net, data, engine="event", workers=1, progress=False)
    dist = evaluate_distributed(net, data, engine="event", client=client, chunk_size=4, progress=False)
    assert dist.workers == 2
    assert_same(serial, dist)
    assert len(set(serial.predictions.tolist())) > 1, "a constant prediction would prove little"


def test_shd_file_matches_serial_evaluate(client, tmp_path: Path):
    write_delay_task_pair(tmp_path, n_train=4, n_test=30, seed=3)
    data = SHDFile(tmp_path / "delay_test.h5", BinSpec(dt=0.01, channel_group=5))
    rng = np.random.default_rng(11)
    net = random_network(
        rng,
        (140, 32, 10),
        max_delay=14,
        density=0.5,
        integer_bits=8,
        window_steps=data.window_steps,
        extend_steps=7,
    )
    arith = Arithmetic.fixed(weight_bits=8, membrane_bits=24, decay="shift", layer_latency_steps=1)
    serial = evaluate(net, data, engine="reference", arithmetic=arith, workers=1, progress=False)
    dist = evaluate_distributed(
        net, data, engine="reference", arithmetic=arith, client=client, chunk_size=7, progress=False
    )
    assert_same(serial, dist)
    assert serial.spikes_per_layer.sum() > 0


def _build(net, bits, max_delay, target):
    """A sweep variant from the project's converter (tests may use convert; sim may not)."""
    from delaykit.convert.quantize import fit_delays, quantize_network

    if max_delay is not None:
        net, _ = fit_delays(net, 0, max_delay, clip=True)
    if bits is not None:
        net, _ = quantize_network(net, bits)
    arith = None if target is None else Arithmetic.for_target(target)
    return net, arith


def test_sweep_grid_matches_serial_evaluate_per_point(client):
    pytest.importorskip("delaykit.convert.quantize")
    rng = np.random.default_rng(5)
    net = random_network(rng, (12, 10, 4), max_delay=20, density=0.9)
    data = [(random_frames(rng, 20, 12), int(rng.integers(0, 4))) for _ in range(12)]
    points = grid(
        net,
        _build,
        weight_bits=(None, 6),
        max_delays=(None, 4),
        targets=(None, load_target("xylo")),
        engine="event",
    )
    # float weights cannot run in a fixed-point target's arithmetic: leave those points out
    points = [p for p in points if not (p.params["bits"] is None and p.params["target"])]
    assert len(points) == 6
    outcomes = sweep_distributed(points, data, client=client, chunk_size=5, progress=False)
    assert [o.point.name for o in outcomes] == [p.name for p in points]
    for o in outcomes:
        serial = evaluate(
            o.point.network, data, engine="event", arithmetic=o.point.arithmetic, workers=1, progress=False
        )
        assert_same(serial, o.result)
        assert o.to_dict()["params"] == o.point.params
    # the sweep really varies the network: clipping delays to 4 steps changes events or output
    by = {
        (o.point.params["bits"], o.point.params["max_delay"], o.point.params["target"]): o.result
        for o in outcomes
    }
    a, b = by[(None, None, None)], by[(None, 4, None)]
    assert not (
        np.array_equal(a.predictions, b.predictions)
        and np.array_equal(a.spikes_per_layer, b.spikes_per_layer)
    )


def test_bad_sweeps_are_refused_before_anything_runs(client):
    rng = np.random.default_rng(1)
    net = random_network(rng, (4, 3, 2))
    data = [(random_frames(rng, 5, 4), 0)]
    with pytest.raises(DelaykitError, match="no points"):
        sweep_distributed([], data, client=client)
    with pytest.raises(DelaykitError, match="unique"):
        sweep_distributed([SweepPoint("a", net), SweepPoint("a", net)], data, client=client)
    with pytest.raises(DelaykitError, match="'a'.*float weights cannot run"):
        sweep_distributed([SweepPoint("a", net, Arithmetic.fixed())], data, client=client)
    with pytest.raises(DelaykitError, match="engine"):
        sweep_distributed([SweepPoint("a", net, engine="gpu")], data, client=client)
