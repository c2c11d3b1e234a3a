"""Entry point of the ``delaykit`` command.

Each area registers its own subcommand through a ``register(subparsers)`` function in a
module that must import quickly and without torch (torch is imported inside the handlers).
A handler returns an exit code: 0 success, 1 a negative verdict (accuracy mismatch, network
does not fit), 2 bad input (raised as :class:`delaykit.errors.DelaykitError`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from delaykit import __version__
from delaykit.errors import DelaykitError

#: (module, registration function) per subcommand, in the order shown by --help.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "delaykit.cli.info",
    "delaykit.cli.data",
    "delaykit.train.cli",
    "delaykit.convert.cli",
    "delaykit.sim.cli",
    "delaykit.hardware_targets.cli",
    "delaykit.cli.pipeline",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="delaykit",
        description="Spiking networks with learned synaptic delays: train, convert, simulate, "
        "and check them against neuromorphic hardware targets.",
    )
    parser.add_argument("--version", action="version", version=f"delaykit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("delaykit"):
                continue  # an area not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DelaykitError as e:
        print(f"delaykit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("delaykit: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())


if __name__ == "__main__":
    run()
