"""The ``delaykit`` command line: one entry point, one subcommand per area."""

from delaykit.cli.main import main

__all__ = ["main"]
