"""Export a deployed network as a streaming ONNX *step* model, and run it with onnxruntime.

One call of the model advances the whole network by one time step (DESIGN.md section 4):

inputs
    ``x`` (n_in,) this step's input frame (counts), ``input_steps`` () int64: the sample's
    number of input frames T, and the state tensors below.
outputs
    ``output`` (n_out,): the last layer's membrane in real units (LI) or its spikes (LIF);
    ``spikes_<k>`` (n_k,) for every spiking layer (0/1); and the new state tensors.
state (named ``<name>`` in, ``<name>_out`` out; zeros at the start, see :func:`initial_state`)
    ``step`` () int64 step counter; per layer ``k``: ``buf_<k>`` (D_k + 1, n_in_k) shift
    register of the layer's last D_k + 1 inputs (``buf[d]`` = input ``d`` steps ago, D_k its
    largest delay: the delay ring buffer) and ``v_<k>`` (n_k,) membrane, starting at v_reset.

Run ``net.output_steps(T)`` steps, feeding the T frames then zeros. Layer ``k``'s output is
forced to 0 from step ``T + sum(extend_steps of layers <= k)`` on, so later layers see exactly
the contract's zero padding (a biased neuron may keep firing after its input ends).

Arithmetic (``dtype``): ``"float64"`` or ``"float32"``, the simulator's float modes
(:mod:`delaykit.arithmetic`): synaptic input summed in float64 over delays in ascending
order, ``I = F(syn + F(bias))``, ``h = (v + (r - v) / tau) + I`` in F, spike ``h >= theta``,
hard reset. Quantized networks run on their integers and scale the readout by
``weight_scale``. Integer networks reproduce the simulator bit for bit; float weights may
differ in the last bit of a dot product (summation order inside MatMul).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_path
from delaykit.network import LIF, Network, require_no_relays

OPSET = 17


def _np_dtype(dtype: str) -> type:
    if dtype not in ("float64", "float32"):
        raise DelaykitError(f"--dtype must be float64 or float32, got {dtype!r}")
    return np.float64 if dtype == "float64" else np.float32


def layer_buffer_depth(layer: Any) -> int:
    """Rows of a layer's delay ring buffer: its largest delay (non-zero synapses) + 1."""
    return layer.max_delay + 1


