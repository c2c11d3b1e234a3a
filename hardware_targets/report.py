"""The SHD-size model's resource estimate on every bundled target (the README's table), and
the text form of a resource estimate.

``python -m delaykit.hardware_targets.report`` or ``delaykit targets shd-estimate``.
The model is the paper's SHD network: 140 -> 256 -> 256 -> 20, K = 25 (delays 0..24 steps of
10 ms), dense, 8-bit integer weights with a per-neuron scale. Weights and delays are random
(fixed seed): resources depend on shapes, sparsity and delay range, not on trained values.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.check import check_report
from delaykit.hardware_targets.profile import list_targets, load_target
from delaykit.hardware_targets.realize import plan_realization
from delaykit.hardware_targets.resources import ResourceEstimate, estimate_resources
from delaykit.hardware_targets.schema import Target
from delaykit.network import LI, LIF, InputSpec, Layer, Network


def fmt_bytes(n: int | None) -> str:
    """``n`` bytes in B / KiB / MiB / GiB ("n/a" for None)."""
    if n is None:
        return "n/a"
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.2f} MiB"
    return f"{n / 1024**3:.2f} GiB"


def format_estimate(est: ResourceEstimate, max_cores: int = 40) -> str:
    """What ``delaykit targets map`` prints: per-layer table (memory in bytes), totals and the
    core mapping (first ``max_cores`` rows)."""
    lines = [f"resource estimate on {est.target} (delays without native support: {est.method})"]
    lines.append(
        f"{'layer':<12} {'neurons':>8} {'+extra':>7} {'synapses':>10} {'fan-in':>7} "
        f"{'fan-out':>7} {'delay':>5} {'method':<17} {'syn mem':>11} {'delay mem':>11} "
        f"{'cores':>6}"
    )
    for x in est.layers:
        lines.append(
            f"{x.name:<12} {x.neurons:>8,} {x.extra_neurons:>7,} {x.synapses:>10,} "
            f"{x.fan_in_max:>7} {x.fan_out_max:>7} {x.max_delay:>5} {x.delay_method:<17} "
            f"{fmt_bytes(x.synapse_memory_bytes):>11} {fmt_bytes(x.delay_buffer_bytes):>11} "
            f"{'-' if x.cores is None else x.cores:>6}"
        )
    lines.append(
        f"{'total':<12} {est.neurons:>8,} {est.extra_neurons:>7,} {est.synapses:>10,} "
        f"{'':>7} {'':>7} {'':>5} {'':<17} {fmt_bytes(est.synapse_memory_bytes):>11} "
        f"{fmt_bytes(est.delay_buffer_bytes):>11} {'-' if est.cores is None else est.cores:>6}"
    )
    for x in est.layers:
        if x.neurons_per_core is not None and x.neurons_per_core < int(
            est.limits.get("neurons_per_core") or 0
        ):
            lines.append(
                f"layer {x.name}: at most {x.neurons_per_core} neurons per core (its delays need it)"
            )
    taps = sum(x.host_input_taps for x in est.layers)
    if taps:
        lines.append(f"host-side input taps (one input per (channel, delay) pair): {taps:,}")
    if est.assignments is not None:
        lines.append(
            f"mapping: {est.cores:,} cores"
            + (f" (chip has {est.limits.get('cores'):,})" if est.limits.get("cores") else "")
            + (
                f", {est.over_limit_cores} hold a neuron that alone exceeds a core limit"
                if est.over_limit_cores
                else ""
            )
        )
        lines.append(f"{'core':>5} {'neurons':>8} {'synapses':>9} {'inputs':>7} {'memory':>10}  contents")
        for a in est.assignments[:max_cores]:
            flag = "  OVER A CORE LIMIT" if a.over_limit else ""
            lines.append(
                f"{a.core:>5} {a.neurons:>8,} {a.synapses:>9,} {a.inputs:>7,} "
                f"{fmt_bytes(a.memory_bytes):>10}  {a.label}{flag}"
            )
        if len(est.assignments) > max_cores:
            lines.append(f"  ... {len(est.assignments) - max_cores} more cores (see --json)")
    else:
        lines.append("mapping: the target profile has no per-core limits, so no core mapping")
    return "\n".join(lines)


def reference_shd_network(
    seed: int = 0, kernel_size: int = 25, hidden: Sequence[int] = (256, 256), weight_bits: int = 8
) -> Network:
    """The paper's SHD architecture with random integer weights and delays 0..K-1 (steps)."""
    rng = np.random.default_rng(seed)
    sizes = [140, *hidden, 20]
    qmax = 2 ** (weight_bits - 1) - 1
    layers = []
    for li in range(len(sizes) - 1):
        n_in, n_out = sizes[li], sizes[li + 1]
        w = rng.normal(0.0, 1.0, (n_out, n_in))
        scale = np.abs(w).max(axis=1) / qmax
        wq = np.clip(np.round(w / scale[:, None]), -qmax, qmax).astype(np.int8)
        d = rng.integers(0, kernel_size, (n_out, n_in))
        last = li == len(sizes) - 2
        neuron = LI(tau=1.005) if last else LIF(tau=1.005, v_threshold=np.maximum(np.round(1.0 / scale), 1.0))
        layers.append(
            Layer(
                name=f"fc{li}",
                weight=wq,
                delay=d,
                neuron=neuron,
                weight_scale=scale,
                bias=np.zeros(n_out, np.int64),
                extend_steps=(kernel_size - 1) // 2,
            )
        )
    return Network(
        layers=tuple(layers),
        dt=0.01,
        input=InputSpec(n_channels=140, window_steps=100, n_units=700, channel_group=5),
        readout="softmax_sum",
        metadata={"note": "random weights; resource estimates only"},
    )


