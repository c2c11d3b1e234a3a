"""``python -m delaykit`` and the ``delaykit`` console script (``entry``): Ctrl-C while the
command line is still importing its modules exits 130 with one line, not a traceback."""

import sys


def entry() -> None:
    """Import the command line, then run it (``delaykit.cli.main.run`` exits with its code)."""
    try:
        from delaykit.cli.main import run  # lazy: a Ctrl-C during these imports must exit 130
    except KeyboardInterrupt:
        print("delaykit: interrupted", file=sys.stderr)
        sys.exit(130)
    run()


if __name__ == "__main__":
    entry()
