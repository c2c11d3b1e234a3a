"""NIR import (delaykit/nir/import_nir.py): hand-built graphs with Delay nodes and known answers,
both per-synapse delay layouts, neuron-model mappings, round trips through nir.write/nir.read,
and clear errors for what cannot be imported exactly."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.errors import DelaykitError
from delaykit.network import LI, LIF, Network
from delaykit.nir.import_nir import NO_LEAK_TAU_STEPS, load_nir
from delaykit.sim import Arithmetic, simulate

DT = 0.01


def run(net: Network, frames: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Spikes of each spiking layer and the last layer's output (reference engine, float64)."""
    res = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float64())
    return [np.asarray(s) for s in res.spikes], np.asarray(res.output)


# ---- NIR graphs built by hand -------------------------------------------------------------


def vec(n: int, value: float) -> np.ndarray:
    return np.full(n, float(value))


def lif(
    n: int,
    tau_steps: float = 1.0,
    r: float | None = None,
    th: float = 0.5,
    v_leak: float = 0.0,
    v_reset: float = 0.0,
) -> nir.LIF:
    r = tau_steps if r is None else r
    return nir.LIF(
        tau=vec(n, tau_steps * DT),
        r=vec(n, r),
        v_leak=vec(n, v_leak),
        v_threshold=vec(n, th),
        v_reset=vec(n, v_reset),
    )


def li(n: int, tau_steps: float = 2.0, r: float | None = None, v_leak: float = 0.0) -> nir.LI:
    r = tau_steps if r is None else r
    return nir.LI(tau=vec(n, tau_steps * DT), r=vec(n, r), v_leak=vec(n, v_leak))


def graph(
    nodes: dict, edges: list, n_in: int, n_out: int, metadata: dict | None = None, type_check: bool = True
) -> nir.NIRGraph:
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        **nodes,
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=type_check)


def impulse(steps: int, n: int, t: int, channel: int | None = None, count: float = 1.0) -> np.ndarray:
    f = np.zeros((steps, n), dtype=np.float32)
    if channel is None:
        f[t, :] = count
    else:
        f[t, channel] = count
    return f


# ---- known answers --------------------------------------------------------------------------


def test_one_spike_through_delay_arrives_d_steps_later():
    delays = np.array([0, 2, 5, 13])
    g = graph(
        {"delay": nir.Delay(delays * DT), "lin": nir.Linear(np.eye(4)), "lif": lif(4)},
        [("input", "delay"), ("delay", "lin"), ("lin", "lif"), ("lif", "output")],
        4,
        4,
    )
    net = load_nir(g, dt=DT)
    assert np.array_equal(np.diag(net.layers[0].delay), delays)
    assert net.layers[0].neuron.tau == 1.0  # tau = dt -> one step
    frames = impulse(20, 4, t=3)
    spikes, _ = run(net, frames)
    times = [np.flatnonzero(spikes[0][:, j]).tolist() for j in range(4)]
    assert times == [[3 + d] for d in delays]


def test_two_branches_into_one_node_sum_with_their_own_delays():
    a = np.array([[0.25, 0.0, 0.5], [0.0, 0.0, 0.125]])
    b = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]])
    g = graph(
        {
            "lin_a": nir.Linear(a),
            "delay_b": nir.Delay(vec(3, 3 * DT)),
            "lin_b": nir.Linear(b),
            "li": li(2, tau_steps=1.0),
        },
        [
            ("input", "lin_a"),
            ("input", "delay_b"),
            ("delay_b", "lin_b"),
            ("lin_a", "li"),
            ("lin_b", "li"),
            ("li", "output"),
        ],
        3,
        2,
    )
    net = load_nir(g, dt=DT)
    layer = net.layers[0]
    assert np.array_equal(layer.weight, a + b)
    assert np.array_equal(layer.delay, np.where(b != 0, 3, 0))
    # tau = 1 step: the LI output is exactly this step's input current
    frames = np.zeros((8, 3), dtype=np.float32)
    frames[1] = [1, 2, 4]
    _, out = run(net, frames)
    want = np.zeros((8, 2))
    want[1] = a @ frames[1]
    want[4] = b @ frames[1]
    assert np.array_equal(out, want)


