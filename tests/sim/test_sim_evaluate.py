"""evaluate(): parallel workers give the serial answer; confusion, counts and SHD files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.data.shd import BinSpec, SHDFile, write_shd
from delaykit.hardware_targets import load_target
from delaykit.network import InputSpec
from delaykit.sim import Arithmetic, evaluate, simulate


def _dataset(rng, net, n=24, steps=15):
    return [
        (random_frames(rng, steps, net.layers[0].n_in), int(rng.integers(0, net.n_classes))) for _ in range(n)
    ]


@pytest.mark.parametrize("engine", ["event", "reference"])
def test_parallel_equals_serial_and_single_samples(rng, engine):
    net = random_network(rng, (10, 12, 4), integer_bits=8, max_delay=6)
    data = _dataset(rng, net)
    arith = Arithmetic.for_target(load_target("loihi2"))
    serial = evaluate(net, data, engine=engine, arithmetic=arith, workers=1, progress=False)
    par = evaluate(net, data, engine=engine, arithmetic=arith, workers=2, progress=False, chunk_size=5)
    for field in (
        "predictions",
        "labels",
        "spikes_per_layer",
        "events_per_layer",
        "input_events",
        "confusion",
    ):
        np.testing.assert_array_equal(getattr(serial, field), getattr(par, field))
    assert serial.accuracy == par.accuracy and par.workers == 2
    for k in (0, 7, 23):
        r = simulate(net, data[k][0], engine, arith)
        assert serial.predictions[k] == r.prediction
        assert serial.events_per_layer[k].tolist() == r.events
        assert serial.spikes_per_layer[k].tolist() == r.spike_counts


def test_spawned_workers_rebuild_the_network(rng, tmp_path):
    """Where fork is missing (macOS, Windows) workers are spawned and rebuild everything."""
    net = random_network(rng, (6, 8, 3), integer_bits=8, max_delay=3)
    path = tmp_path / "s.h5"
    times = [np.sort(rng.random(15) * 0.1).astype(np.float32) for _ in range(8)]
    write_shd(path, times, [rng.integers(0, 6, 15) for _ in range(8)], rng.integers(0, 3, 8), n_units=6)
    arith = Arithmetic.for_target(load_target("loihi2"))
    with SHDFile(path, BinSpec(dt=0.01, channel_group=1, window_steps=10), n_units=6) as ds:
        serial = evaluate(net, ds, arithmetic=arith, workers=1, progress=False)
        spawned = evaluate(net, ds, arithmetic=arith, workers=2, progress=False, start_method="spawn")
    np.testing.assert_array_equal(serial.predictions, spawned.predictions)
    np.testing.assert_array_equal(serial.events_per_layer, spawned.events_per_layer)


def test_confusion_accuracy_and_shapes(rng):
    net = random_network(rng, (8, 10, 10, 3), max_delay=4)
    data = _dataset(rng, net, n=30)
    ev = evaluate(net, data, workers=1, progress=False)
    assert ev.confusion.shape == (3, 3) and ev.confusion.sum() == 30
    assert np.trace(ev.confusion) == int((ev.predictions == ev.labels).sum())
    assert ev.accuracy == pytest.approx(100.0 * np.trace(ev.confusion) / 30)
    assert ev.labels.tolist() == [lab for _, lab in data]
    assert ev.spikes_per_layer.shape == (30, 2) and ev.events_per_layer.shape == (30, 3)
    assert (ev.per_sample_seconds > 0).all() and ev.wall_seconds > 0
    assert ev.spiking_layer_names == ["fc0", "fc1"] and ev.layer_names == ["fc0", "fc1", "fc2"]
    d = ev.to_dict()
    assert d["n_samples"] == 30 and d["confusion"] == ev.confusion.tolist()
    limited = evaluate(net, data, workers=1, progress=False, limit=7)
    assert limited.n_samples == 7 and limited.predictions.tolist() == ev.predictions[:7].tolist()


def test_labels_beyond_the_network_classes_are_rejected(rng):
    net = random_network(rng, (4, 3), max_delay=2)
    data = [(random_frames(rng, 5, 4), 7)]
    with pytest.raises(ValueError, match="labels span"):
        evaluate(net, data, workers=1, progress=False)


def test_fixed_point_errors_surface_in_the_parent(rng):
    net = random_network(rng, (4, 3), max_delay=2)  # float weights
    with pytest.raises(ValueError, match="float weights cannot run"):
        evaluate(
            net,
            _dataset(rng, net, n=3),
            arithmetic=Arithmetic.for_target(load_target("loihi2")),
            workers=2,
            progress=False,
        )


def test_shd_file_with_workers(rng, tmp_path):
    n_units, group, window = 20, 2, 12
    net = random_network(rng, (10, 8, 3), integer_bits=8, max_delay=5)
    net = replace(
        net, input=InputSpec(n_channels=10, window_steps=window, n_units=n_units, channel_group=group)
    )
    times = [np.sort(rng.random(25) * 0.15).astype(np.float32) for _ in range(20)]
    units = [rng.integers(0, n_units, 25) for _ in range(20)]
    labels = rng.integers(0, 3, 20)
    path = tmp_path / "d.h5"
    write_shd(path, times, units, labels, n_units=n_units)
    spec = BinSpec(dt=net.dt, channel_group=group, window_steps=window)
    with SHDFile(path, spec, n_units=n_units) as ds:
        arith = Arithmetic.for_target(load_target("loihi2"))
        ev = evaluate(net, ds, arithmetic=arith, workers=2, progress=False)
        assert ev.labels.tolist() == labels.tolist()
        frames, _ = ds[4]
        assert ev.predictions[4] == simulate(net, frames, arithmetic=arith).prediction
        assert ev.input_events[4] == int((frames != 0).sum())


@pytest.mark.parametrize("binary", [False, True])
def test_chunk_reader_bins_exactly_like_shdfile(rng, tmp_path, binary):
    from delaykit.sim.samples import ShdChunkReader

    n_units, group, window, dt = 23, 5, 9, 0.01
    times, units = [], []
    for _ in range(12):
        n = int(rng.integers(0, 40))
        t = rng.random(n) * 0.12  # some past the window (spike files refuse times before 0)
        if n:  # exact bin edges, where floor(t / dt + 1e-9) matters
            t[: n // 3] = rng.integers(0, 12, n // 3) * dt
        times.append(t.astype(np.float32))
        units.append(rng.integers(0, n_units, n))
    path = tmp_path / "edges.h5"
    write_shd(path, times, units, rng.integers(0, 3, 12), n_units=n_units)
    spec = BinSpec(dt=dt, channel_group=group, window_steps=window, binary=binary)
    with SHDFile(path, spec, n_units=n_units) as ds:
        reader = ShdChunkReader(ds)
        got = reader.read([2, 3, 4, 5]) + reader.read([0]) + reader.read(list(range(6, 12)))
        reader.close()
        order = [2, 3, 4, 5, 0, *range(6, 12)]
        for k, (frames, label) in zip(order, got, strict=True):
            want, want_label = ds[k]
            assert frames.dtype == want.dtype == np.float32 and label == want_label
            np.testing.assert_array_equal(frames, want)
