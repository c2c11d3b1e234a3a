"""PyNN export: a table directory plus ``run_pynn.py``, and the check against delaykit.

``delaykit convert to-pynn MODEL -o DIR`` writes, into ``DIR`` (atomically, as one folder):
the event tables and manifest (:mod:`delaykit.tables`, CSV + npz), the PyNN
``FromFileConnector`` lists under ``pynn/`` and ``run_pynn.py``
(:mod:`delaykit.convert.pynn_script`, copied verbatim: numpy and PyNN or NEST only). The
script runs the network in PyNN 0.13 with NEST 3.10 (``--simulator nest``), on SpiNNaker
through sPyNNaker (``--simulator spiNNaker``, not tested here) or directly in NEST
(``--simulator pynest``).

:func:`check_pynn` runs the exported script in the NEST/PyNN environment
(``scripts/setup_pynn.sh`` builds ``.venv-pynn``) on binned frames and compares every spike
and the readout with delaykit's float64 simulation of the same tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.network import Network, require_v2_neurons
from delaykit.outputs import atomic_folder, refuse_foreign_folder
from delaykit.sim import Arithmetic, simulate
from delaykit.tables import read_tables, write_tables_into

SCRIPT_NAME = "run_pynn.py"
PYNN_PYTHON_ENV = "DELAYKIT_PYNN_PYTHON"
_SCRIPT_SOURCE = Path(__file__).with_name("pynn_script.py")


def write_pynn(net: Network, out_dir: str | Path) -> list[Path]:
    """Write the PyNN export of ``net`` into the folder ``out_dir``; return the file paths."""
    out = Path(out_dir)
    require_v2_neurons(net, "the PyNN export (IF_curr_delta cells)")
    refuse_foreign_folder(out, SCRIPT_NAME, "an earlier PyNN export")
    with atomic_folder(out) as tmp:
        files = write_tables_into(net, tmp, formats=("csv", "npz"), pynn=True)
        script = tmp / SCRIPT_NAME
        shutil.copyfile(_SCRIPT_SOURCE, script)
        script.chmod(0o755)
        files.append(script)
    return [out / p.relative_to(tmp) for p in files]


def find_pynn_python() -> str | None:
    """A python that imports nest and pyNN.nest: $DELAYKIT_PYNN_PYTHON, else the repository's
    ``.venv-pynn`` (``scripts/setup_pynn.sh``); None when neither does."""
    root = Path(__file__).resolve().parents[1]
    for cand in (os.environ.get(PYNN_PYTHON_ENV), str(root / ".venv-pynn" / "bin" / "python")):
        if not cand or not Path(cand).exists():
            continue
        probe = subprocess.run([cand, "-c", "import nest, pyNN.nest"], capture_output=True, timeout=120)
        if probe.returncode == 0:
            return cand
    return None


def run_exported(
    table_dir: str | Path, frames: np.ndarray, simulator: str, python: str, timeout_s: float = 1800
) -> dict[str, Any]:
    """Run ``run_pynn.py`` of ``table_dir`` on frames (samples, T, channels) counts with
    ``python``; return its result arrays (see the script's docstring)."""
    d = Path(table_dir)
    with tempfile.TemporaryDirectory() as td:
        fp, rp = Path(td) / "frames.npz", Path(td) / "result.npz"
        np.savez(fp, frames=np.asarray(frames, dtype=np.int64))
        cmd = [python, str(d / SCRIPT_NAME), "--simulator", simulator, "--tables", str(d)]
        proc = subprocess.run(
            [*cmd, "--frames", str(fp), "--out", str(rp)], capture_output=True, text=True, timeout=timeout_s
        )
        if proc.returncode != 0:
            raise DelaykitError(
                f"{d / SCRIPT_NAME} --simulator {simulator} failed (exit {proc.returncode}): "
                f"{proc.stderr.strip().splitlines()[-1:] or proc.stdout[-300:]}"
            )
        with np.load(rp) as z:
            return {k: z[k] for k in z.files}


def delaykit_run(net: Network, frames: np.ndarray) -> dict[str, Any]:
    """delaykit's float64 event-driven simulation, in the script's result layout."""
    t0 = time.perf_counter()
    res = [simulate(net, f, engine="event", arithmetic=Arithmetic.float64()) for f in frames]
    out: dict[str, Any] = {"run_s": time.perf_counter() - t0}
    spiking = [li for li, layer in enumerate(net.layers) if layer.neuron.spiking]
    for k, li in enumerate(spiking):
        out[f"spikes_{li}"] = np.stack([r.spikes[k] for r in res])
    out["output"] = np.stack([r.output for r in res])
    out["predictions"] = np.array([r.prediction for r in res])
    return out


def compare(net: Network, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Spike counts and mismatches per spiking layer, max |delta| of the readout, predictions."""
    layers = []
    for li, layer in enumerate(net.layers):
        if not layer.neuron.spiking:
            continue
        a, b = ours[f"spikes_{li}"], theirs[f"spikes_{li}"]
        if a.shape != b.shape:
            raise DelaykitError(f"layer {li}: spike arrays of shape {a.shape} vs {b.shape}")
        layers.append(
            {
                "layer": li,
                "spikes_delaykit": int(a.sum()),
                "spikes_other": int(b.sum()),
                "mismatched": int((a != b).sum()),
                "stray": int(theirs.get(f"stray_spikes_{li}", 0)),
            }
        )
    ya, yb = ours["output"], theirs["output"]
    return {
        "samples": int(len(ours["predictions"])),
        "layers": layers,
        "mismatched_spikes": sum(x["mismatched"] + x["stray"] for x in layers),
        "readout_max_abs_diff": float(np.abs(ya - yb).max()) if ya.shape == yb.shape else float("inf"),
        "same_predictions": int((ours["predictions"] == theirs["predictions"]).sum()),
    }


def check_pynn(
    table_dir: str | Path, frames: np.ndarray, simulator: str = "nest", python: str | None = None
) -> dict[str, Any]:
    """Run the exported script and delaykit on the same frames; the comparison plus wall times
    (``*_s_per_sample``: seconds per sample; the script's covers its simulation calls)."""
    py = python or find_pynn_python()
    if py is None:
        raise DelaykitError(
            f"no python with NEST and PyNN: run scripts/setup_pynn.sh or set ${PYNN_PYTHON_ENV}"
        )
    net = read_tables(table_dir)
    t0 = time.perf_counter()
    theirs = run_exported(table_dir, frames, simulator, py)
    wall = time.perf_counter() - t0
    ours = delaykit_run(net, frames)
    n = len(frames)
    return {
        **compare(net, ours, theirs),
        "simulator": simulator,
        "other_s_per_sample": float(theirs["run_s"]) / n,
        "other_total_s": wall,
        "delaykit_s_per_sample": ours["run_s"] / n,
    }
