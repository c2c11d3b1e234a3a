"""torch datasets and loaders for training: SHD-schema files and Google Speech Commands audio.

* :class:`FramesDataset` wraps :class:`delaykit.data.shd.SHDFile` (fixed window per file,
  event counts per ``dt`` frame and channel group), optionally cached in memory.
* :class:`GSCDataset` reads the Speech Commands folder layout (``<word>/<clip>.wav``,
  ``validation_list.txt``, ``testing_list.txt``) and computes the reference code's input:
  140 log-mel bands at 10 ms hops (:func:`log_mel`).
* :class:`GlobalBatchSampler` makes the batch order a pure function of (seed, epoch): the same
  global batches in one process or split over data-parallel ranks, and a run resumed
  mid-epoch sees exactly the batches it would have seen.

Every sample is ``(frames (T, C) float32, label int)`` with the same ``T`` for a whole file
(fixed windows, so training and deployed accuracy see identical inputs; ``docs/design.md``,
"Training model").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from delaykit.data.audio import read_wav, resample
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.progress import progress_bar

#: Cache binned frames in memory when the split is smaller than this (bytes, int16 counts).
AUTO_CACHE_BYTES = 1 << 30


class FramesDataset(Dataset):
    """Samples of one SHD-schema file as ``(frames (T, C) float32 counts, label)``.

    cache: keep all frames in memory (int16 counts) after the first full read.
    """

    def __init__(
        self,
        path: str | Path,
        spec: BinSpec,
        *,
        cache: str = "auto",
        n_units: int | None = None,
        progress: bool = False,
    ) -> None:
        self.file = SHDFile(path, spec, n_units=n_units)
        self.path = Path(path)
        self.window_steps = self.file.window_steps
        self.n_channels = self.file.n_channels
        self.n_units = self.file.n_units
        self.labels = np.asarray(self.file.labels, dtype=np.int64)
        self._cache: torch.Tensor | None = None
        size = len(self.file) * self.window_steps * self.n_channels * 2
        if cache == "always" or (cache == "auto" and size <= AUTO_CACHE_BYTES):
            self._fill_cache(progress)

    def _fill_cache(self, progress: bool) -> None:
        out = np.zeros((len(self.file), self.window_steps, self.n_channels), dtype=np.int16)
        for i in progress_bar(
            range(len(self.file)),
            desc=f"binning {self.path.name}",
            disable=not progress,
            unit="sample",
            leave=False,
        ):
            f = self.file.frames(i)
            if f.max(initial=0) > np.iinfo(np.int16).max:
                raise DelaykitError(f"{self.path}: sample {i} has more than 32767 events in one frame")
            out[i] = f
        self._cache = torch.from_numpy(out)

    def class_names(self) -> list[str]:
        """Class names stored in the file (empty when it has none)."""
        return self.file.class_names()

    @property
    def n_classes(self) -> int:
        """Number of classes of the file."""
        return self.file.n_classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self._cache is not None:
            return self._cache[i].to(torch.float32), int(self.labels[i])
        return torch.from_numpy(self.file.frames(i)), int(self.labels[i])

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch ``(x (B, T, C) float32, y (B,) int64)`` without a DataLoader."""
        if self._cache is not None:
            ii = torch.as_tensor(list(idx), dtype=torch.long)
            return self._cache[ii].to(torch.float32), torch.from_numpy(self.labels[list(idx)])
        return collate([self[i] for i in idx])


