"""Reading the NIR graphs other tools write (``--from TOOL``): each tool's exporter has its own
time base and writes some things differently from NIR's equations, or leaves out what its
neurons do. :func:`load_from` applies the tool's convention (:data:`PRODUCERS`) and then
:func:`delaykit.nir.import_nir.load_nir`; what the graph does not say is refused, naming the
node and the reason (:data:`REFUSED`), never guessed.

=============  ==========================================================================
spikingjelly   times in seconds of the dt given to ``export_to_nir``; NIR's equations (its
               exporter refuses a soft reset, ``v_reset=None``).
snntorch       times in seconds of its fixed dt = 1e-4 s; NIR's equations. It writes
               ``v_reset = 0`` whatever ``reset_mechanism`` and ``reset_delay`` were, so the
               caller states the reset: ``reset="zero"`` (``reset_delay=False``) is the
               contract's hard reset; "subtract" is refused (its ``mem_reset`` signal
               subtracts once more before the threshold test while the membrane stays above
               threshold), and so is an unstated one (its default delays the reset a step).
norse          ``to_nir`` writes ``dt / tau_inv`` (= dt * tau) as every tau: tau / dt is
               read. ``IAFCell`` is written as ``IF(r = 1)`` but adds its input whole
               (r / dt); ``LIFCell`` (current-based) adds its input to the current unscaled
               (``w_in`` x tau_syn / dt). It writes no ``v_reset`` (its default 0 is read).
sinabs         times in steps; its layers decay ``exp(-1/tau)`` with unit input gain whatever
               ``r`` says (LIF, IAF, ExpLeak as LI), and its exported LIF does not say how it
               spikes and resets. Its default (``MultiSpike``: several spikes per step) is
               outside the contract, so the caller must state ``one_spike_per_step=True``
               (the network used ``SingleSpike``) and the reset (``reset="subtract"``:
               ``MembraneSubtract``, its default; "zero": ``MembraneReset``); the leak is the
               Euler tau with the same factor ``1/(1 - exp(-1/tau))``. Not written either,
               so read as the graph says: ``norm_input=False`` (``sl.LIF``'s default is True)
               and no ``tau_syn``.
rockpool       like sinabs, in seconds of the dt it ran with (``LIFNeuronTorch``: exact decay,
               unit gain, subtractive reset, ``max_spikes_per_dt`` up to 2**16 by default,
               its ``bias`` not written): ``one_spike_per_step=True`` required. ``LIFTorch``
               (CubaLIF) and ``ExpSynTorch`` (LI) decay after adding the input: input gain
               ``exp(-dt/tau_syn)``.
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

__all__ = ["PRODUCERS", "REFUSED", "RESETS", "load_from"]

#: The tools whose NIR exports delaykit reads, and their convention (module docstring).
PRODUCERS: dict[str, str] = {
    "spikingjelly": "times in seconds of the dt given to export_to_nir",
    "snntorch": "times in seconds of its fixed dt = 1e-4 s; the reset stated by the caller (zero)",
    "norse": "tau written as dt * tau; read back as tau / dt; IF and LIFCell input gains",
    "sinabs": "steps; exact decay, unit gain; one spike per step and the reset stated by the caller",
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
    "snntorch-subtract": (
        "snntorch's reset_mechanism='subtract' subtracts the threshold once more before the "
        "threshold test while the membrane after the previous reset is still above threshold "
        "(its mem_reset signal), which no contract neuron does"
    ),
    "reset": (
        "{tool} writes its spiking neurons without their reset (snntorch writes v_reset = 0 for "
        "every reset_mechanism and reset_delay; its default, subtraction one step late, has no "
        "contract equivalent); state the reset the network used: reset='zero' or reset='subtract'"
    ),
}
_SPIKING = ("LIF", "CubaLIF", "IF")
#: The resets a caller can state for a tool whose file does not record it.
RESETS = {
    "zero": "the membrane is set to 0 on the spike's step (snntorch reset_mechanism='zero' with "
    "reset_delay=False; sinabs MembraneReset)",
    "subtract": "the threshold is subtracted on the spike's step (sinabs MembraneSubtract, its default)",
}


def _fix_norse(graph: Any, dt: float) -> Any:
    """norse's ``to_nir`` writes ``dt / tau_inv`` (= dt * tau) as every tau: divide by dt.
    Its IF (``IAFCell``) adds the input whole but is written with ``r = 1``: r / dt. Its
    ``LIFCell`` (CubaLIF) adds the input to the current unscaled, ``i += x`` before the
    membrane update (the contract's order), where NIR's Euler step adds ``x dt/tau_syn``:
    ``w_in`` x tau_syn / dt."""
    import nir

    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        f = {k: getattr(node, k) for k in node.__dataclass_fields__ if k not in ("input_type", "output_type")}
        f.pop("metadata", None)
        if kind in ("LIF", "LI"):
            f["tau"] = np.asarray(node.tau, dtype=np.float64) / dt
        elif kind == "CubaLIF":
            f["tau_mem"] = np.asarray(node.tau_mem, dtype=np.float64) / dt
            f["tau_syn"] = np.asarray(node.tau_syn, dtype=np.float64) / dt
            f["w_in"] = np.asarray(f.get("w_in", 1.0), dtype=np.float64) * f["tau_syn"] / dt
        elif kind == "IF":
            f["r"] = np.asarray(node.r, dtype=np.float64) / dt
        else:
            continue
        if kind != "LI" and f.get("v_reset") is None:
            f["v_reset"] = np.zeros(np.asarray(node.v_threshold).shape)
        nodes[name] = getattr(nir, kind)(**f)
    return nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)


def _euler_tau(tau_s: float, dt: float) -> float:
    """The forward-Euler tau (steps) whose factor 1 - 1/tau equals exp(-dt/tau_s)."""
    return 1.0 / -math.expm1(-dt / tau_s)


def _exact_unit_gain(graph: Any, dt: float, tool: str) -> Any:
    """sinabs/rockpool LIF, LI and CubaLIF (exact decay, unit gain) as NIR nodes under Euler at
    ``dt`` with the same factors (rockpool's LIFTorch decays the current after adding the input,
    ``i = b (i + x)``, ``v = a v + i``: input gain b)."""
    import nir

    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind == "CubaLIF":
            nodes[name] = _exact_cuba(name, node, dt)
            continue
        if kind in ("LIF", "LI"):
            tau = np.vectorize(_euler_tau)(np.asarray(node.tau, dtype=np.float64), dt)
            v_leak = np.asarray(node.v_leak, dtype=np.float64)
            if np.any(v_leak != 0):
                raise DelaykitError(f"NIR node {name!r}: v_leak {float(v_leak.reshape(-1)[0]):g} is not 0")
            if kind == "LI":  # rockpool's ExpSynTorch decays after adding: v = b (v + x)
                gain = 1.0 - 1.0 / tau if tool == "rockpool" else 1.0
                nodes[name] = nir.LI(tau=tau * dt, r=tau * gain, v_leak=v_leak)
                continue
            nodes[name] = nir.LIF(
                tau=tau * dt, r=tau, v_leak=v_leak, v_threshold=node.v_threshold, v_reset=np.zeros_like(tau)
            )
    return nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)


def _exact_cuba(name: str, node: Any, dt: float) -> Any:
    import nir

    tm = np.vectorize(_euler_tau)(np.asarray(node.tau_mem, dtype=np.float64), dt)
    ts = np.vectorize(_euler_tau)(np.asarray(node.tau_syn, dtype=np.float64), dt)
    v_leak = np.asarray(node.v_leak, dtype=np.float64)
    if np.any(v_leak != 0):
        raise DelaykitError(f"NIR node {name!r}: v_leak {float(v_leak.reshape(-1)[0]):g} is not 0")
    return nir.CubaLIF(
        tau_syn=ts * dt,
        tau_mem=tm * dt,
        r=tm,
        w_in=ts - 1.0,  # gain w_in / ts = 1 - 1/ts = b, the current's factor
        v_leak=v_leak,
        v_threshold=node.v_threshold,
        v_reset=np.zeros_like(tm),
    )


def _with_reset(net: Network, reset: str) -> Network:
    """Every spiking layer with the stated reset: "zero" (to 0) or "subtract" (the threshold)."""
    layers = tuple(
        replace(layer, neuron=replace(layer.neuron, reset="subtract" if reset == "subtract" else "value"))
        if isinstance(layer.neuron, LIF)
        else layer
        for layer in net.layers
    )
    return replace(net, layers=layers)


def load_from(
    path_or_graph: Any,
    tool: str,
    dt: float | None,
    *,
    one_spike_per_step: bool = False,
    reset: str | None = None,
) -> Network:
    """Import a graph that ``tool`` exported (:data:`PRODUCERS`); a ``.nir`` path or a
    ``nir.NIRGraph``. dt: the step (seconds) the tool's network ran with (sinabs counts steps:
    its graphs are read at dt = 1, snntorch's at its fixed 1e-4 s, and the network keeps
    ``dt``; for snntorch dt may be None: the network keeps 1e-4 s). reset: what the tool's
    spiking neurons did on a spike, where its file does not say (snntorch, sinabs): "zero" or
    "subtract" (:data:`RESETS`). DelaykitError naming the file, the node and the reason for
    what it cannot hold."""
    if tool not in PRODUCERS:
        raise DelaykitError(f"tool: {tool!r} is not one of {sorted(PRODUCERS)}")
    graph, source = _read_graph(path_or_graph)
    try:
        return _load_from(graph, tool, dt, one_spike_per_step, reset)
    except (DelaykitError, ValueError) as e:
        if source == "graph" or str(e).startswith(source):
            raise DelaykitError(str(e)) from None
        raise DelaykitError(f"{source}: {e}") from None


def _stated_reset(tool: str, spiking: list[str], reset: str | None) -> str:
    """The reset the caller stated for a tool whose file does not record it."""
    if reset is not None and reset not in RESETS:
        raise DelaykitError(f"reset: {reset!r} is not one of {list(RESETS)}")
    if tool == "rockpool":  # LIFNeuronTorch has only the subtractive reset
        if reset == "zero" and spiking:
            raise DelaykitError(f"NIR node {spiking[0]!r}: rockpool's LIF has no reset to zero")
        return "subtract"
    if reset is None and spiking:
        raise DelaykitError(f"NIR node {spiking[0]!r}: " + REFUSED["reset"].format(tool=tool))
    if tool == "snntorch" and reset == "subtract" and spiking:
        raise DelaykitError(f"NIR node {spiking[0]!r}: {REFUSED['snntorch-subtract']}")
    return reset or "zero"


def _load_from(
    graph: Any, tool: str, dt: float | None, one_spike_per_step: bool, reset: str | None
) -> Network:
    spiking = [n for n, x in graph.nodes.items() if type(x).__name__ in _SPIKING]
    if tool == "snntorch":  # read in its fixed step; the network keeps the step it ran with
        how = _stated_reset(tool, spiking, reset)
        net = _with_reset(load_nir(graph, dt=SNNTORCH_DT), how)
        return net if dt is None else replace(net, dt=dt)
    if dt is None:
        raise DelaykitError(
            f"a {tool} NIR export does not record the step its network ran with: pass dt "
            "(seconds per step, e.g. dt=0.001)"
        )
    if tool == "spyx" and spiking:
        raise DelaykitError(f"NIR node {spiking[0]!r}: {REFUSED['spyx']}")
    if tool in ("sinabs", "rockpool"):
        if spiking and not one_spike_per_step:
            raise DelaykitError(f"NIR node {spiking[0]!r}: " + REFUSED["multispike"].format(tool=tool))
        how = _stated_reset(tool, spiking, reset)
        step = 1.0 if tool == "sinabs" else dt
        net = load_nir(_exact_unit_gain(graph, step, tool), dt=step)
        return _with_reset(replace(net, dt=dt), how)
    if tool == "norse":
        return load_nir(_fix_norse(graph, dt), dt=dt)
    return load_nir(graph, dt=dt)
