"""Issue 15, outputs, in the core: folders swapped whole (SIGKILL at random points), stale
temporaries, staged output sets, the run-folder lock, progress lines for logs.

Rules: delaykit/outputs.py, delaykit/fileio.py, delaykit/progress.py.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from netgen import random_network
from outputs_helpers import full_filesystem, snapshot, temporaries

from delaykit.fileio import atomic_path, write_text_atomic
from delaykit.outputs import (
    OutputError,
    atomic_folder,
    check_outputs,
    folder_lock,
    output_set,
    remove_stale_temporaries,
)
from delaykit.progress import LineProgress, progress_bar
from delaykit.tables import read_tables, write_tables

TESTS = Path(__file__).resolve().parents[1]

_WRITER = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from netgen import random_network
from delaykit.tables import write_tables
a = random_network(np.random.default_rng(1), (60, 40, 10), max_delay=8)
b = random_network(np.random.default_rng(2), (60, 40, 10), max_delay=8)
print("ready", flush=True)
i = 0
while True:
    write_tables(b if i % 2 == 0 else a, {out!r}, formats=("csv", "npz"))
    i += 1
"""


def _ref(tmp: Path, seed: int) -> dict[str, str]:
    net = random_network(np.random.default_rng(seed), (60, 40, 10), max_delay=8)
    write_tables(net, tmp / f"ref{seed}", formats=("csv", "npz"))
    return snapshot(tmp / f"ref{seed}")


@pytest.mark.parametrize("seed", range(6))
def test_killed_to_table_leaves_old_or_new_folder(seed, tmp_path):
    """SIGKILL a process that rewrites a table folder (old A / new B, in a loop) at a random
    time: the folder is always exactly A or exactly B, never a mix, and ``read_tables`` loads
    it; what the killed writer left (a hidden temporary) goes at the next write."""
    old, new = _ref(tmp_path, 1), _ref(tmp_path, 2)
    out = tmp_path / "tables"
    write_tables(
        random_network(np.random.default_rng(1), (60, 40, 10), max_delay=8), out, formats=("csv", "npz")
    )
    code = _WRITER.format(tests=str(TESTS), out=str(out))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    time.sleep(float(np.random.default_rng(seed).uniform(0.0, 1.2)))  # ~4 writes of 0.3 s
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    now = snapshot(out)
    assert now in (old, new), sorted(set(now.items()) ^ set(old.items()))[:4]
    read_tables(out)
    left = temporaries(tmp_path)
    write_tables(
        random_network(np.random.default_rng(2), (60, 40, 10), max_delay=8), out, formats=("csv", "npz")
    )
    assert snapshot(out) == new
    assert not temporaries(tmp_path), (
        f"left by the kill: {left}; after the next write: {temporaries(tmp_path)}"
    )


def test_killed_cli_to_table_over_an_existing_folder(tmp_path):
    """The same through ``delaykit convert to-table`` (SIGKILL at 4 seeded times)."""
    net = random_network(np.random.default_rng(3), (60, 40, 10), max_delay=8)
    from delaykit.network import save_network

    save_network(net, tmp_path / "m.dkn")
    out = tmp_path / "t"
    old_net = random_network(np.random.default_rng(4), (60, 40, 10), max_delay=8)
    write_tables(old_net, out)
    old = snapshot(out)
    cmd = [sys.executable, "-m", "delaykit", "convert", "to-table", str(tmp_path / "m.dkn"), "-o", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    full = time.perf_counter() - t0
    new = snapshot(out)
    write_tables(old_net, out)
    outcomes = []
    for seed in range(4):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(np.random.default_rng(seed).uniform(0.6, 1.1)) * full)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        now = snapshot(out)
        assert now in (old, new)
        outcomes.append("new" if now == new else "old")
        write_tables(old_net, out)  # back to the old folder; removes the killed one's temporaries
        assert not temporaries(tmp_path)
    print("outcomes", outcomes)


