"""Helpers for the output tests (issue 15): a full file system, snapshots, temporaries.

``full_fs`` mounts a 2 MiB tmpfs and fills it to the last block (root only; the tests that use
it are skipped with the reason otherwise). ``temporaries(folder)`` lists what a writer may
leave behind: hidden ``.NAME.PID.RANDOM.tmp...`` files and folders (delaykit/outputs.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|old)")


def temporaries(folder: Path) -> list[Path]:
    """Every temporary file or folder of delaykit's writers under ``folder``."""
    return [p for p in Path(folder).rglob(".*") if TEMP.match(p.name)]


def snapshot(folder: Path) -> dict[str, str]:
    """``{relative path: md5}`` of every file under ``folder`` (hidden ones included)."""
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def _fill(root: Path) -> None:
    """Write zeros until the file system at ``root`` has no block left."""
    fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 512):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def full_filesystem(where: Path, keep: dict[str, str] | None = None) -> Iterator[Path]:
    """A 2 MiB tmpfs at ``where/full``, holding the text files ``keep`` (name -> text), then
    filled; unmounted afterwards. Skips when impossible."""
    if os.geteuid() != 0:
        pytest.skip("a full file system needs root (mount -t tmpfs)")
    mnt = where / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode(errors='replace').strip()}")
    try:
        for name, text in (keep or {}).items():
            (mnt / name).write_text(text)
        _fill(mnt)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
