"""Walking a NIR graph: from the Input through linear ops and Delay nodes to neuron populations.

Every node's value is a delayed linear map of one population (:class:`DelayedOp`,
``y[t] = sum_d M_d x[t - d] + bias``); ops compose it exactly, several edges into a node are
summed, and a neuron node starts a new population. The result is the chain of populations
from the Input to the Output (:class:`Walk`), each with the op that feeds it;
:func:`collapse` turns that op into one weight matrix and one integer delay matrix (steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError

from .fields import node_error, size_1d, vector
from .neurons import NEURON_TYPES

#: A Delay value may be off a whole number of steps by at most this many steps.
DELAY_STEP_TOLERANCE = 1e-6
#: The NIR operator node types the importer understands.
OP_TYPES = ("Linear", "Affine", "Scale", "Delay", "Flatten")


# ---- linear operators with delays ----------------------------------------------------------


@dataclass
class Term:
    """Rows ``rows`` of an (n x n_src) matrix, all at the same delay; other rows are zero."""

    rows: np.ndarray  # int64, sorted, unique
    block: np.ndarray  # (len(rows), n_src) float64


@dataclass
class DelayedOp:
    """A delayed linear map from population ``src`` (n_src) to n outputs:
    ``y[t] = sum_d M_d x[t - d] + bias``; ``terms[d]`` holds M_d row-sparsely (d in steps)."""

    src: str
    n: int
    n_src: int
    terms: dict[int, Term]
    bias: np.ndarray

    @staticmethod
    def identity(src: str, n: int) -> DelayedOp:
        return DelayedOp(src, n, n, {0: Term(np.arange(n), np.eye(n))}, np.zeros(n))

    def dense(self, d: int) -> np.ndarray:
        m = np.zeros((self.n, self.n_src))
        t = self.terms.get(d)
        if t is not None:
            m[t.rows] = t.block
        return m

    def left_matmul(self, w: np.ndarray, c: np.ndarray | None) -> DelayedOp:
        """``W @ op + c`` for a weight (n_out, n)."""
        terms = {}
        for d, t in self.terms.items():
            block = w[:, t.rows] @ t.block
            terms[d] = Term(np.arange(w.shape[0]), block)
        bias = w @ self.bias + (0.0 if c is None else c)
        return DelayedOp(self.src, w.shape[0], self.n_src, terms, bias)

    def scale(self, s: np.ndarray) -> DelayedOp:
        terms = {d: Term(t.rows, t.block * s[t.rows, None]) for d, t in self.terms.items()}
        return DelayedOp(self.src, self.n, self.n_src, terms, self.bias * s)

    def delay(self, steps: np.ndarray, node: str) -> DelayedOp:
        """Delay output ``k`` by ``steps[k]`` steps; a constant bias must not be delayed."""
        moved = (steps > 0) & (self.bias != 0)
        if moved.any():
            k = int(np.flatnonzero(moved)[0])
            raise node_error(
                node,
                f"element {k} carries a constant bias {self.bias[k]:g} from an upstream Affine "
                f"into a delay of {int(steps[k])} steps; a delayed constant is zero for the first "
                "steps, which the contract's per-step bias cannot express (put the Affine after "
                "the Delay)",
            )
        out: dict[int, list[Term]] = {}
        for d, t in self.terms.items():
            sd = steps[t.rows]
            for e in np.unique(sd):
                sel = sd == e
                out.setdefault(d + int(e), []).append(Term(t.rows[sel], t.block[sel]))
        terms = {d: _merge_terms(ts, self.n_src) for d, ts in out.items()}
        return DelayedOp(self.src, self.n, self.n_src, terms, self.bias.copy())

    def add(self, other: DelayedOp) -> DelayedOp:
        terms = dict(self.terms)
        for d, t in other.terms.items():
            terms[d] = _merge_terms([terms[d], t], self.n_src) if d in terms else t
        return DelayedOp(self.src, self.n, self.n_src, terms, self.bias + other.bias)


def _merge_terms(ts: list[Term], n_src: int) -> Term:
    if len(ts) == 1:
        return ts[0]
    rows = np.unique(np.concatenate([t.rows for t in ts]))
    block = np.zeros((len(rows), n_src))
    for t in ts:
        np.add.at(block, np.searchsorted(rows, t.rows), t.block)
    return Term(rows, block)


# ---- operator nodes ------------------------------------------------------------------------


def _apply_linear(name: str, node: Any, op: DelayedOp) -> DelayedOp:
    kind = type(node).__name__
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise node_error(name, f"{kind} weight must be 2-D (out, in), got shape {w.shape}")
    if w.shape[1] != op.n:
        raise node_error(name, f"{kind} weight has {w.shape[1]} inputs but receives {op.n} values")
    if not np.isfinite(w).all():
        raise node_error(name, f"{kind} weight contains NaN or infinity")
    c = None
    if kind == "Affine":
        c = vector(name, "bias", node.bias, w.shape[0])
        if not np.isfinite(c).all():
            raise node_error(name, "Affine bias contains infinity")
    return op.left_matmul(w, c)


def _apply_scale(name: str, node: Any, op: DelayedOp) -> DelayedOp:
    s = np.asarray(node.scale, dtype=np.float64).reshape(-1)
    if s.size == 1:
        s = np.full(op.n, float(s[0]))
    if s.shape != (op.n,):
        raise node_error(name, f"Scale has {s.size} factors but receives {op.n} values")
    return op.scale(s)


def _apply_delay(name: str, node: Any, op: DelayedOp, dt: float) -> DelayedOp:
    sec = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    if sec.size == 1 and op.n != 1:
        sec = np.full(op.n, float(sec[0]))
    if sec.shape != (op.n,):
        raise node_error(name, f"Delay has {sec.size} values but receives {op.n} values")
    if not np.isfinite(sec).all() or (sec < 0).any():
        raise node_error(name, "delays must be finite and >= 0 seconds")
    steps_f = sec / dt
    steps = np.round(steps_f)
    bad = np.abs(steps_f - steps) > DELAY_STEP_TOLERANCE
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise node_error(
            name,
            f"delay {float(sec[k])!r} s (element {k}) is not a whole number of steps of dt={dt} s "
            f"({steps_f[k]:.6f} steps); pass the dt the graph was made for",
        )
    return op.delay(steps.astype(np.int64), name)


def _apply_flatten(name: str, node: Any, op: DelayedOp) -> DelayedOp:
    in_t = node.input_type.get("input") if isinstance(node.input_type, Mapping) else None
    if in_t is not None and np.asarray(in_t).size and size_1d(in_t) < 0:
        raise node_error(name, f"Flatten of a multi-dimensional input {list(in_t)} is not supported")
    return op


def apply_op(name: str, node: Any, op: DelayedOp, dt: float) -> DelayedOp:
    """The value of operator node ``name`` fed by ``op`` (dt: the step in seconds)."""
    kind = type(node).__name__
    if kind in ("Linear", "Affine"):
        return _apply_linear(name, node, op)
    if kind == "Scale":
        return _apply_scale(name, node, op)
    if kind == "Delay":
        return _apply_delay(name, node, op, dt)
    if kind == "Flatten":
        return _apply_flatten(name, node, op)
    raise node_error(name, f"unsupported node type {kind}")  # pragma: no cover - filtered earlier


# ---- the walk ----------------------------------------------------------------------------------


@dataclass
class Population:
    """A neuron population: the Input node, or a neuron node and the op that feeds it."""

    name: str  # node name ("input" node or neuron node)
    n: int
    source: DelayedOp | None = None  # for neuron nodes: the op feeding them


@dataclass
class Walk:
    """A walked graph: its nodes, the input's size and the chain of neuron populations."""

    nodes: dict[str, Any]
    n_in: int
    chain: list[Population]


