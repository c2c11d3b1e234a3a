"""``delaykit sim MODEL --data FILE``: deployed accuracy, activity and a verdict.

Imports fast and never torch: numba loads when the event engine first runs, h5py when the
data file is opened, matplotlib when a raster is plotted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets import check, load_target
from delaykit.loading import load_model
from delaykit.network import InputSpec, Network
from delaykit.nir.producers import PRODUCERS, load_from
from delaykit.outputs import OutputSet, output_set
from delaykit.sim import Arithmetic, EvalResult, evaluate
from delaykit.sim.raster import plot_raster
from delaykit.sim.xylo_cli import (
    DESCRIBE,
    XYLO_MODE,
    evaluate_xylo,
    quantized_note,
    risky_line,
    wants_xylo_mode,
    xylo_ready,
)

DEFAULT_TOLERANCE_PP = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate a deployed network on a data set (event-driven, exact, fixed point)",
        description="Simulate a deployed network on an SHD-schema file, binned exactly as in training "
        "(the network's dt, channel grouping and window). Prints accuracy, confusion matrix, spikes and "
        "synaptic events per layer per sample and time per sample; gives a verdict against --expect or "
        "the training metrics stored in the network (exit 1 when they differ by more than --tolerance).",
    )
    _add_model_arguments(p)
    _add_simulation_arguments(p)
    _add_report_arguments(p)
    p.set_defaults(func=_run)


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", help="a deployed network (.dkn), a NIR graph (.nir) or an event-table folder / manifest"
    )
    p.add_argument(
        "--dt-ms",
        type=float,
        default=None,
        help="step in milliseconds for a NIR graph without delaykit metadata (times in seconds)",
    )
    p.add_argument(
        "--channel-group",
        type=int,
        default=None,
        help="raw units per input channel for a NIR graph without delaykit metadata "
        "(default: units / channels)",
    )
    p.add_argument(
        "--from",
        dest="nir_from",
        choices=sorted(PRODUCERS),
        help="MODEL is a .nir graph that this tool exported: read it with the tool's conventions "
        "(delaykit/nir/producers.py) at the step --dt-ms (snntorch's is fixed at 0.1 ms), or refuse "
        "naming the node and the reason",
    )
    p.add_argument(
        "--one-spike-per-step",
        action="store_true",
        help="with --from sinabs/rockpool: the tool's network emitted at most one spike per step",
    )
    p.add_argument(
        "--reset",
        choices=("zero", "subtract"),
        help="with --from snntorch/sinabs: what the tool's neurons did on a spike (their files do not say)",
    )
    p.add_argument("--data", required=True, help="SHD-schema HDF5 test file")


def _add_simulation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target",
        help="hardware target profile (name or .toml): its fixed point and "
        "latency; default: float arithmetic of the contract",
    )
    p.add_argument(
        "--arithmetic",
        choices=["float64", "float32"],
        default=None,
        help="float arithmetic when no --target is given (default float64)",
    )
    p.add_argument(
        "--engine",
        choices=["event", "reference"],
        default="event",
        help="event-driven engine (default) or the numpy reference",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--limit", type=int, default=None, help="only the first N samples")


def _add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write the full results as JSON")
    p.add_argument(
        "--expect",
        type=float,
        default=None,
        help="expected accuracy in percent (default: metadata.metrics.test_acc_rounded)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_PP,
        help=f"allowed |deployed - expected| in percentage points (default {DEFAULT_TOLERANCE_PP})",
    )
    p.add_argument(
        "--raster",
        type=int,
        metavar="SAMPLE",
        default=None,
        help="plot input, spikes and output of this sample (index in the file)",
    )
    p.add_argument(
        "--raster-out",
        metavar="PNG",
        default=None,
        help="raster plot file (default: <model>_sample<N>_raster.png)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _arithmetic(args: argparse.Namespace) -> tuple[Arithmetic, Any]:
    if args.target:
        if args.arithmetic:
            raise DelaykitError("--arithmetic and --target exclude each other: a target fixes the arithmetic")
        target = load_target(args.target)
        return Arithmetic.for_target(target), target
    return (Arithmetic.float32() if args.arithmetic == "float32" else Arithmetic.float64()), None


def _foreign_input(net: Network, path: str, channel_group: int | None) -> Network:
    """A network imported from a NIR graph without delaykit metadata knows its input channels but
    not how events become frames: take the units and the window from the data file, and the
    grouping from --channel-group or units / channels."""
    with SHDFile(path, BinSpec(dt=net.dt)) as ds:
        n_units, window = ds.n_units, ds.window_steps
    n_ch = net.input.n_channels
    group = channel_group or (n_units // n_ch if n_units % n_ch == 0 else None)
    if group is None or math.ceil(n_units / group) != n_ch:
        raise DelaykitError(
            f"{path}: {n_units} input units do not group into the network's {n_ch} channels; "
            f"pass --channel-group"
        )
    spec = InputSpec(n_channels=n_ch, window_steps=window, n_units=n_units, channel_group=group)
    return dataclasses.replace(net, input=spec)


def _open_data(net: Network, path: str) -> SHDFile:
    inp = net.input
    spec = BinSpec(
        dt=net.dt,
        channel_group=inp.channel_group,
        window_steps=inp.window_steps,
        binary=inp.encoding == "binary",
    )
    ds = SHDFile(path, spec, n_units=inp.n_units)
    file_units = ds.attrs().get("n_units")
    if file_units is not None and int(file_units) != inp.n_units:
        ds.close()
        raise DelaykitError(
            f"{path}: attribute 'n_units' is {int(file_units)} but the network expects "
            f"{inp.n_units} input units; is it the right data file?"
        )
    return ds


def _stats(a: Any) -> str:
    a = np.asarray(a, dtype=np.float64)
    return f"{a.mean():>10.1f} {np.median(a):>10.1f} {a.max():>10.0f}"


def format_report(ev: EvalResult, net: Network) -> str:
    """The human-readable report of an evaluation."""
    lines = []
    n_ok = int((ev.predictions == ev.labels).sum())
    lines.append(
        f"accuracy: {ev.accuracy:.2f} % ({n_ok}/{ev.n_samples}), readout {ev.readout}, "
        f"engine {ev.engine}, arithmetic {ev.arithmetic}"
    )
    if ev.undecided:
        lines.append(
            f"undecided: {ev.undecided}/{ev.n_samples} samples (every class scored the same, e.g. "
            "a silent network); counted as wrong"
        )
    c = ev.confusion
    w = max(3, len(str(int(c.max()))) + 1)
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append("      " + "".join(f"{k:>{w}}" for k in range(c.shape[1])))
    for k, row in enumerate(c):
        name = f"  {k:>3} "
        lines.append(
            name
            + "".join(f"{int(x):>{w}}" for x in row)
            + (f"   {ev.class_names[k]}" if k < len(ev.class_names) else "")
        )
    lines.append(f"per sample:{'mean':>22} {'median':>10} {'max':>10}")
    lines.append(f"  input events{'':<9}{_stats(ev.input_events)}")
    spiking = {n: k for k, n in enumerate(ev.spiking_layer_names)}
    for k, name in enumerate(ev.layer_names):
        lines.append(f"  {name[:12] + ' events':<21}{_stats(ev.events_per_layer[:, k])}")
        if name in spiking:
            lines.append(f"  {name[:12] + ' spikes':<21}{_stats(ev.spikes_per_layer[:, spiking[name]])}")
    ms = ev.per_sample_seconds * 1e3
    total_events = ev.events_per_layer.sum()
    rate = total_events / max(ev.per_sample_seconds.sum(), 1e-12)
    lines.append(
        f"time per sample: median {np.median(ms):.3f} ms, mean {ms.mean():.3f} ms, max {ms.max():.3f} ms; "
        f"{rate / 1e6:.1f} M synaptic events/s per worker; wall {ev.wall_seconds:.2f} s "
        f"with {ev.workers} worker(s)"
    )
    return "\n".join(lines)


def _expected(args: argparse.Namespace, net: Network) -> tuple[float | None, str]:
    if args.expect is not None:
        return float(args.expect), "--expect"
    metrics = net.metadata.get("metrics") if isinstance(net.metadata, dict) else None
    if isinstance(metrics, dict) and metrics.get("test_acc_rounded") is not None:
        return float(metrics["test_acc_rounded"]), "metadata.metrics.test_acc_rounded"
    return None, ""


def _run(args: argparse.Namespace) -> int:
    try:
        return _run_checked(args)
    except DelaykitError:
        raise
    except ValueError as e:  # library checks name file, field and fix: a user error (exit 2)
        raise DelaykitError(str(e)) from None


def _run_checked(args: argparse.Namespace) -> int:
    _check_args(args)
    net = _load(args)
    arith, target = _arithmetic(args)
    xylo = wants_xylo_mode(args, net, target)  # a Xylo-trained network runs in Xylo mode or not at all
    loaded, net = net, xylo_ready(net, args.model) if xylo else net
    if target is not None:
        _warn_limits(net, target)
    ds = _open_data(net, args.data)
    try:
        if args.raster is not None and not 0 <= args.raster < len(ds):
            raise DelaykitError(f"--raster: sample {args.raster} outside 0..{len(ds) - 1} of {args.data}")
        _print_header(args, net, ds, DESCRIBE if xylo else arith.describe(), quantized_note(loaded, net))
        extra: dict[str, Any] = {}
        if xylo:
            ev, risky = evaluate_xylo(net, ds, arith, limit=args.limit, progress=not args.no_progress)
            extra = {"xylo_mode": True, "xylo_risky_pairs": risky}
        else:
            ev = evaluate(
                net,
                ds,
                engine=args.engine,
                arithmetic=arith,
                workers=args.workers,
                progress=not args.no_progress,
                limit=args.limit,
            )
        print(format_report(ev, net))
        if xylo:
            print(risky_line(extra["xylo_risky_pairs"]))
        verdict = _verdict(args, net, ev, len(ds))
        with output_set() as outs:  # the raster and --json appear together, or neither
            if args.raster is not None:
                _plot_raster(args, net, ds, arith, outs)
            if args.json_out:
                params = XYLO_MODE if xylo else arith.to_dict()
                _write_json(args, ev, target, params, verdict, outs, extra)
        return verdict.code
    finally:
        ds.close()


def _check_args(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise DelaykitError(f"--workers: must be >= 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise DelaykitError(f"--limit: must be >= 1, got {args.limit}")
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise DelaykitError(f"--tolerance: must be >= 0 percentage points, got {args.tolerance}")


def _load(args: argparse.Namespace) -> Network:
    """The model; a NIR graph without delaykit metadata takes its step from --dt-ms."""
    if args.nir_from or args.one_spike_per_step or args.reset:
        net = _load_from_tool(args)
        return _foreign_input(net, args.data, args.channel_group)
    try:
        net = load_model(args.model, dt=args.dt_ms / 1e3 if args.dt_ms else None)
    except DelaykitError as e:
        if args.dt_ms is None and "pass dt" in str(e):  # the library names its parameter
            raise DelaykitError(f"{e}; give the step with --dt-ms (milliseconds)") from None
        raise
    if net.provenance.get("imported_from") == "nir":
        net = _foreign_input(net, args.data, args.channel_group)
    return net


def _load_from_tool(args: argparse.Namespace) -> Network:
    """MODEL as a NIR export of ``--from TOOL`` (one line naming file, node and reason if not)."""
    tool = args.nir_from
    if tool is None:
        raise DelaykitError("--one-spike-per-step, --reset: apply only with --from TOOL")
    if args.dt_ms is None and tool != "snntorch":
        raise DelaykitError(
            f"{args.model}: --from {tool}: the file does not record the step its network ran with; "
            "give it with --dt-ms (milliseconds)"
        )
    if args.dt_ms is not None and not (math.isfinite(args.dt_ms) and args.dt_ms > 0):
        raise DelaykitError(f"--dt-ms: must be a positive number of milliseconds, got {args.dt_ms}")
    dt = None if args.dt_ms is None else args.dt_ms / 1e3
    try:
        return load_from(args.model, tool, dt, one_spike_per_step=args.one_spike_per_step, reset=args.reset)
    except DelaykitError as e:  # the library names its parameters
        msg = str(e).replace("(one_spike_per_step=True)", "(--one-spike-per-step)")
        raise DelaykitError(re.sub(r"\breset='(\w+)'", r"--reset \1", msg)) from None


def _warn_limits(net: Network, target: Any) -> None:
    for v in check(net, target):  # simulated anyway: the arithmetic does not need the limits
        where = f"layer {v.layer}" if v.layer else "network"
        print(f"warning: {target.name}: {where}: {v.limit}: {v.detail}", file=sys.stderr)


def _print_header(
    args: argparse.Namespace, net: Network, ds: SHDFile, arithmetic: str, note: str | None = None
) -> None:
    print(
        f"model {args.model}: {len(net.layers)} layers "
        f"{' -> '.join(str(n) for n in [net.layers[0].n_in] + [la.n_out for la in net.layers])}, "
        f"max delay {net.max_delay} steps; {arithmetic}" + (f"; {note}" if note else "")
    )
    print(
        f"data {args.data}: {len(ds)} samples, dt {net.dt * 1e3:g} ms, window {ds.window_steps} steps, "
        f"{ds.n_channels} channels (group {ds.spec.channel_group})"
    )


@dataclass
class _Verdict:
    """The accuracy against the expected one: verdict None when nothing is expected."""

    expect: float | None
    source: str
    verdict: str | None
    code: int


def _verdict(args: argparse.Namespace, net: Network, ev: EvalResult, n_file: int) -> _Verdict:
    """Print and return the verdict (code 1: a mismatch beyond --tolerance)."""
    expect, source = _expected(args, net)
    if expect is None:
        print("verdict: none (no --expect and no training metrics in the network)")
        return _Verdict(None, source, None, 0)
    diff = ev.accuracy - expect
    ok = abs(diff) <= args.tolerance + 1e-9
    verdict = "match" if ok else "mismatch"
    note = f" (on {ev.n_samples} of {n_file} samples)" if ev.n_samples < n_file else ""
    print(
        f"verdict: {verdict.upper()}: deployed {ev.accuracy:.2f} % vs expected {expect:.2f} % "
        f"({source}), difference {diff:+.2f} pp, tolerance {args.tolerance:g} pp{note}"
    )
    return _Verdict(expect, source, verdict, 0 if ok else 1)


def _plot_raster(
    args: argparse.Namespace, net: Network, ds: SHDFile, arith: Arithmetic, outs: OutputSet
) -> None:
    out = args.raster_out or f"{Path(args.model).stem}_sample{args.raster}_raster.png"
    frames, label = ds[args.raster]
    plot_raster(
        net,
        frames,
        outs.file(out),
        engine=args.engine,
        arithmetic=arith,
        label=label,
        title=f"{Path(args.model).name} sample {args.raster}",
    )
    print(f"raster plot: {out}")


def _write_json(
    args: argparse.Namespace,
    ev: EvalResult,
    target: Any,
    arithmetic_params: dict[str, Any],
    v: _Verdict,
    outs: OutputSet,
    extra: dict[str, Any] | None = None,
) -> None:
    doc = ev.to_dict()
    doc.update(
        {
            "model": str(args.model),
            "data": str(args.data),
            "target": target.name if target is not None else None,
            "arithmetic_params": arithmetic_params,
            "expected": v.expect,
            "expected_source": v.source,
            "tolerance_pp": args.tolerance,
            "verdict": v.verdict,
            **(extra or {}),
        }
    )
    write_text_atomic(outs.file(args.json_out), json.dumps(doc, indent=1) + "\n")
    print(f"results: {args.json_out}")
