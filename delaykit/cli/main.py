"""Entry point of the ``delaykit`` command.

Each area registers its own subcommand through a ``register(subparsers)`` function in its
CLI module. Those modules are imported here, explicitly: they must import quickly and without
torch (torch is imported inside the handlers), and a module that fails to import is an error,
not a missing command. A handler returns an exit code: 0 success, 1 a negative verdict
(accuracy mismatch, network does not fit), 2 bad input (raised as
:class:`delaykit.errors.DelaykitError`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

# Plain ``import a.b as c``: a module that fails to import stops the command with its own
# error and name (``from a import b`` would report only "cannot import name 'b'").
import delaykit.cli.data as data_cli
import delaykit.cli.info as info_cli
import delaykit.cli.pipeline as pipeline_cli
import delaykit.convert.cli as convert_cli
import delaykit.hardware_targets.cli as targets_cli
import delaykit.sim.cli as sim_cli
import delaykit.train.cli as train_cli
from delaykit import __version__
from delaykit.errors import DelaykitError

#: The modules that register a subcommand, in the order shown by --help.
SUBCOMMAND_MODULES: tuple[ModuleType, ...] = (
    info_cli,
    data_cli,
    train_cli,
    convert_cli,
    sim_cli,
    targets_cli,
    pipeline_cli,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``delaykit`` parser with every area's subcommand."""
    parser = argparse.ArgumentParser(
        prog="delaykit",
        description="Spiking networks with learned synaptic delays: train, convert, simulate, "
        "and check them against neuromorphic hardware targets.",
    )
    parser.add_argument("--version", action="version", version=f"delaykit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``delaykit`` command line; returns the exit code."""
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
