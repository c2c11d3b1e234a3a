"""Integer decay constants and overflow reduction of the fixed-point arithmetic.

:mod:`delaykit.arithmetic` re-exports every name here; the rules are in its module docstring
and in docs/design.md ("Number formats"). All times are in steps.
"""

from __future__ import annotations

import math

import numpy as np

from delaykit.network import decay_fraction

OVERFLOW_MODES = ("saturate", "wrap")

#: Loihi's decay constants are 12-bit: x <- x * (4096 - d) / 4096.
LOIHI_DECAY_UNITY = 4096
#: Reset modes in the integer code the engines use (the contract's ``LIF.reset``).
RESET_CODES = {"value": 0, "subtract": 1, "none": 2}


def _check_steps(tau: float, name: str = "tau") -> float:
    tau = float(tau)
    if not (math.isfinite(tau) and tau >= 1.0):
        raise ValueError(f"{name}: must be a finite number of steps >= 1, got {tau}")
    return tau


def loihi_decay_constant(tau: float, leak: str = "euler") -> int:
    """Loihi's 12-bit voltage decay ``dv`` for a membrane time constant ``tau`` (steps):
    ``min(4095, floor(4096 * k(tau) + 0.5))`` with ``k`` the fraction lost per step."""
    tau = _check_steps(tau)
    frac4096 = LOIHI_DECAY_UNITY / tau if leak == "euler" else LOIHI_DECAY_UNITY * decay_fraction(tau, leak)
    return int(min(LOIHI_DECAY_UNITY - 1, math.floor(frac4096 + 0.5)))


def loihi_current_decay_constant(tau_syn: float | None, leak: str = "euler") -> int:
    """Loihi's current decay as netx writes it (``iDecay``; Lava's ``du = iDecay - 1``, and its
    bit-accurate model keeps ``4096 - (du + 1)``/4096 of the current): 4096 (full decay) for no
    current state, else ``floor(4096 * k(tau_syn) + 0.5)`` within ``[1, 4096]``."""
    if tau_syn is None:
        return LOIHI_DECAY_UNITY
    tau_syn = _check_steps(tau_syn, "tau_syn")
    frac = (
        LOIHI_DECAY_UNITY / tau_syn if leak == "euler" else LOIHI_DECAY_UNITY * decay_fraction(tau_syn, leak)
    )
    return int(min(LOIHI_DECAY_UNITY, max(1, math.floor(frac + 0.5))))


def shift_decay_constant(tau: float, leak: str = "euler") -> int:
    """Xylo-style shift ``k`` (``x <- x - (x >> k)``) for ``tau`` in steps: ``round(log2(tau))``
    (forward Euler), ``round(-log2(1 - exp(-1/tau)))`` (exact leak); at least 0."""
    tau = _check_steps(tau)
    if leak == "euler":
        return max(0, int(round(math.log2(tau))))
    return max(0, int(round(-math.log2(decay_fraction(tau, leak)))))


def reduce_int(x: np.ndarray | int, bits: int | None, mode: str) -> np.ndarray:
    """Reduce integers to ``bits`` signed bits by saturation or wrap-around (see module doc)."""
    a = np.asarray(x, dtype=np.int64)
    if bits is None:
        return a
    half = 1 << (bits - 1)
    if mode == "saturate":
        return np.clip(a, -(half - 1), half - 1)
    if mode == "wrap":
        return ((a + half) & ((1 << bits) - 1)) - half
    raise ValueError(f"overflow mode must be one of {OVERFLOW_MODES}, got {mode!r}")
