"""``delaykit targets ...``: list, show, check, map and realize on hardware target profiles.

Never torch. Library errors name parameters; this module adds the command-line flags
(``--target``, ``--set``) to them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.check import check, check_report, format_fit_report
from delaykit.hardware_targets.profile import apply_overrides, format_target, list_targets, load_target
from delaykit.hardware_targets.realize import plan_realization, relay_expand, verify_realization
from delaykit.hardware_targets.report import format_estimate
from delaykit.hardware_targets.report import main as report_main
from delaykit.hardware_targets.resources import estimate_resources
from delaykit.loading import load_model as _load_model
from delaykit.network import load_network, save_network
from delaykit.outputs import OutputSet, output_set
from delaykit.validate import MAX_STATE_CELLS, bounded_work

TARGET_HELP = (
    "a bundled profile name (see 'delaykit targets list'), 'generic', or the path of a .toml profile"
)


def _add_target_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--target", required=required, help=TARGET_HELP)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a profile field, e.g. --set delay_max_steps=30 --set weight_bits=6 "
        "(repeatable; 'none' clears a limit)",
    )


def _register_list(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser("list", help="list the bundled target profiles")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_list)


def _register_show(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser("show", help="show a profile: limits, fixed-point rules and sources")
    q.add_argument("target", help=TARGET_HELP)
    q.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a profile field (repeatable)",
    )
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_show)


def _register_check(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser(
        "check",
        help="check a network against a target (exit 1 when a checked limit is broken)",
        description="Report every limit the network breaks: layer, limit, how many "
        "synapses/neurons, the worst value and the allowed one; list the limits the profile "
        "marks unknown as 'not checked' (never as passing), and the neurons per core the "
        "mapping needs for long delays. Exit 0 when every checked limit holds, 1 otherwise.",
    )
    q.add_argument("model", help="a deployed network (.dkn), a NIR graph (.nir) or an event-table folder")
    q.add_argument(
        "--dt-ms",
        type=float,
        default=None,
        help="step in milliseconds for a NIR graph without delaykit metadata",
    )
    _add_target_args(q)
    q.add_argument("--json", dest="json_out", metavar="OUT", help="also write the report as JSON")
    q.set_defaults(func=_check)


def _register_map(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser("map", help="resource estimate and neuron-to-core mapping (table and JSON)")
    q.add_argument("model", help="a deployed network (.dkn), a NIR graph (.nir) or an event-table folder")
    q.add_argument(
        "--dt-ms",
        type=float,
        default=None,
        help="step in milliseconds for a NIR graph without delaykit metadata",
    )
    _add_target_args(q)
    q.add_argument(
        "--method",
        choices=["relay", "queue"],
        default="relay",
        help="how a target without native delays realizes them (default relay)",
    )
    q.add_argument("--json", dest="json_out", metavar="OUT", help="write the estimate and mapping as JSON")
    q.add_argument("--rows", type=int, default=40, help="core rows to print (default 40)")
    q.set_defaults(func=_map)


def _register_realize(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser(
        "realize",
        help="exact delay realization (relay lines or a delay queue) with its "
        "cost, the expanded network and a simulator check",
        description="Plan the realization of per-synapse delays on a chip without native "
        "delays: relay-neuron delay lines (the expanded network, all synapse delays 0, written "
        "as a deployed network .dkn, format version 2) or a shared circular delay queue. "
        "Verifies on random inputs (or --data) that the realization reproduces the original "
        "network in the simulator: exit 1 if it does not.",
    )
    q.add_argument("model", help="a deployed network (.dkn), a NIR graph (.nir) or an event-table folder")
    q.add_argument(
        "--dt-ms",
        type=float,
        default=None,
        help="step in milliseconds for a NIR graph without delaykit metadata",
    )
    _add_target_args(q)
    q.add_argument("--method", choices=["relay", "queue"], required=True)
    q.add_argument(
        "-o", "--out", help="expanded network to write, relay method (default: <model>_<target>_relay.dkn)"
    )
    q.add_argument(
        "--verify",
        type=int,
        default=4,
        metavar="N",
        help="samples to verify against the simulator (default 4; 0 skips)",
    )
    q.add_argument(
        "--engine",
        choices=["reference", "event"],
        default="reference",
        help="simulator engine of the relay check (default reference: it steps every relay copy)",
    )
    q.add_argument(
        "--data", help="SHD-schema file to take the verification samples from (default: random event counts)"
    )
    q.add_argument("--seed", type=int, default=0, help="seed of the random verification inputs")
    q.add_argument("--json", dest="json_out", metavar="OUT", help="write plan and verification as JSON")
    q.set_defaults(func=_realize)


def _register_shd_estimate(tsub: argparse._SubParsersAction) -> None:
    q = tsub.add_parser(
        "shd-estimate",
        help="the SHD-size model's resource estimate on every target (Markdown table for the README)",
    )
    q.add_argument("--json", action="store_true", help="print JSON rows")
    q.add_argument(
        "--update-readme",
        metavar="PATH",
        help="write the table into PATH between its shd-estimate markers (the README's table)",
    )
    q.set_defaults(func=_shd_estimate)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "targets",
        help="hardware target profiles: list, show, check, map, realize",
        description="Hardware target profiles (every limit with its source), constraint "
        "checks, resource estimates with a neuron-to-core mapping, and exact realizations "
        "of synaptic delays on chips without native delays.",
    )
    tsub = p.add_subparsers(dest="targets_command", metavar="VERB", required=True)
    _register_list(tsub)
    _register_show(tsub)
    _register_check(tsub)
    _register_map(tsub)
    _register_realize(tsub)
    _register_shd_estimate(tsub)


# ---- helpers -------------------------------------------------------------------------------


def _overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise DelaykitError(f"--set {item}: expected NAME=VALUE, e.g. --set delay_max_steps=30")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _target(name: str, overrides: list[str]) -> Any:
    try:
        target = load_target(name)
    except ValueError as e:
        raise DelaykitError(f"--target {name}: {e}") from None
    over = _overrides(overrides)
    if not over:
        return target
    try:
        return apply_overrides(target, over)
    except ValueError as e:
        raise DelaykitError(f"--set: {e}") from None


def load_model(path: str, dt_ms: float | None = None) -> Any:
    """A Network from a .dkn file, a .nir graph or an event-table folder (delaykit.loading)."""
    return _load_model(path, dt=dt_ms / 1e3 if dt_ms else None)


def _write_json(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")


# ---- handlers ------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    targets = [load_target(n) for n in list_targets()]
    if args.json:
        print(json.dumps([t.to_dict() for t in targets], indent=2))
        return 0
    print(f"{'target':<11} {'delays':<24} {'weights':<22} {'neurons/core':>12} {'cores':>6}  description")
    for t in targets:
        if t.delay_native:
            delays = f"{t.delay_granularity} {t.delay_min_steps}..{t.delay_max_steps}"
            if t.delay_max_steps is not None and t.delay_max_steps > 1_000_000:
                delays = f"{t.delay_granularity}, unlimited"
        else:
            delays = "none native"
        weights = t.weight_format + (f" {t.weight_bits}-bit" if t.weight_bits else "")
        weights += " ?-bit" if "weights.bits" in t.unknown else ""
        npc = (
            "?"
            if "core.neurons" in t.unknown
            else "-"
            if t.neurons_per_core is None
            else f"{t.neurons_per_core:,}"
        )
        cores = "-" if t.cores is None else f"{t.cores:,}"
        print(f"{t.name:<11} {delays:<24} {weights:<22} {npc:>12} {cores:>6}  {t.description}")
    return 0


def _show(args: argparse.Namespace) -> int:
    t = _target(args.target, args.overrides)
    print(json.dumps(t.to_dict(), indent=2) if args.json else format_target(t))
    return 0


def _check(args: argparse.Namespace) -> int:
    net = load_model(args.model, args.dt_ms)
    t = _target(args.target, args.overrides)
    report = check_report(net, t)
    print(format_fit_report(report, args.model))
    if args.json_out:
        _write_json(args.json_out, {"model": args.model, **report.to_dict()})
    return 0 if report.fits else 1


def _map(args: argparse.Namespace) -> int:
    net = load_model(args.model, args.dt_ms)
    t = _target(args.target, args.overrides)
    est = estimate_resources(net, t, method=args.method)
    print(format_estimate(est, max_cores=args.rows))
    if args.json_out:
        _write_json(args.json_out, {"model": args.model, **est.to_dict()})
        print(f"wrote {args.json_out}")
    return 0


def _verification_inputs(net: Any, args: argparse.Namespace) -> list[Any]:
    if args.verify <= 0:
        return []
    n_in = net.input.window_steps * net.input.n_channels  # input cells of one sample
    bounded_work(
        float(args.verify) * n_in, MAX_STATE_CELLS, f"--verify {args.verify}", "the input cells to verify",
        "verify fewer samples (a few hundred show an inexact realization)",
    )  # fmt: skip
    if args.data:
        inp = net.input
        spec = BinSpec(
            dt=net.dt,
            channel_group=inp.channel_group,
            window_steps=inp.window_steps,
            binary=inp.encoding == "binary",
        )
        ds = SHDFile(args.data, spec, n_units=inp.n_units)
        try:
            return [ds[i][0] for i in range(min(args.verify, len(ds)))]
        finally:
            close = getattr(ds, "close", None)
            if close:
                close()
    rng = np.random.default_rng(args.seed)
    steps, ch = net.input.window_steps, net.input.n_channels
    return [(rng.random((steps, ch)) < 0.2) * rng.integers(1, 4, (steps, ch)) for _ in range(args.verify)]


def _write_relay_network(
    net: Any, t: Any, args: argparse.Namespace, result: dict[str, Any], outs: OutputSet
) -> Any:
    """Write the relay-expanded network (staged in ``outs``), re-read it and check it."""
    out = args.out or str(Path(args.model).with_suffix("")) + f"_{t.name}_relay.dkn"
    staged = outs.file(out)
    save_network(relay_expand(net), staged)
    expanded = load_network(staged)  # verify what was written
    n_relay = sum(lay.n_relay for lay in expanded.layers)
    print(
        f"wrote {out}: deployed network v2, all synapse delays 0, {n_relay:,} relay neurons, "
        f"{expanded.input.n_taps:,} host input taps"
    )
    violations = check(expanded, t)
    left = [v for v in violations if v.limit.startswith("delay")]
    other = sorted({v.limit for v in violations} - {v.limit for v in left})
    print(
        f"check on {t.name}: {len(left)} delay violations"
        + (f"; other limits broken: {', '.join(other)}" if other else "; fits")
    )
    result["expanded_network"] = out
    result["expanded_check"] = {"delay_violations": len(left), "other_limits": other}
    return expanded


def _verify(
    net: Any, t: Any, args: argparse.Namespace, expanded: Any, result: dict[str, Any], inputs: list[Any]
) -> int:
    """Run the realization against the original on ``inputs``; 0 when they agree."""
    if not inputs:
        return 0
    integer = all(lay.is_integer for lay in net.layers)
    arith = Arithmetic.for_target(t) if t.fixed_point is not None and integer else None
    v = verify_realization(net, args.method, inputs, arith=arith, expanded=expanded, engine=args.engine)
    # integer sums are exact: demand bit-identity; float: identical spikes, outputs equal up
    # to summation-order rounding (1e-9 absolute: these outputs are O(1-100), float64 sums
    # of a few hundred terms differ by < 1e-12)
    ok = v.identical if integer else (v.spikes_identical and v.max_abs_output_diff <= 1e-9)
    verdict = "identical" if v.identical else ("equal up to float rounding" if ok else "MISMATCH")
    print(
        f"verification on {v.samples} samples against {v.reference} ({v.arithmetic}): {verdict}; "
        f"spikes {'identical' if v.spikes_identical else 'differ'}, max |output diff| "
        f"{v.max_abs_output_diff:.3g}"
    )
    for d in v.details[:10]:
        print(f"  {d}")
    keys = (
        "method",
        "reference",
        "arithmetic",
        "samples",
        "identical",
        "spikes_identical",
        "max_abs_output_diff",
        "details",
    )
    result["verification"] = {k: getattr(v, k) for k in keys} | {"ok": ok}
    return 0 if ok else 1


def _realize(args: argparse.Namespace) -> int:
    net = load_model(args.model, args.dt_ms)
    t = _target(args.target, args.overrides)
    if t.delay_native:
        print(f"note: {t.name} has native delays ({t.delay_granularity}); realizing them anyway")
    plan = plan_realization(net, t, args.method)
    print(plan.format())
    result: dict[str, Any] = {"model": args.model, "plan": plan.to_dict()}
    inputs = _verification_inputs(net, args)  # --data is read and checked before any output
    # the network and --json are staged and renamed into place together once verified
    with output_set() as outs:
        expanded = _write_relay_network(net, t, args, result, outs) if args.method == "relay" else None
        status = _verify(net, t, args, expanded, result, inputs)
        if args.json_out:
            _write_json(outs.file(args.json_out), result)
    return status


def _shd_estimate(args: argparse.Namespace) -> int:
    if args.update_readme:
        try:
            return report_main(["--update-readme", args.update_readme])
        except (ValueError, OSError) as e:
            raise DelaykitError(f"--update-readme: {e}") from None
    return report_main(["--json"] if args.json else [])
