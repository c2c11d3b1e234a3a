"""Corrected limits of Loihi 2, Xylo and DYNAP-SE2: a network at each limit fits, one beyond fails."""

from __future__ import annotations

import numpy as np
import pytest
from fit_nets import int_layer, limits, net, one

from delaykit.hardware_targets import apply_overrides, check, check_report, load_target
from delaykit.hardware_targets.resources import estimate_resources

LOIHI = load_target("loihi2")
XYLO = load_target("xylo")
DYN = load_target("dynapse2")


# ---- Loihi 2 --------------------------------------------------------------------------------


@pytest.mark.parametrize("n_out,cores", [(100, 1), (101, 2)])
def test_loihi_per_core_synapses_from_the_netx_compiler_log(n_out, cores):
    # 100 neurons x 256 dense inputs = 25,600 synapses: what lava placed on one core
    layer = int_layer("a", np.ones((n_out, 256)))
    assert LOIHI.synapses_per_core == 25600
    assert estimate_resources(net(layer), LOIHI).cores == cores


def test_loihi_delays_stop_at_the_netx_cap_and_unknowns_are_listed():
    d = np.array([[62, 0]])
    report = check_report(net(int_layer("a", [[1, 1]], d)), LOIHI)
    assert report.fits and {"core.axons", "core.memory_bytes"} <= dict(report.not_checked).keys()
    v = one(check(net(int_layer("a", [[1, 1]], d + 1)), LOIHI), "delay_max")
    assert (v.worst, v.allowed) == (63, 62)
    assert "netx" in LOIHI.delay_hardware_range and "63" in LOIHI.delay_hardware_range


# ---- Xylo -----------------------------------------------------------------------------------


def _xylo(n_hidden: tuple[int, int], rec_fan_out: int, input_fan_out: int = 0):
    """16 inputs -> h0 -> h1 -> 8 outputs; every h0 neuron drives ``rec_fan_out`` h1 neurons."""
    h0, h1 = n_hidden
    w_in = np.ones((h0, 16), np.int64)
    w_rec = np.zeros((h1, h0), np.int64)
    for i in range(h0):
        w_rec[(np.arange(rec_fan_out) + i) % h1, i] = 1
    w_out = np.ones((8, h1), np.int64)
    return net(int_layer("in", w_in), int_layer("rec", w_rec), int_layer("out", w_out, readout=True))


def test_xylo_inputs_project_to_every_hidden_neuron():
    vs = check(_xylo((500, 500), 64), XYLO)  # W_in: each input drives 500 hidden neurons
    assert "fan_out" not in limits(vs) and "fan_out_avg" not in limits(vs)


@pytest.mark.parametrize("fan_out,ok", [(64, True), (65, False)])
def test_xylo_recurrent_fan_out(fan_out, ok):
    vs = check(_xylo((100, 100), fan_out), XYLO)
    assert ("fan_out" not in limits(vs)) == ok
    if not ok:
        v = one(vs, "fan_out")
        assert (v.layer, v.worst, v.allowed) == ("rec", 65, 64)
        assert "100 of them could be served by 100 spare neurons, 0 exceed 128" in v.detail


def test_xylo_fan_out_beyond_one_alias():
    v = one(check(_xylo((100, 200), 129), XYLO), "fan_out")
    assert "0 of them could be served" in v.detail and "100 exceed 128 even so" in v.detail


@pytest.mark.parametrize("hidden,ok", [((500, 500), True), ((501, 499), False)])
def test_xylo_average_recurrent_fan_out_budget(hidden, ok):
    # 500 x 64 = 32,000 recurrent weights = 32 x 1000: at the budget; 501 x 64 beyond it
    vs = check(_xylo(hidden, 64), XYLO)
    assert "fan_out" not in limits(vs)
    assert ("fan_out_avg" not in limits(vs)) == ok
    if not ok:
        v = one(vs, "fan_out_avg")
        assert (v.worst, v.allowed) == (501 * 64, 32000)


@pytest.mark.parametrize("threshold,ok", [(32767, True), (32768, False)])
def test_xylo_threshold_is_signed_16_bit(threshold, ok):
    vs = check(net(int_layer("a", np.ones((4, 16)), threshold=threshold)), XYLO)
    assert ("threshold_bits" not in limits(vs)) == ok
    if not ok:
        assert one(vs, "threshold_bits").allowed == 32767


def test_xylo_notes_the_bitshift_question():
    assert any("bitshift" in n for n in XYLO.section_notes["fixed_point"])


# ---- DYNAP-SE2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("levels,ok", [(15, True), (16, False)])
def test_dynapse_up_to_15_weight_levels_per_neuron(levels, ok):
    w = np.arange(1, levels + 1)[None, :] * np.array([[1], [-1]])  # same magnitudes, both signs
    vs = check(net(int_layer("a", w)), DYN)
    assert ("weight_levels" not in limits(vs)) == ok
    assert ("weight_levels_core" not in limits(vs)) == ok


def test_dynapse_weight_levels_are_shared_by_the_core():
    # two neurons with 15 magnitudes each, 16 together: each fits, their shared core does not
    w = np.array([np.arange(1, 16), np.arange(2, 17)])
    vs = check(net(int_layer("a", w)), DYN)
    assert "weight_levels" not in limits(vs)
    v = one(vs, "weight_levels_core")
    assert (v.count, v.worst, v.allowed) == (1, 16, 15)
    # on separate cores they fit
    apart = apply_overrides(DYN, {"neurons_per_core": "1"})
    assert "weight_levels_core" not in limits(check(net(int_layer("a", w)), apart))


@pytest.mark.parametrize("targets,ok", [(4, True), (5, False)])
def test_dynapse_four_destinations_per_neuron(targets, ok):
    # one core per chip and one neuron per core: each target neuron is its own destination chip
    t = apply_overrides(DYN, {"neurons_per_core": "1", "cores": "1"})
    hidden = int_layer("h", np.ones((1, 2)))
    post = int_layer("p", np.ones((targets, 1)))
    vs = check(net(hidden, post), t)
    assert ("destinations" not in limits(vs)) == ok
    if not ok:
        v = one(vs, "destinations")
        assert (v.layer, v.worst, v.allowed) == ("p", 5, 4)


def test_dynapse_cam_delay_flags_are_described():
    notes = " ".join(DYN.section_notes["delays"])
    assert "precise_delay" in notes and "mismatched_delay" in notes
