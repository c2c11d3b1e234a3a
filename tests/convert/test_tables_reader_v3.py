"""Version-2 tables (contract-v3 neurons): the numpy reader written from the manifest's words
(tables_reader.py) reproduces delaykit bit for bit -- synaptic current, reset modes, leaks."""

from __future__ import annotations

import numpy as np
import pytest
import tables_reader
from netgen import random_frames, random_network, with_v3_neurons

from delaykit.sim import Arithmetic, simulate
from delaykit.tables import write_tables


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("bits", [8, None])
def test_reader_equals_delaykit_on_random_v3_networks(seed, bits, tmp_path):
    rng = np.random.default_rng(1000 + seed)
    net = random_network(
        rng, (10, 9, 6, 4), integer_bits=bits, density=0.7, max_delay=6, tau=2.0, extend_steps=3
    )
    net = with_v3_neurons(rng, net, tau_syns=(None, 1.5, 5.0))
    write_tables(net, tmp_path / "t", formats=("csv",))
    t = tables_reader.load(tmp_path / "t")
    total = 0
    for _ in range(4):
        f = random_frames(rng, 20, 10)
        mine = tables_reader.simulate(t, f)
        ref = simulate(net, f, "reference", Arithmetic.float64())
        for k, (_li, s) in enumerate(sorted(mine["spikes"].items())):
            np.testing.assert_array_equal(s, ref.spikes[k])
            total += int(s.sum())
        np.testing.assert_array_equal(mine["output"], ref.output)  # bit for bit
    assert total > 0