def test_same_synapse_same_delay_in_two_branches_is_summed():
    g = graph(
        {"l1": nir.Linear(np.array([[0.5]])), "l2": nir.Linear(np.array([[0.25]])), "li": li(1)},
        [("input", "l1"), ("input", "l2"), ("l1", "li"), ("l2", "li"), ("li", "output")],
        1,
        1,
    )
    assert load_nir(g, dt=DT).layers[0].weight[0, 0] == 0.75


def test_chained_delays_add_up_and_affine_bias_after_delay_is_kept():
    g = graph(
        {
            "d1": nir.Delay(np.array([2 * DT, 0.0])),
            "d2": nir.Delay(np.array([1 * DT, 4 * DT])),
            "aff": nir.Affine(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.125, -0.25])),
            "li": li(2, tau_steps=1.0),
        },
        [("input", "d1"), ("d1", "d2"), ("d2", "aff"), ("aff", "li"), ("li", "output")],
        2,
        2,
    )
    layer = load_nir(g, dt=DT).layers[0]
    assert np.array_equal(np.diag(layer.delay), [3, 4])
    assert np.array_equal(layer.bias, [0.125, -0.25])


def test_two_layer_chain_with_delays_matches_hand_computed_spike_times():
    # input 0 -> (delay 2) -> h0 -> (delay 3) -> out0; all weights 1, threshold 0.5, tau 1 step
    g = graph(
        {
            "d0": nir.Delay(vec(2, 2 * DT)),
            "w0": nir.Linear(np.eye(2)),
            "h": lif(2),
            "d1": nir.Delay(np.array([3 * DT, 0.0])),
            "w1": nir.Linear(np.eye(2)),
            "o": lif(2),
        },
        [("input", "d0"), ("d0", "w0"), ("w0", "h"), ("h", "d1"), ("d1", "w1"), ("w1", "o"), ("o", "output")],
        2,
        2,
    )
    net = load_nir(g, dt=DT)
    assert net.readout == "spike_count"
    spikes, out = run(net, impulse(12, 2, t=1))
    assert np.flatnonzero(spikes[0][:, 0]).tolist() == [3]
    assert np.flatnonzero(spikes[1][:, 0]).tolist() == [6]
    assert np.flatnonzero(spikes[1][:, 1]).tolist() == [3]


# ---- the two layouts convert writes, and lossless round trips --------------------------------


def _nir_neuron(layer, dt: float, real_units: bool):
    nrn = layer.neuron
    n = layer.n_out
    scale = layer.weight_scale if (layer.weight_scale is not None and real_units) else np.ones(n)
    tau = np.full(n, nrn.tau * dt)
    r = np.full(n, nrn.tau)  # r = tau/dt: input gain 1 (spikingjelly decay_input=False)
    v_reset = np.broadcast_to(np.asarray(nrn.v_reset, dtype=np.float64), (n,)) * scale
    if isinstance(nrn, LIF):
        th = np.broadcast_to(np.asarray(nrn.v_threshold, dtype=np.float64), (n,)) * scale
        return nir.LIF(tau=tau, r=r, v_leak=v_reset.copy(), v_threshold=th, v_reset=v_reset.copy())
    return nir.LI(tau=tau, r=r, v_leak=v_reset.copy())


