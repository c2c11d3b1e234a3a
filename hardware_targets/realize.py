"""Exact realization of per-synapse delays on chips without native delays (numpy only).

Two plans, both exact (same spikes and readout as the contract's semantics):

**relay** — delay lines of relay neurons, written in the deployed-network format (version 2,
:mod:`delaykit.network`: ``Layer.relay_src`` and ``InputSpec.taps``). For every presynaptic
neuron ``i`` of a hidden layer, a chain of ``max_d(i)`` relays ``r(i,1) -> r(i,2) -> ...``
where ``r(i,k)`` copies its predecessor one step later, so ``r(i,k)[t] = s_i[t-k]``. The
synapse ``(j, i)`` with delay ``d >= 1`` is rewired, with delay 0, to tap ``d`` of the chain
(tap 0 is the neuron itself). Input channels carry counts, not spikes, so layer 0's delays
become *host-side input taps*: one extra input per (channel, delay >= 1) pair in use. The
expanded network's synapses all have delay 0; :func:`relay_expand` builds it and
``delaykit.sim.simulate`` runs it (:func:`verify_realization` compares it with the original).
On a chip a relay is an ordinary LIF with one synapse of weight 2 and threshold 1 (no bias,
reset 0): its input is 0 or 2, so it fires exactly when its source fired (2 > 1 and 2 >= 1:
either threshold rule) and its membrane stays 0 (any decay of 0 is 0) -- exact in float and
in every fixed point, which is why the contract may define a relay as a plain copy.

**queue** — a shared circular delay queue (SENeCA's SCDQ, arXiv:2404.10597 / 2501.13610):
``D+1`` slots per layer; a spike (or input count) of ``i`` at step t enqueues one event per
distinct delay ``d`` of its synapses into slot ``(t+d) mod (D+1)``; at step t the slot is
drained and each event adds the weights of its (i, d) synapse group. The network is not
changed; :func:`run_queue` is the event-driven stepper and reports the queue's occupancy.

Times are in steps; memory in bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic, layer_constants
from delaykit.hardware_targets.profile import Target
from delaykit.hardware_targets.resources import (
    _bits_for,
    _state_bits,
    _weight_bits,
    delay_groups,
    queue_worst_entries,
    relay_chain_lengths,
)
from delaykit.network import Layer, Network, relay_roots
from delaykit.sim import make_runner, simulate
from delaykit.sim.reference import run_neurons
from delaykit.sim.result import check_frames

RELAY_WEIGHT = 2  #: a relay on a chip: one synapse of weight 2 ...
RELAY_THRESHOLD = 1  #: ... and threshold 1 (fires for 2 > 1 and 2 >= 1), bias 0, reset 0


# ---- the relay realization, as a contract network -----------------------------------------


def _input_tap_columns(first: Layer) -> tuple[np.ndarray, np.ndarray, int]:
    """Layer 0's (channel, delay >= 1) pairs in use, the column of each (channel, delay) in
    the expanded input (index ``channel * (max_delay + 1) + delay``; -1 unused) and the span."""
    jj, ii = np.nonzero(first.weight != 0)
    dd = first.delay[jj, ii].astype(np.int64)
    pairs = np.unique(np.stack([ii, dd], axis=1)[dd > 0], axis=0).reshape(-1, 2).astype(np.int64)
    span = first.max_delay + 1
    col_of = np.full(first.n_in * span, -1, np.int64)
    col_of[np.arange(first.n_in) * span] = np.arange(first.n_in)
    col_of[pairs[:, 0] * span + pairs[:, 1]] = first.n_in + np.arange(len(pairs))
    return pairs, col_of, span


def _relay_chains(layer: Layer, nxt: Layer) -> tuple[np.ndarray, np.ndarray, int]:
    """Relays of ``layer``'s outputs as deep as ``nxt`` needs: (relay_src, column of each
    (neuron, lag) in ``nxt``'s expanded input, span = nxt.max_delay + 1)."""
    chains = relay_chain_lengths(nxt)
    n_relay = int(chains.sum())
    offset = np.concatenate([[0], np.cumsum(chains)[:-1]]).astype(np.int64)
    relay_main = np.repeat(np.arange(layer.n_out), chains)
    relay_lag = (np.arange(n_relay) - np.repeat(offset, chains) + 1).astype(np.int64)
    relay_src = np.where(relay_lag == 1, relay_main, layer.n_out + np.arange(n_relay) - 1).astype(np.int64)
    span = nxt.max_delay + 1
    col_of = np.full(layer.n_out * span, -1, np.int64)
    col_of[np.arange(layer.n_out) * span] = np.arange(layer.n_out)
    col_of[relay_main * span + relay_lag] = layer.n_out + np.arange(n_relay)
    return relay_src, col_of, span


