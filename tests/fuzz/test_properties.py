"""Generated hostile input (hypothesis): numbers on the command line, spike-file values, and
byte corruption of every file kind. Each example runs through :func:`harness.run_case` and
must come out clean: exit 2 for input that is invalid, 0 for input that is valid, never a
traceback, a hang, a changed input or a file left behind by a refusal.

The fast suite runs a few examples per property; ``-m slow`` runs many more.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures import copy_input
from harness import Ledger, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutants import write_raw_shd

from delaykit.validate import CLI_BOUNDS

FAST = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SLOW = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_COUNTER = itertools.count()

NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e308", "-0", "1e-320", "2.5", "1e12"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
)


def _folder(tmp: Path) -> Path:
    f = tmp / f"case{next(_COUNTER)}"
    f.mkdir()
    return f


def _valid_number(dest: str, text: str, is_int: bool) -> bool | None:
    """Whether ``text`` is a valid value of the flag by CLI_BOUNDS; None when the command's own
    logic decides (the property then only asks for a clean exit, 0 or 2)."""
    try:
        v = int(text) if is_int else float(text)
    except ValueError:
        return False
    if not math.isfinite(v):
        return False
    lo, hi, lo_open = CLI_BOUNDS.get(dest, (None, None, False))
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        return False
    return None


# (subcommand, flag, int?, argv builder)
def _synth(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    return ["data", "synth", "--out", str(folder / "d"), "--train", "4", "--test", "2", flag, v], []


def _sim(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    net, data = copy_input(inp["dkn"], folder), copy_input(inp["spikes"], folder)
    return ["sim", str(net), "--data", str(data), "--no-progress", flag, v], [net, data]


def _to_dkn(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    ck = copy_input(inp["ckpt"], folder)
    extra = (
        ["--reference-code"] if flag in ("--channel-group", "--kernel-size", "--tau-ms", "--dt-ms") else []
    )
    return ["convert", "to-dkn", str(ck), "-o", str(folder / "o.dkn"), *extra, flag, v], [ck]


def _check(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    net = copy_input(inp["dkn"], folder)
    return ["targets", "check", str(net), "--target", "loihi2", flag, v], [net]


def _map(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    net = copy_input(inp["dkn"], folder)
    return ["targets", "map", str(net), "--target", "xylo", flag, v], [net]


def _realize(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    net = copy_input(inp["dkn"], folder)
    argv = [
        "targets",
        "realize",
        str(net),
        "--target",
        "xylo",
        "--method",
        "relay",
        "-o",
        str(folder / "r.dkn"),
    ]
    return [*argv, flag, v], [net]


def _to_table(folder: Path, inp: dict[str, Path], flag: str, v: str) -> tuple[list[str], list[Path]]:
    net = copy_input(inp["dkn"], folder)
    return ["convert", "to-table", str(net), "-o", str(folder / "t"), flag, v], [net]


FLAGS = [
    ("data synth", "--slot-ms", False, _synth),
    ("data synth", "--jitter-ms", False, _synth),
    ("data synth", "--background-hz", False, _synth),
    ("data synth", "--classes", True, _synth),
    ("sim", "--limit", True, _sim),
    ("sim", "--workers", True, _sim),
    ("sim", "--tolerance", False, _sim),
    ("convert to-dkn", "--window-steps", True, _to_dkn),
    ("convert to-dkn", "--bits", True, _to_dkn),
    ("targets check", "--dt-ms", False, _check),
    ("targets map", "--rows", True, _map),
    ("targets realize", "--seed", True, _realize),
    ("convert to-table", "--bits", True, _to_table),
]


@pytest.mark.parametrize("sub,flag,is_int,build", FLAGS, ids=[f"{s}{f}" for s, f, _, _ in FLAGS])
@FAST
@given(text=NUMBERS)
def test_cli_numbers(sub, flag, is_int, build, text, inputs, ledger: Ledger, tmp_path) -> None:
    """Any number on a numeric flag: refused (exit 2) when not finite or out of bounds, else clean."""
    if is_int:
        try:
            float(text)
        except ValueError:
            return
    folder = _folder(tmp_path)
    argv, watched = build(folder, inputs, flag, text)
    valid = _valid_number(flag[2:].replace("-", "_"), text, is_int)
    expect = 2 if valid is False else None
    r = run_case(
        f"{flag}={text}", sub, argv, folder, inputs=watched, expect=expect if expect is not None else 0
    )
    if expect is None and r.outcome == "wrong_exit" and r.rc == 2:
        r.outcome, r.detail = "clean", ""  # the command refused a value within the flag's bounds
    ledger.add(r)
    assert r.outcome == "clean", f"{r.outcome}: {r.detail}\n{argv}\n{r.stderr}"
    shutil.rmtree(folder)


SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -1e-9, 1e30, 0.0, 0.05, 0.19999, 0.2, 5.0])


@FAST
@given(
    times=st.lists(st.one_of(SPECIAL, st.floats(-1, 2)), min_size=1, max_size=6),
    units=st.lists(st.one_of(st.integers(-2, 25), st.floats(-2, 25)), min_size=6, max_size=6),
)
def test_spike_values(times, units, inputs, ledger: Ledger, tmp_path) -> None:
    """One sample's events with arbitrary times and units through ``sim``: NaN, infinite or
    negative times and fractional or out-of-range units are refused; the rest run (exit 0)."""
    folder = _folder(tmp_path)
    t = np.asarray(times, np.float32)
    u = np.asarray(units[: len(times)], np.float64)
    ok = bool(
        np.isfinite(t).all()
        and (t >= 0).all()
        and (u == np.floor(u)).all()
        and (u >= 0).all()
        and (u < 20).all()
    )
    data = write_raw_shd(
        folder / "s.h5",
        [t, np.array([0.01], np.float32)],
        [u, np.array([1.0])],
        [0, 1],
        units_dtype=np.float64,
    )
    net = copy_input(inputs["dkn"], folder)
    argv = ["sim", str(net), "--data", str(data), "--no-progress"]
    r = run_case("spike values", "sim", argv, folder, inputs=[net, data], expect=0 if ok else 2)
    ledger.add(r)
    assert r.outcome == "clean", f"{r.outcome}: {r.detail}\n{times} {units}\n{r.stderr}"


KINDS = {
    "dkn": lambda f, p, d: ["info", str(p)],
    "table": lambda f, p, d: ["sim", str(p), "--data", str(d), "--no-progress"],
    "ckpt": lambda f, p, d: ["convert", "to-dkn", str(p), "-o", str(f / "o.dkn")],
    "spikes": lambda f, p, d: ["sim", str(d), "--data", str(p), "--no-progress"],
    "nir": lambda f, p, d: ["sim", str(p), "--data", str(d), "--no-progress"],
    "config": lambda f, p, d: [
        "train",
        "--config",
        str(p),
        "--data-dir",
        str(f / "nodata"),
        "--out",
        str(f / "r"),
    ],
    "profile": lambda f, p, d: ["targets", "show", str(p)],
    "wav": lambda f, p, d: ["data", "encode-audio", str(p), "--out", str(f / "o.h5"), "--no-progress"],
}


def _corrupt(kind: str, speed: settings):
    @speed
    @given(data=st.data())
    def prop(data, inputs, ledger: Ledger, tmp_path) -> None:
        folder = _folder(tmp_path)
        p = copy_input(inputs[kind], folder)
        target = (
            p / data.draw(st.sampled_from(["synapses.npz", "manifest.json", "neurons.npz"]))
            if p.is_dir()
            else p
        )
        raw = bytearray(target.read_bytes())
        mode = data.draw(st.sampled_from(["flip", "truncate", "zero"]), label="mode")
        if mode == "truncate":
            raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="keep")]
        else:
            for _ in range(data.draw(st.integers(1, 16), label="n")):
                i = data.draw(st.integers(0, len(raw) - 1), label="at")
                raw[i] = 0 if mode == "zero" else raw[i] ^ data.draw(st.integers(1, 255), label="xor")
        target.write_bytes(bytes(raw))
        other = copy_input(inputs["dkn" if kind == "spikes" else "spikes"], folder)
        argv = KINDS[kind](folder, p, other)
        r = run_case(
            f"corrupt {kind} ({mode})",
            " ".join(argv[:2]) if argv[0] in ("data", "targets", "convert") else argv[0],
            argv,
            folder,
            inputs=[p, other],
            expect=2,
        )
        if r.outcome == "wrong_exit" or (r.outcome == "silent" and r.rc == 0):
            r.outcome, r.detail = "clean", ""  # a flip the format does not notice (data bytes): ran
        ledger.add(r)
        assert r.outcome == "clean", f"{r.outcome}: {r.detail}\n{argv}\n{r.stderr}"

    return prop


test_corrupt_dkn = _corrupt("dkn", FAST)
test_corrupt_ckpt = _corrupt("ckpt", FAST)
test_corrupt_spikes = _corrupt("spikes", FAST)
test_corrupt_nir = _corrupt("nir", FAST)
test_corrupt_profile = _corrupt("profile", FAST)
test_corrupt_wav = _corrupt("wav", FAST)
test_corrupt_config = _corrupt("config", FAST)
test_corrupt_table = _corrupt("table", FAST)

test_corrupt_dkn_many = pytest.mark.slow(_corrupt("dkn", SLOW))
test_corrupt_ckpt_many = pytest.mark.slow(_corrupt("ckpt", SLOW))
test_corrupt_spikes_many = pytest.mark.slow(_corrupt("spikes", SLOW))
test_corrupt_nir_many = pytest.mark.slow(_corrupt("nir", SLOW))


@pytest.mark.slow
@pytest.mark.parametrize("sub,flag,is_int,build", FLAGS, ids=[f"{s}{f}" for s, f, _, _ in FLAGS])
@SLOW
@given(text=NUMBERS)
def test_cli_numbers_many(sub, flag, is_int, build, text, inputs, ledger: Ledger, tmp_path) -> None:
    """:func:`test_cli_numbers` with many more examples."""
    test_cli_numbers.hypothesis.inner_test(sub, flag, is_int, build, text, inputs, ledger, tmp_path)
