"""convert to-nir: a graph nir accepts, lossless re-import, and external NIR consumers."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from netgen import random_frames, random_network  # noqa: E402

from delaykit.convert.quantize import quantize_network  # noqa: E402
from delaykit.nir.export_nir import network_to_nir, read_nir_metadata, write_nir  # noqa: E402
from delaykit.sim import Arithmetic, simulate  # noqa: E402


def _assert_same_network(a, b):
    assert a.dt == b.dt and a.readout == b.readout and a.input == b.input
    assert a.provenance == b.provenance and a.metadata == b.metadata
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers, strict=False):
        assert x.name == y.name and x.extend_steps == y.extend_steps
        np.testing.assert_array_equal(x.weight, y.weight)
        np.testing.assert_array_equal(x.delay[x.weight != 0], y.delay[x.weight != 0])
        np.testing.assert_array_equal(x.bias, y.bias)
        assert x.neuron.to_dict() == y.neuron.to_dict()
        if x.weight_scale is None:
            assert y.weight_scale is None
        else:
            np.testing.assert_array_equal(x.weight_scale, y.weight_scale)


def test_graph_layout_units_and_type_check(tmp_path, rng):
    net = random_network(rng, (10, 8, 4), max_delay=5, extend_steps=2, tau=1.005)
    path = tmp_path / "m.nir"
    write_nir(net, path)
    g = nir.read(path, type_check=True)
    lay = net.layers[0]
    distinct = sorted(set(np.unique(lay.delay[lay.weight != 0]).tolist()))
    delays = {k: v for k, v in g.nodes.items() if k.startswith("fc0_delay")}
    assert sorted(int(k[len("fc0_delay") :]) for k in delays) == [d for d in distinct if d > 0]
    for k, node in delays.items():
        d = int(k[len("fc0_delay") :])
        assert isinstance(node, nir.Delay)
        np.testing.assert_allclose(node.delay, d * 0.01)  # seconds
        w = g.nodes[f"fc0_d{d}"].weight
        np.testing.assert_array_equal(w, np.where(lay.delay == d, lay.weight, 0.0))
    aff = g.nodes["fc0_d0"]
    assert isinstance(aff, nir.Affine)
    np.testing.assert_array_equal(aff.bias, lay.bias)
    lif = g.nodes["fc0"]
    assert isinstance(lif, nir.LIF)
    np.testing.assert_allclose(lif.tau, 1.005 * 0.01)
    np.testing.assert_allclose(lif.r, 1.005)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_threshold, 1.0)
    assert isinstance(g.nodes["fc1"], nir.LI)
    # every branch ends in the neuron node; the chain ends in the output
    assert ("fc1", "output") in g.edges
    assert sum(1 for s, t in g.edges if t == "fc0") == len(set(distinct) | {0})
    md = read_nir_metadata(path)
    assert md["dt"] == 0.01 and md["layers"][0]["extend_steps"] == 2
    assert md["input"] == net.input.to_dict()


@pytest.mark.parametrize("bits", [None, 8])
def test_lossless_reimport_with_sim_importer(tmp_path, rng, bits):
    load_nir = pytest.importorskip("delaykit.nir.import_nir").load_nir
    net = random_network(rng, (12, 9, 7, 4), max_delay=7, extend_steps=3, density=0.7)
    net = type(net)(
        layers=net.layers,
        dt=net.dt,
        input=net.input,
        readout=net.readout,
        provenance={"source": "x.pt", "source_sha256": "ab" * 32},
        metadata={"metrics": {"test_acc_rounded": 88.5}, "class_names": list("abcd")},
    )
    if bits:
        net, _ = quantize_network(net, bits, per_neuron=True)
    path = tmp_path / "m.nir"
    write_nir(net, path)
    back = load_nir(path)
    _assert_same_network(net, back)
    frames = random_frames(rng, 20, 12)
    arith = Arithmetic.float64()
    a = simulate(net, frames, engine="reference", arithmetic=arith)
    b = simulate(back, frames, engine="reference", arithmetic=arith)
    np.testing.assert_array_equal(a.output, b.output)


def test_r_convention_one_is_same_dynamics(rng):
    net = random_network(rng, (6, 5, 3), max_delay=3, tau=2.0)
    g = network_to_nir(net, r_convention="one")
    np.testing.assert_array_equal(g.nodes["fc0"].r, 1.0)
    np.testing.assert_allclose(
        g.nodes["fc0_d0"].weight, np.where(net.layers[0].delay == 0, net.layers[0].weight, 0) * 2.0
    )
    with pytest.raises(ValueError, match="r_convention"):
        network_to_nir(net, r_convention="two")


def _delay_free_spiking(rng):
    # NIR consumers have no LI node (spikingjelly, norse): the delay-free network ends in a
    # spiking layer (readout spike_count). tau = 1.5 steps makes r matter (gain r*dt/tau).
    return random_network(rng, (12, 10, 8, 5), max_delay=0, spiking_last=True, tau=1.5)


def test_spikingjelly_runs_delay_free_graph_identically(tmp_path, rng):
    torch = pytest.importorskip("torch")
    sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    net = _delay_free_spiking(rng)
    path = tmp_path / "free.nir"
    write_nir(net, path)
    gm = sj.import_from_nir(str(path), dt=net.dt, dtype=torch.float64, step_mode="m")
    total = 0
    for _ in range(4):
        frames = random_frames(rng, 25, 12)
        ours = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float64())
        spikes, _state = gm(torch.as_tensor(frames, dtype=torch.float64)[:, None, :])
        theirs = spikes[:, 0, :].detach().numpy().astype(np.uint8)
        np.testing.assert_array_equal(theirs, ours.spikes[-1])
        total += int(theirs.sum())
    assert total > 20, "too few output spikes for the comparison to mean anything"


def test_norse_runs_delay_free_graph_identically(tmp_path, rng):
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    net = _delay_free_spiking(rng)
    path = tmp_path / "free.nir"
    # norse ignores r (input gain dt/tau): export with r = 1 and weights x tau_steps.
    write_nir(net, path, r_convention="one")
    model = norse.from_nir(nir.read(path), dt=net.dt)
    total = 0
    for _ in range(4):
        frames = random_frames(rng, 25, 12)
        ours = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float32())
        state, out = None, []
        x = torch.as_tensor(frames)
        for t in range(x.shape[0]):
            o, state = model(x[t : t + 1], state)
            out.append(o.detach().numpy()[0])
        theirs = np.asarray(out).astype(np.uint8)
        np.testing.assert_array_equal(theirs, ours.spikes[-1])
        total += int(theirs.sum())
    assert total > 20


def test_shd_size_roundtrip_is_lossless(tmp_path):
    load_nir = pytest.importorskip("delaykit.nir.import_nir").load_nir
    rng = np.random.default_rng(7)
    net = random_network(rng, (140, 256, 256, 20), max_delay=24, extend_steps=12)
    write_nir(net, tmp_path / "shd.nir")
    _assert_same_network(net, load_nir(tmp_path / "shd.nir"))
