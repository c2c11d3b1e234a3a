"""Output behaviour shared by every writer: checks before work, atomic files and folders, errors.

The rules (issue 15, docs/design.md "Outputs"):

- :func:`check_outputs` runs before any work: an output that is (or, for a folder, holds) one
  of the command's inputs is refused, two outputs may not share a path, a file output may not
  be an existing folder (nor a folder output an existing file), and the nearest existing parent
  must be a writable folder on a writable file system. Errors are :class:`OutputError` (exit 2).
- Files are written to a hidden temporary name in the target folder and renamed
  (:func:`delaykit.fileio.atomic_path`); folders are written into a hidden temporary sibling and
  swapped in with one ``renameat2(RENAME_EXCHANGE)`` (:func:`atomic_folder`): a reader sees the
  old folder intact or the new one complete, never a mix.
- Temporary names carry the writer's process id (``.NAME.PID.RANDOM.tmp...``): a writer killed
  with SIGKILL cannot clean up, so the next write to the same target removes the temporaries
  of processes that no longer run (:func:`remove_stale_temporaries`).
- An ``OSError`` while writing (read-only or full file system, permission, not a folder) becomes
  one line naming the path (:func:`output_error`); HDF5 is built in memory and written as bytes
  (:func:`hdf5_bytes`), so a full disk never reaches the HDF5 library (which can crash on it).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from delaykit.errors import DelaykitError


class OutputError(DelaykitError):
    """An output cannot be written (or must not be): one line naming the path, exit 2."""


_H5_ERRNO = re.compile(r"errno = (\d+)")


def os_error_text(error: BaseException) -> str:
    """The short reason of an OS error, also from h5py's long messages (``errno = 28``)."""
    code = getattr(error, "errno", None)
    if not isinstance(code, int):
        m = _H5_ERRNO.search(str(error))
        code = int(m.group(1)) if m else None
    if isinstance(code, int) and code in errno.errorcode:
        return os.strerror(code)
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def output_error(error: BaseException, path: str | os.PathLike[str]) -> OutputError:
    """One line for an OS error met while writing ``path``."""
    return OutputError(f"cannot write {path}: {os_error_text(error)}")


# ---- temporary names -----------------------------------------------------------------------


