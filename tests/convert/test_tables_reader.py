"""The tables reproduce delaykit from the files alone: a numpy reader written from the
manifest's words (tables_reader.py, no delaykit import) gives delaykit's spikes and readout bit
for bit. delaykit's side runs in a subprocess (conftest.delaykit_results)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tables_reader
from dk_results import delaykit_results
from netgen import random_frames, random_network

from delaykit.network import LIF
from delaykit.tables import write_tables


def test_reader_uses_the_files_and_numpy_only():
    tree = ast.parse(Path(tables_reader.__file__).read_text())
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert mods <= {"__future__", "csv", "json", "pathlib", "numpy"}, mods


def _with_reset(net, v_reset):
    layers = []
    for layer in net.layers:
        n = layer.neuron
        if isinstance(n, LIF):
            n = LIF(tau=n.tau, v_threshold=np.asarray(n.v_threshold) + abs(v_reset), v_reset=float(v_reset))
        layers.append(replace(layer, neuron=n))
    return replace(net, layers=tuple(layers))


CASES = {
    "int8_tau1.005_extend": dict(sizes=(12, 10, 8, 4), tau=1.005, extend_steps=6, max_delay=9),
    "int6_tau2.5_membrane_max": dict(sizes=(10, 9, 5), tau=2.5, integer_bits=6, readout="membrane_max"),
    "int8_tau1_spiking_last": dict(sizes=(8, 7, 3), tau=1.0, spiking_last=True, extend_steps=3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reader_equals_delaykit_on_random_integer_networks(case, tmp_path):
    rng = np.random.default_rng(sorted(CASES).index(case))
    kw = {"integer_bits": 8, "density": 0.7, "max_delay": 6, **CASES[case]}
    net = random_network(rng, kw.pop("sizes"), **kw)
    if case.startswith("int6"):
        net = _with_reset(net, -3)
    d0 = sum(int(((lay.delay == 0) & (lay.weight != 0)).sum()) for lay in net.layers)
    assert d0 > 0 and all((lay.weight < 0).any() and (lay.weight > 0).any() for lay in net.layers)
    write_tables(net, tmp_path / "t", formats=("csv",))
    frames = np.stack([random_frames(rng, 20, net.input.n_channels) for _ in range(12)])
    np.savez(tmp_path / "frames.npz", frames=frames)
    ref = delaykit_results(tmp_path / "t", tmp_path / "frames.npz", len(frames), tmp_path / "dk.npz")
    t = tables_reader.load(tmp_path / "t")
    for k, f in enumerate(frames):
        mine = tables_reader.simulate(t, f)
        for li, s in mine["spikes"].items():
            np.testing.assert_array_equal(s, ref[f"spikes_{li}"][k])
        np.testing.assert_array_equal(mine["output"], ref["output"][k])  # bit for bit
        assert mine["prediction"] == ref["predictions"][k]


@pytest.mark.slow
def test_reader_reproduces_the_demo_int8_network_bit_for_bit(demo_int8, tmp_path):
    h5py = pytest.importorskip("h5py")
    net, test = demo_int8
    write_tables(net, tmp_path / "t", formats=("csv",))
    t = tables_reader.load(tmp_path / "t")
    with h5py.File(test, "r") as f:
        n = len(f["labels"])
        frames = [
            tables_reader.bin_sample(f["spikes/times"][i], f["spikes/units"][i], t["manifest"])
            for i in range(n)
        ]
    assert n >= 100
    ref = delaykit_results(tmp_path / "t", test, n, tmp_path / "dk.npz")
    np.testing.assert_array_equal(np.stack(frames), ref["frames"])  # the binning rule, microseconds first
    mismatched, spikes, margin = 0, 0, {}
    for k, f in enumerate(frames):
        mine = tables_reader.simulate(t, f, margin)
        for li, s in mine["spikes"].items():
            mismatched += int((s != ref[f"spikes_{li}"][k]).sum())
            spikes += int(s.sum())
        np.testing.assert_array_equal(mine["output"], ref["output"][k])
        assert mine["prediction"] == ref["predictions"][k]
    assert mismatched == 0 and spikes > 1000
    # why simulators with another leak rounding (NEST's exp(-dt/tau_m)) still spike identically:
    # threshold ties come from exact integer sums, other membranes stay far from the threshold
    print(f"{n} samples, {spikes} spikes, {margin['ties']} exact ties, nearest other {margin['nearest']:.3g}")
    assert margin["nearest"] > 1e-9
