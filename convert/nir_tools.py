"""NIR interop with six tools, both directions, each run for real in its own environment.

* **export** (:func:`export_check`): delaykit's graph for the tool
  (:func:`delaykit.nir.consumers.graph_for`) is imported by the tool's own importer, with
  delaykit's node map for what it lacks (``convert/nir_torch.py``), and run on the same frames
  as delaykit's simulator runs the graph. NIR has no run length: every layer runs for the
  whole window, so delaykit's reference here is the network with ``extend_steps = 0`` on the
  frames padded with ``sum(extend_steps)`` zero steps (the deployed network cuts each layer
  at its own length; ``same_as_deployed`` counts how often the tool still predicts like it).
* **import** (:func:`import_check`): the tool builds the same layers from its own classes
  (every layer LIF with hard reset, the readout too, so the prediction is the spike count),
  runs them and writes its own NIR export; delaykit imports that file
  (:func:`delaykit.nir.producers.load_from`; the tools' own networks emit at most one spike
  per step) and simulates it.

Both compare spikes bin by bin (sample, step, neuron) in every spiking layer and the readout
membrane within ``OUTPUT_RTOL`` (float32 tools), and count identical predictions. The tool
runs ``convert/nir_tool_run.py`` by path with the python of ``.venv-nir-<tool>``
(``scripts/setup_nir_tools.sh``) or ``$DELAYKIT_NIR_<TOOL>_PYTHON``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.network import Network
from delaykit.nir.consumers import CONSUMERS, consumer, write_nir_for
from delaykit.nir.export_nir import node_names
from delaykit.nir.producers import load_from
from delaykit.sim.evaluate import simulate
from delaykit.sim.readout import apply_readout

__all__ = [
    "NATIVE_CLASSES",
    "OUTPUT_RTOL",
    "TOOLS",
    "Interop",
    "export_check",
    "find_tool_python",
    "import_check",
]

TOOLS = tuple(CONSUMERS)
#: A readout membrane bin matches when |tool - delaykit| <= OUTPUT_RTOL * (1 + |delaykit|).
OUTPUT_RTOL = 1e-4
RUN_SCRIPT = Path(__file__).resolve().with_name("nir_tool_run.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL_TIMEOUT_S = 600


@dataclass
class Interop:
    """One tool, one model, one direction: what was compared and what differed."""

    tool: str
    model: str
    direction: str  # "export" (delaykit -> tool) or "import" (tool -> delaykit)
    status: str = "ok"  # ok | mismatch | refused | failed
    samples: int = 0
    spike_bins: int = 0
    spike_mismatches: int = 0
    output_bins: int = 0
    output_mismatches: int = 0
    same_predictions: int = 0
    same_as_deployed: int | None = None
    version: str = ""
    node_map: list[str] = field(default_factory=list)
    reason: str = ""
    note: str = ""  # import: the tool's classes that made the network

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The tool's own classes behind each network of the import direction (tool, variant).
NATIVE_CLASSES: dict[tuple[str, str], str] = {
    ("spikingjelly", "lif"): "LIFNode(decay_input=False, v_reset=0)",
    ("spikingjelly", "cuba"): "CUBALIFNode(v_reset=0)",
    ("spikingjelly", "if"): "IFNode(v_reset=0)",
    ("spikingjelly", "default"): "LIFNode(tau) defaults (decay_input=True, v_reset=0)",
    ("norse", "lif"): "LIFBoxCell",
    ("norse", "cuba"): "LIFCell (current-based)",
    ("norse", "if"): "IAFCell",
    ("norse", "li"): "LIFBoxCell, LIBoxCell readout",
    ("snntorch", "lif"): "Leaky(reset_mechanism='zero', reset_delay=False)",
    ("snntorch", "cuba"): "Synaptic(reset_mechanism='zero', reset_delay=False)",
    ("snntorch", "subtract"): "Leaky(reset_mechanism='subtract', reset_delay=False)",
    ("snntorch", "default"): "Leaky(beta) defaults (subtract, reset_delay=True)",
    ("sinabs", "lif"): "LIFSqueeze(SingleSpike, MembraneSubtract)",
    ("sinabs", "zero"): "LIFSqueeze(SingleSpike, MembraneReset)",
    ("sinabs", "if"): "IAFSqueeze(SingleSpike, MembraneSubtract)",
    ("sinabs", "li"): "LIFSqueeze, ExpLeakSqueeze readout",
    ("sinabs", "default"): "LIFSqueeze(tau_mem) defaults (MultiSpike, MembraneSubtract, norm_input=True)",
    ("rockpool", "lif"): "LIFNeuronTorch(max_spikes_per_dt=1)",
    ("rockpool", "cuba"): "LIFTorch(max_spikes_per_dt=1) (current-based)",
    ("rockpool", "li"): "LIFNeuronTorch, ExpSynTorch readout",
    ("rockpool", "default"): "LIFTorch(tau_mem) defaults (max_spikes_per_dt = 2**16)",
    ("spyx", "lif"): "spyx.nn.LIF",
}


def find_tool_python(tool: str) -> str | None:
    """The python of ``tool``'s environment: ``$DELAYKIT_NIR_<TOOL>_PYTHON`` or a set-up
    ``.venv-nir-<tool>`` (its stamp file written); None when neither exists."""
    env = os.environ.get(f"DELAYKIT_NIR_{tool.upper()}_PYTHON")
    if env:
        return env if Path(env).exists() else None
    venv = REPO_ROOT / f".venv-nir-{tool}"
    if (venv / ".delaykit-nir-ok").exists() and (venv / "bin" / "python").exists():
        return str(venv / "bin" / "python")
    return None


def _run_tool(tool: str, args: list[str]) -> dict[str, np.ndarray]:
    py = find_tool_python(tool)
    if py is None:
        raise DelaykitError(f"tool: no environment for {tool!r} (scripts/setup_nir_tools.sh builds it)")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [py, str(RUN_SCRIPT), *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, env=env
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise DelaykitError(f"{tool} failed: {tail[0]}")
    return {}


def _load_out(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as z:
        spikes = {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith("spikes__")}
        return z["output"], spikes, json.loads(str(z["info"]))


def _padded(net: Network, frames: np.ndarray) -> tuple[Network, np.ndarray]:
    """The network as NIR runs it (no run lengths) and the frames padded to its output length."""
    extra = sum(layer.extend_steps for layer in net.layers)
    flat = replace(net, layers=tuple(replace(layer, extend_steps=0) for layer in net.layers))
    pad = np.zeros((frames.shape[0], extra, frames.shape[2]), dtype=frames.dtype)
    return flat, np.concatenate([frames, pad], axis=1)


def _compare_spikes(row: Interop, ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    for a, b in zip(ours, theirs, strict=True):
        row.spike_bins += a.size
        row.spike_mismatches += int(np.count_nonzero(a.astype(bool) != b.astype(bool)))


def _finish(row: Interop) -> Interop:
    if row.spike_mismatches or row.output_mismatches or row.same_predictions != row.samples:
        row.status = "mismatch"
    return row


def export_check(net: Network, frames: np.ndarray, tool: str, model: str = "") -> Interop:
    """Run delaykit's graph for ``tool`` in the tool; frames: (samples, T, n_in)."""
    c = consumer(tool)
    row = Interop(tool, model, "export", samples=len(frames), node_map=list(c.node_map))
    flat, padded = _padded(net, np.asarray(frames, dtype=np.float64))
    with tempfile.TemporaryDirectory(prefix=f"dk-nir-{tool}-") as d:
        g, f, o = Path(d, "graph.nir"), Path(d, "frames.npz"), Path(d, "out.npz")
        write_nir_for(net, g, tool, approximate=True)  # inexact tools: the difference is measured
        np.savez(f, frames=padded.astype(np.float32))
        _run_tool(tool, ["import", tool, str(g), str(f), str(o)])
        output, spikes, info = _load_out(o)
    row.version = info.get("version", "")
    refs = [simulate(flat, x, engine="reference") for x in padded]
    deployed = [simulate(net, x, engine="reference").prediction for x in frames]  # no numba compile
    ours = [np.stack([r.spikes[li] for r in refs]) for li in range(len(net.layers) - 1)]
    hidden = node_names(net)[:-1]
    missing = [n for n in hidden if n not in spikes]
    if missing:
        raise DelaykitError(f"{tool} did not report the spikes of {missing}")
    _compare_spikes(row, ours, [spikes[k] for k in hidden])
    ref_out = np.stack([r.output for r in refs])
    row.output_bins = ref_out.size
    tol = OUTPUT_RTOL * (1 + np.abs(ref_out))
    row.output_mismatches = int(np.count_nonzero(np.abs(output - ref_out) > tol))
    preds = [apply_readout(net.readout, y) for y in output]
    row.same_predictions = sum(p == r.prediction for p, r in zip(preds, refs, strict=True))
    row.same_as_deployed = sum(p == q for p, q in zip(preds, deployed, strict=True))
    return _finish(row)


