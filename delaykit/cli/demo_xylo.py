"""``delaykit demo --target xylo``: the main job on SynSense Xylo, ending in SynSense's own simulator.

the 16-channel 8-class delay task (``data synth --preset xylo``; ``--dataset spoken-digits``:
8 words, zero..seven, spoken by espeak-ng, 700 units summed into 16 channels, config
``spoken-digits-xylo``) → ``train --target xylo`` per
delay kind (Xylo's neuron, int8 fine-tuning, delays 0..K-1) → int8 network (``convert``) →
``targets check --target xylo`` (relays counted) → ``convert to-xylo`` spec folder → the test
set in delaykit's Xylo mode and, where ``.venv-xylo`` (or ``$DELAYKIT_XYLO_PYTHON``) has
xylosim, in xylosim → a table: float, rounded, int8 (PyTorch), Xylo mode, xylosim, relays.

Verdict (PASS): the learned model fits Xylo; xylosim and Xylo mode agree on every hidden-layer
event, readout event and readout membrane of every test sample; xylosim's accuracy is within
``--tolerance`` points of the rounded-delay PyTorch accuracy. Without xylosim the verdict uses
Xylo mode and says xylosim was not run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from delaykit.cli.flags import require_workers
from delaykit.convert.xylo_export import write_xylo, xylo_network
from delaykit.data.audio_cli import spoken_digits_config
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.data.spoken_digits import XYLO_LABELS, write_spoken_digits
from delaykit.data.synth import XYLO_TASK, write_delay_task_pair
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets import load_target
from delaykit.hardware_targets.check import check_report, format_fit_report
from delaykit.hardware_targets.xylo_check import SETUP_HINT, find_xylo_python
from delaykit.hardware_targets.xylo_eval import (
    compare_runs,
    run_xylo_mode_dataset,
    run_xylosim_dataset,
    xylosim_predictions,
)
from delaykit.hardware_targets.xylo_map import map_to_xylo, plan_xylo
from delaykit.network import Network

MODEL_NAMES = {"learned": "learned delays", "random": "fixed random delays", "none": "no delays"}


def run_xylo_demo(args: argparse.Namespace) -> int:
    """The Xylo main job (module doc); returns the exit code (0 PASS, 1 FAIL)."""
    if args.bits != 8:
        raise DelaykitError(
            f"--bits {args.bits}: Xylo holds int8 weights; drop --bits (demo --target xylo uses 8)"
        )
    out = Path(args.out)
    data_dir = Path(args.data_dir) if args.data_dir else out / "data"
    t_start = time.perf_counter()
    test_file = _prepare_data(args, data_dir)
    xylo = find_xylo_python()
    kinds = ["learned", "none"] if args.baselines else ["learned"]
    rows = []
    for kind in kinds:
        ckpt = _train(args, data_dir, out, kind)
        rows.append(_row(kind, ckpt, out / kind, test_file, xylo))
    ok, verdict = _verdict(rows[0], args.tolerance, xylo)
    table = _format_table(rows, xylo)
    print()
    print(table)
    print(verdict)
    print(f"total time {time.perf_counter() - t_start:.0f} s; outputs in {out}")
    results = {
        "rows": rows,
        "verdict": "pass" if ok else "fail",
        "tolerance_pp": args.tolerance,
        "target": "xylo",
    }
    write_text_atomic(out / "results.json", json.dumps(results, indent=2))
    write_text_atomic(out / "results.txt", table + "\n" + verdict + "\n")
    return 0 if ok else 1


def _prepare_data(args: argparse.Namespace, data_dir: Path) -> Path:
    if args.dataset == "spoken-digits":
        return _prepare_words(args, data_dir)
    train, test = data_dir / "delay_train.h5", data_dir / "delay_test.h5"
    if train.exists() and test.exists():
        print(f"[1/4] using the delay task in {data_dir}")
    else:
        print(f"[1/4] writing the 16-channel 8-class delay task (--preset xylo) to {data_dir}")
        n_train, n_test = args.samples
        write_delay_task_pair(data_dir, int(n_train), int(n_test), cfg=XYLO_TASK, progress=True)
    return test


def _prepare_words(args: argparse.Namespace, data_dir: Path) -> Path:
    """The 8 English words zero..seven spoken by espeak-ng, labels 0..7 (Xylo's 8 readouts)."""
    train, test = data_dir / "spoken_digits_train.h5", data_dir / "spoken_digits_test.h5"
    if train.exists() and test.exists():
        print(f"[1/4] using the spoken words in {data_dir}")
        return test
    print(f"[1/4] speaking and encoding 8 words ({args.voices} voices) into {data_dir}")
    words = ",".join(str(x) for x in XYLO_LABELS)
    cfg = spoken_digits_config(voices=args.voices, repeats=args.repeats, classes=words, compact_labels=True)
    require_workers(args.workers)
    print(write_spoken_digits(data_dir, cfg, workers=args.workers, progress=True).summary())
    return test


def _train(args: argparse.Namespace, data_dir: Path, out: Path, kind: str) -> Path:
    from delaykit.train.run import train_model  # lazy: torch (delaykit --help stays torch-free)

    print(f"[2/4] training for Xylo: {kind} delays")
    overrides = [*args.set, f"model.kind={kind}"]
    config = args.config or ("spoken-digits-xylo" if args.dataset == "spoken-digits" else "delay-task-xylo")
    return train_model(config, data_dir, out / kind, overrides=overrides, target="xylo", finetune=True)


def _samples(net: Network, test_file: Path) -> list[tuple[Any, int]]:
    spec = BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps)
    with SHDFile(test_file, spec) as ds:
        return [ds[i] for i in range(len(ds))]