def network_to_onnx(net: Network, dtype: str = "float64") -> Any:
    """Build the ONNX ``ModelProto`` of the step model (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    require_no_relays(net, "the ONNX step model")
    f = _np_dtype(dtype)
    fproto = TensorProto.DOUBLE if f is np.float64 else TensorProto.FLOAT
    nodes: list[Any] = []
    inits: list[Any] = []
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.DOUBLE, [net.layers[0].n_in]),
        helper.make_tensor_value_info("input_steps", TensorProto.INT64, []),
        helper.make_tensor_value_info("step", TensorProto.INT64, []),
    ]
    outputs: list[Any] = []
    state_out: list[Any] = [helper.make_tensor_value_info("step_out", TensorProto.INT64, [])]

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    one = const("one_i64", np.array(1, np.int64))
    node("Add", ["step", one], "step_out")
    # validity of the network input at this step: step < T
    x_ok = node(
        "Cast", [node("Less", ["step", "input_steps"], "x_valid_b")], "x_valid", to=TensorProto.DOUBLE
    )
    x = node("Mul", ["x", x_ok], "x_masked")
    cum_ext = 0
    spike_idx = 0
    layer_md = []
    for k, layer in enumerate(net.layers):
        n_out, n_in = layer.weight.shape
        depth = layer_buffer_depth(layer)
        buf, v = f"buf_{k}", f"v_{k}"
        inputs += [
            helper.make_tensor_value_info(buf, TensorProto.DOUBLE, [depth, n_in]),
            helper.make_tensor_value_info(v, fproto, [n_out]),
        ]
        # shift register: new_buf = [x; buf[:-1]]
        x_row = node("Unsqueeze", [x, const(f"axes0_{k}", np.array([0], np.int64))], f"xrow_{k}")
        if depth > 1:
            old = node(
                "Slice",
                [
                    buf,
                    const(f"s0_{k}", np.array([0], np.int64)),
                    const(f"s1_{k}", np.array([depth - 1], np.int64)),
                    const(f"sax_{k}", np.array([0], np.int64)),
                ],
                f"bufhead_{k}",
            )
            new_buf = node("Concat", [x_row, old], f"{buf}_out", axis=0)
        else:
            new_buf = node("Identity", [x_row], f"{buf}_out")
        state_out.append(helper.make_tensor_value_info(f"{buf}_out", TensorProto.DOUBLE, [depth, n_in]))
        # synaptic input: sum over distinct delays, ascending (the simulator's order)
        w = layer.weight.astype(f).astype(np.float64)
        nz = layer.weight != 0
        syn = const(f"zero_{k}", np.zeros(n_out, np.float64))
        for d in np.unique(layer.delay[nz]).tolist():
            wd_t = np.where(layer.delay == d, w, 0.0).T.copy()  # (n_in, n_out)
            xd = node("Gather", [new_buf, const(f"d{d}_{k}", np.array(d, np.int64))], f"x_d{d}_{k}", axis=0)
            prod = node("MatMul", [xd, const(f"W_d{d}_{k}", wd_t)], f"syn_d{d}_{k}")
            syn = node("Add", [syn, prod], f"acc_d{d}_{k}")
        neu = layer.neuron
        bias = const(f"bias_{k}", layer.bias.astype(f).astype(np.float64))
        cur = node("Cast", [node("Add", [syn, bias], f"synb_{k}")], f"I_{k}", to=fproto)
        reset = const(f"reset_{k}", np.broadcast_to(np.asarray(neu.v_reset, np.float64), (n_out,)).astype(f))
        tau = const(f"tau_{k}", np.array(f(neu.tau), dtype=f))
        leak = node("Div", [node("Sub", [reset, v], f"rmv_{k}"), tau], f"leak_{k}")
        h = node("Add", [node("Add", [v, leak], f"vleak_{k}"), cur], f"h_{k}")
        cum_ext += layer.extend_steps
        valid = node(
            "Less",
            [
                "step",
                node("Add", ["input_steps", const(f"ext_{k}", np.array(cum_ext, np.int64))], f"end_{k}"),
            ],
            f"valid_{k}",
        )
        valid_f = node("Cast", [valid], f"validf_{k}", to=TensorProto.DOUBLE)
        if isinstance(neu, LIF):
            th = const(
                f"th_{k}", np.broadcast_to(np.asarray(neu.v_threshold, np.float64), (n_out,)).astype(f)
            )
            s = node("GreaterOrEqual", [h, th], f"s_{k}")
            node("Where", [s, reset, h], f"{v}_out")
            spk = node(
                "Mul", [node("Cast", [s], f"sf_{k}", to=TensorProto.DOUBLE), valid_f], f"spikes_{spike_idx}"
            )
            outputs.append(helper.make_tensor_value_info(spk, TensorProto.DOUBLE, [n_out]))
            spike_idx += 1
            x = spk
            last_out = spk
        else:
            node("Identity", [h], f"{v}_out")
            scale = layer.weight_scale if layer.weight_scale is not None else np.ones(n_out)
            hv = node("Cast", [h], f"h64_{k}", to=TensorProto.DOUBLE)
            last_out = node("Mul", [hv, const(f"oscale_{k}", scale.astype(np.float64))], f"trace_{k}")
            x = node("Mul", [last_out, valid_f], f"tracem_{k}")
        state_out.append(helper.make_tensor_value_info(f"{v}_out", fproto, [n_out]))
        layer_md.append(
            {
                "name": layer.name,
                "buffer": buf,
                "membrane": v,
                "depth": depth,
                "n_in": n_in,
                "n_out": n_out,
                "spiking": isinstance(neu, LIF),
                "v_reset": np.broadcast_to(np.asarray(neu.v_reset, np.float64), (n_out,)).tolist(),
            }
        )
    node("Identity", [last_out], "output")
    outputs.insert(0, helper.make_tensor_value_info("output", TensorProto.DOUBLE, [net.layers[-1].n_out]))
    graph = helper.make_graph(nodes, "delaykit_step", inputs, outputs + state_out, initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="delaykit",
        doc_string=__doc__.split("\n\n")[0],
    )
    model.ir_version = 8
    md = {
        "format": "delaykit.onnx_step",
        "format_version": 1,
        "dtype": dtype,
        "dt_s": net.dt,
        "readout": net.readout,
        "extend_steps": [lay.extend_steps for lay in net.layers],
        "layers": layer_md,
        "input": net.input.to_dict(),
        "provenance": net.provenance,
    }
    helper.set_model_props(model, {"delaykit": json.dumps(md)})
    onnx.checker.check_model(model)
    return model


def write_onnx(net: Network, path: str | Path, dtype: str = "float64") -> None:
    """Write the step model to ``path`` atomically."""
    import onnx

    model = network_to_onnx(net, dtype)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _meta(session: Any) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    if "delaykit" not in props:
        raise DelaykitError(
            "ONNX model has no 'delaykit' metadata; was it written by 'delaykit convert to-onnx'?"
        )
    return json.loads(props["delaykit"])


def initial_state(meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Zero buffers, membranes at v_reset, step 0 (``meta``: the model's delaykit metadata)."""
    f = np.float64 if meta["dtype"] == "float64" else np.float32
    st: dict[str, np.ndarray] = {"step": np.array(0, np.int64)}
    for lay in meta["layers"]:
        st[lay["buffer"]] = np.zeros((lay["depth"], lay["n_in"]), np.float64)
        st[lay["membrane"]] = np.asarray(lay["v_reset"], dtype=f)
    return st


def run_onnx(path_or_model: Any, frames: np.ndarray) -> dict[str, Any]:
    """Run one sample (T, n_in) through the step model with onnxruntime.

    Returns ``output`` (output_steps(T), n_out) and ``spikes`` (list per spiking layer).
    """
    import onnxruntime as ort

    src = str(path_or_model) if isinstance(path_or_model, (str, Path)) else path_or_model.SerializeToString()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])
    meta = _meta(sess)
    x = np.asarray(frames, dtype=np.float64)
    t_in = x.shape[0]
    n_steps = t_in + sum(meta["extend_steps"])
    state = initial_state(meta)
    out_names = [o.name for o in sess.get_outputs()]
    spike_names = sorted(
        (n for n in out_names if n.startswith("spikes_")), key=lambda s: int(s.split("_")[1])
    )
    zeros = np.zeros(x.shape[1])
    outs, spikes = [], {n: [] for n in spike_names}
    t_arr = np.array(t_in, np.int64)
    for t in range(n_steps):
        feed = {"x": x[t] if t < t_in else zeros, "input_steps": t_arr, **state}
        res = dict(zip(out_names, sess.run(out_names, feed), strict=False))
        outs.append(res["output"])
        for n in spike_names:
            spikes[n].append(res[n])
        state = {k: res[f"{k}_out"] for k in state}
    return {
        "output": np.asarray(outs),
        "spikes": [np.asarray(spikes[n]).astype(np.uint8) for n in spike_names],
    }
