"""``python -m delaykit.sim.brian2_cli``: cross-check delaykit's simulator with Brian2.

Two commands:

* ``check MODEL --data TEST.h5 [--samples N] [--brian2-python PATH]`` -- in delaykit's
  environment: exports the table (or takes a table directory), bins the samples, runs
  ``run`` in the Brian2 environment and compares with both delaykit engines
  (:func:`delaykit.sim.brian2_check.cross_check`); exit 0 when identical, 1 when not, 2 on
  bad input.
* ``run TABLE_DIR FRAMES.npz OUT.npz [--latency N]`` -- simulate a table in Brian2. The
  check runs it as ``python sim/brian2_run.py run ...`` in Brian2's own environment, where
  delaykit need not be installed (:mod:`delaykit.sim.brian2_run`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.loading import load_model
from delaykit.network.reading import XYLO_FIX, xylo_reading, xylo_refusal
from delaykit.sim.brian2_check import BRIAN2_PYTHON_ENV, DEFAULT_BRIAN2_PYTHON, CrossCheck, cross_check
from delaykit.sim.brian2_run import add_run_arguments, run_command


def _check(args: argparse.Namespace) -> CrossCheck:
    """Load MODEL, bin the first samples of --data and cross-check them."""
    p = Path(args.model)
    try:
        net = load_model(p, dt=args.dt)
    except DelaykitError as e:
        if args.dt is None and "pass dt" in str(e):  # the library names its parameter
            raise DelaykitError(f"{e}; give the step with --dt (seconds)") from None
        raise
    field = xylo_reading(net.metadata)
    if field is not None:
        raise xylo_refusal(args.model, field, "the Brian2 cross-check", XYLO_FIX)
    model = p if (p.is_dir() or p.name == "manifest.json") else net  # a table is used as it is
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    data = SHDFile(Path(args.data), spec)
    samples = [data[i][0] for i in range(min(args.samples, len(data)))]
    return cross_check(model, samples, brian2_python=args.brian2_python, layer_latency_steps=args.latency)


def _check_command(args: argparse.Namespace) -> int:
    try:
        res = _check(args)
    except DelaykitError as e:
        print(f"brian2_check: error: {e}", file=sys.stderr)
        return 2
    verdict = "IDENTICAL" if res.identical else "DIFFERENT"
    print(
        f"Brian2 vs delaykit (event and reference engines, float64) on {res.n_samples} samples: {verdict}; "
        f"spikes per layer {res.spikes_per_layer}, max output difference {res.max_output_difference:g}, "
        f"Brian2 {res.brian2_seconds:.1f} s"
    )
    for m in res.mismatches[:10]:
        print("  " + m)
    if args.json:
        write_text_atomic(args.json, json.dumps(res.to_dict(), indent=1))
    return 0 if res.identical else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m delaykit.sim.brian2_cli", description="Cross-check delaykit's simulator with Brian2."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="(Brian2 environment) simulate a table directory's network")
    add_run_arguments(r)
    r.set_defaults(func=run_command)
    c = sub.add_parser("check", help="(delaykit environment) compare Brian2 with delaykit's simulator")
    c.add_argument("model", help="deployed network (.dkn), NIR graph (.nir) or table directory")
    c.add_argument("--data", required=True, help="SHD-schema file to take samples from")
    c.add_argument("--samples", type=int, default=5)
    c.add_argument("--latency", type=int, default=0)
    c.add_argument("--dt", type=float, help="step (s) for a NIR graph without delaykit metadata")
    c.add_argument(
        "--brian2-python",
        help=f"python with brian2 (default ${BRIAN2_PYTHON_ENV} or {DEFAULT_BRIAN2_PYTHON})",
    )
    c.add_argument("--json", help="write the result here")
    c.set_defaults(func=_check_command)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
