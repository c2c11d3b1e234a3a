"""Contract v3 in the netx export: a real current decay (iDecay), the exact leak's constants,
and what Loihi 2's CUBA neuron cannot hold (a subtract/none reset); the Lava cross-check on a
network whose current outlasts one step (slow, needs scripts/setup_lava.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.arithmetic import loihi_current_decay_constant, loihi_decay_constant
from delaykit.convert.netx_export import netx_layers, write_lava_expectation, write_netx
from delaykit.convert.quantize import prepare_for_target
from delaykit.errors import DelaykitError

LAVA_PYTHON = Path(
    os.environ.get("DELAYKIT_LAVA_PYTHON", str(Path(__file__).resolve().parents[2] / ".venv-lava/bin/python"))
)
LAVA_CHECK = Path(__file__).resolve().parents[2] / "convert" / "lava_check.py"


def _cuba_net(rng, sizes=(12, 10, 8, 4), tau_syn=5.0, leak="euler", reset="value", **kw):
    net = random_network(rng, sizes, max_delay=6, extend_steps=3, tau=3.0, **kw)
    layers = []
    for layer in net.layers:
        extra = {"reset": reset} if layer.neuron.spiking else {}
        layers.append(replace(layer, neuron=replace(layer.neuron, tau_syn=tau_syn, leak=leak, **extra)))
    return replace(net, layers=tuple(layers))


def test_current_decay_constants():
    assert loihi_current_decay_constant(None) == 4096  # no current state: full decay
    assert loihi_current_decay_constant(1.0) == 4096
    assert loihi_current_decay_constant(5.0) == round(4096 / 5) == 819
    assert loihi_current_decay_constant(1e9) == 1  # Loihi keeps at most 4095/4096
    assert loihi_current_decay_constant(5.0, "exact") == round(4096 * (1 - np.exp(-0.2))) == 742
    assert loihi_decay_constant(3.0, "exact") == round(4096 * (1 - np.exp(-1 / 3)))


def test_netx_writes_the_current_decay(tmp_path, rng):
    net = prepare_for_target(_cuba_net(rng), target="loihi2")[0]
    assert net.layers[0].neuron.tau_syn == 5.0  # quantization keeps the v3 fields
    p = tmp_path / "m.netx.h5"
    write_netx(net, p)
    with h5py.File(p, "r") as f:
        for i in range(3):
            n = f[f"layer/{i}/neuron"]
            assert n["iDecay"][()] == 819 and n["vDecay"][()] == round(4096 / 3)
    exact = prepare_for_target(_cuba_net(rng, leak="exact"), target="loihi2")[0]
    assert netx_layers(exact)[0]["iDecay"] == 742


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_netx_refuses_a_reset_loihi_cannot_do(rng, reset):
    net = prepare_for_target(_cuba_net(rng, reset=reset), target="loihi2")[0]
    with pytest.raises(DelaykitError, match=f"field 'neuron.reset' is '{reset}'"):
        netx_layers(net)


@pytest.mark.slow
def test_lava_runs_a_lasting_current_identically(tmp_path, rng):
    """tau_syn = 5 steps (iDecay 819) in Lava's bit-accurate CPU model == delaykit's Loihi 2
    mode, spikes of every layer and the readout voltage."""
    probe = [str(LAVA_PYTHON), "-c", "import h5py, lava.lib.dl.netx"]
    if not LAVA_PYTHON.exists() or subprocess.run(probe, capture_output=True, timeout=300).returncode:
        pytest.skip(f"no Lava environment at {LAVA_PYTHON}: bash scripts/setup_lava.sh")
    net = prepare_for_target(_cuba_net(rng, (20, 16, 12, 5), weight_scale=1.5), target="loihi2")[0]
    netx = tmp_path / "m.netx.h5"
    write_netx(net, netx)
    frames = np.stack([random_frames(rng, 20, 20, rate=0.15) for _ in range(3)]).astype(np.int64)
    exp = write_lava_expectation(net, frames, tmp_path / "in.npz", tmp_path / "exp.npz")
    assert all(exp[k].sum() > 10 for k in exp if k.startswith("spikes_")), "too little activity"
    no_current = replace(
        net, layers=tuple(replace(la, neuron=replace(la.neuron, tau_syn=None)) for la in net.layers)
    )
    plain = write_lava_expectation(no_current, frames, tmp_path / "in0.npz", tmp_path / "exp0.npz")
    assert not np.array_equal(plain["spikes_0"], exp["spikes_0"][:, : plain["spikes_0"].shape[1]])
    r = subprocess.run(
        [
            str(LAVA_PYTHON),
            str(LAVA_CHECK),
            str(netx),
            str(tmp_path / "in.npz"),
            "--expect",
            str(tmp_path / "exp.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": ""},
    )
    print(r.stdout[-3000:], r.stderr[-3000:], file=sys.stderr)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "IDENTICAL" in r.stdout
