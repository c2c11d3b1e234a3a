"""Delay networks mapped onto Xylo (relay chains in the recurrent core), checked spike for spike.

delaykit's fixed-point arithmetic cannot model Xylo's decay (docs/xylo.md), so the reference is
``run_xylo_mode``: the contract network read in Xylo arithmetic, delays as plain delays, no
relays, no hop latency. The mapped ``XyloSpec`` runs in ``xylo_core`` (bit-exact with xylosim)
and, for a subset, in xylosim itself; every hidden layer's events and every readout event and
membrane must agree after the per-layer time shift.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from xylo_nets import random_counts, random_xylo_net

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_check import SETUP_HINT, find_xylo_python, run_xylosim
from delaykit.hardware_targets.xylo_core import XyloRecord, evolve
from delaykit.hardware_targets.xylo_map import XyloMapping, map_to_xylo, plan_xylo
from delaykit.hardware_targets.xylo_reference import XyloModeRecord, run_xylo_mode
from delaykit.network import LIF, InputSpec, Layer, Network

XYLO = find_xylo_python()
needs_xylosim = pytest.mark.skipif(XYLO is None, reason=f"xylosim not found: {SETUP_HINT}")
N_NETS, N_XYLOSIM = 120, 30


def padded(m: XyloMapping, x: np.ndarray) -> np.ndarray:
    """The input followed by ``latency`` silent steps, so the readout's last step is recorded."""
    return np.concatenate([x, np.zeros((m.plan.latency, x.shape[1]), np.int64)])


def mismatches(m: XyloMapping, rec: XyloRecord, ref: XyloModeRecord) -> list[str]:
    """Where the mapped spec's run differs from the reference (layer l shifted by l steps)."""
    steps, lat, bad = ref.spikes_out.shape[0], m.plan.latency, []
    for k, idx in enumerate(m.layer_index):
        if not np.array_equal(rec.spikes[k : k + steps][:, idx], ref.spikes[k]):
            bad.append(f"hidden layer {k} events")
    if not np.array_equal(rec.spikes_out[lat : lat + steps], ref.spikes_out):
        bad.append("readout events")
    if not np.array_equal(rec.v_mem_out[lat : lat + steps], ref.v_mem_out):
        bad.append("readout membranes")
    return bad


def cases(n: int):
    for seed in range(n):
        net = random_xylo_net(seed)
        x = random_counts(seed, net.layers[0].n_in)
        yield seed, net, map_to_xylo(net), x, run_xylo_mode(net, x)


def test_mapped_delay_networks_match_the_xylo_mode_reference():
    totals = {"relays": 0, "events": 0, "multi": 0, "readout_events": 0}
    for seed, _net, m, x, ref in cases(N_NETS):
        assert ref.risky == 0, f"seed {seed}: a partial sum could saturate (order-dependent)"
        assert mismatches(m, evolve(m.spec, padded(m, x)), ref) == [], f"seed {seed}"
        totals["relays"] += m.plan.n_relays
        totals["events"] += sum(int(s.sum()) for s in ref.spikes)
        totals["multi"] += sum(int((s > 1).sum()) for s in ref.spikes)
        totals["readout_events"] += int(ref.spikes_out.sum())
    # the networks exercise what they should: relays, many events, several events per step
    assert totals["relays"] > 2000 and totals["events"] > 10_000 and totals["multi"] > 100
    assert totals["readout_events"] > 100


@needs_xylosim
def test_mapped_delay_networks_in_xylosim():
    chosen = list(cases(N_XYLOSIM))
    theirs = run_xylosim([(m.spec, padded(m, x)) for _, _, m, x, _ in chosen], python=XYLO)
    for (seed, _net, m, _x, ref), rec in zip(chosen, theirs):
        assert mismatches(m, rec, ref) == [], f"seed {seed} (xylosim)"


def test_a_delay_becomes_a_relay_chain_with_its_tap():
    w = np.array([[0, 5], [7, 0]], np.int8)
    d = np.array([[0, 3], [2, 0]])
    nrn = LIF(tau=2.0, v_threshold=10.0, tau_syn=2.0, reset="subtract")
    h = Layer("h", np.array([[9], [9]], np.int8), np.array([[0], [1]]), nrn, weight_scale=1.0)
    o = Layer("o", w, d, nrn, weight_scale=1.0)
    net = Network((h, o), dt=1e-3, input=InputSpec(1, 10, n_units=1, channel_group=1))
    plan = plan_xylo(net)
    assert (plan.n_main, plan.n_relays, plan.latency) == (2, 1 + 2 + 3, 1)


