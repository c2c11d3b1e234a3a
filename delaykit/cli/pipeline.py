"""``delaykit demo``: the main job, end to end on the embedded delay task.

synthesize data → train (learned delays; optionally the no-delay and random-delay baselines)
→ convert (float network, int8 network, NIR graph, event tables) → event-driven simulation
→ a table of float, rounded-delay and deployed accuracies with a verdict.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delaykit.cli.demo_xylo import run_xylo_demo
from delaykit.cli.flags import require_workers
from delaykit.convert.build import convert_checkpoint
from delaykit.data.audio_cli import spoken_digits_config
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.data.spoken_digits import write_spoken_digits
from delaykit.data.synth import write_delay_task_pair
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets import load_target
from delaykit.network import Network
from delaykit.nir.export_nir import write_nir
from delaykit.sim import Arithmetic, evaluate
from delaykit.tables import write_tables

MODEL_NAMES = {"learned": "learned delays", "random": "fixed random delays", "none": "no delays"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delaykit demo``."""
    p = sub.add_parser(
        "demo",
        help="run the main job: delay task -> train -> convert -> simulate -> accuracy table",
        description="Train a learned-delay SNN on the synthetic delay task, convert it for deployment "
        "(float and int8, NIR, event tables), run it in the event-driven simulator and print float, "
        "rounded-delay and deployed accuracies with a verdict.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    _add_data_args(p)
    _add_run_args(p)
    p.set_defaults(func=_run)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        choices=["delay-task", "spoken-digits"],
        default="delay-task",
        help="the synthetic delay task (default), or SHD's 20 spoken digits made with "
        "espeak-ng and the cochlear front end (a real-speech check)",
    )
    p.add_argument("--data-dir", default=None, help="data folder (default: OUT/data, made if missing)")
    p.add_argument("--voices", type=int, default=32, help="spoken-digits: espeak-ng voices (default 32)")
    p.add_argument(
        "--repeats", type=int, default=2, help="spoken-digits: utterances per voice and digit (default 2)"
    )
    p.add_argument(
        "--samples",
        type=int,
        nargs=2,
        default=(2000, 500),
        metavar=("TRAIN", "TEST"),
        help="delay-task samples to synthesize when the data is missing (default 2000 500)",
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=None,
        help="training config name or file (default: the dataset's, delay-task or spoken-digits)",
    )
    p.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train the no-delay and fixed-random-delay baselines (default on)",
    )
    p.add_argument("--bits", type=int, default=8, help="weight bits of the deployed network (default 8)")
    p.add_argument(
        "--target",
        default=None,
        help="hardware target whose fixed-point rules the deployed run uses "
        "(default: generic integer arithmetic, no extra latency); 'xylo' runs the Xylo job: the "
        "16-channel 8-class delay task, trained for Xylo, mapped with relay chains, run in "
        "delaykit's Xylo mode and in xylosim (.venv-xylo), with relay and neuron counts",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        help="allowed difference between deployed int and rounded-delay accuracy in points (default 1.0)",
    )
    p.add_argument("--workers", type=int, default=2, help="simulation worker processes (default 2)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="training config override (repeatable)",
    )


@dataclass(frozen=True)
class _Deployed:
    """The converted learned-delay model: float and integer networks, and the integer rules."""

    float_net: Network
    int_net: Network
    int_arith: Arithmetic


def _run(args: argparse.Namespace) -> int:
    if args.target == "xylo":  # trained for Xylo, run in xylosim (delaykit/cli/demo_xylo.py)
        return run_xylo_demo(args)
    out = Path(args.out)
    data_dir = Path(args.data_dir) if args.data_dir else out / "data"
    _check_before_work(args)
    t_start = time.perf_counter()
    _, test_file = _prepare_data(args, data_dir)
    kinds = ["learned", "random", "none"] if args.baselines else ["learned"]
    checkpoints = _train_all(args, data_dir, out, kinds)
    print("[3/4] converting the learned-delay model")
    deployed = _convert(args, checkpoints["learned"], out)
    print("[4/4] event-driven simulation of the deployed networks")
    rows = [_evaluate_row(args, kind, checkpoints[kind], deployed, test_file) for kind in kinds]
    learned = rows[0]
    if learned["rounded_pct"] is None:
        raise DelaykitError(
            f"{checkpoints['learned']}: checkpoint has no metrics.test_acc_rounded; retrain with delaykit train"
        )
    ok, verdict = _verdict(learned, args.bits, args.tolerance)
    table = _format_table(rows, args.bits)
    print()
    print(table)
    print(verdict)
    print(f"total time {time.perf_counter() - t_start:.0f} s; outputs in {out}")
    _write_results(out, args, rows, ok, table + "\n" + verdict + "\n")
    return 0 if ok else 1


