"""``delaykit data encode-audio`` and ``delaykit data spoken-digits`` (imports fast: no scipy, no torch)."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import numpy as np

from delaykit.cli.flags import flag_error, require_workers
from delaykit.data.audio import CochleaConfig
from delaykit.data.audio_corpus import AudioItem, encode_files_to_shd, plot_samples
from delaykit.data.spoken_digits import SHD_CLASS_NAMES, SpokenDigitsConfig, write_spoken_digits
from delaykit.errors import DelaykitError
from delaykit.outputs import output_set

#: (file, label name, speaker name or None) per clip, as read from the command line.
Row = tuple[Path, str, str | None]

#: The CochleaConfig field each ``encode-audio`` flag sets.
_COCHLEA_FLAGS = {
    "n_channels": "--channels",
    "f_min": "--f-min",
    "f_max": "--f-max",
    "normalize_dbfs": "--normalize-dbfs",
}
#: The SpokenDigitsConfig field each ``spoken-digits`` (and ``demo``) flag sets.
_SPOKEN_FLAGS = {
    "n_voices": "--voices",
    "repeats": "--repeats",
    "test_fraction": "--test-fraction",
    "labels": "--classes",
    "seed": "--seed",
}

AUDIO_SUFFIXES = (".wav",)


def register_data(dsub: argparse._SubParsersAction) -> None:
    """Add the audio verbs to ``delaykit data``."""
    _add_encode_audio(dsub)
    _add_spoken_digits(dsub)


def _add_encode_audio(dsub: argparse._SubParsersAction) -> None:
    e = dsub.add_parser(
        "encode-audio",
        help="encode WAV files into SHD-schema spikes with a cochlear front end",
        description="Encode WAV clips into one SHD-schema HDF5 file (700 gammatone channels, "
        "hair cell, adaptive LIF; see delaykit.data.audio). Labels come from a CSV (--labels) or "
        "from each file's folder name.",
    )
    e.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="WAV files or folders (searched recursively for *.wav); may be omitted with --labels",
    )
    e.add_argument("--out", required=True, help="output .h5 file")
    e.add_argument(
        "--labels",
        metavar="CSV",
        help="CSV with a header: columns 'path' (relative to the CSV) and 'label', optional "
        "'speaker'. Default: the label is the name of the folder holding each file",
    )
    e.add_argument(
        "--classes",
        metavar="A,B,...",
        help="class names in label order (written to extra/keys); default: sorted label names",
    )
    e.add_argument(
        "--speaker-pattern",
        metavar="REGEX",
        help="take the speaker from the file name: the first group of this regex, e.g. "
        "'^([0-9a-f]+)_nohash' for Google Speech Commands",
    )
    e.add_argument(
        "--speakers",
        metavar="CSV",
        help="per-speaker metadata CSV: column 'speaker' and any of gender, age, body_height "
        "(written to extra/meta_info like SHD)",
    )
    e.add_argument(
        "--window-s",
        type=float,
        help="fixed window per sample in seconds (default: the longest clip, rounded up to 10 ms)",
    )
    e.add_argument(
        "--normalize-dbfs",
        type=float,
        help="scale every clip to this RMS level in dB re full scale (default: keep levels)",
    )
    e.add_argument("--channels", type=int, default=700, help="cochlear channels (default 700)")
    e.add_argument("--f-min", type=float, default=100.0, help="lowest centre frequency in Hz (default 100)")
    e.add_argument(
        "--f-max", type=float, default=7000.0, help="highest centre frequency in Hz (default 7000)"
    )
    e.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    e.add_argument("--plot", metavar="PNG", help="also draw rasters and frames of a few samples")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=_encode_audio)


def _add_spoken_digits(dsub: argparse._SubParsersAction) -> None:
    s = dsub.add_parser(
        "spoken-digits",
        help="synthesize SHD's 20 spoken digits with espeak-ng and encode them",
        description="Speak the digits zero..nine in English and German (SHD's 20 classes and label "
        "order) with many espeak-ng voice variants, speeds and pitches, split by voice into "
        "spoken_digits_train.h5 / spoken_digits_test.h5 (SHD schema). Needs espeak-ng.",
    )
    s.add_argument("--out", default="data/spoken_digits", help="output folder (default: data/spoken_digits)")
    s.add_argument("--voices", type=int, default=None, help="number of synthetic speakers (default 24)")
    s.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="utterances per word and voice, each with jittered speed/pitch/level (default 1; "
        "the acceptance run uses --voices 32 --repeats 2)",
    )
    s.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="fraction of voices held out for the test file (default 0.25)",
    )
    s.add_argument(
        "--classes",
        metavar="C,C,...",
        help="only these classes, as SHD labels or names, e.g. '0,1,2' or 'zero,null' "
        "(default: all 20; labels keep SHD's numbering)",
    )
    s.add_argument(
        "--compact-labels",
        action="store_true",
        help="number the chosen classes 0..n-1 in --classes order and name only them (an 8-word set "
        "for Xylo: --classes 0,1,2,3,4,5,6,7 --compact-labels)",
    )
    s.add_argument("--seed", type=int, default=0, help="seed for voices and jitter (default 0)")
    s.add_argument("--keep-wavs", action="store_true", help="also write the WAVs under OUT/wav/")
    s.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    s.add_argument("--plot", metavar="PNG", help="also draw rasters and frames of a few training samples")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_spoken_digits)


# -- encode-audio -----------------------------------------------------------------------------


def find_audio(inputs: list[str]) -> list[Path]:
    """WAV files named directly or found recursively in folders, in a stable order."""
    files: list[Path] = []
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise DelaykitError(f"{p}: folder holds no .wav files")
            files.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in AUDIO_SUFFIXES:
                raise DelaykitError(
                    f"{p}: not a .wav file; convert it first, e.g. ffmpeg -i {p.name} {p.stem}.wav"
                )
            files.append(p)
        else:
            raise DelaykitError(f"{p}: no such file or folder")
    return files


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DelaykitError(f"{path}: no such CSV file")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in fields]
            if missing:
                raise DelaykitError(
                    f"{path}: CSV header lacks column(s) {', '.join(missing)} "
                    f"(found {', '.join(fields) or 'no header'}); add a header row"
                )
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DelaykitError(f"{path}: not a readable UTF-8 CSV file ({e})") from None


def _ids(names: list[str]) -> tuple[list[int], list[str] | None]:
    """Map names to ids: integers stay themselves, anything else gets sorted-order ids."""
    try:
        ints = [int(n) for n in names]
        if min(ints) >= 0:
            return ints, None
    except ValueError:
        pass
    order = sorted(set(names))
    index = {n: i for i, n in enumerate(order)}
    return [index[n] for n in names], order


def _rows_from_csv(csv_path: Path, inputs: list[str]) -> list[Row]:
    """Rows for the files of a labels CSV (all of them, or only ``inputs`` when given)."""
    by_path: dict[Path, dict[str, str]] = {}
    for i, r in enumerate(_read_csv(csv_path, ("path", "label")), start=2):
        if not r.get("path") or r.get("label", "") == "":
            raise DelaykitError(f"{csv_path}: line {i}: empty 'path' or 'label'")
        p = Path(r["path"])
        p = p if p.is_absolute() else csv_path.parent / p
        by_path[p.resolve()] = r
    files = find_audio(inputs) if inputs else list(by_path)
    if not files:
        raise DelaykitError(f"{csv_path}: lists no audio files; add rows 'path,label'")
    rows: list[Row] = []
    for f in files:
        row = by_path.get(f.resolve())
        if row is None:
            raise DelaykitError(f"{f}: not listed in {csv_path}; add a row 'path,label' for it")
        rows.append((f, row["label"], row.get("speaker") or None))
    return rows


def _rows_from_folders(inputs: list[str]) -> list[Row]:
    """Rows for WAV files and folders; the label is the name of each file's folder."""
    if not inputs:
        raise DelaykitError("encode-audio: give WAV files or folders, or a --labels CSV")
    return [(f, f.parent.name, None) for f in find_audio(inputs)]


