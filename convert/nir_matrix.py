"""The NIR interop matrix: rows measured by the tests (``tests/convert/test_nir_tools.py``), kept in
``docs/nir_interop.json`` and rendered into README.md between two markers.

``python -m delaykit.convert.nir_matrix_cli`` rewrites the README table from the JSON;
``--check`` only reports whether it is stale. The tests fail when it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.nir.consumers import CONSUMERS

__all__ = ["BEGIN", "END", "merge_rows", "read_rows", "render", "replace_section", "write_rows"]

BEGIN = "<!-- nir-interop:begin (generated from docs/nir_interop.json; do not edit) -->"
END = "<!-- nir-interop:end -->"
_TOOL_ORDER = ("spikingjelly", "norse", "snntorch", "sinabs", "rockpool", "spyx")
_MODEL_ORDER = (
    "none",
    "learned",
    "none-cuba",
    "none-if",
    "none-li",
    "none-zero",
    "none-subtract",
    "none-default",
)


def _key(row: dict[str, Any]) -> tuple[int, int, int]:
    tool = _TOOL_ORDER.index(row["tool"]) if row["tool"] in _TOOL_ORDER else 99
    model = _MODEL_ORDER.index(row["model"]) if row["model"] in _MODEL_ORDER else 99
    return (tool, 0 if row["direction"] == "export" else 1, model)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows stored in ``path`` ([] when it does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    try:
        return list(json.loads(p.read_text())["rows"])
    except (ValueError, KeyError, TypeError) as e:
        raise DelaykitError(f"{p}: not an interop matrix ({e})") from None


def merge_rows(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with every (tool, model, direction) measured in ``new`` replaced, sorted."""
    rows = {(r["tool"], r["model"], r["direction"]): r for r in old}
    rows.update({(r["tool"], r["model"], r["direction"]): r for r in new})
    return sorted(rows.values(), key=_key)


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write the rows (atomically), sorted by tool, direction and model."""
    text = json.dumps({"rows": sorted(rows, key=_key)}, indent=1, sort_keys=True) + "\n"
    write_text_atomic(Path(path), text)


def _cell(row: dict[str, Any]) -> tuple[str, str, str, str]:
    if row["status"] == "refused":
        return ("refused", "", "", row.get("reason", ""))
    spikes = f"{row['spike_mismatches']:,} / {row['spike_bins']:,}"
    output = f"{row['output_mismatches']:,} / {row['output_bins']:,}" if row["output_bins"] else "—"
    preds = f"{row['same_predictions']}/{row['samples']}"
    if row.get("same_as_deployed") is not None:
        preds += f" ({row['same_as_deployed']}/{row['samples']} as deployed)"
    return (spikes, output, preds, row.get("reason", ""))


def render(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the rows (without the markers)."""
    lines = [
        "| tool | version | direction | model | spike bins: mismatches / compared | readout bins | same predictions | node map / note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=_key):
        spikes, output, preds, reason = _cell(row)
        arrow = "delaykit → tool" if row["direction"] == "export" else "tool → delaykit"
        note = ", ".join(row.get("node_map") or [])
        note = f"delaykit's {note}" if note else ""
        inexact = CONSUMERS[row["tool"]].inexact if row["tool"] in CONSUMERS else None
        if inexact and row["direction"] == "export":  # measured with approximate=True
            reason = (
                f"`to-nir --for {row['tool']}` refuses: {inexact} (difference measured on a forced export)"
            )
        note = "; ".join(x for x in (row.get("note", ""), note, reason) if x)
        lines.append(
            f"| {row['tool']} | {row.get('version', '')} | {arrow} | {row['model']} | {spikes} | "
            f"{output} | {preds} | {note} |"
        )
    return "\n".join(lines)


def replace_section(text: str, table: str) -> str:
    """``text`` (README) with the part between the markers replaced by ``table``."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise DelaykitError(f"README: the markers {BEGIN!r} ... {END!r} are missing")
    return text[: i + len(BEGIN)] + "\n" + table + "\n" + text[j:]
