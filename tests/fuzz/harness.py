"""Run one ``delaykit`` command line on hostile input and classify what happened.

Each case runs ``delaykit.cli.main.main(argv)`` in a forked child (cheap: the parent has already
imported delaykit) under a wall-clock alarm and an address-space limit, with stdout/stderr sent
to files. The parent hashes the inputs before and after, and lists the case folder after, so a
case is classified as one of:

- ``clean``: the exit code expected (2 for invalid input, 0 for valid input), no traceback,
  inputs unchanged, nothing left behind by a refused command;
- ``traceback``: an exception escaped (or "Traceback" on stderr);
- ``silent``: invalid input accepted (exit 0/1 where 2 was expected), or a warning expected on
  stderr is missing;
- ``overwritten``: an input file changed;
- ``hang``: the time or memory limit was hit (unbounded work);
- ``leftover``: a refused command left a file in the case folder;
- ``wrong_exit``: valid input refused (an exit code other than the expected 0).
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

#: Address-space limit of a case (bytes): a command that needs more is unbounded work.
MEMORY_LIMIT = 6 * 2**30
#: Default wall-clock limit of a case (seconds).
TIME_LIMIT = 60
#: Exit code the child uses when an exception escaped ``main``.
EXIT_TRACEBACK = 70
#: Exit code the child uses for MemoryError (the memory limit was hit).
EXIT_MEMORY = 71

OUTCOMES = ("clean", "traceback", "silent", "overwritten", "hang", "leftover", "wrong_exit")


@dataclass
class Result:
    """What one case did."""

    name: str
    sub: str
    outcome: str
    rc: int
    seconds: float
    stderr: str
    detail: str = ""


@dataclass
class Ledger:
    """Per-subcommand counts of outcomes over a test session."""

    results: list[Result] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Ledger({len(self.results)} results)"

    def add(self, r: Result) -> None:
        self.results.append(r)

    def table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            row = out.setdefault(r.sub, {"cases": 0, **{k: 0 for k in OUTCOMES}})
            row["cases"] += 1
            row[r.outcome] += 1
        return dict(sorted(out.items()))


def _digest(path: Path) -> str:
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode())
                h.update(p.read_bytes())
        return h.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _child(argv: list[str], out: Path, err: Path, cwd: Path, timeout: float) -> None:
    """Runs in the forked child; never returns."""
    code = EXIT_TRACEBACK
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(timeout) + 1)
        fo, fe = os.open(out, os.O_WRONLY | os.O_CREAT), os.open(err, os.O_WRONLY | os.O_CREAT)
        os.dup2(fo, 1)
        os.dup2(fe, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.chdir(cwd)
        from delaykit.cli.main import main

        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException:
        traceback.print_exc()
        code = EXIT_TRACEBACK
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_case(
    name: str,
    sub: str,
    argv: list[str],
    folder: Path,
    *,
    inputs: list[Path] = (),  # type: ignore[assignment]
    expect: int = 2,
    stderr_has: str | None = None,
    timeout: float = TIME_LIMIT,
    fresh: bool = False,
) -> Result:
    """Run ``delaykit argv`` inside ``folder`` (which holds the case's inputs) and classify it.

    fresh: run ``python -m delaykit`` in a new process instead of a fork (for commands whose
    libraries must not start in a forked copy of the test process, e.g. training with OpenMP).
    """
    before = {p: _digest(p) for p in inputs}
    listed = _listing(folder)
    logs = folder.parent / f"{folder.name}.logs"
    logs.mkdir(exist_ok=True)
    out, err = logs / "stdout", logs / "stderr"
    t0 = time.monotonic()
    rc = (
        _run_fresh(argv, out, err, folder, timeout) if fresh else _run_forked(argv, out, err, folder, timeout)
    )
    seconds = time.monotonic() - t0
    stderr = err.read_text(errors="replace") if err.exists() else ""
    outcome, detail = _classify(rc, stderr, expect, stderr_has, before, folder, listed)
    return Result(name, sub, outcome, rc, seconds, stderr[-2000:], detail)


def _run_forked(argv: list[str], out: Path, err: Path, folder: Path, timeout: float) -> int:
    pid = os.fork()
    if pid == 0:
        _child(argv, out, err, folder, timeout)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _run_fresh(argv: list[str], out: Path, err: Path, folder: Path, timeout: float) -> int:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    with open(out, "wb") as fo, open(err, "wb") as fe:
        try:
            p = subprocess.run(
                [sys.executable, "-m", "delaykit", *argv],
                cwd=folder,
                stdout=fo,
                stderr=fe,
                timeout=timeout,
                preexec_fn=limit,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return -signal.SIGKILL
    if p.returncode == 1 and b"MemoryError" in err.read_bytes():
        return EXIT_MEMORY
    return p.returncode if p.returncode >= 0 else p.returncode


def _classify(
    rc: int,
    stderr: str,
    expect: int,
    stderr_has: str | None,
    before: dict[Path, str],
    folder: Path,
    listed: set[str],
) -> tuple[str, str]:
    if rc < 0 or rc == EXIT_MEMORY:
        return "hang", f"killed by signal {-rc}" if rc < 0 else "memory limit"
    if rc == EXIT_TRACEBACK or "Traceback (most recent call last)" in stderr:
        return "traceback", stderr.strip().splitlines()[-1] if stderr.strip() else ""
    changed = [str(p.name) for p, h in before.items() if _digest(p) != h]
    if changed:
        return "overwritten", ", ".join(changed)
    if rc != expect and not (expect == 0 and rc == 1):  # 1: a negative verdict (does not fit)
        return ("silent" if expect == 2 else "wrong_exit"), f"exit {rc}, expected {expect}"
    if stderr_has is not None and stderr_has not in stderr:
        return "silent", f"stderr lacks {stderr_has!r}"
    if expect == 2:
        new = sorted(_listing(folder) - listed)
        if new:
            return "leftover", ", ".join(new[:5])
    return "clean", ""
