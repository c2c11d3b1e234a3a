"""``check(network, target)``: which limits of a hardware target a deployed network breaks.

Pure and numpy-only. :func:`check_report` returns a :class:`FitReport`: the violations (each
names the layer, the limit (a key of :data:`LIMITS`), how many synapses / neurons /
presynaptic inputs break it, the worst value and the allowed one), the limits that were
**not checked** because the profile marks them unknown, and notes on choices the mapping
makes (fewer neurons per core to reach a delay). A network fits only when no checked limit
is broken; an unknown limit is never reported as holding. :func:`check` returns the
violations alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.resources import ResourceEstimate, estimate_resources
from delaykit.hardware_targets.rules import (
    LIMITS,
    Violation,
    check_delays,
    check_fan,
    check_neuron,
    check_weights,
    fan_out_applies,
    weight_levels,
)
from delaykit.hardware_targets.schema import Target
from delaykit.hardware_targets.xylo_map import plan_xylo
from delaykit.hardware_targets.xylo_spec import MAX_FAN_OUT, MAX_HIDDEN, MAX_REC_SYNAPSES
from delaykit.network import Network

__all__ = ["LIMITS", "FitReport", "Violation", "check", "check_report", "format_fit_report"]


@dataclass(frozen=True)
class FitReport:
    """What ``delaykit targets check`` reports for one network on one target.

    violations: every broken limit. not_checked: (profile field, why) for each limit the
    profile marks unknown. notes: choices the mapping makes (neurons per core for delays).
    """

    target: str
    violations: list[Violation]
    not_checked: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """True when every checked limit holds (unknown limits are listed, not assumed)."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (what ``--json`` writes)."""
        return {
            "target": self.target,
            "fits": self.fits,
            "violations": [v.to_dict() for v in self.violations],
            "not_checked": [{"field": f, "why": why} for f, why in self.not_checked],
            "notes": list(self.notes),
        }


def _over(
    out: list[Violation], layer: str | None, limit: str, have: int, allowed: int | None, what: str
) -> None:
    """A network-wide count ``have`` against ``allowed`` (None: no such limit)."""
    if allowed is not None and have > allowed:
        n = have - allowed
        out.append(
            Violation(
                layer,
                limit,
                n,
                have,
                allowed,
                f"{what}: {have:,}, the target has {allowed:,} ({n:,} too many)",
            )
        )


def _check_totals(network: Network, target: Target, out: list[Violation]) -> None:
    """Inputs, outputs, neurons, synapses and the recurrent fan-out budget of the chip."""
    layers = network.layers
    first, last = layers[0], layers[-1]
    _over(out, first.name, "input_channels", first.n_in, target.input_channels_max, "input channels")
    _over(out, last.name, "output_neurons", last.n_out, target.output_neurons_max, "readout neurons")
    neurons = sum(layer.n_outputs for layer in layers)  # relay neurons (format v2) included
    _over(out, None, "neurons", neurons, target.neurons_max, "neurons")
    synapses = sum(int((layer.weight != 0).sum()) + layer.n_relay for layer in layers)  # + relay copies
    _over(out, None, "synapses", synapses, target.synapses_max, "synapses")
    if target.fan_out_avg is not None and target.neurons_per_core is not None:
        recurrent = sum(
            int((layer.weight != 0).sum())
            for i, layer in enumerate(layers)
            if fan_out_applies(target, i, len(layers))
        )
        budget = target.fan_out_avg * target.neurons_per_core
        what = (
            f"recurrent synapses (average fan-out {target.fan_out_avg} x {target.neurons_per_core} neurons)"
        )
        _over(out, None, "fan_out_avg", recurrent, budget, what)


def _core_of(network: Network, est: ResourceEstimate) -> dict[str, np.ndarray]:
    """Per layer, the core index of each of its neurons in the mapping."""
    core_of = {layer.name: np.zeros(layer.n_outputs, np.int64) for layer in network.layers}
    for a in est.assignments or []:
        for pop, lo, hi in a.segments:
            if pop in core_of:
                core_of[pop][lo:hi] = a.core
    return core_of


def _check_mapping(network: Network, target: Target, est: ResourceEstimate, out: list[Violation]) -> None:
    """Per-core weight levels and destination entries, from the neuron-to-core mapping."""
    if est.assignments is None:
        return
    core_of = _core_of(network, est)
    layers = network.layers
    if target.weight_levels_per_core is not None:
        levels: dict[int, set] = {}
        for layer in layers:
            vals = weight_levels(layer.weight, target)
            for j, c in enumerate(core_of[layer.name][: layer.n_out]):
                levels.setdefault(int(c), set()).update(np.unique(vals[j][vals[j] != 0]).tolist())
        counts = np.array([len(s) for s in levels.values()] or [0])
        limit = target.weight_levels_per_core
        what = f"cores use more than {limit} distinct non-zero weights; each core makes {limit} from its shared base values"
        _bound_cores(out, counts, limit, what)
    if target.destinations_per_neuron is not None and target.cores:
        for prev, layer in zip(layers[:-1], layers[1:], strict=True):
            chip = core_of[layer.name][: layer.n_out] // target.cores
            nz = layer.weight != 0
            per_pre = np.array([np.unique(chip[nz[:, i]]).size for i in range(layer.n_in)] or [0])
            if (per_pre > target.destinations_per_neuron).any():
                n, worst = int((per_pre > target.destinations_per_neuron).sum()), int(per_pre.max())
                out.append(
                    Violation(
                        layer.name,
                        "destinations",
                        n,
                        worst,
                        target.destinations_per_neuron,
                        f"{n} neurons of {prev.name} send to {worst} chips, they have "
                        f"{target.destinations_per_neuron} destination entries (one per chip)",
                    )
                )


