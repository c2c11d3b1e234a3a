"""``delaykit data ...``: download, synthesize and encode SHD-schema data."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

#: Modules adding more ``delaykit data`` verbs through ``register_data(data_subparsers)``.
DATA_VERB_MODULES: tuple[str, ...] = ("delaykit.data.audio_cli",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="download, synthesize or encode SHD-schema data",
        description="Get data in the SHD HDF5 schema (spikes/times, spikes/units, labels).",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="VERB", required=True)

    d = dsub.add_parser("download", help="download SHD or SSC with md5 check and resume")
    d.add_argument("dataset", choices=["shd", "ssc"])
    d.add_argument("--dir", default="data", help="target folder (default: ./data)")
    d.add_argument("--keep-archive", action="store_true", help="keep the .gz files after extraction")
    d.set_defaults(func=_download)

    s = dsub.add_parser(
        "synth",
        help="write the synthetic delay task (the embedded default data)",
        description="Write delay_train.h5 and delay_test.h5: classes that differ only "
        "in the relative timing of the same channels' bursts.",
    )
    s.add_argument("--out", default="data/delay", help="output folder (default: data/delay)")
    s.add_argument("--train", type=int, default=2000, help="training samples (default 2000)")
    s.add_argument("--test", type=int, default=500, help="test samples (default 500)")
    s.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    s.add_argument("--active", type=int, default=8, help="informative channels (default 8)")
    s.add_argument("--slot-ms", type=float, default=20.0, help="lag between slots in ms (default 20)")
    s.add_argument("--jitter-ms", type=float, default=2.0, help="burst jitter s.d. in ms (default 2)")
    s.add_argument(
        "--background-hz", type=float, default=1.0, help="background Poisson rate per unit in Hz (default 1)"
    )
    s.add_argument("--seed", type=int, default=0, help="task and sample seed (default 0)")
    s.set_defaults(func=_synth)

    for name in DATA_VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.register_data(dsub)


def _synth(args: argparse.Namespace) -> int:
    from delaykit.data.synth import DelayTaskConfig, write_delay_task_pair
    from delaykit.errors import DelaykitError

    try:
        cfg = DelayTaskConfig(
            n_classes=args.classes,
            n_active=args.active,
            slot_ms=args.slot_ms,
            jitter_ms=args.jitter_ms,
            background_hz=args.background_hz,
        )
    except ValueError as e:
        raise DelaykitError(str(e)) from None
    train, test = write_delay_task_pair(args.out, args.train, args.test, cfg, seed=args.seed, progress=True)
    print(
        f"wrote {train} ({args.train} samples) and {test} ({args.test} samples), "
        f"{cfg.n_classes} classes, window {cfg.window_s} s"
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    from delaykit.data.download import download_dataset

    paths = download_dataset(args.dataset, Path(args.dir), keep_archive=args.keep_archive)
    for p in paths:
        print(p)
    return 0
