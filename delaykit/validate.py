"""Input validation shared by every reader and by the command line's number parsing.

Small checks, each raising :class:`~delaykit.errors.DelaykitError` with the file (or flag), the
field, the bad value and the fix: finite, in range, integral where integral, and bounded in the
work it implies. The bounds below are the documented limits of delaykit (docs/design.md,
section "Input limits"); a value past one is refused with the number, never run for minutes.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError

#: Largest synaptic delay in steps (10^5 steps = 1000 s at the paper's 10 ms step).
MAX_DELAY_STEPS = 100_000
#: Largest number of steps of one sample: input window + every layer's extension + delays.
MAX_SEQUENCE_STEPS = 1_000_000
#: Largest simulated state in cells (steps x neurons, summed over layers): 2^31 cells of
#: float64 are 16 GiB, so a run above it is refused before it starts.
MAX_STATE_CELLS = 2**31
#: Largest number of events one generated or read sample may hold.
MAX_EVENTS_PER_SAMPLE = 10_000_000
#: Largest DCLS kernel size in steps accepted by training and conversion.
MAX_KERNEL_SIZE = 10_000


class InvalidValue(FormatError):
    """A value that is finite, integral or in range nowhere it should be (a FormatError)."""


def _where(where: str, field: str) -> str:
    return f"{where}: field '{field}'" if where else f"field '{field}'"


def invalid(where: str, field: str, value: Any, problem: str, fix: str = "") -> InvalidValue:
    """The shared error: ``<where>: field '<field>' = <value>: <problem>; <fix>``."""
    msg = f"{_where(where, field)} = {value!r}: {problem}"
    return InvalidValue(f"{msg}; {fix}" if fix else msg)


def finite(value: Any, where: str, field: str, fix: str = "") -> float:
    """``value`` as a finite float; NaN, infinity and non-numbers are refused."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise invalid(where, field, value, "is not a number", fix) from None
    if not math.isfinite(v):
        raise invalid(where, field, value, "must be a finite number", fix)
    return v


def in_range(
    value: Any,
    where: str,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    fix: str = "",
) -> float:
    """A finite float with ``lo <= value <= hi`` (``lo < value`` when ``lo_open``)."""
    v = finite(value, where, field, fix)
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise invalid(where, field, value, f"must be {'>' if lo_open else '>='} {lo:g}", fix)
    if hi is not None and v > hi:
        raise invalid(where, field, value, f"must be <= {hi:g}", fix)
    return v