def collate(items: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack fixed-window samples into ``(B, T, C)`` and labels ``(B,)``."""
    xs = [x for x, _ in items]
    t = {x.shape for x in xs}
    if len(t) != 1:
        raise DelaykitError(f"samples of one batch have different shapes {sorted(t)}; use a fixed window")
    return torch.stack(xs), torch.tensor([y for _, y in items], dtype=torch.long)


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------


class GlobalBatchSampler(Sampler[list[int]]):
    """Global batches from a permutation fixed by (seed, epoch); this rank gets its share.

    Global batch ``b`` holds ``perm[b*B:(b+1)*B]``; rank ``r`` of ``world`` takes every
    ``world``-th element starting at ``r``. A trailing partial batch with fewer samples than
    ranks is dropped (every rank must take part in each step). ``start`` skips batches (resume).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world: int = 1,
        start: int = 0,
    ) -> None:
        self.n, self.batch_size, self.shuffle = int(n), int(batch_size), bool(shuffle)
        self.seed, self.epoch, self.rank, self.world, self.start = (
            int(seed),
            int(epoch),
            int(rank),
            int(world),
            int(start),
        )

    def global_batches(self) -> list[list[int]]:
        """Every global batch of the epoch (sample indices of all ranks; iteration skips ``start``)."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
        else:
            perm = list(range(self.n))
        out = [perm[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if out and len(out[-1]) < self.world:
            out.pop()
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.global_batches()[self.start :]:
            yield b[self.rank :: self.world]

    def __len__(self) -> int:
        return max(0, len(self.global_batches()) - self.start)


def make_loader(ds: Dataset, sampler: GlobalBatchSampler, workers: int = 0) -> Any:
    """Batches ``(x, y)`` in sampler order; uses the in-memory fast path when the data are cached."""
    if isinstance(ds, FramesDataset) and ds._cache is not None:
        return _CachedLoader(ds, sampler)
    return DataLoader(
        ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate, persistent_workers=False
    )


class _CachedLoader:
    def __init__(self, ds: FramesDataset, sampler: GlobalBatchSampler) -> None:
        self.ds, self.sampler = ds, sampler

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in self.sampler:
            yield self.ds.batch(idx)

    def __len__(self) -> int:
        return len(self.sampler)


# --------------------------------------------------------------------------------------------
# Finding the files of a data directory
# --------------------------------------------------------------------------------------------


@dataclass
class Splits:
    train: Dataset
    test: Dataset
    valid: Dataset | None
    n_inputs: int
    n_classes: int
    window_steps: int
    n_units: int
    class_names: list[str]
    files: dict[str, str]
    channel_group: int = 5


def _find(data_dir: Path, pattern: str, what: str, required: bool) -> Path | None:
    hits = sorted(p for p in data_dir.glob(pattern) if p.is_file())
    if not hits:
        if required:
            raise DelaykitError(
                f"{data_dir}: no {what} file ({pattern}); expected e.g. shd_train.h5 / shd_test.h5 "
                f"or delay_train.h5 / delay_test.h5 (delaykit data synth --out {data_dir})"
            )
        return None
    if len(hits) > 1:
        raise DelaykitError(f"{data_dir}: several {what} files {[p.name for p in hits]}; keep one per split")
    return hits[0]


def load_splits(cfg: dict[str, Any], data_dir: str | Path, *, progress: bool = False) -> Splits:
    """The train/test (and validation, when present) datasets a config asks for."""
    d = cfg["data"]
    root = Path(data_dir)
    if not root.is_dir():
        raise DelaykitError(f"data_dir {root}: no such folder")
    if d["dataset"] == "gsc":
        return _gsc_splits(cfg, root)
    prefix = {"shd": "shd_", "ssc": "ssc_", "h5": "*"}[d["dataset"]]
    train_p = _find(root, f"{prefix}train*.h5", "training", True)
    test_p = _find(root, f"{prefix}test*.h5", "test", True)
    valid_p = _find(root, f"{prefix}valid*.h5", "validation", False)
    spec = BinSpec(dt=d["dt"], channel_group=d["channel_group"], window_steps=d["window_steps"])
    train = FramesDataset(train_p, spec, cache=d["cache"], progress=progress)
    # the test set uses the training file's window so both see identical inputs
    spec_eval = BinSpec(dt=d["dt"], channel_group=d["channel_group"], window_steps=train.window_steps)
    test = FramesDataset(test_p, spec_eval, cache=d["cache"], n_units=train.n_units, progress=progress)
    valid = (
        FramesDataset(valid_p, spec_eval, cache=d["cache"], n_units=train.n_units, progress=progress)
        if valid_p
        else None
    )
    n_classes = max(train.n_classes, test.n_classes, int(train.labels.max()) + 1 if len(train) else 0)
    _check_label_sets(train, test, valid, train_p)
    names = train.class_names() or [str(c) for c in range(n_classes)]
    if len(names) < n_classes:
        raise DelaykitError(
            f"{train_p}: 'extra/keys' names {len(names)} classes but the splits hold labels up to "
            f"{n_classes - 1}; the files do not belong together"
        )
    files = {"train": str(train_p), "test": str(test_p)}
    if valid_p:
        files["valid"] = str(valid_p)
    return Splits(
        train,
        test,
        valid,
        train.n_channels,
        n_classes,
        train.window_steps,
        train.n_units,
        names,
        files,
        int(d["channel_group"]),
    )


def _check_label_sets(train: Any, test: Any, valid: Any, train_p: Path) -> None:
    """Every class of the evaluation splits occurs in the training split (else no model learns it)."""
    seen = set(np.unique(np.asarray(train.labels)).tolist())
    for ds in (test, valid):
        if ds is None:
            continue
        missing = sorted(set(np.unique(np.asarray(ds.labels)).tolist()) - seen)
        if missing:
            raise DelaykitError(
                f"{ds.file.path}: labels {missing[:10]} never occur in the training file {train_p}; "
                f"the model cannot learn them: use splits of the same data set"
            )


# --------------------------------------------------------------------------------------------
# Google Speech Commands: 140 log-mel bands at 10 ms hops (reference datasets.build_transform)
# --------------------------------------------------------------------------------------------


def hz_to_mel_htk(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale of ``f`` Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz_htk(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_htk` (Hz)."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: float) -> np.ndarray:
    """Triangular HTK-mel filters without area normalization, (n_freqs, n_mels).

    Same construction as torchaudio ``melscale_fbanks(norm=None, mel_scale='htk')``: FFT bin
    frequencies ``linspace(0, sr/2, n_freqs)``, ``n_mels + 2`` points equally spaced in mel
    between ``f_min`` and ``f_max``; filters above Nyquist are all zero.
    """
    all_freqs = np.linspace(0.0, sample_rate / 2, n_freqs)
    m_pts = np.linspace(hz_to_mel_htk(f_min), hz_to_mel_htk(f_max), n_mels + 2)
    f_pts = mel_to_hz_htk(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def log_mel(wave: np.ndarray, fs: float, cfg: dict[str, Any]) -> np.ndarray:
    """Reference GSC features: (T, n_mels) float32 dB (``10 log10(max(mel power, 1e-10))``).

    Pad/truncate to one second at ``gsc_sample_rate``, resample to ``gsc_resample_rate``,
    power spectrogram (periodic Hann window ``gsc_n_fft``, hop ``gsc_hop``, centred with
    reflect padding), HTK mel filterbank, power to dB. 16 kHz clips give 101 frames of 10 ms.
    Resampling is scipy's polyphase filter (``delaykit.data.audio.resample``), not torchaudio's
    windowed sinc, so values differ slightly from the reference code's near the band edges.
    """
    d = cfg["data"]
    sr = float(d["gsc_sample_rate"])
    x = np.asarray(wave, dtype=np.float64)
    if fs != sr:
        x = resample(x, fs, sr)
    n = int(sr)
    x = x[:n] if x.size >= n else np.pad(x, (0, n - x.size))
    sr2 = float(d["gsc_resample_rate"])
    if sr2 != sr:
        x = resample(x, sr, sr2)
    n_fft, hop = int(d["gsc_n_fft"]), int(d["gsc_hop"])
    xt = torch.from_numpy(x)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    spec = (
        torch.stft(
            xt,
            n_fft=n_fft,
            hop_length=hop,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        .abs()
        .pow(2)
        .numpy()
    )  # (n_freqs, T)
    fb = mel_filterbank(n_fft // 2 + 1, d["gsc_f_min"], d["gsc_f_max"], d["gsc_n_mels"], sr2)
    mel = fb.T @ spec  # (n_mels, T)
    return (10.0 * np.log10(np.maximum(mel, 1e-10))).T.astype(np.float32)


class GSCDataset(Dataset):
    """Speech Commands (v0.02 layout) as log-mel frames; split: training | validation | testing."""

    def __init__(
        self, root: str | Path, split: str, cfg: dict[str, Any], classes: list[str] | None = None
    ) -> None:
        self.root = Path(root)
        self.cfg = cfg
        words = classes or sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("_")
        )
        if not words:
            raise DelaykitError(f"{self.root}: no word folders (<word>/<clip>.wav) found for GSC")
        self.classes = words

        def read_list(name: str) -> set[str]:
            p = self.root / name
            return set(p.read_text().split()) if p.exists() else set()

        valid, test = read_list("validation_list.txt"), read_list("testing_list.txt")
        items = []
        for c, w in enumerate(words):
            for f in sorted((self.root / w).glob("*.wav")):
                rel = f"{w}/{f.name}"
                in_split = {"validation": rel in valid, "testing": rel in test}.get(
                    split, rel not in valid | test
                )
                if in_split:
                    items.append((f, c))
        if split not in ("training", "validation", "testing"):
            raise ValueError(f"GSC split must be training, validation or testing, got {split!r}")
        self.items = items
        self.labels = np.array([c for _, c in items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        x, fs = read_wav(path)
        return torch.from_numpy(log_mel(x, fs, self.cfg)), label


def _gsc_splits(cfg: dict[str, Any], root: Path) -> Splits:
    train = GSCDataset(root, "training", cfg)
    valid = GSCDataset(root, "validation", cfg, train.classes)
    test = GSCDataset(root, "testing", cfg, train.classes)
    if len(train) == 0 or len(test) == 0:
        raise DelaykitError(f"{root}: GSC needs training clips and testing clips (testing_list.txt)")
    t = train[0][0].shape[0]
    n_mels = int(cfg["data"]["gsc_n_mels"])
    # one input channel per mel band: n_units = n_mels, channel_group = 1
    return Splits(
        train,
        test,
        valid if len(valid) else None,
        n_mels,
        len(train.classes),
        t,
        n_mels,
        train.classes,
        {"root": str(root)},
        1,
    )
