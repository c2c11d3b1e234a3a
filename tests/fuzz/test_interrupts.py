"""Ctrl-C (SIGINT) mid-run: exit 130, no temporary left, the earlier output intact.

A writer of a file (``convert to-dkn``) and a writer of a folder (``convert to-table``) run in
a new process over an existing output. The fast cases interrupt each while its temporary
exists (mid-write). The folder: the test polls the output's folder, stops the process
(SIGSTOP) the moment the temporary folder appears, queues SIGINT and lets it continue. The
file is written in milliseconds, too fast to catch by polling: its writer runs with
``os.fsync`` held open (the bytes are in the temporary) and is interrupted there. The slow cases interrupt at seeded fractions of a measured run (mid-work, after start).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from harness import Ledger, Result

from delaykit.network import save_network

TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|old)")


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two networks of the same shape (old and new output) big enough to take a while to write."""
    from netgen import random_network

    d = tmp_path_factory.mktemp("interrupt")
    out = {}
    for name, seed in (("old", 1), ("new", 2)):
        out[name] = d / f"{name}.dkn"
        save_network(random_network(np.random.default_rng(seed), (300, 200, 10), max_delay=12), out[name])
    return out


def _temporaries(folder: Path) -> list[str]:
    """Temporary names anywhere below ``folder``. Polled while a writer runs, so a folder may
    vanish between listing and reading: ``os.walk`` skips it (``rglob`` raised
    FileNotFoundError on a staging folder the writer had just removed)."""
    found = []
    for _, dirs, files in os.walk(folder):
        found += [n for n in (*dirs, *files) if n.startswith(".") and TEMP.match(n)]
    return found


def _digest(path: Path) -> dict[str, bytes]:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return {str(p.relative_to(path.parent)): p.read_bytes() for p in files if p.is_file()}


def _argv(verb: str, model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "delaykit", "convert", verb, str(model), "-o", str(out)]


def _write(verb: str, model: Path, out: Path) -> dict[str, bytes]:
    """Write ``out`` from ``model`` in this process (no start-up cost); its digest."""
    from delaykit.cli.main import main

    assert main(["convert", verb, str(model), "-o", str(out)]) == 0
    return _digest(out)


def _prepare(verb: str, nets: dict[str, Path], folder: Path) -> tuple[Path, dict, dict]:
    """The output as the new network writes it (in a side folder) and, at the output path, as
    the old one does (what an interrupted run must leave): (output path, old, new digests)."""
    out = folder / ("out.dkn" if verb == "to-dkn" else "tables")
    (folder / "side").mkdir()
    new = _write(verb, nets["new"], folder / "side" / out.name)  # keys relative to the parent
    return out, _write(verb, nets["old"], out), new


def _writing(out: Path, pid: int) -> bool:
    """Whether process ``pid``'s temporary of ``out`` (not its writability probe) exists."""
    return any(n.startswith(f".{out.name}.{pid}.") for n in _temporaries(out.parent))


def _interrupt_mid_write(argv: list[str], out: Path, timeout: float = 300) -> tuple[int, str, bool]:
    """Run ``argv``; SIGINT it while a temporary of ``out`` exists. (rc, stderr, hit)."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hit, t0 = False, time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < timeout:
        if _writing(out, p.pid):
            os.kill(p.pid, signal.SIGSTOP)
            hit = p.poll() is None and _writing(out, p.pid)
            os.kill(p.pid, signal.SIGINT)
            os.kill(p.pid, signal.SIGCONT)
            break
        time.sleep(0.0005)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err, hit


_HOOKED = """
import os, sys, time
real = os.fsync
def slow(fd):
    print("writing", flush=True)  # the bytes are in the temporary: the parent interrupts now
    time.sleep(120)
