"""Every hand-made mutant (tests/fuzz/mutants.py) through the commands that read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Ledger, run_case
from mutants import Mutant
from mutants_more import all_mutants

MUTANTS = all_mutants()
PARAMS = [
    pytest.param(m, id=f"{m.sub.replace(' ', '-')}:{m.name}", marks=[pytest.mark.slow] if m.slow else [])
    for m in MUTANTS
]


@pytest.mark.parametrize("m", PARAMS)
def test_mutant(m: Mutant, inputs: dict[str, Path], ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    argv, watched = m.build(folder, inputs)
    r = run_case(
        m.name, m.sub, argv, folder, inputs=watched, expect=m.expect, stderr_has=m.stderr_has, fresh=m.fresh
    )
    ledger.add(r)
    assert r.outcome == "clean", f"{r.outcome}: {r.detail}\nargv: {argv}\nstderr: {r.stderr}"