def _metadata(net: Network, with_delay: bool, style: str) -> dict:
    """convert's style: one JSON string; 'groups': nested dicts and arrays (HDF5 groups)."""
    layers = []
    for layer in net.layers:
        entry = {
            "name": layer.name,
            "extend_steps": layer.extend_steps,
            "neuron": layer.neuron.to_dict(),
            "weight_dtype": str(layer.weight.dtype),
            "weight_scale": None if layer.weight_scale is None else layer.weight_scale.tolist(),
        }
        if with_delay:
            entry["delay"] = layer.delay.tolist()
        layers.append(entry)
    dk = {
        "format_version": 1,
        "dt": net.dt,
        "readout": net.readout,
        "input": net.input.to_dict(),
        "layers": layers,
        "provenance": net.provenance,
        "metadata": net.metadata,
    }
    if style == "json":
        return {"delaykit": json.dumps(dk)}
    # nir.write stores dicts as groups: no None, no key called "metadata", lists as arrays
    assert not net.metadata
    groups = {k: v for k, v in dk.items() if k not in ("layers", "metadata")}
    groups["layers"] = {}
    for i, entry in enumerate(layers):
        e = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in entry.items() if v is not None}
        e["neuron"] = json.dumps(entry["neuron"])
        groups["layers"][str(i)] = e
    return {"delaykit": groups}


def to_nir(
    net: Network,
    layout: str,
    *,
    metadata: bool = True,
    with_delay: bool = True,
    real_units: bool = True,
    style: str = "json",
) -> nir.NIRGraph:
    """A test-side exporter writing the two layouts of docs/design.md, "File formats"."""
    nodes: dict = {}
    edges: list = []
    prev = "input"
    for li_, layer in enumerate(net.layers):
        w = layer.real_weight() if real_units else layer.weight.astype(np.float64)
        scale = (
            layer.weight_scale if (layer.weight_scale is not None and real_units) else np.ones(layer.n_out)
        )
        bias = layer.bias.astype(np.float64) * scale
        neuron = f"n{li_}"
        nodes[neuron] = _nir_neuron(layer, net.dt, real_units)
        if layout == "branches":
            first = True
            for d in np.unique(layer.delay[layer.weight != 0]):
                dn, ln = f"d{li_}_{d}", f"w{li_}_{d}"
                nodes[dn] = nir.Delay(np.full(layer.n_in, d * net.dt))
                masked = np.where(layer.delay == d, w, 0.0)
                nodes[ln] = nir.Affine(masked, bias) if first else nir.Linear(masked)
                first = False
                edges += [(prev, dn), (dn, ln), (ln, neuron)]
        else:  # fan-out Linear -> element-wise Delay -> block Linear
            n_out, n_in = layer.weight.shape
            fan = np.zeros((n_out * n_in, n_in))
            fan[np.arange(n_out * n_in), np.tile(np.arange(n_in), n_out)] = 1.0
            block = np.zeros((n_out, n_out * n_in))
            block[np.repeat(np.arange(n_out), n_in), np.arange(n_out * n_in)] = w.reshape(-1)
            nodes[f"fan{li_}"] = nir.Linear(fan)
            nodes[f"del{li_}"] = nir.Delay(layer.delay.reshape(-1) * net.dt)
            nodes[f"blk{li_}"] = nir.Affine(block, bias)
            edges += [
                (prev, f"fan{li_}"),
                (f"fan{li_}", f"del{li_}"),
                (f"del{li_}", f"blk{li_}"),
                (f"blk{li_}", neuron),
            ]
        prev = neuron
    nodes = {
        "input": nir.Input(input_type={"input": np.array([net.layers[0].n_in])}),
        **nodes,
        "output": nir.Output(output_type={"output": np.array([net.layers[-1].n_out])}),
    }
    edges.append((prev, "output"))
    md = _metadata(net, with_delay, style) if metadata else {}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=md, type_check=True)


def assert_same_network(a: Network, b: Network, *, exact_delays: bool = True) -> None:
    assert a.dt == b.dt and a.readout == b.readout and a.input == b.input
    assert a.provenance == b.provenance and a.metadata == b.metadata
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.name == lb.name and la.extend_steps == lb.extend_steps
        assert la.weight.dtype == lb.weight.dtype
        assert np.array_equal(la.weight, lb.weight)
        assert np.array_equal(la.bias, lb.bias)
        if exact_delays:
            assert np.array_equal(la.delay, lb.delay)
        else:
            nz = la.weight != 0
            assert np.array_equal(la.delay[nz], lb.delay[nz])
        assert la.neuron.to_dict() == lb.neuron.to_dict()
        if la.weight_scale is None:
            assert lb.weight_scale is None
        else:
            assert np.array_equal(la.weight_scale, lb.weight_scale)