def base_net(**neuron) -> Network:
    nrn = LIF(**{"tau": 4.0, "v_threshold": 10.0, "tau_syn": 2.0, "reset": "subtract", **neuron})
    h = Layer("hidden", np.ones((2, 1), np.int8), np.zeros((2, 1)), nrn, weight_scale=1.0)
    o = Layer("out", np.ones((1, 2), np.int8), np.zeros((1, 2)), nrn, weight_scale=1.0)
    return Network((h, o), dt=1e-3, input=InputSpec(1, 10, n_units=1, channel_group=1))


@pytest.mark.parametrize(
    "neuron, match",
    [
        ({"tau": 3.0}, r"layer 'hidden', field neuron.tau: 3.0 is not a power of two"),
        ({"tau_syn": None}, r"field neuron.tau_syn: None"),
        ({"tau_syn": 1.0}, r"field neuron.tau_syn: 1.0 is not a power of two in 2\*\*1"),
        ({"reset": "value"}, r"field neuron.reset: 'value'"),
        ({"leak": "exact"}, r"field neuron.leak"),
        ({"v_threshold": 10.5}, r"field neuron.v_threshold"),
        ({"v_reset": -1.0, "v_threshold": 4.0}, r"field neuron.v_reset"),
    ],
)
def test_what_xylo_cannot_express_is_refused_naming_layer_and_field(neuron, match):
    with pytest.raises(DelaykitError, match=match):
        map_to_xylo(base_net(**neuron))


def test_float_weights_and_too_many_inputs_are_refused():
    net = base_net()
    h = net.layers[0]
    floaty = replace(h, weight=np.ones((2, 1)), weight_scale=None)
    with pytest.raises(DelaykitError, match=r"layer 'hidden', field weight: float weights"):
        map_to_xylo(replace(net, layers=(floaty, net.layers[1])))
    wide = replace(h, weight=np.ones((2, 20), np.int8), delay=np.zeros((2, 20)))
    inp = InputSpec(20, 10, n_units=20, channel_group=1)
    with pytest.raises(DelaykitError, match=r"20 input channels: 4 more than Xylo's 16"):
        map_to_xylo(replace(net, layers=(wide, net.layers[1]), input=inp))


def test_connectivity_only_plan_counts_what_the_mapping_builds():
    for seed in range(5):
        net = random_xylo_net(seed)
        full, shape = plan_xylo(net), plan_xylo(net, neurons=False)
        assert (full.n_relays, full.rec_connections, full.max_fan_out) == (
            shape.n_relays,
            shape.rec_connections,
            shape.max_fan_out,
        )
    floaty = base_net()
    h = replace(floaty.layers[0], weight=np.ones((2, 1)), weight_scale=None, delay=np.array([[3], [1]]))
    plan = plan_xylo(replace(floaty, layers=(h, floaty.layers[1])), neurons=False)
    assert plan.n_relays == 3 and plan.problems == ()


def test_xylo_mode_of_a_batch_equals_each_sample_alone():
    from delaykit.hardware_targets.xylo_reference import run_xylo_mode_batch

    for seed in range(12):
        net = random_xylo_net(seed)
        xs = np.stack([random_counts(100 * seed + k, net.layers[0].n_in) for k in range(4)])
        for x, rec in zip(xs, run_xylo_mode_batch(net, xs)):
            one = run_xylo_mode(net, x)
            assert rec.risky == one.risky
            assert all(np.array_equal(a, b) for a, b in zip(rec.spikes, one.spikes, strict=True))
            assert np.array_equal(rec.spikes_out, one.spikes_out) and np.array_equal(
                rec.v_mem_out, one.v_mem_out
            )


def test_targets_check_on_xylo_counts_relays_instead_of_refusing_delays():
    from delaykit.hardware_targets import load_target
    from delaykit.hardware_targets.check import check_report

    nrn = LIF(tau=2.0, v_threshold=50.0, tau_syn=2.0, reset="subtract")
    rng = np.random.default_rng(0)

    def net(max_delay: int) -> Network:
        layers = tuple(
            Layer(
                name,
                rng.integers(-9, 10, shape).astype(np.int8),
                np.full(shape, max_delay),
                nrn,
                weight_scale=1.0,
            )
            for name, shape in (("h", (40, 16)), ("o", (8, 40)))
        )
        return Network(layers, dt=1e-2, input=InputSpec(16, 30, n_units=16, channel_group=1))

    small = check_report(net(3), load_target("xylo"))
    assert small.fits and any("40 network + 168 delay relays" in n for n in small.notes)
    big = check_report(net(20), load_target("xylo"))  # (16 + 40) x 20 = 1120 relays
    (v,) = big.violations
    assert (v.limit, v.worst, v.allowed) == ("neurons", 40 + 1120, 1000) and "delay relays" in v.detail
