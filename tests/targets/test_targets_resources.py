"""hardware_targets.resources: memory and core counts on hand-computed cases; the SHD report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from delaykit.hardware_targets import load_target
from delaykit.hardware_targets.report import format_estimate
from delaykit.hardware_targets.resources import (
    delay_groups,
    estimate_resources,
    queue_worst_entries,
    relay_chain_lengths,
)
from delaykit.network import LI, LIF, InputSpec, Layer, Network


def _net(*layers: Layer) -> Network:
    n_in = layers[0].n_in
    return Network(
        layers=tuple(layers),
        dt=0.01,
        input=InputSpec(n_channels=n_in, window_steps=10, n_units=n_in, channel_group=1),
    )


def _int_layer(name, w, d, neuron=None):
    w = np.asarray(w, np.int8)
    n = w.shape[0]
    return Layer(
        name=name,
        weight=w,
        delay=np.asarray(d),
        weight_scale=np.ones(n),
        bias=np.zeros(n, np.int64),
        neuron=neuron or LIF(tau=1.005, v_threshold=10.0),
    )


def test_loihi_native_memory_by_hand():
    d = [[0, 1, 2, 5], [3, 3, 0, 1], [4, 0, 0, 0]]
    est = estimate_resources(_net(_int_layer("a", np.ones((3, 4)), d)), load_target("loihi2"))
    x = est.layers[0]
    assert (x.delay_method, x.weight_bits, x.delay_bits, x.max_delay) == ("native synapse", 8, 6, 5)
    # dense 12 x (8 + 6) = 168 bits = 21 B beats sparse 12 x (8 + 6 + 2) = 192 bits
    assert x.synapse_memory_bytes == 21
    # ring buffer: 3 neurons x (5 + 1) slots x 24-bit current = 432 bits = 54 B
    assert x.delay_buffer_bytes == 54
    assert est.cores == 1 and est.assignments[0].segments == (("a", 0, 3),)


def test_spinnaker_delay_extension_by_hand():
    # 2 neurons on a core: n_bits(2) = 1, native 2^(14 - 1 - 1) = 4096 ticks; use 300 neurons
    # per population instead (n_bits 9 -> 2^4 = 16 ticks native at 256 per core: 8 bits -> 32)
    d = np.zeros((300, 3), int)
    d[0] = [0, 40, 1]  # 40 steps = 41 ticks > 32 native ticks at 256 neurons per core
    est = estimate_resources(_net(_int_layer("a", np.ones((300, 3)), d)), load_target("spinnaker1"))
    x = est.layers[0]
    assert x.delay_method == "native+extension" and x.delay_bits == 5 and x.extension_cores == 1
    assert x.neurons_per_core == 256
    # 300 neurons x 32 native slots x 16 bits + 3 inputs x 1 stage x 32 extension tick bits
    assert x.delay_buffer_bytes == (300 * 32 * 16 + 3 * 32) // 8
    assert est.cores == 3 and est.assignments[-1].segments[0][0] == "a:delay-ext"


def test_per_axon_buffers_count_one_axon_per_distinct_delay():
    d = [[0, 1, 4], [2, 1, 4], [0, 1, 0]]  # distinct delays per input: {0,2}, {1}, {0,4}
    layer = _int_layer("a", np.ones((3, 3)), d)
    assert [g.tolist() for g in delay_groups(layer)] == [[0, 2], [1], [0, 4]]
    est = estimate_resources(_net(layer), load_target("truenorth"))
    x = est.layers[0]
    assert (x.delay_method, x.extra_axons) == ("native axon", 2)
    assert x.delay_buffer_bytes == math.ceil(5 * (4 + 1) / 8)  # 5 axons x 5 tick bits
    # each core's inputs are distinct (input, delay) pairs: neuron 0 needs (0,0),(1,1),(2,4)
    a0 = est.assignments[0]
    assert a0.inputs == 5 and a0.neurons == 3  # all three fit one 256-axon core


def test_relay_and_queue_costs_by_hand():
    l0 = _int_layer("a", np.ones((2, 2)), [[0, 3], [2, 0]])
    l1 = _int_layer("b", [[1, 1], [1, 0]], [[4, 0], [1, 7]], neuron=LI(tau=1.005))  # (1,1) weight 0
    net = _net(l0, l1)
    assert relay_chain_lengths(l1).tolist() == [4, 0]
    t = load_target("xylo")
    relay = estimate_resources(net, t, method="relay")
    assert relay.layers[0].host_input_taps == 4  # pairs (0,0), (0,2), (1,3), (1,0)
    assert (relay.layers[1].extra_neurons, relay.extra_neurons) == (4, 4)
    assert relay.layers[1].delay_buffer_bytes == 4 * (16 + 8) // 8  # membrane + copy weight per relay
    queue = estimate_resources(net, t, method="queue")
    # worst case entries: sum over inputs of their delays > 0: layer a: 2 + 3; layer b: 4 + 1
    assert queue_worst_entries(l0) == 5 and queue_worst_entries(l1) == 5
    entry_bits = 1 + 2  # input index of 2 inputs + delay index of 4 / 8 slots
    assert queue.layers[0].delay_buffer_bytes == math.ceil(5 * entry_bits / 8)
    assert queue.extra_neurons == 0
    none = estimate_resources(net, t, method="none")
    assert none.delay_buffer_bytes == 0 and none.layers[0].delay_method == "not realized"
    with pytest.raises(ValueError, match="unknown delay method"):
        estimate_resources(net, t, method="teleport")


def test_packing_respects_every_per_core_limit():
    net = _net(_int_layer("a", np.ones((5, 3)), np.zeros((5, 3), int)))
    by_neurons = estimate_resources(net, load_target("generic", {"neurons_per_core": "2"}))
    assert [a.neurons for a in by_neurons.assignments] == [2, 2, 1]
    by_syn = estimate_resources(net, load_target("generic", {"synapses_per_core": "7"}))
    assert [a.synapses for a in by_syn.assignments] == [6, 6, 3]
    alone = estimate_resources(net, load_target("generic", {"synapses_per_core": "2"}))
    assert len(alone.assignments) == 5 and all(a.over_limit for a in alone.assignments)
    assert alone.over_limit_cores == 5
    # axons: two neurons reading disjoint inputs do not fit a 2-axon core together
    w = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0]], np.int8)
    net2 = _net(_int_layer("a", w, np.zeros((3, 4), int)))
    ax = estimate_resources(net2, load_target("generic", {"axons_per_core": "2"}))
    assert [a.neurons for a in ax.assignments] == [1, 1, 1]
    ax3 = estimate_resources(net2, load_target("generic", {"axons_per_core": "4"}))
    assert [a.neurons for a in ax3.assignments] == [3] and ax3.assignments[0].inputs == 4


def test_layers_share_cores_and_json_roundtrip():
    net = _net(
        _int_layer("a", np.ones((3, 2)), np.zeros((3, 2), int)),
        _int_layer("b", np.ones((2, 3)), np.zeros((2, 3), int), neuron=LI(tau=1.005)),
    )
    est = estimate_resources(net, load_target("generic", {"neurons_per_core": "4"}))
    assert [a.segments for a in est.assignments] == [(("a", 0, 3), ("b", 0, 1)), (("b", 1, 2),)]
    d = json.loads(est.to_json())
    assert d["cores"] == 2 and d["neurons"] == 5 and len(d["assignments"]) == 2
    text = format_estimate(est)
    assert "a[0:3] + b[0:1]" in text and "mapping: 2 cores" in text
    no_map = estimate_resources(net, load_target("generic"))
    assert no_map.cores is None and "no core mapping" in format_estimate(no_map)


def test_shd_report_rows():
    from delaykit.hardware_targets.report import format_rows, reference_shd_network, shd_estimates

    net = reference_shd_network()
    assert [lay.weight.shape for lay in net.layers] == [(256, 140), (256, 256), (20, 256)]
    assert net.max_delay == 24 and all(lay.extend_steps == 12 for lay in net.layers)
    rows = {(r["target"], r["delays"]): r for r in shd_estimates(net)}
    lo = rows[("loihi2", "native synapse")]
    assert lo["fits_as_is"] and lo["cores"] >= 1 and lo["extra_neurons"] == 0
    assert rows[("spinnaker1", "native synapse")]["fits_as_is"]  # 25 ticks <= 32 native
    tn = rows[("truenorth", "native axon")]
    assert not tn["fits_as_is"] and {"delay_max", "delay_per_axon"} <= set(tn["blocking"])
    xr = rows[("xylo", "relay")]
    relays = int(relay_chain_lengths(net.layers[1]).sum() + relay_chain_lengths(net.layers[2]).sum())
    assert xr["extra_neurons"] == relays and not xr["fits_realized"]
    assert rows[("seneca", "queue")]["fits_realized"]
    table = format_rows(list(rows.values()))
    assert table.count("\n") == len(rows) + 1 and "| loihi2 |" in table
