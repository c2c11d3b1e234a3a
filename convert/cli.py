"""``delaykit convert VERB MODEL``: checkpoint -> deployed network and export formats.

Imports nothing heavy at module level: torch, nir, onnx and pyarrow load inside the library
functions that need them. Library errors name parameters (``clip=True``); the handlers here
re-raise them naming this command's flags (``--clip``).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from delaykit.convert.build import load_any, with_window
from delaykit.convert.netx_export import write_netx
from delaykit.convert.onnx_export import write_onnx
from delaykit.convert.pynn_export import SCRIPT_NAME, write_pynn
from delaykit.convert.quantize import prepare_for_target
from delaykit.convert.reference_code import ReferenceOptions
from delaykit.convert.report import build_report, format_conversion_report, plot_report, write_report
from delaykit.convert.verify import DEFAULT_ATOL, format_verify, verify_fidelity
from delaykit.convert.xylo_export import MARKER as XYLO_MARKER
from delaykit.convert.xylo_export import write_xylo
from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.network import Network, save_network
from delaykit.network.reading import XYLO_FIX, xylo_reading, xylo_refusal
from delaykit.nir.consumers import CONSUMERS, write_nir_for
from delaykit.nir.export_nir import write_nir
from delaykit.nir.producers import PRODUCERS, load_from
from delaykit.outputs import output_set, refuse_foreign_folder
from delaykit.tables import write_tables

VERBS: dict[str, str] = {
    "to-dkn": "deployed network file (.dkn, HDF5) for 'delaykit sim' and 'delaykit targets'",
    "to-nir": "NIR graph (.nir) with per-synapse delays as Delay nodes",
    "to-table": "per-synapse event tables (CSV + Parquet/npz), neuron table, manifest, PyNN lists",
    "to-pynn": "tables + PyNN lists + run_pynn.py (PyNN: NEST, SpiNNaker; or NEST directly), spike-exact",
    "to-netx": "lava-dl netx HDF5 for Loihi 2 (full out x in delay matrices, CUBA neurons)",
    "to-onnx": "streaming one-step ONNX model with delay ring buffers as state",
    "to-xylo": "SynSense Xylo Audio 2 spec folder (spec.npz + manifest.json); delays as relay chains",
    "report": "conversion report only: delay histograms, quantization error, target check",
}

_DEFAULT_SUFFIX = {
    "to-dkn": ".dkn",
    "to-nir": ".nir",
    "to-table": "_tables",
    "to-pynn": "_pynn",
    "to-netx": ".netx.h5",
    "to-onnx": ".onnx",
    "to-xylo": "_xylo",
    "report": ".report.json",
}

#: Library parameter -> this command's flag, for error messages (see :func:`flag_message`).
_FLAGS = {
    "bits": "--bits",
    "clip": "--clip",
    "per_neuron": "--per-neuron",
    "target": "--target",
    "reference_code": "--reference-code",
    "dtype": "--dtype",
    "torch_model": "--torch-model",
    "tau_ms": "--tau-ms",
    "dt_ms": "--dt-ms",
    "kernel_size": "--kernel-size",
    "v_threshold": "--v-threshold",
    "window_ms": "--window-ms",
    "channel_group": "--channel-group",
    "one_spike_per_step": "--one-spike-per-step",
    "reset": "--reset",
}
_PARAM = re.compile(r"\b(" + "|".join(_FLAGS) + r")=('[^']*'|\"[^\"]*\"|[^\s,;:()]+)")

#: Verbs whose output other tools run with the contract's neuron: a network trained with Xylo's
#: neuron (``metadata.read_as``, :mod:`delaykit.network.reading`) is refused by them.
CONTRACT_READERS = ("to-nir", "to-table", "to-pynn", "to-netx", "to-onnx")

#: ReferenceOptions fields with a flag of the same name (``tau_ms`` <- ``--tau-ms``).
_REFERENCE_FIELDS = ("tau_ms", "dt_ms", "kernel_size", "v_threshold", "window_ms", "channel_group")


def flag_message(message: str) -> str:
    """A library message with ``name=value`` parameters written as this command's flags.

    ``clip=True`` -> ``--clip``, ``per_neuron=False`` -> ``without --per-neuron``,
    ``target='loihi2'`` -> ``--target loihi2``, ``kernel_size=9`` -> ``--kernel-size 9``.
    """

    def flag(m: re.Match[str]) -> str:
        name, value = _FLAGS[m[1]], m[2].strip("'\"")
        if value == "True":
            return name
        if value == "False":
            return f"without {name}"
        return f"{name} {value}"

    return _PARAM.sub(flag, message)


def _with_flags(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler`` whose DelaykitErrors name flags instead of library parameters."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except DelaykitError as e:
            e.args = (flag_message(str(e)),)
            raise

    return run


def _add_reference_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "reference-code state dicts (Thvnvtos/SNN-delays); defaults: the paper's SHD run"
    )
    g.add_argument(
        "--reference-code", action="store_true", help="MODEL is a plain state dict of the paper's code"
    )
    g.add_argument("--tau-ms", type=float, help="membrane time constant in ms (default 10.05)")
    g.add_argument("--dt-ms", type=float, help="time step in ms (default 10)")
    g.add_argument("--kernel-size", type=int, help="DCLS kernel size K in steps (default 250 ms // dt, odd)")
    g.add_argument("--v-threshold", type=float, help="hidden LIF threshold (default 1.0)")
    g.add_argument("--window-ms", type=float, help="input window in ms (default 1400)")
    g.add_argument("--channel-group", type=int, help="input units summed per channel (default 5)")


def _add_common(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("model", help="delaykit checkpoint (model.pt), reference-code state dict, or .dkn")
    p.add_argument(
        "-o", "--output", help=f"output path (default: MODEL with suffix '{_DEFAULT_SUFFIX[verb]}')"
    )
    p.add_argument("--target", help="hardware target name or .toml profile (see 'delaykit targets list')")
    p.add_argument("--bits", type=int, help="signed weight bits (default: the target's; none: float)")
    p.add_argument(
        "--per-neuron", action="store_true", help="one weight scale per neuron (default: per layer)"
    )
    p.add_argument(
        "--clip",
        action="store_true",
        help="clip delays outside the target's range (reported) instead of refusing",
    )
    p.add_argument("--window-steps", type=int, help="input frames per sample (default: the checkpoint's)")
    p.add_argument(
        "--readout",
        choices=("softmax_sum", "membrane_sum", "membrane_max", "spike_count"),
        help="readout rule (default: the checkpoint's)",
    )
    p.add_argument("--report", metavar="JSON", help="also write the conversion report as JSON (+ .txt)")
    p.add_argument("--plot", metavar="PNG", help="also draw delay/weight-error histograms to a PNG")
    _add_reference_options(p)
    _add_from_options(p)


def _add_from_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("NIR graphs written by another tool's exporter")
    g.add_argument(
        "--from",
        dest="nir_from",
        choices=sorted(PRODUCERS),
        help="MODEL is a .nir graph that this tool exported: read it with the tool's time base and "
        "neuron conventions (delaykit/nir/producers.py), or refuse naming the node and the reason; "
        "--dt-ms gives the step its network ran with (snntorch's is fixed at 0.1 ms)",
    )
    g.add_argument(
        "--one-spike-per-step",
        action="store_true",
        help="with --from sinabs/rockpool: the tool's network emitted at most one spike per step "
        "(SingleSpike, max_spikes_per_dt=1); their files do not say",
    )
    g.add_argument(
        "--reset",
        choices=("zero", "subtract"),
        help="with --from snntorch/sinabs: what the tool's neurons did on a spike, which their files "
        "do not say (zero: snntorch reset_mechanism='zero' with reset_delay=False, sinabs "
        "MembraneReset; subtract: sinabs MembraneSubtract; snntorch's subtract is refused)",
    )


def _load_from_tool(args: argparse.Namespace, src: Path) -> Network:
    """MODEL read as a NIR export of ``--from TOOL``, at the step ``--dt-ms``."""
    tool = args.nir_from
    if args.reference_code:
        raise DelaykitError(f"{src}: --from {tool} reads a NIR graph; drop --reference-code")
    if args.dt_ms is None and tool != "snntorch":
        raise DelaykitError(
            f"{src}: --from {tool}: the file does not record the step its network ran with; "
            "give it with --dt-ms (milliseconds)"
        )
    dt = None if args.dt_ms is None else args.dt_ms / 1e3
    return load_from(src, tool, dt, one_spike_per_step=args.one_spike_per_step, reset=args.reset)


def _add_verb_options(q: argparse.ArgumentParser, verb: str) -> None:
    """The options only one export verb has."""
    if verb == "to-nir":
        q.add_argument(
            "--nir-r",
            choices=("tau", "one"),
            default="tau",
            help="LIF r convention: 'tau' (r = tau/dt, lossless, spikingjelly) or 'one' "
            "(r = 1, weights x tau/dt, for consumers that ignore r such as norse)",
        )
        q.add_argument(
            "--for",
            dest="nir_for",
            choices=sorted(CONSUMERS),
            help="write the graph in this tool's conventions (time base, r, layout; see "
            "delaykit/nir/consumers.py) instead of delaykit's lossless graph",
        )
    if verb == "to-table":
        q.add_argument(
            "--format",
            choices=("csv", "parquet", "npz", "all"),
            default="all",
            help="table formats to write (default: csv + parquet + npz)",
        )
    if verb == "to-onnx":
        q.add_argument(
            "--dtype",
            choices=("float64", "float32"),
            default="float64",
            help="state/arithmetic type of the step model (default float64: exact)",
        )
    if verb == "to-netx":
        q.set_defaults(target_default="loihi2")


def _add_verify(vs: argparse._SubParsersAction) -> None:
    v = vs.add_parser(
        "verify",
        help="prove the float deployed network predicts like the PyTorch model",
        description="Run the converted float network in the simulator's reference and the "
        "PyTorch model with rounded delays on every sample of DATA; exit 1 on any disagreement.",
    )
    v.add_argument("model", help="delaykit checkpoint or reference-code state dict")
    v.add_argument("data", help="SHD-schema test file (.h5)")
    v.add_argument("--limit", type=int, help="first N samples only")
    v.add_argument(
        "--torch-model",
        choices=("auto", "train", "dcls"),
        default="auto",
        help="PyTorch side: delaykit's training model (train) or DCLS+spikingjelly (dcls); "
        "auto: train for delaykit checkpoints, dcls for reference state dicts",
    )
    v.add_argument("--atol", type=float, help="tolerance on readout membranes (default 1e-4)")
    v.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    v.add_argument("--no-progress", action="store_true")
    _add_reference_options(v)
    v.set_defaults(func=_with_flags(_verify))


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``convert`` and its verbs to the ``delaykit`` command."""
    p = sub.add_parser(
        "convert",
        help="convert a trained model for deployment (NIR, tables, netx, ONNX)",
        description="Round delays exactly as training evaluates them, fold BatchNorm, "
        "optionally quantize for a hardware target, and export.",
    )
    vs = p.add_subparsers(dest="verb", metavar="VERB")
    for verb, text in VERBS.items():
        q = vs.add_parser(verb, help=text, description=text)
        _add_common(q, verb)
        _add_verb_options(q, verb)
        q.set_defaults(func=_with_flags(_run))
    _add_verify(vs)
    p.set_defaults(func=_help(p))


