"""Issue 15, outputs, through the command line: every writer on a full file system, output ==
input refused for every command that takes both, Ctrl-C mid-write, broken pipe.

Rules: delaykit/outputs.py and delaykit/cli/io_guard.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from convert_fixtures import make_delaykit_checkpoint
from netgen import random_network
from outputs_helpers import full_filesystem, snapshot, temporaries
from scipy.io import wavfile

from delaykit.cli.io_guard import IO
from delaykit.cli.main import build_parser, main
from delaykit.data.shd import write_shd
from delaykit.hardware_targets.report import README_BEGIN, README_END
from delaykit.network import InputSpec, save_network

N_IN, N_UNITS, WINDOW = 20, 20, 30


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A checkpoint (20 inputs), a .dkn of the same shape, a matching SHD file, a WAV."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(5)
    ckpt = make_delaykit_checkpoint(d / "model.pt", rng, (N_IN, 16, 12, 5), window_steps=WINDOW)
    net = random_network(rng, (N_IN, 12, 5), integer_bits=8, max_delay=4)
    net = replace(
        net, input=InputSpec(n_channels=N_IN, window_steps=WINDOW, n_units=N_UNITS, channel_group=1)
    )
    dkn = d / "net.dkn"
    save_network(net, dkn)
    times = [np.sort(rng.random(25) * 0.25).astype(np.float32) for _ in range(8)]
    units = [rng.integers(0, N_UNITS, 25) for _ in range(8)]
    data = d / "test.h5"
    write_shd(data, times, units, rng.integers(0, 5, 8), n_units=N_UNITS)
    wav = d / "wavs" / "a" / "x_0.wav"
    wav.parent.mkdir(parents=True)
    t = np.arange(1600) / 16000
    wavfile.write(wav, 16000, np.round(0.1 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16))
    xylo = d / "xylo.dkn"  # a network Xylo can hold (subtractive reset, int8, 16 inputs)
    save_network(pytest.importorskip("targets.xylo_nets").random_xylo_net(3), xylo)
    readme = d / "README.md"
    readme.write_text(f"# x\n{README_BEGIN}\nold\n{README_END}\n")
    return {"ckpt": ckpt, "dkn": dkn, "data": data, "wav": wav, "dir": d, "xylo": xylo, "readme": readme}


def _writers(i: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """Every writer of the command line, its output(s) under ``out``."""
    ck, dkn, data = str(i["ckpt"]), str(i["dkn"]), str(i["data"])
    conv = {
        f"convert {v}": ["convert", v, ck, "-o", str(out / f"x_{v}")]
        for v in ("to-dkn", "to-nir", "to-table", "to-pynn", "to-netx", "to-onnx", "report")
    }
    return {
        **conv,
        "convert to-nir --for snntorch": ["convert", "to-nir", ck, "--for", "snntorch", "-o", str(out / "s.nir")],
        "convert --report": ["convert", "to-dkn", ck, "-o", str(i["dir"] / "ok.dkn"), "--report", str(out / "r.json")],
        "convert --plot": ["convert", "to-dkn", ck, "-o", str(i["dir"] / "ok.dkn"), "--plot", str(out / "p.png")],
        "sim --json": ["sim", dkn, "--data", data, "--json", str(out / "s.json"), "--expect", "0", "--tolerance", "100"],
        "sim --raster-out": ["sim", dkn, "--data", data, "--raster", "0", "--raster-out", str(out / "r.png"),
                             "--expect", "0", "--tolerance", "100"],
        "targets check --json": ["targets", "check", dkn, "--target", "loihi2", "--json", str(out / "c.json")],
        "targets map --json": ["targets", "map", dkn, "--target", "loihi2", "--json", str(out / "m.json")],
        "targets realize -o": ["targets", "realize", dkn, "--target", "xylo", "--method", "relay", "-o", str(out / "x.dkn")],
        "convert to-xylo": ["convert", "to-xylo", str(i["xylo"]), "-o", str(out / "x_xylo")],
        "targets realize --json": ["targets", "realize", dkn, "--target", "xylo", "--method", "queue", "--json", str(out / "q.json")],
        "targets shd-estimate --update-readme": ["targets", "shd-estimate", "--update-readme", str(out / "README.md")],
        "data encode-audio --plot": ["data", "encode-audio", str(i["wav"]), "--out", str(i["dir"] / "ok.h5"), "--plot", str(out / "p.png")],
        "data spoken-digits --out": ["data", "spoken-digits", "--out", str(out / "sd"), "--voices", "2", "--classes", "0", "--no-progress"],
        "data synth --out": ["data", "synth", "--out", str(out / "d"), "--train", "20", "--test", "5"],
        "data encode-audio --out": ["data", "encode-audio", str(i["wav"].parent.parent), "--out", str(out / "a.h5")],
        "convert verify --json": ["convert", "verify", ck, data, "--json", str(out / "v.json"), "--no-progress"],
        "demo --out": ["demo", "--out", str(out / "demo")],
        "train --out": ["train", "--config", "tiny", "--data-dir", str(i["dir"] / "synth"), "--out", str(out / "run"),
                        "--epochs", "1", "--no-progress"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def synth_data(inputs):
    assert (
        main(["data", "synth", "--out", str(inputs["dir"] / "synth"), "--train", "40", "--test", "10"]) == 0
    )


WRITERS = sorted(_writers({k: Path(k) for k in ("ckpt", "dkn", "data", "wav", "dir", "xylo")}, Path("o")))


@pytest.mark.parametrize("name", WRITERS)
def test_full_disk_clean_exit_2_no_temporary(name, inputs, synth_data, tmp_path, capsys):
    """ENOSPC in every writer: exit 2, one line naming the output, nothing left on the disk."""
    keep = {"README.md": inputs["readme"].read_text()} if "update-readme" in name else {}
    with full_filesystem(tmp_path, keep) as full:
        before = snapshot(full)
        argv = _writers(inputs, full)[name]
        capsys.readouterr()
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
        errors = [line for line in err if "error" in line]
        assert len(errors) == 1 and str(full) in errors[0] and errors[0] == err[-1], err
        assert "Traceback" not in "".join(err)
        assert not temporaries(full), temporaries(full)
        assert snapshot(full) == before  # no partial output file
        assert sorted(p.name for p in full.iterdir()) == sorted(["filler", *keep])  # nor an empty folder
        assert not [p for p in inputs["dir"].glob("ok.*")]  # a failing --report/--plot: no main output


def test_every_output_flag_is_guarded():
    """A flag that writes a file is listed in delaykit/cli/io_guard.py's IO table."""
    names = {"out", "output", "json", "json_out", "report", "plot", "raster_out", "dir"}
    missing = []

    def walk(p: argparse.ArgumentParser, cmd: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        for a in subs:
            for n, q in a.choices.items():
                walk(q, f"{cmd} {n}".strip())
        if subs:
            return
        writes = {
            a.dest for a in p._actions if a.dest in names and not isinstance(a, argparse._StoreTrueAction)
        }
        listed = {attr for attr, _, _ in IO.get(cmd, ((), ()))[1]}
        missing.extend(f"{cmd}: {d}" for d in writes - listed)

    walk(build_parser(), "")
    assert not missing, missing


def _same_as_input(i: dict[str, Path], tmp: Path) -> dict[str, list[str]]:
    ck, dkn, data, wav = (str(i[k]) for k in ("ckpt", "dkn", "data", "wav"))
    link = tmp / "link.pt"
    if tmp.is_dir() and not link.is_symlink():
        link.symlink_to(i["ckpt"])
    return {
        **{f"convert {v} -o MODEL": ["convert", v, ck, "-o", ck] for v in ("to-dkn", "to-nir", "to-onnx", "to-netx")},
        "convert to-dkn (default -o)": ["convert", "to-dkn", dkn],
        "convert -o symlink to MODEL": ["convert", "to-dkn", ck, "-o", str(link)],
        "convert to-table -o folder holding MODEL": ["convert", "to-table", ck, "-o", str(i["dir"])],
        "convert --report MODEL": ["convert", "to-dkn", ck, "-o", str(tmp / "a.dkn"), "--report", ck],
        "convert --report == -o": ["convert", "to-dkn", ck, "-o", str(tmp / "a.dkn"), "--report", str(tmp / "a.dkn")],
        "convert --plot MODEL": ["convert", "to-nir", ck, "-o", str(tmp / "a.nir"), "--plot", ck],
        "convert verify --json DATA": ["convert", "verify", ck, data, "--json", data],
        "sim --json MODEL": ["sim", dkn, "--data", data, "--json", dkn],
        "sim --json DATA": ["sim", dkn, "--data", data, "--json", data],
        "sim --raster-out MODEL": ["sim", dkn, "--data", data, "--raster", "0", "--raster-out", dkn],
        "targets check --json MODEL": ["targets", "check", dkn, "--target", "loihi2", "--json", dkn],
        "targets map --json MODEL": ["targets", "map", dkn, "--target", "loihi2", "--json", dkn],
        "targets realize -o MODEL": ["targets", "realize", dkn, "--target", "xylo", "--method", "relay", "-o", dkn],
        "targets realize -o DATA": ["targets", "realize", dkn, "--target", "xylo", "--method", "relay", "--data", data, "-o", data],
        "data encode-audio --out WAV": ["data", "encode-audio", wav, "--out", wav],
        "train --out DATA-DIR": ["train", "--config", "tiny", "--data-dir", str(i["dir"]), "--out", str(i["dir"])],
    }  # fmt: skip


SAME = sorted(
    _same_as_input({k: Path(k) for k in ("ckpt", "dkn", "data", "wav", "dir")}, Path("/nonexistent"))
)


@pytest.mark.parametrize("name", SAME)
def test_output_equal_to_input_refused_before_writing(name, inputs, tmp_path, capsys):
    before = snapshot(inputs["dir"])
    argv = _same_as_input(inputs, tmp_path)[name]
    capsys.readouterr()
    assert main(argv) == 2, name
    err = capsys.readouterr().err
    assert "input" in err or "also the output" in err, err
    assert snapshot(inputs["dir"]) == before  # no input touched
    assert not [p for p in tmp_path.iterdir() if p.name != "link.pt"]  # nothing written


@pytest.mark.parametrize("verb", ["to-dkn", "to-table", "to-onnx"])
def test_ctrl_c_mid_write_leaves_no_temporary(verb, inputs, tmp_path, monkeypatch, capsys):
    """KeyboardInterrupt while the bytes go to disk (the fsync before the rename): exit 130,
    no temporary, the earlier output intact."""
    out = tmp_path / f"x_{verb}"
    assert main(["convert", verb, str(inputs["ckpt"]), "-o", str(out)]) == 0
    before = snapshot(tmp_path)

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("delaykit.fileio.os.fsync", interrupt)
    monkeypatch.setattr("delaykit.outputs.os.replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["convert", verb, str(inputs["ckpt"]), "-o", str(out)]) == 130
    assert not temporaries(tmp_path), temporaries(tmp_path)
    assert snapshot(tmp_path) == before


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "delaykit", *argv]


def test_broken_pipe_exits_quietly(inputs):
    """``delaykit info x.dkn | true``: the reader is gone; exit 141 (SIGPIPE), no traceback."""
    cmd = " ".join(_cli("info", str(inputs["dkn"]))) + " | true; exit ${PIPESTATUS[0]}"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 141), r
    assert r.stderr == "", r.stderr