os.fsync = slow
from delaykit.cli.main import run
sys.argv = ["delaykit", *sys.argv[1:]]
run()
"""


def _interrupt_in_fsync(argv: list[str], timeout: float = 300) -> tuple[int, str, bool]:
    """Run ``argv`` with ``os.fsync`` held open (a file write too fast to catch by polling):
    SIGINT as soon as the writer is inside it. (rc, stderr, hit)."""
    code = [sys.executable, "-c", _HOOKED, *argv[3:]]
    p = subprocess.Popen(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    hit = p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err, hit


def _interrupt_at(argv: list[str], seconds: float, timeout: float = 300) -> tuple[int, str]:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def _classify(rc: int, err: str, out: Path, old: dict, new: dict, folder: Path) -> tuple[str, str]:
    if "Traceback" in err:
        return "traceback", err.strip().splitlines()[-1]
    if _temporaries(folder):
        return "leftover", ", ".join(_temporaries(folder))
    now = _digest(out)
    # -SIGINT: Python ended itself with SIGINT after its handler ran ("delaykit: interrupted"
    # printed); a shell shows it as 130 too. 130 with the new output: interrupted after the
    # swap (the commit point).
    if rc in (0, 130, -signal.SIGINT):
        if now in (old, new):
            return "clean", ""
        mixed = sorted(k for k in {*now, *old} if now.get(k) not in (old.get(k), new.get(k)))
        return "overwritten", f"exit {rc} left a mix of old and new: {mixed[:4]}"
    return "wrong_exit", f"exit {rc}, expected 130"


@pytest.mark.parametrize("verb", ["to-dkn", "to-table"])
def test_ctrl_c_mid_write(verb: str, nets: dict[str, Path], ledger: Ledger, tmp_path: Path) -> None:
    """SIGINT while the temporary file (to-dkn) or folder (to-table) exists: exit 130, the
    temporary removed, the old output untouched."""
    out, old, new = _prepare(verb, nets, tmp_path)
    for _ in range(3):  # a write can end between the poll and SIGSTOP: try again
        t0 = time.monotonic()
        argv = _argv(verb, nets["new"], out)
        rc, err, hit = _interrupt_in_fsync(argv) if verb == "to-dkn" else _interrupt_mid_write(argv, out)
        if hit:
            break
        if rc == 0:  # it finished: put the old output back
            _write(verb, nets["old"], out)
    outcome, detail = _classify(rc, err, out, old, new, tmp_path)
    ledger.add(
        Result("sigint/mid_write", f"convert {verb}", outcome, rc, time.monotonic() - t0, err[-2000:], detail)
    )
    assert hit, "the interrupt never landed while a temporary existed"
    assert rc in (130, -signal.SIGINT) and outcome == "clean", f"{outcome}: {detail}\n{err}"


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["to-dkn", "to-table"])
def test_ctrl_c_mid_run(verb: str, nets: dict[str, Path], ledger: Ledger, tmp_path: Path) -> None:
    """SIGINT at seeded fractions (0.5..0.95) of a measured run: exit 130 (or 0 when it had
    finished), no temporary, the output old or new, never a mix."""
    out, old, new = _prepare(verb, nets, tmp_path)
    t0 = time.monotonic()
    subprocess.run(_argv(verb, nets["new"], out), check=True, capture_output=True, timeout=300)
    full = time.monotonic() - t0
    _write(verb, nets["old"], out)
    for seed in range(4):
        at = float(np.random.default_rng(seed).uniform(0.5, 0.95)) * full
        rc, err = _interrupt_at(_argv(verb, nets["new"], out), at)
        outcome, detail = _classify(rc, err, out, old, new, tmp_path)
        ledger.add(Result(f"sigint/at_{at:.1f}s", f"convert {verb}", outcome, rc, at, err[-2000:], detail))
        assert outcome == "clean", f"{outcome}: {detail}\n{err}"
        if rc == 0:
            _write(verb, nets["old"], out)


@pytest.mark.parametrize("seconds", [0.05, 0.15, 0.3, 0.6])
def test_ctrl_c_while_the_console_script_imports(seconds: float) -> None:
    """The installed ``delaykit`` command, interrupted at seeded times during its start (the
    imports of the command line take about a second): exit 130 (or SIGINT) and no traceback."""
    script = Path(sys.executable).with_name("delaykit")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (pip install -e .)")
    rc, err = _interrupt_at([str(script), "targets", "list"], seconds)
    assert "Traceback" not in err, err
    assert rc in (0, 130, -signal.SIGINT), f"exit {rc}\n{err}"
