"""Reading the NIR graphs other tools write (``--from TOOL``): each tool's exporter has its own
time base and writes some things differently from NIR's equations, or leaves out what its
neurons do. :func:`load_from` applies the tool's convention (:data:`PRODUCERS`) and then
:func:`delaykit.nir.import_nir.load_nir`; what the graph does not say is refused, naming the
node and the reason (:data:`REFUSED`), never guessed.

=============  ==========================================================================
spikingjelly   times in seconds of the dt given to ``export_to_nir``; NIR's equations.
snntorch       times in seconds of its fixed dt = 1e-4 s; NIR's equations.
norse          ``to_nir`` writes ``dt / tau_mem_inv`` (= dt * tau) as tau: tau / dt is read.
sinabs         times in steps; its layers decay ``exp(-1/tau)`` with unit input gain whatever
               ``r`` says, and its exported LIF does not say how it spikes and resets.
               Its default (``MultiSpike``: several spikes per step) is outside the contract,
               so the caller must state ``one_spike_per_step=True`` (the network used
               ``SingleSpike``); the reset is then sinabs' default subtraction (contract v3
               ``reset="subtract"``), the leak the Euler tau with the same factor
               ``1/(1 - exp(-1/tau))``.
rockpool       like sinabs, in seconds of the dt it ran with (``LIFNeuronTorch``: exact decay,
               unit gain, subtractive reset, ``max_spikes_per_dt`` up to 2**16 by default,
               its ``bias`` not written): ``one_spike_per_step=True`` required.
spyx           refused: its LIF fires on the previous step's membrane (one step late) and
               subtracts the threshold without decay, which no contract neuron does.
=============  ==========================================================================
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.network import LIF, Network

from .consumers import SNNTORCH_DT
from .import_nir import _read_graph, load_nir

__all__ = ["PRODUCERS", "REFUSED", "load_from"]

#: The tools whose NIR exports delaykit reads, and their convention (module docstring).
PRODUCERS: dict[str, str] = {
    "spikingjelly": "times in seconds of the dt given to export_to_nir",
    "snntorch": "times in seconds of its fixed dt = 1e-4 s",
    "norse": "tau written as dt * tau; read back as tau / dt",
    "sinabs": "steps; exact decay, unit gain, subtractive reset; one spike per step stated by the caller",
    "rockpool": "seconds of its dt; exact decay, unit gain, subtractive reset; one spike per step stated",
    "spyx": "refused (its LIF fires one step late and subtracts without decay)",
}
#: Why a tool's spiking nodes are refused (the graph does not say what the tool ran).
REFUSED: dict[str, str] = {
    "spyx": (
        "spyx's LIF fires on the previous step's membrane and subtracts the threshold after the "
        "decay; NIR's LIF and the contract's neuron fire on this step's membrane"
    ),
    "multispike": (
        "{tool} writes LIF without its spike function, and by default emits several spikes per "
        "step (sinabs MultiSpike, rockpool max_spikes_per_dt = 2**16), which the contract's "
        "neuron cannot; if the network emitted at most one spike per step, say so "
        "(one_spike_per_step=True)"
    ),
}
_SPIKING = ("LIF", "CubaLIF", "IF")


def _fix_norse_tau(graph: Any, dt: float) -> Any:
    """norse's ``to_nir`` writes ``dt / tau_mem_inv`` (= dt * tau) as tau: divide by dt."""
    import nir

    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind in ("LIF", "LI"):
            fields = {k: getattr(node, k) for k in ("tau", "r", "v_leak")}
            fields["tau"] = np.asarray(node.tau, dtype=np.float64) / dt
            if kind == "LIF":
                v_reset = getattr(node, "v_reset", None)
                fields.update(
                    v_threshold=node.v_threshold,
                    v_reset=np.zeros_like(fields["tau"]) if v_reset is None else v_reset,
                )
            nodes[name] = getattr(nir, kind)(**fields)
    return nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)


def _euler_tau(tau_s: float, dt: float) -> float:
    """The forward-Euler tau (steps) whose factor 1 - 1/tau equals exp(-dt/tau_s)."""
    return 1.0 / -math.expm1(-dt / tau_s)


def _exact_unit_gain(graph: Any, dt: float) -> Any:
    """sinabs/rockpool LIF (exact decay, unit gain) as NIR LIF under Euler at ``dt``."""
    import nir

    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        if type(node).__name__ == "LIF":
            tau = np.vectorize(_euler_tau)(np.asarray(node.tau, dtype=np.float64), dt)
            v_leak = np.asarray(node.v_leak, dtype=np.float64)
            if np.any(v_leak != 0):
                raise DelaykitError(f"NIR node {name!r}: v_leak {float(v_leak[0]):g} is not 0")
            nodes[name] = nir.LIF(
                tau=tau * dt, r=tau, v_leak=v_leak, v_threshold=node.v_threshold, v_reset=np.zeros_like(tau)
            )
    return nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)


def _subtractive(net: Network) -> Network:
    layers = tuple(
        replace(layer, neuron=replace(layer.neuron, reset="subtract"))
        if isinstance(layer.neuron, LIF)
        else layer
        for layer in net.layers
    )
    return replace(net, layers=layers)


def load_from(
    path_or_graph: Any, tool: str, dt: float | None, *, one_spike_per_step: bool = False
) -> Network:
    """Import a graph that ``tool`` exported (:data:`PRODUCERS`); a ``.nir`` path or a
    ``nir.NIRGraph``. dt: the step (seconds) the tool's network ran with (sinabs counts steps:
    its graphs are read at dt = 1, snntorch's at its fixed 1e-4 s, and the network keeps
    ``dt``; for snntorch dt may be None: the network keeps 1e-4 s). DelaykitError naming the file, the node and the reason for what it cannot hold."""
    if tool not in PRODUCERS:
        raise DelaykitError(f"tool: {tool!r} is not one of {sorted(PRODUCERS)}")
    graph, source = _read_graph(path_or_graph)
    try:
        return _load_from(graph, tool, dt, one_spike_per_step)
    except (DelaykitError, ValueError) as e:
        if source == "graph" or str(e).startswith(source):
            raise DelaykitError(str(e)) from None
        raise DelaykitError(f"{source}: {e}") from None


def _load_from(graph: Any, tool: str, dt: float | None, one_spike_per_step: bool) -> Network:
    if dt is None and tool != "snntorch":
        raise DelaykitError(
            f"a {tool} NIR export does not record the step its network ran with: pass dt "
            "(seconds per step, e.g. dt=0.001)"
        )
    spiking = [n for n, x in graph.nodes.items() if type(x).__name__ in _SPIKING]
    if tool == "spyx" and spiking:
        raise DelaykitError(f"NIR node {spiking[0]!r}: {REFUSED['spyx']}")
    if tool in ("sinabs", "rockpool"):
        assert dt is not None
        if spiking and not one_spike_per_step:
            raise DelaykitError(f"NIR node {spiking[0]!r}: " + REFUSED["multispike"].format(tool=tool))
        step = 1.0 if tool == "sinabs" else dt
        net = load_nir(_exact_unit_gain(graph, step), dt=step)
        return _subtractive(replace(net, dt=dt))
    if tool == "norse":
        assert dt is not None
        graph = _fix_norse_tau(graph, dt)
    if tool == "snntorch":  # read in its fixed step; the network keeps the step it ran with
        net = load_nir(graph, dt=SNNTORCH_DT)
        return net if dt is None else replace(net, dt=dt)
    return load_nir(graph, dt=dt)
