"""More hand-made hostile inputs (checkpoints, flags, configs, tables, WAV, NIR, profiles,
training runs) and :func:`all_mutants`, the table the fuzz suite runs; see :mod:`mutants`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fixtures import copy_input, write_float_wav, write_wav
from mutants import (
    Build,
    Mutant,
    _samples,
    dkn_consumers,
    spike_consumers,
    train_data_mutants,
    unusual_spikes,
    write_raw_shd,
)

# ---- checkpoints ------------------------------------------------------------------------


def _ckpt(edit: Callable[[dict], None]) -> Callable[[Path, dict[str, Path]], Path]:
    def make(folder: Path, inp: dict[str, Path]) -> Path:
        import torch

        ck = torch.load(inp["ckpt"], weights_only=True)
        edit(ck)
        p = folder / "bad.pt"
        torch.save(ck, p)
        return p

    return make


def _sd(ck: dict, suffix: str, fn: Callable[[Any], Any]) -> None:
    key = next(k for k in ck["state_dict"] if k.endswith(suffix))
    ck["state_dict"][key] = fn(ck["state_dict"][key].clone())


def _first(v: Any, x: float) -> Any:
    v.view(-1)[0] = x
    return v


CKPT_MUTANTS: dict[str, Callable[[Path, dict[str, Path]], Path]] = {
    "nan_weight": _ckpt(lambda c: _sd(c, "0.weight", lambda v: _first(v, float("nan")))),
    "inf_position": _ckpt(lambda c: _sd(c, "0.P", lambda v: _first(v, float("inf")))),
    "nan_bn_var": _ckpt(lambda c: _sd(c, "running_var", lambda v: _first(v, float("nan")))),
    "negative_bn_var": _ckpt(lambda c: _sd(c, "running_var", lambda v: _first(v, -1.0))),
    "zero_dt": _ckpt(lambda c: c["arch"].__setitem__("dt", 0.0)),
    "negative_tau": _ckpt(lambda c: c["arch"].__setitem__("tau_steps", -2.0)),
    "nan_tau": _ckpt(lambda c: c["arch"].__setitem__("tau_steps", float("nan"))),
    "unknown_readout": _ckpt(lambda c: c["arch"].__setitem__("readout", "vote")),
    "channel_group_0": _ckpt(lambda c: c["arch"].__setitem__("channel_group", 0)),
    "kernel_too_small": _ckpt(lambda c: c["arch"].__setitem__("kernel_size", 3)),
    "negative_kernel": _ckpt(lambda c: c["arch"].__setitem__("kernel_size", -3)),
    "huge_kernel": _ckpt(lambda c: c["arch"].__setitem__("kernel_size", 10**9)),
    "fractional_window": _ckpt(lambda c: c["arch"].__setitem__("window_steps", 20.5)),
    "inf_threshold": _ckpt(lambda c: c["arch"].__setitem__("v_threshold", float("inf"))),
}


def ckpt_consumers() -> list[Mutant]:
    out = []
    for name, make in CKPT_MUTANTS.items():

        def to_dkn(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p = make(folder, inp)
            return ["convert", "to-dkn", str(p), "-o", str(folder / "o.dkn")], [p]

        def verify(folder: Path, inp: dict[str, Path], make: Any = make) -> tuple[list[str], list[Path]]:
            p, data = make(folder, inp), copy_input(inp["spikes"], folder)
            return [
                "convert",
                "verify",
                str(p),
                str(data),
                "--no-progress",
                "--json",
                str(folder / "o.json"),
            ], [p, data]

        out += [
            Mutant(f"ckpt/{name}", "convert to-dkn", to_dkn),
            Mutant(f"ckpt/{name}", "convert verify", verify),
        ]
    return out


def _refcode(*flags: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        p = copy_input(inp["ckpt"], folder)
        return ["convert", "to-dkn", str(p), "-o", str(folder / "o.dkn"), "--reference-code", *flags], [p]

    return build


def flag_mutants() -> list[Mutant]:
    """Numbers on the command line: NaN, infinity, zero, negative, huge."""
    m = [
        Mutant("flags/channel_group_0", "convert to-dkn", _refcode("--channel-group", "0")),
        Mutant("flags/dt_ms_nan", "convert to-dkn", _refcode("--dt-ms", "nan")),
        Mutant("flags/tau_ms_negative", "convert to-dkn", _refcode("--tau-ms", "-1")),
        Mutant("flags/kernel_size_huge", "convert to-dkn", _refcode("--kernel-size", "99999")),
    ]

    def conv(*flags: str) -> Build:
        def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
            p = copy_input(inp["ckpt"], folder)
            return ["convert", "to-dkn", str(p), "-o", str(folder / "o.dkn"), *flags], [p]

        return build

    m += [
        Mutant("flags/window_steps_0", "convert to-dkn", conv("--window-steps", "0")),
        Mutant("flags/bits_0", "convert to-dkn", conv("--bits", "0")),
        Mutant("flags/window_steps_huge", "convert to-dkn", conv("--window-steps", "1000000000000")),
    ]

    def synth(*flags: str) -> Build:
        def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
            return ["data", "synth", "--out", str(folder / "d"), "--train", "8", "--test", "4", *flags], []

        return build

    for flag, v in (
        ("--slot-ms", "nan"),
        ("--slot-ms", "inf"),
        ("--background-hz", "1e7"),
        ("--jitter-ms", "-1"),
        ("--train", "0"),
        ("--classes", "0"),
        ("--active", "-2"),
        ("--background-hz", "-1"),
    ):
        m.append(Mutant(f"flags/synth{flag}={v}", "data synth", synth(flag, v)))

    def sim(*flags: str) -> Build:
        def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
            net, data = copy_input(inp["dkn"], folder), copy_input(inp["spikes"], folder)
            return ["sim", str(net), "--data", str(data), "--no-progress", *flags], [net, data]

        return build

    for flag, v in (
        ("--limit", "0"),
        ("--workers", "0"),
        ("--tolerance", "nan"),
        ("--expect", "inf"),
        ("--dt-ms", "-10"),
        ("--raster", "-1"),
    ):
        m.append(Mutant(f"flags/sim{flag}={v}", "sim", sim(flag, v)))
    return m


# ---- configs and --set ------------------------------------------------------------------


def _train(*extra: str, cfg_text: str | None = None) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        data = folder / "data"
        data.mkdir()
        for split in ("train", "test"):
            copy_input(inp["spikes"], data).rename(data / f"delay_{split}.h5")
        cfg = folder / "cfg.toml"
        cfg.write_text(cfg_text if cfg_text is not None else inp["config"].read_text())
        argv = [
            "train",
            "--config",
            str(cfg),
            "--data-dir",
            str(data),
            "--out",
            str(folder / "run"),
            "--no-progress",
            *extra,
        ]
        return argv, [data, cfg]

    return build


CONFIG_MUTANTS: dict[str, Build] = {
    "set_lr_negative": _train("--set", "train.lr_w=-1"),
    "set_threads_negative": _train("--set", "train.threads=-1"),
    "set_weight_bits_0": _train("--set", "finetune.weight_bits=0"),
    "set_lr_nan": _train("--set", "train.lr_w=nan"),
    "set_lr_inf": _train("--set", "train.lr_w=inf"),
    "set_kernel_huge": _train("--set", "model.kernel_size=99999"),
    "set_kernel_negative": _train("--set", "model.kernel_size=-3"),
    "set_epochs_0": _train("--set", "train.epochs=0"),
    "set_hidden_fraction": _train("--set", "model.hidden=[16.5]"),
    "set_dt_zero": _train("--set", "data.dt=0"),
    "set_window_0": _train("--set", "data.window_steps=0"),
    "set_unknown_key": _train("--set", "train.lr_q=1"),
    "set_batch_fraction": _train("--set", "train.batch_size=2.5"),
    "toml_nan": _train(cfg_text='base = "tiny"\n[train]\nlr_w = nan\n'),
    "toml_inf_dropout": _train(cfg_text='base = "tiny"\n[model]\ndropout = inf\n'),
    "toml_bad_syntax": _train(cfg_text='base = "tiny"\n[train\n'),
    "toml_python_yaml": _train(cfg_text="!!python/object/apply:os.system ['echo pwned']\n"),
    "target_without_finetune": _train("--target", "loihi2"),
    "epochs_0": _train("--epochs", "0"),
}


def config_mutants() -> list[Mutant]:
    return [Mutant(f"config/{n}", "train", b) for n, b in CONFIG_MUTANTS.items()]


# ---- tables -----------------------------------------------------------------------------


def _table(edit: Callable[[list[str]], list[str]], which: str = "synapses") -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        d = copy_input(inp["table"], folder)
        for ext in ("parquet", "npz"):
            for p in d.glob(f"*.{ext}"):
                p.unlink()
        p = d / f"{which}.csv"
        p.write_text("\n".join(edit(p.read_text().splitlines())) + "\n")
        data = copy_input(inp["spikes"], folder)
        return ["sim", str(d), "--data", str(data), "--no-progress"], [d, data]

    return build


def _row(lines: list[str], i: int, col: int, value: str) -> list[str]:
    cells = lines[i].split(",")
    cells[col] = value
    return [*lines[:i], ",".join(cells), *lines[i + 1 :]]


TABLE_MUTANTS: dict[str, Build] = {
    "duplicate_row": _table(lambda ls: [*ls, ls[1]]),
    "unknown_layer": _table(lambda ls: _row([*ls, ls[1]], len(ls), 0, "7")),
    "fractional_delay": _table(lambda ls: _row(ls, 1, 5, "1.5")),
    "nan_delay": _table(lambda ls: _row(ls, 1, 5, "nan")),
    "negative_delay": _table(lambda ls: _row(ls, 1, 5, "-1")),
    "huge_delay": _table(lambda ls: _row(ls, 1, 5, "1000000000")),
    "nan_weight": _table(lambda ls: _row(ls, 1, 3, "nan")),
    "pre_out_of_range": _table(lambda ls: _row(ls, 1, 1, "999")),
    "nan_threshold": _table(lambda ls: _row(ls, 1, 5, "nan"), "neurons"),
    "inf_threshold": _table(lambda ls: _row(ls, 1, 5, "inf"), "neurons"),
}


def table_mutants() -> list[Mutant]:
    return [Mutant(f"table/{n}", "sim", b) for n, b in TABLE_MUTANTS.items()]


# ---- WAV, NIR, target profiles ----------------------------------------------------------


def _encode(make: Callable[[Path], Path]) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        w = make(folder)
        return ["data", "encode-audio", str(w), "--out", str(folder / "o.h5"), "--no-progress"], [w]

    return build


WAV_MUTANTS: dict[str, Build] = {
    "nan_samples": _encode(
        lambda d: write_float_wav(d / "a.wav", np.r_[np.zeros(800), np.nan, np.zeros(800)])
    ),
    "inf_samples": _encode(
        lambda d: write_float_wav(d / "a.wav", np.r_[np.zeros(800), np.inf, np.zeros(800)])
    ),
    "empty": _encode(lambda d: write_wav(d / "a.wav", np.zeros(0, np.int16))),
    "truncated": _encode(
        lambda d: (d / "a.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ") and d / "a.wav"
    ),
    "zero_rate": _encode(lambda d: write_wav(d / "a.wav", np.zeros(100, np.int16), fs=1)),
}


def _nir(edit: Callable[[Any], None]) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        import h5py

        p = copy_input(inp["nir"], folder)
        with h5py.File(p, "r+") as f:
            edit(f)
        data = copy_input(inp["spikes"], folder)
        return ["sim", str(p), "--data", str(data), "--no-progress"], [p, data]

    return build


def _nir_node(f: Any, kind: str | None = None, key: str | None = None, value: Any = None) -> None:
    nodes = f["node/nodes"]
    name = next(
        n for n in nodes if "type" in nodes[n] and _s(nodes[n]["type"][()]) in ("LIF", "CubaLIF", "LI")
    )
    g = nodes[name]
    if kind is not None:
        del g["type"]
        g["type"] = kind
    if key is not None:
        arr = g[key][()]
        del g[key]
        g[key] = np.full_like(arr, value)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


NIR_MUTANTS: dict[str, Build] = {
    "unknown_node": _nir(lambda f: _nir_node(f, kind="Wobble")),
    "nan_tau": _nir(lambda f: _nir_node(f, key="tau", value=np.nan)),
    "negative_tau": _nir(lambda f: _nir_node(f, key="tau", value=-1.0)),
    "inf_threshold": _nir(lambda f: _nir_node(f, key="v_threshold", value=np.inf)),
}


def _profile(edit: Callable[[str], str], *extra: str, cmd: str = "show") -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        p = folder / "chip.toml"
        p.write_text(edit(inp["profile"].read_text()))
        net = copy_input(inp["dkn"], folder)
        if cmd == "show":
            return ["targets", "show", str(p), *extra], [p, net]
        return ["targets", "check", str(net), "--target", str(p), *extra], [p, net]

    return build


def _sub_key(text: str, key: str, value: str) -> str:
    new, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
    return new if n else f"{text}\n{key} = {value}\n"


PROFILE_MUTANTS: dict[str, Build] = {
    "set_delay_none": _profile(lambda t: t, "--set", "delay_max_steps=none"),
    "set_delay_nan": _profile(lambda t: t, "--set", "delay_max_steps=nan"),
    "set_delay_negative": _profile(lambda t: t, "--set", "delay_max_steps=-1"),
    "set_delay_fraction": _profile(lambda t: t, "--set", "delay_max_steps=2.5"),
    "set_unknown": _profile(lambda t: t, "--set", "wobble=3"),
    "toml_delay_nan": _profile(lambda t: _sub_key(t, "delay_max_steps", "nan")),
    "toml_weight_bits_0": _profile(lambda t: _sub_key(t, "weight_bits", "0")),
    "toml_garbage": _profile(lambda t: "[[[", cmd="check"),
}


def other_mutants() -> list[Mutant]:
    out = [Mutant(f"wav/{n}", "data encode-audio", b) for n, b in WAV_MUTANTS.items()]
    out += [
        Mutant(f"nir/{n}", "sim", b, stderr_has="'Wobble'" if n == "unknown_node" else None)
        for n, b in NIR_MUTANTS.items()
    ]
    out += [
        Mutant(f"profile/{n}", f"targets {'check' if 'garbage' in n else 'show'}", b)
        for n, b in PROFILE_MUTANTS.items()
    ]
    return out


def all_mutants() -> list[Mutant]:
    """Every mutant; the first command that reads a mutant runs in the fast suite, the other
    commands reading the same mutant are marked slow."""
    out, seen = [], set()
    for m in [
        *spike_consumers(),
        *train_data_mutants(),
        *unusual_spikes(),
        *dkn_consumers(),
        *ckpt_consumers(),
        *flag_mutants(),
        *config_mutants(),
        *table_mutants(),
        *other_mutants(),
        *extra_mutants(),
        *_command_mutants(),
    ]:
        slow = m.slow or m.name in seen
        out.append(Mutant(m.name, m.sub, m.build, m.expect, m.stderr_has, slow, m.fresh))
        seen.add(m.name)
    return out


def _command_mutants() -> list[Mutant]:
    """Every writer and the subcommands the file mutants above do not reach (mutants_cmds.py,
    mutants_data.py)."""
    from mutants_cmds import (
        alias_mutants,
        dkn_through_exports,
        export_flag_mutants,
        model_kind_mutants,
        new_flag_mutants,
        target_flag_mutants,
        valid_runs,
        writer_mutants,
    )
    from mutants_data import data_mutants

    return [
        *writer_mutants(),
        *alias_mutants(),
        *export_flag_mutants(),
        *target_flag_mutants(),
        *model_kind_mutants(),
        *valid_runs(),
        *data_mutants(),
        *dkn_through_exports(),
        *new_flag_mutants(),
    ]


# ---- training runs: resume files, init checkpoints, label sets ----------------------------


def _trained_run(folder: Path, inp: dict[str, Path]) -> tuple[list[str], Path, Path]:
    """A finished 1-epoch tiny run in ``folder/run`` (trained in a subprocess); returns the argv
    that resumes it, its data folder and its run folder."""
    import subprocess
    import sys

    argv, _ = _train("--epochs", "1")(folder, inp)
    subprocess.run([sys.executable, "-m", "delaykit", *argv], check=True, capture_output=True, timeout=300)
    return argv, folder / "data", folder / "run"


def _resume_epoch_huge(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
    import subprocess
    import sys

    argv, data, run = _trained_run(folder, inp)
    # edited in a subprocess: torch work in this (forking) test process could start OpenMP
    edit = (
        "import torch, sys; p = sys.argv[1]; rs = torch.load(p, weights_only=True); "
        "rs['state']['epoch'] = 10**6; torch.save(rs, p)"
    )
    subprocess.run([sys.executable, "-c", edit, str(run / "resume.pt")], check=True, timeout=120)
    return [*argv, "--resume"], [data, run / "resume.pt"]


def _resume_more_epochs(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
    argv, data, run = _trained_run(folder, inp)
    return [*argv[:-2], "--epochs", "3", "--resume"], [data, run / "resume.pt"]


def _labels_unseen(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
    argv, watched = _train()(folder, inp)
    t, u, y = _samples()
    write_raw_shd(folder / "data" / "delay_train.h5", t, u, y % 2)  # classes 0, 1 only
    return argv, watched


def _finetune_nan(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
    argv, watched = _train("--finetune", "--target", "loihi2", "--set", "data.channel_group=1")(folder, inp)
    init = CKPT_MUTANTS["nan_weight"](folder, inp)
    return [*argv, "--init", str(init)], [*watched, init]


def extra_mutants() -> list[Mutant]:
    return [
        Mutant("resume/epoch_1e6", "train", _resume_epoch_huge, slow=True, fresh=True),
        Mutant("resume/more_epochs_one_cycle", "train", _resume_more_epochs, slow=True, fresh=True),
        Mutant("train/test_labels_unseen_in_training", "train", _labels_unseen),
        Mutant("train/finetune_from_nan_weights", "train", _finetune_nan),
    ]
