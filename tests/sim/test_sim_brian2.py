"""Brian2 cross-check (sim/brian2_check.py, sim/brian2_run.py): tables exported by convert,
simulated in Brian2 with heterogeneous per-synapse delays and the contract's discrete-time LIF,
give identical spikes.

Slow (Brian2 starts in its own environment). Run it with:

    bash scripts/setup_brian2.sh    # builds .venv-brian2 (Brian2 2.9.0, numpy < 2.4)
    .venv/bin/pytest -q -m slow tests/test_sim_brian2.py

(or point $DELAYKIT_BRIAN2_PYTHON at any python that imports brian2). Skipped when none does.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.network import LIF, Network
from delaykit.sim.brian2_check import cross_check, find_brian2_python, read_table_dir

BRIAN2 = find_brian2_python()


def needs_brian2(f):
    """Slow, and skipped with the install command when no python imports brian2."""
    return pytest.mark.slow(
        pytest.mark.skipif(
            BRIAN2 is None,
            reason="Brian2 not found: bash scripts/setup_brian2.sh (or set $DELAYKIT_BRIAN2_PYTHON)",
        )(f)
    )


def dyadic(net: Network, bits: int = 8) -> Network:
    """Float weights and biases on a 2**-bits grid: every partial sum is exact in float64."""
    q = 2.0**bits
    return replace(
        net,
        layers=tuple(
            replace(layer, weight=np.round(layer.weight * q) / q, bias=np.round(layer.bias * q) / q)
            for layer in net.layers
        ),
    )


def with_reset(net: Network, v_reset: int) -> Network:
    """Integer hidden layers with a non-zero reset (threshold kept above it)."""
    layers = []
    for layer in net.layers:
        n = layer.neuron
        if isinstance(n, LIF):
            n = LIF(tau=n.tau, v_threshold=np.asarray(n.v_threshold) + abs(v_reset), v_reset=float(v_reset))
        layers.append(replace(layer, neuron=n))
    return replace(net, layers=tuple(layers))


CASES = {
    # name: (network builder, layer latency, table format)
    "int8_tau1.005": (
        lambda rng: random_network(
            rng, (24, 20, 10, 5), max_delay=62, density=0.6, integer_bits=8, extend_steps=12
        ),
        0,
        "npz",
    ),
    "int8_loihi_latency": (
        lambda rng: random_network(rng, (24, 20, 5), max_delay=30, integer_bits=8, tau=3.3),
        1,
        "npz",
    ),
    "int6_reset_csv": (
        lambda rng: with_reset(
            random_network(rng, (16, 14, 6), max_delay=20, integer_bits=6, tau=1.7, threshold=0.8), -3
        ),
        0,
        "csv",
    ),
    "float_dyadic_spiking_readout": (
        lambda rng: dyadic(
            random_network(rng, (20, 16, 12, 4), max_delay=24, tau=7.0, spiking_last=True, threshold=0.6)
        ),
        0,
        "npz",
    ),
}


@needs_brian2
@pytest.mark.parametrize("case", sorted(CASES))
def test_brian2_gives_identical_spikes(case):
    build, lat, fmt = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case) + 100)
    net = build(rng)
    samples = [random_frames(rng, 30, net.layers[0].n_in, rate=0.3) for _ in range(4)]
    res = cross_check(net, samples, brian2_python=BRIAN2, layer_latency_steps=lat, table_format=fmt)
    assert res.identical, res.mismatches
    # the comparison means something only when every layer spikes
    assert all(n > 0 for n in res.spikes_per_layer), res.spikes_per_layer


@needs_brian2
def test_a_changed_delay_in_the_table_is_caught(tmp_path: Path):
    """Negative control: Brian2 runs a table where one synapse's delay is one step longer."""
    from delaykit.tables import write_tables

    rng = np.random.default_rng(5)
    net = random_network(rng, (12, 10, 4), max_delay=10, integer_bits=8, threshold=0.5)
    table = tmp_path / "t"
    write_tables(net, table, formats=("npz",), pynn=False)
    with np.load(table / "synapses.npz") as z:
        cols = {k: z[k].copy() for k in z.files}
    # the strongest first-layer synapse: its input fires often, its weight matters
    first = np.flatnonzero(cols["layer"] == 0)
    k = first[np.argmax(np.abs(cols["weight_int"][first]))]
    cols["delay_steps"][k] += 1
    np.savez(table / "synapses.npz", **cols)
    samples = [random_frames(rng, 30, 12, rate=0.5) for _ in range(4)]
    res = cross_check(table, samples, reference=net, brian2_python=BRIAN2)
    assert not res.identical and res.mismatches
    # and the untouched export agrees
    assert cross_check(net, samples, brian2_python=BRIAN2).identical


def test_table_reader_needs_no_delaykit(tmp_path: Path, rng):
    """The Brian2 side reads convert's tables with numpy alone, in the units the simulator uses."""
    from delaykit.tables import write_tables

    net = random_network(rng, (9, 7, 3), max_delay=5, density=0.5, integer_bits=8, extend_steps=2)
    for fmt in ("npz", "csv"):
        d = tmp_path / fmt
        write_tables(net, d, formats=(fmt,), pynn=False)
        t = read_table_dir(d)
        assert t["dt"] == net.dt
        for lay, layer in zip(t["layers"], net.layers, strict=True):
            w = np.zeros((layer.n_out, layer.n_in))
            w[lay["post"], lay["pre"]] = lay["weight"]
            d_m = np.zeros_like(layer.delay)
            d_m[lay["post"], lay["pre"]] = lay["delay"]
            nz = layer.weight != 0
            assert np.array_equal(w, layer.weight) and np.array_equal(d_m[nz], layer.delay[nz])
            assert np.array_equal(lay["bias"], layer.bias) and lay["tau"] == layer.neuron.tau
            assert lay["extend_steps"] == layer.extend_steps
    # importing the module pulls in neither delaykit's simulator nor torch
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "assert 'torch' not in sys.modules and 'delaykit' not in sys.modules"
    )
    script = Path(__file__).parents[2] / "sim" / "brian2_run.py"
    subprocess.run([sys.executable, "-c", code, str(script)], check=True)


@needs_brian2
def test_check_command_on_an_shd_file(tmp_path: Path):
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.network import InputSpec

    write_delay_task_pair(tmp_path, n_train=2, n_test=6, seed=1)
    rng = np.random.default_rng(9)
    net = random_network(
        rng,
        (140, 24, 10),
        max_delay=14,
        density=0.4,
        integer_bits=8,
        threshold=0.5,
        window_steps=30,
        extend_steps=7,
    )
    net = replace(net, input=InputSpec(n_channels=140, window_steps=30, n_units=700, channel_group=5))
    model = tmp_path / "net.dkn"
    net.save(model)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "delaykit.sim.brian2_cli",
            "check",
            str(model),
            "--data",
            str(tmp_path / "delay_test.h5"),
            "--samples",
            "3",
            "--brian2-python",
            BRIAN2,
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "IDENTICAL" in out.stdout
