"""The SHD-size model's resource estimate on every bundled target (for the README).

``python -m delaykit.hardware_targets.report`` or ``delaykit targets shd-estimate``.
The model is the paper's SHD network: 140 -> 256 -> 256 -> 20, K = 25 (delays 0..24 steps of
10 ms), dense, 8-bit integer weights with a per-neuron scale. Weights and delays are random
(fixed seed): resources depend on shapes, sparsity and delay range, not on trained values.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from delaykit.hardware_targets.check import check
from delaykit.hardware_targets.profile import list_targets, load_target
from delaykit.hardware_targets.realize import plan_realization
from delaykit.hardware_targets.resources import _fmt_bytes, estimate_resources
from delaykit.network import LI, LIF, InputSpec, Layer, Network


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


def shd_estimates(net: Network | None = None, targets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One JSON-able row per target and delay realization: neurons, cores, memory, what blocks.

    ``blocking`` lists the limits ``check`` reports (except ``delay_native``, which the row's
    realization answers) plus what the realization itself exceeds (relay neurons beyond the
    chip's neurons or cores, host taps beyond its inputs).
    """
    net = net or reference_shd_network()
    rows = []
    for name in targets or list_targets():
        t = load_target(name)
        violations = check(net, t)
        broken = sorted({v.limit for v in violations if v.limit != "delay_native"})
        methods = ["relay", "queue"] if not t.delay_native else ["relay"]
        for method in methods:
            est = estimate_resources(net, t, method=method)
            delay_how = sorted({x.delay_method for x in est.layers if x.delay_method != "none needed"})
            plan = plan_realization(net, t, method) if not t.delay_native else None
            blocking = list(broken)
            if plan is not None:
                if (
                    t.cores is not None
                    and est.cores is not None
                    and est.cores > t.cores
                    and "cores" not in blocking
                ):
                    blocking.append(f"cores with {method}")
                if (
                    t.neurons_max is not None
                    and est.neurons + est.extra_neurons > t.neurons_max
                    and "neurons" not in blocking
                ):
                    blocking.append(f"neurons with {method}")
                if (
                    t.input_channels_max is not None
                    and plan.host_input_taps > t.input_channels_max
                    and "input_channels" not in blocking
                ):
                    blocking.append("input_channels with host taps")
            rows.append(
                {
                    "target": name,
                    "delays": ", ".join(delay_how) or "none needed",
                    "neurons": est.neurons,
                    "extra_neurons": est.extra_neurons,
                    "host_input_taps": plan.host_input_taps if plan else 0,
                    "synapses": est.synapses,
                    "cores": est.cores,
                    "chip_cores": t.cores,
                    "synapse_memory_bytes": est.synapse_memory_bytes,
                    "delay_memory_bytes": est.delay_buffer_bytes,
                    "fits_as_is": not violations,
                    "fits_realized": not blocking,
                    "blocking": blocking,
                }
            )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`shd_estimates` rows."""
    head = (
        "| target | delays realized as | neurons (+extra) | cores needed / chip | synapse memory | "
        "delay memory | fits | blocking limits |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        extra = f" (+{r['extra_neurons']:,} relays)" if r["extra_neurons"] else ""
        if r["host_input_taps"]:
            extra += f" + {r['host_input_taps']:,} host input taps"
        cores = "-" if r["cores"] is None else f"{r['cores']:,}"
        chip = "-" if r["chip_cores"] is None else f"{r['chip_cores']:,}"
        fits = "yes" if r["fits_as_is"] else ("with realization" if r["fits_realized"] else "no")
        lines.append(
            f"| {r['target']} | {r['delays']} | {r['neurons']:,}{extra} | {cores} / {chip} | "
            f"{_fmt_bytes(r['synapse_memory_bytes'])} | {_fmt_bytes(r['delay_memory_bytes'])} | "
            f"{fits} | {', '.join(r['blocking']) or '-'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m delaykit.hardware_targets.report", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = shd_estimates(reference_shd_network(seed=args.seed))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("SHD-size model 140-256-256-20, K=25 (delays 0..24 steps of 10 ms), dense, 8-bit weights")
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
