"""Per-tool NIR conventions: the graph a tool's importer runs as the contract's network
(``--for TOOL``). How delaykit reads the graphs a tool writes is in :mod:`.producers`.

NIR is continuous-time; every importer picks its own discretisation, time base and defaults.
A graph written by :func:`delaykit.nir.export_nir.network_to_nir` is exact for delaykit and
spikingjelly; the other tools need their own rendering of the same dynamics
(:data:`CONSUMERS`, applied by :func:`graph_for`):

=============  ==========================================================================
spikingjelly   the default graph (``r = tau/dt``, ``decay_input=False``); dt = the network's.
norse          ``r = 1`` with weights and biases multiplied by ``tau/dt`` (norse ignores r);
               the fan-out layout: its executor (nirtorch's legacy ``load``) orders a node
               with several inputs before some of them and reads those one step late.
snntorch       its importer fixes dt = 1e-4 s: times are written in steps of 1e-4 s
               (``tau = tau_steps * 1e-4``, ``r = tau_steps``, Delay ``d * 1e-4`` s);
               ``v_leak`` must be 0 (its importer refuses anything else).
sinabs         its layers count time in steps and decay exactly (``exp(-1/tau)``) with unit
               input gain, and it maps only Affine: ``tau`` is written as the exact-decay
               time constant of the same leak factor ``1 - 1/tau_steps``
               (``-1/ln(1 - 1/tau_steps)`` steps), ``r = 1``, Delay in steps, every Linear
               as an Affine with zero bias; the fan-out layout (nirtorch's legacy executor).
rockpool       like sinabs (steps, exact decay, unit gain, fan-out layout). Its map builds
               nir.LIF from a field nir.LIF lacks (``tau_mem``) and LI as ``ExpSynTorch`` with
               ``int(tau)``, so delaykit's map supplies both: LIF as its ``LIFNeuronTorch``,
               which resets by subtracting the threshold and may emit several spikes per
               step (it has no hard reset: the run measures the difference).
spyx           the default graph with the fan-out layout (``Linear -> Delay -> Linear``,
               one edge out of every node: spyx follows only the first); the LI readout as
               a LIF that never fires (threshold 1e38): spyx builds LI only as half of its
               PSU_LIF, and its LIF ``V = beta V + x`` below threshold is that LI. Its LIF
               fires on the previous step's membrane and subtracts the threshold (no hard
               reset): the run measures the difference. It drops nodes it has no module
               for (Delay): delaykit's map adds one.
=============  ==========================================================================

What no rendering can make a tool do is done by the tool's node map on the torch side
(``delaykit.convert.nir_torch``): ``Delay`` everywhere, ``LI`` where the stock map lacks it
or reads it otherwise. :data:`CONSUMERS` says which nodes each tool gets from delaykit.

The graphs of :func:`graph_for` drop delaykit's lossless metadata (its ``dt`` no longer holds)
and record ``metadata["delaykit_for"]`` (the tool and its time base in seconds).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.fileio import write_bytes_atomic
from delaykit.network import Network

from .export_nir import network_to_nir
from .metadata import NIR_METADATA_KEY

__all__ = ["CONSUMERS", "Consumer", "consumer", "graph_for", "write_nir_for"]

#: snntorch's NIR importer hard-codes this step (seconds).
SNNTORCH_DT = 1e-4


@dataclass(frozen=True)
class Consumer:
    """How one tool's NIR importer reads a graph (module docstring).

    time_base: ``"dt"`` (the network's step, seconds), ``"snntorch"`` (1e-4 s) or ``"step"``
    (times in steps). leak: ``"euler"`` (factor ``1 - dt/tau``) or ``"exp"`` (``exp(-dt/tau)``,
    unit input gain). layout: ``"branch"`` (one branch per delay) or ``"fanout"``.
    node_map: the NIR node types delaykit's node map supplies to that tool.
    """

    name: str
    time_base: str = "dt"
    r: str = "tau"
    leak: str = "euler"
    layout: str = "branch"
    affine_only: bool = False
    readout_as_lif: bool = False
    nir_1_0_4: bool = False  # the tool's nir (1.0.4) reads no LIF.v_reset: the file omits it
    node_map: tuple[str, ...] = ("Delay", "LI")
    notes: str = ""
    #: None: the tool runs the contract's neuron exactly; else why it cannot (the export is
    #: refused unless the caller asks for an approximate graph, e.g. to measure the difference)
    inexact: str | None = None

    def tool_dt(self, net_dt: float) -> float:
        """The step, in the graph's time unit, that the tool will integrate with."""
        return {"dt": net_dt, "snntorch": SNNTORCH_DT, "step": 1.0}[self.time_base]


CONSUMERS: dict[str, Consumer] = {
    c.name: c
    for c in (
        Consumer("spikingjelly", notes="LIFNode(decay_input=False), hard reset"),
        Consumer("norse", r="one", layout="fanout", notes="LIFBoxCell ignores r: weights x tau/dt"),
        Consumer("snntorch", time_base="snntorch", notes="Leaky(reset_mechanism='zero'), dt = 1e-4 s"),
        Consumer(
            "sinabs",
            time_base="step",
            r="one-exp",
            leak="exp",
            affine_only=True,
            layout="fanout",
            nir_1_0_4=True,
            node_map=("Delay", "LIF"),
            notes="LIFSqueeze with SingleSpike + MembraneReset (its importer: MultiSpike + subtract)",
        ),
        Consumer(
            "rockpool",
            time_base="step",
            r="one-exp",
            leak="exp",
            layout="fanout",
            nir_1_0_4=True,
            node_map=("Delay", "LI", "LIF"),
            notes="LIFNeuronTorch: subtractive reset, up to 2**16 spikes per step",
            inexact="rockpool's LIF resets by subtracting the threshold and may spike several times "
            "per step; it has no hard reset, so it cannot run the contract's neuron exactly",
        ),
        Consumer(
            "spyx",
            layout="fanout",
            readout_as_lif=True,
            node_map=("Delay",),
            notes="LIF fires on the previous step's membrane and subtracts the threshold",
            inexact="spyx's LIF fires on the previous step's membrane and subtracts the threshold; "
            "it cannot run the contract's hard-reset neuron exactly",
        ),
    )
}


def consumer(name: str) -> Consumer:
    """The convention of tool ``name``; DelaykitError naming the choices otherwise."""
    try:
        return CONSUMERS[name]
    except KeyError:
        raise DelaykitError(f"tool: {name!r} is not one of {sorted(CONSUMERS)}") from None


def _exp_tau(tau_steps: float) -> float:
    """The exact-decay time constant (steps) whose factor exp(-1/tau) is 1 - 1/tau_steps."""
    factor = 1.0 - 1.0 / tau_steps
    if factor <= 0.0:
        return 1e-3  # factor exp(-1000) == 0.0
    return -1.0 / math.log(factor)


def _retime_neuron(node: Any, c: Consumer, scale: float, n: int) -> Any:
    """A LIF/LI node of the default graph in consumer ``c``'s time base and leak."""
    import nir

    tau_steps = np.asarray(node.tau, dtype=np.float64) / scale  # scale: seconds per step (old)
    spiking = type(node).__name__ == "LIF"
    if c.leak == "exp":
        tau = np.vectorize(_exp_tau)(tau_steps)
        r = np.ones(n)
    else:
        tau = tau_steps
        r = np.asarray(node.r, dtype=np.float64)
    tool = c.tool_dt(1.0) if c.time_base != "dt" else scale
    tau = tau * tool
    v_leak = np.asarray(node.v_leak, dtype=np.float64)
    if not spiking:
        return nir.LI(tau=tau, r=r, v_leak=v_leak)
    th = np.asarray(node.v_threshold)
    v_reset = np.asarray(node.v_reset)
    return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=th, v_reset=v_reset)


