"""Exporters that cannot represent relay neurons or input taps (format v2) refuse them, naming
the layer (or the input) and the reason; the CLI turns that into one line and exit 2."""

from __future__ import annotations

import pytest
from netgen import random_network, with_relays

from delaykit.network import RelayNotSupported


@pytest.fixture
def relay_net(rng):
    # integer weights, v_reset 0, one threshold per layer: what netx accepts apart from the relays
    return with_relays(
        rng, random_network(rng, (5, 6, 3), integer_bits=8, max_delay=3), relays_per_layer=3, n_taps=0
    )


def test_nir_export_refuses_relays(relay_net):
    from delaykit.nir.export_nir import network_to_nir

    with pytest.raises(
        RelayNotSupported, match=r"layer 'fc0': field 'relay_src': NIR export cannot represent"
    ):
        network_to_nir(relay_net)


def test_onnx_export_refuses_relays(relay_net):
    from delaykit.convert.onnx_export import network_to_onnx

    with pytest.raises(RelayNotSupported, match=r"layer 'fc0'.*ONNX step model cannot represent relay"):
        network_to_onnx(relay_net)


def test_netx_export_refuses_relays(relay_net):
    from delaykit.convert.netx_export import netx_layers

    with pytest.raises(RelayNotSupported, match=r"layer 'fc0'.*netx .*cannot represent relay"):
        netx_layers(relay_net)


def test_tables_refuse_input_taps(rng, tmp_path):
    from delaykit.tables import write_tables

    net = with_relays(rng, random_network(rng, (5, 6, 3)), relays_per_layer=0, n_taps=2)
    with pytest.raises(RelayNotSupported, match=r"input: field 'taps': the synaptic-delay tables cannot"):
        write_tables(net, tmp_path / "t")
    assert not (tmp_path / "t" / "synapses.csv").exists()


def test_convert_cli_refuses_a_relay_network(relay_net, tmp_path, capsys):
    from delaykit.cli.main import main

    p = tmp_path / "relays.dkn"
    relay_net.save(p)
    assert main(["convert", "to-nir", str(p), "-o", str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err
    assert "cannot represent relay neurons" in err and "fc0" in err
    assert not (tmp_path / "x.nir").exists()
