"""Each NIR tool's importer with delaykit's node map, and each tool's own network and exporter.

Runs in the tool's environment (imported by ``nir_tool_run.py``; no delaykit there). Per tool:

* ``_load_<tool>(graph, dt)``: the tool's stock node map plus :mod:`nir_torch` modules for the
  nodes it lacks (``Delay``; ``LI`` where its map has none or reads it otherwise), built the
  way the tool's own ``from_nir`` builds it.
* ``_native_<tool>(spec)``: the same layers made from the tool's own classes (the hidden and
  output layers LIF with hard reset to 0), run and exported with the tool's own exporter.

The graphs come from ``delaykit.nir.consumers.graph_for`` (``metadata["delaykit_for"]`` names
the time base the tool integrates with).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

try:  # every tool but spyx (JAX) runs on torch
    import torch
    from nir_torch import SeqDelay, SeqLI, StepDelay, StepLI
except ImportError:  # pragma: no cover - the spyx environment
    torch = None

SPIKING = ("LIF", "IF", "CubaLIF")


def delay_steps(node: Any, dt: float) -> np.ndarray:
    """A ``nir.Delay`` node's delays in whole steps of ``dt`` seconds (ValueError otherwise)."""
    sec = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    steps = np.round(sec / dt)
    if np.any(np.abs(sec / dt - steps) > 1e-6) or np.any(steps < 0):
        raise ValueError(f"Delay {sec.tolist()[:4]}... s is not a whole number of steps of dt={dt} s")
    return steps.astype(np.int64)


@dataclass
class Result:
    output: np.ndarray  # (batch, time, n_out)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)  # node -> (batch, time, n)
    info: dict[str, Any] = field(default_factory=dict)


def _time_base(graph: Any) -> float:
    md = json.loads(str(np.asarray(graph.metadata["delaykit_for"]).reshape(-1)[0]))
    return float(md["time_base"])


def _hidden_nodes(graph: Any) -> list[str]:
    """Spiking nodes that do not feed the Output (the hidden layers), in graph order."""
    feeds_out = {a for a, b in graph.edges if type(graph.nodes[b]).__name__ == "Output"}
    return [n for n, x in graph.nodes.items() if type(x).__name__ in SPIKING and n not in feeds_out]


class _Recorder:
    """Forward hooks that record what named submodules emit, one entry per call."""

    def __init__(self, model: torch.nn.Module, names: list[str]):
        self.rec: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        for n in names:
            model.get_submodule(n).register_forward_hook(self._hook(n))

    def _hook(self, name: str):
        def hook(_m, _inp, out):
            y = out[0] if isinstance(out, tuple) else out
            self.rec[name].append(y.detach().clone())

        return hook

    def stacked(self, seq_layout: str = "step") -> dict[str, np.ndarray]:
        out = {}
        for n, ys in self.rec.items():
            if seq_layout == "step":
                out[n] = torch.stack(ys, dim=1).numpy()
            else:
                out[n] = ys[-1].numpy()
        return out


def _step_run(model: Any, frames: np.ndarray, dtype: torch.dtype, names: list[str]) -> Result:
    """One model call per time step, state passed back (nirtorch's protocol)."""
    rec = _Recorder(model, names)
    x = torch.as_tensor(frames, dtype=dtype)
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, state = model(x[:, t], state)
            outs.append(y)
    return Result(torch.stack(outs, dim=1).double().numpy(), rec.stacked())


# ---- importers --------------------------------------------------------------------------


def _load_spikingjelly(graph: Any, dt: float) -> tuple[Any, torch.dtype, dict]:
    import nirtorch
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange.from_nir import _NodeMapper

    node_map = dict(_NodeMapper(dt=dt).map_dict)  # what import_from_nir uses
    node_map[nir.Delay] = lambda n: StepDelay(delay_steps(n, dt))
    node_map[nir.LI] = lambda n: StepLI(n, dt, torch.float64)
    gm = nirtorch.nir_to_torch(graph, node_map, dtype=torch.float64)
    functional.set_step_mode(gm, "s")
    return gm, torch.float64, {"dtype": "float64"}