def _provenanced(net: Network) -> Network:
    return Network(
        layers=net.layers,
        dt=net.dt,
        input=net.input,
        readout=net.readout,
        provenance={"checkpoint_sha256": "ab" * 32, "options": {"bits": None}},
        metadata={"class_names": ["a", "b"], "metrics": {"test_acc_rounded": 91.5}},
    )


@pytest.mark.parametrize("layout, style", [("branches", "json"), ("fanout", "json"), ("fanout", "groups")])
@pytest.mark.parametrize("bits", [None, 8])
def test_round_trip_through_nir_file_is_lossless(tmp_path: Path, rng, layout, style, bits):
    net = random_network(rng, (12, 9, 5), max_delay=24, density=0.6, integer_bits=bits, extend_steps=12)
    if style == "json":
        net = _provenanced(net)
    path = tmp_path / f"{layout}.nir"
    nir.write(path, to_nir(net, layout, style=style))
    assert nir.read(path, type_check=True) is not None
    back = load_nir(path)
    assert_same_network(net, back)
    frames = random_frames(rng, 30, 12)
    s_a, o_a = run(net, frames)
    s_b, o_b = run(back, frames)
    assert all(np.array_equal(x, y) for x, y in zip(s_a, s_b, strict=True))
    assert np.array_equal(o_a, o_b)


def test_integer_layers_restore_from_graphs_in_integer_units(rng):
    net = random_network(rng, (10, 7, 4), max_delay=6, integer_bits=6)
    back = load_nir(to_nir(net, "branches", real_units=False))
    assert_same_network(net, back)


def test_fanout_layout_equals_branch_layout_without_metadata(rng):
    net = random_network(rng, (15, 11, 6), max_delay=20, density=0.7)
    a = load_nir(to_nir(net, "branches", metadata=False), dt=net.dt)
    b = load_nir(to_nir(net, "fanout", metadata=False), dt=net.dt)
    for la, lb, lo in zip(a.layers, b.layers, net.layers, strict=True):
        nz = lo.weight != 0
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.weight, lo.weight)
        assert np.array_equal(la.delay[nz], lo.delay[nz]) and np.array_equal(lb.delay[nz], lo.delay[nz])
        assert np.array_equal(la.bias, lo.bias) and np.array_equal(lb.bias, lo.bias)
        # without metadata only the graph speaks: tau = (tau_steps*dt)/dt, snapped to 1.005
        assert la.neuron.tau == lo.neuron.tau
    frames = random_frames(rng, 25, 15)
    s_o, o_o = run(net, frames)
    for imported in (a, b):
        s_i, o_i = run(imported, frames)
        assert all(np.array_equal(x, y) for x, y in zip(s_o, s_i, strict=True))
        assert np.array_equal(o_o, o_i)


def test_metadata_that_does_not_match_the_graph_is_an_error(rng):
    net = random_network(rng, (6, 5, 3), max_delay=4, integer_bits=8)
    g = to_nir(net, "branches")
    md = json.loads(g.metadata["delaykit"])
    md["layers"][0]["weight_scale"] = [s * 1.37 for s in md["layers"][0]["weight_scale"]]
    g.metadata["delaykit"] = json.dumps(md)
    with pytest.raises(DelaykitError, match="metadata"):
        load_nir(g)
    g = to_nir(net, "branches", style="groups")
    del g.metadata["delaykit"]["layers"]["1"]
    with pytest.raises(DelaykitError, match="describes 1 layers"):
        load_nir(g)


# ---- neuron mappings against a literal Euler integration of NIR's equations ------------------