def _speakers_from_names(rows: list[Row], pattern: str) -> list[Row]:
    """Rows with the speaker taken from each file name by ``--speaker-pattern``."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise DelaykitError(f"--speaker-pattern: not a valid regular expression ({e})") from None
    out: list[Row] = []
    for f, lab, _ in rows:
        m = rx.search(f.name)
        if not m:
            raise DelaykitError(f"{f}: file name does not match --speaker-pattern {pattern!r}")
        out.append((f, lab, m.group(1) if m.groups() else m.group(0)))
    return out


def _label_ids(label_names: list[str], classes_arg: str | None) -> tuple[list[int], list[str] | None]:
    """Label ids and class names: by ``--classes`` order when given, else :func:`_ids`."""
    if not classes_arg:
        labels, classes = _ids(label_names)
    else:
        classes = [c.strip() for c in classes_arg.split(",") if c.strip()]
        labels = _labels_in(label_names, classes)
    if max(labels) > 65535:
        raise DelaykitError("encode-audio: labels must be < 65536 (stored as uint16 like SHD)")
    return labels, classes


def _labels_in(label_names: list[str], classes: list[str]) -> list[int]:
    """Each label's index in ``classes``; integer labels index the class list directly."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(label_names) - set(index))
    if not unknown:
        return [index[n] for n in label_names]
    try:
        labels = [int(n) for n in label_names]
        if min(labels) < 0 or max(labels) >= len(classes):
            raise ValueError
    except ValueError:
        raise DelaykitError(
            f"--classes: label(s) {', '.join(unknown[:5])} not among the {len(classes)} class names given"
        ) from None
    return labels


