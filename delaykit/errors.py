"""Errors that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class DelaykitError(Exception):
    """A user-facing error: bad input file, bad field, bad option.

    The message should name the file (or option), the field, and the fix.
    """


class FormatError(DelaykitError, ValueError):
    """A file exists but is not in the expected format (wrong schema, version, truncated)."""


class RelayNotSupported(DelaykitError, ValueError):
    """A consumer (exporter, table writer) cannot represent relay neurons or input taps."""
