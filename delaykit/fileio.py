"""Atomic file writing: never leave a half-written output behind (see delaykit/outputs.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from delaykit.outputs import (
    OutputError,
    output_error,
    prepare_parent,
    require_space,
    temp_sibling,
)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path``
    is left untouched; an ``OSError`` becomes :class:`delaykit.outputs.OutputError` naming
    ``path``. The temporary name keeps the suffix of ``path`` so that libraries which look at
    the extension (h5py, numpy, pyarrow) behave the same.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    prepare_parent(target)
    tmp = temp_sibling(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as e:
        raise output_error(e, target) from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise output_error(e, target) from None
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (free space checked first)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        require_space(tmp.parent, len(data), target)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Yield an in-memory ``h5py.File`` that is written to ``path`` atomically on success.

    Use instead of ``h5py.File(tmp, "w")``: the HDF5 library never writes to disk, so a full
    file system gives a clean :class:`delaykit.outputs.OutputError` and no temporary file.
    """
    import io

    import h5py  # heavy, only when writing HDF5

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        yield f
    write_bytes_atomic(path, buf.getvalue())