def test_sigterm_mid_write_leaves_no_temporary(inputs, tmp_path):
    """SIGTERM unwinds like Ctrl-C (exit 143): the temporaries are removed."""
    code = (
        "import signal, os, delaykit.fileio as F\n"
        "real = F.os.fsync\n"
        "def slow(fd):\n"
        "    print('writing', flush=True); signal.pause()\n"
        "F.os.fsync = slow\n"
        "from delaykit.cli.main import run\n"
        f"import sys; sys.argv = ['delaykit', 'convert', 'to-dkn', {str(inputs['ckpt'])!r}, '-o', {str(tmp_path / 'x.dkn')!r}]\n"
        "run()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "writing"
    assert temporaries(tmp_path)  # the temporary exists while writing
    p.terminate()
    assert p.wait(timeout=60) == 143
    assert list(tmp_path.iterdir()) == []


def test_two_trains_into_one_folder(inputs, synth_data, tmp_path, capsys):
    """While a train holds its run folder, a second train into it is refused (exit 2)."""
    from delaykit.outputs import folder_lock

    (tmp_path / "run").mkdir()
    with folder_lock(tmp_path / "run", "a training run"):
        argv = [
            "train",
            "--config",
            "tiny",
            "--data-dir",
            str(inputs["dir"] / "synth"),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "1",
        ]
        assert main(argv) == 2
    assert "in use by a training run" in capsys.readouterr().err
    assert os.listdir(tmp_path / "run") == []  # untouched by the refused train; the holder removed its lock


def test_unknown_target_fails_before_training(inputs, synth_data, tmp_path, capsys):
    argv = ["train", "--config", "tiny", "--data-dir", str(inputs["dir"] / "synth"), "--out", str(tmp_path / "run"),
            "--finetune", "--target", "nope"]  # fmt: skip
    assert main(argv) == 2
    assert "unknown target 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
