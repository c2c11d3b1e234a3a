"""Export a deployed network as a streaming ONNX *step* model, and run it with onnxruntime.

One call of the model advances the whole network by one time step (docs/design.md,
"File formats"):

inputs
    ``x`` (n_in,) this step's input frame (counts), ``input_steps`` () int64: the sample's
    number of input frames T, and the state tensors below.
outputs
    ``output`` (n_out,): the last layer's membrane in real units (LI) or its spikes (LIF);
    ``spikes_<k>`` (n_k,) for every spiking layer (0/1); and the new state tensors.
state (named ``<name>`` in, ``<name>_out`` out; zeros at the start, see :func:`initial_state`)
    ``step`` () int64 step counter; per layer ``k``: ``buf_<k>`` (D_k + 1, n_in_k) shift
    register of the layer's last D_k + 1 inputs (``buf[d]`` = input ``d`` steps ago, D_k its
    largest delay: the delay ring buffer) and ``v_<k>`` (n_k,) membrane, starting at v_reset;
    ``c_<k>`` (n_k,) the synaptic current of a layer with ``tau_syn`` (contract v3; metadata
    ``format_version`` 2), starting at 0.

Run ``net.output_steps(T)`` steps, feeding the T frames then zeros. Layer ``k``'s output is
forced to 0 from step ``T + sum(extend_steps of layers <= k)`` on, so later layers see exactly
the contract's zero padding (a biased neuron may keep firing after its input ends).

Arithmetic (``dtype``): ``"float64"`` or ``"float32"``, the simulator's float modes
(:mod:`delaykit.arithmetic`): synaptic input summed in float64 over delays in ascending
order, ``I = F(syn + F(bias))``, ``h = (v + (r - v) / tau) + I`` in F, spike ``h >= theta``,
hard reset; version-3 neurons as in :mod:`delaykit.arithmetic` (the current, the exact leak,
the subtract/none reset). Quantized networks run on their integers and scale the readout by
``weight_scale``. Integer networks reproduce the simulator bit for bit; float weights may
differ in the last bit of a dot product (summation order inside MatMul).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_path
from delaykit.network import LIF, Layer, Network, decay_fraction, require_no_relays

OPSET = 17
#: Newest step-model metadata version :func:`run_onnx` reads (2: synaptic current state).
ONNX_STEP_VERSION = 2


def _np_dtype(dtype: str) -> type:
    if dtype not in ("float64", "float32"):
        raise DelaykitError(f"dtype={dtype!r}: must be 'float64' or 'float32'")
    return np.float64 if dtype == "float64" else np.float32


def layer_buffer_depth(layer: Layer) -> int:
    """Rows of a layer's delay ring buffer: its largest delay (non-zero synapses) + 1."""
    return layer.max_delay + 1


@dataclass
class _Graph:
    """The step model being built: nodes, initializers and value infos, in graph order.

    ``f``/``fproto``: the membrane arithmetic's numpy type and ONNX element type.
    """

    f: type
    fproto: int
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    state_out: list[Any] = field(default_factory=list)

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper  # onnx only when exporting

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, ins: list[str], out: str, **attrs: Any) -> str:
        from onnx import helper  # onnx only when exporting

        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def value(self, name: str, elem: int, shape: list[int]) -> Any:
        from onnx import helper  # onnx only when exporting

        return helper.make_tensor_value_info(name, elem, shape)


def _masked_input(g: _Graph, n_in: int) -> str:
    """Graph inputs x, input_steps, step; the step counter; x zeroed from step T on."""
    from onnx import TensorProto  # onnx only when exporting

    g.inputs += [
        g.value("x", TensorProto.DOUBLE, [n_in]),
        g.value("input_steps", TensorProto.INT64, []),
        g.value("step", TensorProto.INT64, []),
    ]
    g.state_out.append(g.value("step_out", TensorProto.INT64, []))
    one = g.const("one_i64", np.array(1, np.int64))
    g.node("Add", ["step", one], "step_out")
    # validity of the network input at this step: step < T
    x_ok = g.node(
        "Cast", [g.node("Less", ["step", "input_steps"], "x_valid_b")], "x_valid", to=TensorProto.DOUBLE
    )
    return g.node("Mul", ["x", x_ok], "x_masked")


