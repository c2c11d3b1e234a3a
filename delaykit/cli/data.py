"""``delaykit data ...``: download, synthesize and encode SHD-schema data."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import delaykit.data.audio_cli as audio_cli
from delaykit.cli.flags import flag_error
from delaykit.data.download import download_dataset
from delaykit.data.synth import PRESETS, write_delay_task_pair
from delaykit.errors import DelaykitError

#: The DelayTaskConfig field each ``delaykit data synth`` flag sets.
_SYNTH_FLAGS = {
    "n_classes": "--classes",
    "n_active": "--active",
    "slot_ms": "--slot-ms",
    "jitter_ms": "--jitter-ms",
    "background_hz": "--background-hz",
    "n_units": "--channels",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delaykit data`` and its verbs."""
    p = sub.add_parser(
        "data",
        help="download, synthesize or encode SHD-schema data",
        description="Get data in the SHD HDF5 schema (spikes/times, spikes/units, labels).",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="VERB", required=True)
    _add_download(dsub)
    _add_synth(dsub)
    audio_cli.register_data(dsub)


def _add_download(dsub: argparse._SubParsersAction) -> None:
    d = dsub.add_parser("download", help="download SHD or SSC with md5 check and resume")
    d.add_argument("dataset", choices=["shd", "ssc"])
    d.add_argument("--dir", default="data", help="target folder (default: ./data)")
    d.add_argument("--keep-archive", action="store_true", help="keep the .gz files after extraction")
    d.set_defaults(func=_download)


def _add_synth(dsub: argparse._SubParsersAction) -> None:
    s = dsub.add_parser(
        "synth",
        help="write the synthetic delay task (the embedded default data)",
        description="Write delay_train.h5 and delay_test.h5: classes that differ only "
        "in the relative timing of the same channels' bursts.",
    )
    s.add_argument("--out", default="data/delay", help="output folder (default: data/delay)")
    s.add_argument("--train", type=int, default=2000, help="training samples (default 2000)")
    s.add_argument("--test", type=int, default=500, help="test samples (default 500)")
    s.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="task preset: default (140 channels, 10 classes) or xylo (16 channels, 8 classes, 80 ms "
        "slots: fits SynSense Xylo); the flags below override it",
    )
    s.add_argument("--classes", type=int, default=None, help="number of classes (default 10)")
    s.add_argument(
        "--channels",
        type=int,
        default=None,
        help="input channels, one unit each (default 700 units / 5 = 140)",
    )
    s.add_argument("--active", type=int, default=None, help="informative channels (default 8)")
    s.add_argument("--slot-ms", type=float, default=None, help="lag between slots in ms (default 20)")
    s.add_argument("--jitter-ms", type=float, default=None, help="burst jitter s.d. in ms (default 2)")
    s.add_argument(
        "--background-hz", type=float, default=None, help="background Poisson rate per unit in Hz (default 1)"
    )
    s.add_argument("--seed", type=int, default=0, help="task and sample seed (default 0)")
    s.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    given = {
        "n_classes": args.classes,
        "n_active": args.active,
        "slot_ms": args.slot_ms,
        "jitter_ms": args.jitter_ms,
        "background_hz": args.background_hz,
    }
    if args.channels is not None:
        given.update(n_units=args.channels, channel_group=1)
        active = args.active if args.active is not None else PRESETS[args.preset].n_active
        if 1 <= args.channels < active:  # name both flags: the channels hold the informative ones
            fix = f", or --active between 2 and {args.channels}" if args.channels >= 2 else ""
            raise DelaykitError(
                f"--channels {args.channels}: fewer than the task's {active} informative channels "
                f"(--active); give --channels >= {active}{fix}"
            )
    try:
        cfg = replace(PRESETS[args.preset], **{k: v for k, v in given.items() if v is not None})
    except ValueError as e:
        raise flag_error(e, _SYNTH_FLAGS) from None
    train, test = write_delay_task_pair(args.out, args.train, args.test, cfg, seed=args.seed, progress=True)
    print(
        f"wrote {train} ({args.train} samples) and {test} ({args.test} samples), "
        f"{cfg.n_classes} classes, {cfg.n_channels} channels, window {cfg.window_s} s"
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    paths = download_dataset(args.dataset, Path(args.dir), keep_archive=args.keep_archive)
    for p in paths:
        print(p)
    return 0
