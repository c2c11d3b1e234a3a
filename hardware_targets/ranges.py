"""Delay ranges of targets and target resolution (a name, a .toml path or a loaded profile).

Used by conversion and by hardware-aware fine-tuning, which both sit above this area.
"""

from __future__ import annotations

from typing import Any

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.profile import load_target


def delay_range(target: Any) -> tuple[int, int]:
    """The ``[min, max]`` delay in steps a target can hold natively ([0, 0] without delays)."""
    dmin = int(getattr(target, "delay_min_steps", 0) or 0)
    dmax = getattr(target, "delay_max_steps", None)
    if dmax is None or not getattr(target, "delay_native", True):
        return 0, 0
    return min(dmin, int(dmax)), int(dmax)


def resolve_target(target: Any) -> Any:
    """A target profile from a name, a .toml path or an already loaded profile (or None)."""
    if target is None or not isinstance(target, str):
        return target
    try:
        return load_target(target)
    except DelaykitError:
        raise
    except (ValueError, OSError, KeyError) as e:
        raise DelaykitError(f"target {target!r}: {e}") from None
