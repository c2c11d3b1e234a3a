"""The deployed-network contract: validation, round trips, clear errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netgen import random_network

from delaykit.errors import DelaykitError, FormatError
from delaykit.network import LI, LIF, InputSpec, Layer, Network, load_network, network_summary


def _assert_same(a: Network, b: Network) -> None:
    assert a.dt == b.dt and a.readout == b.readout and a.input == b.input
    assert a.provenance == b.provenance and a.metadata == b.metadata
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        assert x.name == y.name and x.extend_steps == y.extend_steps
        assert x.weight.dtype == y.weight.dtype
        np.testing.assert_array_equal(x.weight, y.weight)
        np.testing.assert_array_equal(x.delay, y.delay)
        np.testing.assert_array_equal(x.bias, y.bias)
        if x.weight_scale is None:
            assert y.weight_scale is None
        else:
            np.testing.assert_array_equal(x.weight_scale, y.weight_scale)
        assert x.neuron.to_dict() == y.neuron.to_dict()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**31),
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=5),
    max_delay=st.integers(0, 300),
    density=st.floats(0.0, 1.0),
    bits=st.sampled_from([None, 4, 8, 16]),
    spiking_last=st.booleans(),
    extend=st.integers(0, 15),
)
def test_round_trip_random_networks(tmp_path, seed, sizes, max_delay, density, bits, spiking_last, extend):
    rng = np.random.default_rng(seed)
    net = random_network(
        rng,
        tuple(sizes),
        max_delay=max_delay,
        density=density,
        integer_bits=bits,
        spiking_last=spiking_last,
        extend_steps=extend,
    )
    net = Network(
        layers=net.layers,
        dt=net.dt,
        input=net.input,
        readout=net.readout,
        provenance={"source": "test", "seed": seed},
        metadata={"metrics": {"acc": 1.5}},
    )
    path = tmp_path / f"n{seed}.dkn"
    net.save(path)
    _assert_same(net, load_network(path))


def _layer(**kw):
    base = dict(name="l0", weight=np.ones((3, 2)), delay=np.zeros((3, 2), int), neuron=LIF(tau=2.0))
    base.update(kw)
    return Layer(**base)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(weight=np.ones(3)), "field 'weight': must be a non-empty 2-D"),
        (dict(weight=np.ones((3, 2), dtype=np.complex64)), "field 'weight': dtype"),
        (dict(weight=np.array([[np.nan, 1], [1, 1], [1, 1]])), "field 'weight': contains NaN"),
        (dict(delay=np.zeros((2, 3), int)), "field 'delay': shape (2, 3) differs"),
        (dict(delay=-np.ones((3, 2), int)), "field 'delay': negative delay -1"),
        (dict(delay=np.full((3, 2), 0.5)), "field 'delay': must hold integers"),
        (dict(bias=np.zeros(2)), "field 'bias': must have shape (3,)"),
        (dict(weight=np.ones((3, 2), np.int8)), "field 'weight_scale': is required"),
        (dict(weight_scale=np.ones(3)), "field 'weight_scale': must be None for float"),
        (dict(weight=np.ones((3, 2), np.int8), weight_scale=-np.ones(3)), "must be finite and > 0"),
        (
            dict(weight=np.ones((3, 2), np.int8), weight_scale=1.0, bias=np.zeros(3)),
            "field 'bias': must be integer",
        ),
        (dict(neuron=LIF(tau=0.5)), "field 'neuron.tau'"),
        (
            dict(neuron=LIF(tau=2.0, v_threshold=np.ones(2))),
            "field 'neuron.v_threshold': must be a scalar or have shape (3,)",
        ),
        (dict(neuron=LIF(tau=2.0, v_threshold=0.0)), "greater than v_reset"),
        (dict(neuron="lif"), "field 'neuron': must be LIF or LI"),
        (dict(extend_steps=-1), "field 'extend_steps'"),
        (dict(name=""), "field 'name'"),
    ],
)
def test_invalid_layer_fields_are_named(kw, message):
    with pytest.raises(ValueError) as e:
        _layer(**kw)
    assert message in str(e.value)


def test_network_level_validation():
    inp = InputSpec(n_channels=2, window_steps=5, n_units=2, channel_group=1)
    l0 = _layer()
    with pytest.raises(ValueError, match="has 4 inputs but layer 'l0' has 3 neurons"):
        Network(
            layers=(l0, _layer(name="l1", weight=np.ones((2, 4)), delay=np.zeros((2, 4), int))),
            dt=0.01,
            input=inp,
        )
    with pytest.raises(ValueError, match="input spec has 5 channels"):
        Network(
            layers=(l0,), dt=0.01, input=InputSpec(n_channels=5, window_steps=5, n_units=5, channel_group=1)
        )
    with pytest.raises(ValueError, match="hidden layers must be spiking"):
        Network(
            layers=(
                _layer(neuron=LI(tau=2.0)),
                _layer(name="l1", weight=np.ones((2, 3)), delay=np.zeros((2, 3), int)),
            ),
            dt=0.01,
            input=inp,
        )
    with pytest.raises(ValueError, match="field 'dt'"):
        Network(layers=(l0,), dt=0.0, input=inp)
    with pytest.raises(ValueError, match="field 'readout'"):
        Network(layers=(l0,), dt=0.01, input=inp, readout="vote")
    with pytest.raises(ValueError, match="'spike_count' needs a spiking"):
        Network(layers=(_layer(neuron=LI(tau=2.0)),), dt=0.01, input=inp, readout="spike_count")
    with pytest.raises(ValueError, match="layer names must be unique"):
        Network(layers=(l0, _layer(weight=np.ones((2, 3)), delay=np.zeros((2, 3), int))), dt=0.01, input=inp)
    with pytest.raises(ValueError, match="field 'provenance': must be JSON"):
        Network(layers=(l0,), dt=0.01, input=inp, provenance={"x": object()})
    with pytest.raises(ValueError, match="field 'n_channels'"):
        InputSpec(n_channels=139, window_steps=10)


def test_summary_counts_and_histogram():
    w = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    d = np.array([[0, 5, 2], [1, 1, 2]])
    net = Network(
        layers=(Layer("a", w, d, LI(tau=1.0)),),
        dt=0.01,
        input=InputSpec(n_channels=3, window_steps=4, n_units=3, channel_group=1),
    )
    s = network_summary(net)
    assert s["synapses"] == 3
    assert s["max_delay_steps"] == 2  # the delay-5 synapse has weight 0
    assert s["layers"][0]["delay_histogram"] == [1, 0, 2]
    assert s["layers"][0]["sparsity"] == pytest.approx(0.5)
    assert net.output_steps() == 4


def test_load_errors_are_clear(tmp_path, rng):
    net = random_network(rng)
    good = tmp_path / "good.dkn"
    net.save(good)

    with pytest.raises(DelaykitError, match="no such file"):
        load_network(tmp_path / "missing.dkn")

    truncated = tmp_path / "truncated.dkn"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FormatError, match="truncated"):
        load_network(truncated)

    text = tmp_path / "notes.dkn"
    text.write_text("hello")
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        load_network(text)

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("labels", data=[1, 2])
    with pytest.raises(FormatError, match="not a delaykit network file"):
        load_network(other)

    future = tmp_path / "future.dkn"
    future.write_bytes(good.read_bytes())
    with h5py.File(future, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FormatError, match="format_version 99 is not supported"):
        load_network(future)

    missing = tmp_path / "missing_field.dkn"
    missing.write_bytes(good.read_bytes())
    with h5py.File(missing, "a") as f:
        del f["layers/001/delay"]
    with pytest.raises(FormatError, match="missing field"):
        load_network(missing)

    bad = tmp_path / "bad_value.dkn"
    bad.write_bytes(good.read_bytes())
    with h5py.File(bad, "a") as f:
        f.attrs["dt"] = -1.0
    with pytest.raises(FormatError, match="field 'dt'"):
        load_network(bad)


def test_save_is_atomic(tmp_path, rng, monkeypatch):
    net = random_network(rng)
    path = tmp_path / "n.dkn"
    net.save(path)
    before = path.read_bytes()
    import delaykit.network.io as dkn_io

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(dkn_io, "_compact_delay", boom)
    with pytest.raises(RuntimeError):
        net.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["n.dkn"]
