"""Delay-task acceptance: learned delays vs fixed random delays vs no delays.

Writes the delay task (2000 training / 500 test samples, seed 0) unless present, trains the
``delay-task`` config three times (``model.kind`` learned, random, none) and prints the
rounded-delay test accuracies (what the deployed network computes) and the wall times.
Acceptance: learned >= 95 %, none <= 60 %, random at most learned. Exit code 1 otherwise.

    .venv/bin/python -m delaykit.train.acceptance --out runs/acceptance

The same runs by hand::

    delaykit data synth --out data/delay
    delaykit train --config delay-task --data-dir data/delay --out runs/learned
    delaykit train --config delay-task --data-dir data/delay --out runs/random --model random
    delaykit train --config delay-task --data-dir data/delay --out runs/none --model none
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from delaykit.data.synth import write_delay_task_pair
from delaykit.fileio import write_text_atomic
from delaykit.train import config as C
from delaykit.train.run import train_model

KINDS = ("learned", "random", "none")


def main(argv: list[str] | None = None) -> int:
    """Run the acceptance; 0 when accepted, 1 otherwise (results in OUT/acceptance.json)."""
    ap = argparse.ArgumentParser(
        prog="python -m delaykit.train.acceptance", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--out", default="runs/acceptance", help="folder for the three runs (default runs/acceptance)"
    )
    ap.add_argument("--data", default=None, help="delay-task folder (default OUT/data; written when missing)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of learned,random,none")
    args = ap.parse_args(argv)
    kinds = args.kinds.split(",")
    configs = {
        kind: C.load_config("delay-task", [f"model.kind={kind}", *args.overrides], overrides_name="--set")
        for kind in kinds
    }
    out = Path(args.out)
    data = Path(args.data) if args.data else out / "data"
    if not (data / "delay_train.h5").exists() or not (data / "delay_test.h5").exists():
        write_delay_task_pair(data, 2000, 500, seed=0, progress=True)
    results: dict[str, Any] = {kind: _run(kind, configs[kind], data, out) for kind in kinds}
    print("\ndelay task, rounded integer delays (deployed semantics):")
    for kind, r in results.items():
        print(
            f"  {kind:8s} test {r['test_acc_rounded']:6.2f} %  (training kernel {r['test_acc_float']:6.2f} %)"
            f"  {r['wall_seconds']:6.1f} s for {r['epochs']} epochs"
        )
    ok = _accepted(results)
    results["accepted"] = ok
    write_text_atomic(out / "acceptance.json", json.dumps(results, indent=2) + "\n")
    print("accepted" if ok else "NOT accepted: learned >= 95 %, none <= 60 %, random <= learned")
    return 0 if ok else 1


def _run(kind: str, cfg: dict[str, Any], data: Path, out: Path) -> dict[str, Any]:
    """Train ``cfg`` into ``out/kind``; its accuracies (%) and wall time (s)."""
    t0 = time.perf_counter()
    path = train_model(cfg, data, out / kind, progress=True)
    m = torch.load(path, weights_only=True)["metrics"]
    return {
        "test_acc_rounded": m["test_acc_rounded"],
        "test_acc_float": m["test_acc_float"],
        "wall_seconds": time.perf_counter() - t0,
        "epochs": m["epoch"],
    }


def _accepted(results: dict[str, Any]) -> bool:
    """learned >= 95 %, none <= 60 %, random <= learned (rounded test accuracies; absent kinds pass)."""
    ok = True
    if "learned" in results:
        ok &= results["learned"]["test_acc_rounded"] >= 95.0
    if "none" in results:
        ok &= results["none"]["test_acc_rounded"] <= 60.0
    if "random" in results and "learned" in results:
        ok &= results["random"]["test_acc_rounded"] <= results["learned"]["test_acc_rounded"]
    return bool(ok)


if __name__ == "__main__":
    sys.exit(main())
