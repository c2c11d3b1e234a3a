"""delaykit's own metadata in a NIR graph: what NIR cannot say, for a lossless round trip.

``graph.metadata["delaykit"]`` holds ``format_version``, ``dt`` (s), ``readout``, ``nir_r``,
``input`` (InputSpec dict), ``layers`` (per layer ``name``, ``node``, ``extend_steps``,
``weight_scale`` or null, ``neuron`` dict in contract units, ``weight_dtype`` and optional
``delay``), ``provenance`` and ``metadata``. The export writes it as one JSON string (nir.write
treats any nested key called "metadata" as a node's metadata group and fails on a string value
there); the import also reads nested groups.

On import the network is restored from the metadata and the graph: the neuron parameters,
names, extend_steps, input spec, readout and provenance come from the metadata, integer
weights are recovered as ``weight / weight_scale`` (checked to be integers), and the graph is
checked to agree with the metadata (a graph edited after export is an error, not a silent
mix). Zero-weight synapses get delay 0 unless the layer metadata has ``delay``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import FormatError
from delaykit.network import LI, LIF, InputSpec, Layer, Network, format_version, neuron_from_dict

from .neurons import NO_LEAK_TAU_STEPS

#: The key of delaykit's entry in ``graph.metadata``.
NIR_METADATA_KEY = "delaykit"
#: Highest ``graph.metadata["delaykit"]["format_version"]`` this importer understands (the
#: ``.dkn`` version of the network: 3 for neurons with a synaptic current, a reset mode or the
#: exact leak; NIR cannot hold the relays of version 2).
SUPPORTED_FORMAT_VERSION = 3


# ---- values as NIR and h5py hand them back ---------------------------------------------------


def jsonable(value: Any) -> Any:
    """NIR/h5py metadata values -> plain JSON values (numpy -> Python, bytes -> str)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()] if value.ndim else jsonable(value.item())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def decode(value: Any) -> Any:
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


# ---- export --------------------------------------------------------------------------------


def layer_entry(layer: Layer, node: str) -> dict[str, Any]:
    """The metadata of one layer exported as neuron node ``node``."""
    return {
        "name": layer.name,
        "node": node,
        "extend_steps": layer.extend_steps,
        "weight_scale": None if layer.weight_scale is None else layer.weight_scale.tolist(),
        "neuron": layer.neuron.to_dict(),
        "weight_dtype": str(layer.weight.dtype),
        # a neuron with a synaptic current: the bias is written into v_leak (a rounding), so
        # the metadata keeps it exactly (contract v3)
        **({"bias": np.asarray(layer.bias).tolist()} if layer.neuron.tau_syn is not None else {}),
    }


def graph_metadata(net: Network, node_names: list[str], r_convention: str) -> dict[str, str]:
    """``graph.metadata`` of the export: ``{"delaykit": one JSON string}`` (module docstring)."""
    doc = {
        "format_version": format_version(net),
        "dt": float(net.dt),
        "readout": net.readout,
        "nir_r": r_convention,
        "input": net.input.to_dict(),
        "layers": [layer_entry(layer, node) for layer, node in zip(net.layers, node_names, strict=True)],
        "provenance": net.provenance,
        "metadata": net.metadata,
    }
    return {NIR_METADATA_KEY: json.dumps(doc)}


def read_nir_metadata(path_or_graph: Any) -> dict[str, Any]:
    """The decoded ``graph.metadata["delaykit"]`` of a NIR file or graph ({} if absent)."""
    import nir  # optional extra ("export")

    graph = (
        nir.read(path_or_graph, type_check=True) if isinstance(path_or_graph, (str, Path)) else path_or_graph
    )
    md = (graph.metadata or {}).get(NIR_METADATA_KEY)
    if isinstance(md, np.ndarray) and md.ndim == 0:
        md = md.item()
    if isinstance(md, bytes):
        md = md.decode()
    if not md:
        return {}
    return json.loads(md) if isinstance(md, str) else dict(md)


# ---- import: the graph's entry -------------------------------------------------------------


def delaykit_metadata(graph: Any) -> dict[str, Any] | None:
    """The graph's delaykit entry, decoded (None: a foreign graph); checks its format version."""
    md = graph.metadata if isinstance(graph.metadata, Mapping) else {}
    dk = md.get(NIR_METADATA_KEY)
    if dk is None:
        return None
    dk = decode(dk)
    if not isinstance(dk, Mapping):
        raise FormatError("graph metadata 'delaykit' is not a dictionary")
    dk = {str(k): decode(v) for k, v in dk.items()}
    version = int(dk.get("format_version", SUPPORTED_FORMAT_VERSION))
    if version > SUPPORTED_FORMAT_VERSION:
        raise FormatError(
            f"graph metadata 'delaykit.format_version' is {version}; this delaykit reads "
            f"{SUPPORTED_FORMAT_VERSION}: upgrade delaykit"
        )
    return dk