def _speaker_ids(rows: list[Row], speakers_csv: str | None) -> tuple[list[int | None], dict | None]:
    """Speaker id per row (all None without speakers) and the extra/meta_info arrays."""
    names = [s for _, _, s in rows]
    if all(s is None for s in names):
        if speakers_csv:
            raise DelaykitError(
                "--speakers: no speaker per file; add a 'speaker' column to the labels CSV "
                "or use --speaker-pattern"
            )
        return [None] * len(rows), None
    if any(s is None for s in names):
        missing = [str(f) for (f, _, s) in rows if s is None][:3]
        raise DelaykitError(
            f"encode-audio: no speaker for {', '.join(missing)}; fill the 'speaker' column for every file"
        )
    ids, order = _ids([str(s) for s in names])
    spk_names = order if order is not None else [str(i) for i in range(max(ids) + 1)]
    meta: dict[str, np.ndarray] = {"name": np.array([n.encode() for n in spk_names])}
    if speakers_csv:
        meta.update(_speaker_meta(Path(speakers_csv), spk_names))
    return list(ids), meta


def build_items(args: argparse.Namespace) -> tuple[list[AudioItem], list[str] | None, dict | None]:
    """Files, labels and speakers from the command line: (items, class names, meta_info)."""
    rows = _rows_from_csv(Path(args.labels), args.inputs) if args.labels else _rows_from_folders(args.inputs)
    if args.speaker_pattern:
        rows = _speakers_from_names(rows, args.speaker_pattern)
    labels, classes = _label_ids([lab for _, lab, _ in rows], args.classes)
    speakers, meta = _speaker_ids(rows, args.speakers)
    items = [AudioItem(f, lab, spk) for (f, _, _), lab, spk in zip(rows, labels, speakers, strict=True)]
    return items, classes, meta


