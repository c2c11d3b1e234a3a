"""Hardware target profiles, constraint checking, resource mapping and delay realization.

numpy only, never torch, no vendor SDK::

    from delaykit.hardware_targets import load_target, list_targets, check, check_report
    t = load_target("loihi2")          # or a path to a .toml profile
    violations = check(network, t)     # [] when every checked limit holds
    report = check_report(network, t)  # + the limits not checked (unknown) and mapping notes
    print(format_fit_report(report))
"""

from delaykit.hardware_targets.check import (
    LIMITS,
    FitReport,
    Violation,
    check,
    check_report,
    format_fit_report,
)
from delaykit.hardware_targets.profile import (
    Target,
    apply_overrides,
    format_target,
    list_targets,
    load_target,
)

__all__ = [
    "LIMITS",
    "FitReport",
    "Target",
    "Violation",
    "apply_overrides",
    "check",
    "check_report",
    "format_fit_report",
    "format_target",
    "list_targets",
    "load_target",
]
