"""Sample sources for ``evaluate``: chunked reading of SHD-schema files.

``SHDFile[i]`` reads one sample per HDF5 call; :class:`ShdChunkReader` reads a contiguous range
of samples in one call per dataset (``SHDFile.read_range``), with the same binning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from delaykit.data.shd import SHDFile


class ShdChunkReader:
    """Reads samples of an SHD-schema file in contiguous ranges (one per worker process)."""

    def __init__(self, ds: SHDFile):
        self._ds = SHDFile(ds.path, ds.spec, ds.n_units)

    def read(self, indices: Sequence[int]) -> list[tuple[np.ndarray, int]]:
        """(frames, label) of ``indices`` (read as one range from min to max)."""
        if len(indices) == 0:
            return []
        lo, hi = int(min(indices)), int(max(indices)) + 1
        block = self._ds.read_range(lo, hi)
        return [block[i - lo] for i in indices]

    def close(self) -> None:
        self._ds.close()


def chunk_reader(dataset: Any) -> Any:
    """A reader with ``read(indices)`` for ``dataset`` (fast path for SHDFile)."""
    if isinstance(dataset, SHDFile):
        return ShdChunkReader(dataset)
    return _IndexReader(dataset)


class _IndexReader:
    def __init__(self, dataset: Any):
        self.dataset = dataset

    def read(self, indices: Sequence[int]) -> list[tuple[np.ndarray, int]]:
        out = []
        for i in indices:
            frames, label = self.dataset[i]
            out.append((frames, int(label)))
        return out

    def close(self) -> None:
        pass
