"""Hostile input for the data commands (WAV folders, label CSVs, spoken digits, download), the
demo's flags, quantized table folders, and files that would run code when loaded (pickled
checkpoints, ``!!python`` YAML): the marker such a payload writes must never appear.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fixtures import copy_input, write_float_wav, write_wav
from mutants import Build, Mutant
from mutants_cmds import cmd

# ---- WAV files and folders --------------------------------------------------------------

TONE = (8000 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)).astype(np.int16)


def _wav_raw(path: Path, channels: int, width: int, fs: int, frames: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(fs)
        w.writeframes(frames)
    return path


def _claims_more(path: Path) -> Path:
    """A WAV whose data chunk claims 2 GB but holds 3200 bytes."""
    write_wav(path, TONE)
    raw = bytearray(path.read_bytes())
    i = raw.index(b"data")
    raw[i + 4 : i + 8] = (2**31 - 2).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def _header_rate(path: Path, fs: int) -> Path:
    write_wav(path, TONE)
    raw = bytearray(path.read_bytes())
    i = raw.index(b"fmt ")
    raw[i + 12 : i + 16] = fs.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def _gsc(folder: Path, bad: Callable[[Path], Any]) -> Path:
    """A Google-Speech-Commands-style folder (label subfolders, speaker_nohash_i.wav) with one
    bad file among good ones."""
    root = folder / "gsc"
    for label in ("yes", "no"):
        (root / label).mkdir(parents=True)
        for k in range(2):
            write_wav(root / label / f"0a1b2c3d_nohash_{k}.wav", TONE)
    bad(root / "no" / "ffffffff_nohash_9.wav")
    return root


WAVS: dict[str, Callable[[Path], Path]] = {
    "stereo": lambda f: _wav_raw(f / "a.wav", 2, 2, 16000, np.repeat(TONE, 2).tobytes()),
    "8bit": lambda f: _wav_raw(f / "a.wav", 1, 1, 16000, (TONE // 256 + 128).astype(np.uint8).tobytes()),
    "24bit": lambda f: _wav_raw(f / "a.wav", 1, 3, 16000, b"\x00\x10\x00" * 1600),
    "claims_2GB": lambda f: _claims_more(f / "a.wav"),
    "rate_0_header": lambda f: _header_rate(f / "a.wav", 0),
    "rate_huge_header": lambda f: _header_rate(f / "a.wav", 2**31),
    "not_riff": lambda f: (f / "a.wav").write_bytes(b"ID3\x03" + bytes(4000)) and f / "a.wav",
    "one_sample": lambda f: write_wav(f / "a.wav", np.array([5], np.int16)),
    "float_nan_all": lambda f: write_float_wav(f / "a.wav", np.full(1600, np.nan)),
    "float_huge": lambda f: write_float_wav(f / "a.wav", np.full(1600, 3e38)),
    "gsc_nan": lambda f: _gsc(f, lambda p: write_float_wav(p, np.r_[np.zeros(800), np.nan, np.zeros(800)])),
    "gsc_inf": lambda f: _gsc(f, lambda p: write_float_wav(p, np.r_[np.zeros(800), -np.inf])),
    "gsc_empty": lambda f: _gsc(f, lambda p: write_wav(p, np.zeros(0, np.int16))),
    "gsc_truncated": lambda f: _gsc(f, lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")),
    "gsc_text": lambda f: _gsc(f, lambda p: p.write_text("hello")),
    "gsc_folder_named_wav": lambda f: _gsc(f, lambda p: p.mkdir()),
    "empty_folder": lambda f: (f / "nowavs").mkdir() or f / "nowavs",
}


def _encode(make: Callable[[Path], Path], *flags: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        src = make(folder)
        argv = ["data", "encode-audio", str(src), "--out", str(folder / "o.h5"), "--no-progress", *flags]
        return argv, [src]

    return build


def _tone(f: Path) -> Path:
    return write_wav(f / "tone.wav", TONE)


def _labelled(text: str, *flags: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        _tone(folder)
        lab = folder / "labels.csv"
        lab.write_text(text)
        argv = [
            "data",
            "encode-audio",
            "--labels",
            str(lab),
            "--out",
            str(folder / "o.h5"),
            "--no-progress",
            *flags,
        ]
        return argv, [lab, folder / "tone.wav"]

    return build


ENCODE_FLAGS: dict[str, tuple[str, ...]] = {
    "window_0": ("--window-s", "0"),
    "window_nan": ("--window-s", "nan"),
    "window_huge": ("--window-s", "10000"),
    "channels_0": ("--channels", "0"),
    "channels_huge": ("--channels", "100000"),
    "f_min_0": ("--f-min", "0"),
    "f_min_above_f_max": ("--f-min", "5000", "--f-max", "1000"),
    "f_max_above_nyquist": ("--f-max", "20000"),
    "dbfs_positive": ("--normalize-dbfs", "6"),
    "workers_0": ("--workers", "0"),
    "speaker_regex_broken": ("--speaker-pattern", "(["),
    "speaker_regex_no_group": ("--speaker-pattern", "tone"),
    "speaker_regex_no_match": ("--speaker-pattern", "^(zzz)"),
    "classes_missing_label": ("--classes", "x,y"),
    "speakers_missing_csv": ("--speakers", "missing.csv"),
}

LABEL_CSVS: dict[str, str] = {
    "no_header": "tone.wav,a\n",
    "missing_file": "path,label\nmissing.wav,a\n",
    "empty_label": "path,label\ntone.wav,\n",
    "no_rows": "path,label\n",
    "escapes_folder": "path,label\n../../../../etc/hostname,a\n",
    "binary": "\x00\x01\x02\xff",
}


#: Valid, if unusual: several channels are averaged, 8/24-bit PCM and float beyond full scale
#: are read as documented (delaykit/data/audio.py), a folder named *.wav is not a WAV file.
VALID_WAVS = ("stereo", "8bit", "24bit", "one_sample", "float_huge", "gsc_folder_named_wav")
VALID_ENCODE_FLAGS = ("window_huge", "speaker_regex_no_group")


def wav_mutants() -> list[Mutant]:
    # one GSC folder through the worker pool (default --workers 2), the others in-process
    out = [
        Mutant(
            f"wav/{n}",
            "data encode-audio",
            _encode(m, *(("--workers", "1") if n.startswith("gsc_") and n != "gsc_nan" else ())),
            expect=0 if n in VALID_WAVS else 2,
        )
        for n, m in WAVS.items()
    ]
    out += [
        Mutant(
            f"flags/encode:{n}",
            "data encode-audio",
            _encode(_tone, *fl),
            expect=0 if n in VALID_ENCODE_FLAGS else 2,
        )
        for n, fl in ENCODE_FLAGS.items()
    ]
    out += [Mutant(f"labels/{n}", "data encode-audio", _labelled(t)) for n, t in LABEL_CSVS.items()]
    out.append(
        Mutant(
            "wav/no_input",
            "data encode-audio",
            lambda f, i: (["data", "encode-audio", "--out", str(f / "o.h5")], []),
        )
    )
    return out


# ---- spoken digits, download, demo ------------------------------------------------------


def _argv(*words: str) -> Build:
    return lambda f, i: ([w.replace("{f}", str(f)) for w in words], [])


SPOKEN_FLAGS: dict[str, tuple[str, ...]] = {
    "voices_0": ("--voices", "0"),
    "repeats_0": ("--repeats", "0"),
    "test_fraction_0": ("--test-fraction", "0"),
    "test_fraction_1": ("--test-fraction", "1"),
    "test_fraction_nan": ("--test-fraction", "nan"),
    "classes_99": ("--classes", "99"),
    "classes_bogus": ("--classes", "zebra"),
    "classes_empty": ("--classes", ""),
    "classes_negative": ("--classes", "-1"),
    "workers_0": ("--workers", "0"),
    "seed_negative": ("--seed", "-1"),
    "too_few_voices_to_split": ("--voices", "1", "--classes", "0"),
}

DEMO_FLAGS: dict[str, tuple[str, ...]] = {
    "bits_0": ("--bits", "0"),
    "bits_1": ("--bits", "1"),
    "unknown_target": ("--target", "nope"),
    "samples_0": ("--samples", "0", "0"),
    "samples_negative": ("--samples", "-1", "5"),
    "samples_one_number": ("--samples", "5"),
    "tolerance_nan": ("--tolerance", "nan"),
    "tolerance_negative": ("--tolerance", "-1"),
    "workers_0": ("--workers", "0"),
    "unknown_config": ("--config", "nope"),
    "missing_config_file": ("--config", "missing.toml"),
    "set_unknown_key": ("--set", "train.lr_q=1"),
    "set_lr_nan": ("--set", "train.lr_w=nan"),
    "set_epochs_0": ("--set", "train.epochs=0"),
    "dataset_bogus": ("--dataset", "mnist"),
    "spoken_voices_0": ("--dataset", "spoken-digits", "--voices", "0"),
    "data_dir_is_a_file": ("--data-dir", "{f}/afile"),
}


def _demo(*flags: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        (folder / "afile").write_text("x\n")
        argv = ["demo", "--out", str(folder / "run"), *(w.replace("{f}", str(folder)) for w in flags)]
        return argv, [folder / "afile"]

    return build


def command_flag_mutants() -> list[Mutant]:
    out = [
        Mutant(f"flags/spoken:{n}", "data spoken-digits", _argv("data", "spoken-digits", "--out", "{f}/sd", "--no-progress", *fl))
        for n, fl in SPOKEN_FLAGS.items()
    ]  # fmt: skip
    out += [Mutant(f"flags/demo:{n}", "demo", _demo(*fl)) for n, fl in DEMO_FLAGS.items()]
    out += [
        Mutant("flags/download:bogus_dataset", "data download", _argv("data", "download", "mnist", "--dir", "{f}/d")),
        Mutant("flags/download:no_dataset", "data download", _argv("data", "download", "--dir", "{f}/d")),
        Mutant("download/no_network", "data download", _argv("data", "download", "shd", "--dir", "{f}/d")),
        Mutant("download/ssc_no_network", "data download", _argv("data", "download", "ssc", "--dir", "{f}/d", "--keep-archive")),
    ]  # fmt: skip
    out.append(
        Mutant(
            "valid/spoken-digits", "data spoken-digits",
            _argv("data", "spoken-digits", "--out", "{f}/sd", "--voices", "2", "--classes", "0,1", "--no-progress"),
            expect=0, slow=True,
        )
    )  # fmt: skip
    return out


# ---- quantized table folders ------------------------------------------------------------


def _qtable(edit: Callable[[Path], None]) -> Build:
    """The quantized (int8) table folder, CSV only, edited by ``edit(folder)``, through sim."""

    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        d = copy_input(inp["qtable"], folder)
        for ext in ("parquet", "npz"):
            for p in d.glob(f"*.{ext}"):
                p.unlink()
        edit(d)
        data = copy_input(inp["spikes"], folder)
        return ["sim", str(d), "--data", str(data), "--no-progress"], [d, data]

    return build


def _cell(d: Path, table: str, column: str, value: str, row: int = 1) -> None:
    p = d / f"{table}.csv"
    lines = p.read_text().splitlines()
    cols = lines[0].split(",")
    cells = lines[row].split(",")
    cells[cols.index(column)] = value
    lines[row] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n")


def _append(d: Path, table: str, row: int, **changes: str) -> None:
    p = d / f"{table}.csv"
    lines = p.read_text().splitlines()
    cols = lines[0].split(",")
    cells = lines[row].split(",")
    for k, v in changes.items():
        cells[cols.index(k)] = v
    p.write_text("\n".join([*lines, ",".join(cells)]) + "\n")


def _manifest(d: Path, edit: Callable[[dict], None]) -> None:
    import json

    p = d / "manifest.json"
    m = json.loads(p.read_text())
    edit(m)
    p.write_text(json.dumps(m))


QTABLE: dict[str, Callable[[Path], None]] = {
    "weight_int_1000_int8": lambda d: _cell(d, "synapses", "weight_int", "1000"),
    "weight_int_-129_int8": lambda d: _cell(d, "synapses", "weight_int", "-129"),
    "weight_int_fraction": lambda d: _cell(d, "synapses", "weight_int", "3.5"),
    "duplicate_row": lambda d: _append(d, "synapses", 1),
    "duplicate_neuron_row": lambda d: _append(d, "neurons", 1),
    "row_for_layer_5": lambda d: _append(d, "synapses", 1, layer="5"),
    "neuron_row_for_layer_5": lambda d: _append(d, "neurons", 1, layer="5"),
    "weight_scale_nan": lambda d: _cell(d, "neurons", "weight_scale", "nan"),
    "weight_scale_0": lambda d: _cell(d, "neurons", "weight_scale", "0"),
    "weight_scale_negative": lambda d: _cell(d, "neurons", "weight_scale", "-0.01"),
    "weight_scale_inconsistent": lambda d: _cell(d, "neurons", "weight_scale", "0.5"),
    "weight_scale_text": lambda d: _cell(d, "neurons", "weight_scale", "big"),
    "manifest_weight_scale_nan": lambda d: _manifest(d, lambda m: m["layers"][0]["weight_scale"].__setitem__(0, float("nan"))),
    "manifest_weight_scale_0": lambda d: _manifest(d, lambda m: m["layers"][0]["weight_scale"].__setitem__(0, 0.0)),
    "manifest_weight_scale_short": lambda d: _manifest(d, lambda m: m["layers"][0].__setitem__("weight_scale", [0.1])),
    "manifest_weight_dtype_bogus": lambda d: _manifest(d, lambda m: m["layers"][0].__setitem__("weight_dtype", "int3")),
    "bias_int_out_of_range": lambda d: _cell(d, "neurons", "bias_int", "1e30"),
    "threshold_int_nan": lambda d: _cell(d, "neurons", "v_threshold_int", "nan"),
    "manifest_layers_dropped": lambda d: _manifest(d, lambda m: m.__setitem__("layers", m["layers"][:1])),
}  # fmt: skip


def qtable_mutants() -> list[Mutant]:
    return [Mutant(f"qtable/{n}", "sim", _qtable(e)) for n, e in QTABLE.items()]


# ---- files that would run code when loaded ----------------------------------------------

MARKER = "MARKER_code_ran"


class _Touch:
    """Unpickled, this object would create the file ``marker`` (pathlib.Path.touch)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.marker),))


