"""Import NIR graphs (``nir`` 1.0.8) as deployed networks, Delay nodes included.

``load_nir(path_or_graph, dt=None) -> Network`` accepts any NIR graph that is a feedforward
chain ``Input -> ops -> neurons -> ops -> neurons ... -> Output`` where *ops* are
``Linear``, ``Affine``, ``Scale``, element-wise ``Delay`` and 1-D ``Flatten`` nodes, in any
number of branches (several edges into one node are summed), and *neurons* are ``LIF``,
``IF``, ``LI``, ``I``, ``CubaLIF`` and ``CubaLI``. Both layouts that ``convert`` writes for
per-synapse delays (DESIGN.md section 4) are understood: one branch per distinct delay
(``Delay(d*dt) -> Linear(W masked to d)``) and a fan-out ``Linear -> Delay -> block Linear``.
All paths between two neuron populations are composed exactly into one ``(out, in)`` weight
matrix and one integer delay matrix (steps). A synapse that receives through two different
delays is rejected: the contract allows one delay per synapse.

Time (NIR is continuous-time, times in **seconds**; the contract counts **steps** of ``dt``).
``dt`` comes from ``graph.metadata["delaykit"]["dt"]`` when present, else from the ``dt``
argument; without either the import fails. Every ``Delay`` value must be a whole number of
steps (within 1e-6 step). Neurons are discretised with forward Euler, the convention of the
NIR reference simulators and of spikingjelly's / norse's NIR importers:

* ``LIF`` ``tau dv/dt = (v_leak - v) + r I``  ->  ``v += (v_leak - v)/tau_steps + (r/tau_steps) I``
  with ``tau_steps = tau/dt``. The input gain ``g = r/tau_steps`` is folded into the incoming
  weights and bias, so ``r = tau/dt`` (spikingjelly ``decay_input=False``, delaykit's export)
  gives ``g = 1`` and ``r = 1`` (``decay_input=True``) gives ``g = 1/tau_steps``. The contract
  leaks towards ``v_reset``: a different ``v_leak`` becomes the extra constant current
  ``(v_leak - v_reset)/tau_steps`` in the layer's bias. ``tau`` must be one value per node
  (the contract has one tau per layer) and ``tau/dt >= 1``.
* ``IF`` ``dv/dt = r I`` -> no leak, gain ``g = r*dt`` (spikingjelly writes ``r = 1/dt``).
  The contract has no tau = infinity, so IF becomes ``LIF(tau = 2**64)``: with ``v_reset = 0``
  the leak ``-v/2**64`` is below half an ulp of ``v`` in float32 and float64 and the float
  update is bit-identical to ``v + I``; Loihi's 12-bit decay rounds it to ``dv = 0``. (A
  Xylo-style shift decay ``x - (x >> k)`` floors, so it still adds 1 per step to a negative
  integer membrane: no shift decay is leak-free for ``v < 0``.) A non-zero
  IF ``v_reset`` is removed by shifting the voltage (threshold ``th - v_reset``, reset 0),
  which is exact in real arithmetic and starts the membrane at the reset value.
* ``LI`` -> contract ``LI(tau_steps, v_reset=v_leak)`` with gain ``r/tau_steps``; ``I`` -> ``LI``
  with ``tau = 2**64``, ``v_reset = 0`` and gain ``r*dt``.
* ``CubaLIF`` / ``CubaLI``: the synaptic current ``tau_syn dI/dt = -I + w_in S`` is a second
  state variable the contract cannot hold. They are accepted only when ``tau_syn = dt``
  (within 1e-9): Euler then gives ``I[t] = w_in S[t]`` exactly (the current lives one step and
  reaches the membrane on the same step, spikingjelly's ``CUBALIFNode`` order), and the
  neuron is a LIF/LI with gain ``w_in*r/tau_mem_steps``. Any other ``tau_syn`` is rejected.
* Initial state: NIR does not say; the contract (like spikingjelly) starts the membrane at
  ``v_reset`` (LIF, IF, CubaLIF), at ``v_leak`` (LI, CubaLI) and at 0 (I).
* Spikes: NIR's text says ``v > v_threshold``; the contract (spikingjelly, norse, Lava) fires
  at ``h >= v_threshold``. The two differ only when the membrane lands exactly on the
  threshold. ``strict_threshold=True`` realises ``>`` exactly in float64 by using
  ``nextafter(threshold, +inf)``.
* A constant bias (Affine) that then passes through a non-zero Delay is rejected: a delayed
  constant is zero for the first ``d`` steps, which a per-step bias cannot express.
* Not supported, rejected with the node's name: recurrence (cycles), Conv/pooling/Threshold
  nodes, nested NIRGraph nodes, skip connections (a layer fed by two populations), branches,
  multi-dimensional shapes and an Output fed by anything but a neuron node.

Lossless re-import: when ``graph.metadata["delaykit"]`` is present (written by
``delaykit.nir.export_nir``: ``format_version``, ``dt``, ``readout``, ``input``,
``layers`` with ``name``/``node``/``extend_steps``/``weight_scale``/``neuron``/``weight_dtype``
and optional ``delay``,
``provenance``, ``metadata``) the network is restored from it and the graph: the neuron
parameters, names, extend_steps, input spec, readout and provenance come from the metadata,
integer weights are recovered as ``weight / weight_scale`` (checked to be integers), and the
graph is checked to agree with the metadata (a graph edited after export is an error, not a
silent mix). ``graph.metadata["delaykit"]`` may be one JSON string (what convert writes)
or nested groups. Zero-weight synapses get delay 0 unless the layer metadata has ``delay``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError
from delaykit.network import (
    LI,
    LIF,
    READOUT_RULES,
    InputSpec,
    Layer,
    Network,
    neuron_from_dict,
)

#: Highest ``graph.metadata["delaykit"]["format_version"]`` this importer understands.
SUPPORTED_FORMAT_VERSION = 1
#: tau (steps) used for leak-free neurons (IF, I): the leak is below half an ulp (see module doc).
NO_LEAK_TAU_STEPS = 2.0**64
#: A Delay value may be off a whole number of steps by at most this many steps.
DELAY_STEP_TOLERANCE = 1e-6
#: Relative tolerance for "equal" continuous parameters (uniform tau, tau_syn == dt, gain == 1).
PARAM_RTOL = 1e-9

_OP_TYPES = ("Linear", "Affine", "Scale", "Delay", "Flatten")
_NEURON_TYPES = ("LIF", "IF", "LI", "I", "CubaLIF", "CubaLI")


# ---- small helpers -------------------------------------------------------------------------


def _err(node: str, why: str) -> DelaykitError:
    return DelaykitError(f"NIR node {node!r}: {why}")


def _jsonable(value: Any) -> Any:
    """NIR/h5py metadata values -> plain JSON values (numpy -> Python, bytes -> str)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()] if value.ndim else _jsonable(value.item())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    """A metadata entry that may be a JSON string, bytes, numpy scalar/array or a dict."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
    if isinstance(value, str):
        s = value.strip()
        if s[:1] in "{[":
            try:
                return json.loads(s)
            except json.JSONDecodeError:
                return value
    return value


def _vector(node_name: str, field_name: str, value: Any, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(n, float(arr.reshape(-1)[0]))
    arr = arr.reshape(-1)
    if arr.shape != (n,):
        raise _err(node_name, f"field {field_name!r} has {arr.size} values, expected {n}")
    if np.isnan(arr).any():
        raise _err(node_name, f"field {field_name!r} contains NaN")
    return arr


def _uniform(node_name: str, field_name: str, values: np.ndarray, why: str) -> float:
    v0 = float(values[0])
    if not np.allclose(values, v0, rtol=PARAM_RTOL, atol=0.0):
        raise _err(
            node_name,
            f"field {field_name!r} differs between neurons ({float(values.min())} .. "
            f"{float(values.max())}); {why}",
        )
    return v0


def _snap(x: float) -> float:
    """Undo float noise such as ``tau*dt/dt``: snap to a 12-significant-digit decimal."""
    if not math.isfinite(x) or x == 0:
        return x
    y = float(f"{x:.12g}")
    return y if abs(y - x) <= 1e-12 * abs(x) else x


def _size(shape: Any) -> int:
    """Number of elements of a NIR 1-D type; multi-dimensional shapes with more than one
    non-trivial axis are rejected by the caller (returns -1)."""
    dims = [int(s) for s in np.asarray(shape).reshape(-1)]
    big = [s for s in dims if s != 1]
    if len(big) > 1:
        return -1
    return big[0] if big else 1


# ---- linear operators with delays ----------------------------------------------------------


@dataclass
class _Term:
    """Rows ``rows`` of an (n x n_src) matrix, all at the same delay; other rows are zero."""

    rows: np.ndarray  # int64, sorted, unique
    block: np.ndarray  # (len(rows), n_src) float64


@dataclass
class _Op:
    """A delayed linear map from population ``src`` (n_src) to n outputs:
    ``y[t] = sum_d M_d x[t - d] + bias``; ``terms[d]`` holds M_d row-sparsely."""

    src: str
    n: int
    n_src: int
    terms: dict[int, _Term]
    bias: np.ndarray

    @staticmethod
    def identity(src: str, n: int) -> _Op:
        return _Op(src, n, n, {0: _Term(np.arange(n), np.eye(n))}, np.zeros(n))

    def dense(self, d: int) -> np.ndarray:
        m = np.zeros((self.n, self.n_src))
        t = self.terms.get(d)
        if t is not None:
            m[t.rows] = t.block
        return m

    def left_matmul(self, w: np.ndarray, c: np.ndarray | None) -> _Op:
        """``W @ op + c`` for a weight (n_out, n)."""
        terms = {}
        for d, t in self.terms.items():
            block = w[:, t.rows] @ t.block
            terms[d] = _Term(np.arange(w.shape[0]), block)
        bias = w @ self.bias + (0.0 if c is None else c)
        return _Op(self.src, w.shape[0], self.n_src, terms, bias)

    def scale(self, s: np.ndarray) -> _Op:
        terms = {d: _Term(t.rows, t.block * s[t.rows, None]) for d, t in self.terms.items()}
        return _Op(self.src, self.n, self.n_src, terms, self.bias * s)

    def delay(self, steps: np.ndarray, node: str) -> _Op:
        moved = (steps > 0) & (self.bias != 0)
        if moved.any():
            k = int(np.flatnonzero(moved)[0])
            raise _err(
                node,
                f"element {k} carries a constant bias {self.bias[k]:g} from an upstream Affine "
                f"into a delay of {int(steps[k])} steps; a delayed constant is zero for the first "
                "steps, which the contract's per-step bias cannot express (put the Affine after "
                "the Delay)",
            )
        out: dict[int, list[_Term]] = {}
        for d, t in self.terms.items():
            sd = steps[t.rows]
            for e in np.unique(sd):
                sel = sd == e
                out.setdefault(d + int(e), []).append(_Term(t.rows[sel], t.block[sel]))
        terms = {d: _merge_terms(ts, self.n_src) for d, ts in out.items()}
        return _Op(self.src, self.n, self.n_src, terms, self.bias.copy())

    def add(self, other: _Op) -> _Op:
        terms = dict(self.terms)
        for d, t in other.terms.items():
            terms[d] = _merge_terms([terms[d], t], self.n_src) if d in terms else t
        return _Op(self.src, self.n, self.n_src, terms, self.bias + other.bias)


def _merge_terms(ts: list[_Term], n_src: int) -> _Term:
    if len(ts) == 1:
        return ts[0]
    rows = np.unique(np.concatenate([t.rows for t in ts]))
    block = np.zeros((len(rows), n_src))
    for t in ts:
        np.add.at(block, np.searchsorted(rows, t.rows), t.block)
    return _Term(rows, block)


# ---- the importer --------------------------------------------------------------------------


@dataclass
class _Population:
    name: str  # node name ("input" node or neuron node)
    n: int
    source: _Op | None = None  # for neuron nodes: the op feeding them


def load_nir(
    path_or_graph: Any,
    dt: float | None = None,
    *,
    input_spec: InputSpec | None = None,
    readout: str | None = None,
    strict_threshold: bool = False,
) -> Network:
    """Import a NIR graph (a ``.nir`` path or a ``nir.NIRGraph``) as a deployed :class:`Network`.

    dt: step length in **seconds**; required unless the graph carries
    ``metadata["delaykit"]["dt"]`` (then it must agree, or be None).
    input_spec: overrides the input description (default: metadata's, else one channel per
    input element, ``window_steps=1``; simulations take frames of any length).
    readout: overrides the readout rule (default: metadata's, else ``softmax_sum`` for a
    non-spiking last layer and ``spike_count`` for a spiking one).
    strict_threshold: fire at ``v > threshold`` as NIR's text says (see module docstring).

    Raises DelaykitError naming the node and the reason for anything it cannot import exactly.
    """
    import nir  # optional extra ("export"); never torch

    source_desc = "graph"
    if isinstance(path_or_graph, (str, Path)):
        p = Path(path_or_graph)
        source_desc = str(p)
        if not p.exists():
            raise DelaykitError(f"{p}: no such file")
        try:
            graph = nir.read(p, type_check=False)
        except Exception as e:  # nir raises bare ValueError/KeyError/AssertionError/OSError
            raise FormatError(f"{p}: not a readable NIR graph ({type(e).__name__}: {e})") from None
    else:
        graph = path_or_graph
    if not isinstance(graph, nir.NIRGraph):
        raise DelaykitError(f"{source_desc}: expected a nir.NIRGraph, got {type(graph).__name__}")
    try:
        return _import_graph(graph, dt, input_spec, readout, strict_threshold, source_desc)
    except DelaykitError as e:
        if source_desc != "graph" and not str(e).startswith(source_desc):
            raise type(e)(f"{source_desc}: {e}") from None
        raise


def _delaykit_metadata(graph: Any) -> dict[str, Any] | None:
    md = graph.metadata if isinstance(graph.metadata, Mapping) else {}
    dk = md.get("delaykit")
    if dk is None:
        return None
    dk = _decode(dk)
    if not isinstance(dk, Mapping):
        raise FormatError("graph metadata 'delaykit' is not a dictionary")
    return {str(k): _decode(v) for k, v in dk.items()}


def _layers_metadata(dk: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    raw = dk.get("layers")
    if raw is None:
        return None
    raw = _decode(raw)
    if isinstance(raw, Mapping):
        try:
            keys = sorted(raw, key=lambda k: int(k))
        except ValueError:
            raise FormatError(
                "graph metadata 'delaykit.layers' must be a list or a dict keyed 0, 1, ..."
            ) from None
        raw = [raw[k] for k in keys]
    if not isinstance(raw, (list, tuple)):
        raise FormatError("graph metadata 'delaykit.layers' must be a list or a dict keyed 0, 1, ...")
    out = []
    for i, entry in enumerate(raw):
        entry = _decode(entry)
        if not isinstance(entry, Mapping):
            raise FormatError(f"graph metadata 'delaykit.layers[{i}]' is not a dictionary")
        out.append({str(k): _decode(v) for k, v in entry.items()})
    return out


def _import_graph(
    graph: Any,
    dt_arg: float | None,
    input_spec: InputSpec | None,
    readout: str | None,
    strict_threshold: bool,
    source_desc: str,
) -> Network:
    dk = _delaykit_metadata(graph)
    if dk is not None:
        version = int(dk.get("format_version", SUPPORTED_FORMAT_VERSION))
        if version > SUPPORTED_FORMAT_VERSION:
            raise FormatError(
                f"graph metadata 'delaykit.format_version' is {version}; this delaykit reads "
                f"{SUPPORTED_FORMAT_VERSION}: upgrade delaykit"
            )
    dt = _resolve_dt(dk, dt_arg)

    nodes: dict[str, Any] = dict(graph.nodes)
    edges = [(str(a), str(b)) for a, b in graph.edges]
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "NIRGraph":
            raise _err(name, "is a nested NIRGraph; flatten the graph before importing it")
        if kind not in _OP_TYPES + _NEURON_TYPES + ("Input", "Output"):
            raise _err(
                name,
                f"node type {kind} is not supported (delaykit imports feedforward graphs of "
                f"Input, {', '.join(_OP_TYPES)}, {', '.join(_NEURON_TYPES)}, Output)",
            )
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise DelaykitError(f"NIR edge ({a!r}, {b!r}) names node {end!r}, which is not in the graph")
        preds[b].append(a)
        succs[a].append(b)

    inputs = [n for n, x in nodes.items() if type(x).__name__ == "Input"]
    outputs = [n for n, x in nodes.items() if type(x).__name__ == "Output"]
    if len(inputs) != 1:
        raise DelaykitError(f"NIR graph must have exactly one Input node, found {inputs or 'none'}")
    if len(outputs) != 1:
        raise DelaykitError(f"NIR graph must have exactly one Output node, found {outputs or 'none'}")
    order = _topological_order(nodes, preds, succs)

    in_name = inputs[0]
    n_in = _size(nodes[in_name].input_type["input"])
    if n_in < 1:
        raise _err(in_name, f"input shape {list(nodes[in_name].input_type['input'])} is not 1-D")
    if preds[in_name]:
        raise _err(in_name, "an Input node cannot have incoming edges")

    pops: dict[str, _Population] = {in_name: _Population(in_name, n_in)}
    values: dict[str, _Op] = {}  # ops (and the identity op leaving each population)
    values[in_name] = _Op.identity(in_name, n_in)

    for name in order:
        if name == in_name:
            continue
        node = nodes[name]
        kind = type(node).__name__
        if not preds[name]:
            if kind == "Output":
                raise _err(name, "the Output node has no incoming edge")
            continue  # a dangling node that feeds nothing reachable from the input
        incoming = [values[p] for p in preds[name] if p in values]
        if len(incoming) != len(preds[name]):
            missing = [p for p in preds[name] if p not in values]
            raise _err(name, f"receives from {missing}, which are not connected to the input")
        srcs = sorted({op.src for op in incoming})
        if len(srcs) > 1:
            raise _err(
                name,
                f"sums inputs from several populations {srcs}; the deployed-network contract is "
                "a chain of layers (no skip connections)",
            )
        sizes = {op.n for op in incoming}
        if len(sizes) > 1:
            raise _err(name, f"incoming edges carry different sizes {sorted(sizes)}")
        total = incoming[0]
        for op in incoming[1:]:
            total = total.add(op)
        if kind == "Output":
            if len(preds[name]) != 1 or preds[name][0] not in pops:
                raise _err(
                    name,
                    f"the Output node must be fed by exactly one neuron node, got {preds[name]}; "
                    "a non-neuron readout is not part of the deployed-network contract",
                )
            continue
        if kind in _NEURON_TYPES:
            n = total.n
            pops[name] = _Population(name, n, total)
            values[name] = _Op.identity(name, n)
            continue
        values[name] = _apply_op(name, node, total, dt)

    chain = _chain(pops, in_name, outputs[0], preds, succs, nodes)
    layers_md = _layers_metadata(dk) if dk is not None else None
    if layers_md is not None and len(layers_md) != len(chain):
        raise FormatError(
            f"graph metadata 'delaykit.layers' describes {len(layers_md)} layers but the graph has "
            f"{len(chain)} neuron populations; the metadata belongs to another graph"
        )
    layers = []
    for li, pop in enumerate(chain):
        md = layers_md[li] if layers_md is not None else None
        layers.append(_make_layer(pop, nodes[pop.name], dt, md, strict_threshold))

    last_spiking = layers[-1].neuron.spiking
    if dk is not None:
        inp = dk.get("input")
        if input_spec is None and isinstance(inp, Mapping):
            try:
                input_spec = InputSpec(**{k: _jsonable(v) for k, v in inp.items()})
            except (TypeError, ValueError) as e:
                raise FormatError(f"graph metadata 'delaykit.input': {e}") from None
        if readout is None and dk.get("readout") is not None:
            readout = str(_jsonable(dk["readout"]))
    if input_spec is None:
        input_spec = InputSpec(n_channels=n_in, window_steps=1, n_units=n_in, channel_group=1)
    if readout is None:
        readout = "spike_count" if last_spiking else "softmax_sum"
    if readout not in READOUT_RULES:
        raise DelaykitError(f"readout {readout!r} is not one of {READOUT_RULES}")

    if dk is not None:
        provenance = _jsonable(dk.get("provenance", {})) or {}
        metadata = _jsonable(dk.get("metadata", {})) or {}
    else:
        other = {k: v for k, v in (graph.metadata or {}).items() if k != "delaykit"}
        provenance = {"imported_from": "nir", "source": source_desc}
        metadata = {"nir_metadata": _jsonable(other)} if other else {}
    if not isinstance(provenance, dict) or not isinstance(metadata, dict):
        raise FormatError("graph metadata 'delaykit.provenance' and 'delaykit.metadata' must be dictionaries")
    try:
        return Network(
            layers=tuple(layers),
            dt=dt,
            input=input_spec,
            readout=readout,
            provenance=provenance,
            metadata=metadata,
        )
    except ValueError as e:
        raise DelaykitError(f"the imported network is not valid: {e}") from None


def _resolve_dt(dk: Mapping[str, Any] | None, dt_arg: float | None) -> float:
    md_dt = None
    if dk is not None and dk.get("dt") is not None:
        md_dt = float(_jsonable(dk["dt"]))
    if md_dt is not None:
        if dt_arg is not None and not math.isclose(float(dt_arg), md_dt, rel_tol=1e-12):
            raise DelaykitError(
                f"dt={dt_arg} s was given but the graph's metadata says dt={md_dt} s; "
                "omit dt to use the graph's"
            )
        dt = md_dt
    elif dt_arg is None:
        raise DelaykitError(
            "NIR graphs are continuous-time and this one does not record its step: pass dt "
            "(seconds per step, e.g. dt=0.01 or --dt 0.01)"
        )
    else:
        dt = float(dt_arg)
    if not (math.isfinite(dt) and dt > 0):
        raise DelaykitError(f"dt must be a positive number of seconds, got {dt}")
    return dt


def _topological_order(
    nodes: Mapping[str, Any], preds: Mapping[str, list[str]], succs: Mapping[str, list[str]]
) -> list[str]:
    indeg = {n: len(p) for n, p in preds.items()}
    ready = [n for n in nodes if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for s in succs[n]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(order) != len(nodes):
        cyclic = sorted(n for n in nodes if indeg[n] > 0)
        raise _err(
            cyclic[0],
            f"is part of a cycle (nodes {cyclic}); recurrent graphs are not supported by the "
            "feedforward deployed-network contract",
        )
    return order


def _apply_op(name: str, node: Any, op: _Op, dt: float) -> _Op:
    kind = type(node).__name__
    if kind in ("Linear", "Affine"):
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2:
            raise _err(name, f"{kind} weight must be 2-D (out, in), got shape {w.shape}")
        if w.shape[1] != op.n:
            raise _err(name, f"{kind} weight has {w.shape[1]} inputs but receives {op.n} values")
        if not np.isfinite(w).all():
            raise _err(name, f"{kind} weight contains NaN or infinity")
        c = None
        if kind == "Affine":
            c = _vector(name, "bias", node.bias, w.shape[0])
            if not np.isfinite(c).all():
                raise _err(name, "Affine bias contains infinity")
        return op.left_matmul(w, c)
    if kind == "Scale":
        s = np.asarray(node.scale, dtype=np.float64).reshape(-1)
        if s.size == 1:
            s = np.full(op.n, float(s[0]))
        if s.shape != (op.n,):
            raise _err(name, f"Scale has {s.size} factors but receives {op.n} values")
        return op.scale(s)
    if kind == "Delay":
        sec = np.asarray(node.delay, dtype=np.float64).reshape(-1)
        if sec.size == 1 and op.n != 1:
            sec = np.full(op.n, float(sec[0]))
        if sec.shape != (op.n,):
            raise _err(name, f"Delay has {sec.size} values but receives {op.n} values")
        if not np.isfinite(sec).all() or (sec < 0).any():
            raise _err(name, "delays must be finite and >= 0 seconds")
        steps_f = sec / dt
        steps = np.round(steps_f)
        bad = np.abs(steps_f - steps) > DELAY_STEP_TOLERANCE
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise _err(
                name,
                f"delay {sec[k]!r} s (element {k}) is not a whole number of steps of dt={dt} s "
                f"({steps_f[k]:.6f} steps); pass the dt the graph was made for",
            )
        return op.delay(steps.astype(np.int64), name)
    if kind == "Flatten":
        in_t = node.input_type.get("input") if isinstance(node.input_type, Mapping) else None
        if in_t is not None and np.asarray(in_t).size and _size(in_t) < 0:
            raise _err(name, f"Flatten of a multi-dimensional input {list(in_t)} is not supported")
        return op
    raise _err(name, f"unsupported node type {kind}")  # pragma: no cover - filtered earlier


def _chain(
    pops: Mapping[str, _Population],
    in_name: str,
    out_name: str,
    preds: Mapping[str, list[str]],
    succs: Mapping[str, list[str]],
    nodes: Mapping[str, Any],
) -> list[_Population]:
    """Order the neuron populations from the input to the output; reject anything else."""
    by_src: dict[str, list[_Population]] = {}
    for p in pops.values():
        if p.source is not None:
            by_src.setdefault(p.source.src, []).append(p)
    chain = []
    cur = in_name
    while True:
        nxt = by_src.get(cur, [])
        if len(nxt) > 1:
            raise _err(
                cur,
                f"feeds several neuron populations {[p.name for p in nxt]}; the deployed-network "
                "contract is a single chain of layers",
            )
        if not nxt:
            break
        chain.append(nxt[0])
        cur = nxt[0].name
    used = {p.name for p in chain}
    unused = [n for n, p in pops.items() if n != in_name and n not in used]
    if unused:
        raise _err(unused[0], "is a neuron population that is not on the chain from the Input")
    if not chain:
        raise DelaykitError("NIR graph has no neuron node between Input and Output")
    if preds[out_name] != [chain[-1].name]:
        raise _err(
            out_name,
            f"the Output must be fed by the last neuron population {chain[-1].name!r}, got {preds[out_name]}",
        )
    for p in chain[:-1]:
        if out_name in succs[p.name]:
            raise _err(p.name, "a hidden population also feeds the Output; only the last layer may")
    return chain


@dataclass
class _NeuronMap:
    neuron: LIF | LI
    gain: np.ndarray  # per neuron, multiplies incoming weights and bias
    extra_bias: np.ndarray  # per neuron, added after the gain (leak offset)


def _map_neuron(name: str, node: Any, n: int, dt: float, strict_threshold: bool) -> _NeuronMap:
    kind = type(node).__name__
    zeros = np.zeros(n)

    def vec(field_name: str, default: Any = None) -> np.ndarray:
        value = getattr(node, field_name, default)
        if value is None:
            value = default
        return _vector(name, field_name, value, n)

    def tau_steps(field_name: str) -> float:
        tau = _uniform(name, field_name, vec(field_name), "the contract has one time constant per layer")
        if not (math.isfinite(tau) and tau > 0):
            raise _err(name, f"field {field_name!r} must be a positive number of seconds, got {tau}")
        steps = _snap(tau / dt)
        if steps < 1.0:
            raise _err(
                name,
                f"{field_name} = {tau} s is shorter than one step (dt = {dt} s); forward Euler "
                "needs tau/dt >= 1",
            )
        return steps

    def threshold() -> np.ndarray:
        th = vec("v_threshold")
        if not np.isfinite(th).all():
            raise _err(name, "v_threshold must be finite")
        return np.nextafter(th, np.inf) if strict_threshold else th

    def snap_gain(g: np.ndarray) -> np.ndarray:
        g = g.copy()
        g[np.isclose(g, 1.0, rtol=PARAM_RTOL, atol=0.0)] = 1.0
        return g

    def tau_syn_is_one_step() -> None:
        ts = vec("tau_syn")
        steps = ts / dt
        if not np.allclose(steps, 1.0, rtol=PARAM_RTOL, atol=0.0):
            k = int(np.argmax(np.abs(steps - 1.0)))
            raise _err(
                name,
                f"{kind} with tau_syn = {ts[k]!r} s ({steps[k]:g} steps of dt = {dt} s): a synaptic "
                "current that outlasts one step is a second state variable the contract's neuron "
                "cannot hold; only tau_syn = dt (an instantaneous current) is imported exactly",
            )

    if kind == "LIF":
        ts = tau_steps("tau")
        v_reset = vec("v_reset", 0.0)
        v_leak = vec("v_leak", 0.0)
        gain = snap_gain(vec("r") / ts)
        neuron = LIF(tau=ts, v_threshold=threshold(), v_reset=v_reset)
        return _NeuronMap(neuron, gain, (v_leak - v_reset) / ts)
    if kind == "CubaLIF":
        tau_syn_is_one_step()
        ts = tau_steps("tau_mem")
        v_reset = vec("v_reset", 0.0)
        v_leak = vec("v_leak", 0.0)
        gain = snap_gain(vec("w_in", 1.0) * vec("r") / ts)
        neuron = LIF(tau=ts, v_threshold=threshold(), v_reset=v_reset)
        return _NeuronMap(neuron, gain, (v_leak - v_reset) / ts)
    if kind == "IF":
        v_reset = vec("v_reset", 0.0)
        th = threshold() - v_reset  # shift the voltage so that the reset is 0 (module doc)
        gain = snap_gain(vec("r") * dt)
        return _NeuronMap(LIF(tau=NO_LEAK_TAU_STEPS, v_threshold=th, v_reset=0.0), gain, zeros)
    if kind == "LI":
        ts = tau_steps("tau")
        gain = snap_gain(vec("r") / ts)
        return _NeuronMap(LI(tau=ts, v_reset=vec("v_leak", 0.0)), gain, zeros)
    if kind == "CubaLI":
        tau_syn_is_one_step()
        ts = tau_steps("tau_mem")
        gain = snap_gain(vec("w_in", 1.0) * vec("r") / ts)
        return _NeuronMap(LI(tau=ts, v_reset=vec("v_leak", 0.0)), gain, zeros)
    if kind == "I":
        gain = snap_gain(vec("r") * dt)
        return _NeuronMap(LI(tau=NO_LEAK_TAU_STEPS, v_reset=0.0), gain, zeros)
    raise _err(name, f"unsupported neuron type {kind}")  # pragma: no cover


def _collapse(pop: _Population, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The layer's op -> (weight (out,in) float64, delay (out,in) int64, bias (out,))."""
    op = pop.source
    if op is None:
        raise _err(name, "has no synaptic input (no Linear/Affine node feeds it)")
    w = np.zeros((op.n, op.n_src))
    d = np.zeros((op.n, op.n_src), dtype=np.int64)
    seen = np.zeros((op.n, op.n_src), dtype=bool)
    for delay in sorted(op.terms):
        t = op.terms[delay]
        block = t.block
        nz = block != 0
        rows_nz, cols_nz = np.nonzero(nz)
        r = t.rows[rows_nz]
        clash = seen[r, cols_nz]
        if clash.any():
            k = int(np.flatnonzero(clash)[0])
            j, i = int(r[k]), int(cols_nz[k])
            first = int(d[j, i])
            raise _err(
                name,
                f"synapse from input {i} to neuron {j} arrives through two delays ({first} and "
                f"{delay} steps); the contract has one delay per synapse",
            )
        w[r, cols_nz] = block[rows_nz, cols_nz]
        d[r, cols_nz] = delay
        seen[r, cols_nz] = True
    return w, d, op.bias.copy()


