"""Lazy reader for SHD-schema HDF5 files (SHD, SSC, and files written by delaykit).

Schema (Cramer et al. 2020): ``spikes/times`` (ragged, seconds), ``spikes/units`` (ragged,
unit index 0..n_units-1), ``labels`` (one per sample), optional ``extra/speaker``,
``extra/keys`` (class names), ``extra/meta_info/...``. Samples are read one at a time;
a whole file is never loaded.

Binning (section "The deployed-network contract" of docs/design.md, input binning): an event
at time ``t`` seconds on unit ``u`` goes to frame ``floor(t / dt)`` (computed on integer
microseconds) and channel ``u // channel_group``; frames hold counts. Every sample gets the
same fixed window of ``window_steps`` frames, so its frames never depend on the batch.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import atomic_h5
from delaykit.validate import (
    MAX_SEQUENCE_STEPS,
    finite_array,
    in_range,
    integral,
    integral_array,
)

#: Default window when the file does not say: 1.4 s covers every SHD/SSC sample.
DEFAULT_WINDOW_S = 1.4
#: Root attribute delaykit writes into its own files to fix the window (seconds).
WINDOW_ATTR = "delaykit_window_s"
#: Largest number of raw input units a file may declare.
MAX_UNITS = 10_000_000
#: Events outside the window per file already reported in this process (path, stat, window).
_REPORTED: dict[tuple[Any, ...], int] = {}


@dataclass(frozen=True)
class BinSpec:
    """How events become frames.

    dt: frame length in seconds (0.01 = the paper's 10 ms).
    channel_group: raw units summed per channel (5: 700 -> 140).
    window_steps: frames per sample; None = the file's ``delaykit_window_s`` attribute, or
    1.4 s when absent.
    binary: clip counts to 1 (the paper uses counts).
    """

    dt: float = 0.01
    channel_group: int = 5
    window_steps: int | None = None
    binary: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"bin spec: field 'dt': must be a positive number of seconds, got {self.dt}")
        if int(self.channel_group) < 1:
            raise ValueError(f"bin spec: field 'channel_group': must be >= 1, got {self.channel_group}")
        if self.window_steps is not None and int(self.window_steps) < 1:
            raise ValueError(f"bin spec: field 'window_steps': must be >= 1, got {self.window_steps}")


def bin_events(
    times_s: np.ndarray,
    units: np.ndarray,
    n_units: int,
    spec: BinSpec,
    window_steps: int,
) -> tuple[np.ndarray, int]:
    """Bin one sample's events into a (window_steps, n_channels) float32 count array.

    Returns the frames and the number of events dropped (outside the window, or negative
    times). ``n_channels = ceil(n_units / channel_group)``.
    """
    n_channels = math.ceil(n_units / spec.channel_group)
    frames = np.zeros((window_steps, n_channels), dtype=np.float32)
    if len(times_s) == 0:
        return frames, 0
    # Integer microseconds first: SHD times are float32 seconds with microsecond resolution, so
    # 1.39 s is stored as 1.3899999857; plain floor(t / dt) would move it to the previous frame.
    # Clipped first: a time of 1e30 s is outside every window, and must not overflow int64.
    t_s = np.clip(np.asarray(times_s, dtype=np.float64), -1.0, 1e9)
    t_us = np.round(t_s * 1e6).astype(np.int64)
    dt_us = max(1, round(spec.dt * 1e6))
    t = t_us // dt_us
    c = np.asarray(units, dtype=np.int64) // spec.channel_group
    keep = (t >= 0) & (t < window_steps)
    flat = np.bincount(t[keep] * n_channels + c[keep], minlength=window_steps * n_channels)
    frames[:] = flat.reshape(window_steps, n_channels)
    if spec.binary:
        np.minimum(frames, 1.0, out=frames)
    return frames, int((~keep).sum())


class SHDFile:
    """One SHD-schema HDF5 file, read lazily sample by sample.

    >>> with SHDFile("shd_test.h5") as ds:            # doctest: +SKIP
    ...     frames, label = ds[0]                      # (T, 140) counts, int
    """

    REQUIRED = ("spikes/times", "spikes/units", "labels")

    def __init__(self, path: str | Path, spec: BinSpec | None = None, n_units: int | None = None):
        import h5py  # h5py: slow import, only when a file is opened

        self.path = Path(path)
        self.spec = spec or BinSpec()
        if not self.path.exists():
            raise DelaykitError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise DelaykitError(f"{self.path}: is a folder; expected an SHD-schema .h5 file")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as e:
            raise FormatError(
                f"{self.path}: not a readable HDF5 file ({e}); is the download incomplete? "
                f"Delete it and download again"
            ) from None
        try:
            self._check_schema()
            self._times = self._f["spikes/times"]
            self._units = self._f["spikes/units"]
            self._read_header(n_units)
        except (OSError, RuntimeError, KeyError, TypeError) as e:  # h5py on a damaged file
            self._f.close()
            raise FormatError(f"{self.path}: unreadable content ({e}); the file may be damaged") from None
        except BaseException:
            self._f.close()
            raise
        self.dropped_events = 0

    def _read_header(self, n_units: int | None) -> None:
        """Labels, unit count and window, each checked; then every sample's events."""
        where = str(self.path)
        self._labels = integral_array(
            self._f["labels"][()], where, "labels", lo=0, fix="labels are class indices 0, 1, ..."
        )
        if not len(self._labels):
            raise DelaykitError(f"{where}: holds 0 samples; there is nothing to read from it")
        names = self.class_names()
        if names and int(self._labels.max()) >= len(names):
            raise DelaykitError(
                f"{where}: field 'labels' = {int(self._labels.max())}: no such class; "
                f"'extra/keys' names {len(names)} classes (labels 0..{len(names) - 1})"
            )
        stored = self._f.attrs.get("n_units")
        if stored is not None:  # checked even when the caller gives the count: a bad one is damage
            stored = integral(stored, where, "n_units", lo=1, hi=MAX_UNITS)
        default = 700  # SHD and SSC: 700 cochlear channels (files without the attribute)
        raw_units = n_units if n_units is not None else (stored if stored is not None else default)
        self.n_units = integral(raw_units, where, "n_units", lo=1, hi=MAX_UNITS)
        window_s = in_range(  # checked even when a window is given: a NaN here is a damaged file
            self._f.attrs.get(WINDOW_ATTR, DEFAULT_WINDOW_S),
            where,
            WINDOW_ATTR,
            0,
            1e6,
            lo_open=True,
            fix="it is the sample window in seconds; rewrite the file or pass a window",
        )
        if self.spec.window_steps is not None:
            self.window_steps = int(self.spec.window_steps)
        else:
            self.window_steps = int(math.ceil(min(window_s / self.spec.dt, 1e18) - 1e-9))
        if self.window_steps > MAX_SEQUENCE_STEPS:
            raise DelaykitError(
                f"{where}: window of {self.window_steps} steps (dt {self.spec.dt:g} s) is above the "
                f"limit of {MAX_SEQUENCE_STEPS} steps; check '{WINDOW_ATTR}' and dt"
            )
        self._scan()

    def _scan(self) -> None:
        """Check every sample's events once per process and report those outside the window."""
        st = self.path.stat()
        key = (
            str(self.path.resolve()),
            st.st_mtime_ns,
            st.st_size,
            self.spec.dt,
            self.window_steps,
            self.n_units,
        )
        if key in _REPORTED:
            return
        dt_us = max(1, round(self.spec.dt * 1e6))
        outside = 0
        for lo in range(0, len(self), 1024):
            hi = min(len(self), lo + 1024)
            for k, (t, u) in enumerate(zip(*self._read_slices(lo, hi), strict=True)):
                t, _ = self._checked(lo + k, np.asarray(t), np.asarray(u))
                steps = np.round(np.clip(t, 0.0, 1e9) * 1e6).astype(np.int64) // dt_us
                outside += int((steps >= self.window_steps).sum())
        _REPORTED[key] = outside
        if outside and multiprocessing.parent_process() is None:
            print(
                f"{self.path}: warning: {outside} events lie after the window of "
                f"{self.window_steps} steps ({self.window_steps * self.spec.dt:g} s), outside the "
                f"window: they are dropped",
                file=sys.stderr,
            )

    def _read_slices(self, lo: int, hi: int) -> tuple[Any, Any]:
        try:
            return self._times[lo:hi], self._units[lo:hi]
        except (OSError, RuntimeError, ValueError) as e:
            raise FormatError(
                f"{self.path}: samples {lo}..{hi - 1} unreadable ({e}); the file may be truncated"
            ) from None

    def _check_schema(self) -> None:
        f = self._f
        missing = [k for k in self.REQUIRED if k not in f]
        if missing:
            raise FormatError(
                f"{self.path}: not an SHD-schema file: missing {', '.join(missing)} "
                f"(expected spikes/times, spikes/units, labels)"
            )
        n = len(f["labels"])
        for k in ("spikes/times", "spikes/units"):
            if len(f[k]) != n:
                raise FormatError(
                    f"{self.path}: field '{k}' has {len(f[k])} samples but 'labels' has {n}; "
                    f"the file is inconsistent or truncated"
                )
        if f["labels"].ndim != 1:
            raise FormatError(f"{self.path}: field 'labels' must be 1-D, got shape {f['labels'].shape}")

    # -- sequence protocol -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> np.ndarray:
        """Class label per sample (from ``labels``)."""
        return self._labels

    @property
    def n_channels(self) -> int:
        """Input channels after grouping: ``ceil(n_units / channel_group)``."""
        return math.ceil(self.n_units / self.spec.channel_group)

    @property
    def n_classes(self) -> int:
        """Number of classes: the class names if the file has them, else the largest label + 1."""
        keys = self.class_names()
        if keys:
            return len(keys)
        return int(self._labels.max()) + 1 if len(self._labels) else 0

    def class_names(self) -> list[str]:
        """Class names in label order (``extra/keys``), or [] when the file has none."""
        if "extra/keys" not in self._f:
            return []
        return [k.decode() if isinstance(k, bytes) else str(k) for k in self._f["extra/keys"][()]]

    def speakers(self) -> np.ndarray | None:
        """Speaker id per sample (``extra/speaker``), or None."""
        return self._f["extra/speaker"][()] if "extra/speaker" in self._f else None

    def events(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw events of sample ``i``: (times in seconds float64, units int64)."""
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range 0..{len(self) - 1}")
        try:
            t = np.asarray(self._times[i])
            u = np.asarray(self._units[i])
        except (OSError, RuntimeError, ValueError) as e:
            raise FormatError(
                f"{self.path}: sample {i} unreadable ({e}); the file may be truncated"
            ) from None
        return self._checked(i, t, u)

    def read_range(self, lo: int, hi: int) -> list[tuple[np.ndarray, int]]:
        """(frames, label) of samples ``lo..hi-1``, read with one HDF5 call per dataset."""
        if not 0 <= lo <= hi <= len(self):
            raise IndexError(f"range {lo}..{hi} outside 0..{len(self)}")
        times, units = self._read_slices(lo, hi)
        out = []
        for k, (t, u) in enumerate(zip(times, units, strict=True)):
            t, u = self._checked(lo + k, np.asarray(t), np.asarray(u))
            frames, dropped = bin_events(t, u, self.n_units, self.spec, self.window_steps)
            self.dropped_events += dropped
            out.append((frames, int(self._labels[lo + k])))
        return out

    def _checked(self, i: int, t: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times finite and >= 0 (float64 seconds), units whole numbers in 0..n_units-1 (int64)."""
        if t.shape != u.shape:
            raise FormatError(
                f"{self.path}: sample {i}: spikes/times has {t.size} events but spikes/units has {u.size}"
            )
        where = f"{self.path}: sample {i}"
        t = finite_array(t, where, "spikes/times", "spike times are seconds from the sample start").astype(
            np.float64
        )
        if t.size and t.min() < 0:
            raise FormatError(
                f"{where}: field 'spikes/times' = {float(t.min())!r}: {int((t < 0).sum())} negative "
                f"time(s); spike times are seconds >= 0 from the sample start"
            )
        u = integral_array(
            u,
            where,
            "spikes/units",
            0,
            self.n_units - 1,
            f"unit indices are whole numbers 0..{self.n_units - 1} (attribute 'n_units' = {self.n_units})",
        )
        return t, u

    def frames(self, i: int) -> np.ndarray:
        """Sample ``i`` as (window_steps, n_channels) float32 counts."""
        t, u = self.events(i)
        frames, dropped = bin_events(t, u, self.n_units, self.spec, self.window_steps)
        self.dropped_events += dropped
        return frames

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.frames(i), int(self._labels[i])

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        for i in range(len(self)):
            yield self[i]

    def attrs(self) -> dict[str, Any]:
        """The file's root attributes (bytes decoded to str)."""
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._f.attrs.items()}

    def close(self) -> None:
        """Close the HDF5 file."""
        self._f.close()

    def __enter__(self) -> SHDFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for worker processes: reopen the file on the other side.
        return {"path": str(self.path), "spec": self.spec, "n_units": self.n_units}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["spec"], state["n_units"])  # type: ignore[misc]


def write_shd(
    path: str | Path,
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    *,
    class_names: list[str] | None = None,
    speakers: np.ndarray | None = None,
    meta_info: dict[str, np.ndarray] | None = None,
    n_units: int = 700,
    window_s: float | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write an SHD-schema HDF5 file atomically (times in seconds, float32 like SHD)."""
    import h5py  # h5py: slow import, only when a file is written

    if not (len(times) == len(units) == len(labels)):
        raise ValueError("write_shd: times, units and labels must have the same length")
    with atomic_h5(path) as f:
        sp = f.create_group("spikes")
        ft = sp.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        fu = sp.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times, units, strict=True)):
            ft[i] = np.asarray(t, dtype=np.float32)
            fu[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        ex = f.create_group("extra")
        if class_names is not None:
            ex.create_dataset("keys", data=np.array([s.encode() for s in class_names]))
        if speakers is not None:
            ex.create_dataset("speaker", data=np.asarray(speakers, dtype=np.uint16))
        if meta_info:
            mi = ex.create_group("meta_info")
            for k, v in meta_info.items():
                mi.create_dataset(k, data=v)
        f.attrs["n_units"] = int(n_units)
        if window_s is not None:
            f.attrs[WINDOW_ATTR] = float(window_s)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
