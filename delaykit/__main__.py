"""``python -m delaykit``: the ``delaykit`` command; Ctrl-C while it starts exits 130 quietly."""

import sys

try:
    from delaykit.cli.main import run
except KeyboardInterrupt:
    print("delaykit: interrupted", file=sys.stderr)
    sys.exit(130)

run()