def _speaker_meta(path: Path, names: list[str]) -> dict:
    """extra/meta_info arrays indexed by speaker id: gender (bytes), age (int), body_height (float)."""
    table = {r["speaker"]: r for r in _read_csv(path, ("speaker",))}
    gender = [table.get(n, {}).get("gender", "").encode() for n in names]
    age, height = [], []
    for n in names:
        r = table.get(n, {})
        try:
            age.append(int(r["age"]) if r.get("age") else -1)
            height.append(float(r["body_height"]) if r.get("body_height") else float("nan"))
        except ValueError:
            raise DelaykitError(
                f"{path}: speaker {n}: 'age' must be an integer and 'body_height' a number"
            ) from None
    return {
        "gender": np.array(gender),
        "age": np.array(age, dtype=np.int64),
        "body_height": np.array(height, dtype=np.float64),
    }


def _encode_audio(args: argparse.Namespace) -> int:
    try:
        cfg = CochleaConfig(
            n_channels=args.channels, f_min=args.f_min, f_max=args.f_max, normalize_dbfs=args.normalize_dbfs
        )
    except ValueError as e:
        raise flag_error(e, _COCHLEA_FLAGS) from None
    require_workers(args.workers)
    if args.window_s is not None and not args.window_s > 0:
        raise DelaykitError(f"--window-s: must be a positive number of seconds, got {args.window_s}")
    items, classes, meta = build_items(args)
    with output_set() as outs:  # the file and its --plot appear together, or neither
        stats = encode_files_to_shd(
            items,
            outs.file(args.out),
            cfg=cfg,
            class_names=classes,
            meta_info=meta,
            window_s=args.window_s,
            workers=args.workers,
            progress=not args.no_progress,
        )
        if args.plot:
            plot_samples(stats.path, outs.file(args.plot))
    n_classes = len(classes) if classes else len({it.label for it in items})
    print(
        f"wrote {args.out}: {stats.n_samples} samples, {n_classes} classes, window {stats.window_s:.2f} s, "
        f"{stats.spikes_per_sample:.0f} spikes/sample, {stats.total_audio_s:.1f} s of audio in "
        f"{stats.wall_s:.1f} s"
    )
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


# -- spoken-digits ----------------------------------------------------------------------------


def _digit_labels(classes_arg: str) -> tuple[int, ...]:
    """SHD labels from ``--classes`` ('0,1,2' or names such as 'zero,null')."""
    labels = []
    for c in (c.strip() for c in classes_arg.split(",") if c.strip()):
        if c.isdigit():
            labels.append(int(c))
        elif c in SHD_CLASS_NAMES:
            labels.append(SHD_CLASS_NAMES.index(c))
        else:
            raise DelaykitError(
                f"--classes: {c!r} is neither an SHD label 0..19 nor one of {', '.join(SHD_CLASS_NAMES)}"
            )
    return tuple(labels)


def spoken_digits_config(
    *,
    voices: int | None = None,
    repeats: int | None = None,
    test_fraction: float | None = None,
    classes: str | None = None,
    seed: int = 0,
    compact_labels: bool = False,
) -> SpokenDigitsConfig:
    """The spoken-digit set for these command-line values (None: the default); errors name the flag."""
    kw: dict = {
        k: v
        for k, v in (("n_voices", voices), ("repeats", repeats), ("test_fraction", test_fraction))
        if v is not None
    }
    if classes is not None:  # '' is no class at all, not the default (every class)
        kw["labels"] = _digit_labels(classes)
    try:
        return SpokenDigitsConfig(seed=seed, compact_labels=compact_labels, **kw)
    except ValueError as e:
        raise flag_error(e, _SPOKEN_FLAGS) from None


def _spoken_digits(args: argparse.Namespace) -> int:
    cfg = spoken_digits_config(
        voices=args.voices,
        repeats=args.repeats,
        test_fraction=args.test_fraction,
        classes=args.classes,
        seed=args.seed,
        compact_labels=args.compact_labels,
    )
    require_workers(args.workers)
    res = write_spoken_digits(
        args.out, cfg, workers=args.workers, keep_wavs=args.keep_wavs, progress=not args.no_progress
    )
    print(res.summary())
    if args.plot:
        print(f"wrote {plot_samples(res.train_path, args.plot)}")
    return 0
