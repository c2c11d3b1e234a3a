"""Library errors re-raised with the command-line flag that set the faulty field.

Library code names its parameters (``field 'slot_ms': ...``); the CLI knows which flag fed
which parameter and puts the flag in front (``--slot-ms: ... field 'slot_ms': ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from delaykit.errors import DelaykitError

_FIELD = re.compile(r"field '([^']+)'")


def flag_error(error: Exception, flags: Mapping[str, str]) -> DelaykitError:
    """A one-line DelaykitError for a library ``ValueError`` naming ``field '<name>'``.

    ``flags`` maps a field name to the flag that set it; a message naming a field in it
    gets that flag as a prefix, any other message is kept as it is.
    """
    m = _FIELD.search(str(error))
    flag = flags.get(m.group(1)) if m else None
    return DelaykitError(f"{flag}: {error}" if flag else str(error))


def require_workers(workers: int, flag: str = "--workers") -> None:
    """Refuse a worker count below 1, naming the flag."""
    if workers < 1:
        raise DelaykitError(f"{flag}: must be >= 1, got {workers}")