def layers_metadata(dk: Mapping[str, Any], n_layers: int) -> list[dict[str, Any]] | None:
    """The per-layer entries (None when absent); there must be one per neuron population."""
    raw = dk.get("layers")
    if raw is None:
        return None
    raw = decode(raw)
    bad = "graph metadata 'delaykit.layers' must be a list or a dict keyed 0, 1, ..."
    if isinstance(raw, Mapping):
        try:
            keys = sorted(raw, key=lambda k: int(k))
        except ValueError:
            raise FormatError(bad) from None
        raw = [raw[k] for k in keys]
    if not isinstance(raw, (list, tuple)):
        raise FormatError(bad)
    out = []
    for i, entry in enumerate(raw):
        entry = decode(entry)
        if not isinstance(entry, Mapping):
            raise FormatError(f"graph metadata 'delaykit.layers[{i}]' is not a dictionary")
        out.append({str(k): decode(v) for k, v in entry.items()})
    if len(out) != n_layers:
        raise FormatError(
            f"graph metadata 'delaykit.layers' describes {len(out)} layers but the graph has "
            f"{n_layers} neuron populations; the metadata belongs to another graph"
        )
    return out


def metadata_dt(dk: Mapping[str, Any] | None) -> float | None:
    """The step (seconds) the metadata records, if any."""
    if dk is None or dk.get("dt") is None:
        return None
    return float(jsonable(dk["dt"]))


def input_and_readout(
    dk: Mapping[str, Any], spec: InputSpec | None, readout: str | None
) -> tuple[InputSpec | None, str | None]:
    """``spec`` and ``readout``, each taken from the metadata where it is None (and recorded)."""
    inp = dk.get("input")
    if spec is None and isinstance(inp, Mapping):
        try:
            spec = InputSpec(**{k: jsonable(v) for k, v in inp.items()})
        except (TypeError, ValueError) as e:
            raise FormatError(f"graph metadata 'delaykit.input': {e}") from None
    if readout is None and dk.get("readout") is not None:
        readout = str(jsonable(dk["readout"]))
    return spec, readout


