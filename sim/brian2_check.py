"""Cross-check with Brian2: an exported event table, simulated by a simulator nobody here wrote.

:func:`cross_check` writes the network as synaptic-delay tables (:mod:`delaykit.tables`),
runs :mod:`delaykit.sim.brian2_run` by its path in Brian2's own environment (Brian2 2.9.0
needs numpy < 2.4; ``scripts/setup_brian2.sh`` builds it) and compares the spikes and the
readout's membrane trace, which must be *identical*, with both of delaykit's engines on the
same frames. How the table becomes a Brian2 network, and why the comparison is bit for bit,
is described in :mod:`delaykit.sim.brian2_run`.

Command line: ``python -m delaykit.sim.brian2_cli check MODEL --data TEST.h5`` (exit 0 when
identical, 1 when not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.errors import DelaykitError
from delaykit.network import Network, require_v2_neurons
from delaykit.tables import read_tables, write_tables

from .brian2_run import load_results, read_table_dir
from .evaluate import simulate

__all__ = [
    "BRIAN2_PYTHON_ENV",
    "DEFAULT_BRIAN2_PYTHON",
    "CrossCheck",
    "cross_check",
    "find_brian2_python",
    "read_table_dir",
]

#: Where the Brian2 environment's python is looked for when none is given: the environment
#: ``scripts/setup_brian2.sh`` builds at the root of a source checkout.
DEFAULT_BRIAN2_PYTHON = str(Path(__file__).resolve().parents[1] / ".venv-brian2" / "bin" / "python")
BRIAN2_PYTHON_ENV = "DELAYKIT_BRIAN2_PYTHON"
#: The script run in the Brian2 environment (by path: it imports no delaykit).
BRIAN2_RUN_SCRIPT = Path(__file__).resolve().with_name("brian2_run.py")


@dataclass
class CrossCheck:
    """Outcome of :func:`cross_check`. ``identical``: spikes and output equal bit for bit for
    every sample and both delaykit engines."""

    identical: bool
    n_samples: int
    spikes_per_layer: list[int]
    mismatches: list[str] = field(default_factory=list)
    max_output_difference: float = 0.0
    brian2_seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "n_samples": self.n_samples,
            "spikes_per_layer": self.spikes_per_layer,
            "mismatches": self.mismatches[:20],
            "max_output_difference": self.max_output_difference,
            "brian2_seconds": self.brian2_seconds,
            "command": self.command,
        }


def find_brian2_python(explicit: str | None = None) -> str | None:
    """The python of an environment with Brian2 installed: ``explicit``,
    $DELAYKIT_BRIAN2_PYTHON, the checkout's .venv-brian2, or this interpreter; None when none
    has it."""
    candidates = [explicit, os.environ.get(BRIAN2_PYTHON_ENV), DEFAULT_BRIAN2_PYTHON, sys.executable]
    for c in candidates:
        if not c or not Path(c).exists():
            continue
        try:
            probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('brian2') is None)"
            ok = subprocess.run([c, "-c", probe], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return c
    return None


@dataclass
class _Brian2Run:
    """What the Brian2 environment returned: per-sample results, wall time (s), command."""

    results: list[dict[str, Any]]
    seconds: float
    command: list[str]


def _run_brian2(
    python: str, table_dir: Path, samples: list[np.ndarray], latency: int, tmp: Path, timeout: float
) -> _Brian2Run:
    """Run :mod:`delaykit.sim.brian2_run` on ``samples`` in the environment of ``python``."""
    frames_path = tmp / "frames.npz"
    frames: dict[str, Any] = {f"frames_{k}": np.asarray(f) for k, f in enumerate(samples)}
    np.savez(frames_path, **frames)
    out_path = tmp / "brian2_out.npz"
    cmd = [
        python,
        str(BRIAN2_RUN_SCRIPT),
        "run",
        str(table_dir),
        str(frames_path),
        str(out_path),
        "--latency",
        str(int(latency)),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise DelaykitError(f"Brian2 run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return _Brian2Run(load_results(out_path), seconds, cmd)


@dataclass
class _Comparison:
    mismatches: list[str]
    totals: list[int]  # spikes per spiking layer (event engine, all samples)
    max_diff: float = 0.0


def _compare_sample(cmp: _Comparison, k: int, engine: str, ours: Any, other: dict[str, Any]) -> None:
    """Record where delaykit's result ``ours`` (one engine) differs from Brian2's ``other``."""
    if len(ours.spikes) != len(other["spikes"]):
        cmp.mismatches.append(
            f"sample {k}: {len(ours.spikes)} spiking layers here, {len(other['spikes'])} in Brian2"
        )
        return
    for li, (a, b) in enumerate(zip(ours.spikes, other["spikes"], strict=True)):
        if engine == "event":
            cmp.totals[li] += int(a.sum())
        if a.shape != b.shape or not np.array_equal(a, b):
            diff = "shape" if a.shape != b.shape else f"{int((a != b).sum())} spikes differ"
            cmp.mismatches.append(f"sample {k}, {engine}, spiking layer {li}: {diff}")
    if ours.output.shape != other["output"].shape:
        cmp.mismatches.append(
            f"sample {k}, {engine}: output shape {ours.output.shape} vs {other['output'].shape}"
        )
        return
    d = float(np.max(np.abs(ours.output - other["output"]))) if ours.output.size else 0.0
    cmp.max_diff = max(cmp.max_diff, d)
    if not np.array_equal(ours.output, other["output"]):
        cmp.mismatches.append(f"sample {k}, {engine}: output differs by up to {d:g}")


def cross_check(
    model: Any,
    samples: list[np.ndarray],
    *,
    reference: Any = None,
    brian2_python: str | None = None,
    layer_latency_steps: int = 0,
    workdir: str | Path | None = None,
    table_format: str = "npz",
    timeout: float = 1800,
) -> CrossCheck:
    """Export ``model`` (a Network, or a table directory) as tables, simulate ``samples``
    (frames (T, n_in) counts) in Brian2 (in the environment of ``brian2_python``) and compare
    with delaykit's event and reference engines (float64, ``layer_latency_steps``) running
    ``reference`` (default: the network read back from the table). timeout: seconds for the
    Brian2 run. Raises DelaykitError when Brian2 cannot be run."""
    python = find_brian2_python(brian2_python)
    if python is None:
        raise DelaykitError(
            "Brian2 is not installed: build its environment with 'bash scripts/setup_brian2.sh' "
            f"(or point ${BRIAN2_PYTHON_ENV} at a python that imports brian2)"
        )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp_s:
        tmp = Path(tmp_s)
        if isinstance(model, Network):
            require_v2_neurons(model, "the Brian2 cross-check")
            table_dir = tmp / "tables"
            write_tables(model, table_dir, formats=(table_format,), pynn=False)
        else:
            table_dir = Path(model)
        net = reference if reference is not None else read_tables(table_dir)
        require_v2_neurons(net, "the Brian2 cross-check")
        theirs = _run_brian2(python, table_dir, samples, layer_latency_steps, tmp, timeout)
    arith = Arithmetic.float64(layer_latency_steps=int(layer_latency_steps))
    cmp = _Comparison([], [0] * sum(1 for layer in net.layers if layer.neuron.spiking))
    for k, (frames, other) in enumerate(zip(samples, theirs.results, strict=True)):
        for engine in ("event", "reference"):
            _compare_sample(cmp, k, engine, simulate(net, frames, engine=engine, arithmetic=arith), other)
    return CrossCheck(
        identical=not cmp.mismatches,
        n_samples=len(samples),
        spikes_per_layer=cmp.totals,
        mismatches=cmp.mismatches,
        max_output_difference=cmp.max_diff,
        brian2_seconds=theirs.seconds,
        command=theirs.command,
    )
