"""Cross-check :mod:`~delaykit.hardware_targets.xylo_core` against SynSense's xylosim.

xylosim lives in its own environment (``bash scripts/setup_xylo.sh`` -> ``.venv-xylo``); this
module saves specs and rasters into a temporary folder, runs ``xylo_run.py`` there in one
subprocess, and reads the recordings back. It never imports xylosim itself::

    from delaykit.hardware_targets.xylo_check import find_xylo_python, run_xylosim, compare
    python = find_xylo_python()            # None when no environment has xylosim
    theirs = run_xylosim([(spec, counts)], python=python)[0]
    mismatches = compare(evolve(spec, counts), theirs)  # [] when identical
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_core import XyloRecord
from delaykit.hardware_targets.xylo_spec import XyloSpec, save_spec

#: Environment variable naming the python of an environment with xylosim.
XYLO_PYTHON_ENV = "DELAYKIT_XYLO_PYTHON"
RUNNER = Path(__file__).with_name("xylo_run.py")
SETUP_HINT = "bash scripts/setup_xylo.sh (builds .venv-xylo), or set $DELAYKIT_XYLO_PYTHON"


def _has_xylosim(python: str) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('xylosim') is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_xylo_python(explicit: str | None = None) -> str | None:
    """The python of an environment with xylosim: ``explicit``, $DELAYKIT_XYLO_PYTHON,
    ``.venv-xylo`` in the current folder or the repository, or this interpreter; None if none."""
    repo = Path(__file__).resolve().parent.parent
    candidates = [
        explicit,
        os.environ.get(XYLO_PYTHON_ENV),
        str(Path.cwd() / ".venv-xylo" / "bin" / "python"),
        str(repo / ".venv-xylo" / "bin" / "python"),
        sys.executable,
    ]
    for c in candidates:
        if c and Path(c).exists() and _has_xylosim(c):
            return c
    return None


def run_xylosim(
    jobs: Sequence[tuple[XyloSpec, np.ndarray]], *, python: str | None = None, timeout: float = 600.0
) -> list[XyloRecord]:
    """Run each (spec, input_counts [T, n_in]) in xylosim; one :class:`XyloRecord` per job."""
    exe = find_xylo_python(python)
    if exe is None:
        raise DelaykitError(f"xylosim not found: {SETUP_HINT}")
    with tempfile.TemporaryDirectory(prefix="delaykit-xylo-") as tmp:
        root, args = Path(tmp), []
        for k, (spec, counts) in enumerate(jobs):
            x = np.asarray(counts, np.int64)
            if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != spec.n_in:
                raise DelaykitError(
                    f"input_counts of job {k}: expected shape [T >= 1, {spec.n_in}], got {x.shape}"
                )
            save_spec(spec, root / f"spec{k}")
            np.savez(root / f"in{k}.npz", input_counts=x)
            args += [str(root / f"spec{k}"), str(root / f"in{k}.npz"), str(root / f"out{k}.npz")]
        proc = subprocess.run([exe, str(RUNNER), *args], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise DelaykitError(f"xylosim run failed ({exe} {RUNNER.name}):\n{proc.stderr[-3000:]}")
        records = []
        for k in range(len(jobs)):
            with np.load(root / f"out{k}.npz", allow_pickle=False) as z:
                records.append(XyloRecord(**{name: z[name] for name in XyloRecord._fields}))
    return records


def compare(ours: XyloRecord, theirs: XyloRecord) -> list[str]:
    """The recordings that differ, each with its first differing (step, index); [] if equal."""
    diffs = []
    for name in XyloRecord._fields:
        a, b = getattr(ours, name), getattr(theirs, name)
        if a.shape != b.shape:
            diffs.append(f"{name}: shape {a.shape} vs {b.shape}")
            continue
        bad = np.argwhere(a != b)
        if len(bad):
            at = tuple(int(i) for i in bad[0])
            diffs.append(f"{name}: {len(bad)} value(s) differ, first at {at}: {int(a[at])} vs {int(b[at])}")
    return diffs