def _bound_cores(out: list[Violation], counts: np.ndarray, limit: int, what: str) -> None:
    bad = counts > limit
    if bad.any():
        n, worst = int(bad.sum()), int(counts.max())
        out.append(Violation(None, "weight_levels_core", n, worst, limit, f"{n} {what} (up to {worst})"))


def _check_resources(target: Target, est: ResourceEstimate, out: list[Violation]) -> None:
    """Cores and synapse memory from the neuron-to-core mapping (resources.py)."""
    if est.cores is not None:
        _over(out, None, "cores", est.cores, target.cores, "cores the mapping needs")
    if est.synapse_memory_bytes is not None:
        _over(
            out,
            None,
            "synapse_memory",
            est.synapse_memory_bytes,
            target.synapse_memory_bytes,
            "synapse memory (B)",
        )


def check_report(network: Network, target: Target) -> FitReport:
    """Every limit of ``target`` that ``network`` breaks, the unknown ones, and mapping notes. Pure."""
    out: list[Violation] = []
    notes: list[str] = []
    layers = network.layers
    relays = _xylo_relays(network, target, out, notes)
    for li, layer in enumerate(layers):
        if not relays:
            check_delays(layer, target, out, notes)
        check_weights(layer, target, out)
        check_neuron(layer, target, out)
        check_fan(
            layer, target, out, layers[li - 1] if li else None, fan_out_applies(target, li, len(layers))
        )
    _check_totals(network, target, out)
    est = estimate_resources(network, target, method="none")  # delays are checked above
    _check_resources(target, est, out)
    _check_mapping(network, target, est, out)
    return FitReport(target.name, out, sorted(target.unknown.items()), notes)


def _xylo_relays(network: Network, target: Target, out: list[Violation], notes: list[str]) -> bool:
    """On Xylo, a network Xylo can express gets its delays as relay chains in the recurrent
    core (``xylo_map``): instead of ``delay_native``, the relays count against the hidden
    neurons, the recurrent connections and the fan-out. False when this does not apply."""
    if target.name != "xylo" or not any(
        np.any(layer.delay[layer.weight != 0] > 0) for layer in network.layers
    ):
        return False
    try:
        plan = plan_xylo(network)
    except DelaykitError as e:
        notes.append(f"delays not realizable as Xylo relay chains ({e}); checked as delays")
        return False
    notes.append(plan.lines()[0] + " (delaykit convert to-xylo)")
    for limit, count, allowed, what in (
        (
            "neurons",
            plan.n_hidden,
            MAX_HIDDEN,
            f"hidden neurons = {plan.n_main} + {plan.n_relays} delay relays",
        ),
        ("synapses", plan.rec_connections, MAX_REC_SYNAPSES, "recurrent connections incl. relay chains"),
        ("fan_out", plan.max_fan_out, MAX_FAN_OUT, "largest recurrent fan-out incl. relay taps"),
    ):
        if count > allowed:
            out.append(
                Violation(None, limit, count - allowed, count, allowed, f"{count} {what}; Xylo has {allowed}")
            )
    return True


def check(network: Network, target: Target) -> list[Violation]:
    """Every limit of ``target`` that ``network`` breaks (empty list: every checked limit
    holds; see :func:`check_report` for the limits that could not be checked). Pure."""
    return check_report(network, target).violations


def _num(v: int | float | None) -> str:
    if v is None:
        return "-"
    return f"{v:g}" if isinstance(v, float) else f"{v:,}"


def format_fit_report(report: FitReport, path: str | None = None) -> str:
    """The text ``delaykit targets check`` prints: the verdict, one row per violation, the
    limits not checked (unknown in the profile) and the mapping notes."""
    head = f"{path or 'network'} on {report.target}: "
    unchecked = f"; {len(report.not_checked)} limit(s) not checked (unknown)" if report.not_checked else ""
    if report.fits:
        lines = [head + "fits (every checked limit holds" + unchecked + ")"]
    else:
        lines = [head + f"does NOT fit: {len(report.violations)} limit(s) broken" + unchecked]
        lines.append(f"{'layer':<12} {'limit':<18} {'count':>9} {'worst':>12} {'allowed':>12}  detail")
        for v in report.violations:
            lines.append(
                f"{(v.layer or '(network)'):<12} {v.limit:<18} {v.count:>9,} {_num(v.worst):>12} "
                f"{_num(v.allowed):>12}  {v.detail}"
            )
    lines += [f"not checked: {f}: {why}" for f, why in report.not_checked]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
