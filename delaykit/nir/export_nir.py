"""Export a deployed network as a NIR graph (``nir`` 1.0.8, HDF5 via ``nir.write``).

Layout (docs/design.md, "File formats"), per layer ``L`` with per-synapse integer delays ``D``:

* one branch per distinct delay value ``d`` among the layer's non-zero synapses:
  ``prev -> L_delay{d}: Delay(d * dt seconds, one entry per input) -> L_d{d}: Linear(W masked
  to D == d) -> L``; the ``d = 0`` branch has no Delay node and is an ``Affine`` that also
  carries the layer's bias (a constant current must not pass a Delay). All branches feed the
  same neuron node ``L``, which sums them.
* hidden neurons: ``LIF(tau = tau_steps * dt s, r = tau_steps, v_leak = v_reset,
  v_threshold, v_reset)``. With forward Euler at step dt this is exactly the contract's
  ``h = v + (v_reset - v)/tau_steps + I``: ``r = tau/dt`` makes the input gain ``r dt/tau = 1``
  (spikingjelly's ``decay_input=False``; its NIR importer accepts r = 1 or r = tau/dt).
* readout: ``LI(tau, r = tau_steps, v_leak = v_reset)`` (or ``LIF`` for a spiking readout).
* a neuron with a synaptic current (contract v3): ``CubaLIF`` / ``CubaLI`` with
  ``tau_syn = tau_syn_steps * dt s``, ``w_in = tau_syn_steps``, ``tau_mem``, ``r`` as above; the
  bias goes to the membrane, as ``v_leak = v_reset + bias * tau_steps`` (the Affine bias is 0).
  NIR states a hard reset to ``v_reset``; a ``subtract``/``none`` reset and the exact leak
  live in the metadata only (a foreign consumer runs NIR's neuron).
* times in seconds; weights, biases and thresholds in real units (integer x weight_scale for
  quantized networks).

``graph.metadata["delaykit"]`` is one JSON string holding what NIR cannot say, for a lossless
re-import (``delaykit.nir.import_nir.load_nir``): ``format_version``, ``dt`` (s), ``readout``,
``input`` (InputSpec dict), ``layers`` (per layer ``name``, ``node``, ``extend_steps``,
``weight_scale`` or null, ``neuron`` dict in contract units, ``weight_dtype``),
``provenance`` and ``metadata``. Node names are the layer names when they are plain
identifiers, else ``layer{i}``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.fileio import write_bytes_atomic
from delaykit.network import Layer, Network, require_no_relays

from .metadata import NIR_METADATA_KEY, graph_metadata, read_nir_metadata
from .neurons import affine_bias, neuron_node

__all__ = ["NIR_METADATA_KEY", "network_to_nir", "node_names", "read_nir_metadata", "write_nir"]

_NAME_OK = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def node_names(net: Network) -> list[str]:
    """The neuron node name of every layer (the layer name when it is a plain identifier)."""
    reserved = {"input", "output"}
    out: list[str] = []
    for i, layer in enumerate(net.layers):
        name = layer.name if _NAME_OK.match(layer.name) and layer.name not in reserved else f"layer{i}"
        if name in out:
            name = f"layer{i}"
        out.append(name)
    return out


def _real_units(layer: Layer, r_convention: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """(weight, bias, k) of a layer in real units; k: contract units -> real (1.0 or weight_scale)."""
    scale = layer.weight_scale
    if scale is None:
        w = layer.weight if layer.weight.dtype == np.float32 else layer.weight.astype(np.float64)
        bias = np.array(layer.bias, dtype=np.float64)
        k: Any = 1.0
    else:
        w = layer.real_weight()
        bias = np.array(layer.bias, dtype=np.float64) * scale
        k = scale
    if r_convention == "one":
        tau_steps = float(layer.neuron.tau)
        w = w * tau_steps
        bias = bias * tau_steps
    return w, bias, k


def _delay_branches(
    layer: Layer, name: str, prev: str, w: np.ndarray, bias: np.ndarray, dt: float
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The nodes and edges from ``prev`` to neuron node ``name``: one branch per distinct delay
    (module docstring); dt: the step in seconds."""
    import nir  # optional extra ("export")

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    nz = layer.weight != 0
    for d in sorted(set(np.unique(layer.delay[nz]).tolist()) | {0}):
        wd = np.where(nz & (layer.delay == d), w, np.zeros((), dtype=w.dtype))
        lin = f"{name}_d{d}"
        if d == 0:
            nodes[lin] = nir.Affine(weight=wd, bias=bias.astype(w.dtype))
            edges.append((prev, lin))
        else:
            dl = f"{name}_delay{d}"
            nodes[dl] = nir.Delay(delay=np.full(layer.n_in, d * dt, dtype=np.float64))
            nodes[lin] = nir.Linear(weight=wd)
            edges += [(prev, dl), (dl, lin)]
        edges.append((lin, name))
    return nodes, edges