def _load_norse(graph: Any, dt: float) -> tuple[Any, torch.dtype, dict]:
    import nirtorch
    from norse.torch.utils.import_nir import _import_norse_module

    def node_map(node: Any) -> Any:  # norse.torch.from_nir's map, plus Delay and LI
        if isinstance(node, nir.Delay):
            return StepDelay(delay_steps(node, dt))
        if isinstance(node, nir.LI):
            return StepLI(node, dt, torch.float32)
        return _import_norse_module(node, ignore_warnings=True, dt=dt)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = nirtorch.load(graph, node_map)
    return model, torch.float32, {"dtype": "float32"}


def _load_snntorch(graph: Any, dt: float) -> tuple[Any, torch.dtype, dict]:
    import nirtorch
    from snntorch.import_nir import _nir_to_snntorch_module

    def stock(n: Any) -> Any:
        return _nir_to_snntorch_module(n, init_hidden=True)

    node_map = {t: stock for t in (nir.Affine, nir.Linear, nir.Flatten, nir.IF, nir.LIF, nir.CubaLIF)}
    node_map[nir.Delay] = lambda n: StepDelay(delay_steps(n, dt))
    node_map[nir.LI] = lambda n: StepLI(n, dt, torch.float32)
    gm = nirtorch.nir_to_torch(graph, node_map)  # as snntorch.import_nir.import_from_nir
    return gm, torch.float32, {"dtype": "float32"}


LOADERS = {"spikingjelly": _load_spikingjelly, "norse": _load_norse, "snntorch": _load_snntorch}


def _version(tool: str) -> str:
    from importlib.metadata import version

    return version(tool)


def run_native(tool: str, spec: dict, frames: np.ndarray) -> tuple[Result, Any]:
    """Build ``spec`` from ``tool``'s own layers, run ``frames`` and export it with the tool."""
    import nir_tool_native

    return nir_tool_native.NATIVE[tool](spec, frames)


def run_import(tool: str, graph: Any, frames: np.ndarray) -> Result:
    """Import ``graph`` with ``tool``'s importer (+ delaykit's node map) and run ``frames``."""
    dt = _time_base(graph)
    if tool in SEQ_LOADERS:
        return SEQ_LOADERS[tool](graph, dt, frames)
    model, dtype, info = LOADERS[tool](graph, dt)
    if tool == "snntorch":
        from snntorch import utils

        utils.reset(model)
    result = _step_run(model, frames, dtype, _hidden_nodes(graph))
    result.info.update(info, tool=tool, version=_version(tool))
    return result


# ---- sequence tools (sinabs) --------------------------------------------------------------


def _run_sinabs(graph: Any, dt: float, frames: np.ndarray) -> Result:
    import nirtorch
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike
    from sinabs.nir import _import_sinabs_module

    b, t = frames.shape[:2]

    def node_map(node: Any) -> Any:  # sinabs.from_nir's map, plus Delay; LIF with hard reset
        if isinstance(node, nir.Delay):
            return SeqDelay(delay_steps(node, dt), num_timesteps=t)
        if isinstance(node, nir.LIF):
            return sl.LIFSqueeze(
                tau_mem=torch.as_tensor(np.asarray(node.tau), dtype=torch.float32),
                spike_threshold=torch.as_tensor(np.asarray(node.v_threshold), dtype=torch.float32),
                spike_fn=SingleSpike,
                reset_fn=MembraneReset(),
                min_v_mem=None,
                num_timesteps=t,
                norm_input=False,
            )
        return _import_sinabs_module(node, batch_size=b, num_timesteps=t)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = nirtorch.load(graph, node_map)
    names = _hidden_nodes(graph)
    rec = _Recorder(model, names)
    x = torch.as_tensor(frames, dtype=torch.float32).reshape(b * t, -1)
    with torch.no_grad():
        y, _state = model(x)
    spikes = {n: s.reshape(b, t, -1) for n, s in rec.stacked("seq").items()}
    info = {"tool": "sinabs", "version": _version("sinabs"), "dtype": "float32"}
    return Result(y.reshape(b, t, -1).double().numpy(), spikes, info)


