"""``delaykit convert to-xylo MODEL -o DIR``: the spec folder runs in xylosim as the reference says.

The folder is read by ``xylo_run.py`` in ``.venv-xylo``, which builds ``xylosim.v2.XyloLayer``
from ``spec.npz`` alone; its recordings are compared with ``run_xylo_mode`` (delaykit's Xylo
reference of the same network, delays as delays), lined up with the manifest's mapping.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from xylo_nets import random_counts, random_xylo_net

from delaykit.cli.main import main
from delaykit.hardware_targets.xylo_check import RUNNER, SETUP_HINT, find_xylo_python
from delaykit.hardware_targets.xylo_core import evolve
from delaykit.hardware_targets.xylo_reference import run_xylo_mode
from delaykit.hardware_targets.xylo_spec import load_spec
from delaykit.network import save_network

XYLO = find_xylo_python()
SEEDS = (3, 7, 11, 28)


def converted(tmp_path, seed):
    net = random_xylo_net(seed)
    save_network(net, tmp_path / f"n{seed}.dkn")
    out = tmp_path / f"n{seed}_xylo"
    assert main(["convert", "to-xylo", str(tmp_path / f"n{seed}.dkn"), "-o", str(out)]) == 0
    mapping = json.loads((out / "manifest.json").read_text())["mapping"]
    x = random_counts(seed, net.layers[0].n_in)
    lat = mapping["readout_latency_steps"]
    return net, out, mapping, x, np.concatenate([x, np.zeros((lat, x.shape[1]), np.int64)])


def assert_same(net, mapping, x, spikes, spikes_out, v_mem_out):
    ref, steps, lat = run_xylo_mode(net, x), x.shape[0], mapping["readout_latency_steps"]
    for k, idx in enumerate(mapping["hidden_layer_neurons"]):
        np.testing.assert_array_equal(spikes[k : k + steps][:, idx], ref.spikes[k])
    np.testing.assert_array_equal(spikes_out[lat : lat + steps], ref.spikes_out)
    np.testing.assert_array_equal(v_mem_out[lat : lat + steps], ref.v_mem_out)


def test_to_xylo_folder_runs_in_xylo_core_like_the_reference(tmp_path, capsys):
    for seed in SEEDS:
        net, out, mapping, x, xp = converted(tmp_path, seed)
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "spec.npz"]
        rec = evolve(load_spec(out), xp)
        assert_same(net, mapping, x, rec.spikes, rec.spikes_out, rec.v_mem_out)
    assert "delay relays" in capsys.readouterr().out


@pytest.mark.skipif(XYLO is None, reason=f"xylosim not found: {SETUP_HINT}")
def test_to_xylo_folder_runs_in_xylosim_like_the_reference(tmp_path):
    jobs, args = [], []
    for seed in SEEDS:
        net, out, mapping, x, xp = converted(tmp_path, seed)
        np.savez(tmp_path / f"in{seed}.npz", input_counts=xp)
        args += [str(out), str(tmp_path / f"in{seed}.npz"), str(tmp_path / f"rec{seed}.npz")]
        jobs.append((seed, net, mapping, x))
    proc = subprocess.run([XYLO, str(RUNNER), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for seed, net, mapping, x in jobs:
        with np.load(tmp_path / f"rec{seed}.npz") as z:
            assert_same(net, mapping, x, z["spikes"], z["spikes_out"], z["v_mem_out"])


def test_to_xylo_refuses_what_xylo_cannot_express(tmp_path, capsys):
    net = random_xylo_net(0)
    wide = net.layers[0].neuron.__class__(tau=3.0, v_threshold=1.0, tau_syn=2.0, reset="subtract")
    bad = replace(net, layers=(replace(net.layers[0], neuron=wide), *net.layers[1:]))
    save_network(bad, tmp_path / "bad.dkn")
    assert main(["convert", "to-xylo", str(tmp_path / "bad.dkn"), "-o", str(tmp_path / "x")]) != 0
    assert "layer 'l0', field neuron.tau" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
