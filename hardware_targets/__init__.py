"""Hardware target profiles, constraint checking, resource mapping and delay realization.

numpy only, never torch, no vendor SDK::

    from delaykit.hardware_targets import load_target, list_targets, check
    t = load_target("loihi2")          # or a path to a .toml profile
    violations = check(network, t)     # [] when the network fits
"""

from delaykit.hardware_targets.check import LIMITS, Violation, check, format_report
from delaykit.hardware_targets.profile import (
    Target,
    apply_overrides,
    format_target,
    list_targets,
    load_target,
)

__all__ = [
    "LIMITS",
    "Target",
    "Violation",
    "apply_overrides",
    "check",
    "format_report",
    "format_target",
    "list_targets",
    "load_target",
]