def integral(
    value: Any, where: str, field: str, lo: int | None = None, hi: int | None = None, fix: str = ""
) -> int:
    """An integer in ``[lo, hi]``; fractional, non-finite and boolean values are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise invalid(where, field, value, "must be an integer, not a boolean", fix)
    if isinstance(value, (int, np.integer)):
        v = int(value)
    else:
        f = finite(value, where, field, fix)
        if f != math.floor(f):
            raise invalid(where, field, value, "must be a whole number", fix)
        v = int(f)
    if lo is not None and v < lo:
        raise invalid(where, field, value, f"must be >= {lo}", fix)
    if hi is not None and v > hi:
        raise invalid(where, field, value, f"must be <= {hi}", fix)
    return v


def finite_array(arr: Any, where: str, field: str, fix: str = "") -> np.ndarray:
    """A numeric array with no NaN or infinity; names how many and the first bad value."""
    a = np.asarray(arr)
    if a.dtype.kind not in "biuf":
        raise invalid(where, field, f"<dtype {a.dtype}>", "must be numeric", fix)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            first = a.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
            raise invalid(where, field, float(first), f"{int(bad.sum())} value(s) are NaN or infinite", fix)
    return a


def integral_array(
    arr: Any, where: str, field: str, lo: int | None = None, hi: int | None = None, fix: str = ""
) -> np.ndarray:
    """An array of whole numbers in ``[lo, hi]`` as int64; fractions and NaN are refused."""
    a = finite_array(arr, where, field, fix)
    if a.dtype.kind == "f":
        frac = a != np.floor(a)
        if frac.any():
            first = float(a.reshape(-1)[int(np.argmax(frac.reshape(-1)))])
            raise invalid(where, field, first, f"{int(frac.sum())} value(s) are not whole numbers", fix)
    span = f"outside {lo}..{hi}" if lo is not None and hi is not None else ""
    if a.size and lo is not None and a.min() < lo:
        raise invalid(where, field, a.min().item(), span or f"must be >= {lo}", fix)
    if a.size and hi is not None and a.max() > hi:
        raise invalid(where, field, a.max().item(), span or f"must be <= {hi}", fix)
    return a.astype(np.int64)


def bounded_work(amount: float, limit: float, where: str, what: str, fix: str) -> None:
    """Refuse a run whose estimated ``amount`` of work (cells, steps, events) exceeds ``limit``."""
    if not math.isfinite(amount) or amount > limit:
        raise DelaykitError(f"{where}: {what} would be {amount:.3g}, above the limit of {limit:.3g}; {fix}")


# ---- command-line numbers -------------------------------------------------------------------

#: Bounds of the numeric flags, by argparse destination: (lo, hi, lo_open). Every float flag
#: must also be finite. A flag not listed here only has to be finite.
CLI_BOUNDS: Mapping[str, tuple[float | None, float | None, bool]] = {
    "window_steps": (1, MAX_SEQUENCE_STEPS, False),
    "window_ms": (0, 1e7, True),
    "window_s": (0, 1e4, True),
    "dt_ms": (0, 1e4, True),
    "dt": (0, 10.0, True),
    "tau_ms": (0, 1e7, True),
    "kernel_size": (1, MAX_KERNEL_SIZE, False),
    "channel_group": (1, 1_000_000, False),
    "v_threshold": (0, None, True),
    "limit": (1, None, False),
    "workers": (1, 1024, False),
    "epochs": (1, 100_000, False),
    "bits": (2, 32, False),
    "atol": (0, None, False),
    "tolerance": (0, 100, False),
    "expect": (0, 100, False),
    "raster": (0, None, False),
    "verify": (0, 10_000, False),  # samples simulated twice (network and realization)
    "rows": (1, 1_000_000, False),
    "train": (1, 10_000_000, False),
    "test": (1, 10_000_000, False),
    "classes": (2, 10_000, False),
    "active": (1, 100_000, False),
    "slot_ms": (0, 10_000, True),
    "jitter_ms": (0, 10_000, False),
    "background_hz": (0, 1_000, False),
    "seed": (0, 2**32 - 1, False),
    "channels": (1, 100_000, False),
    "f_min": (0, None, True),
    "f_max": (0, None, True),
    "normalize_dbfs": (-200, 0, False),
    "voices": (1, 10_000, False),
    "repeats": (1, 10_000, False),
    "test_fraction": (0, 1, True),
    "samples": (1, 10_000_000, False),
    "latency": (0, MAX_DELAY_STEPS, False),
    "steps": (1, MAX_SEQUENCE_STEPS, False),
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_cli_number(dest: str, value: Any) -> None:
    """Refuse a parsed numeric flag value that is not finite or lies outside its bounds."""
    if isinstance(value, (list, tuple)):
        for v in value:
            check_cli_number(dest, v)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise DelaykitError(f"{_flag(dest)} {value}: must be a finite number")
    lo, hi, lo_open = CLI_BOUNDS.get(dest, (None, None, False))
    below = lo is not None and (value <= lo if lo_open else value < lo)
    above = hi is not None and value > hi
    if not (below or above):
        return
    if lo is not None and hi is not None and not lo_open:
        want = f"must be between {lo:g} and {hi:g}"
    elif below:
        want = f"must be {'>' if lo_open else '>='} {lo:g}"
    else:
        want = f"must be <= {hi:g}"
    if above:
        want += " (the documented limit; docs/design.md, 'Input limits')"
    raise DelaykitError(f"{_flag(dest)} {value:g}: {want}")


def check_cli_numbers(args: argparse.Namespace) -> None:
    """Check every numeric flag of a parsed command line (see :data:`CLI_BOUNDS`)."""
    for dest, value in sorted(vars(args).items()):
        check_cli_number(dest, value)
        if isinstance(value, float) and value == 0.0:
            setattr(args, dest, 0.0)  # '-0' is zero: numpy refuses a scale of -0.0