def temp_sibling(target: Path, kind: str = "tmp") -> Path:
    """A fresh hidden name next to ``target``: ``.NAME.PID.RANDOM.KIND`` + ``target``'s suffix."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}{target.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove temporaries of ``target`` left by writers that no longer run; return them."""
    pattern = re.compile(rf"^\.+{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{8}}\.(tmp|old)")
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            m = pattern.match(entry.name)
            if not m or _pid_alive(int(m.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
    return removed


def prepare_parent(target: Path) -> None:
    """Create ``target``'s folder; OS errors become :class:`OutputError` naming ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(e, target) from None
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: {target.parent} is not a folder")
    remove_stale_temporaries(target)


# ---- checks before work --------------------------------------------------------------------


def _existing_ancestor(p: Path) -> Path:
    for a in (p, *p.parents):
        if os.path.lexists(a):
            return a
    return Path("/")


def _same_or_inside(output: Path, kind: str, inp: Path) -> bool:
    out_r, in_r = Path(os.path.realpath(output)), Path(os.path.realpath(inp))
    if out_r == in_r:
        return True
    with contextlib.suppress(OSError):
        if output.exists() and inp.exists() and os.path.samefile(output, inp):
            return True
    return kind == "folder" and out_r in in_r.parents


def _check_writable(flag: str, p: Path) -> None:
    """The nearest existing ancestor of ``p``'s folder must be a writable folder."""
    anc = _existing_ancestor(p.parent)
    if not anc.is_dir():
        raise OutputError(f"{flag} {p}: {anc} is not a folder")
    try:
        st = os.statvfs(anc)
    except OSError as e:
        raise OutputError(f"{flag} {p}: {os_error_text(e)}") from None
    if st.f_flag & os.ST_RDONLY:
        raise OutputError(f"{flag} {p}: {anc} is on a read-only file system")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {p}: {anc} is not writable")
    _probe(flag, p, anc)


def _probe(flag: str, p: Path, anc: Path) -> None:
    """Create and remove an empty hidden file in ``anc``: some folders pass every check above
    and still refuse new files (``/proc``, ``/sys``, a root-owned mount), which would otherwise
    show only after the work. The name is a temporary's, so a killed probe is cleaned later."""
    probe = temp_sibling(anc / "probe", "tmp")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise OutputError(f"{flag} {p}: cannot create files in {anc} ({os_error_text(e)})") from None
    finally:  # Ctrl-C included
        with contextlib.suppress(OSError):
            probe.unlink()


def check_outputs(
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None, str]],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse outputs that would overwrite an input, collide, or cannot be written.

    ``outputs``: ``(flag, path, kind)``, kind ``"file"``, ``"folder"`` (replaced as a whole:
    may not hold an input) or ``"dir"`` (a folder written into: may not be an input); ``None``
    paths are skipped. ``inputs``: the paths the command reads. Raises :class:`OutputError`.
    """
    ins = [Path(i) for i in inputs if i is not None and str(i) != "-"]
    seen: dict[str, str] = {}
    for flag, path, kind in outputs:
        if path is None or str(path) == "-":
            continue
        if not str(path).strip():
            raise OutputError(f"{flag}: empty path; give a file or folder name")
        p = Path(path)
        for i in ins:
            if _same_or_inside(p, kind, i):
                what = "is" if Path(os.path.realpath(p)) == Path(os.path.realpath(i)) else "holds"
                raise OutputError(f"{flag} {p} {what} the input {i}: give another output path")
        key = os.path.realpath(p)
        if key in seen:
            raise OutputError(f"{flag} {p} is also the output of {seen[key]}: give another path")
        seen[key] = flag
        if kind == "file" and p.is_dir():
            raise OutputError(f"{flag} {p} is a folder: give a file path")
        if kind in ("folder", "dir") and p.exists() and not p.is_dir():
            raise OutputError(f"{flag} {p} is a file: give a folder path")
        _check_writable(flag, p)


def require_space(folder: Path, nbytes: int, path: Path | None = None) -> None:
    """Refuse to write ``nbytes`` into ``folder`` when its file system has less free space."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if nbytes > free:
        raise OutputError(
            f"cannot write {path or folder}: needs {nbytes:,} bytes, {free:,} free on its file system"
        )


# ---- atomic writes -------------------------------------------------------------------------


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux renameat2); False when not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in_folder(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target`` in one step; the old one is removed."""
    if not os.path.lexists(target):
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        return
    old = temp_sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; on success it replaces ``target`` as a whole.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and
    ``target`` is untouched. OS errors become :class:`OutputError` naming ``target``.
    """
    out = Path(target)
    if out.exists() and not out.is_dir():
        raise OutputError(f"cannot write {out}: it is a file, not a folder")
    prepare_parent(out)
    tmp = temp_sibling(out, "tmpdir")
    try:
        tmp.mkdir()
    except OSError as e:
        raise output_error(e, out) from None
    try:
        yield tmp
        swap_in_folder(tmp, out)
    except OutputError as e:  # a file inside: name it under ``out``, not the temporary
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(str(e).replace(str(tmp), str(out))) from None
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise output_error(e, out) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class OutputSet:
    """Several outputs of one command, committed together at the end (see :func:`output_set`).

    ``file(path)`` / ``folder(path)`` return a temporary sibling to write instead of ``path``
    (writers that write atomically themselves may replace it). Nothing appears at ``path`` until
    every output is complete.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, str]] = []

    def file(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        prepare_parent(out)
        tmp = temp_sibling(out)
        self._staged.append((tmp, out, "file"))
        return tmp

    def folder(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        prepare_parent(out)
        tmp = temp_sibling(out, "tmpdir")
        self._staged.append((tmp, out, "folder"))
        return tmp

    def commit(self) -> None:
        for tmp, out, _ in self._staged:
            if not os.path.lexists(tmp):
                raise OutputError(f"cannot write {out}: its temporary {tmp.name} was not written")
        for tmp, out, kind in self._staged:
            try:
                if kind == "folder":
                    swap_in_folder(tmp, out)
                else:
                    os.replace(tmp, out)
            except OSError as e:
                raise output_error(e, out) from None

    def discard(self) -> None:
        for tmp, _, _ in self._staged:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    tmp.unlink()


@contextlib.contextmanager
def output_set() -> Iterator[OutputSet]:
    """Stage several outputs; rename them all into place only when the block succeeds."""
    outs = OutputSet()
    try:
        yield outs
        outs.commit()
    except OutputError as e:  # name the output, not its temporary
        outs.discard()
        text = str(e)
        for tmp, out, _ in outs._staged:
            text = text.replace(str(tmp), str(out))
        raise OutputError(text) from None
    except BaseException:
        outs.discard()
        raise


# ---- run folder lock -----------------------------------------------------------------------

LOCK_NAME = ".delaykit.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], what: str = "a run") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created) while the block runs; refuse if held.

    The lock is ``flock`` on ``FOLDER/.delaykit.lock``: the kernel drops it when the holder
    exits, even when killed, so a stale lock never blocks a later run. The holder removes the
    file when it is done (a folder created for the run and left empty goes too).
    """
    d = Path(folder)
    created = not d.exists()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(e, d) from None
    fd = _acquire_lock(d, what)
    try:
        with contextlib.suppress(OSError):  # the holder's pid is for people; a full disk may refuse it
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        yield d
    finally:
        with contextlib.suppress(OSError):
            (d / LOCK_NAME).unlink()  # still held: a waiting opener sees a new file (see _acquire_lock)
        if created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only an empty folder goes
        os.close(fd)


def _acquire_lock(d: Path, what: str) -> int:
    """An open, flock-ed descriptor of ``d/.delaykit.lock``; retried when the file was removed by
    its previous holder between our open and our lock (we would hold a lock nobody sees)."""
    path = d / LOCK_NAME
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # unbuffered: closing never writes
        except OSError as e:
            raise output_error(e, d) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(
                f"{d} is in use by {what} ({holder}): wait for it or give another folder"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise OutputError(f"{d}: could not lock {path}; is another process creating and removing it?")


def refuse_foreign_folder(out: Path, marker: str, what: str) -> None:
    """Refuse to replace an existing, non-empty folder that lacks ``marker`` (not ``what``)."""
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise OutputError(
            f"{out} exists and is not {what} (no {marker}); it would be replaced as a whole: "
            "give a new folder"
        )