def _fanout_chain(
    layer: Layer, name: str, prev: str, w: np.ndarray, bias: np.ndarray, dt: float
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The fan-out layout from ``prev`` to neuron node ``name``: ``L_fan: Linear`` copies input
    ``i`` once per distinct delay ``d`` of its synapses, ``L_delay: Delay`` delays each copy by
    its ``d``, ``L_d: Affine`` (weights of the synapses with that delay, and the bias) feeds
    ``L``. One edge leaves every node. A layer without delays is ``prev -> L_d0 -> L``."""
    import nir

    nz = layer.weight != 0
    entries = sorted({(int(i), int(d)) for d, i in zip(layer.delay[nz], np.nonzero(nz)[1], strict=True)})
    if not any(d for _, d in entries):
        return _delay_branches(layer, name, prev, w, bias, dt)
    fan = np.zeros((len(entries), layer.n_in), dtype=w.dtype)
    block = np.zeros((layer.n_out, len(entries)), dtype=w.dtype)
    for e, (i, d) in enumerate(entries):
        fan[e, i] = 1
        rows = nz[:, i] & (layer.delay[:, i] == d)
        block[rows, e] = w[rows, i]
    steps = np.array([d for _, d in entries], dtype=np.float64)
    nodes = {
        f"{name}_fan": nir.Linear(weight=fan),
        f"{name}_delay": nir.Delay(delay=steps * dt),
        f"{name}_d": nir.Affine(weight=block, bias=bias.astype(w.dtype)),
    }
    chain = [prev, f"{name}_fan", f"{name}_delay", f"{name}_d", name]
    return nodes, list(zip(chain[:-1], chain[1:], strict=True))


def network_to_nir(net: Network, r_convention: str = "tau", layout: str = "branch") -> Any:
    """Build the ``nir.NIRGraph`` of ``net`` (see the module docstring for the layout).

    r_convention: ``"tau"`` (default, lossless): ``r = tau_steps`` and weights as they are;
    ``"one"``: ``r = 1`` with weights and biases multiplied by ``tau_steps`` -- the same
    dynamics under forward Euler, for consumers that ignore ``r`` (norse); exact up to one
    float rounding of each weight.
    layout: ``"branch"`` (default, one branch per distinct delay) or ``"fanout"``
    (:func:`_fanout_chain`: one edge out of every node, for consumers that follow only one).
    """
    import nir  # optional extra ("export")

    if r_convention not in ("tau", "one"):
        raise ValueError(f"r_convention: must be 'tau' or 'one', got {r_convention!r}")
    if layout not in ("branch", "fanout"):
        raise ValueError(f"layout: must be 'branch' or 'fanout', got {layout!r}")
    make_branches = _fanout_chain if layout == "fanout" else _delay_branches
    require_no_relays(net, "NIR export")  # NIR has no one-step copy neuron; export the delays
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([net.input.n_channels]))}
    edges: list[tuple[str, str]] = []
    names = node_names(net)
    prev = "input"
    for layer, name in zip(net.layers, names, strict=True):
        w, bias, k = _real_units(layer, r_convention)
        branch_nodes, branch_edges = make_branches(
            layer, name, prev, w, affine_bias(layer.neuron, bias), net.dt
        )
        nodes.update(branch_nodes)
        edges += branch_edges
        membrane_bias = _real_units(layer, "tau")[1]  # a neuron with a current: into v_leak
        nodes[name] = neuron_node(layer.neuron, layer.n_out, net.dt, r_convention, k, membrane_bias)
        prev = name
    nodes["output"] = nir.Output(output_type=np.array([net.layers[-1].n_out]))
    edges.append((prev, "output"))
    metadata = graph_metadata(net, names, r_convention)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def write_nir(net: Network, path: str | Path, compression_level: int = 1, r_convention: str = "tau") -> None:
    """Write ``net`` as a NIR HDF5 file, atomically (gzip level ``compression_level``)."""
    import nir  # optional extra ("export")

    graph = network_to_nir(net, r_convention=r_convention)
    buf = io.BytesIO()  # built in memory: the HDF5 library never meets a full disk
    nir.write(buf, graph, compression="gzip", compression_opts=int(compression_level))
    write_bytes_atomic(path, buf.getvalue())