@dataclass
class _Adjacency:
    preds: dict[str, list[str]]
    succs: dict[str, list[str]]


def _check_node_types(nodes: Mapping[str, Any]) -> None:
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "NIRGraph":
            raise node_error(name, "is a nested NIRGraph; flatten the graph before importing it")
        if kind not in OP_TYPES + NEURON_TYPES + ("Input", "Output"):
            raise node_error(
                name,
                f"node type {kind} is not supported (delaykit imports feedforward graphs of "
                f"Input, {', '.join(OP_TYPES)}, {', '.join(NEURON_TYPES)}, Output)",
            )


def _adjacency(nodes: Mapping[str, Any], edges: list[tuple[str, str]]) -> _Adjacency:
    adj = _Adjacency({n: [] for n in nodes}, {n: [] for n in nodes})
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise DelaykitError(f"NIR edge ({a!r}, {b!r}) names node {end!r}, which is not in the graph")
        adj.preds[b].append(a)
        adj.succs[a].append(b)
    return adj


def _the_one(nodes: Mapping[str, Any], kind: str) -> str:
    found = [n for n, x in nodes.items() if type(x).__name__ == kind]
    if len(found) != 1:
        raise DelaykitError(f"NIR graph must have exactly one {kind} node, found {found or 'none'}")
    return found[0]