def test_atomic_folder_swaps_and_cleans(tmp_path):
    out = tmp_path / "f"
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_folder(out) as tmp:
        (tmp / "a").write_text("2")
        raise KeyboardInterrupt
    assert (out / "a").read_text() == "1" and not temporaries(tmp_path)
    with atomic_folder(out) as tmp:
        (tmp / "b").write_text("3")
    assert sorted(os.listdir(out)) == ["b"] and not temporaries(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"), atomic_folder(tmp_path / "file"):
        pass


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "m.dkn"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    (tmp_path / f".m.dkn.{pid}.0123abcd.tmp.dkn").write_bytes(b"x" * 100)
    (tmp_path / f".m.dkn.{pid}.0123abce.tmpdir.dkn").mkdir()
    (tmp_path / f".m.dkn.{os.getpid()}.0123abcf.tmp.dkn").write_bytes(b"mine")  # alive: kept
    removed = remove_stale_temporaries(target)
    assert len(removed) == 2
    assert [p.name for p in tmp_path.iterdir()] == [f".m.dkn.{os.getpid()}.0123abcf.tmp.dkn"]


def test_atomic_path_errors_name_the_output(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file/out.json"):
        write_text_atomic(tmp_path / "file" / "out.json", "{}")
    with pytest.raises(OutputError, match="is a folder"):
        write_text_atomic(tmp_path, "{}")
    with pytest.raises(OutputError, match="/proc/x.json"):
        write_text_atomic("/proc/x.json", "{}")
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "k.txt") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_read_only_file_system_refused_before_work(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a read-only tmpfs")
    try:
        with pytest.raises(OutputError, match="read-only file system"):
            check_outputs([("-o", str(mnt / "x.dkn"), "file")])
        with pytest.raises(OutputError, match="Read-only file system"):
            write_text_atomic(mnt / "x.json", "{}")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_check_outputs_rules(tmp_path):
    inp = tmp_path / "in.h5"
    inp.write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "in2.h5").write_text("y")
    ok = [("-o", str(tmp_path / "new" / "out.dkn"), "file")]
    check_outputs(ok, [inp])
    cases = [
        ([("-o", str(inp), "file")], "is the input"),
        ([("-o", str(tmp_path / "dir"), "folder")], "holds the input"),
        ([("-o", str(tmp_path / "dir"), "file")], "is a folder"),
        ([("-o", str(inp / "x"), "file")], "not a folder"),
        ([("-o", str(tmp_path / "a"), "file"), ("--json", str(tmp_path / "a"), "file")], "also the output"),
    ]
    for outs, msg in cases:
        with pytest.raises(OutputError, match=msg):
            check_outputs(outs, [inp, tmp_path / "dir" / "in2.h5"])
    check_outputs([("--out", str(tmp_path / "dir"), "dir")], [tmp_path / "dir" / "in2.h5"])  # written into


def test_output_set_commits_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError), output_set() as outs:
        write_text_atomic(outs.file(tmp_path / "a.json"), "{}")
        raise RuntimeError("the second output failed")
    assert not os.listdir(tmp_path)
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'b.json'}: boom"), output_set() as outs:
        raise OutputError(f"cannot write {outs.file(tmp_path / 'b.json')}: boom")  # named as the output
    with output_set() as outs:
        write_text_atomic(outs.file(tmp_path / "a.json"), "{}")
        d = outs.folder(tmp_path / "d")
        d.mkdir()
        (d / "x").write_text("1")
    assert sorted(os.listdir(tmp_path)) == ["a.json", "d"]


def test_folder_lock_refuses_a_second_holder(tmp_path):
    code = (
        "import sys, time\nfrom delaykit.outputs import folder_lock\n"
        f"with folder_lock({str(tmp_path / 'run')!r}):\n    print('held', flush=True); time.sleep(30)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with (
            pytest.raises(OutputError, match=f"in use by a run \\(pid {p.pid}\\)"),
            folder_lock(tmp_path / "run"),
        ):
            pass
    finally:
        p.kill()
        p.wait()
    with folder_lock(tmp_path / "run"):  # the kernel dropped the killed holder's lock
        pass


def test_full_disk_xylo_spec(tmp_path):
    from delaykit.hardware_targets.xylo_spec import save_spec

    make_spec = pytest.importorskip("targets.test_xylo_core").make_spec
    with full_filesystem(tmp_path) as full:
        before = snapshot(full)
        with pytest.raises(OutputError, match=str(full / "spec")):
            save_spec(make_spec(), full / "spec")
        assert snapshot(full) == before and not temporaries(full)


def test_progress_lines_in_a_log():
    buf = io.StringIO()
    bar = LineProgress(total=1000, desc="work", unit="sample", file=buf)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    text = buf.getvalue()
    assert "\r" not in text and text.count("\n") == 1 and "work: 100% (1000/1000 sample)" in text
    quiet = io.StringIO()
    with LineProgress(total=10, desc="eval", file=quiet, leave=False) as b:
        b.update(10)
    assert quiet.getvalue() == ""  # a quick transient bar says nothing in a log
    assert isinstance(progress_bar(total=3, file=io.StringIO()), LineProgress)  # not a terminal
    assert list(progress_bar(range(3), file=io.StringIO())) == [0, 1, 2]


def test_full_disk_checkpoint_save(tmp_path):
    """torch.save would report ENOSPC as a RuntimeError: checkpoints are written as bytes."""
    torch = pytest.importorskip("torch")
    from delaykit.train.checkpoint import save_torch_atomic

    with full_filesystem(tmp_path) as full:
        before = snapshot(full)
        with pytest.raises(OutputError, match=str(full / "model.pt")):
            save_torch_atomic({"w": torch.zeros(1000)}, full / "model.pt")
        assert snapshot(full) == before and not temporaries(full)


def test_full_disk_download(tmp_path):
    """``data download`` on a full disk: one line naming the file, before the transfer."""
    import functools
    import http.server
    import threading

    from delaykit.data.download import fetch_resumable

    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "x.h5.gz").write_bytes(os.urandom(200_000))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "remote"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with full_filesystem(tmp_path) as full:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/x.h5.gz"
            with pytest.raises(OutputError, match=str(full / "x.h5.gz.part")):
                fetch_resumable(url, full / "x.h5.gz", progress=False)
            assert sorted(os.listdir(full)) == ["filler"]
    finally:
        httpd.shutdown()