def _shift_register(g: _Graph, k: int, x: str, depth: int, n_in: int) -> str:
    """``buf_<k>_out = [x; buf_<k>[:-1]]``: row d holds the input of d steps ago."""
    from onnx import TensorProto  # onnx only when exporting

    buf = f"buf_{k}"
    x_row = g.node("Unsqueeze", [x, g.const(f"axes0_{k}", np.array([0], np.int64))], f"xrow_{k}")
    if depth > 1:
        old = g.node(
            "Slice",
            [
                buf,
                g.const(f"s0_{k}", np.array([0], np.int64)),
                g.const(f"s1_{k}", np.array([depth - 1], np.int64)),
                g.const(f"sax_{k}", np.array([0], np.int64)),
            ],
            f"bufhead_{k}",
        )
        new_buf = g.node("Concat", [x_row, old], f"{buf}_out", axis=0)
    else:
        new_buf = g.node("Identity", [x_row], f"{buf}_out")
    g.state_out.append(g.value(f"{buf}_out", TensorProto.DOUBLE, [depth, n_in]))
    return new_buf


def _synaptic_input(g: _Graph, layer: Layer, k: int, new_buf: str) -> str:
    """Sum over distinct delays, ascending (the simulator's order), of ``W_d^T x_{t-d}``."""
    w = layer.weight.astype(g.f).astype(np.float64)
    nz = layer.weight != 0
    syn = g.const(f"zero_{k}", np.zeros(layer.n_out, np.float64))
    for d in np.unique(layer.delay[nz]).tolist():
        wd_t = np.where(layer.delay == d, w, 0.0).T.copy()  # (n_in, n_out)
        xd = g.node("Gather", [new_buf, g.const(f"d{d}_{k}", np.array(d, np.int64))], f"x_d{d}_{k}", axis=0)
        prod = g.node("MatMul", [xd, g.const(f"W_d{d}_{k}", wd_t)], f"syn_d{d}_{k}")
        syn = g.node("Add", [syn, prod], f"acc_d{d}_{k}")
    return syn


def _decay_term(g: _Graph, x: str, target: str, tau: float, leak: str, name: str) -> str:
    """``(target - x) / F(tau)`` (forward Euler) or ``(target - x) * F(1 - exp(-1/tau))``
    (exact leak), as the simulator computes it."""
    f = g.f
    diff = g.node("Sub", [target, x], f"{name}_diff")
    if leak == "euler":
        return g.node("Div", [diff, g.const(f"{name}_tau", np.array(f(tau), dtype=f))], name)
    k = g.const(f"{name}_k", np.array(f(decay_fraction(tau, leak)), dtype=f))
    return g.node("Mul", [diff, k], name)


def _membrane(g: _Graph, layer: Layer, k: int, syn: str) -> tuple[str, str]:
    """``h = (v + (r - v) / tau) + F(syn + F(bias))`` in the model's float type; returns (h, reset).

    With a synaptic current (contract v3) the state ``c_<k>`` holds the decayed current:
    ``c = c + F(syn)``; ``h = ((v + leak) + c) + F(bias)``; ``c_<k>_out = c + (0 - c)/tau_syn``
    (or ``* (1 - exp(-1/tau_syn))``), as the simulator."""
    neu, n_out, f = layer.neuron, layer.n_out, g.f
    bias = g.const(f"bias_{k}", layer.bias.astype(f).astype(np.float64))
    reset = g.const(f"reset_{k}", np.broadcast_to(np.asarray(neu.v_reset, np.float64), (n_out,)).astype(f))
    v = f"v_{k}"
    leak = _decay_term(g, v, reset, float(neu.tau), neu.leak, f"leak_{k}")
    vleak = g.node("Add", [v, leak], f"vleak_{k}")
    if neu.tau_syn is None:
        cur = g.node("Cast", [g.node("Add", [syn, bias], f"synb_{k}")], f"I_{k}", to=g.fproto)
        return g.node("Add", [vleak, cur], f"h_{k}"), reset
    c = g.node("Add", [f"c_{k}", g.node("Cast", [syn], f"I_{k}", to=g.fproto)], f"cin_{k}")
    zero = g.const(f"czero_{k}", np.zeros(n_out, dtype=f))
    cdec = _decay_term(g, c, zero, float(neu.tau_syn), neu.leak, f"cdecay_{k}")
    g.node("Add", [c, cdec], f"c_{k}_out")
    bias_f = g.node("Cast", [bias], f"biasf_{k}", to=g.fproto)
    return g.node("Add", [g.node("Add", [vleak, c], f"vc_{k}"), bias_f], f"h_{k}"), reset