def _verify(args: argparse.Namespace) -> int:
    net = load_any(args.model, reference_code=args.reference_code or None, options=_options(args))
    field = xylo_reading(net.metadata)
    if field:
        raise xylo_refusal(args.model, field, "convert verify", XYLO_FIX)
    r = verify_fidelity(
        args.model,
        args.data,
        reference_code=args.reference_code or None,
        options=_options(args),
        torch_model=args.torch_model,
        limit=args.limit,
        atol=args.atol if args.atol is not None else DEFAULT_ATOL,
        progress=not args.no_progress,
    )
    print(format_verify(r))
    if args.json:
        write_text_atomic(args.json, json.dumps(r, indent=2) + "\n")
    return 0 if r["agree"] == r["samples"] and r["within_tol"] else 1


def _help(p: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    return run


def _options(args: argparse.Namespace) -> ReferenceOptions | None:
    """The reference-code options given on the command line (None: none given)."""
    given = {k: getattr(args, k) for k in _REFERENCE_FIELDS if getattr(args, k) is not None}
    return ReferenceOptions(**given) if given else None


def _prepare(args: argparse.Namespace, src: Path) -> tuple[Network, Network, dict[str, Any]]:
    """(float network, deployed network, prepare_for_target's info) for an export verb."""
    if args.nir_from:
        float_net = _load_from_tool(args, src)
    elif args.one_spike_per_step or args.reset:
        raise DelaykitError("--one-spike-per-step, --reset: apply only with --from TOOL")
    else:
        float_net = load_any(src, reference_code=args.reference_code or None, options=_options(args))
    field = xylo_reading(float_net.metadata)
    if field and args.verb in CONTRACT_READERS:
        raise xylo_refusal(src, field, f"convert {args.verb}", XYLO_FIX)
    float_net = with_window(float_net, args.window_steps, args.readout)
    target = args.target or getattr(args, "target_default", None)
    if args.verb == "to-netx" and target not in (None, "loihi2") and not str(target).endswith(".toml"):
        raise DelaykitError(f"to-netx writes Loihi 2 files; --target {target} is not loihi2")
    net, info = prepare_for_target(
        float_net, target=target, bits=args.bits, per_neuron=args.per_neuron, clip=args.clip
    )
    return float_net, net, info


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    src = Path(args.model)
    out = Path(args.output) if args.output else _default_output(src, args.verb)
    if args.verb in ("to-table", "to-pynn"):
        marker, what = (
            ("manifest.json", "a table export") if args.verb == "to-table" else (SCRIPT_NAME, "a PyNN export")
        )
        refuse_foreign_folder(out, marker, what)
    if args.verb == "to-xylo":
        refuse_foreign_folder(out, XYLO_MARKER, "a Xylo spec")
    float_net, net, info = _prepare(args, src)
    rep = build_report(net, info, float_net=float_net if info.get("quantization") else None)
    # Every output is staged and renamed into place together, after the last one is written:
    # a failing --report or --plot leaves no main output, a failing export no report.
    with output_set() as outs:
        if args.report:
            rp = Path(args.report)
            write_report(rep, outs.file(rp), outs.file(rp.with_suffix(".txt")))
        if args.plot:
            plot_report(rep, outs.file(args.plot))
        if args.verb == "report":
            write_report(rep, outs.file(out), outs.file(out.with_suffix(".txt")))
            written = str(out)
        else:
            staged = outs.folder(out) if args.verb in ("to-table", "to-pynn", "to-xylo") else outs.file(out)
            written = _export(args, net, staged).replace(str(staged), str(out))
    print(format_conversion_report(rep))
    if args.verb == "report":
        print(f"wrote {out}")
    else:
        print(f"wrote {written} ({time.perf_counter() - t0:.2f} s)")
    return 0


def _default_output(src: Path, verb: str) -> Path:
    stem = src.name[: -len(src.suffix)] if src.suffix else src.name
    return src.with_name(stem + _DEFAULT_SUFFIX[verb])


def _export(args: argparse.Namespace, net: Network, out: Path) -> str:
    """Write ``net`` in the verb's format to ``out``; returns what was written, for the log."""
    if args.verb == "to-dkn":
        save_network(net, out)
        return str(out)
    if args.verb == "to-nir":
        if args.nir_for:
            write_nir_for(net, out, args.nir_for)
            return f"{out} (for {args.nir_for})"
        write_nir(net, out, r_convention=args.nir_r)
        return str(out)
    if args.verb == "to-table":
        formats = ("csv", "parquet", "npz") if args.format == "all" else (args.format,)
        files = write_tables(net, out, formats=formats)
        return f"{out}/ ({len(files)} files)"
    if args.verb == "to-pynn":
        files = write_pynn(net, out)
        note = (
            "" if net.layers[0].is_integer else "; float weights: use --bits for a spike-exact integer export"
        )
        return f"{out}/ ({len(files)} files; run: python {out}/run_pynn.py --simulator nest --data TEST.h5 --out result.npz{note})"
    if args.verb == "to-onnx":
        write_onnx(net, out, dtype=args.dtype)
        return str(out)
    if args.verb == "to-netx":
        write_netx(net, out)
        return str(out)
    if args.verb == "to-xylo":
        return f"{out}/ ({write_xylo(net, out)})"
    raise AssertionError(args.verb)  # pragma: no cover - argparse restricts verbs
