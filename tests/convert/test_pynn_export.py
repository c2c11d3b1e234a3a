"""``delaykit convert to-pynn``: lists that PyNN 0.13's FromFileConnector loads and a
``run_pynn.py`` that runs spike-exact in PyNN + NEST 3.10 and in NEST directly.

The simulator tests are slow and need the NEST/PyNN environment (``bash scripts/setup_pynn.sh``,
which ``scripts/test.sh`` runs); they are skipped with that reason when it is missing."""

from __future__ import annotations

import ast
from dataclasses import replace

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.cli.main import main
from delaykit.convert.pynn_export import SCRIPT_NAME, check_pynn, find_pynn_python, write_pynn
from delaykit.errors import DelaykitError
from delaykit.network import LIF

PYNN = find_pynn_python()


def needs_pynn(f):
    """Slow, and skipped with the setup command when no python imports nest and pyNN.nest."""
    return pytest.mark.slow(
        pytest.mark.skipif(
            PYNN is None,
            reason="NEST 3.10 + PyNN 0.13 not found: bash scripts/setup_pynn.sh (or set $DELAYKIT_PYNN_PYTHON)",
        )(f)
    )


def mixed_network(rng, tau: float = 2.5, v_reset: float = -3.0):
    """int8, delay-0 synapses and both signs in every layer, a non-zero reset, extend_steps."""
    net = random_network(
        rng, (10, 12, 9, 4), max_delay=5, density=0.7, integer_bits=8, tau=tau, extend_steps=4
    )
    layers = []
    for layer in net.layers:
        n = layer.neuron
        if isinstance(n, LIF):
            n = LIF(tau=n.tau, v_threshold=np.asarray(n.v_threshold) + abs(v_reset), v_reset=v_reset)
        layers.append(replace(layer, neuron=n))
    net = replace(net, layers=tuple(layers))
    for layer in net.layers:
        nz = layer.weight != 0
        assert ((layer.delay == 0) & nz).any() and (layer.weight < 0).any() and (layer.weight > 0).any()
    return net


def test_export_folder_lists_and_script(tmp_path, rng):
    net = mixed_network(rng)
    out = tmp_path / "p"
    files = write_pynn(net, out)
    assert (
        (out / SCRIPT_NAME).exists() and (out / "manifest.json").exists() and all(p.exists() for p in files)
    )
    script = ast.parse((out / SCRIPT_NAME).read_text())
    mods = {a.name for n in ast.walk(script) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module or "" for n in ast.walk(script) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith("delaykit") for m in mods), mods
    for li, layer in enumerate(net.layers):
        got = {}
        for tag, sign in (("exc", 1), ("inh", -1)):
            path = out / "pynn" / f"{li:02d}_fc{li}_{tag}.txt"
            lines = path.read_text().splitlines()
            assert lines[0] == '# columns = ["i", "j", "weight", "delay"]'
            assert not any(x.startswith("#") for x in lines[1:])  # FromFileConnector: one header line
            rows = np.loadtxt(path, ndmin=2).reshape(-1, 4)
            assert (np.sign(rows[:, 2]) == sign).all()
            got.update({(int(i), int(j)): (w, d) for i, j, w, d in rows})
        post, pre = np.nonzero(layer.weight)
        assert len(got) == post.size
        for i, j in zip(pre, post):
            w, d = got[(int(i), int(j))]
            assert w == layer.weight[j, i] and d == (layer.delay[j, i] + 1) * 10.0  # integers; +1 step
        bias = {}
        for tag in ("bias_exc", "bias_inh"):
            rows = np.loadtxt(out / "pynn" / f"{li:02d}_fc{li}_{tag}.txt", ndmin=2).reshape(-1, 4)
            bias.update({int(j): w for _, j, w, d in rows if d == 10.0})
        np.testing.assert_array_equal([bias.get(j, 0) for j in range(layer.n_out)], layer.bias)
    (out / "stale.txt").write_text("x")
    write_pynn(net, out)  # a new export replaces the folder as a whole
    assert not (out / "stale.txt").exists()
    with pytest.raises(DelaykitError, match="not a folder"):
        write_pynn(net, out / "manifest.json")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(DelaykitError, match="not an earlier PyNN export"):
        write_pynn(net, tmp_path / "mine")  # never replaces a folder it did not write
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_to_pynn_command(tmp_path, rng):
    net = mixed_network(rng)
    net.save(tmp_path / "m.dkn")
    assert main(["convert", "to-pynn", str(tmp_path / "m.dkn"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / SCRIPT_NAME).exists()


@needs_pynn
@pytest.mark.parametrize("simulator", ["nest", "pynest"])
@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_delay0_mixed_sign_tables_run_spike_exact(simulator, tau, tmp_path):
    rng = np.random.default_rng(7)
    net = mixed_network(rng, tau=tau)
    write_pynn(net, tmp_path / "p")
    frames = np.stack([random_frames(rng, 20, net.input.n_channels, rate=0.3) for _ in range(25)])
    r = check_pynn(tmp_path / "p", frames, simulator=simulator, python=PYNN)
    assert all(x["spikes_delaykit"] > 50 for x in r["layers"]), r
    assert r["mismatched_spikes"] == 0, r
    assert r["same_predictions"] == r["samples"] == 25
    assert r["readout_max_abs_diff"] < 1e-9, r


@needs_pynn
def test_demo_int8_network_pynn_and_nest_spike_exact(demo_int8, tmp_path):
    from delaykit.data.shd import BinSpec, SHDFile

    net, test = demo_int8
    write_pynn(net, tmp_path / "p")
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    with SHDFile(test, spec) as ds:
        frames = np.stack([ds[i][0] for i in range(len(ds))])
    assert len(frames) >= 100
    for simulator in ("nest", "pynest"):
        r = check_pynn(tmp_path / "p", frames, simulator=simulator, python=PYNN)
        print(simulator, r)
        assert r["mismatched_spikes"] == 0, r
        assert all(x["spikes_delaykit"] > 1000 for x in r["layers"]), r
        assert r["same_predictions"] == r["samples"], r
        assert r["readout_max_abs_diff"] < 1e-12, r