def _run_rockpool(graph: Any, dt: float, frames: np.ndarray) -> Result:
    import nirtorch
    from rockpool.nn.modules import LIFNeuronTorch
    from rockpool.nn.modules.torch.nir import _convert_nir_to_rockpool_torch

    def node_map(node: Any) -> Any:  # rockpool.nn.modules.from_nir's map, plus Delay, LI, LIF
        if isinstance(node, nir.Delay):
            return SeqDelay(delay_steps(node, dt))
        if isinstance(node, nir.LI):  # its map makes ExpSynTorch(tau=int(tau)): 0 for tau < 1
            return SeqLI(node, dt, exact=True)  # graph_for wrote rockpool's convention
        if isinstance(node, nir.LIF):  # its map reads node.tau_mem, which nir.LIF lacks
            n = int(np.asarray(node.tau).size)
            mod = LIFNeuronTorch(
                shape=(n,),
                tau_mem=torch.as_tensor(np.asarray(node.tau), dtype=torch.float32),
                threshold=torch.as_tensor(np.asarray(node.v_threshold), dtype=torch.float32),
                bias=torch.as_tensor(np.asarray(node.v_leak), dtype=torch.float32),
                dt=dt,
            )
            mod.to_torch()
            return mod
        return _convert_nir_to_rockpool_torch(node)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nirtorch.load(graph, node_map)
    rec = _Recorder(model, _hidden_nodes(graph))
    with torch.no_grad():
        y, _state = model(torch.as_tensor(frames, dtype=torch.float32))
    info = {"tool": "rockpool", "version": _version("rockpool"), "dtype": "float32"}
    return Result(y.double().numpy(), rec.stacked("seq"), info)


class _JaxDelay:
    """``nir.Delay`` for spyx's Sequential: a shift register as the layer's state."""

    def __init__(self, steps: np.ndarray):
        self.steps = np.asarray(steps, dtype=np.int64)
        self.depth = max(int(self.steps.max()), 1)

    def initial_state(self, batch_size: int) -> Any:
        import jax.numpy as jnp

        return jnp.zeros((self.depth, batch_size, self.steps.size))

    def __call__(self, x: Any, state: Any) -> tuple[Any, Any]:
        import jax.numpy as jnp

        stacked = jnp.concatenate([x[None], state], axis=0)
        y = stacked[self.steps, :, jnp.arange(self.steps.size)].T
        return y, stacked[:-1]


def _run_spyx(graph: Any, dt: float, frames: np.ndarray) -> Result:
    import jax.numpy as jnp
    import spyx.nir as snir
    from flax import nnx

    stock = snir._nir_node_to_spyx_module

    def node_map(node: Any, rngs: Any) -> Any:  # spyx's map, plus Delay (it drops what it lacks)
        if isinstance(node, nir.Delay):
            return _JaxDelay(delay_steps(node, dt))
        return stock(node, rngs)

    snir._nir_node_to_spyx_module = node_map
    try:
        model = snir._build_model(graph, dt, nnx.Rngs(0))
    finally:
        snir._nir_node_to_spyx_module = stock
    keys = [k for k, _ in _spyx_chain(graph)]
    hidden = _hidden_nodes(graph)
    state = model.initial_state(frames.shape[0])
    x = jnp.asarray(frames, dtype=jnp.float32)
    rec: dict[str, list] = {k: [] for k in keys}
    for t in range(frames.shape[1]):
        h, new = x[:, t], []
        for key, layer, s in zip(keys, model.layers, state, strict=True):
            h, s = layer(h, s) if s is not None else (layer(h), None)
            new.append(s)
            rec[key].append(np.asarray(s if key == keys[-1] else h))
        state = new
    out = {k: np.stack(v, axis=1) for k, v in rec.items()}
    info = {"tool": "spyx", "version": _version("spyx"), "dtype": "float32"}
    return Result(out[keys[-1]].astype(np.float64), {k: out[k] for k in hidden}, info)


def _spyx_chain(graph: Any) -> list[tuple[str, Any]]:
    """The nodes spyx's importer builds, in its order (it follows the first edge out)."""
    nxt = {}
    for a, b in graph.edges:
        nxt.setdefault(a, b)
    out, cur = [], nxt.get("input")
    while cur is not None and cur != "output":
        out.append((cur, graph.nodes[cur]))
        cur = nxt.get(cur)
    return out


SEQ_LOADERS = {"sinabs": _run_sinabs, "rockpool": _run_rockpool, "spyx": _run_spyx}
