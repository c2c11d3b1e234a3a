"""Contract v3 in the ONNX step model: the synaptic current is state, reset modes, leak rules;
integer networks bit for bit with the simulator's float modes."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from netgen import random_frames, random_network, with_v3_neurons  # noqa: E402
from test_convert_onnx import _compare  # noqa: E402

from delaykit.convert.onnx_export import initial_state, network_to_onnx  # noqa: E402
from delaykit.convert.quantize import quantize_network  # noqa: E402


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_v3_integer_network_bit_exact(dtype, seed):
    rng = np.random.default_rng(100 + seed)
    base = random_network(rng, (14, 12, 9, 5), max_delay=7, extend_steps=3)
    net, _ = quantize_network(with_v3_neurons(rng, base, tau_syns=(None, 2.0, 5.0)), 8)
    total = sum(_compare(net, random_frames(rng, 20, 14), dtype, exact=True) for _ in range(2))
    assert total > 10


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_v3_float_network_matches(rng, dtype):
    net = with_v3_neurons(rng, random_network(rng, (14, 12, 9, 5), max_delay=7), tau_syns=(3.0,))
    _compare(net, random_frames(rng, 20, 14), dtype, exact=False)


def test_current_is_state_and_metadata_says_version_2(rng):
    import json

    net = with_v3_neurons(rng, random_network(rng, (6, 5, 3)), tau_syns=(5.0,))
    model = network_to_onnx(net)
    names = {i.name for i in model.graph.input}
    assert {"c_0", "c_1"} <= names
    meta = json.loads({p.key: p.value for p in model.metadata_props}["delaykit"])
    assert meta["format_version"] == 2 and meta["layers"][0]["current"] == "c_0"
    assert not initial_state(meta)["c_0"].any()
    plain = network_to_onnx(random_network(rng, (6, 5, 3)))
    meta1 = json.loads({p.key: p.value for p in plain.metadata_props}["delaykit"])
    assert meta1["format_version"] == 1 and "current" not in meta1["layers"][0]
