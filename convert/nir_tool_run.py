"""Run a NIR graph, or a tool's own network, in one NIR tool's environment (no delaykit there).

Started by :mod:`delaykit.convert.nir_tools` with the tool's venv python, by path::

    python nir_tool_run.py import TOOL GRAPH.nir FRAMES.npz OUT.npz
    python nir_tool_run.py native TOOL SPEC.npz FRAMES.npz OUT.npz OUT.nir

``import``: the tool's NIR importer (its node map, plus delaykit's ``nir_torch`` modules for
what it lacks, see :mod:`nir_tool_maps`) reads GRAPH and runs FRAMES (``frames``: (batch,
time, n_in) float, one call per time step, or one sequence call for sequence tools).
``native``: the tool builds the network of SPEC (``w{l}``, ``b{l}`` per layer, ``tau_steps``,
``threshold``, ``dt``) from its own layers, runs FRAMES and writes its own NIR export to
OUT.nir. OUT.npz holds ``output`` (batch, time, n_out) -- the last layer's membrane (LI) or
spikes -- ``spikes__<node>`` (batch, time, n) per hidden spiking node, and ``info`` (JSON:
tool version, node map, dtype).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nir_tool_maps as maps  # noqa: E402
import numpy as np  # noqa: E402


def _write(out: Path, result: maps.Result) -> None:
    arrays = {"output": np.asarray(result.output, dtype=np.float64)}
    for name, s in result.spikes.items():
        arrays[f"spikes__{name}"] = np.asarray(s, dtype=np.uint8)
    arrays["info"] = np.array(json.dumps(result.info))
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[1] not in ("import", "native"):
        print(__doc__, file=sys.stderr)
        return 2
    verb, tool = argv[1], argv[2]
    frames = np.load(argv[4])["frames"]
    if verb == "import":
        import nir

        graph = nir.read(argv[3])
        result = maps.run_import(tool, graph, frames)
        _write(Path(argv[5]), result)
        return 0
    spec = dict(np.load(argv[3]))
    result, graph = maps.run_native(tool, spec, frames)
    _write(Path(argv[5]), result)
    import nir

    nir.write(argv[6], graph)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