def native_spec(
    net: Network, tau_syn_steps: float | None = None, variant: str = "lif"
) -> dict[str, np.ndarray]:
    """The layers of ``net`` for a tool's own classes: real weights and biases, one tau and
    one threshold for the whole network (DelaykitError otherwise). ``tau_syn_steps``: make every
    layer current-based with that synaptic time constant and no bias (a bias would enter the
    tools' current, where the contract adds it to the membrane). ``variant``: which of the
    tool's neurons (``nir_tool_native.VARIANTS``; "cuba" with ``tau_syn_steps``)."""
    taus = {float(layer.neuron.tau) for layer in net.layers}
    ths = {float(np.asarray(layer.neuron.v_threshold).reshape(-1)[0]) for layer in net.layers[:-1]}
    if len(taus) != 1 or len(ths) != 1:
        raise DelaykitError("network: a tool's own network needs one tau and one threshold for every layer")
    spec: dict[str, np.ndarray] = {
        "n_layers": np.array(len(net.layers)),
        "tau_steps": np.array(taus.pop()),
        "threshold": np.array(ths.pop()),
        "dt": np.array(net.dt),
        "variant": np.array("cuba" if tau_syn_steps is not None else variant),
    }
    for i, layer in enumerate(net.layers):
        if np.any(layer.delay[layer.weight != 0]):
            raise DelaykitError(f"layer {layer.name!r}: field 'delay': a tool's own network has no delays")
        scale = 1.0 if layer.weight_scale is None else layer.weight_scale[:, None]
        spec[f"w{i}"] = np.asarray(layer.weight, np.float64) * scale
        spec[f"b{i}"] = np.asarray(layer.bias, np.float64) * (
            1.0 if layer.weight_scale is None else layer.weight_scale
        )
    if tau_syn_steps is not None:
        spec["tau_syn_steps"] = np.array(float(tau_syn_steps))
        for i in range(len(net.layers)):
            spec[f"b{i}"] = np.zeros_like(spec[f"b{i}"])
    return spec


