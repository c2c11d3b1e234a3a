"""Contract v3 through delaykit's own NIR export and re-import: CubaLIF/CubaLI, reset modes,
leak rules, the membrane bias (docs/design.md, "NIR graphs")."""

from __future__ import annotations

from dataclasses import replace

import nir
import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.errors import FormatError
from delaykit.nir import metadata as nir_md
from delaykit.nir.export_nir import network_to_nir, write_nir
from delaykit.nir.import_nir import load_nir
from delaykit.sim import Arithmetic, simulate


def _v3(net, **hidden):
    layers = []
    for layer in net.layers:
        extra = hidden if layer.neuron.spiking else {k: v for k, v in hidden.items() if k != "reset"}
        layers.append(replace(layer, neuron=replace(layer.neuron, **extra)))
    return replace(net, layers=tuple(layers))


@pytest.mark.parametrize("bits", [None, 8])
@pytest.mark.parametrize(
    "fields",
    [
        dict(tau_syn=5.0, reset="subtract"),
        dict(tau_syn=5.0, reset="none", leak="exact"),
        dict(reset="subtract"),
        dict(leak="exact"),
    ],
)
def test_own_v3_network_round_trips_losslessly(tmp_path, bits, fields):
    rng = np.random.default_rng(7)
    net = _v3(random_network(rng, (10, 8, 4), integer_bits=bits, max_delay=5), **fields)
    p = tmp_path / "v3.nir"
    write_nir(net, p)
    back = load_nir(p)
    for a, b in zip(net.layers, back.layers, strict=True):
        assert a.neuron.to_dict() == b.neuron.to_dict()
        for f in ("weight", "bias"):
            x, y = getattr(a, f), getattr(b, f)
            assert x.dtype == y.dtype and np.array_equal(x, y), f
        nz = a.weight != 0  # a zero-weight synapse carries nothing: NIR keeps no delay for it
        np.testing.assert_array_equal(a.delay[nz], b.delay[nz])
    frames = random_frames(rng, 20, 10)
    arith = Arithmetic.fixed(weight_bits=8) if bits else Arithmetic.float64()
    np.testing.assert_array_equal(
        simulate(net, frames, arithmetic=arith).output, simulate(back, frames, arithmetic=arith).output
    )


def test_current_neurons_are_cuba_nodes_with_the_bias_in_v_leak():
    rng = np.random.default_rng(2)
    net = _v3(random_network(rng, (6, 5, 3)), tau_syn=5.0)
    g = network_to_nir(net)
    h, o = g.nodes["fc0"], g.nodes["fc1"]
    assert isinstance(h, nir.CubaLIF) and isinstance(o, nir.CubaLI)
    np.testing.assert_allclose(h.tau_syn, 5 * net.dt)
    np.testing.assert_allclose(h.w_in, 5.0)
    np.testing.assert_allclose(h.v_leak, net.layers[0].bias * net.layers[0].neuron.tau)
    assert not np.any(g.nodes["fc0_d0"].bias)
    # without the metadata the graph alone is NIR's CubaLIF under forward Euler: same spikes
    g.metadata = {}
    alone = load_nir(g, dt=net.dt)
    assert alone.layers[0].neuron.tau_syn == 5.0
    frames = random_frames(rng, 25, 6)
    a, b = simulate(net, frames), simulate(alone, frames)
    for x, y in zip(a.spikes, b.spikes, strict=True):
        np.testing.assert_array_equal(x, y)


def test_older_importer_refuses_v3_metadata(monkeypatch):
    net = _v3(random_network(np.random.default_rng(0), (4, 3, 2)), tau_syn=2.0)
    g = network_to_nir(net)
    monkeypatch.setattr(nir_md, "SUPPORTED_FORMAT_VERSION", 1)
    with pytest.raises(FormatError, match="format_version' is 3; this delaykit reads 1"):
        load_nir(g)


def _cuba_graph(tau_syn, tau_mem, w_in=5.0, r=2.0, bias=None):
    n = 3
    lin = nir.Linear(np.eye(n)) if bias is None else nir.Affine(np.eye(n), np.full(n, bias))
    cuba = nir.CubaLIF(
        tau_syn=np.full(n, tau_syn),
        tau_mem=np.full(n, tau_mem),
        r=np.full(n, r),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
        w_in=np.full(n, w_in),
    )
    nodes = {"input": nir.Input(np.array([n])), "w": lin, "l": cuba, "output": nir.Output(np.array([n]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "l"), ("l", "output")], type_check=False)


def test_float32_time_constants_are_read_as_the_decimal_meant():
    from delaykit.nir.fields import float32_decimal

    assert float32_decimal(float(np.float32(2e-3))) == 0.002
    assert float32_decimal(0.001) == 0.001  # a float64 value stays as it is
    net = load_nir(_cuba_graph(np.float32(5e-3), np.float32(2e-3)), dt=1e-3)
    n = net.layers[0].neuron
    assert n.tau_syn == 5.0 and n.tau == 2.0 and net.layers[0].weight[0, 0] == 1.0  # gain 5*2/(2*5)
    one = load_nir(_cuba_graph(np.float32(1e-3), 2e-3), dt=1e-3).layers[0]
    assert one.neuron.tau_syn is None and one.weight[0, 0] == 5.0  # tau_syn = dt: today's neuron


def test_bias_into_a_lasting_current_is_refused_in_one_line():
    from delaykit.errors import DelaykitError

    with pytest.raises(DelaykitError, match=r"^NIR node 'l': a constant input \(Affine bias\)[^\n]*$"):
        load_nir(_cuba_graph(5e-3, 2e-3, bias=0.5), dt=1e-3)


def test_leak_free_neurons_export_as_if_and_i_and_round_trip(tmp_path):
    from delaykit.network import LI, LIF
    from delaykit.nir.neurons import NO_LEAK_TAU_STEPS

    rng = np.random.default_rng(9)
    base = random_network(rng, (5, 4, 2))
    layers = (
        replace(base.layers[0], neuron=LIF(tau=NO_LEAK_TAU_STEPS, v_threshold=1.0, reset="subtract")),
        replace(base.layers[1], neuron=LI(tau=NO_LEAK_TAU_STEPS)),
    )
    net = replace(base, layers=layers)
    g = network_to_nir(net)
    assert isinstance(g.nodes["fc0"], nir.IF) and isinstance(g.nodes["fc1"], nir.I)
    write_nir(net, tmp_path / "if.nir")
    back = load_nir(tmp_path / "if.nir")
    assert [lay.neuron.to_dict() for lay in back.layers] == [lay.neuron.to_dict() for lay in net.layers]
    frames = random_frames(rng, 12, 5)
    np.testing.assert_array_equal(simulate(net, frames).output, simulate(back, frames).output)