def _retime(graph: Any, c: Consumer, net: Network) -> None:
    """Rewrite times (tau, Delay) from seconds of dt into consumer ``c``'s time base."""
    import nir

    tool = c.tool_dt(net.dt)
    for name, node in list(graph.nodes.items()):
        kind = type(node).__name__
        if kind == "Delay":
            steps = np.round(np.asarray(node.delay, dtype=np.float64) / net.dt)
            graph.nodes[name] = nir.Delay(delay=steps * tool)
        elif kind in ("LIF", "LI"):
            n = int(np.asarray(node.tau).size)
            graph.nodes[name] = _retime_neuron(node, c, net.dt, n)
        elif kind == "Linear" and c.affine_only:
            w = np.asarray(node.weight)
            graph.nodes[name] = nir.Affine(weight=w, bias=np.zeros(w.shape[0], dtype=w.dtype))


#: The threshold of a readout written as a LIF that never fires (float32 max is 3.4e38).
NEVER_FIRES = 1e38


def _readout_as_lif(graph: Any) -> None:
    import nir

    for name, node in list(graph.nodes.items()):
        if type(node).__name__ == "LI":
            v_leak = np.asarray(node.v_leak, dtype=np.float64)
            graph.nodes[name] = nir.LIF(
                tau=node.tau,
                r=node.r,
                v_leak=v_leak,
                v_threshold=np.full(v_leak.shape, NEVER_FIRES),
                v_reset=v_leak,
            )