def nir_euler(nodes: dict, order: list[str], frames: np.ndarray, dt: float) -> np.ndarray:
    """Forward-Euler run of a chain Input -> (Delay/Linear/Affine)* -> neuron -> ... written
    directly from NIR's equations (continuous params, seconds). Returns the last node's output."""
    x = np.asarray(frames, dtype=np.float64)
    T = x.shape[0]
    for name in order:
        node = nodes[name]
        kind = type(node).__name__
        if kind == "Delay":
            steps = np.round(node.delay / dt).astype(int)
            y = np.zeros_like(x)
            for k, d in enumerate(steps):
                y[d:, k] = x[: T - d, k]
            x = y
        elif kind == "Linear":
            x = x @ node.weight.T
        elif kind == "Affine":
            x = x @ node.weight.T + node.bias
        else:
            n = x.shape[1]
            # the membrane starts at the reset value (spikingjelly's and the contract's
            # convention; NIR does not say), at v_leak for LI and at 0 for I
            start = {"LIF": "v_reset", "IF": "v_reset", "CubaLIF": "v_reset", "LI": "v_leak"}.get(kind)
            v = np.array(getattr(node, start), dtype=np.float64) if start else np.zeros(n)
            i_syn = np.zeros(n)
            out = np.zeros_like(x)
            for t in range(T):
                if kind in ("LIF", "LI"):
                    v = v + dt / node.tau * (node.v_leak - v) + dt / node.tau * node.r * x[t]
                elif kind == "CubaLIF":
                    i_syn = i_syn + dt / node.tau_syn * (-i_syn + node.w_in * x[t])
                    v = v + dt / node.tau_mem * (node.v_leak - v) + dt / node.tau_mem * node.r * i_syn
                elif kind in ("IF", "I"):
                    v = v + dt * node.r * x[t]
                if kind in ("LIF", "IF", "CubaLIF"):
                    s = v >= node.v_threshold
                    v = np.where(s, node.v_reset, v)
                    out[t] = s
                else:
                    out[t] = v
            x = out
    return x


NEURON_CASES = {
    # r = tau/dt (gain 1), leak towards a v_leak different from v_reset
    "lif_r_tau": lambda n: lif(n, tau_steps=3.0, th=1.0, v_leak=0.25, v_reset=-0.125),
    # r = 1 (spikingjelly decay_input=True): gain 1/tau_steps
    "lif_r_1": lambda n: lif(n, tau_steps=2.0, r=1.0, th=0.75),
    "if": lambda n: nir.IF(r=vec(n, 1 / DT), v_threshold=vec(n, 1.5), v_reset=vec(n, 0.0)),
    "if_reset": lambda n: nir.IF(r=vec(n, 0.5 / DT), v_threshold=vec(n, 1.0), v_reset=vec(n, -0.5)),
    "cubalif": lambda n: nir.CubaLIF(
        tau_syn=vec(n, DT),
        tau_mem=vec(n, 4 * DT),
        r=vec(n, 4.0),
        v_leak=vec(n, 0.0),
        v_threshold=vec(n, 1.0),
        v_reset=vec(n, 0.0),
        w_in=vec(n, 1.5),
    ),
    # a current that outlasts one step (contract v3: LIF with tau_syn = 3 steps)
    "cubalif_slow": lambda n: nir.CubaLIF(
        tau_syn=vec(n, 3 * DT),
        tau_mem=vec(n, 4 * DT),
        r=vec(n, 4.0),
        v_leak=vec(n, 0.1),
        v_threshold=vec(n, 1.0),
        v_reset=vec(n, 0.0),
        w_in=vec(n, 2.5),
    ),
}


