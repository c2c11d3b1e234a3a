"""``delaykit info FILE``: summary of a deployed network file."""

from __future__ import annotations

import argparse
import json

from delaykit.network import format_summary, load_network, network_summary


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delaykit info``."""
    p = sub.add_parser(
        "info",
        help="summarize a deployed network file (.dkn)",
        description="Print parameters, synapses, delay histograms and sparsity.",
    )
    p.add_argument("file", help="a delaykit network file written by 'delaykit convert'")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    net = load_network(args.file)
    if args.json:
        print(json.dumps(network_summary(net), indent=2))
    else:
        print(format_summary(net, args.file))
    return 0