def _valid(g: _Graph, k: int, cum_ext: int) -> str:
    """1.0 while ``step < T + cum_ext`` (the layer's length), else 0.0."""
    from onnx import TensorProto  # onnx only when exporting

    end = g.node("Add", ["input_steps", g.const(f"ext_{k}", np.array(cum_ext, np.int64))], f"end_{k}")
    valid = g.node("Less", ["step", end], f"valid_{k}")
    return g.node("Cast", [valid], f"validf_{k}", to=TensorProto.DOUBLE)


def _layer_output(
    g: _Graph, layer: Layer, k: int, h: str, reset: str, valid_f: str, spike_idx: int
) -> tuple[str, str]:
    """Spikes (LIF, hard reset) or the real-unit membrane trace (LI); returns (next x, output)."""
    from onnx import TensorProto  # onnx only when exporting

    neu, n_out, v = layer.neuron, layer.n_out, f"v_{k}"
    if isinstance(neu, LIF):
        th = g.const(
            f"th_{k}", np.broadcast_to(np.asarray(neu.v_threshold, np.float64), (n_out,)).astype(g.f)
        )
        s = g.node("GreaterOrEqual", [h, th], f"s_{k}")
        after = {"value": reset, "subtract": None, "none": h}[neu.reset]
        if after is None:  # contract v3: v = h - threshold
            after = g.node("Sub", [h, th], f"hsub_{k}")
        g.node("Where", [s, after, h], f"{v}_out")
        sf = g.node("Cast", [s], f"sf_{k}", to=TensorProto.DOUBLE)
        spk = g.node("Mul", [sf, valid_f], f"spikes_{spike_idx}")
        g.outputs.append(g.value(spk, TensorProto.DOUBLE, [n_out]))
        return spk, spk
    g.node("Identity", [h], f"{v}_out")
    scale = layer.weight_scale if layer.weight_scale is not None else np.ones(n_out)
    hv = g.node("Cast", [h], f"h64_{k}", to=TensorProto.DOUBLE)
    trace = g.node("Mul", [hv, g.const(f"oscale_{k}", scale.astype(np.float64))], f"trace_{k}")
    return g.node("Mul", [trace, valid_f], f"tracem_{k}"), trace


def _add_layer(
    g: _Graph, layer: Layer, k: int, x: str, cum_ext: int, spike_idx: int
) -> tuple[str, str, dict[str, Any]]:
    """Layer ``k``'s state, delay buffer and neurons; returns (next x, output, metadata)."""
    from onnx import TensorProto  # onnx only when exporting

    n_out, n_in = layer.weight.shape
    depth = layer_buffer_depth(layer)
    buf, v = f"buf_{k}", f"v_{k}"
    g.inputs += [g.value(buf, TensorProto.DOUBLE, [depth, n_in]), g.value(v, g.fproto, [n_out])]
    has_current = layer.neuron.tau_syn is not None
    if has_current:  # contract v3: the synaptic current is state
        g.inputs.append(g.value(f"c_{k}", g.fproto, [n_out]))
    new_buf = _shift_register(g, k, x, depth, n_in)
    h, reset = _membrane(g, layer, k, _synaptic_input(g, layer, k, new_buf))
    x, out = _layer_output(g, layer, k, h, reset, _valid(g, k, cum_ext), spike_idx)
    g.state_out.append(g.value(f"{v}_out", g.fproto, [n_out]))
    if has_current:
        g.state_out.append(g.value(f"c_{k}_out", g.fproto, [n_out]))
    md = {
        "name": layer.name,
        "buffer": buf,
        "membrane": v,
        "depth": depth,
        "n_in": n_in,
        "n_out": n_out,
        "spiking": isinstance(layer.neuron, LIF),
        "v_reset": np.broadcast_to(np.asarray(layer.neuron.v_reset, np.float64), (n_out,)).tolist(),
    }
    if has_current:
        md["current"] = f"c_{k}"
    return x, out, md


