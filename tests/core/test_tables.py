"""convert to-table: synapse/neuron tables, manifest, PyNN lists; lossless read_tables."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.convert.quantize import quantize_network
from delaykit.errors import DelaykitError, FormatError
from delaykit.sim import Arithmetic, simulate
from delaykit.tables import read_tables, synapse_table, write_tables


def _same(a, b):
    assert a.dt == b.dt and a.input == b.input and a.readout == b.readout
    assert a.provenance == b.provenance and a.metadata == b.metadata
    for x, y in zip(a.layers, b.layers, strict=True):
        assert x.name == y.name and x.extend_steps == y.extend_steps
        assert x.weight.dtype == y.weight.dtype
        np.testing.assert_array_equal(x.weight, y.weight)
        nz = x.weight != 0
        np.testing.assert_array_equal(x.delay[nz], y.delay[nz])
        assert not y.delay[~nz].any()
        np.testing.assert_array_equal(x.bias, y.bias)
        assert x.neuron.to_dict() == y.neuron.to_dict()
        if x.weight_scale is not None:
            np.testing.assert_array_equal(x.weight_scale, y.weight_scale)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@pytest.mark.parametrize("bits", [None, 8])
def test_roundtrip_each_format(tmp_path, rng, fmt, bits):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    net = random_network(rng, (12, 9, 4), max_delay=6, density=0.6, extend_steps=2)
    net = type(net)(
        layers=net.layers,
        dt=net.dt,
        input=net.input,
        readout=net.readout,
        provenance={"source": "m.pt"},
        metadata={"class_names": list("wxyz")},
    )
    if bits:
        net, _ = quantize_network(net, bits, per_neuron=True)
    write_tables(net, tmp_path / "t", formats=(fmt,))
    back = read_tables(tmp_path / "t")
    _same(net, back)
    frames = random_frames(rng, 15, 12)
    a = simulate(net, frames, engine="reference", arithmetic=Arithmetic.float64())
    b = simulate(back, frames, engine="reference", arithmetic=Arithmetic.float64())
    np.testing.assert_array_equal(a.output, b.output)


def test_rows_columns_units_and_pynn(tmp_path, rng):
    pa = pytest.importorskip("pyarrow.parquet")
    net = random_network(rng, (5, 4, 3), max_delay=9, density=0.5)
    files = write_tables(net, tmp_path / "t")
    names = {p.name for p in files}
    assert {"manifest.json", "synapses.csv", "synapses.parquet", "synapses.npz", "neurons.csv"} <= names
    n_syn = sum(int((lay.weight != 0).sum()) for lay in net.layers)
    t = pa.read_table(tmp_path / "t" / "synapses.parquet")
    assert t.num_rows == n_syn
    assert t.column_names == ["layer", "pre", "post", "weight", "weight_int", "delay_steps", "delay_ms"]
    lay = net.layers[1]
    rows = [r for r in csv.DictReader(open(tmp_path / "t" / "synapses.csv")) if r["layer"] == "1"]
    assert len(rows) == int((lay.weight != 0).sum())
    for r in rows:
        i, j = int(r["pre"]), int(r["post"])
        assert float(r["weight"]) == lay.weight[j, i]
        assert int(r["delay_steps"]) == lay.delay[j, i]
        assert float(r["delay_ms"]) == pytest.approx(lay.delay[j, i] * 10.0)
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert man["dt_s"] == 0.01 and man["layers"][1]["synapses"] == len(rows)
    assert man["layers"][0]["neuron"]["kind"] == "lif"
    # PyNN FromFileConnector layout: one header line, then i j weight delay(ms); one sign per
    # file; delays one step longer than the network's (a PyNN simulator's smallest delay)
    parts = []
    for tag, sign in (("exc", 1), ("inh", -1)):
        path = tmp_path / "t" / "pynn" / f"01_fc1_{tag}.txt"
        assert path.read_text().splitlines()[0] == '# columns = ["i", "j", "weight", "delay"]'
        data = np.loadtxt(path, ndmin=2).reshape(-1, 4)
        assert (np.sign(data[:, 2]) == sign).all()
        parts.append(data)
    data = np.concatenate(parts)
    assert data.shape == (len(rows), 4)
    by_pair = {(int(r["pre"]), int(r["post"])): float(r["delay_ms"]) for r in rows}
    for i, j, _w, d in data:
        assert d == pytest.approx(by_pair[(int(i), int(j))] + 10.0)
    neurons = list(csv.DictReader(open(tmp_path / "t" / "neurons.csv")))
    assert len(neurons) == 4 + 3 and neurons[-1]["kind"] == "li"


def test_synapse_table_sorted_and_nonzero_only(rng):
    net = random_network(rng, (6, 5), max_delay=3, density=0.5)
    t = synapse_table(net)
    assert (t["weight"] != 0).all()
    key = t["layer"] * 10**6 + t["post"] * 10**3 + t["pre"]
    assert (np.diff(key) > 0).all()


def test_read_errors(tmp_path, rng):
    with pytest.raises(DelaykitError, match="no manifest.json"):
        read_tables(tmp_path)
    net = random_network(rng, (5, 3), max_delay=2)
    write_tables(net, tmp_path / "t", formats=("npz",))
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    man["format_version"] = 7
    (tmp_path / "t" / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(FormatError, match="format_version 7"):
        read_tables(tmp_path / "t")
    man["format_version"] = 1
    (tmp_path / "t" / "manifest.json").write_text(json.dumps(man))
    (tmp_path / "t" / "synapses.npz").unlink()
    with pytest.raises(FormatError, match="no synapses.parquet"):
        read_tables(tmp_path / "t" / "manifest.json")
    with pytest.raises(DelaykitError, match="table format"):
        write_tables(net, tmp_path / "u", formats=("xlsx",))
