"""Fuzz suite fixtures: valid inputs once per session, a ledger of outcomes, the summary.

The summary (per-subcommand counts of cases, clean errors, tracebacks, silent acceptances,
overwritten inputs, hangs, leftovers) is written as JSON and markdown to the folder named by
``DELAYKIT_FUZZ_SUMMARY`` when it is set (``docs/`` holds the last committed one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from harness import OUTCOMES, Ledger  # noqa: E402

LEDGER = Ledger()


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch  # noqa: F401
    from fixtures import build_inputs

    # imported once here, so that every forked case starts with them loaded (seconds per case)
    import delaykit.convert.checkpoint  # noqa: F401
    import delaykit.sim  # noqa: F401
    import delaykit.train.run  # noqa: F401

    return build_inputs(tmp_path_factory.mktemp("valid"))


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return LEDGER


def summary_markdown(table: dict[str, dict[str, int]]) -> str:
    cols = ["cases", *OUTCOMES]
    lines = ["| subcommand | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    total = {c: 0 for c in cols}
    for sub, row in table.items():
        lines.append(f"| {sub} | " + " | ".join(str(row[c]) for c in cols) + " |")
        for c in cols:
            total[c] += row[c]
    lines.append("| **all** | " + " | ".join(str(total[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get("DELAYKIT_FUZZ_SUMMARY")
    if not folder or not LEDGER.results:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    table = LEDGER.table()
    bad = [r.__dict__ for r in LEDGER.results if r.outcome != "clean"]
    marks = session.config.getoption("markexpr") or ""
    part = {"not slow": "the fast part (CI)", "slow": "the slow part only"}.get(marks, "fast and slow parts")
    (out / "fuzz_summary.json").write_text(
        json.dumps({"run": part, "counts": table, "not_clean": bad}, indent=1) + "\n"
    )
    (out / "fuzz_summary.md").write_text(
        "# Fuzz summary\n\nWritten by `tests/fuzz` (`DELAYKIT_FUZZ_SUMMARY=docs pytest tests/fuzz`; "
        f"this run: {part}).\n"
        "clean = the expected exit code (2 for invalid input, 0 for valid, 130 for Ctrl-C), no "
        "traceback, inputs unchanged, nothing left behind.\n\n" + summary_markdown(table)
    )
