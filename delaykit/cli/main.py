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
import contextlib
import os
import signal
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
from delaykit.cli.io_guard import run_guarded
from delaykit.errors import DelaykitError
from delaykit.outputs import os_error_text
from delaykit.validate import check_cli_numbers

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
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the parser is built: no traceback either
        print("delaykit: interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_cli_numbers(args)
        return run_guarded(args)
    except DelaykitError as e:
        print(f"delaykit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _broken_pipe()
    except OSError as e:
        print(f"delaykit {args.command}: error: {_os_error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("delaykit: interrupted", file=sys.stderr)
        return 130


def _os_error_line(e: OSError) -> str:
    """One line for an OS error that no writer turned into a DelaykitError: path and reason."""
    where = e.filename if e.filename is not None else ""
    return f"{where}: {os_error_text(e)}" if where else os_error_text(e)


def _broken_pipe() -> int:
    """The reader of stdout went away (``delaykit info x.dkn | head``): stop quietly, 141."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    return 128 + signal.SIGPIPE


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so writers remove their temporary files (exit 143)."""
    raise SystemExit(128 + signum)


def run() -> None:
    """Console-script wrapper: SIGTERM cleans up and exits 143; a closed pipe exits 141 quietly."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, _terminate)
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = _broken_pipe()
    except KeyboardInterrupt:  # after main returned, before the exit
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()