@pytest.mark.parametrize("case", sorted(NEURON_CASES))
def test_neuron_mapping_matches_euler_integration_of_nir_equations(rng, case):
    n_in, n_h, n_o = 6, 5, 3
    w0 = rng.normal(0, 0.8, (n_h, n_in))
    w1 = rng.normal(0, 0.8, (n_o, n_h))
    d0 = rng.integers(0, 5, n_in) * DT
    nodes = {
        "d0": nir.Delay(d0),
        "w0": nir.Affine(w0, rng.normal(0, 0.1, n_h)),
        "h": NEURON_CASES[case](n_h),
        "w1": nir.Linear(w1),
        "o": nir.LI(tau=vec(n_o, 2 * DT), r=vec(n_o, 1.0), v_leak=vec(n_o, 0.0)),
    }
    if case == "cubalif_slow":  # a bias into a lasting current is refused (its v_leak drives it)
        nodes["w0"] = nir.Linear(w0)
    order = ["d0", "w0", "h", "w1", "o"]
    g = graph(
        nodes,
        [("input", "d0"), ("d0", "w0"), ("w0", "h"), ("h", "w1"), ("w1", "o"), ("o", "output")],
        n_in,
        n_o,
    )
    net = load_nir(g, dt=DT)
    frames = random_frames(rng, 40, n_in, rate=0.4)
    want = nir_euler(nodes, order, frames, DT)
    spikes, got = run(net, frames)
    assert spikes[0].sum() > 0, "the test needs hidden spikes to mean anything"
    # Folding the input gain r*dt/tau into the weights reorders a few float operations:
    # agreement to 1e-9 of the trace scale (the traces are O(1), 40 steps, float64).
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_if_neuron_is_an_exact_integrator():
    g = graph(
        {
            "w": nir.Linear(np.array([[0.1], [0.3]])),
            "if": nir.IF(r=vec(2, 1 / DT), v_threshold=vec(2, 1e6), v_reset=vec(2, 0.0)),
            "w2": nir.Linear(np.eye(2)),
            "li": li(2, tau_steps=1.0),
        },
        [("input", "w"), ("w", "if"), ("if", "w2"), ("w2", "li"), ("li", "output")],
        1,
        2,
    )
    net = load_nir(g, dt=DT)
    layer = net.layers[0]
    assert layer.neuron.tau == NO_LEAK_TAU_STEPS
    # the leak term -v/2**64 vanishes: the membrane is bit for bit the running float sum
    v = np.zeros(2)
    for _ in range(1000):
        h = v + (0.0 - v) / layer.neuron.tau + layer.weight[:, 0] * 1.0
        assert np.array_equal(h, v + layer.weight[:, 0])
        v = h


def test_integrator_and_cubali_map_to_li():
    g = graph(
        {"w": nir.Linear(np.eye(2)), "i": nir.I(r=vec(2, 1 / DT))},
        [("input", "w"), ("w", "i"), ("i", "output")],
        2,
        2,
    )
    net = load_nir(g, dt=DT)
    assert isinstance(net.layers[0].neuron, LI) and net.layers[0].neuron.tau == NO_LEAK_TAU_STEPS
    _, out = run(net, np.ones((5, 2), dtype=np.float32))
    assert np.array_equal(out[:, 0], np.arange(1, 6))
    g = graph(
        {
            "w": nir.Linear(np.eye(2)),
            "c": nir.CubaLI(
                tau_syn=vec(2, DT),
                tau_mem=vec(2, 2 * DT),
                r=vec(2, 2.0),
                v_leak=vec(2, 0.0),
                w_in=vec(2, 1.0),
            ),
        },
        [("input", "w"), ("w", "c"), ("c", "output")],
        2,
        2,
    )
    net = load_nir(g, dt=DT)
    assert net.layers[0].neuron.tau == 2.0 and np.array_equal(net.layers[0].weight, np.eye(2))


def test_strict_threshold_follows_nir_text():
    g = graph(
        {"w": nir.Linear(np.array([[0.5]])), "lif": lif(1, th=0.5)},
        [("input", "w"), ("w", "lif"), ("lif", "output")],
        1,
        1,
    )
    frames = impulse(3, 1, t=1)
    assert run(load_nir(g, dt=DT), frames)[0][0][1, 0] == 1  # h >= th: fires on equality
    assert run(load_nir(g, dt=DT, strict_threshold=True), frames)[0][0].sum() == 0


