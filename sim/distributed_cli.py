"""``python -m delaykit.sim.distributed_cli``: evaluate a deployed network on a Dask cluster."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from delaykit.arithmetic import Arithmetic
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.ranges import resolve_target
from delaykit.loading import load_model
from delaykit.network.reading import XYLO_FIX, xylo_reading, xylo_refusal
from delaykit.sim.distributed import evaluate_distributed
from delaykit.sim.evaluate import ENGINES
from delaykit.sim.result import EvalResult


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m delaykit.sim.distributed_cli``: evaluate a network on a Dask cluster."""
    ap = argparse.ArgumentParser(
        prog="python -m delaykit.sim.distributed_cli",
        description="Evaluate a deployed network (.dkn or .nir) on a Dask cluster.",
    )
    ap.add_argument("model", help="deployed network (.dkn) or NIR graph (.nir)")
    ap.add_argument("--data", required=True, help="SHD-schema test file (.h5)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes when no --scheduler")
    ap.add_argument("--engine", choices=ENGINES, default="event")
    ap.add_argument("--target", help="hardware target profile for fixed-point arithmetic")
    ap.add_argument("--dt", type=float, help="step in seconds for a NIR graph without delaykit metadata")
    ap.add_argument("--limit", type=int, help="only the first N samples")
    ap.add_argument("--json", help="write the result summary here")
    args = ap.parse_args(argv)
    try:
        result = _cli_run(args)
    except DelaykitError as e:
        print(f"delaykit.sim.distributed: error: {e}", file=sys.stderr)
        return 2
    print(
        f"accuracy {result.accuracy:.2f}% on {result.n_samples} samples, {result.workers} Dask workers, "
        f"{result.wall_seconds:.2f} s"
    )
    return 0


def _cli_run(args: argparse.Namespace) -> EvalResult:
    try:
        net = load_model(args.model, dt=args.dt)
    except DelaykitError as e:
        if args.dt is None and "pass dt" in str(e):  # the library names its parameter
            raise DelaykitError(f"{e}; give the step with --dt (seconds)") from None
        raise
    field = xylo_reading(net.metadata)
    if field is not None:
        raise xylo_refusal(args.model, field, "sim-distributed", XYLO_FIX)
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    data = SHDFile(Path(args.data), spec)
    arith = Arithmetic.for_target(resolve_target(args.target)) if args.target else None
    result = evaluate_distributed(
        net, data, args.engine, arith, scheduler=args.scheduler, n_workers=args.workers, limit=args.limit
    )
    if args.json:
        write_text_atomic(args.json, json.dumps(result.to_dict(), indent=1))
    return result


if __name__ == "__main__":
    raise SystemExit(main())
