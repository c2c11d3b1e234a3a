"""One loader for deployed networks: .dkn, .nir (ours or anyone's) and event tables."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from netgen import random_network

from delaykit.cli.main import main
from delaykit.data.shd import write_shd
from delaykit.errors import DelaykitError
from delaykit.loading import load_model


def _foreign_graph(n_in: int, n_out: int) -> nir.NIRGraph:
    """A delay-free NIR graph as another tool writes it: no delaykit metadata, times in seconds."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1.0, (n_out, n_in)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Linear(weight=w),
        "lif": nir.LIF(
            tau=np.full(n_out, 0.02),
            r=np.full(n_out, 2.0),
            v_leak=np.zeros(n_out),
            v_threshold=np.ones(n_out),
            v_reset=np.zeros(n_out),
        ),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_foreign_nir_needs_dt(tmp_path):
    path = tmp_path / "foreign.nir"
    nir.write(path, _foreign_graph(140, 4))
    with pytest.raises(DelaykitError, match="dt"):
        load_model(path)
    net = load_model(path, dt=0.01)
    assert net.dt == 0.01 and net.layers[0].n_in == 140
    assert net.layers[0].neuron.tau == pytest.approx(2.0)  # 20 ms / 10 ms


def test_sim_cli_runs_foreign_nir_with_dt(tmp_path, capsys):
    path = tmp_path / "foreign.nir"
    nir.write(path, _foreign_graph(140, 4))
    data = tmp_path / "d.h5"
    rng = np.random.default_rng(1)
    times = [np.sort(rng.uniform(0, 0.3, 50)) for _ in range(6)]
    units = [rng.integers(0, 700, 50) for _ in range(6)]
    write_shd(data, times, units, np.arange(6) % 4)
    assert main(["sim", str(path), "--data", str(data), "--workers", "1", "--no-progress"]) == 2
    assert "dt" in capsys.readouterr().err
    assert (
        main(["sim", str(path), "--data", str(data), "--dt-ms", "10", "--workers", "1", "--no-progress"]) == 0
    )
    assert "accuracy" in capsys.readouterr().out


def test_all_three_forms_load_the_same_network(tmp_path, rng):
    from delaykit.nir.export_nir import write_nir
    from delaykit.tables import write_tables

    net = random_network(rng, integer_bits=8)
    net.save(tmp_path / "n.dkn")
    write_nir(net, tmp_path / "n.nir")
    write_tables(net, tmp_path / "tables")
    nets = [load_model(tmp_path / "n.dkn"), load_model(tmp_path / "n.nir"), load_model(tmp_path / "tables")]
    for other in nets[1:]:
        for a, b in zip(nets[0].layers, other.layers, strict=True):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.delay[a.weight != 0], b.delay[b.weight != 0])
    with pytest.raises(DelaykitError, match="no such file"):
        load_model(tmp_path / "missing.dkn")
