"""convert to-netx: lava-dl netx HDF5 for Loihi 2, proven in Lava's fixed-point simulation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.arithmetic import loihi_decay_constant
from delaykit.convert.netx_export import lava_padding, netx_layers, write_lava_expectation, write_netx
from delaykit.convert.quantize import prepare_for_target, quantize_network
from delaykit.errors import DelaykitError

LAVA_PYTHON = Path(
    os.environ.get("DELAYKIT_LAVA_PYTHON", str(Path(__file__).resolve().parents[2] / ".venv-lava/bin/python"))
)
LAVA_CHECK = Path(__file__).resolve().parents[2] / "convert" / "lava_check.py"


def _loihi_net(rng, sizes=(12, 10, 8, 4), max_delay=9, extend=4):
    net = random_network(rng, sizes, max_delay=max_delay, extend_steps=extend, tau=1.005)
    return prepare_for_target(net, target="loihi2")[0]


def test_netx_file_fields(tmp_path, rng):
    net = _loihi_net(rng)
    p = tmp_path / "m.netx.h5"
    write_netx(net, p)
    with h5py.File(p, "r") as f:
        assert sorted(f["layer"].keys()) == ["0", "1", "2"]
        g = f["layer/1"]
        assert g["type"][()] == b"dense"
        assert list(g["shape"][()]) == [8] and g["inFeatures"][()] == 10 and g["outFeatures"][()] == 8
        lay = net.layers[1]
        np.testing.assert_array_equal(g["weight"][()], lay.weight)
        np.testing.assert_array_equal(g["delay"][()], np.where(lay.weight != 0, lay.delay, 0))
        assert g["delay"].shape == (8, 10)  # the full out x in matrix
        n = g["neuron"]
        assert n["type"][()] == b"CUBA" and n["iDecay"][()] == 4096
        assert n["vDecay"][()] == loihi_decay_constant(1.005) == 4076
        assert n["vThMant"][()] == int(np.asarray(lay.neuron.v_threshold))
        assert f["layer/2/neuron/vThMant"][()] == (1 << 17) - 1  # non-spiking readout
        assert f["simulation/tSample"][()] == net.output_steps() + 3


def test_netx_refuses_what_loihi_cannot_hold(rng):
    net = random_network(rng, (6, 5, 3), max_delay=5)
    with pytest.raises(DelaykitError, match="float weights"):
        netx_layers(net)
    q, _ = quantize_network(net, 8, per_neuron=True)
    with pytest.raises(DelaykitError, match="one threshold per layer"):
        netx_layers(q)
    q16, _ = quantize_network(net, 12)
    with pytest.raises(DelaykitError, match="8 signed bits"):
        netx_layers(q16)
    far = random_network(rng, (6, 5, 3), max_delay=80)
    q, _ = quantize_network(far, 8)
    with pytest.raises(DelaykitError, match="exceeds netx's 62"):
        netx_layers(q)


def test_expectation_pads_inputs(tmp_path, rng):
    net = _loihi_net(rng, max_delay=5)
    frames = np.stack([random_frames(rng, 10, 12) for _ in range(2)])
    exp = write_lava_expectation(net, frames, tmp_path / "in.npz", tmp_path / "exp.npz")
    pad = lava_padding(net)
    with np.load(tmp_path / "in.npz") as z:
        assert z["frames"].shape == (2, 10 + pad, 12) and not z["frames"][:, 10:].any()
    assert exp["spikes_0"].shape[:2] == (2, 10 + pad + net.layers[0].extend_steps + 1)
    assert exp["readout_v"].dtype == np.int64


@pytest.mark.slow
def test_lava_fixed_point_runs_identically(tmp_path, rng):
    """The netx file in Lava's bit-accurate CPU simulation == delaykit's Loihi 2 mode.

    Needs the Python 3.10 venv that scripts/setup_lava.sh builds, or by hand:
    bash scripts/setup_lava.sh   # builds .venv-lava (Python 3.10, lava-nc 0.10.0, lava-dl 0.6.0)
    """
    if not LAVA_PYTHON.exists():
        pytest.skip(f"no Lava environment at {LAVA_PYTHON} (set DELAYKIT_LAVA_PYTHON); see the docstring")
    pytest.importorskip("torch")
    from convert_fixtures import make_delaykit_checkpoint

    from delaykit.convert.build import convert_checkpoint

    # A trained-model layout (Dcls1d tensors, BatchNorm folded into weights and biases),
    # SHD's 140 input channels, K = 25 (delays 0..24), 8-bit Loihi quantization.
    ck = make_delaykit_checkpoint(tmp_path / "m.pt", rng, (140, 48, 40, 20), k=25, window_steps=25)
    net = convert_checkpoint(ck, target="loihi2")
    netx = tmp_path / "m.netx.h5"
    write_netx(net, netx)
    frames = np.stack([random_frames(rng, 25, 140, rate=0.1) for _ in range(3)]).astype(np.int64)
    assert frames.max() > 1  # counts: exercises Lava's graded input
    exp = write_lava_expectation(net, frames, tmp_path / "in.npz", tmp_path / "exp.npz")
    assert all(exp[k].sum() > 20 for k in exp if k.startswith("spikes_")), "too little activity"
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