def _realization_blockers(
    net: Network, t: Target, method: str, est: ResourceEstimate, broken: list[str]
) -> list[str]:
    """What a delay realization itself exceeds: relay neurons beyond the chip's neurons or
    cores, host taps beyond its inputs."""
    plan = plan_realization(net, t, method)
    out = []
    if t.cores is not None and est.cores is not None and est.cores > t.cores and "cores" not in broken:
        out.append(f"cores with {method}")
    if (
        t.neurons_max is not None
        and est.neurons + est.extra_neurons > t.neurons_max
        and "neurons" not in broken
    ):
        out.append(f"neurons with {method}")
    if (
        t.input_channels_max is not None
        and plan.host_input_taps > t.input_channels_max
        and "input_channels" not in broken
    ):
        out.append("input_channels with host taps")
    return out


def shd_estimates(net: Network | None = None, targets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One JSON-able row per target and delay realization: neurons, cores, memory, what blocks.

    ``blocking`` lists the limits ``check`` reports (except ``delay_native``, which the row's
    realization answers) plus what the realization itself exceeds. ``not_checked`` lists the
    profile's unknown limits: a row "fits" only as far as the checked limits go.
    """
    net = net or reference_shd_network()
    rows = []
    for name in targets or list_targets():
        t = load_target(name)
        report = check_report(net, t)
        broken = sorted({v.limit for v in report.violations if v.limit != "delay_native"})
        for method in ["relay"] if t.delay_native else ["relay", "queue"]:
            est = estimate_resources(net, t, method=method)
            realized = not t.delay_native
            blocking = broken + (_realization_blockers(net, t, method, est, broken) if realized else [])
            rows.append(
                {
                    "target": name,
                    "delays": ", ".join(sorted({x.delay_method for x in est.layers} - {"none needed"}))
                    or "none needed",
                    "neurons": est.neurons,
                    "extra_neurons": est.extra_neurons,
                    "host_input_taps": sum(x.host_input_taps for x in est.layers),
                    "synapses": est.synapses,
                    "cores": est.cores,
                    "chip_cores": t.cores,
                    "synapse_memory_bytes": est.synapse_memory_bytes,
                    "delay_memory_bytes": est.delay_buffer_bytes,
                    "fits_as_is": report.fits,
                    "fits_realized": not blocking,
                    "blocking": blocking,
                    "not_checked": [f for f, _why in report.not_checked],
                    "notes": report.notes,
                }
            )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`shd_estimates` rows."""
    head = (
        "| target | delays realized as | neurons (+extra) | cores needed / chip | synapse memory | "
        "delay memory | fits | blocking limits | not checked (unknown) |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        extra = f" (+{r['extra_neurons']:,} relays)" if r["extra_neurons"] else ""
        if r["host_input_taps"]:
            extra += f" + {r['host_input_taps']:,} host input taps"
        cores = "-" if r["cores"] is None else f"{r['cores']:,}"
        chip = "-" if r["chip_cores"] is None else f"{r['chip_cores']:,}"
        fits = "yes" if r["fits_as_is"] else ("with realization" if r["fits_realized"] else "no")
        lines.append(
            f"| {r['target']} | {r['delays']} | {r['neurons']:,}{extra} | {cores} / {chip} | "
            f"{fmt_bytes(r['synapse_memory_bytes'])} | {fmt_bytes(r['delay_memory_bytes'])} | "
            f"{fits} | {', '.join(r['blocking']) or '-'} | {', '.join(r['not_checked']) or '-'} |"
        )
    return "\n".join(lines)


README_BEGIN = "<!-- shd-estimate table: begin (delaykit targets shd-estimate --update-readme README.md) -->"
README_END = "<!-- shd-estimate table: end -->"


def update_readme(path: str | Path, table: str) -> bool:
    """Replace the Markdown between :data:`README_BEGIN` and :data:`README_END` in the file
    ``path`` by ``table``; returns whether the file changed. ValueError without both markers."""
    path = Path(path)
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path}: needs the lines {README_BEGIN!r} and {README_END!r} around the table")
    head, rest = text.split(README_BEGIN, 1)
    _old, tail = rest.split(README_END, 1)
    new = f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}"
    if new != text:
        write_text_atomic(path, new)
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    """Print the SHD-size estimate table (Markdown) or its rows as JSON (``--json``), or write
    the table into a README between its markers (``--update-readme PATH``)."""
    p = argparse.ArgumentParser(prog="python -m delaykit.hardware_targets.report", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--update-readme", metavar="PATH", help="rewrite the table between the README's markers")
    args = p.parse_args(argv)
    rows = shd_estimates(reference_shd_network(seed=args.seed))
    if args.update_readme:
        changed = update_readme(args.update_readme, format_rows(rows))
        print(f"{args.update_readme}: table {'updated' if changed else 'already current'}")
    elif args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("SHD-size model 140-256-256-20, K=25 (delays 0..24 steps of 10 ms), dense, 8-bit weights")
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
