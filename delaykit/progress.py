"""Progress for people and for log files: one helper for every long loop.

:func:`progress_bar` takes tqdm's arguments. On a terminal it is a tqdm bar; when stderr is a
file or a pipe (a log, CI, ``2>run.log``) it prints plain lines instead: one each time another
``every_pct`` percent is done (default 10 %, at most one line per :data:`MIN_SECONDS`; 100: one
line when the work ends, as training does per epoch), never carriage-return frames. ``DELAYKIT_PROGRESS=lines`` forces lines,
``=bars`` forces bars, ``=off`` silences both.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

ENV = "DELAYKIT_PROGRESS"
#: In line mode, intermediate lines come at most this often (the final line always comes).
MIN_SECONDS = 5.0


class LineProgress:
    """tqdm's interface (update, set_postfix, close, iteration), printing whole lines."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        initial: float = 0,
        every_pct: float = 10.0,
        file: TextIO | None = None,
        disable: bool = False,
        leave: bool = True,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc or "", unit
        self.n, self.disable, self.every = initial, disable, max(float(every_pct), 1e-9)
        self.file = file
        self._t0 = time.perf_counter()
        self._next = self._next_mark(initial)
        self._postfix = ""
        self._closed = False
        self._last = self._t0
        self._printed = False
        self.leave = leave

    def _next_mark(self, n: float) -> float:
        if not self.total:
            return float("inf")
        step = self.total * self.every / 100.0
        return (int(n / step) + 1) * step if step > 0 else float("inf")

    def _line(self) -> str:
        took = time.perf_counter() - self._t0
        done = f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"
        pct = f"{100.0 * self.n / self.total:3.0f}% " if self.total else ""
        head = f"{self.desc}: " if self.desc else ""
        tail = f", {self._postfix}" if self._postfix else ""
        return f"{head}{pct}({done}) {took:.1f} s{tail}"

    def _print(self) -> None:
        out = self.file or sys.stderr
        print(self._line(), file=out, flush=True)
        self._last = time.perf_counter()
        self._printed = True

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.disable and self.n >= self._next and self.n < (self.total or 0):
            self._next = self._next_mark(self.n)
            if time.perf_counter() - self._last >= MIN_SECONDS:
                self._print()

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(dict(ordered_dict) if ordered_dict else {}), **kwargs}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """Nothing to redraw (tqdm compatibility)."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # a transient bar (leave=False: an evaluation inside an epoch) that was quick stays silent
        quiet = not self.leave and not self._printed and time.perf_counter() - self._t0 < MIN_SECONDS
        if not self.disable and not quiet and (self.n > 0 or self.total == 0):
            self._print()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LineProgress: no iterable given")
        try:
            for x in self.iterable:
                yield x
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def use_lines(file: TextIO | None = None) -> bool:
    """True when progress should be printed as lines (stderr not a terminal), per ``ENV``."""
    mode = os.environ.get(ENV, "").strip().lower()
    if mode in ("lines", "bars"):
        return mode == "lines"
    stream = file or sys.stderr
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def progress_bar(iterable: Iterable[Any] | None = None, *, every_pct: float = 10.0, **kwargs: Any) -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` otherwise (same arguments as tqdm).

    ``every_pct``: in line mode, print a line each time this share of ``total`` is done
    (100: only when the work ends). ``DELAYKIT_PROGRESS=off`` disables both.
    """
    if os.environ.get(ENV, "").strip().lower() == "off":
        kwargs["disable"] = True
    if use_lines(kwargs.get("file")):
        keep = ("total", "desc", "unit", "initial", "file", "disable", "leave")
        return LineProgress(iterable, every_pct=every_pct, **{k: v for k, v in kwargs.items() if k in keep})
    from tqdm import tqdm  # third-party, only for a terminal

    return tqdm(iterable, **kwargs)
