"""Hostile command lines for every writer and every subcommand the input-file mutants do not
reach: unwritable, aliased and misplaced outputs; nonsense flag values; model files of every
kind through the exports and the target tools. See :mod:`mutants` for the Mutant table format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixtures import copy_input
from mutants import DKN_MUTANTS, SPIKE_MUTANTS, Build, Mutant

#: argv of a case from (case folder, copied inputs by kind) -> argv
Argv = Callable[[Path, dict[str, Path]], list[str]]


def cmd(kinds: tuple[str, ...], argv: Argv, extra: Callable[[Path], list[Path]] | None = None) -> Build:
    """A Build that copies the valid inputs ``kinds`` into the case folder and runs ``argv``;
    ``extra(folder)`` writes further inputs (watched too)."""

    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        c = {k: copy_input(inp[k], folder) for k in kinds}
        more = extra(folder) if extra else []
        return [str(a) for a in argv(folder, c)], [*c.values(), *more]

    return build


# ---- every writer, with the path its output goes to ----------------------------------------

#: name -> (input kinds, argv with the output path OUT, output kind: file | dir | folder)
Writer = tuple[tuple[str, ...], Callable[[dict[str, Path], str], list[Any]], str]


def _conv(verb: str, *extra: str) -> Writer:
    return (
        ("ckpt",),
        lambda c, o: ["convert", verb, c["ckpt"], "-o", o, *extra],
        "folder" if verb in ("to-table", "to-pynn", "to-xylo") else "file",
    )


WRITERS: dict[str, Writer] = {
    "convert to-dkn": _conv("to-dkn"),
    "convert to-nir": _conv("to-nir"),
    "convert to-table": _conv("to-table"),
    "convert to-pynn": _conv("to-pynn"),
    "convert to-netx": _conv("to-netx"),
    "convert to-onnx": _conv("to-onnx"),
    "convert to-xylo": _conv("to-xylo", "--bits", "8"),
    "convert report": _conv("report"),
    "convert to-dkn --report": (
        ("ckpt",),
        lambda c, o: ["convert", "to-dkn", c["ckpt"], "-o", c["ckpt"].with_name("ok.dkn"), "--report", o],
        "file",
    ),
    "convert to-table --plot": (
        ("ckpt",),
        lambda c, o: ["convert", "to-table", c["ckpt"], "-o", c["ckpt"].with_name("okt"), "--plot", o],
        "file",
    ),
    "convert verify --json": (
        ("ckpt", "spikes"),
        lambda c, o: ["convert", "verify", c["ckpt"], c["spikes"], "--json", o, "--no-progress"],
        "file",
    ),
    "sim --json": (
        ("dkn", "spikes"),
        lambda c, o: ["sim", c["dkn"], "--data", c["spikes"], "--json", o, "--no-progress"],
        "file",
    ),
    "sim --raster-out": (
        ("dkn", "spikes"),
        lambda c, o: ["sim", c["dkn"], "--data", c["spikes"], "--raster", "0", "--raster-out", o, "--no-progress"],
        "file",
    ),
    "targets check --json": (
        ("dkn",),
        lambda c, o: ["targets", "check", c["dkn"], "--target", "loihi2", "--json", o],
        "file",
    ),
    "targets map --json": (
        ("dkn",),
        lambda c, o: ["targets", "map", c["dkn"], "--target", "xylo", "--json", o],
        "file",
    ),
    "targets realize -o": (
        ("dkn",),
        lambda c, o: ["targets", "realize", c["dkn"], "--target", "xylo", "--method", "relay", "-o", o],
        "file",
    ),
    "targets realize --json": (
        ("dkn",),
        lambda c, o: ["targets", "realize", c["dkn"], "--target", "xylo", "--method", "queue", "--json", o],
        "file",
    ),
    "targets shd-estimate --update-readme": ((), lambda c, o: ["targets", "shd-estimate", "--update-readme", o], "file"),
    "data synth --out": ((), lambda c, o: ["data", "synth", "--out", o, "--train", "8", "--test", "4"], "dir"),
    "data encode-audio --out": (
        ("wav",),
        lambda c, o: ["data", "encode-audio", c["wav"], "--out", o, "--no-progress"],
        "file",
    ),
    "data encode-audio --plot": (
        ("wav",),
        lambda c, o: ["data", "encode-audio", c["wav"], "--out", c["wav"].with_name("ok.h5"), "--plot", o,
                      "--no-progress"],
        "file",
    ),
    "data spoken-digits --out": (
        (),
        lambda c, o: ["data", "spoken-digits", "--out", o, "--voices", "2", "--classes", "0", "--no-progress"],
        "dir",
    ),
    "data spoken-digits --plot": (
        (),
        lambda c, o: ["data", "spoken-digits", "--out", "sd", "--voices", "2", "--classes", "0", "--plot", o,
                      "--no-progress"],
        "file",
    ),
    "data download --dir": ((), lambda c, o: ["data", "download", "shd", "--dir", o], "dir"),
    "demo --out": ((), lambda c, o: ["demo", "--out", o, "--samples", "40", "10", "--no-baselines"], "dir"),
    "train --out": (
        ("config",),
        lambda c, o: ["train", "--config", c["config"], "--data-dir", "nodata", "--out", o, "--no-progress"],
        "dir",
    ),
}  # fmt: skip


def _a_file(folder: Path) -> Path:
    p = folder / "afile"
    p.write_text("not a folder\n")
    return p


def _a_folder(folder: Path) -> Path:
    d = folder / "adir"
    d.mkdir()
    (d / "keep.txt").write_text("kept\n")
    return d


#: destination name -> (output kinds it is wrong for, path maker returning (path, watched))
DESTS: dict[str, tuple[str, Callable[[Path], tuple[str, list[Path]]]]] = {
    "under_proc": ("file dir folder", lambda f: ("/proc/delaykit-fuzz/out", [])),
    "under_a_file": ("file dir folder", lambda f: (str(_a_file(f) / "out"), [f / "afile"])),
    "an_existing_folder": ("file", lambda f: (str(_a_folder(f)), [f / "adir"])),
    "an_existing_file": ("dir folder", lambda f: (str(_a_file(f)), [f / "afile"])),
    "empty_name": ("file dir folder", lambda f: ("", [])),
}


def _writer_case(name: str, dest: str) -> Mutant:
    kinds, argv, _ = WRITERS[name]
    _, make = DESTS[dest]

    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        c = {k: copy_input(inp[k], folder) for k in kinds}
        out, watched = make(folder)
        return [str(a) for a in argv(c, out)], [*c.values(), *watched]

    return Mutant(f"out/{name.split(' ', 2)[-1]}:{dest}", _sub(name), build)


def _sub(name: str) -> str:
    words = name.split()
    return " ".join(words[:2]) if words[0] in ("convert", "data", "targets") else words[0]


def writer_mutants() -> list[Mutant]:
    """Every writer into every place it cannot write: exit 2, one line, nothing left."""
    return [
        _writer_case(name, dest)
        for name, (_, _, kind) in WRITERS.items()
        for dest, (wrong_for, _) in DESTS.items()
        if kind in wrong_for.split()
    ]


def _same(kinds: tuple[str, ...], argv: Argv) -> Build:
    return cmd(kinds, argv)


#: an output that is one of the command's inputs (or a folder holding one)
ALIASES: dict[str, tuple[str, Build]] = {
    "to-table_into_model_folder": ("convert to-table", _same(("ckpt",), lambda f, c: ["convert", "to-table", c["ckpt"], "-o", f])),
    "to-pynn_onto_model": ("convert to-pynn", _same(("ckpt",), lambda f, c: ["convert", "to-pynn", c["ckpt"], "-o", c["ckpt"]])),
    "to-xylo_into_model_folder": ("convert to-xylo", _same(("dkn",), lambda f, c: ["convert", "to-xylo", c["dkn"], "-o", f])),
    "to-onnx_onto_model": ("convert to-onnx", _same(("ckpt",), lambda f, c: ["convert", "to-onnx", c["ckpt"], "-o", c["ckpt"]])),
    "to-netx_report_onto_model": ("convert to-netx", _same(("ckpt",), lambda f, c: ["convert", "to-netx", c["ckpt"], "-o", f / "n.h5", "--report", c["ckpt"]])),
    "report_onto_model": ("convert report", _same(("dkn",), lambda f, c: ["convert", "report", c["dkn"], "-o", c["dkn"]])),
    "map_json_onto_model": ("targets map", _same(("dkn",), lambda f, c: ["targets", "map", c["dkn"], "--target", "xylo", "--json", c["dkn"]])),
    "map_json_onto_profile": ("targets map", _same(("dkn", "profile"), lambda f, c: ["targets", "map", c["dkn"], "--target", c["profile"], "--json", c["profile"]])),
    "realize_json_onto_data": ("targets realize", _same(("dkn", "spikes"), lambda f, c: ["targets", "realize", c["dkn"], "--target", "xylo", "--method", "relay", "--data", c["spikes"], "--json", c["spikes"]])),
    "realize_out_equals_json": ("targets realize", _same(("dkn",), lambda f, c: ["targets", "realize", c["dkn"], "--target", "xylo", "--method", "relay", "-o", f / "x.dkn", "--json", f / "x.dkn"])),
    "realize_default_out_onto_table": ("targets realize", _same(("table",), lambda f, c: ["targets", "realize", c["table"], "--target", "xylo", "--method", "relay", "-o", c["table"]])),
    "encode_plot_onto_wav": ("data encode-audio", _same(("wav",), lambda f, c: ["data", "encode-audio", c["wav"], "--out", f / "o.h5", "--plot", c["wav"]])),
    "encode_out_equals_plot": ("data encode-audio", _same(("wav",), lambda f, c: ["data", "encode-audio", c["wav"], "--out", f / "o.h5", "--plot", f / "o.h5"])),
    "encode_out_onto_labels": ("data encode-audio", cmd(("wav",), lambda f, c: ["data", "encode-audio", "--labels", f / "l.csv", "--out", f / "l.csv"], lambda f: [_labels(f, "path,label\ntone.wav,a\n")])),
    "demo_out_onto_config": ("demo", _same(("config",), lambda f, c: ["demo", "--out", c["config"], "--config", c["config"]])),
    "train_out_onto_init": ("train", _same(("config", "ckpt"), lambda f, c: ["train", "--config", c["config"], "--data-dir", "nodata", "--out", c["ckpt"], "--init", c["ckpt"], "--finetune"])),
    "shd_estimate_readme_folder": ("targets shd-estimate", cmd((), lambda f, c: ["targets", "shd-estimate", "--update-readme", f])),
    "shd_estimate_no_markers": ("targets shd-estimate", cmd((), lambda f, c: ["targets", "shd-estimate", "--update-readme", f / "R.md"], lambda f: [_labels(f, "# no markers\n", "R.md")])),
    "shd_estimate_missing": ("targets shd-estimate", cmd((), lambda f, c: ["targets", "shd-estimate", "--update-readme", f / "R.md"])),
}  # fmt: skip


def _labels(folder: Path, text: str, name: str = "l.csv") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def alias_mutants() -> list[Mutant]:
    return [Mutant(f"alias/{n}", sub, b) for n, (sub, b) in ALIASES.items()]


# ---- flags of the commands without file mutants -----------------------------------------


def _flags(sub: str, kinds: tuple[str, ...], head: Argv, cases: dict[str, list[str]]) -> list[Mutant]:
    def one(extra: list[str]) -> Build:
        return cmd(kinds, lambda f, c: [*head(f, c), *extra])

    return [Mutant(f"flags/{sub.split()[-1]}:{n}", sub, one(extra)) for n, extra in cases.items()]


_EXPORT_FLAGS = {
    "bits_1": ["--bits", "1"],
    "bits_64": ["--bits", "64"],
    "bits_text": ["--bits", "eight"],
    "window_negative": ["--window-steps", "-1"],
    "unknown_target": ["--target", "nope"],
    "target_garbage_file": ["--target", "missing.toml"],
    "unknown_readout": ["--readout", "vote"],
    "refcode_group_0": ["--reference-code", "--channel-group", "0"],
    "refcode_dt_inf": ["--reference-code", "--dt-ms", "inf"],
}


def export_flag_mutants() -> list[Mutant]:
    out = []
    for verb in ("to-table", "to-pynn", "to-netx", "to-onnx", "to-xylo", "report"):
        out += _flags(
            f"convert {verb}",
            ("ckpt",),
            lambda f, c, verb=verb: ["convert", verb, c["ckpt"], "-o", f / "o"],
            _EXPORT_FLAGS,
        )
    out += _flags("convert to-table", ("ckpt",), lambda f, c: ["convert", "to-table", c["ckpt"], "-o", f / "o"],
                  {"format_bogus": ["--format", "xlsx"]})  # fmt: skip
    out += _flags("convert to-onnx", ("ckpt",), lambda f, c: ["convert", "to-onnx", c["ckpt"], "-o", f / "o"],
                  {"dtype_bogus": ["--dtype", "float8"]})  # fmt: skip
    out += _flags("convert to-xylo", ("ckpt",), lambda f, c: ["convert", "to-xylo", c["ckpt"], "-o", f / "o"],
                  {"float_weights": [], "target_loihi2": ["--target", "loihi2", "--bits", "8"], "value_reset": ["--bits", "8"]})  # fmt: skip
    return out


def target_flag_mutants() -> list[Mutant]:
    def tmap(f: Path, c: dict[str, Path]) -> list[Any]:
        return ["targets", "map", c["dkn"]]

    def real(f: Path, c: dict[str, Path]) -> list[Any]:
        return ["targets", "realize", c["dkn"], "-o", f / "r.dkn"]

    out = _flags("targets map", ("dkn",), tmap, {
        "no_target": [],
        "rows_0": ["--target", "xylo", "--rows", "0"],
        "rows_negative": ["--target", "xylo", "--rows", "-5"],
        "method_bogus": ["--target", "xylo", "--method", "wire"],
        "unknown_target": ["--target", "nope"],
        "set_unknown": ["--target", "xylo", "--set", "wobble=1"],
        "set_no_equals": ["--target", "xylo", "--set", "delay_max_steps"],
        "set_neurons_0": ["--target", "xylo", "--set", "neurons_per_core=0"],
        "set_neurons_nan": ["--target", "xylo", "--set", "neurons_per_core=nan"],
        "dt_nan": ["--target", "xylo", "--dt-ms", "nan"],
    })  # fmt: skip
    out += _flags("targets realize", ("dkn",), real, {
        "no_method": ["--target", "xylo"],
        "verify_negative": ["--target", "xylo", "--method", "relay", "--verify", "-1"],
        "verify_huge": ["--target", "xylo", "--method", "relay", "--verify", "100000000"],
        "seed_negative": ["--target", "xylo", "--method", "relay", "--seed", "-1"],
        "engine_bogus": ["--target", "xylo", "--method", "relay", "--engine", "gpu"],
        "unknown_target": ["--target", "nope", "--method", "relay"],
        "data_missing": ["--target", "xylo", "--method", "relay", "--data", "missing.h5"],
        "set_delay_nan": ["--target", "xylo", "--method", "relay", "--set", "delay_max_steps=nan"],
        "set_neurons_negative": ["--target", "xylo", "--method", "relay", "--set", "neurons_per_core=-1"],
    })  # fmt: skip
    out += _flags("targets list", (), lambda f, c: ["targets", "list"], {"unknown_flag": ["--yaml"]})
    out += _flags(
        "targets shd-estimate",
        (),
        lambda f, c: ["targets", "shd-estimate"],
        {"unknown_flag": ["--seed", "1"]},
    )
    out += _flags("targets show", (), lambda f, c: ["targets", "show"], {
        "unknown": ["nope"], "no_name": [], "set_bits_text": ["loihi2", "--set", "weight_bits=eight"],
    })  # fmt: skip
    return out


def model_kind_mutants() -> list[Mutant]:
    """A model path that is not a model: a spike file, a WAV, a folder, a missing file."""
    cases = {
        "spike_file": ("spikes", lambda c: c["spikes"]),
        "wav": ("wav", lambda c: c["wav"]),
        "empty_folder": ((), None),
        "missing": ((), "missing.dkn"),
    }
    heads: dict[str, Callable[[Path, Any], list[Any]]] = {
        "convert to-xylo": lambda f, m: ["convert", "to-xylo", m, "-o", f / "x", "--bits", "8"],
        "convert report": lambda f, m: ["convert", "report", m, "-o", f / "r.json"],
        "targets map": lambda f, m: ["targets", "map", m, "--target", "xylo"],
        "targets realize": lambda f, m: ["targets", "realize", m, "--target", "xylo", "--method", "relay", "-o", f / "r.dkn"],
    }  # fmt: skip
    out = []
    for sub, head in heads.items():
        for n, (kind, pick) in cases.items():

            def argv(f: Path, c: dict[str, Path], head: Any = head, pick: Any = pick) -> list[Any]:
                if pick is None:
                    (f / "empty").mkdir()
                    return head(f, f / "empty")
                return head(f, pick(c) if callable(pick) else f / pick)

            out.append(Mutant(f"model/{sub.split()[-1]}:{n}", sub, cmd((kind,) if kind else (), argv)))
    return out


def dkn_through_exports() -> list[Mutant]:
    """Every .dkn mutant through the exports and target tools (slow: the same mutants are fast
    in info/sim/check/to-nir)."""
    heads: dict[str, Callable[[Path, Path], list[Any]]] = {
        "convert to-table": lambda f, p: ["convert", "to-table", p, "-o", f / "t"],
        "convert to-onnx": lambda f, p: ["convert", "to-onnx", p, "-o", f / "o.onnx"],
        "convert to-netx": lambda f, p: ["convert", "to-netx", p, "-o", f / "n.h5"],
        "convert to-pynn": lambda f, p: ["convert", "to-pynn", p, "-o", f / "p"],
        "convert to-xylo": lambda f, p: ["convert", "to-xylo", p, "-o", f / "x", "--bits", "8"],
        "convert report": lambda f, p: ["convert", "report", p, "-o", f / "r.json"],
        "targets map": lambda f, p: ["targets", "map", p, "--target", "xylo"],
        "targets realize": lambda f, p: ["targets", "realize", p, "--target", "xylo", "--method", "relay", "-o", f / "r.dkn"],
    }  # fmt: skip
    out = []
    for name, make in DKN_MUTANTS.items():
        for sub, head in heads.items():

            def build(
                folder: Path, inp: dict[str, Path], make: Any = make, head: Any = head
            ) -> tuple[list[str], list[Path]]:
                p = make(folder, inp)
                return [str(a) for a in head(folder, p)], [p]

            out.append(Mutant(f"dkn/{name}", sub, build, slow=True))
    for name, make_spikes in SPIKE_MUTANTS.items():

        def realize(
            folder: Path, inp: dict[str, Path], make: Any = make_spikes
        ) -> tuple[list[str], list[Path]]:
            net, data = copy_input(inp["dkn"], folder), make(folder)
            argv = [
                "targets",
                "realize",
                net,
                "--target",
                "xylo",
                "--method",
                "relay",
                "--data",
                data,
                "-o",
                folder / "r.dkn",
            ]
            return [str(a) for a in argv], [net, data]

        out.append(Mutant(f"spikes/{name}", "targets realize", realize, slow=True))
    return out


def valid_runs() -> list[Mutant]:
    """Valid input through each new subcommand: exit 0 (or 1, a negative verdict)."""
    ok: dict[str, tuple[tuple[str, ...], Argv]] = {
        "convert to-table": (("dkn",), lambda f, c: ["convert", "to-table", c["dkn"], "-o", f / "t"]),
        "convert to-pynn": (("dkn",), lambda f, c: ["convert", "to-pynn", c["dkn"], "-o", f / "p"]),
        "convert to-netx": (("dkn",), lambda f, c: ["convert", "to-netx", c["dkn"], "-o", f / "n.h5"]),
        "convert to-onnx": (("dkn",), lambda f, c: ["convert", "to-onnx", c["dkn"], "-o", f / "o.onnx"]),
        "convert report": (("dkn",), lambda f, c: ["convert", "report", c["dkn"], "-o", f / "r.json"]),
        "targets list": ((), lambda f, c: ["targets", "list", "--json"]),
        "targets map": (("table",), lambda f, c: ["targets", "map", c["table"], "--target", "xylo", "--json", f / "m.json"]),
        "targets realize": (("dkn", "spikes"), lambda f, c: ["targets", "realize", c["dkn"], "--target", "xylo", "--method", "relay", "--data", c["spikes"], "-o", f / "r.dkn"]),
        "targets shd-estimate": ((), lambda f, c: ["targets", "shd-estimate", "--json"]),
    }  # fmt: skip
    return [Mutant(f"valid/{sub.split()[-1]}", sub, cmd(k, a), expect=0) for sub, (k, a) in ok.items()]


#: the flags that read other tools' NIR graphs (``sim``/``convert VERB`` ``--from``), on
#: delaykit's own graph: unknown tools and steps, options that need ``--from``, a step that
#: contradicts the graph's metadata
_FROM_FLAGS = {
    "from_unknown_tool": ["--from", "pytorch"],
    "from_dt_negative": ["--from", "norse", "--dt-ms", "-1"],
    "from_dt_zero": ["--from", "spikingjelly", "--dt-ms", "0"],
    "from_dt_nan": ["--from", "norse", "--dt-ms", "nan"],
    "from_dt_text": ["--from", "norse", "--dt-ms", "fast"],
    "from_without_dt": ["--from", "norse"],
    "from_dt_contradicts_graph": ["--from", "snntorch", "--reset", "zero"],
    "reset_without_from": ["--reset", "zero"],
    "one_spike_without_from": ["--one-spike-per-step"],
    "reset_bogus": ["--from", "sinabs", "--reset", "half"],
}


def new_flag_mutants() -> list[Mutant]:
    """The flags added after the first fuzz round: ``--from``/``--dt-ms``/``--reset``/
    ``--one-spike-per-step`` on ``sim`` and ``convert``, ``data synth --preset/--channels``,
    ``data spoken-digits --compact-labels``, ``demo --target``."""
    out = _flags("sim", ("nir", "spikes"), lambda f, c: ["sim", c["nir"], "--data", c["spikes"]], _FROM_FLAGS)
    out += _flags("convert to-table", ("nir",), lambda f, c: ["convert", "to-table", c["nir"], "-o", f / "t"],
                  {k: _FROM_FLAGS[k] for k in ("from_dt_nan", "from_unknown_tool", "reset_without_from")})  # fmt: skip
    synth = {
        "preset_bogus": ["--preset", "bogus"],
        "channels_0": ["--channels", "0"],
        "channels_negative": ["--channels", "-3"],
        "channels_text": ["--channels", "many"],
        "channels_below_active": ["--preset", "xylo", "--channels", "3"],
        "channel_1_xylo": ["--preset", "xylo", "--channels", "1"],
        "classes_1_xylo": ["--preset", "xylo", "--classes", "1"],
    }
    out += _flags(
        "data synth",
        (),
        lambda f, c: ["data", "synth", "--out", f / "o", "--train", "4", "--test", "4"],
        synth,
    )
    out += _flags("data spoken-digits", (), lambda f, c: ["data", "spoken-digits", "--out", f / "sd", "--voices", "2", "--no-progress"],
                  {"compact_repeated_class": ["--compact-labels", "--classes", "9,9"]})  # fmt: skip
    demo = {
        "target_bogus": ["--target", "nope"],
        "xylo_voices_0": ["--target", "xylo", "--dataset", "spoken-digits", "--voices", "0"],
        "xylo_bits_3": ["--target", "xylo", "--bits", "3"],
    }
    out += _flags("demo", (), lambda f, c: ["demo", "--out", f / "run"], demo)
    return out