def _require_v2_neurons(net: Network, tool: str) -> None:
    """The conventions render the paper's neuron (hard reset, Euler leak, no current); a
    version-3 neuron would reach the tool as something else, so it is refused."""
    for layer in net.layers:
        n = layer.neuron
        for field, value, plain in (
            ("tau_syn", getattr(n, "tau_syn", None), None),
            ("reset", getattr(n, "reset", "value"), "value" if n.spiking else "none"),
            ("leak", getattr(n, "leak", "euler"), "euler"),
        ):
            if value != plain:
                raise DelaykitError(
                    f"layer {layer.name!r}: field 'neuron.{field}' is {value!r}; the graph for {tool} "
                    "renders only the hard-reset, Euler-leak neuron without a synaptic current"
                )


def _require_zero_leak(net: Network, tool: str) -> None:
    for layer in net.layers:
        v = np.asarray(layer.neuron.v_reset, dtype=np.float64)
        if np.any(v != 0):
            raise DelaykitError(
                f"layer {layer.name!r}: field 'v_reset' is {float(v.reshape(-1)[0]):g}; {tool}'s "
                "importer requires v_leak = v_reset = 0"
            )


def graph_for(net: Network, tool: str, *, approximate: bool = False) -> Any:
    """The ``nir.NIRGraph`` that tool ``tool``'s importer runs as ``net`` (module docstring).

    A tool that cannot run the contract's neuron exactly (``Consumer.inexact``) is refused
    unless ``approximate`` is True: never a graph a tool runs silently wrong.
    """
    import nir

    c = consumer(tool)
    if c.inexact and not approximate:
        raise DelaykitError(
            f"tool {tool!r}: {c.inexact}; export a graph for spikingjelly, norse, snntorch or sinabs, "
            "or the plain NIR graph (no tool conventions)"
        )
    _require_v2_neurons(net, tool)
    if c.time_base in ("snntorch", "step") or c.leak == "exp":
        _require_zero_leak(net, tool)
    r_conv = "one" if c.r == "one" else "tau"
    graph = network_to_nir(net, r_convention=r_conv, layout=c.layout)
    if c.time_base != "dt" or c.leak != "euler" or c.affine_only:
        _retime(graph, c, net)
    if c.readout_as_lif:
        _readout_as_lif(graph)
    metadata = {k: v for k, v in (graph.metadata or {}).items() if k != NIR_METADATA_KEY}
    metadata["delaykit_for"] = json.dumps({"tool": tool, "dt_s": net.dt, "time_base": c.tool_dt(net.dt)})
    return nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata=metadata, type_check=True)


def write_nir_for(net: Network, path: str | Path, tool: str, *, approximate: bool = False) -> None:
    """Write :func:`graph_for` ``(net, tool, approximate=...)`` as a NIR HDF5 file, atomically."""
    import nir

    graph = graph_for(net, tool, approximate=approximate)
    buf = io.BytesIO()  # built in memory: the HDF5 library never meets a full disk
    nir.write(buf, graph)
    if consumer(tool).nir_1_0_4:
        _drop_v_reset(buf)
    write_bytes_atomic(path, buf.getvalue())


def _drop_v_reset(buf: io.BytesIO) -> None:
    """Remove ``LIF.v_reset`` (nir 1.0.8 always writes it; nir 1.0.4 fails on it). The reset
    is 0 (checked by :func:`graph_for`), nir 1.0.8's default when it is absent."""
    import h5py

    with h5py.File(buf, "r+") as f:
        nodes = f["node/nodes"]
        for name in list(nodes):
            kind = nodes[name]["type"][()]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "LIF" and "v_reset" in nodes[name]:
                del nodes[name]["v_reset"]