def _rewire(layer: Layer, col_of: np.ndarray, span: int, n_in_ext: int) -> np.ndarray:
    """``layer``'s weights moved to the expanded input's tap columns (all delays 0)."""
    jj, ii = np.nonzero(layer.weight != 0)
    dd = layer.delay[jj, ii].astype(np.int64)
    if dd.size and dd.max() >= span:
        raise ValueError(f"layer {layer.name!r}: internal error, delay {dd.max()} beyond the taps built")
    w = np.zeros((layer.n_out, n_in_ext), dtype=layer.weight.dtype)
    w[jj, col_of[ii * span + dd]] = layer.weight[jj, ii]
    return w


def relay_expand(net: Network) -> Network:
    """Realize every delay of ``net`` with relay chains (hidden layers) and host input taps
    (layer 0): a contract :class:`Network` (format version 2) whose synapses all have delay 0.

    Layer ``l``'s main neurons, weights, biases and neuron parameters are those of ``net``;
    layer ``l`` (not the last) gets ``sum_i max_d(i)`` relays (``max_d(i)`` = the largest delay
    of neuron ``i``'s non-zero synapses in layer ``l + 1``), listed chain by chain (neuron 0's
    lags 1, 2, ..., then neuron 1's, ...). Layer 0 reads ``[channels | taps]`` with one tap
    per (channel, delay >= 1) pair in use, sorted by channel then delay.
    """
    layers = net.layers
    pairs, col_of, span = _input_tap_columns(layers[0])
    n_in_ext = layers[0].n_in + len(pairs)
    out: list[Layer] = []
    total_relays = 0
    for li, layer in enumerate(layers):
        w = _rewire(layer, col_of, span, n_in_ext)
        relay_src = None
        if li + 1 < len(layers):
            relay_src, col_of, span = _relay_chains(layer, layers[li + 1])
            n_in_ext = layer.n_out + len(relay_src)
            total_relays += len(relay_src)
        out.append(replace(layer, weight=w, delay=np.zeros(w.shape, np.int32), relay_src=relay_src))
    realization = {
        "method": "relay",
        "relay_neurons": total_relays,
        "input_taps": len(pairs),
        "original_max_delay_steps": net.max_delay,
    }
    return replace(
        net,
        layers=tuple(out),
        input=replace(net.input, taps=tuple(map(tuple, pairs.tolist()))),
        provenance={**net.provenance, "realization": realization},
    )


# ---- the queue stepper ------------------------------------------------------------------------
#
# It sums synaptic input through a shared circular queue and steps the neurons with the
# simulator's reference (delaykit.sim.reference.run_neurons), in the number formats of
# delaykit.arithmetic. It runs in model time: layer latency (a uniform per-layer offset on
# hardware) is not applied, so ``arith`` must have ``layer_latency_steps == 0`` (see
# :func:`model_time`).


def model_time(arith: Any) -> Any:
    """``arith`` (None: float64) with ``layer_latency_steps = 0``."""
    arith = arith or Arithmetic.float64()
    return arith if arith.layer_latency_steps == 0 else replace(arith, layer_latency_steps=0)


@dataclass(frozen=True)
class QueueRun:
    """Result of :func:`run_queue`: output, spikes and measured queue occupancy per layer.

    max_pending: the most events held in the queue across a step boundary (entries);
    events: all (input spike or count, delay group) events created.
    """

    output: np.ndarray
    spikes: list[np.ndarray]
    max_pending: list[int]
    events: list[int]


