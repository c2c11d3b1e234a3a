"""Contract format v2: relay neurons (``Layer.relay_src``) and input taps (``InputSpec.taps``).

Validation names the layer and field; files that use neither stay version 1; v2 files round
trip; a version-1 reader refuses them with the existing "not supported" error.
"""

from __future__ import annotations

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
from netgen import random_network, with_relays

import delaykit.network.io as dkn_io
from delaykit.errors import FormatError
from delaykit.network import (
    LI,
    LIF,
    InputSpec,
    Layer,
    Network,
    RelayNotSupported,
    apply_input_taps,
    format_summary,
    format_version,
    load_network,
    network_summary,
    relay_roots,
    require_no_relays,
)


def _lif(n_out, n_in, relay_src=None, name="h"):
    return Layer(
        name, np.ones((n_out, n_in)), np.zeros((n_out, n_in), int), LIF(tau=1.0), relay_src=relay_src
    )


def _li(n_out, n_in, name="o"):
    return Layer(name, np.ones((n_out, n_in)), np.zeros((n_out, n_in), int), LI(tau=1.0))


def test_relay_roots_follow_chains_in_any_order():
    # 2 main neurons; relays: 0 <- relay 2, 1 <- main 1, 2 <- relay 3, 3 <- main 0
    layer = _lif(2, 3, relay_src=np.array([4, 1, 5, 0]))
    root, lag = relay_roots(layer)
    assert root.tolist() == [0, 1, 0, 0] and lag.tolist() == [3, 1, 2, 1]
    assert layer.n_relay == 4 and layer.n_outputs == 6
    assert _lif(2, 3).n_relay == 0 and _lif(2, 3).relay_src.dtype == np.int64


@pytest.mark.parametrize(
    "src,match",
    [
        ([0, 7], "relay 1 copies index 7, outside the layer's output"),
        ([-1], "outside"),
        ([2], "relay 0 .* copies itself"),
        ([3, 2], "cycle"),
        ([0.0], "integer indices"),
        ([[0, 1]], "1-D"),
    ],
)
def test_bad_relay_src_is_rejected_naming_layer_and_field(src, match):
    with pytest.raises(ValueError, match=r"layer 'h': field 'relay_src'") as e:
        _lif(2, 3, relay_src=np.array(src))
    assert e.match(match)


def test_network_level_relay_and_tap_rules():
    inp = InputSpec(3, 5, 3, 1)
    hidden = _lif(2, 3, relay_src=np.array([0, 2]))
    with pytest.raises(
        ValueError,
        match=r"layer 'o': field 'weight': has 2 inputs but layer 'h' has 2 neurons "
        r"\+ 2 relays",
    ):
        Network((hidden, _li(1, 2)), 0.01, inp)
    with pytest.raises(ValueError, match="the last layer cannot have relays"):
        Network((hidden,), 0.01, inp)
    with pytest.raises(ValueError, match="non-spiking .LI. layer cannot have relays"):
        Layer("o", np.ones((1, 3)), np.zeros((1, 3), int), LI(tau=1.0), relay_src=np.array([0]))
    with pytest.raises(ValueError, match=r"input spec has 3 channels \+ 1 input taps"):
        Network((_li(1, 3),), 0.01, replace(inp, taps=((0, 1),)))
    for taps, match in ((((3, 1),), "reads channel 3"), (((0, 0),), "lag 0"), ([[0, 1, 2]], "pairs")):
        with pytest.raises(ValueError, match=rf"input: field 'taps': .*{match}"):
            InputSpec(3, 5, 3, 1, taps=taps)
    ok = Network(
        (_lif(2, 4, relay_src=np.array([0, 2])), _li(1, 4)), 0.01, replace(inp, taps=np.array([[2, 4]]))
    )
    assert ok.input.taps == ((2, 4),) and ok.input.n_inputs == 4 and format_version(ok) == 2
    assert InputSpec(3, 5, 3, 1) == InputSpec(3, 5, 3, 1, taps=[])  # no taps: equal, hashable
    hash(ok.input)


def test_apply_input_taps_by_hand():
    frames = np.array([[1, 2], [3, 4], [5, 6]])
    x = apply_input_taps(frames, ((1, 1), (0, 3)), 5)
    assert x.tolist() == [[1, 2, 0, 0], [3, 4, 2, 0], [5, 6, 4, 0], [0, 0, 6, 1], [0, 0, 0, 3]]


def test_files_without_relays_stay_version_1(tmp_path, rng):
    net = random_network(rng, (6, 5, 3))
    p = tmp_path / "plain.dkn"
    net.save(p)
    with h5py.File(p, "r") as f:
        assert int(f.attrs["format_version"]) == 1
        assert "taps" not in json.loads(f.attrs["input"])
        assert all("relay_src" not in f[f"layers/{k}"] for k in f["layers"])
    assert format_version(net) == 1 and network_summary(net)["format_version"] == 1


def test_relay_network_round_trip_and_summary(tmp_path, rng):
    net = with_relays(rng, random_network(rng, (6, 7, 5, 3), integer_bits=8), relays_per_layer=5, n_taps=3)
    p = tmp_path / "relays.dkn"
    net.save(p)
    with h5py.File(p, "r") as f:
        assert int(f.attrs["format_version"]) == 2
    back = load_network(p)
    assert back.input == net.input and back.input.n_taps == 3
    for a, b in zip(back.layers, net.layers, strict=True):
        assert np.array_equal(a.relay_src, b.relay_src) and np.array_equal(a.weight, b.weight)
        assert np.array_equal(a.delay, b.delay)
    s = network_summary(back)
    assert s["format_version"] == 2 and s["relay_neurons"] == 10 and s["input_taps"] == 3
    assert [x["relays"] for x in s["layers"]] == [5, 5, 0]
    assert "relay neurons: 10" in format_summary(back) and "host input taps: 3" in format_summary(back)


def test_version_1_reader_refuses_version_2_files(tmp_path, rng, monkeypatch):
    net = with_relays(rng, random_network(rng, (4, 5, 2)), relays_per_layer=2, n_taps=1)
    p = tmp_path / "v2.dkn"
    net.save(p)
    monkeypatch.setattr(dkn_io, "SUPPORTED_FORMAT_VERSIONS", (1,))  # what an older delaykit accepts
    with pytest.raises(FormatError, match="format_version 2 is not supported"):
        load_network(p)
    monkeypatch.undo()
    with h5py.File(p, "a") as f:  # a file that claims v1 but holds relays is damaged
        f.attrs["format_version"] = 1
    with pytest.raises(FormatError, match="holds relay neurons or input taps, which need version 2"):
        load_network(p)


def test_require_no_relays_names_layer_and_field(rng):
    base = random_network(rng, (4, 5, 2))
    require_no_relays(base, "X")  # a plain network passes
    taps_only = with_relays(rng, base, relays_per_layer=0, n_taps=2)
    with pytest.raises(
        RelayNotSupported, match=r"input: field 'taps': X cannot represent host-side input taps"
    ):
        require_no_relays(taps_only, "X")
    relays_only = with_relays(rng, base, relays_per_layer=3, n_taps=0)
    with pytest.raises(
        ValueError,
        match=r"layer 'fc0': field 'relay_src': X cannot represent relay neurons "
        r"\(3 relays\)",
    ):
        require_no_relays(relays_only, "X")
