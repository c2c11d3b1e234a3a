#!/usr/bin/env python3
"""The import contract of delaykit: layers, read from every import statement (inside functions too).

Layers, lowest first (a module may import its own layer and lower ones only):

    core (delaykit/, except delaykit/cli/)  <  sim  <  hardware_targets  <  train  <  convert  <  cli

``cli`` is ``delaykit/cli/``, every ``cli.py``, ``*_cli.py`` and ``__main__.py``. Besides the
order, the checker refuses imports of delaykit's own modules inside functions (they hide cycles),
except where one keeps a heavy optional dependency off a light path (torch off the CLI's
``--help``, say): such an import carries ``# lazy: <reason>`` on its first line.

Usage: ``python scripts/check_layers.py [ROOT]``; prints each violation and exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ORDER = ("core", "sim", "hardware_targets", "train", "convert", "cli")
AREA_FOLDERS = {"sim": "sim", "hardware_targets": "hardware_targets", "train": "train", "convert": "convert"}


@dataclass(frozen=True)
class Violation:
    """One import that breaks the contract."""

    where: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.what}"


def _is_cli(rel: Path) -> bool:
    name = rel.name
    return name in ("cli.py", "__main__.py") or name.endswith("_cli.py") or "cli" in rel.parts[:-1]


def source_layers(root: Path) -> dict[Path, str]:
    """Every package source file under ``root`` and its layer."""
    out: dict[Path, str] = {}
    for layer, folder in [("core", "delaykit"), *AREA_FOLDERS.items()]:
        for f in sorted((root / folder).rglob("*.py")):
            rel = f.relative_to(root)
            out[f] = "cli" if _is_cli(rel) else layer
    return out


def module_layer(module: str) -> str | None:
    """The layer of an imported module name (None: not delaykit)."""
    parts = module.split(".")
    if parts[0] != "delaykit":
        return None
    if len(parts) > 1 and parts[1] == "cli":
        return "cli"
    if len(parts) > 1 and parts[1] in AREA_FOLDERS:
        if len(parts) > 2 and (parts[2] == "cli" or parts[2].endswith("_cli")):
            return "cli"
        return parts[1]
    return "core"


LAZY_MARK = "# lazy:"


def _imports(tree: ast.AST, package: str) -> list[tuple[ast.stmt, str, bool]]:
    """(node, absolute module, inside a function) for each import in the tree."""
    found: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child, a.name, in_func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                mod = child.module or ""
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    mod = ".".join([*base, mod] if mod else base)
                found.append((child, mod, in_func))
                if mod == "delaykit":
                    found.extend((child, f"delaykit.{a.name}", in_func) for a in child.names)
            visit(child, nested)

    visit(tree, False)
    return found


def _package_of(rel: Path, layer_folder: str) -> str:
    parts = list(rel.with_suffix("").parts)
    if layer_folder != "delaykit":
        parts[0] = f"delaykit.{parts[0]}"
    return ".".join(parts[:-1]) if parts else "delaykit"


def check(root: Path) -> list[Violation]:
    """All violations of the contract in the tree at ``root``."""
    bad: list[Violation] = []
    for f, layer in source_layers(root).items():
        rel = f.relative_to(root)
        text = f.read_text()
        lines = text.splitlines()
        try:
            tree = ast.parse(text, filename=str(f))
        except SyntaxError as e:
            bad.append(Violation(str(rel), e.lineno or 0, f"cannot parse: {e.msg}"))
            continue
        for node, mod, in_func in _imports(tree, _package_of(rel, rel.parts[0])):
            target = module_layer(mod)
            if target is None:
                continue
            if in_func and LAZY_MARK not in lines[node.lineno - 1]:
                bad.append(Violation(str(rel), node.lineno, f"imports {mod} inside a function"))
            if ORDER.index(target) > ORDER.index(layer):
                bad.append(Violation(str(rel), node.lineno, f"{layer} imports {target} ({mod})"))
    return bad


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".")
    bad = check(root)
    for v in bad:
        print(v)
    print(f"import contract: {len(bad)} violation(s); layers {' < '.join(ORDER)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
