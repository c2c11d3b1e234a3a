"""Integer delays from DCLS positions, exactly as the trained model evaluates them.

Measured on dcls 0.1.1 (``Dcls1d(..., version='max')``, SIG=0, integer P, input padded left by
K-1): a spike at input step t reaches the output at step ``t + (K - 1) // 2 - P``. The
reference code makes K odd, where this is ``K // 2 - round(P)``. Positions are
clamped to ``[-(K // 2), K // 2]`` by training and rounded half to even (``torch.round``), so
for odd K the delay lies in ``[0, K - 1]``.
"""

from __future__ import annotations

import numpy as np


def round_half_even(x: np.ndarray) -> np.ndarray:
    """Round half to even, like ``torch.round`` and ``np.round`` (2.5 -> 2, 3.5 -> 4)."""
    return np.round(np.asarray(x, dtype=np.float64))


def delays_from_positions(positions: np.ndarray, kernel_size: int) -> np.ndarray:
    """Integer delays in steps, ``(K - 1) // 2 - round(clamp(P))``, as int32.

    positions: DCLS ``P`` of any shape (e.g. (1, out, in, 1) or (out, in)), in steps.
    kernel_size: the dilated kernel size K (number of possible delays), >= 1.
    Positions are clamped to the range the kernel can hold: ``[(K-1)//2 - (K-1), (K-1)//2]``.
    """
    k = int(kernel_size)
    if k < 1:
        raise ValueError(f"kernel_size: must be >= 1, got {kernel_size}")
    p = np.asarray(positions, dtype=np.float64)
    if not np.isfinite(p).all():
        raise ValueError("positions: contain NaN or infinity")
    center = (k - 1) // 2
    p = np.clip(p, center - (k - 1), center)
    return (center - round_half_even(p)).astype(np.int32)


def positions_from_delays(delays: np.ndarray, kernel_size: int) -> np.ndarray:
    """Inverse of :func:`delays_from_positions` for integer delays in ``[0, K - 1]``."""
    d = np.asarray(delays)
    k = int(kernel_size)
    if d.size and (d.min() < 0 or d.max() > k - 1):
        raise ValueError(f"delays: must lie in 0..{k - 1} for kernel_size {k}")
    return ((k - 1) // 2 - d).astype(np.float64)