def _pickle_payload(path: Path, marker: Path, wrap: Callable[[Any], Any] = lambda x: x) -> Path:
    """A torch.save'd file holding an object whose unpickling would create ``marker``."""
    import torch

    torch.save(wrap(_Touch(marker)), path)
    return path


def _payload(kind: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        marker = folder / MARKER
        bad = folder / "evil.pt"
        if kind == "plain":
            _pickle_payload(bad, marker)
        else:  # the payload inside a checkpoint-shaped dict
            _pickle_payload(bad, marker, lambda p: {"format": "delaykit.checkpoint", "arch": p})
        return bad, marker

    def argv_for(sub: str) -> Callable[[Path, dict[str, Path]], tuple[list[str], list[Path]]]:
        def b(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
            bad, marker = build(folder, inp)
            spikes = copy_input(inp["spikes"], folder)
            argv = {
                "convert to-dkn": ["convert", "to-dkn", bad, "-o", folder / "o.dkn"],
                "convert to-dkn --reference-code": [
                    "convert",
                    "to-dkn",
                    bad,
                    "-o",
                    folder / "o.dkn",
                    "--reference-code",
                ],
                "convert verify": ["convert", "verify", bad, spikes, "--no-progress"],
                "sim": ["sim", bad, "--data", spikes, "--no-progress"],
                "info": ["info", bad],
            }[sub]
            return [str(a) for a in argv], [bad, marker, spikes]

        return b

    return argv_for  # type: ignore[return-value]


def _train_payload(where: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        marker = folder / MARKER
        data = folder / "data"
        data.mkdir()
        for split in ("train", "test"):
            copy_input(inp["spikes"], data).rename(data / f"delay_{split}.h5")
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
        if where == "init":
            bad = _pickle_payload(folder / "evil.pt", marker)
            argv += ["--finetune", "--target", "loihi2", "--init", str(bad)]
        else:
            (folder / "run").mkdir()
            bad = _pickle_payload(folder / "run" / "resume.pt", marker, lambda p: {"state": p})
            argv += ["--resume"]
        return argv, [data, cfg, bad, marker]

    return build


YAML_PAYLOADS = {
    "yaml_python_object": "!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{m}']]\n",
    "yaml_python_name": "base: !!python/name:os.system\n",
    "yaml_in_toml_suffix": "!!python/object/apply:os.system ['touch {m}']\n",
}


def _yaml_config(name: str, text: str) -> Build:
    def build(folder: Path, inp: dict[str, Path]) -> tuple[list[str], list[Path]]:
        marker = folder / MARKER
        cfg = folder / ("cfg.toml" if "toml" in name else "cfg.yaml")
        cfg.write_text(text.replace("{m}", str(marker)))
        argv = [
            "train",
            "--config",
            str(cfg),
            "--data-dir",
            str(folder / "nodata"),
            "--out",
            str(folder / "run"),
        ]
        return argv, [cfg, marker]

    return build


def code_mutants() -> list[Mutant]:
    """Pickled objects and ``!!python`` tags never run code (the marker must stay absent)."""
    plain = _payload("plain")
    shaped = _payload("shaped")
    out = [Mutant("code/pickle_plain", sub, plain(sub)) for sub in (  # type: ignore[operator]
        "convert to-dkn", "convert verify", "sim", "info")]  # fmt: skip
    out.append(Mutant("code/pickle_refcode", "convert to-dkn", plain("convert to-dkn --reference-code")))  # type: ignore[operator]
    out.append(Mutant("code/pickle_in_checkpoint", "convert to-dkn", shaped("convert to-dkn")))  # type: ignore[operator]
    out.append(Mutant("code/pickle_init", "train", _train_payload("init")))
    out.append(Mutant("code/pickle_resume", "train", _train_payload("resume")))
    out += [Mutant(f"code/{n}", "train", _yaml_config(n, t)) for n, t in YAML_PAYLOADS.items()]
    return out


def data_mutants() -> list[Mutant]:
    return [*wav_mutants(), *command_flag_mutants(), *qtable_mutants(), *code_mutants()]


__all__ = ["cmd", "data_mutants"]