def _make_layer(
    pop: _Population, node: Any, dt: float, md: Mapping[str, Any] | None, strict_threshold: bool
) -> Layer:
    name = pop.name
    w, d, b = _collapse(pop, name)
    nm = _map_neuron(name, node, pop.n, dt, strict_threshold)
    w = w * nm.gain[:, None]
    b = b * nm.gain + nm.extra_bias
    if md is None:
        try:
            return Layer(name=name, weight=w, delay=d, bias=b, neuron=nm.neuron)
        except ValueError as e:
            raise _err(name, str(e)) from None
    return _restore_layer(name, w, d, b, nm.neuron, md)


def _restore_layer(
    node_name: str, w: np.ndarray, d: np.ndarray, b: np.ndarray, derived: LIF | LI, md: Mapping[str, Any]
) -> Layer:
    """Rebuild a layer losslessly from the graph values and its delaykit metadata."""
    where = f"NIR node {node_name!r} (metadata layer {md.get('name', '?')!r})"
    md_node = md.get("node")
    if md_node is not None and str(_jsonable(md_node)) != node_name:
        raise FormatError(
            f"{where}: metadata names node {_jsonable(md_node)!r} for this layer; the metadata "
            "belongs to another graph"
        )
    layer_name = str(_jsonable(md.get("name", node_name)))
    extend = int(_jsonable(md.get("extend_steps", 0)))
    neuron_d = md.get("neuron")
    if neuron_d is not None:
        try:
            neuron = neuron_from_dict(_jsonable(neuron_d), where=where)
        except ValueError as e:
            raise FormatError(str(e)) from None
        if neuron.kind != derived.kind:
            raise FormatError(
                f"{where}: metadata says a {neuron.kind} neuron, the graph has a {derived.kind}"
            )
        if not math.isclose(neuron.tau, derived.tau, rel_tol=1e-9):
            raise FormatError(
                f"{where}: metadata tau {neuron.tau} steps disagrees with the graph's {derived.tau} steps"
            )
    else:
        neuron = derived
    n_out = w.shape[0]
    scale_raw = md.get("weight_scale")
    scale = None
    if scale_raw is not None and _jsonable(scale_raw) is not None:
        scale = np.asarray(_jsonable(scale_raw), dtype=np.float64).reshape(-1)
        if scale.size == 1:
            scale = np.full(n_out, float(scale[0]))
        if scale.shape != (n_out,):
            raise FormatError(f"{where}: weight_scale has {scale.size} values for {n_out} neurons")
    if scale is not None:
        # Integer layer. The graph holds real units (int x scale), as NIR's semantics want, or
        # integer units; the threshold of the node tells which (LI: integrality decides).
        factor = _unit_factor(where, derived, neuron, scale, w)
        w_units = w / factor[:, None]
        b_units = b / factor
        w_int = np.round(w_units)
        b_int = np.round(b_units)
        tol = 1e-6 * np.maximum(1.0, np.abs(w_int))
        if (np.abs(w_units - w_int) > tol).any() or (
            np.abs(b_units - b_int) > 1e-6 * np.maximum(1.0, np.abs(b_int))
        ).any():
            raise FormatError(
                f"{where}: weights or bias are not integer multiples of weight_scale; the metadata "
                "does not match the graph (was the graph edited after export?)"
            )
        dtype = np.dtype(str(_jsonable(md.get("weight_dtype", "int32"))))
        if dtype.kind not in "iu":
            dtype = np.dtype(np.int32)
        w_final: np.ndarray = w_int.astype(dtype)
        b_final: np.ndarray = b_int.astype(np.int64)
    else:
        dtype = np.dtype(str(_jsonable(md.get("weight_dtype", "float64"))))
        w_final = w.astype(dtype if dtype.kind == "f" else np.float64)
        b_final = b
        _check_neuron_agrees(where, derived, neuron, np.ones(n_out))
    delay_md = md.get("delay")
    if delay_md is not None:
        dm = np.asarray(_jsonable(delay_md), dtype=np.int64)
        if dm.shape != d.shape:
            raise FormatError(f"{where}: metadata delay has shape {dm.shape}, the graph {d.shape}")
        nz = w_final != 0
        if (dm[nz] != d[nz]).any():
            raise FormatError(f"{where}: metadata delays disagree with the graph's Delay nodes")
        d = dm
    try:
        return Layer(
            name=layer_name,
            weight=w_final,
            delay=d,
            bias=b_final,
            neuron=neuron,
            weight_scale=scale,
            extend_steps=extend,
        )
    except ValueError as e:
        raise FormatError(f"{where}: {e}") from None