def _synapse_groups(layer: Layer, w: np.ndarray) -> list[list[tuple[int, np.ndarray]]]:
    """Per presynaptic index: (delay, weight column of the synapses with that delay)."""
    nz = layer.weight != 0
    groups = []
    for i in range(layer.n_in):
        g = []
        for d in np.unique(layer.delay[nz[:, i], i]):
            g.append((int(d), np.where(nz[:, i] & (layer.delay[:, i] == d), w[:, i], 0).astype(w.dtype)))
        groups.append(g)
    return groups


def _queue_input(layer: Layer, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Synaptic input of ``layer`` summed through one circular queue of ``max_delay + 1``
    slots: (input [steps, n_out], most events pending across a step boundary, events)."""
    groups = _synapse_groups(layer, w)
    n_in_steps = x.shape[0]
    n_steps = n_in_steps + layer.extend_steps
    n_slots = layer.max_delay + 1
    slots: list[list[tuple[Any, np.ndarray]]] = [[] for _ in range(n_slots)]
    pending = worst = events = 0
    syn = np.zeros((n_steps, layer.n_out), dtype=w.dtype)
    for t in range(n_steps):
        slot = slots[t % n_slots]
        for val, col in slot:  # events queued d >= 1 steps ago, due now
            syn[t] += val * col
        pending -= len(slot)
        slots[t % n_slots] = []
        if t < n_in_steps:
            for i in np.flatnonzero(x[t]):
                val = x[t, i]
                for d, col in groups[i]:
                    events += 1
                    if d == 0:  # same step: bypasses the queue
                        syn[t] += val * col
                    else:
                        slots[(t + d) % n_slots].append((val, col))
                        pending += 1
        worst = max(worst, pending)
    return syn, worst, events


def run_queue(net: Network, frames: np.ndarray, arith: Any = None) -> QueueRun:
    """Event-driven stepper with one shared circular delay queue per layer (exact)."""
    arith = model_time(arith)
    x = check_frames(net, frames, arith)
    sdt = np.int64 if arith.is_fixed else np.float64
    spikes: list[np.ndarray] = []
    max_pending: list[int] = []
    n_events: list[int] = []
    out = np.zeros((0, 0))
    for layer in net.layers:
        c = layer_constants(layer, arith)
        syn, worst, events = _queue_input(layer, x, c.weight.astype(sdt))
        max_pending.append(worst)
        n_events.append(events)
        s, trace = run_neurons(syn, c, arith)
        if layer.neuron.spiking:
            spikes.append(s)
            out = s.astype(np.float64)
        else:
            out = trace.astype(np.float64) * c.out_scale
        x = s.astype(x.dtype)
    return QueueRun(output=out, spikes=spikes, max_pending=max_pending, events=n_events)


# ---- plans with costs ----------------------------------------------------------------------


@dataclass(frozen=True)
class RealizationPlan:
    """Neuron and memory cost of realizing ``network``'s delays on ``target`` by ``method``."""

    target: str
    method: str
    layers: list[dict[str, Any]]
    original_neurons: int
    original_synapses: int
    extra_neurons: int
    extra_synapses: int
    host_input_taps: int
    memory_bytes: int
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "target",
                "method",
                "original_neurons",
                "original_synapses",
                "extra_neurons",
                "extra_synapses",
                "host_input_taps",
                "memory_bytes",
                "layers",
                "notes",
            )
        }

    def format(self) -> str:
        lines = [
            f"{self.method} realization of delays on {self.target}: "
            f"{self.original_neurons:,} neurons + {self.extra_neurons:,} extra, "
            f"{self.original_synapses:,} synapses + {self.extra_synapses:,} extra, "
            f"{self.host_input_taps:,} host input taps, delay memory {self.memory_bytes:,} B"
        ]
        for lay in self.layers:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in lay.items()))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


@dataclass
class _PlanCost:
    layers: list[dict[str, Any]]
    extra_neurons: int
    host_input_taps: int
    memory_bits: int
    notes: list[str]


