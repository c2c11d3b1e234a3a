"""Many audio clips -> one SHD-schema file, with the cochlear front end of :mod:`delaykit.data.audio`.

:func:`encode_files_to_shd` encodes WAV clips in worker processes and writes them with
:func:`delaykit.data.shd.write_shd`; :func:`plot_samples` draws a few samples of such a file.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.data.audio import CochleaConfig, encode_file
from delaykit.data.shd import SHDFile, write_shd
from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_path
from delaykit.progress import progress_bar


@dataclass(frozen=True)
class AudioItem:
    """One clip to encode: a WAV path, its class index and its speaker id (or None)."""

    path: Path
    label: int
    speaker: int | None = None


@dataclass(frozen=True)
class EncodeStats:
    """What :func:`encode_files_to_shd` wrote. Seconds of wall time, spikes per sample."""

    path: Path
    n_samples: int
    window_s: float
    total_audio_s: float
    spikes_per_sample: float
    wall_s: float


def parallel_map(
    func: Any,
    items: list[Any],
    *,
    workers: int = 1,
    progress: bool = True,
    desc: str = "",
    unit: str = "clip",
) -> list[Any]:
    """``[func(x) for x in items]`` over ``workers`` processes (spawned), in input order.

    ``func`` must be a module-level function. A progress bar (delaykit.progress) shows progress when ``progress``.
    """
    workers = max(1, min(int(workers), len(items)))
    bar = progress_bar(total=len(items), desc=desc, unit=unit, disable=not progress, leave=False)
    out: list[Any] = []
    try:
        if workers == 1:
            for x in items:
                out.append(func(x))
                bar.update(1)
        else:
            chunk = max(1, min(16, len(items) // (8 * workers)))
            with mp.get_context("spawn").Pool(workers) as pool:
                for r in pool.imap(func, items, chunksize=chunk):
                    out.append(r)
                    bar.update(1)
    finally:
        bar.close()
    return out


def _encode_item(args: tuple[Path, CochleaConfig]) -> tuple[np.ndarray, np.ndarray, float]:
    path, cfg = args
    return encode_file(path, cfg)


def window_for(durations_s: list[float] | np.ndarray, dt: float = 0.01) -> float:
    """A window in seconds covering the longest clip, rounded up to a whole ``dt`` frame."""
    longest = float(np.max(durations_s)) if len(durations_s) else dt
    return math.ceil(longest / dt - 1e-9) * dt


def _item_speakers(items: list[AudioItem]) -> np.ndarray | None:
    """Speaker ids of all items, or None when no item has one; a partial set is an error."""
    if all(it.speaker is None for it in items):
        return None
    missing = [str(it.path) for it in items if it.speaker is None][:3]
    if missing:
        raise DelaykitError(f"items: no speaker for {', '.join(missing)}; give every item a speaker or none")
    return np.array([it.speaker for it in items])


def encode_files_to_shd(
    items: list[AudioItem],
    out: str | Path,
    *,
    cfg: CochleaConfig | None = None,
    class_names: list[str] | None = None,
    meta_info: dict[str, np.ndarray] | None = None,
    window_s: float | None = None,
    workers: int = 1,
    progress: bool = True,
    attrs: dict[str, Any] | None = None,
) -> EncodeStats:
    """Encode WAV clips into one SHD-schema HDF5 file (written atomically).

    ``window_s`` (seconds) is stored as ``delaykit_window_s``; default: the longest clip,
    rounded up to 10 ms. ``meta_info`` arrays are indexed by speaker id (SHD convention).
    """
    cfg = cfg or CochleaConfig()
    if not items:
        raise DelaykitError("items: no audio files to encode; pass WAV files or folders holding *.wav")
    t0 = time.perf_counter()
    jobs = [(it.path, cfg) for it in items]
    results = parallel_map(_encode_item, jobs, workers=workers, progress=progress, desc="encode audio")
    times = [r[0] for r in results]
    durations = [r[2] for r in results]
    window_s = window_for(durations) if window_s is None else window_s
    speakers = _item_speakers(items)
    all_attrs = {"delaykit_cochlea": json.dumps(cfg.to_dict()), "delaykit_source": "delaykit encode-audio"}
    all_attrs.update(attrs or {})
    write_shd(
        out,
        times,
        [r[1] for r in results],
        np.array([it.label for it in items], dtype=np.int64),
        class_names=class_names,
        speakers=speakers,
        meta_info=meta_info,
        n_units=int(cfg.n_channels),
        window_s=window_s,
        attrs=all_attrs,
    )
    n_spikes = sum(len(t) for t in times)
    return EncodeStats(
        Path(out),
        len(items),
        float(window_s),
        float(sum(durations)),
        n_spikes / len(items),
        time.perf_counter() - t0,
    )


def _first_of_each_label(labels: list[int], n: int) -> list[int]:
    """Indices of the first sample of each of the first ``n`` distinct labels, in file order."""
    picks: list[int] = []
    seen: set[int] = set()
    for i, lab in enumerate(labels):
        if lab not in seen:
            seen.add(lab)
            picks.append(i)
        if len(picks) == n:
            break
    return picks


def _draw_sample(ds: SHDFile, i: int, names: list[str], top: Any, bottom: Any) -> None:
    """Raster (unit vs seconds) on ``top`` and binned frames on ``bottom`` for sample ``i``."""
    t, u = ds.events(i)
    lab = int(ds.labels[i])
    title = names[lab] if lab < len(names) else str(lab)
    top.scatter(t, u, s=0.2, c="k", marker=".", linewidths=0)
    top.set_xlim(0, ds.window_steps * ds.spec.dt)
    top.set_ylim(0, ds.n_units)
    top.set_title(f"#{i} {title} ({t.size} spikes)", fontsize=9)
    top.set_xlabel("time [s]")
    bottom.imshow(
        ds.frames(i).T,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(0, ds.window_steps * ds.spec.dt, 0, ds.n_channels),
    )
    bottom.set_xlabel("time [s]")


def plot_samples(h5_path: str | Path, png: str | Path, n: int = 4) -> Path:
    """Draw spike rasters (unit vs seconds) and binned frames of the first ``n`` classes' samples.

    One column per sample: the first sample of each of the first ``n`` labels in the file.
    Written atomically; returns the PNG path.
    """
    import matplotlib  # matplotlib: slow import, only for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with SHDFile(h5_path) as ds:
        names = ds.class_names()
        picks = _first_of_each_label(ds.labels.tolist(), n)
        cols = max(1, len(picks))
        fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 5.5), squeeze=False)
        for col, i in enumerate(picks):
            _draw_sample(ds, i, names, axes[0, col], axes[1, col])
        axes[0, 0].set_ylabel("unit (low -> high frequency)")
        axes[1, 0].set_ylabel(f"channel (x{ds.spec.channel_group} units), counts per {ds.spec.dt * 1e3:g} ms")
        fig.suptitle(Path(h5_path).name, fontsize=10)
        fig.tight_layout()
        with atomic_path(png) as tmp:
            fig.savefig(tmp, dpi=90)
        plt.close(fig)
    return Path(png)
