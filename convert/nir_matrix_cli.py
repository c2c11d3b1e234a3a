"""``python -m delaykit.convert.nir_matrix_cli [--check]``: the README's NIR interop table from
``docs/nir_interop.json`` (written by ``tests/convert/test_nir_tools.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from delaykit.convert.nir_matrix import read_rows, render, replace_section
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m delaykit.convert.nir_matrix_cli", description=__doc__)
    p.add_argument("--json", default=str(ROOT / "docs" / "nir_interop.json"), help="the measured rows")
    p.add_argument("--readme", default=str(ROOT / "README.md"), help="the file with the markers")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when the README table is stale; write nothing"
    )
    args = p.parse_args(argv)
    try:
        readme = Path(args.readme)
        old = readme.read_text()
        new = replace_section(old, render(read_rows(args.json)))
    except (DelaykitError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if new == old:
        print(f"{readme}: NIR interop table is up to date")
        return 0
    if args.check:
        print(f"{readme}: NIR interop table is stale; run python -m delaykit.convert.nir_matrix_cli")
        return 1
    write_text_atomic(readme, new)
    print(f"{readme}: NIR interop table rewritten from {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