def _relay_cost(net: Network, target: Target, state_bits: int) -> _PlanCost:
    """Relay neurons per layer; each holds a membrane and one copy synapse (``state_bits``)."""
    expanded = relay_expand(net)
    first = expanded.layers[0]
    taps = int((first.weight != 0).any(axis=0).sum())  # (channel, delay) pairs in use, delay 0 too
    per_layer = [
        {
            "layer": lay.name,
            "relay_neurons": lay.n_relay,
            "max_chain": int(relay_roots(lay)[1].max()) if lay.n_relay else 0,
            "synapses": int((lay.weight != 0).sum()),
        }
        for lay in expanded.layers
    ]
    extra_n = sum(lay.n_relay for lay in expanded.layers)
    notes = [
        f"layer {net.layers[0].name!r}: input counts are delayed on the host: "
        f"{expanded.input.n_taps} taps (channel, delay >= 1) beside the {net.input.n_channels} "
        f"channels; {taps} (channel, delay) inputs carry synapses",
        f"relay neurons copy spikes exactly; on a chip each is a LIF with hard reset to 0 and one "
        f"synapse of weight {RELAY_WEIGHT}, threshold {RELAY_THRESHOLD} (input 0 or {RELAY_WEIGHT}, "
        f"membrane stays 0)",
    ]
    if target.input_channels_max is not None and taps > target.input_channels_max:
        notes.append(f"{taps} input taps exceed the chip's {target.input_channels_max} inputs")
    total = sum(lay.n_out for lay in net.layers) + extra_n
    if target.neurons_max is not None and total > target.neurons_max:
        notes.append(f"{total:,} neurons with relays exceed the chip's {target.neurons_max:,}")
    return _PlanCost(per_layer, extra_n, taps, extra_n * state_bits, notes)


def _queue_cost(net: Network) -> _PlanCost:
    """Worst-case queue entries per layer x (presynaptic index + delay) bits."""
    per_layer = []
    mem_bits = 0
    for layer in net.layers:
        worst = queue_worst_entries(layer)
        entry_bits = _bits_for(layer.n_in) + _bits_for(layer.max_delay + 1)
        per_layer.append(
            {
                "layer": layer.name,
                "slots": layer.max_delay + 1,
                "worst_entries": worst,
                "entry_bits": entry_bits,
                "synapse_groups": sum(int(g.size) for g in delay_groups(layer)),
            }
        )
        mem_bits += worst * entry_bits
    notes = [
        "worst case: every input spikes every step; the SCDQ's memory scales with "
        "activity (measure it with run_queue(...).max_pending)"
    ]
    return _PlanCost(per_layer, 0, 0, mem_bits, notes)


def plan_realization(net: Network, target: Target, method: str) -> RealizationPlan:
    """Cost of the relay or queue realization of ``net`` on ``target`` (memory in bytes).

    relay: relay neurons hold a membrane (target membrane bits) and one copy synapse
    (target weight bits); queue: worst-case entries x (presynaptic index + delay bits).
    """
    if method not in ("relay", "queue"):
        raise ValueError(f"unknown realization method {method!r}; use 'relay' or 'queue'")
    if method == "relay":
        cost = _relay_cost(net, target, _state_bits(target, "membrane_bits") + (_weight_bits(target) or 32))
    else:
        cost = _queue_cost(net)
    return RealizationPlan(
        target=target.name,
        method=method,
        layers=cost.layers,
        original_neurons=sum(lay.n_out for lay in net.layers),
        original_synapses=sum(int((lay.weight != 0).sum()) for lay in net.layers),
        extra_neurons=cost.extra_neurons,
        extra_synapses=cost.extra_neurons,  # one copy synapse per relay
        host_input_taps=cost.host_input_taps,
        memory_bytes=math.ceil(cost.memory_bits / 8),
        notes=cost.notes,
    )


# ---- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """Comparison of a realization with the original network on some inputs."""

    method: str
    reference: str
    arithmetic: str
    samples: int
    identical: bool
    spikes_identical: bool
    max_abs_output_diff: float
    details: list[str]