def topological_order(nodes: Mapping[str, Any], adj: _Adjacency) -> list[str]:
    """The node names, every node after its predecessors; a cycle is an error."""
    indeg = {n: len(p) for n, p in adj.preds.items()}
    ready = [n for n in nodes if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for s in adj.succs[n]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(order) != len(nodes):
        cyclic = sorted(n for n in nodes if indeg[n] > 0)
        raise node_error(
            cyclic[0],
            f"is part of a cycle (nodes {cyclic}); recurrent graphs are not supported by the "
            "feedforward deployed-network contract",
        )
    return order


def _summed_input(name: str, preds: list[str], values: Mapping[str, DelayedOp]) -> DelayedOp:
    """The sum of a node's incoming edges (all from one population, all of one size)."""
    incoming = [values[p] for p in preds if p in values]
    if len(incoming) != len(preds):
        missing = [p for p in preds if p not in values]
        raise node_error(name, f"receives from {missing}, which are not connected to the input")
    srcs = sorted({op.src for op in incoming})
    if len(srcs) > 1:
        raise node_error(
            name,
            f"sums inputs from several populations {srcs}; the deployed-network contract is "
            "a chain of layers (no skip connections)",
        )
    sizes = {op.n for op in incoming}
    if len(sizes) > 1:
        raise node_error(name, f"incoming edges carry different sizes {sorted(sizes)}")
    total = incoming[0]
    for op in incoming[1:]:
        total = total.add(op)
    return total


def _visit(
    name: str,
    node: Any,
    preds: list[str],
    pops: dict[str, Population],
    values: dict[str, DelayedOp],
    dt: float,
) -> None:
    """Give node ``name`` its value (an op, or a new population for a neuron node)."""
    kind = type(node).__name__
    if not preds:
        if kind == "Output":
            raise node_error(name, "the Output node has no incoming edge")
        return  # a dangling node that feeds nothing reachable from the input
    total = _summed_input(name, preds, values)
    if kind == "Output":
        if len(preds) != 1 or preds[0] not in pops:
            raise node_error(
                name,
                f"the Output node must be fed by exactly one neuron node, got {preds}; "
                "a non-neuron readout is not part of the deployed-network contract",
            )
        return
    if kind in NEURON_TYPES:
        pops[name] = Population(name, total.n, total)
        values[name] = DelayedOp.identity(name, total.n)
        return
    values[name] = apply_op(name, node, total, dt)


def walk_graph(graph: Any, dt: float) -> Walk:
    """Walk ``graph`` (a ``nir.NIRGraph``) from its Input; dt: the step in seconds.

    Raises DelaykitError naming the node for anything that is not a feedforward chain of
    supported nodes.
    """
    nodes: dict[str, Any] = dict(graph.nodes)
    _check_node_types(nodes)
    adj = _adjacency(nodes, [(str(a), str(b)) for a, b in graph.edges])
    in_name = _the_one(nodes, "Input")
    out_name = _the_one(nodes, "Output")
    order = topological_order(nodes, adj)
    n_in = size_1d(nodes[in_name].input_type["input"])
    if n_in < 1:
        raise node_error(in_name, f"input shape {list(nodes[in_name].input_type['input'])} is not 1-D")
    if adj.preds[in_name]:
        raise node_error(in_name, "an Input node cannot have incoming edges")
    pops: dict[str, Population] = {in_name: Population(in_name, n_in)}
    values: dict[str, DelayedOp] = {in_name: DelayedOp.identity(in_name, n_in)}
    for name in order:
        if name != in_name:
            _visit(name, nodes[name], adj.preds[name], pops, values, dt)
    return Walk(nodes, n_in, _chain(pops, in_name, out_name, adj))


def _chain(pops: Mapping[str, Population], in_name: str, out_name: str, adj: _Adjacency) -> list[Population]:
    """Order the neuron populations from the input to the output; reject anything else."""
    by_src: dict[str, list[Population]] = {}
    for p in pops.values():
        if p.source is not None:
            by_src.setdefault(p.source.src, []).append(p)
    chain = []
    cur = in_name
    while nxt := by_src.get(cur, []):
        if len(nxt) > 1:
            raise node_error(
                cur,
                f"feeds several neuron populations {[p.name for p in nxt]}; the deployed-network "
                "contract is a single chain of layers",
            )
        chain.append(nxt[0])
        cur = nxt[0].name
    used = {p.name for p in chain}
    unused = [n for n in pops if n != in_name and n not in used]
    if unused:
        raise node_error(unused[0], "is a neuron population that is not on the chain from the Input")
    if not chain:
        raise DelaykitError("NIR graph has no neuron node between Input and Output")
    if adj.preds[out_name] != [chain[-1].name]:
        raise node_error(
            out_name,
            f"the Output must be fed by the last neuron population {chain[-1].name!r}, "
            f"got {adj.preds[out_name]}",
        )
    for p in chain[:-1]:
        if out_name in adj.succs[p.name]:
            raise node_error(p.name, "a hidden population also feeds the Output; only the last layer may")
    return chain


def collapse(pop: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A population's feeding op -> (weight (out,in) float64, delay (out,in) int64 steps, bias (out,))."""
    name, op = pop.name, pop.source
    if op is None:
        raise node_error(name, "has no synaptic input (no Linear/Affine node feeds it)")
    w = np.zeros((op.n, op.n_src))
    d = np.zeros((op.n, op.n_src), dtype=np.int64)
    seen = np.zeros((op.n, op.n_src), dtype=bool)
    for delay in sorted(op.terms):
        t = op.terms[delay]
        rows_nz, cols_nz = np.nonzero(t.block != 0)
        r = t.rows[rows_nz]
        clash = seen[r, cols_nz]
        if clash.any():
            k = int(np.flatnonzero(clash)[0])
            j, i = int(r[k]), int(cols_nz[k])
            raise node_error(
                name,
                f"synapse from input {i} to neuron {j} arrives through two delays ({int(d[j, i])} and "
                f"{delay} steps); the contract has one delay per synapse",
            )
        w[r, cols_nz] = t.block[rows_nz, cols_nz]
        d[r, cols_nz] = delay
        seen[r, cols_nz] = True
    return w, d, op.bias.copy()
