"""Import NIR graphs (``nir`` 1.0.8) as deployed networks, Delay nodes included.

``load_nir(path_or_graph, dt=None) -> Network`` accepts any NIR graph that is a feedforward
chain ``Input -> ops -> neurons -> ops -> neurons ... -> Output`` where *ops* are
``Linear``, ``Affine``, ``Scale``, element-wise ``Delay`` and 1-D ``Flatten`` nodes, in any
number of branches (several edges into one node are summed), and *neurons* are ``LIF``,
``IF``, ``LI``, ``I``, ``CubaLIF`` and ``CubaLI``. Both layouts that ``convert`` writes for
per-synapse delays (docs/design.md, "File formats") are understood: one branch per distinct
delay (``Delay(d*dt) -> Linear(W masked to d)``) and a fan-out ``Linear -> Delay -> block
Linear``. All paths between two neuron populations are composed exactly into one ``(out, in)``
weight matrix and one integer delay matrix (steps). A synapse that receives through two
different delays is rejected: the contract allows one delay per synapse.

The steps, one module each: :mod:`delaykit.nir.graph` walks the graph and composes the ops,
:mod:`delaykit.nir.neurons` maps each neuron node onto the contract's neuron (forward Euler;
the gains, leaks, IF/I and current-based nodes are documented there) and
:mod:`delaykit.nir.metadata` restores what delaykit's own export wrote.

Time (NIR is continuous-time, times in **seconds**; the contract counts **steps** of ``dt``).
``dt`` comes from ``graph.metadata["delaykit"]["dt"]`` when present, else from the ``dt``
argument; without either the import fails. Every ``Delay`` value must be a whole number of
steps (within 1e-6 step).

* A constant bias (Affine) that then passes through a non-zero Delay is rejected: a delayed
  constant is zero for the first ``d`` steps, which a per-step bias cannot express.
* Not supported, rejected with the node's name: recurrence (cycles), Conv/pooling/Threshold
  nodes, nested NIRGraph nodes, skip connections (a layer fed by two populations), branches,
  multi-dimensional shapes and an Output fed by anything but a neuron node.

Lossless re-import: when ``graph.metadata["delaykit"]`` is present (written by
:mod:`delaykit.nir.export_nir`) the network is restored from it and the graph, and the two
are checked to agree (:mod:`delaykit.nir.metadata`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from delaykit.errors import DelaykitError, FormatError
from delaykit.network import READOUT_RULES, InputSpec, Layer, Network

from .fields import node_error
from .graph import Population, Walk, collapse, walk_graph
from .metadata import (
    SUPPORTED_FORMAT_VERSION,
    GraphLayer,
    delaykit_metadata,
    input_and_readout,
    jsonable,
    layers_metadata,
    metadata_dt,
    provenance_and_metadata,
    restore_layer,
)
from .neurons import NO_LEAK_TAU_STEPS, check_current_bias, map_neuron

__all__ = ["NO_LEAK_TAU_STEPS", "SUPPORTED_FORMAT_VERSION", "load_nir"]


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
    strict_threshold: fire at ``v > threshold`` as NIR's text says (:mod:`delaykit.nir.neurons`).

    Raises DelaykitError naming the node and the reason for anything it cannot import exactly.
    """
    graph, source_desc = _read_graph(path_or_graph)
    try:
        return _import_graph(graph, dt, input_spec, readout, strict_threshold, source_desc)
    except DelaykitError as e:
        if source_desc != "graph" and not str(e).startswith(source_desc):
            raise type(e)(f"{source_desc}: {e}") from None
        raise


def _read_graph(path_or_graph: Any) -> tuple[Any, str]:
    """(the ``nir.NIRGraph``, how errors name it: the path or "graph")."""
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
            why = _unknown_node_types(p) or f"{type(e).__name__}: {e}"
            raise FormatError(f"{p}: not a readable NIR graph ({why})") from None
    else:
        graph = path_or_graph
    if not isinstance(graph, nir.NIRGraph):
        raise DelaykitError(f"{source_desc}: expected a nir.NIRGraph, got {type(graph).__name__}")
    return graph, source_desc


def _unknown_node_types(p: Path) -> str:
    """Name the nodes whose ``type`` the installed nir does not define ('' if none, or unreadable)."""
    import h5py  # heavy optional reader kept out of plain imports
    import nir

    def names(cls: type) -> set[str]:
        subs: list[type] = cls.__subclasses__()
        return {cls.__name__}.union(*(names(c) for c in subs))

    known = names(nir.NIRNode)
    bad = []
    try:
        with h5py.File(p, "r") as f:

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Group) and "type" in obj:
                    t = obj["type"][()]
                    t = t.decode() if isinstance(t, bytes) else str(t)
                    if t not in known:
                        bad.append(f"node '{name.rsplit('/', 1)[-1]}' has type {t!r}")

            f.visititems(visit)
    except Exception:  # noqa: BLE001 - only a better message is at stake
        return ""
    if not bad:
        return ""
    return f"{'; '.join(bad[:3])}, which nir {getattr(nir, '__version__', '')} does not define"


def _import_graph(
    graph: Any,
    dt_arg: float | None,
    input_spec: InputSpec | None,
    readout: str | None,
    strict_threshold: bool,
    source_desc: str,
) -> Network:
    dk = delaykit_metadata(graph)
    dt = _resolve_dt(metadata_dt(dk), dt_arg)
    walk = walk_graph(graph, dt)
    layers_md = layers_metadata(dk, len(walk.chain)) if dk is not None else None
    layers = [
        _make_layer(pop, walk, dt, None if layers_md is None else layers_md[li], strict_threshold)
        for li, pop in enumerate(walk.chain)
    ]
    if dk is not None:
        input_spec, readout = input_and_readout(dk, input_spec, readout)
        provenance, metadata = provenance_and_metadata(dk)
    else:
        other = {k: v for k, v in (graph.metadata or {}).items() if k != "delaykit"}
        provenance = {"imported_from": "nir", "source": source_desc}
        metadata = {"nir_metadata": jsonable(other)} if other else {}
    if input_spec is None:
        n_in = walk.n_in
        input_spec = InputSpec(n_channels=n_in, window_steps=1, n_units=n_in, channel_group=1)
    if readout is None:
        readout = "spike_count" if layers[-1].neuron.spiking else "softmax_sum"
    if readout not in READOUT_RULES:
        raise DelaykitError(f"readout {readout!r} is not one of {READOUT_RULES}")
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


def _resolve_dt(md_dt: float | None, dt_arg: float | None) -> float:
    """The step in seconds: the metadata's (``dt_arg`` must agree) or ``dt_arg``."""
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
            "(seconds per step, e.g. dt=0.01)"
        )
    else:
        dt = float(dt_arg)
    if not (math.isfinite(dt) and dt > 0):
        raise DelaykitError(f"dt must be a positive number of seconds, got {dt}")
    return dt


def _make_layer(
    pop: Population, walk: Walk, dt: float, md: Mapping[str, Any] | None, strict_threshold: bool
) -> Layer:
    """A population as a contract layer: its synapses, the neuron's gain folded in."""
    name = pop.name
    w, d, b = collapse(pop)
    nm = map_neuron(name, walk.nodes[name], pop.n, dt, strict_threshold)
    check_current_bias(name, nm, b)
    w = w * nm.gain[:, None]
    b = b * nm.gain + nm.extra_bias
    if md is not None:
        return restore_layer(GraphLayer(name, w, d, b, nm.neuron), md)
    try:
        return Layer(name=name, weight=w, delay=d, bias=b, neuron=nm.neuron)
    except ValueError as e:
        raise node_error(name, str(e)) from None