def _unit_factor(
    where: str, derived: LIF | LI, neuron: LIF | LI, scale: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Per-neuron factor between the graph's units and the contract's integer units."""
    ones = np.ones_like(scale)
    if isinstance(derived, LIF) and isinstance(neuron, LIF) and derived.tau < NO_LEAK_TAU_STEPS:
        th_g = np.broadcast_to(np.asarray(derived.v_threshold, dtype=np.float64), scale.shape)
        th_m = np.broadcast_to(np.asarray(neuron.v_threshold, dtype=np.float64), scale.shape)
        if np.allclose(th_g, th_m * scale, rtol=1e-9, atol=0.0):
            return scale
        if np.allclose(th_g, th_m, rtol=1e-9, atol=0.0):
            return ones
        raise FormatError(
            f"{where}: the node's v_threshold is neither the metadata threshold nor threshold x "
            "weight_scale; the metadata does not match the graph"
        )
    units = w / scale[:, None]
    if np.allclose(units, np.round(units), rtol=0.0, atol=1e-6):
        return scale
    return ones


def _check_neuron_agrees(where: str, derived: LIF | LI, neuron: LIF | LI, factor: np.ndarray) -> None:
    if isinstance(derived, LIF) and isinstance(neuron, LIF):
        th_g = np.asarray(derived.v_threshold, dtype=np.float64)
        th_m = np.asarray(neuron.v_threshold, dtype=np.float64) * factor
        if not np.allclose(
            np.broadcast_to(th_g, factor.shape), np.broadcast_to(th_m, factor.shape), rtol=1e-9, atol=0.0
        ):
            raise FormatError(f"{where}: the node's v_threshold disagrees with the metadata neuron")