def provenance_and_metadata(dk: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The network's provenance and metadata dictionaries as exported."""
    provenance = jsonable(dk.get("provenance", {})) or {}
    metadata = jsonable(dk.get("metadata", {})) or {}
    if not isinstance(provenance, dict) or not isinstance(metadata, dict):
        raise FormatError("graph metadata 'delaykit.provenance' and 'delaykit.metadata' must be dictionaries")
    return provenance, metadata


# ---- import: one layer ---------------------------------------------------------------------


@dataclass
class GraphLayer:
    """A layer as the graph gives it: weight/bias in the graph's units, delays in steps."""

    node: str
    weight: np.ndarray
    delay: np.ndarray
    bias: np.ndarray
    neuron: LIF | LI  # as derived from the neuron node


def restore_layer(g: GraphLayer, md: Mapping[str, Any]) -> Layer:
    """Rebuild a layer losslessly from the graph values and its delaykit metadata."""
    where = f"NIR node {g.node!r} (metadata layer {md.get('name', '?')!r})"
    md_node = md.get("node")
    if md_node is not None and str(jsonable(md_node)) != g.node:
        raise FormatError(
            f"{where}: metadata names node {jsonable(md_node)!r} for this layer; the metadata "
            "belongs to another graph"
        )
    layer_name = str(jsonable(md.get("name", g.node)))
    extend = int(jsonable(md.get("extend_steps", 0)))
    neuron = _restore_neuron(where, g.neuron, md.get("neuron"))
    scale = _weight_scale(where, md.get("weight_scale"), g.weight.shape[0])
    if scale is not None:
        w_final, b_final = _integer_units(where, g, neuron, scale, md)
    else:
        dtype = np.dtype(str(jsonable(md.get("weight_dtype", "float64"))))
        w_final = g.weight.astype(dtype if dtype.kind == "f" else np.float64)
        b_final = g.bias
        _check_neuron_agrees(where, g.neuron, neuron, np.ones(g.weight.shape[0]))
    if md.get("bias") is not None:
        factor = (
            np.ones(g.weight.shape[0])
            if scale is None
            else _unit_factor(where, g.neuron, neuron, scale, g.weight)
        )
        b_final = _restore_bias(where, g, neuron, md["bias"], factor, b_final)
    delay = _restore_delay(where, g.delay, w_final, md.get("delay"))
    try:
        return Layer(
            name=layer_name,
            weight=w_final,
            delay=delay,
            bias=b_final,
            neuron=neuron,
            weight_scale=scale,
            extend_steps=extend,
        )
    except ValueError as e:
        raise FormatError(f"{where}: {e}") from None


def _restore_neuron(where: str, derived: LIF | LI, neuron_d: Any) -> LIF | LI:
    """The metadata's neuron (contract units), checked against the graph's; else the graph's."""
    if neuron_d is None:
        return derived
    try:
        neuron = neuron_from_dict(jsonable(neuron_d), where=where)
    except ValueError as e:
        raise FormatError(str(e)) from None
    if neuron.kind != derived.kind:
        raise FormatError(f"{where}: metadata says a {neuron.kind} neuron, the graph has a {derived.kind}")
    if not math.isclose(neuron.tau, derived.tau, rel_tol=1e-9):
        raise FormatError(
            f"{where}: metadata tau {neuron.tau} steps disagrees with the graph's {derived.tau} steps"
        )
    ts_m, ts_g = neuron.tau_syn, derived.tau_syn
    if (ts_m is None) != (ts_g is None) or (
        ts_m is not None and ts_g is not None and not math.isclose(ts_m, ts_g, rel_tol=1e-9)
    ):
        raise FormatError(f"{where}: metadata tau_syn {ts_m} steps disagrees with the graph's {ts_g} steps")
    return neuron


def _restore_bias(
    where: str, g: GraphLayer, neuron: LIF | LI, raw: Any, factor: np.ndarray, b_graph: np.ndarray
) -> np.ndarray:
    """The metadata's exact bias (a neuron with a synaptic current, contract v3), checked
    against the graph's drive: its bias plus, for LI, ``(v_leak - v_reset) / tau``."""
    b = np.asarray(jsonable(raw), dtype=np.float64).reshape(-1)
    n = g.weight.shape[0]
    if b.shape != (n,):
        raise FormatError(f"{where}: metadata bias has {b.size} values for {n} neurons")
    rest_g = np.broadcast_to(np.asarray(g.neuron.v_reset, dtype=np.float64), (n,))
    rest_m = np.broadcast_to(np.asarray(neuron.v_reset, dtype=np.float64), (n,)) * factor
    drive = g.bias + (rest_g - rest_m) / float(neuron.tau)
    expect = b * factor
    if not np.allclose(drive, expect, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(expect).max()))):
        raise FormatError(f"{where}: metadata bias disagrees with the graph's v_leak")
    return b.astype(b_graph.dtype)


def _weight_scale(where: str, scale_raw: Any, n_out: int) -> np.ndarray | None:
    if scale_raw is None or jsonable(scale_raw) is None:
        return None
    scale = np.asarray(jsonable(scale_raw), dtype=np.float64).reshape(-1)
    if scale.size == 1:
        scale = np.full(n_out, float(scale[0]))
    if scale.shape != (n_out,):
        raise FormatError(f"{where}: weight_scale has {scale.size} values for {n_out} neurons")
    return scale


def _integer_units(
    where: str, g: GraphLayer, neuron: LIF | LI, scale: np.ndarray, md: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """An integer layer's (weight, bias) in integer units. The graph holds real units
    (int x scale), as NIR's semantics want, or integer units; the threshold of the node tells
    which (LI: integrality decides)."""
    factor = _unit_factor(where, g.neuron, neuron, scale, g.weight)
    w_units = g.weight / factor[:, None]
    b_units = g.bias / factor
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
    dtype = np.dtype(str(jsonable(md.get("weight_dtype", "int32"))))
    if dtype.kind not in "iu":
        dtype = np.dtype(np.int32)
    return w_int.astype(dtype), b_int.astype(np.int64)


def _restore_delay(where: str, d: np.ndarray, w: np.ndarray, delay_md: Any) -> np.ndarray:
    """The metadata's delay matrix (it also holds zero-weight synapses), checked against the graph's."""
    if delay_md is None:
        return d
    dm = np.asarray(jsonable(delay_md), dtype=np.int64)
    if dm.shape != d.shape:
        raise FormatError(f"{where}: metadata delay has shape {dm.shape}, the graph {d.shape}")
    nz = w != 0
    if (dm[nz] != d[nz]).any():
        raise FormatError(f"{where}: metadata delays disagree with the graph's Delay nodes")
    return dm


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