def import_check(
    net: Network,
    frames: np.ndarray,
    tool: str,
    model: str = "",
    tau_syn_steps: float | None = None,
    variant: str = "lif",
) -> Interop:
    """``tool`` builds ``net``'s layers (:func:`native_spec`), runs them and exports NIR;
    delaykit imports that file, stating what the tool's file leaves out as the tool's run
    reports it (one spike per step, the reset), and runs it. A graph delaykit cannot hold
    exactly is ``refused`` with the reason."""
    kind = "cuba" if tau_syn_steps is not None else variant
    row = Interop(tool, model, "import", samples=len(frames), note=NATIVE_CLASSES.get((tool, kind), ""))
    frames = np.asarray(frames, dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix=f"dk-nir-{tool}-") as d:
        s, f, o, g = (Path(d, n) for n in ("spec.npz", "frames.npz", "out.npz", "tool.nir"))
        np.savez(s, **native_spec(net, tau_syn_steps, variant))
        np.savez(f, frames=frames.astype(np.float32))
        _run_tool(tool, ["native", tool, str(s), str(f), str(o), str(g)])
        output, spikes, info = _load_out(o)
        row.version = info.get("version", "")
        try:  # as the tool ran: at most one spike per step, the reset it reports
            one = bool(info.get("one_spike", True))
            imported = load_from(g, tool, net.dt, one_spike_per_step=one, reset=info.get("reset"))
        except DelaykitError as e:
            row.status, row.reason = "refused", str(e).removeprefix(f"{g}: ")
            return row
    sims = [simulate(imported, x, engine="reference") for x in frames]
    n_hidden = len(imported.layers) - 1
    ours = [np.stack([r.spikes[li] for r in sims]) for li in range(n_hidden)]
    theirs = [spikes[f"layer{li}"] for li in range(n_hidden)]
    ref_out = np.stack([r.output for r in sims])
    if info.get("readout") == "li":  # the readout's membrane, float32 in the tools
        row.output_bins = ref_out.size
        tol = OUTPUT_RTOL * (1 + np.abs(ref_out))
        row.output_mismatches = int(np.count_nonzero(np.abs(output - ref_out) > tol))
        rule = imported.readout
    else:
        ours.append(ref_out)
        theirs.append(output)
        rule = "spike_count"
    _compare_spikes(row, ours, theirs)
    if not any(np.any(x) for x in theirs):
        raise DelaykitError(f"{tool} {model}: the tool's network emitted no spike; nothing was compared")
    preds = [apply_readout(rule, y) for y in output]
    row.same_predictions = sum(p == r.prediction for p, r in zip(preds, sims, strict=True))
    return _finish(row)
