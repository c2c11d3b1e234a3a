"""``delaykit train``: train an SNN with learned delays (imports torch only inside the handler)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from delaykit.errors import DelaykitError
from delaykit.train import config as C
from delaykit.train.cpu import passive_wait_env

EPILOG = """examples:
  delaykit data synth --out data/delay
  delaykit train --config delay-task --data-dir data/delay --out runs/delay
  delaykit train --config delay-task --data-dir data/delay --out runs/nodelay --model none
  delaykit train --config shd --data-dir data/shd --out runs/shd --set train.epochs=50 --set train.threads=2
  delaykit train --config shd --data-dir data/shd --out runs/shd --resume
  delaykit train --config delay-task --data-dir data/delay --out runs/loihi --target loihi2 --finetune
  delaykit data synth --preset xylo --out data/delay-xylo
  delaykit train --config delay-task-xylo --data-dir data/delay-xylo --out runs/xylo --target xylo
  torchrun --nproc_per_node 2 -m delaykit train --config shd --data-dir data/shd --out runs/ddp
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand to the ``delaykit`` parser."""
    p = sub.add_parser(
        "train",
        help="train an SNN with learned synaptic delays (DCLS)",
        description="Train the paper's delay SNN (Hammouamri et al. 2024). Writes OUT/model.pt, "
        "metrics.jsonl, config.toml and plots/. Every evaluation reports the accuracy with "
        "the training kernel and with rounded integer delays (deployed semantics).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        default=None,
        help="named config (shd, ssc, gsc, delay-task, delay-task-xylo, spoken-digits, tiny) or a "
        "TOML/YAML file (default: shd)",
    )
    p.add_argument("--data-dir", help="folder with *train*.h5 and *test*.h5 (or GSC audio folders)")
    p.add_argument("--out", help="run folder (created)")
    p.add_argument(
        "--model",
        choices=["learned", "random", "none"],
        help="learned delays, fixed random delays, or no delays (sets model.kind)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 --set model.hidden=[64,64]",
    )
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT/resume.pt")
    p.add_argument(
        "--target",
        help="hardware target profile (name or .toml) for --finetune; 'xylo' trains a model that fits "
        "SynSense Xylo (Xylo's neuron, <= 16 channels, <= 8 classes, relay budget; implies --finetune)",
    )
    p.add_argument(
        "--finetune",
        action="store_true",
        help="after training (or from --init), fine-tune with integer delays in the target's range "
        "and weights fake-quantized to its bit width",
    )
    p.add_argument("--init", help="start from this model.pt instead of training (with --finetune)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--show-config", action="store_true", help="print the resolved config as TOML and exit")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    extra = {}
    if args.model:
        extra["model.kind"] = args.model
    if args.epochs is not None:
        extra["train.epochs"] = args.epochs
    cfg = C.load_config(args.config, args.overrides, extra, overrides_name="--set")
    if args.show_config:
        print(C.to_toml(cfg), end="")
        return 0
    if args.target == "xylo" and not args.finetune:
        args.finetune = True  # a Xylo model is always fine-tuned: int8 weights, delays as relays
    _check_args(args)
    # OpenMP threads sleep instead of spinning while they wait: on shared cores a spinning
    # thread holds the core its partner needs (train/cpu.py); before torch starts OpenMP
    os.environ.update(passive_wait_env())
    from delaykit.train.run import train_model  # lazy: torch

    path = train_model(
        cfg,
        args.data_dir,
        args.out,
        progress=not args.no_progress,
        resume=args.resume,
        target=args.target,
        finetune=args.finetune,
        init=args.init,
    )
    if os.environ.get("RANK", "0") == "0":
        print(f"wrote {path}")
    return 0


def _check_args(args: argparse.Namespace) -> None:
    """Refuse flag combinations and missing inputs before any work (errors name the flag)."""
    if not args.data_dir or not args.out:
        raise DelaykitError("--data-dir and --out are required (or use --show-config)")
    if args.finetune and not args.target:
        raise DelaykitError("--finetune needs --target NAME, e.g. --target loihi2")
    if args.target and not args.finetune:
        raise DelaykitError(
            f"--target {args.target}: a target is used only for fine-tuning; add --finetune, "
            f"or drop --target (plain training does not depend on the target)"
        )
    if args.init and not args.finetune:
        raise DelaykitError("--init is for fine-tuning an existing model: add --finetune --target NAME")
    if not Path(args.data_dir).is_dir():
        raise DelaykitError(f"--data-dir {args.data_dir}: no such folder")
    if args.resume:
        resume_file = Path(args.out) / ("resume_finetune.pt" if args.init else "resume.pt")
        if not resume_file.exists():
            raise DelaykitError(f"--resume: {resume_file} not found; start the run without --resume")
        from delaykit.train.checkpoint import RESUME_FORMAT, load_checked  # lazy: torch

        load_checked(resume_file, RESUME_FORMAT)  # a damaged file fails before the run writes anything