def _check_before_work(args: argparse.Namespace) -> None:
    """The config with every --set, and --target, are read before the first output (the data,
    the run folders): a bad value fails in a second, not after the data is written."""
    from delaykit.train import config as C  # lazy: the training area, read only when demo runs

    kinds = ["learned", "random", "none"] if args.baselines else ["learned"]
    for kind in kinds:
        C.load_config(args.config or args.dataset, [*args.set, f"model.kind={kind}"])
    if args.target:
        try:
            load_target(args.target)
        except (ValueError, OSError) as e:
            raise DelaykitError(f"--target: {e}") from None


def _train_all(args: argparse.Namespace, data_dir: Path, out: Path, kinds: list[str]) -> dict[str, Path]:
    """Train one model per delay kind into ``out/<kind>``; returns their checkpoint paths."""
    from delaykit.train.run import train_model  # lazy: torch (delaykit --help stays torch-free)

    config = args.config or args.dataset
    checkpoints = {}
    for kind in kinds:
        print(f"[2/4] training: {kind} delays")
        overrides = [*args.set, f"model.kind={kind}"]
        checkpoints[kind] = train_model(config, data_dir, out / kind, overrides=overrides, progress=True)
    return checkpoints


def _convert(args: argparse.Namespace, ckpt: Path, out: Path) -> _Deployed:
    """Float and integer deployed networks, NIR graph and event tables of the learned model."""
    float_net = convert_checkpoint(ckpt)
    float_net.save(out / "deployed_float.dkn")
    target = load_target(args.target) if args.target else None
    int_net = convert_checkpoint(ckpt, bits=args.bits, target=target)
    int_net.save(out / f"deployed_int{args.bits}.dkn")
    write_nir(float_net, out / "model.nir")
    write_tables(int_net, out / "tables")
    # Without a target: integer weights, a 24-bit saturating membrane and Loihi's 12-bit
    # multiplicative decay, no extra latency (the trained model's timing).
    int_arith = (
        Arithmetic.for_target(target)
        if target is not None
        else Arithmetic.fixed(
            weight_bits=args.bits,
            membrane_bits=24,
            decay="loihi12",
            threshold_compare="ge",
            name=f"int{args.bits}",
        )
    )
    return _Deployed(float_net, int_net, int_arith)


def _evaluate_row(
    args: argparse.Namespace, kind: str, ckpt: Path, deployed: _Deployed, test_file: Path
) -> dict[str, Any]:
    """Accuracies (percent) of one delay kind: PyTorch float and rounded, deployed float (and int)."""
    net = deployed.float_net if kind == "learned" else convert_checkpoint(ckpt)
    metrics = net.metadata.get("metrics", {})
    ref = deployed.float_net  # every model is binned like the learned one
    spec = BinSpec(dt=ref.dt, channel_group=ref.input.channel_group, window_steps=ref.input.window_steps)
    with SHDFile(test_file, spec) as ds:
        ev_float = evaluate(
            net, ds, engine="event", arithmetic=Arithmetic.float64(), workers=args.workers, progress=True
        )
    row: dict[str, Any] = {
        "model": MODEL_NAMES[kind],
        "float_pct": metrics.get("test_acc_float"),
        "rounded_pct": metrics.get("test_acc_rounded"),
        "deployed_float_pct": ev_float.accuracy,
    }
    if kind == "learned":
        with SHDFile(test_file, spec) as ds:
            ev_int = evaluate(
                deployed.int_net,
                ds,
                engine="event",
                arithmetic=deployed.int_arith,
                workers=args.workers,
                progress=True,
            )
        row["deployed_int_pct"] = ev_int.accuracy
        row["events_per_sample"] = float(ev_int.events_per_layer.sum(axis=1).mean())
        row["sim_ms_per_sample"] = float(1e3 * ev_int.per_sample_seconds.mean())
    return row


