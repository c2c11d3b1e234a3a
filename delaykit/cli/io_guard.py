"""Which flags of each command are inputs and which are outputs, checked before any work.

:func:`guard_outputs` runs in :func:`delaykit.cli.main.main` before a handler: an output that
resolves to one of the command's inputs (or, for a folder replaced as a whole, holds one), two
outputs on one path, and outputs that cannot be written are refused with exit 2 before
anything is read or written (rules: :mod:`delaykit.outputs`). A new flag that writes a file
must be listed here; ``tests/core/test_outputs_cli.py`` fails for an output flag missing here.

Kinds: ``file``; ``folder`` (replaced as a whole: must not hold an input); ``dir`` (a folder
written into: must not be an input).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import delaykit.convert.cli as convert_cli
from delaykit.outputs import check_outputs

_CONVERT_EXPORTS = ("to-dkn", "to-nir", "to-table", "to-pynn", "to-netx", "to-onnx", "to-xylo", "report")
_FOLDER_EXPORTS = ("to-table", "to-pynn", "to-xylo")

#: command (``"convert to-dkn"``) -> (input attributes, ((attribute, flag, kind), ...)).
IO: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]] = {
    "info": (("file",), ()),
    "data download": ((), (("dir", "--dir", "dir"),)),
    "data synth": ((), (("out", "--out", "dir"),)),
    "data encode-audio": (("inputs", "labels"), (("out", "--out", "file"), ("plot", "--plot", "file"))),
    "data spoken-digits": ((), (("out", "--out", "dir"), ("plot", "--plot", "file"))),
    "train": (("data_dir", "init", "config", "target"), (("out", "--out", "dir"),)),
    "convert verify": (("model", "data"), (("json", "--json", "file"),)),
    "sim": (
        ("model", "data", "target"),
        (("json_out", "--json", "file"), ("raster_out", "--raster-out", "file")),
    ),
    "targets check": (("model", "target"), (("json_out", "--json", "file"),)),
    "targets map": (("model", "target"), (("json_out", "--json", "file"),)),
    "targets realize": (
        ("model", "target", "data"),
        (("out", "-o", "file"), ("json_out", "--json", "file")),
    ),
    "targets shd-estimate": ((), (("update_readme", "--update-readme", "file"),)),
    "demo": (("config", "target"), (("out", "--out", "dir"),)),
}
for _verb in _CONVERT_EXPORTS:
    IO[f"convert {_verb}"] = (
        ("model", "target"),
        (
            ("output", "-o", "folder" if _verb in _FOLDER_EXPORTS else "file"),
            ("report", "--report", "file"),
            ("plot", "--plot", "file"),
        ),
    )


def command_name(args: argparse.Namespace) -> str:
    """``"convert to-dkn"``, ``"targets realize"``, ``"sim"``: the key of :data:`IO`."""
    parts = [args.command]
    for attr in ("verb", "data_command", "targets_command", "target_command"):
        v = getattr(args, attr, None)
        if isinstance(v, str) and f"{args.command} {v}" in IO:
            parts.append(v)
            break
    return " ".join(parts)


def _paths(value: object) -> list[str]:
    if value is None or value is False:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _is_path_input(attr: str, value: str) -> bool:
    """``--target``/``--config`` are names unless they point to a file (``x.toml``)."""
    if attr in ("target", "config"):
        return Path(value).suffix in (".toml", ".yaml", ".yml") or Path(value).exists()
    return True


def command_io(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, str | None, str]]]:
    """(inputs, outputs as (flag, path, kind)) of the parsed command ``args``."""
    name = command_name(args)
    if name not in IO:
        return [], []
    in_attrs, out_specs = IO[name]
    inputs = [p for a in in_attrs for p in _paths(getattr(args, a, None)) if _is_path_input(a, p)]
    outputs: list[tuple[str, str | None, str]] = []
    for attr, flag, kind in out_specs:
        value = getattr(args, attr, None)
        if name.startswith("convert ") and attr == "output" and value is None and args.model:
            value = str(convert_cli._default_output(Path(args.model), args.verb))
            flag = "-o (default)"
        outputs.append((flag, value if isinstance(value, str) else None, kind))
        if attr == "report" and isinstance(value, str) and value.strip():
            outputs.append((f"{flag} (text)", str(Path(value).with_suffix(".txt")), "file"))
    if name == "convert report" and outputs[0][1]:
        outputs.append(("-o (text)", str(Path(outputs[0][1]).with_suffix(".txt")), "file"))
    return inputs, outputs


def guard_outputs(args: argparse.Namespace, extra_inputs: Iterable[str] = ()) -> None:
    """Refuse the command's outputs before any work (see the module docstring)."""
    inputs, outputs = command_io(args)
    check_outputs(outputs, [*inputs, *extra_inputs])


def _missing_folders(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(deepest, topmost) folders the outputs would create that do not exist yet."""
    found = []
    for _, path, kind in command_io(args)[1]:
        if path is None:
            continue
        leaf = Path(path) if kind in ("dir", "folder") else Path(path).parent
        missing = [a for a in (leaf, *leaf.parents) if not os.path.lexists(a)]
        if missing:
            found.append((leaf, missing[-1]))
    return found


def run_guarded(args: argparse.Namespace) -> int:
    """Check the outputs, run the handler; when it fails (exit 2, an error, Ctrl-C), remove the
    folders it created for its outputs if they are still empty."""
    fresh = _missing_folders(args)
    guard_outputs(args)
    code = 2
    try:
        code = int(args.func(args) or 0)
        return code
    finally:
        if code not in (0, 1):
            for leaf, top in fresh:
                for sub, _, _ in sorted(os.walk(leaf), key=lambda w: -len(w[0])):  # made by this run
                    with contextlib.suppress(OSError):
                        os.rmdir(sub)
                for d in (leaf, *leaf.parents):
                    with contextlib.suppress(OSError):
                        d.rmdir()  # only an empty folder goes
                    if d == top:
                        break