def test_spikingjelly_exported_graph_imports_and_matches_spikingjelly():
    """An external exporter: spikingjelly writes the NIR, its own run is the answer."""
    torch = pytest.importorskip("torch")
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        layer.Linear(8, 6, bias=True),
        neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0),
        layer.Linear(6, 4, bias=False),
        neuron.LIFNode(tau=1.5, decay_input=True, v_threshold=0.5),
    ).double()
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    g = export_to_nir(model, torch.zeros(1, 8, dtype=torch.float64), dt=DT)
    net = load_nir(g, dt=DT)
    frames = random_frames(np.random.default_rng(3), 30, 8, rate=0.5)
    spikes, _ = run(net, frames)
    functional.reset_net(model)
    with torch.no_grad():
        ref = [model(torch.as_tensor(frames[t : t + 1], dtype=torch.float64)) for t in range(30)]
    ref = torch.cat(ref).numpy()
    assert sj is not None and spikes[1].sum() > 0
    assert np.array_equal(spikes[1], ref.astype(np.uint8))


# ---- what is rejected, and how -------------------------------------------------------------


def _simple(nodes_extra=None, edges=None, **kw):
    nodes = {"w": nir.Linear(np.eye(2)), "lif": lif(2)}
    nodes.update(nodes_extra or {})
    return graph(nodes, edges or [("input", "w"), ("w", "lif"), ("lif", "output")], 2, 2, **kw)


def test_dt_is_required_and_must_agree_with_metadata():
    with pytest.raises(DelaykitError, match="pass dt"):
        load_nir(_simple())
    g = _simple(metadata={"delaykit": {"format_version": 1, "dt": 0.001}})
    assert load_nir(g).dt == 0.001
    with pytest.raises(DelaykitError, match="metadata says dt=0.001"):
        load_nir(g, dt=0.01)
    g = _simple(metadata={"delaykit": {"format_version": 99, "dt": 0.001}})
    with pytest.raises(DelaykitError, match="format_version"):
        load_nir(g)