def _reference(net: Network, frames: np.ndarray, arith: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    res = simulate(net, frames, engine="reference", arithmetic=arith)
    return np.asarray(res.output, dtype=np.float64), [np.asarray(sp) for sp in res.spikes]


def _compare(
    out: np.ndarray, spikes: list[np.ndarray], ref_out: np.ndarray, ref_spikes: list[np.ndarray]
) -> tuple[bool, bool, float, list[str]]:
    """(identical, spikes identical, max |output diff|, problems) of one sample."""
    problems = []
    same_spikes = len(spikes) == len(ref_spikes) and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(spikes, ref_spikes, strict=True)
    )
    same_shape = out.shape == ref_out.shape
    diff = (
        float(np.max(np.abs(out - ref_out))) if same_shape and out.size else (0.0 if same_shape else math.inf)
    )
    if not same_spikes:
        problems.append("spikes differ")
    if not same_shape:
        problems.append(f"output shape {out.shape} != reference {ref_out.shape}")
    ident = same_spikes and same_shape and bool(np.array_equal(out, ref_out))
    return ident, same_spikes, diff, problems


_Outputs = tuple[np.ndarray, list[np.ndarray]]


def _relay_pair(net: Network, expanded: Network | None, engine: str, arith: Arithmetic) -> Any:
    """frames -> ((reference output, spikes), (realization output, spikes)) for relays."""
    expanded = relay_expand(net) if expanded is None else expanded
    run_ref = make_runner(net, engine, arith)  # = delaykit.sim.simulate, prepared once
    run_exp = make_runner(expanded, engine, arith)

    def pair(frames: np.ndarray) -> tuple[_Outputs, _Outputs]:
        ref, got = run_ref(frames), run_exp(frames)
        return (ref.output, ref.spikes), (got.output, got.spikes)

    return pair


def _queue_pair(net: Network, arith: Arithmetic) -> Any:
    """frames -> ((reference output, spikes), (queue output, spikes)) in model time."""

    def pair(frames: np.ndarray) -> tuple[_Outputs, _Outputs]:
        q = run_queue(net, frames, arith)
        return _reference(net, frames, arith), (q.output, q.spikes)

    return pair


def verify_realization(
    net: Network,
    method: str,
    inputs: Sequence[np.ndarray],
    arith: Any = None,
    expanded: Network | None = None,
    engine: str = "reference",
) -> Verification:
    """Run the realization and the original on every input; compare spikes and outputs.

    relay: ``delaykit.sim.simulate(..., engine)`` of the expanded network (``expanded``, default
    :func:`relay_expand` of ``net``; all delays 0, relays and input taps) against the same call
    on ``net``, in ``arith`` (a simulator ``Arithmetic``, None: float64; layer latency kept).
    The reference engine steps every relay copy literally, so it is the default.
    queue: :func:`run_queue` against ``delaykit.sim.simulate(engine='reference')`` in model
    time (latency 0).
    ``identical`` means bit-for-bit equal outputs and main-neuron spikes. Integer networks
    sum exactly, so that must hold for them; with float weights the summation order differs
    (relays regroup the columns, the queue adds events one by one): outputs may differ by rounding.
    """
    if method not in ("relay", "queue"):
        raise ValueError(f"unknown realization method {method!r}; use 'relay' or 'queue'")
    if method == "relay":
        arith = arith or Arithmetic.float64()
        pair = _relay_pair(net, expanded, engine, arith)
        ref_name = f"delaykit.sim.simulate(engine={engine!r}) of the original network"
    else:
        arith = model_time(arith)
        pair = _queue_pair(net, arith)
        ref_name = "delaykit.sim.simulate(engine='reference')"
    ident = spikes_ok = True
    worst = 0.0
    details: list[str] = []
    for k, frames in enumerate(inputs):
        (ref_out, ref_spikes), (out, spikes) = pair(frames)
        same, same_spikes, diff, problems = _compare(out, spikes, ref_out, ref_spikes)
        worst = max(worst, diff)
        ident &= same
        spikes_ok &= same_spikes
        details += [f"sample {k}: {p}" for p in problems]
    return Verification(
        method=method,
        reference=ref_name,
        arithmetic=str(arith.name),
        samples=len(inputs),
        identical=ident,
        spikes_identical=spikes_ok,
        max_abs_output_diff=worst,
        details=details,
    )
