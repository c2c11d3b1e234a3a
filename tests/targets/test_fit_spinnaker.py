"""SpiNNaker 1 as current sPyNNaker maps it: native delay = 2^(14 - n_bits(neurons per core) - 1)
ticks, total with delay extensions 9x that; 16-bit weight magnitudes; 256 neurons per core."""

from __future__ import annotations

import numpy as np
import pytest
from fit_nets import int_layer, net, one

from delaykit.hardware_targets import apply_overrides, check, check_report, load_target
from delaykit.hardware_targets.resources import estimate_resources

SP = load_target("spinnaker1")


def _delay_net(n_out: int, delay: int):
    d = np.zeros((n_out, 2), np.int64)
    d[0, 0] = delay
    return net(int_layer("a", np.ones((n_out, 2)), d))


def test_profile_numbers_follow_the_ring_buffer_model():
    assert (SP.delay_native_max_steps, SP.delay_max_steps, SP.neurons_per_core) == (31, 287, 256)
    assert SP.native_delay_ticks(256) == 32 and SP.native_delay_ticks(128) == 64
    assert SP.delay_limits_at(128) == (63, 575)
    # a smaller core size recomputes both limits
    assert apply_overrides(SP, {"neurons_per_core": "64"}).delay_max_steps == 9 * 128 - 1
    # setting a delay limit replaces the model with that number
    fixed = apply_overrides(SP, {"delay_max_steps": "100"})
    assert fixed.delay_max_steps == 100 and not fixed.delay_depends_on_core_size


@pytest.mark.parametrize("delay", [24, 31])
def test_delays_up_to_32_ticks_are_native_at_256_neurons_per_core(delay):
    report = check_report(_delay_net(256, delay), SP)
    assert report.fits and not report.notes
    assert estimate_resources(_delay_net(256, delay), SP).layers[0].delay_method == "native synapse"


def test_delay_of_33_ticks_needs_an_extension_or_fewer_neurons_per_core():
    report = check_report(_delay_net(256, 32), SP)
    assert report.fits
    assert any(
        "delay-extension" in n and "at most 128 neurons per core would keep them native" in n
        for n in report.notes
    )
    assert estimate_resources(_delay_net(256, 32), SP).layers[0].delay_method == "native+extension"


@pytest.mark.parametrize("delay", [144, 287])  # the old profile rejected 145..288 ticks
def test_delays_up_to_288_ticks_fit_with_extensions(delay):
    assert check(_delay_net(256, delay), SP) == []


def test_longer_delays_fit_with_fewer_neurons_per_core_and_the_mapping_says_so():
    report = check_report(_delay_net(256, 288), SP)  # 289 ticks: beyond 9 x 32 at 256 per core
    assert report.fits
    assert any("at most 128 neurons per core" in n and "the mapping uses 128" in n for n in report.notes)
    est = estimate_resources(_delay_net(256, 288), SP)
    assert est.layers[0].neurons_per_core == 128
    assert [a.neurons for a in est.assignments if not a.segments[0][0].endswith("delay-ext")] == [128, 128]


def test_a_small_population_gets_a_longer_native_range():
    # 20 neurons: n_bits(20) = 5 -> 2^(14 - 5 - 1) = 256 ticks native
    assert check_report(_delay_net(20, 255), SP).notes == []
    assert check_report(_delay_net(20, 256), SP).notes  # 257 ticks: extension


def test_delays_beyond_one_neuron_per_core_fail():
    _native, total = SP.delay_limits_at(1)
    assert total == 9 * 4096 - 1
    assert check(_delay_net(4, total), SP) == []
    v = one(check(_delay_net(4, total + 1), SP), "delay_max")
    assert (v.worst, v.allowed) == (total + 1, total)


@pytest.mark.parametrize("w,ok", [(65535, True), (-65535, True), (65537, False), (-65537, False)])
def test_weights_are_16_bit_magnitudes_with_the_sign_from_the_synapse_type(w, ok):
    vs = check(net(int_layer("a", [[w, 1]])), SP)
    assert ("weight_bits" not in {v.limit for v in vs}) == ok
    if not ok:
        v = one(vs, "weight_bits")
        assert (v.worst, v.allowed) == (17, 16) and "magnitude" in v.detail


@pytest.mark.parametrize("n,cores", [(256, 1), (257, 2)])
def test_256_neurons_per_core(n, cores):
    assert estimate_resources(net(int_layer("a", np.ones((n, 2)))), SP).cores == cores