def _row(kind: str, ckpt: Path, out: Path, test_file: Path, xylo: str | None) -> dict[str, Any]:
    """Convert, check, map and run one model; its table row."""
    print(f"[3/4] {kind}: int8 network, targets check --target xylo, convert to-xylo")
    net = xylo_network(ckpt)
    net.save(out / "deployed_int8.dkn")
    report = check_report(net, load_target("xylo"))
    write_text_atomic(
        out / "targets_check.txt", format_fit_report(report, str(out / "deployed_int8.dkn")) + "\n"
    )
    plan = plan_xylo(net)
    metrics = net.metadata.get("metrics", {})
    row: dict[str, Any] = {
        "model": MODEL_NAMES[kind],
        "float_pct": metrics.get("test_acc_float"),
        "rounded_pct": metrics.get("test_acc_rounded"),
        "int8_pct": metrics.get("test_acc_quantized"),
        "fits": report.fits,
        "relays": plan.n_relays,
        "hidden_neurons": plan.n_hidden,
        "rec_connections": plan.rec_connections,
    }
    if not report.fits:
        row["why_not"] = "; ".join(v.detail for v in report.violations)
        return row
    print(f"      {write_xylo(net, out / 'xylo_spec')}")
    samples = _samples(net, test_file)
    print(f"[4/4] {kind}: {len(samples)} test samples in delaykit's Xylo mode")
    ref = run_xylo_mode_dataset(net, samples)
    row["xylo_mode_pct"] = ref.accuracy
    row["risky"] = ref.risky
    if xylo is None:
        row["xylosim_pct"] = None
        return row
    print(f"      ... and in xylosim ({xylo})")
    mapping = map_to_xylo(net)
    run = run_xylosim_dataset(mapping, net, [x for x, _ in samples], python=xylo)
    preds = xylosim_predictions(net, mapping, run)
    cmp = compare_runs(mapping, ref.records, run)
    row["xylosim_pct"] = float(100.0 * (preds == ref.labels).mean())
    row["xylosim_vs_xylo_mode"] = {
        **cmp.__dict__,
        "predictions_differing": int((preds != ref.predictions).sum()),
    }
    return row


def _verdict(learned: dict[str, Any], tolerance: float, xylo: str | None) -> tuple[bool, str]:
    if not learned["fits"]:
        return False, f"verdict: FAIL — the learned model does not fit Xylo: {learned['why_not']}"
    rounded = learned["rounded_pct"]
    if xylo is None:
        diff = learned["xylo_mode_pct"] - rounded
        ok = abs(diff) <= tolerance and learned["risky"] == 0
        return ok, (
            f"verdict: {'PASS' if ok else 'FAIL'} (xylosim not run: {SETUP_HINT}) — Xylo mode "
            f"{learned['xylo_mode_pct']:.2f} % vs rounded-delay {rounded:.2f} % ({diff:+.2f} pp, "
            f"tolerance ±{tolerance} pp)"
        )
    c = learned["xylosim_vs_xylo_mode"]
    same = c["hidden_mismatches"] == 0 and c["readout_mismatches"] == 0
    diff = learned["xylosim_pct"] - rounded
    ok = same and abs(diff) <= tolerance
    return ok, (
        f"verdict: {'PASS' if ok else 'FAIL'} — xylosim {learned['xylosim_pct']:.2f} % vs rounded-delay "
        f"{rounded:.2f} % ({diff:+.2f} pp, tolerance ±{tolerance} pp); xylosim vs Xylo mode on "
        f"{c['samples']} samples: {c['hidden_mismatches']} of {c['hidden_values']:,} hidden-layer event "
        f"counts ({c['hidden_events']:,} events) and {c['readout_mismatches']} readout values differ"
    )


def _fmt(v: float | None) -> str:
    return "   —  " if v is None else f"{v:6.2f}"


def _format_table(rows: list[dict[str, Any]], xylo: str | None) -> str:
    head = (
        f"{'model':<16} {'float %':>8} {'rounded %':>10} {'int8 %':>7} {'Xylo mode %':>12} "
        f"{'xylosim %':>10} {'relays':>7} {'hidden':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model']:<16} {_fmt(r['float_pct']):>8} {_fmt(r['rounded_pct']):>10} {_fmt(r['int8_pct']):>7} "
            f"{_fmt(r.get('xylo_mode_pct')):>12} {_fmt(r.get('xylosim_pct')):>10} {r['relays']:>7} "
            f"{r['hidden_neurons']:>7}"
        )
    lines += [
        "float: PyTorch, training kernels; rounded: PyTorch, integer delays; int8: PyTorch after int8",
        "fine-tuning; Xylo mode: delaykit's exact Xylo arithmetic on the int8 network (delays as delays);",
        "xylosim: SynSense's simulator on the mapped spec (delays as relay chains); relays / hidden:",
        "relay neurons / all hidden neurons on Xylo (max 1000).",
    ]
    for r in rows:
        lines.append(
            f"targets check --target xylo, {r['model']}: {'fits' if r['fits'] else 'does NOT fit'} "
            f"({r['hidden_neurons']} hidden neurons = {r['hidden_neurons'] - r['relays']} + {r['relays']} "
            f"delay relays, {r['rec_connections']:,} recurrent connections)"
        )
    if xylo is None:
        lines.append(f"xylosim: not run (no environment with xylosim: {SETUP_HINT})")
    return "\n".join(lines)
