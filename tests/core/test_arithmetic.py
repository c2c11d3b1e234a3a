"""Arithmetic: constructors, target profiles, decay constants, overflow, parameter checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from netgen import random_network

from delaykit.arithmetic import (
    layer_constants,
    loihi_decay_constant,
    reduce_int,
    shift_decay_constant,
)
from delaykit.hardware_targets import load_target
from delaykit.network import LI, LIF, Layer
from delaykit.sim import Arithmetic


def test_float_constructors():
    a = Arithmetic.float64()
    assert (a.kind, a.layer_latency_steps, a.is_fixed, a.float_dtype) == ("float64", 0, False, np.float64)
    b = Arithmetic.float32(layer_latency_steps=2)
    assert (b.kind, b.layer_latency_steps, b.float_dtype) == ("float32", 2, np.float32)
    assert b.readout_offset(3) == 6


def test_for_target_reads_profile_fixed_point_and_latency():
    t = load_target("loihi2")
    a = Arithmetic.for_target(t)
    fp = t.fixed_point
    assert a.is_fixed and a.name == "fixed:loihi2"
    assert a.layer_latency_steps == t.layer_latency_steps == 1
    assert (a.weight_bits, a.membrane_bits, a.current_bits) == (
        fp["weight_bits"],
        fp["membrane_bits"],
        fp["current_bits"],
    )
    assert (a.threshold_shift, a.weight_shift, a.decay) == (
        fp["threshold_shift"],
        fp["weight_shift"],
        "loihi12",
    )
    assert a.membrane_overflow == fp["overflow"]
    assert a.current_overflow == fp.get("current_overflow", fp["overflow"])
    assert a.weight_exponent == t.weight_exponent
    # Lava's bit-accurate LIF spikes on v > vth << 6
    assert a.threshold_compare == "gt"
    assert Arithmetic.for_target(load_target("loihi2")) == a  # a name works too


def test_for_target_shift_decay_and_float_targets():
    x = Arithmetic.for_target(load_target("xylo"))
    assert x.decay == "shift" and x.threshold_compare == "ge"
    g = load_target("generic")
    a = Arithmetic.for_target(g)
    assert g.fixed_point is None and a.kind == "float64"
    assert a.layer_latency_steps == g.layer_latency_steps


class _FakeTarget:
    name = "fake"
    layer_latency_steps = 0
    weight_exponent = False

    def __init__(self, fp):
        self.fixed_point = fp


def test_for_target_rejects_unknown_and_bad_keys():
    with pytest.raises(ValueError, match="unknown keys"):
        Arithmetic.for_target(_FakeTarget({"decay": "none", "bogus": 1}))
    with pytest.raises(ValueError, match="decay"):
        Arithmetic.for_target(_FakeTarget({"decay": "exp"}))
    with pytest.raises(ValueError, match="overflow"):
        Arithmetic.for_target(_FakeTarget({"decay": "none", "overflow": "clip"}))
    a = Arithmetic.for_target(_FakeTarget({"decay": "loihi12", "threshold_compare": "ge"}))
    assert a.threshold_compare == "ge"


@pytest.mark.parametrize(
    "field,value",
    [
        ("membrane_bits", 1),
        ("current_bits", 64),
        ("weight_shift", -1),
        ("layer_latency_steps", -1),
        ("threshold_compare", "lt"),
    ],
)
def test_invalid_fields_raise(field, value):
    with pytest.raises(ValueError, match=field):
        Arithmetic(kind="fixed", **{field: value})


def test_float_modes_keep_contract_compare():
    with pytest.raises(ValueError, match="threshold_compare"):
        Arithmetic(kind="float64", threshold_compare="gt")


def test_decay_constant_mapping():
    # dv = round(4096 / tau), capped at 4095 (Loihi's 12-bit voltage decay cannot reach 4096)
    assert loihi_decay_constant(1.0) == 4095
    assert loihi_decay_constant(1.005) == round(4096 / 1.005) == 4076
    assert loihi_decay_constant(2.0) == 2048
    assert loihi_decay_constant(20.0) == round(4096 / 20)
    assert loihi_decay_constant(1e9) == 0
    # shift k = round(log2 tau)
    assert [shift_decay_constant(t) for t in (1.0, 1.005, 1.5, 2.0, 4.0, 5.0, 6.0, 64.0)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        6,
    ]
    with pytest.raises(ValueError, match="tau"):
        loihi_decay_constant(0.5)
    with pytest.raises(ValueError, match="tau"):
        shift_decay_constant(math.nan)


def test_loihi_decay_rounds_toward_zero():
    a = Arithmetic.fixed(decay="loihi12")
    x = np.array([-3, -1, 0, 1, 3, 1000, -1000])
    # tau = 2: keep 2048/4096; |x| halves, rounding toward zero (not floor: -1 -> 0, -3 -> -1)
    assert a.apply_decay(x, 2.0).tolist() == [-1, 0, 0, 0, 1, 500, -500]
    # tau = 1.005: keep 20/4096: 1000 * 20 / 4096 = 4.88 -> 4, and -4 for -1000
    assert a.apply_decay(np.array([1000, -1000]), 1.005).tolist() == [4, -4]


def test_shift_decay_rounds_toward_minus_infinity():
    a = Arithmetic.fixed(decay="shift")
    # tau = 4 -> k = 2: x - (x >> 2); -5 >> 2 = -2
    assert a.apply_decay(np.array([5, -5, 3, -3]), 4.0).tolist() == [4, -3, 3, -2]
    assert a.apply_decay(np.array([7, -7]), 1.0).tolist() == [0, 0]  # k = 0: full decay
    assert Arithmetic.fixed(decay="none").apply_decay(np.array([7, -7]), 3.0).tolist() == [7, -7]


def test_reduce_int_saturate_and_wrap_edges():
    x = np.array([-200, -128, -127, -1, 0, 126, 127, 128, 200])
    # saturation is symmetric, as Lava clips Loihi's membrane
    assert reduce_int(x, 8, "saturate").tolist() == [-127, -127, -127, -1, 0, 126, 127, 127, 127]
    assert reduce_int(x, 8, "wrap").tolist() == [56, -128, -127, -1, 0, 126, 127, -128, -56]
    assert reduce_int(x, None, "wrap").tolist() == x.tolist()
    big = np.array([2**40, -(2**40)])
    assert reduce_int(big, 24, "saturate").tolist() == [2**23 - 1, -(2**23 - 1)]
    assert reduce_int(big, 24, "wrap").tolist() == [0, 0]


def _int_layer(w, th=5, neuron=None):
    w = np.asarray(w, dtype=np.int32)
    return Layer(
        "l",
        w,
        np.zeros(w.shape, np.int32),
        neuron or LIF(tau=2.0, v_threshold=th),
        weight_scale=np.full(w.shape[0], 0.5),
    )


def test_layer_constants_fixed_shifts_and_scale():
    a = Arithmetic.fixed(weight_bits=8, threshold_shift=6, weight_shift=6)
    layer = Layer(
        "l",
        np.array([[3, -4]], np.int32),
        np.zeros((1, 2), np.int32),
        LIF(tau=2.0, v_threshold=7, v_reset=1),
        bias=np.array([2]),
        weight_scale=np.array([0.25]),
    )
    c = layer_constants(layer, a)
    assert c.threshold.tolist() == [7 << 6] and c.reset.tolist() == [1 << 6] and c.bias.tolist() == [2 << 6]
    assert c.decay_param == 4096 - 2048
    assert c.out_scale.tolist() == [0.25 / 64]


def test_layer_constants_rejects_unrepresentable_parameters(rng):
    a = Arithmetic.fixed(weight_bits=8)
    float_net = random_network(rng, (4, 3))
    with pytest.raises(ValueError, match="float weights cannot run in fixed-point"):
        layer_constants(float_net.layers[0], a)
    with pytest.raises(ValueError, match="do not fit 8-bit"):
        layer_constants(_int_layer([[128, 1]]), a)
    layer_constants(_int_layer([[-128, 127]]), a)  # the full signed range fits
    with pytest.raises(ValueError, match="neuron.v_threshold"):
        layer_constants(_int_layer([[1, 1]], th=2.5), a)


def test_weight_exponent_representability():
    a = Arithmetic.fixed(weight_bits=8, weight_exponent=True)
    layer_constants(_int_layer([[256, -508, 4]]), a)  # 127 * 2**2 covers 508; all multiples of 4
    with pytest.raises(ValueError, match="multiples of 2"):
        layer_constants(_int_layer([[257, 4]]), a)


def test_li_layer_constants():
    c = layer_constants(_int_layer([[1, 2]], neuron=LI(tau=3.0)), Arithmetic.float32())
    assert not c.spiking and c.threshold.dtype == np.float32 and c.out_scale.tolist() == [0.5]