def _verdict(learned: dict[str, Any], bits: int, tolerance: float) -> tuple[bool, str]:
    """PASS when deployed float equals rounded-delay exactly and deployed int is within
    ``tolerance`` points of it; returns (passed, the verdict lines)."""
    diff = learned["deployed_int_pct"] - learned["rounded_pct"]
    float_exact = abs(learned["deployed_float_pct"] - learned["rounded_pct"]) < 1e-9
    ok = abs(diff) <= tolerance and float_exact
    verdict = (
        f"verdict: {'PASS' if ok else 'FAIL'} — deployed float {'equals' if float_exact else 'DIFFERS FROM'} "
        f"the rounded-delay PyTorch accuracy; deployed int{bits} "
        f"{learned['deployed_int_pct']:.2f} % vs rounded-delay {learned['rounded_pct']:.2f} % "
        f"({diff:+.2f} pp, tolerance ±{tolerance} pp)"
    )
    verdict += (
        f"\ndeployed int{bits}: {learned['events_per_sample']:,.0f} synaptic events and "
        f"{learned['sim_ms_per_sample']:.2f} ms of simulation per sample (event-driven engine)"
    )
    return ok, verdict


def _write_results(out: Path, args: argparse.Namespace, rows: list[dict], ok: bool, text: str) -> None:
    """``results.json`` (rows, verdict, settings) and ``results.txt`` (what was printed)."""
    results = {
        "rows": rows,
        "verdict": "pass" if ok else "fail",
        "tolerance_pp": args.tolerance,
        "bits": args.bits,
        "target": args.target,
    }
    write_text_atomic(out / "results.json", json.dumps(results, indent=2))
    write_text_atomic(out / "results.txt", text)


def _prepare_data(args: argparse.Namespace, data_dir: Path) -> tuple[Path, Path]:
    """Make (or find) the train and test files of the chosen dataset in ``data_dir``."""
    if args.dataset == "delay-task":
        train, test = data_dir / "delay_train.h5", data_dir / "delay_test.h5"
        if train.exists() and test.exists():
            print(f"[1/4] using the delay task in {data_dir}")
        else:
            print(f"[1/4] writing the delay task to {data_dir}")
            write_delay_task_pair(data_dir, *args.samples, progress=True)
        return train, test
    train, test = data_dir / "spoken_digits_train.h5", data_dir / "spoken_digits_test.h5"
    if train.exists() and test.exists():
        print(f"[1/4] using the spoken digits in {data_dir}")
    else:
        print(f"[1/4] speaking and encoding SHD's 20 digits ({args.voices} voices) into {data_dir}")
        cfg = spoken_digits_config(voices=args.voices, repeats=args.repeats)
        require_workers(args.workers)
        print(write_spoken_digits(data_dir, cfg, workers=args.workers, progress=True).summary())
    return train, test


def _fmt(v: float | None) -> str:
    return "   —  " if v is None else f"{v:6.2f}"


def _format_table(rows: list[dict], bits: int) -> str:
    head = (
        f"{'model':<22} {'float %':>8} {'rounded %':>10} {'deployed float %':>17} "
        f"{f'deployed int{bits} %':>17}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model']:<22} {_fmt(r['float_pct']):>8} {_fmt(r['rounded_pct']):>10} "
            f"{_fmt(r['deployed_float_pct']):>17} {_fmt(r.get('deployed_int_pct')):>17}"
        )
    lines.append("float: PyTorch, training-mode DCLS kernels; rounded: PyTorch with one-hot integer delays;")
    lines.append("deployed: delaykit's event-driven simulator on the converted network (same test inputs).")
    return "\n".join(lines)
