"""convert to-onnx: the streaming step model reproduces the simulator's float modes."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from netgen import random_frames, random_network  # noqa: E402

from delaykit.convert.onnx_export import network_to_onnx, run_onnx, write_onnx  # noqa: E402
from delaykit.convert.quantize import quantize_network  # noqa: E402
from delaykit.network import Layer, Network  # noqa: E402
from delaykit.sim import Arithmetic, simulate  # noqa: E402

ARITH = {"float64": Arithmetic.float64, "float32": Arithmetic.float32}


def _compare(net, frames, dtype, exact):
    ours = simulate(net, frames, engine="reference", arithmetic=ARITH[dtype]())
    r = run_onnx(network_to_onnx(net, dtype), frames)
    assert r["output"].shape == ours.output.shape
    if exact:
        np.testing.assert_array_equal(r["output"], ours.output)
    else:
        # Float weights: MatMul may sum a dot product in another order than numpy's BLAS;
        # each sum of <= n_in float64 products can move by a few ulp (|v| < 100 -> < 1e-12).
        np.testing.assert_allclose(r["output"], ours.output, rtol=0, atol=1e-12)
    for a, b in zip(r["spikes"], ours.spikes, strict=True):
        np.testing.assert_array_equal(a[: len(b)], b)
        assert not a[len(b) :].any()  # outputs past the layer's length are the contract's zeros
    return sum(int(b.sum()) for b in ours.spikes)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_integer_network_bit_exact(rng, dtype):
    net, _ = quantize_network(random_network(rng, (14, 12, 9, 5), max_delay=7, extend_steps=3), 8)
    total = sum(_compare(net, random_frames(rng, 20, 14), dtype, exact=True) for _ in range(3))
    assert total > 50


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float_network_matches(rng, dtype):
    net = random_network(rng, (14, 12, 9, 5), max_delay=7, extend_steps=3)
    total = sum(_compare(net, random_frames(rng, 20, 14), dtype, exact=False) for _ in range(3))
    assert total > 50


def test_bias_driven_spikes_stop_at_layer_end(rng):
    # A strong bias makes hidden neurons fire with no input; the contract's next layer still
    # sees zeros after the previous layer's last step, which the model's masks reproduce.
    net = random_network(rng, (6, 5, 3), max_delay=4, extend_steps=4)
    lay = net.layers[0]
    biased = Layer(
        name=lay.name,
        weight=lay.weight,
        delay=lay.delay,
        neuron=lay.neuron,
        bias=np.full(lay.n_out, 1.5),
        extend_steps=lay.extend_steps,
    )
    net = Network(layers=(biased, net.layers[1]), dt=net.dt, input=net.input, readout=net.readout)
    frames = random_frames(rng, 10, 6)
    assert _compare(net, frames, "float64", exact=False) > 0


def test_file_checks_and_metadata(tmp_path, rng):
    net = random_network(rng, (8, 6, 3), max_delay=5)
    p = tmp_path / "m.onnx"
    write_onnx(net, p)
    model = onnx.load(str(p))
    onnx.checker.check_model(model, full_check=True)
    names = [i.name for i in model.graph.input]
    assert names[:3] == ["x", "input_steps", "step"] and "buf_0" in names and "v_1" in names
    buf = next(i for i in model.graph.input if i.name == "buf_0")
    assert [d.dim_value for d in buf.type.tensor_type.shape.dim] == [net.layers[0].max_delay + 1, 8]
    props = {p.key: p.value for p in model.metadata_props}
    assert '"dtype": "float64"' in props["delaykit"]
    r = run_onnx(p, random_frames(rng, 5, 8))
    assert r["output"].shape == (5, 3)
