"""``delaykit demo``: the main job, end to end on the embedded delay task.

synthesize data → train (learned delays; optionally the no-delay and random-delay baselines)
→ convert (float network, int8 network, NIR graph, event tables) → event-driven simulation
→ a table of float, rounded-delay and deployed accuracies with a verdict.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job: delay task -> train -> convert -> simulate -> accuracy table",
        description="Train a learned-delay SNN on the synthetic delay task, convert it for deployment "
        "(float and int8, NIR, event tables), run it in the event-driven simulator and print float, "
        "rounded-delay and deployed accuracies with a verdict.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument(
        "--dataset",
        choices=["delay-task", "spoken-digits"],
        default="delay-task",
        help="the synthetic delay task (default), or SHD's 20 spoken digits made with "
        "espeak-ng and the cochlear front end (issue 7's real-speech check)",
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
        "(default: generic integer arithmetic, no extra latency)",
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
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from delaykit.convert.build import convert_checkpoint
    from delaykit.data.shd import BinSpec, SHDFile
    from delaykit.hardware_targets import load_target
    from delaykit.nir.export_nir import write_nir
    from delaykit.sim import Arithmetic, evaluate
    from delaykit.tables import write_tables
    from delaykit.train.run import train_model  # lazy: torch

    out = Path(args.out)
    data_dir = Path(args.data_dir) if args.data_dir else out / "data"
    t_start = time.perf_counter()
    train_file, test_file = _prepare_data(args, data_dir)

    config = args.config or args.dataset
    kinds = ["learned", "random", "none"] if args.baselines else ["learned"]
    checkpoints = {}
    for kind in kinds:
        print(f"[2/4] training: {kind} delays")
        overrides = [*args.set, f"model.kind={kind}"]
        checkpoints[kind] = train_model(config, data_dir, out / kind, overrides=overrides, progress=True)

    print("[3/4] converting the learned-delay model")
    ckpt = checkpoints["learned"]
    float_net = convert_checkpoint(ckpt)
    float_net.save(out / "deployed_float.dkn")
    target = load_target(args.target) if args.target else None
    int_net = convert_checkpoint(ckpt, bits=args.bits, target=target)
    int_net.save(out / f"deployed_int{args.bits}.dkn")
    write_nir(float_net, out / "model.nir")
    write_tables(int_net, out / "tables")

    print("[4/4] event-driven simulation of the deployed networks")
    spec = BinSpec(
        dt=float_net.dt,
        channel_group=float_net.input.channel_group,
        window_steps=float_net.input.window_steps,
    )
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
    rows = []
    for kind in kinds:
        net = float_net if kind == "learned" else convert_checkpoint(checkpoints[kind])
        metrics = net.metadata.get("metrics", {})
        with SHDFile(test_file, spec) as ds:
            ev_float = evaluate(
                net, ds, engine="event", arithmetic=Arithmetic.float64(), workers=args.workers, progress=True
            )
        row = {
            "model": {"learned": "learned delays", "random": "fixed random delays", "none": "no delays"}[
                kind
            ],
            "float_pct": metrics.get("test_acc_float"),
            "rounded_pct": metrics.get("test_acc_rounded"),
            "deployed_float_pct": ev_float.accuracy,
        }
        if kind == "learned":
            with SHDFile(test_file, spec) as ds:
                ev_int = evaluate(
                    int_net, ds, engine="event", arithmetic=int_arith, workers=args.workers, progress=True
                )
            row["deployed_int_pct"] = ev_int.accuracy
            row["events_per_sample"] = float(ev_int.events_per_layer.sum(axis=1).mean())
            row["sim_ms_per_sample"] = float(1e3 * ev_int.per_sample_seconds.mean())
        rows.append(row)

    learned = rows[0]
    if learned["rounded_pct"] is None:
        raise DelaykitError(
            f"{ckpt}: checkpoint has no metrics.test_acc_rounded; retrain with delaykit train"
        )
    diff = learned["deployed_int_pct"] - learned["rounded_pct"]
    float_exact = abs(learned["deployed_float_pct"] - learned["rounded_pct"]) < 1e-9
    ok = abs(diff) <= args.tolerance and float_exact
    table = _format_table(rows, args.bits)
    verdict = (
        f"verdict: {'PASS' if ok else 'FAIL'} — deployed float {'equals' if float_exact else 'DIFFERS FROM'} "
        f"the rounded-delay PyTorch accuracy; deployed int{args.bits} "
        f"{learned['deployed_int_pct']:.2f} % vs rounded-delay {learned['rounded_pct']:.2f} % "
        f"({diff:+.2f} pp, tolerance ±{args.tolerance} pp)"
    )
    verdict += (
        f"\ndeployed int{args.bits}: {learned['events_per_sample']:,.0f} synaptic events and "
        f"{learned['sim_ms_per_sample']:.2f} ms of simulation per sample (event-driven engine)"
    )
    print()
    print(table)
    print(verdict)
    print(f"total time {time.perf_counter() - t_start:.0f} s; outputs in {out}")
    write_text_atomic(
        out / "results.json",
        json.dumps(
            {
                "rows": rows,
                "verdict": "pass" if ok else "fail",
                "tolerance_pp": args.tolerance,
                "bits": args.bits,
                "target": args.target,
            },
            indent=2,
        ),
    )
    write_text_atomic(out / "results.txt", table + "\n" + verdict + "\n")
    return 0 if ok else 1


def _prepare_data(args: argparse.Namespace, data_dir: Path) -> tuple[Path, Path]:
    """Make (or find) the train and test files of the chosen dataset in ``data_dir``."""
    if args.dataset == "delay-task":
        train, test = data_dir / "delay_train.h5", data_dir / "delay_test.h5"
        if train.exists() and test.exists():
            print(f"[1/4] using the delay task in {data_dir}")
        else:
            from delaykit.data.synth import write_delay_task_pair

            print(f"[1/4] writing the delay task to {data_dir}")
            write_delay_task_pair(data_dir, *args.samples, progress=True)
        return train, test
    train, test = data_dir / "spoken_digits_train.h5", data_dir / "spoken_digits_test.h5"
    if train.exists() and test.exists():
        print(f"[1/4] using the spoken digits in {data_dir}")
    else:
        from delaykit.cli.main import main as cli_main

        print(f"[1/4] speaking and encoding SHD's 20 digits ({args.voices} voices) into {data_dir}")
        code = cli_main(
            [
                "data",
                "spoken-digits",
                "--out",
                str(data_dir),
                "--voices",
                str(args.voices),
                "--repeats",
                str(args.repeats),
                "--workers",
                str(args.workers),
            ]
        )
        if code != 0:
            raise DelaykitError(f"{data_dir}: building the spoken-digit set failed (exit {code})")
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