def _metadata(net: Network, dtype: str, layer_md: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "delaykit.onnx_step",
        # 2: a layer has a synaptic current state (contract v3); older runners lack its input
        "format_version": 2 if any(lay.neuron.tau_syn is not None for lay in net.layers) else 1,
        "dtype": dtype,
        "dt_s": net.dt,
        "readout": net.readout,
        "extend_steps": [lay.extend_steps for lay in net.layers],
        "layers": layer_md,
        "input": net.input.to_dict(),
        "provenance": net.provenance,
    }


def network_to_onnx(net: Network, dtype: str = "float64") -> Any:
    """Build the ONNX ``ModelProto`` of the step model (see the module docstring)."""
    import onnx  # onnx only when exporting
    from onnx import TensorProto, helper

    require_no_relays(net, "the ONNX step model")
    f = _np_dtype(dtype)
    g = _Graph(f=f, fproto=TensorProto.DOUBLE if f is np.float64 else TensorProto.FLOAT)
    x = _masked_input(g, net.layers[0].n_in)
    cum_ext = spike_idx = 0
    layer_md = []
    for k, layer in enumerate(net.layers):
        cum_ext += layer.extend_steps
        x, last_out, md = _add_layer(g, layer, k, x, cum_ext, spike_idx)
        spike_idx += int(md["spiking"])
        layer_md.append(md)
    g.node("Identity", [last_out], "output")
    g.outputs.insert(0, g.value("output", TensorProto.DOUBLE, [net.layers[-1].n_out]))
    graph = helper.make_graph(
        g.nodes, "delaykit_step", g.inputs, g.outputs + g.state_out, initializer=g.inits
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="delaykit",
        doc_string=__doc__.split("\n\n")[0],
    )
    model.ir_version = 8
    helper.set_model_props(model, {"delaykit": json.dumps(_metadata(net, dtype, layer_md))})
    onnx.checker.check_model(model)
    return model


def write_onnx(net: Network, path: str | Path, dtype: str = "float64") -> None:
    """Write the step model to ``path`` atomically."""
    import onnx  # onnx only when exporting

    model = network_to_onnx(net, dtype)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _meta(session: Any) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    if "delaykit" not in props:
        raise DelaykitError(
            "ONNX model has no 'delaykit' metadata; was it written by 'delaykit convert to-onnx'?"
        )
    meta = json.loads(props["delaykit"])
    if int(meta.get("format_version", 1)) > ONNX_STEP_VERSION:
        raise DelaykitError(
            f"ONNX step model format_version {meta['format_version']} is newer than this delaykit "
            f"reads ({ONNX_STEP_VERSION}); upgrade delaykit"
        )
    return meta


def initial_state(meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Zero buffers, membranes at v_reset, step 0 (``meta``: the model's delaykit metadata)."""
    f = np.float64 if meta["dtype"] == "float64" else np.float32
    st: dict[str, np.ndarray] = {"step": np.array(0, np.int64)}
    for lay in meta["layers"]:
        st[lay["buffer"]] = np.zeros((lay["depth"], lay["n_in"]), np.float64)
        st[lay["membrane"]] = np.asarray(lay["v_reset"], dtype=f)
        if "current" in lay:  # contract v3: the synaptic current starts at 0
            st[lay["current"]] = np.zeros(lay["n_out"], dtype=f)
    return st


def run_onnx(path_or_model: Any, frames: np.ndarray) -> dict[str, Any]:
    """Run one sample (T, n_in) through the step model with onnxruntime.

    Returns ``output`` (output_steps(T), n_out) and ``spikes`` (list per spiking layer).
    """
    import onnxruntime as ort  # onnxruntime only when running

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