@pytest.mark.parametrize(
    "case, match",
    [
        ("off_grid_delay", "'dl'.*not a whole number of steps"),
        ("cycle", "cycle"),
        ("conv", "'conv'.*Conv1d is not supported"),
        ("skip", "several populations"),
        ("bias_into_delay", "'dl'.*constant bias"),
        ("two_delays_one_synapse", "two delays"),
        ("output_from_linear", "'output'.*neuron"),
        ("tau_below_dt", "'lif'.*shorter than one step"),
        ("tau_per_neuron", "'lif'.*one time constant per layer"),
        ("cuba_slow_current_bias", "'lif'.*Affine bias.*synaptic current"),
        ("threshold_below_reset", "'lif'.*v_threshold"),
        ("nested", "'sub'.*nested"),
        ("branching_chain", "several neuron populations"),
    ],
)
def test_unsupported_graphs_name_the_node_and_the_reason(case, match):
    eye = np.eye(2)
    if case == "off_grid_delay":
        g = _simple(
            {"dl": nir.Delay(vec(2, 0.015))}, [("input", "dl"), ("dl", "w"), ("w", "lif"), ("lif", "output")]
        )
    elif case == "cycle":
        g = graph(
            {"w": nir.Linear(eye), "lif": lif(2), "rec": nir.Linear(eye)},
            [("input", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
            2,
            2,
        )
    elif case == "conv":
        g = graph(
            {
                "conv": nir.Conv1d(
                    input_shape=2,
                    weight=np.ones((2, 2, 1)),
                    stride=1,
                    padding=0,
                    dilation=1,
                    groups=1,
                    bias=np.zeros(2),
                ),
                "lif": lif(2),
            },
            [("input", "conv"), ("conv", "lif"), ("lif", "output")],
            2,
            2,
            type_check=False,
        )
    elif case == "skip":
        g = graph(
            {"w": nir.Linear(eye), "h": lif(2), "w2": nir.Linear(eye), "skip": nir.Linear(eye), "o": lif(2)},
            [
                ("input", "w"),
                ("w", "h"),
                ("h", "w2"),
                ("w2", "o"),
                ("input", "skip"),
                ("skip", "o"),
                ("o", "output"),
            ],
            2,
            2,
        )
    elif case == "bias_into_delay":
        g = graph(
            {"a": nir.Affine(eye, np.array([0.5, 0.0])), "dl": nir.Delay(vec(2, 2 * DT)), "lif": lif(2)},
            [("input", "a"), ("a", "dl"), ("dl", "lif"), ("lif", "output")],
            2,
            2,
        )
    elif case == "two_delays_one_synapse":
        g = graph(
            {"w": nir.Linear(eye), "dl": nir.Delay(vec(2, 2 * DT)), "w2": nir.Linear(eye), "lif": lif(2)},
            [("input", "w"), ("input", "dl"), ("dl", "w2"), ("w", "lif"), ("w2", "lif"), ("lif", "output")],
            2,
            2,
        )
    elif case == "output_from_linear":
        g = graph(
            {"w": nir.Linear(eye), "lif": lif(2), "w2": nir.Linear(eye)},
            [("input", "w"), ("w", "lif"), ("lif", "w2"), ("w2", "output")],
            2,
            2,
        )
    elif case == "tau_below_dt":
        g = _simple(
            {"lif": nir.LIF(tau=vec(2, DT / 2), r=vec(2, 1.0), v_leak=vec(2, 0.0), v_threshold=vec(2, 1.0))}
        )
    elif case == "tau_per_neuron":
        g = _simple(
            {
                "lif": nir.LIF(
                    tau=np.array([DT, 2 * DT]), r=vec(2, 1.0), v_leak=vec(2, 0.0), v_threshold=vec(2, 1.0)
                )
            }
        )
    elif case == "cuba_slow_current_bias":
        g = _simple(
            {
                "w": nir.Affine(eye, np.array([0.5, 0.0])),
                "lif": nir.CubaLIF(
                    tau_syn=vec(2, 3 * DT),
                    tau_mem=vec(2, 2 * DT),
                    r=vec(2, 2.0),
                    v_leak=vec(2, 0.0),
                    v_threshold=vec(2, 1.0),
                ),
            }
        )
    elif case == "threshold_below_reset":
        g = _simple({"lif": lif(2, th=-1.0)})
    elif case == "nested":
        sub = graph(
            {"w": nir.Linear(eye), "lif": lif(2)}, [("input", "w"), ("w", "lif"), ("lif", "output")], 2, 2
        )
        g = graph(
            {"sub": sub, "w": nir.Linear(eye), "lif": lif(2)},
            [("input", "sub"), ("sub", "w"), ("w", "lif"), ("lif", "output")],
            2,
            2,
        )
    elif case == "branching_chain":
        g = graph(
            {"w": nir.Linear(eye), "a": lif(2), "w2": nir.Linear(eye), "b": lif(2)},
            [("input", "w"), ("w", "a"), ("input", "w2"), ("w2", "b"), ("b", "output")],
            2,
            2,
            type_check=False,
        )
    with pytest.raises(DelaykitError, match=match):
        load_nir(g, dt=DT)


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(DelaykitError, match="no such file"):
        load_nir(tmp_path / "nope.nir", dt=DT)
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(DelaykitError, match="not a readable NIR graph"):
        load_nir(bad, dt=DT)


@pytest.mark.parametrize("bits", [None, 8])
def test_convert_exporter_round_trips_through_file(tmp_path: Path, rng, bits):
    """The project's own exporter (delaykit/nir/export_nir.py) -> file -> load_nir."""
    nir_export = pytest.importorskip("delaykit.nir.export_nir")
    net = _provenanced(
        random_network(rng, (14, 10, 4), max_delay=24, density=0.5, integer_bits=bits, extend_steps=12)
    )
    path = tmp_path / "model.nir"
    nir_export.write_nir(net, path)
    back = load_nir(path)
    assert_same_network(net, back, exact_delays=False)
    frames = random_frames(rng, 30, 14)
    s_a, o_a = run(net, frames)
    s_b, o_b = run(back, frames)
    assert all(np.array_equal(x, y) for x, y in zip(s_a, s_b, strict=True))
    assert np.array_equal(o_a, o_b)
