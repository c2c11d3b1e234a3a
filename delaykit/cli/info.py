"""``delaykit info FILE``: summary of a deployed network file."""

from __future__ import annotations

import argparse
import json

from delaykit.network import format_summary, load_network, network_summary
from delaykit.network.reading import xylo_reading


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delaykit info``."""
    p = sub.add_parser(
        "info",
        help="summarize a deployed network file (.dkn)",
        description="Print parameters, synapses, delay histograms and sparsity, and how the network "
        "is read when it is not with the contract's neuron (trained for Xylo: read in Xylo's arithmetic).",
    )
    p.add_argument("file", help="a delaykit network file written by 'delaykit convert'")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run)


def reading_line(field: str) -> str:
    """How a Xylo-trained network is read, for people (``field``: what :func:`xylo_reading` found)."""
    return (
        f"reading: Xylo's arithmetic (metadata {field}; trained with Xylo's neuron): run it with "
        "delaykit sim --target xylo or on Xylo (convert to-xylo + xylosim); exports for other tools refuse it"
    )


def _run(args: argparse.Namespace) -> int:
    net = load_network(args.file)
    field = xylo_reading(net.metadata)
    if args.json:
        summary = network_summary(net)
        summary["reading"] = "xylo" if field else "contract"
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(net, args.file))
        if field:
            print(reading_line(field))
    return 0
