"""Hand-made hostile inputs: one mutant per defect class a hostile user found, per input kind.

A mutant is ``(name, subcommand, build, expect, stderr_has)``; ``build(folder, inputs)`` writes
the case's inputs into ``folder`` and returns ``(argv, input paths)``. ``expect`` is 2 for
invalid input (refused with a one-line error) and 0 for valid but unusual input, which must
then be reported on stderr (``stderr_has``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fixtures import N_UNITS, copy_input

Build = Callable[[Path, dict[str, Path]], tuple[list[str], list[Path]]]


@dataclass(frozen=True)
class Mutant:
    name: str
    sub: str
    build: Build
    expect: int = 2
    stderr_has: str | None = None
    slow: bool = False
    fresh: bool = False  # run in a new process, not a fork (training that starts OpenMP)


# ---- spike files ------------------------------------------------------------------------


def write_raw_shd(
    path: Path,
    times: list,
    units: list,
    labels: Any,
    *,
    units_dtype: Any = np.uint16,
    labels_dtype: Any = np.uint16,
    attrs: dict | None = None,
) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        sp = f.create_group("spikes")
        ft = sp.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        fu = sp.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(units_dtype))
        for i, (t, u) in enumerate(zip(times, units, strict=True)):
            ft[i] = np.asarray(t, np.float32)
            fu[i] = np.asarray(u, units_dtype)
        f.create_dataset("labels", data=np.asarray(labels, dtype=labels_dtype))
        f.attrs["n_units"] = N_UNITS
        f.attrs["delaykit_window_s"] = 0.2
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return path


def _samples(n: int = 8) -> tuple[list, list, np.ndarray]:
    rng = np.random.default_rng(3)
    t = [np.sort(rng.uniform(0, 0.19, 10)) for _ in range(n)]
    u = [rng.integers(0, N_UNITS, 10) for _ in range(n)]
    return t, u, np.arange(n) % 4


def _spikes(edit: Callable[[list, list, np.ndarray], dict | None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        t, u, y = _samples()
        kw = edit(t, u, y) or {}
        t, u, y = kw.pop("t", t), kw.pop("u", u), kw.pop("y", y)
        return write_raw_shd(folder / "bad.h5", t, u, y, **kw)

    return make


def _set(lst: list, i: int, arr: Any) -> None:
    lst[i] = np.asarray(arr)


SPIKE_MUTANTS: dict[str, Callable[[Path], Path]] = {
    "nan_time": _spikes(lambda t, u, y: _set(t, 1, [0.01, float("nan")] + [0.05] * 8)),
    "inf_time": _spikes(lambda t, u, y: _set(t, 2, [float("inf")] + [0.05] * 9)),
    "negative_time": _spikes(lambda t, u, y: _set(t, 0, [-0.5] + [0.05] * 9)),
    "negative_unit": _spikes(lambda t, u, y: {"u": [np.r_[-1, x[1:]] for x in u], "units_dtype": np.int32}),
    "unit_too_large": _spikes(lambda t, u, y: {"u": [np.r_[N_UNITS, x[1:]] for x in u]}),
    "fractional_unit": _spikes(lambda t, u, y: {"u": [x + 0.5 for x in u], "units_dtype": np.float32}),
    "fractional_label": _spikes(lambda t, u, y: {"y": y + 0.25, "labels_dtype": np.float32}),
    "negative_label": _spikes(lambda t, u, y: {"y": y - 1, "labels_dtype": np.int32}),
    "nan_label": _spikes(lambda t, u, y: {"y": np.r_[np.nan, y[1:]], "labels_dtype": np.float32}),
    "zero_samples": _spikes(lambda t, u, y: {"t": [], "u": [], "y": np.zeros(0)}),
    "bad_n_units": _spikes(lambda t, u, y: {"attrs": {"n_units": -3}}),
    "nan_window": _spikes(lambda t, u, y: {"attrs": {"delaykit_window_s": float("nan")}}),
    "huge_window": _spikes(lambda t, u, y: {"attrs": {"delaykit_window_s": 1e12}}),
}


def _folder_as_file(folder: Path) -> Path:
    d = folder / "adir.h5"
    d.mkdir()
    return d


def _garbage(folder: Path) -> Path:
    p = folder / "junk.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    return p


def spike_consumers() -> list[Mutant]:
    """Every spike-file mutant through every command that reads spike files."""
    out = []
    makers = {**SPIKE_MUTANTS, "folder_as_file": _folder_as_file, "garbage": _garbage}
    for name, make in makers.items():

        def sim(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            net, data = copy_input(inp["dkn"], folder), make(folder)
            return [
                "sim",
                str(net),
                "--data",
                str(data),
                "--json",
                str(folder / "o.json"),
                "--no-progress",
            ], [net, data]

        def verify(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            ck, data = copy_input(inp["ckpt"], folder), make(folder)
            return [
                "convert",
                "verify",
                str(ck),
                str(data),
                "--json",
                str(folder / "o.json"),
                "--no-progress",
            ], [ck, data]

        out.append(Mutant(f"spikes/{name}", "sim", sim))
        out.append(Mutant(f"spikes/{name}", "convert verify", verify))
    return out


def _train_on(make: Callable[[Path], Path]) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        data = folder / "data"
        data.mkdir()
        bad = make(data)
        bad.rename(data / "delay_train.h5")
        test = copy_input(inp["spikes"], data)
        test.rename(data / "delay_test.h5")
        cfg = copy_input(inp["config"], folder)
        argv = [
            "train",
            "--config",
            str(cfg),
            "--data-dir",
            str(data),
            "--out",
            str(folder / "run"),
            "--no-progress",
        ]
        return argv, [data, cfg]

    return build


def train_data_mutants() -> list[Mutant]:
    return [
        Mutant(f"spikes/{n}", "train", _train_on(SPIKE_MUTANTS[n]))
        for n in ("nan_time", "fractional_unit", "fractional_label", "zero_samples", "negative_label")
    ]


def unusual_spikes() -> list[Mutant]:
    """Valid but unusual: events after the window are dropped, with their count on stderr."""

    def late(folder: Path) -> Path:
        t, u, y = _samples()
        t[0] = np.r_[t[0][:-1], 0.9]
        return write_raw_shd(folder / "late.h5", t, u, y)

    def sim(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        net, data = copy_input(inp["dkn"], folder), late(folder)
        return ["sim", str(net), "--data", str(data), "--no-progress"], [net, data]

    return [Mutant("spikes/event_after_window", "sim", sim, expect=0, stderr_has="outside the window")]


# ---- .dkn files -------------------------------------------------------------------------


def _dkn(edit: Callable[[Any], None]) -> Callable[[Path, dict[str, Path]], Path]:
    def make(folder: Path, inp: dict[str, Path]) -> Path:
        import h5py

        p = copy_input(inp["dkn"], folder)
        with h5py.File(p, "r+") as f:
            edit(f)
        return p

    return make


def _replace(f: Any, key: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    v = fn(f[key][()])
    del f[key]
    f.create_dataset(key, data=v)


def _neuron(f: Any, layer: str, **kv: Any) -> None:
    g = f[f"layers/{layer}"]
    d = json.loads(g.attrs["neuron"])
    d.update(kv)
    g.attrs["neuron"] = json.dumps(d)


def _set_at(a: np.ndarray, v: Any, dtype: Any = None) -> np.ndarray:
    a = a.astype(dtype or a.dtype)
    a.flat[0] = v
    return a


DKN_MUTANTS: dict[str, Callable[[Path, dict[str, Path]], Path]] = {
    "n_layers_low": _dkn(lambda f: f.attrs.__setitem__("n_layers", 1)),
    "n_layers_high": _dkn(lambda f: f.attrs.__setitem__("n_layers", 9)),
    "inf_threshold": _dkn(lambda f: _neuron(f, "000", v_threshold=float("inf"))),
    "nan_tau": _dkn(lambda f: _neuron(f, "000", tau=float("nan"))),
    "tau_below_1": _dkn(lambda f: _neuron(f, "000", tau=0.5)),
    "nan_delay": _dkn(lambda f: _replace(f, "layers/000/delay", lambda a: _set_at(a, np.nan, np.float64))),
    "fractional_delay": _dkn(
        lambda f: _replace(f, "layers/000/delay", lambda a: _set_at(a, 1.5, np.float64))
    ),
    "huge_delay": _dkn(lambda f: _replace(f, "layers/000/delay", lambda a: _set_at(a, 10**9, np.int64))),
    "huge_extend": _dkn(lambda f: f["layers/000"].attrs.__setitem__("extend_steps", 10**12)),
    "nan_weight": _dkn(lambda f: _replace(f, "layers/001/weight", lambda a: _set_at(a, np.nan))),
    "nan_dt": _dkn(lambda f: f.attrs.__setitem__("dt", float("nan"))),
    "zero_dt": _dkn(lambda f: f.attrs.__setitem__("dt", 0.0)),
    "unknown_readout": _dkn(lambda f: f.attrs.__setitem__("readout", "vote")),
    "huge_window": _dkn(
        lambda f: f.attrs.__setitem__(
            "input",
            json.dumps(
                {"n_channels": N_UNITS, "window_steps": 10**12, "n_units": N_UNITS, "channel_group": 1}
            ),
        )
    ),
    "fractional_window": _dkn(
        lambda f: f.attrs.__setitem__(
            "input",
            json.dumps({"n_channels": N_UNITS, "window_steps": 20.5, "n_units": N_UNITS, "channel_group": 1}),
        )
    ),
    "foreign_format": _dkn(lambda f: f.attrs.__setitem__("format", "other")),
}


def dkn_consumers() -> list[Mutant]:
    out = []
    for name, make in DKN_MUTANTS.items():

        def info(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p = make(folder, inp)
            return ["info", str(p)], [p]

        def sim(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p, data = make(folder, inp), copy_input(inp["spikes"], folder)
            return ["sim", str(p), "--data", str(data), "--json", str(folder / "o.json"), "--no-progress"], [
                p,
                data,
            ]

        def check(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p = make(folder, inp)
            return ["targets", "check", str(p), "--target", "loihi2", "--json", str(folder / "o.json")], [p]

        def to_nir(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p = make(folder, inp)
            return ["convert", "to-nir", str(p), "-o", str(folder / "o.nir")], [p]

        out += [
            Mutant(f"dkn/{name}", "info", info),
            Mutant(f"dkn/{name}", "sim", sim),
            Mutant(f"dkn/{name}", "targets check", check),
            Mutant(f"dkn/{name}", "convert to-nir", to_nir),
        ]
    return out
