"""Exact realization of per-synapse delays on chips without native delays (numpy only).

Two plans, both exact (same spikes and readout as the contract's semantics):

**relay** — delay lines of relay neurons. For every presynaptic neuron ``i`` of a hidden
layer, a chain of ``max_d(i)`` relay neurons ``r(i,1) -> r(i,2) -> ...`` where ``r(i,k)``
copies the spike of its predecessor one step later, so ``r(i,k)[t] = s_i[t-k]``. The synapse
``(j, i)`` with delay ``d`` is rewired, with delay 0, to tap ``d`` of the chain (tap 0 is the
neuron itself). A relay is an ordinary LIF of its layer with one synapse of weight 2 and
threshold 1 (no bias, reset 0): its input is 0 or 2, so it fires exactly when its source fired
(2 > 1 and 2 >= 1: either threshold rule) and its membrane stays 0 (any decay of 0 is 0) —
exact in float and in every fixed-point arithmetic of the simulator. Input
channels carry counts, not binary spikes, so layer 0's delays become *host-side taps*: the
host feeds one extra input channel per (channel, delay) pair used.

The contract (:mod:`delaykit.network`) is strictly layered: every path between two layers
has the same number of hops, so chains of different lengths cannot be written in it. A relay
network is therefore kept in its own explicit form, :class:`RelayNetwork` (saved as HDF5,
format ``delaykit.relay_network``), in which each layer holds its main neurons and the relay
neurons of its own outputs, linked by one-step recurrent copies. The minimal backwards-
compatible contract addition that would hold it is an optional per-layer recurrent matrix
applied with one step of lag (``I[t] += R @ s[t-1]``), see the final report.

**queue** — a shared circular delay queue (SENeCA's SCDQ, arXiv:2404.10597 / 2501.13610):
``D+1`` slots per layer; a spike (or input count) of ``i`` at step t enqueues one event per
distinct delay ``d`` of its synapses into slot ``(t+d) mod (D+1)``; at step t the slot is
drained and each event adds the weights of its (i, d) synapse group. The network is not
changed; :func:`run_queue` is the event-driven stepper and reports the queue's occupancy.

Times are in steps; memory in bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from delaykit.hardware_targets.profile import Target
from delaykit.hardware_targets.resources import (
    _bits_for,
    _state_bits,
    _weight_bits,
    delay_groups,
    queue_worst_entries,
    relay_chain_lengths,
)

from delaykit.errors import FormatError
from delaykit.fileio import atomic_path
from delaykit.network import LI, LIF, Layer, Network, neuron_from_dict

RELAY_FORMAT = "delaykit.relay_network"
RELAY_FORMAT_VERSION = 1


# ---- the explicit relay representation -----------------------------------------------------


@dataclass(frozen=True)
class RelayLayer:
    """One layer of a relay network.

    weight: (n_main, n_in_ext) feedforward weights, all with delay 0; columns index the
      previous layer's extended output ``[main neurons | relays]`` (layer 0: the input taps).
    relay_src: (n_relay,) index into this layer's extended output whose spike the relay
      copies one step later; relay_main / relay_lag: the main neuron of its chain and its lag
      in steps (``r[t] = s_main[t - lag]``). Relays have one synapse of ``relay_weight``
      (2), threshold ``relay_threshold`` (1), bias 0, reset 0, and the layer's tau.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray
    neuron: LIF | LI
    weight_scale: np.ndarray | None
    extend_steps: int
    relay_src: np.ndarray
    relay_main: np.ndarray
    relay_lag: np.ndarray
    relay_weight: int = 2
    relay_threshold: int = 1

    @property
    def n_main(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_relay(self) -> int:
        return int(self.relay_src.size)

    @property
    def n_ext(self) -> int:
        return self.n_main + self.n_relay


@dataclass(frozen=True)
class RelayNetwork:
    """A network whose delays are all realized by relay chains and host-side input taps.

    input_taps: (n_taps, 2) int array of (input channel, lag in steps); the host feeds
    ``frames[t - lag, channel]`` as input ``k`` at step t.
    """

    layers: tuple[RelayLayer, ...]
    input_taps: np.ndarray
    n_channels: int
    dt: float
    readout: str
    source: dict[str, Any]

    @property
    def relay_neurons(self) -> int:
        return sum(lay.n_relay for lay in self.layers)

    @property
    def relay_synapses(self) -> int:
        return self.relay_neurons  # one copy synapse per relay

    @property
    def synapses(self) -> int:
        return sum(int((lay.weight != 0).sum()) for lay in self.layers)


def relay_expand(net: Network) -> RelayNetwork:
    """Realize every delay of ``net`` with relay chains (hidden layers) and input taps (layer 0)."""
    layers = net.layers
    # layer 0: one host input tap per (channel, delay) pair with a non-zero synapse
    first = layers[0]
    nz0 = first.weight != 0
    pairs = np.unique(np.stack([np.nonzero(nz0)[1], first.delay[nz0]], axis=1), axis=0) if nz0.any() \
        else np.zeros((0, 2), np.int64)
    span0 = first.max_delay + 1
    tap_index = np.full(first.n_in * span0, -1, np.int64)
    tap_index[pairs[:, 0] * span0 + pairs[:, 1]] = np.arange(len(pairs))
    col_of = tap_index  # maps key i * span + d -> column of the extended input
    span = span0
    n_in_ext = len(pairs)
    out: list[RelayLayer] = []
    for li, layer in enumerate(layers):
        nz = layer.weight != 0
        jj, ii = np.nonzero(nz)
        dd = layer.delay[jj, ii].astype(np.int64)
        if dd.size and dd.max() >= span:
            raise ValueError(f"layer {layer.name!r}: internal error, delay {dd.max()} beyond the taps built")
        cols = col_of[ii * span + dd]
        w = np.zeros((layer.n_out, n_in_ext), dtype=layer.weight.dtype)
        w[jj, cols] = layer.weight[jj, ii]
        # relays of this layer's outputs, as deep as the next layer's delays need
        if li + 1 < len(layers):
            nxt = layers[li + 1]
            chains = relay_chain_lengths(nxt)
            n_relay = int(chains.sum())
            offset = np.concatenate([[0], np.cumsum(chains)[:-1]]).astype(np.int64)
            relay_main = np.repeat(np.arange(layer.n_out), chains)
            relay_lag = (np.arange(n_relay) - np.repeat(offset, chains) + 1).astype(np.int64)
            relay_src = np.where(relay_lag == 1, relay_main,
                                 layer.n_out + np.arange(n_relay) - 1).astype(np.int64)
            span = nxt.max_delay + 1
            col_of = np.full(layer.n_out * span, -1, np.int64)
            col_of[np.arange(layer.n_out) * span] = np.arange(layer.n_out)
            if n_relay:
                col_of[relay_main * span + relay_lag] = layer.n_out + np.arange(n_relay)
            n_in_ext = layer.n_out + n_relay
        else:
            relay_main = relay_lag = relay_src = np.zeros(0, np.int64)
        out.append(RelayLayer(name=layer.name, weight=w, bias=layer.bias.copy(), neuron=layer.neuron,
                              weight_scale=None if layer.weight_scale is None else layer.weight_scale.copy(),
                              extend_steps=layer.extend_steps, relay_src=relay_src, relay_main=relay_main,
                              relay_lag=relay_lag, relay_weight=RELAY_WEIGHT,
                              relay_threshold=RELAY_THRESHOLD))
    return RelayNetwork(layers=tuple(out), input_taps=pairs.astype(np.int64), n_channels=first.n_in,
                        dt=net.dt, readout=net.readout,
                        source={"layers": [lay.name for lay in layers], "input": net.input.to_dict(),
                                "provenance": net.provenance})


# ---- exact numpy steppers ------------------------------------------------------------------
#
# They follow the number formats of delaykit.sim.arithmetic (its module docstring is the
# spec): ``arith=None`` is float64 without importing the simulator; an ``Arithmetic`` (float32
# or a target's fixed point) uses its public helpers. All steppers run in model time: layer
# latency (a uniform per-layer offset on hardware) is not applied, so an ``arith`` must have
# ``layer_latency_steps == 0`` (see :func:`model_time`).

RELAY_WEIGHT = 2  #: relay synapse weight; the relay threshold is 1 (fires for 2 > 1 and 2 >= 1)
RELAY_THRESHOLD = 1


@dataclass(frozen=True)
class _Consts:
    weight: np.ndarray
    bias: np.ndarray
    threshold: np.ndarray
    reset: np.ndarray
    tau: float
    spiking: bool
    out_scale: np.ndarray


def model_time(arith: Any) -> Any:
    """``arith`` with ``layer_latency_steps = 0`` (None stays None)."""
    if arith is None or getattr(arith, "layer_latency_steps", 0) == 0:
        return arith
    from dataclasses import replace

    return replace(arith, layer_latency_steps=0)


def _consts(name: str, weight: np.ndarray, bias: np.ndarray, neuron: LIF | LI,
            weight_scale: np.ndarray | None, arith: Any) -> _Consts:
    n = weight.shape[0]
    if arith is not None:
        from delaykit.sim.arithmetic import layer_constants

        lay = Layer(name=name, weight=weight, delay=np.zeros(weight.shape, np.int32), neuron=neuron,
                    bias=bias, weight_scale=weight_scale)
        c = layer_constants(lay, arith)
        return _Consts(weight=c.weight, bias=c.bias, threshold=c.threshold, reset=c.reset, tau=c.tau,
                       spiking=c.spiking, out_scale=c.out_scale)
    spiking = isinstance(neuron, LIF)
    th = np.broadcast_to(np.asarray(neuron.v_threshold if spiking else 0.0, np.float64), (n,)).copy()
    reset = np.broadcast_to(np.asarray(neuron.v_reset, np.float64), (n,)).copy()
    scale = np.ones(n) if weight_scale is None else np.asarray(weight_scale, np.float64)
    return _Consts(weight=weight.astype(np.float64), bias=bias.astype(np.float64), threshold=th, reset=reset,
                   tau=float(neuron.tau), spiking=spiking, out_scale=scale)


def _relay_consts(lay: RelayLayer, arith: Any) -> _Consts:
    """Relay neurons: one synapse of relay_weight, threshold relay_threshold, bias 0, reset 0."""
    n = lay.n_relay
    integer = bool(np.issubdtype(lay.weight.dtype, np.integer))
    w = np.full((n, 1), lay.relay_weight, dtype=np.int64 if integer else np.float64)
    b = np.zeros(n, dtype=np.int64 if integer else np.float64)
    lif = LIF(tau=float(lay.neuron.tau), v_threshold=float(lay.relay_threshold), v_reset=0.0)
    return _consts("relays", w, b, lif, np.ones(n) if integer else None, arith)


def _syn_dtype(arith: Any) -> type:
    return np.int64 if arith is not None and arith.is_fixed else np.float64


def _step(v: np.ndarray, syn_t: np.ndarray, c: _Consts, arith: Any) -> tuple[np.ndarray, np.ndarray]:
    """One step of the contract neuron in ``arith``: returns (spike bool or None-array, new v)."""
    if arith is None or not arith.is_fixed:
        f = np.float64 if arith is None else arith.float_dtype
        cur = (syn_t + c.bias).astype(f)  # I = F(syn + F(b))
        h = v + (c.reset - v) / f(c.tau) + cur
    else:
        from delaykit.sim.arithmetic import reduce_int

        u = reduce_int(syn_t << arith.weight_shift, arith.current_bits, arith.current_overflow)
        h = c.reset + arith.apply_decay(v - c.reset, c.tau) + u + c.bias
        h = reduce_int(h, arith.membrane_bits, arith.membrane_overflow)
    if not c.spiking:
        return np.zeros(h.shape, bool), h
    if arith is not None and arith.is_fixed and arith.threshold_compare == "gt":
        s = h > c.threshold
    else:
        s = h >= c.threshold
    return s, np.where(s, c.reset, h)


def _run(syn: np.ndarray, c: _Consts, arith: Any) -> tuple[np.ndarray, np.ndarray]:
    """Neurons over a whole (T, n) synaptic input: (spikes uint8, membrane in real units)."""
    v = c.reset.copy()
    if arith is not None and not arith.is_fixed:
        v = v.astype(arith.float_dtype)
    spikes = np.zeros(syn.shape, np.uint8)
    trace = np.zeros(syn.shape, np.float64)
    for t in range(syn.shape[0]):
        s, v = _step(v, syn[t], c, arith)
        spikes[t] = s
        trace[t] = v
    return spikes, trace * c.out_scale


def _input(frames: np.ndarray, arith: Any) -> np.ndarray:
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"frames: must be a (steps, channels) array, got shape {x.shape}")
    return x.astype(np.int64) if arith is not None and arith.is_fixed else x


def reference_run(net: Network, frames: np.ndarray, arith: Any = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The contract's semantics in plain numpy: (output, spikes of spiking layers).

    A small independent reference used to verify realizations when ``delaykit.sim`` is absent.
    """
    arith = model_time(arith)
    x = _input(frames, arith)
    spikes: list[np.ndarray] = []
    out = np.zeros((0, 0))
    for layer in net.layers:
        c = _consts(layer.name, layer.weight, layer.bias, layer.neuron, layer.weight_scale, arith)
        steps = x.shape[0] + layer.extend_steps
        syn = np.zeros((steps, layer.n_out), dtype=_syn_dtype(arith))
        for d in np.unique(layer.delay[layer.weight != 0]):
            wd = np.where(layer.delay == d, c.weight, 0).astype(syn.dtype)
            n = min(x.shape[0], steps - int(d))
            syn[d:d + n] += x[:n].astype(syn.dtype) @ wd.T
        s, trace = _run(syn, c, arith)
        if layer.neuron.spiking:
            spikes.append(s)
            out = s.astype(np.float64)
        else:
            out = trace
        x = s.astype(x.dtype)
    return out, spikes


def expand_input(rnet: RelayNetwork, frames: np.ndarray, steps: int) -> np.ndarray:
    """Host-side taps: (steps, n_taps) with column k = frames[t - lag_k, channel_k] (0 outside)."""
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != rnet.n_channels:
        raise ValueError(f"frames must have shape (T, {rnet.n_channels}), got {frames.shape}")
    T = frames.shape[0]
    x = np.zeros((steps, len(rnet.input_taps)), dtype=frames.dtype)
    for k, (c, lag) in enumerate(rnet.input_taps):
        n = max(0, min(T, steps - lag))
        x[lag:lag + n, k] = frames[:n, c]
    return x


def run_relay(rnet: RelayNetwork, frames: np.ndarray, arith: Any = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Step a relay network exactly: (last layer output, main-neuron spikes of spiking layers).

    Layer l's main neurons run for the contract's ``L_l = L_{l-1} + extend_steps`` steps and
    are silent afterwards (the contract's x = 0 outside the sequence); its relays keep
    stepping, each copying its source's previous step, for as long as the next layer reads them.
    """
    arith = model_time(arith)
    frames = _input(frames, arith)
    lengths = []
    n = frames.shape[0]
    for lay in rnet.layers:
        n += lay.extend_steps
        lengths.append(n)
    x = expand_input(rnet, frames, lengths[0])
    sdt = _syn_dtype(arith)
    spikes: list[np.ndarray] = []
    out = np.zeros((0, 0))
    for li, lay in enumerate(rnet.layers):
        L = lengths[li]
        c = _consts(lay.name, lay.weight, lay.bias, lay.neuron, lay.weight_scale, arith)
        xp = np.zeros((L, x.shape[1]), dtype=sdt)
        m = min(L, x.shape[0])
        xp[:m] = x[:m]
        syn = xp @ c.weight.astype(sdt).T
        s_main, trace = _run(syn, c, arith)
        if lay.neuron.spiking:
            spikes.append(s_main)
        if li + 1 == len(rnet.layers):
            out = s_main.astype(np.float64) if lay.neuron.spiking else trace
            break
        total = lengths[li + 1]
        ext = np.zeros((total, lay.n_ext), dtype=sdt)
        ext[:L, : lay.n_main] = s_main
        if lay.n_relay:
            rc = _relay_consts(lay, arith)
            v = rc.reset.copy()
            if arith is not None and not arith.is_fixed:
                v = v.astype(arith.float_dtype)
            w = rc.weight[:, 0].astype(sdt)
            for t in range(total):  # a relay sees its source's spike of the previous step
                src = ext[t - 1, lay.relay_src] if t else np.zeros(lay.n_relay, sdt)
                s, v = _step(v, w * src, rc, arith)
                ext[t, lay.n_main:] = s
        x = ext
    return out, spikes


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


def run_queue(net: Network, frames: np.ndarray, arith: Any = None) -> QueueRun:
    """Event-driven stepper with one shared circular delay queue per layer (exact)."""
    arith = model_time(arith)
    x = _input(frames, arith)
    sdt = _syn_dtype(arith)
    spikes: list[np.ndarray] = []
    max_pending: list[int] = []
    n_events: list[int] = []
    out = np.zeros((0, 0))
    for layer in net.layers:
        c = _consts(layer.name, layer.weight, layer.bias, layer.neuron, layer.weight_scale, arith)
        L_in = x.shape[0]
        L = L_in + layer.extend_steps
        nz = layer.weight != 0
        w = c.weight.astype(sdt)
        groups = []
        for i in range(layer.n_in):
            g = []
            for d in np.unique(layer.delay[nz[:, i], i]):
                g.append((int(d), np.where(nz[:, i] & (layer.delay[:, i] == d), w[:, i], 0).astype(sdt)))
            groups.append(g)
        n_slots = layer.max_delay + 1
        slots: list[list[tuple[Any, np.ndarray]]] = [[] for _ in range(n_slots)]
        pending = worst = events = 0
        syn = np.zeros((L, layer.n_out), dtype=sdt)
        for t in range(L):
            slot = slots[t % n_slots]
            for val, col in slot:  # events queued d >= 1 steps ago, due now
                syn[t] += val * col
            pending -= len(slot)
            slots[t % n_slots] = []
            if t < L_in:
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
        max_pending.append(worst)
        n_events.append(events)
        s, trace = _run(syn, c, arith)
        if layer.neuron.spiking:
            spikes.append(s)
            out = s.astype(np.float64)
        else:
            out = trace
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
        return {k: getattr(self, k) for k in ("target", "method", "original_neurons", "original_synapses",
                                              "extra_neurons", "extra_synapses", "host_input_taps",
                                              "memory_bytes", "layers", "notes")}

    def format(self) -> str:
        lines = [f"{self.method} realization of delays on {self.target}: "
                 f"{self.original_neurons:,} neurons + {self.extra_neurons:,} extra, "
                 f"{self.original_synapses:,} synapses + {self.extra_synapses:,} extra, "
                 f"{self.host_input_taps:,} host input taps, delay memory {self.memory_bytes:,} B"]
        for lay in self.layers:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in lay.items()))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def plan_realization(net: Network, target: Target, method: str) -> RealizationPlan:
    """Cost of the relay or queue realization of ``net`` on ``target`` (memory in bytes).

    relay: relay neurons hold a membrane (target membrane bits) and one copy synapse
    (target weight bits); queue: worst-case entries x (presynaptic index + delay bits).
    """
    if method not in ("relay", "queue"):
        raise ValueError(f"unknown realization method {method!r}; use 'relay' or 'queue'")
    mb = _state_bits(target, "membrane_bits")
    wb = _weight_bits(target) or 32
    per_layer: list[dict[str, Any]] = []
    extra_n = extra_s = taps = mem_bits = 0
    notes: list[str] = []
    if method == "relay":
        rnet = relay_expand(net)
        taps = len(rnet.input_taps)
        for lay in rnet.layers:
            per_layer.append({"layer": lay.name, "relay_neurons": lay.n_relay,
                              "max_chain": int(lay.relay_lag.max()) if lay.n_relay else 0,
                              "synapses": int((lay.weight != 0).sum())})
            extra_n += lay.n_relay
            mem_bits += lay.n_relay * (mb + wb)
        extra_s = extra_n
        notes.append(f"layer {net.layers[0].name!r}: input counts are delayed on the host: "
                     f"{taps} input taps replace {net.layers[0].n_in} channels")
        notes.append("relay neurons copy spikes exactly (input 0 or 2, threshold 1, membrane stays 0)")
        if target.input_channels_max is not None and taps > target.input_channels_max:
            notes.append(f"{taps} input taps exceed the chip's {target.input_channels_max} inputs")
        total = sum(lay.n_out for lay in net.layers) + extra_n
        if target.neurons_max is not None and total > target.neurons_max:
            notes.append(f"{total:,} neurons with relays exceed the chip's {target.neurons_max:,}")
    else:
        for layer in net.layers:
            worst = queue_worst_entries(layer)
            entry_bits = _bits_for(layer.n_in) + _bits_for(layer.max_delay + 1)
            groups = sum(int(g.size) for g in delay_groups(layer))
            per_layer.append({"layer": layer.name, "slots": layer.max_delay + 1, "worst_entries": worst,
                              "entry_bits": entry_bits, "synapse_groups": groups})
            mem_bits += worst * entry_bits
        notes.append("worst case: every input spikes every step; the SCDQ's memory scales with "
                     "activity (measure it with run_queue(...).max_pending)")
    return RealizationPlan(target=target.name, method=method, layers=per_layer,
                           original_neurons=sum(lay.n_out for lay in net.layers),
                           original_synapses=sum(int((lay.weight != 0).sum()) for lay in net.layers),
                           extra_neurons=extra_n, extra_synapses=extra_s, host_input_taps=taps,
                           memory_bytes=math.ceil(mem_bits / 8), notes=notes)


# ---- persistence of relay networks ----------------------------------------------------------


def save_relay_network(rnet: RelayNetwork, path: str | Path) -> None:
    """Write a relay network to HDF5 (format ``delaykit.relay_network`` v1), atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = RELAY_FORMAT
            f.attrs["format_version"] = RELAY_FORMAT_VERSION
            f.attrs["dt"] = rnet.dt
            f.attrs["readout"] = rnet.readout
            f.attrs["n_channels"] = rnet.n_channels
            f.attrs["n_layers"] = len(rnet.layers)
            f.attrs["source"] = json.dumps(rnet.source)
            f.attrs["semantics"] = (
                "layer l: I[t] = weight @ x_ext[t] + bias (all delays 0) for t < L_l = L_(l-1) + "
                "extend_steps, contract LIF/LI on the main neurons; relay r: I_r[t] = relay_weight * "
                "y_ext[t-1, relay_src[r]], LIF with tau of the layer, threshold relay_threshold, reset 0; "
                "y_ext = [main | relays]; layer 0 input k = frames[t - input_taps[k,1], input_taps[k,0]]")
            f.create_dataset("input_taps", data=rnet.input_taps)
            g = f.create_group("layers")
            for i, lay in enumerate(rnet.layers):
                lg = g.create_group(f"{i:03d}")
                lg.attrs["name"] = lay.name
                lg.attrs["extend_steps"] = lay.extend_steps
                lg.attrs["neuron"] = json.dumps(lay.neuron.to_dict())
                lg.attrs["relay_weight"] = lay.relay_weight
                lg.attrs["relay_threshold"] = lay.relay_threshold
                lg.create_dataset("weight", data=lay.weight, compression="gzip")
                lg.create_dataset("bias", data=lay.bias)
                if lay.weight_scale is not None:
                    lg.create_dataset("weight_scale", data=lay.weight_scale)
                for key in ("relay_src", "relay_main", "relay_lag"):
                    lg.create_dataset(key, data=getattr(lay, key))


def load_relay_network(path: str | Path) -> RelayNetwork:
    """Read a file written by :func:`save_relay_network`; FormatError if it is not one."""
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != RELAY_FORMAT or int(f.attrs.get("format_version", -1)) != RELAY_FORMAT_VERSION:
                raise FormatError(f"{p}: not a {RELAY_FORMAT} v{RELAY_FORMAT_VERSION} file "
                                  f"(format {fmt!r}); write one with 'delaykit targets realize'")
            layers = []
            for i in range(int(f.attrs["n_layers"])):
                lg = f[f"layers/{i:03d}"]
                layers.append(RelayLayer(
                    name=str(lg.attrs["name"]), weight=lg["weight"][()], bias=lg["bias"][()],
                    neuron=neuron_from_dict(json.loads(lg.attrs["neuron"]), where=f"{p} layer {i}"),
                    weight_scale=lg["weight_scale"][()] if "weight_scale" in lg else None,
                    extend_steps=int(lg.attrs["extend_steps"]), relay_src=lg["relay_src"][()],
                    relay_main=lg["relay_main"][()], relay_lag=lg["relay_lag"][()],
                    relay_weight=int(lg.attrs["relay_weight"]),
                    relay_threshold=int(lg.attrs["relay_threshold"])))
            return RelayNetwork(layers=tuple(layers), input_taps=f["input_taps"][()],
                                n_channels=int(f.attrs["n_channels"]), dt=float(f.attrs["dt"]),
                                readout=str(f.attrs["readout"]), source=json.loads(f.attrs["source"]))
    except (OSError, KeyError) as e:
        raise FormatError(f"{p}: unreadable relay network ({e})") from None


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


def _reference(net: Network, frames: np.ndarray, arith: Any, use_sim: bool
               ) -> tuple[np.ndarray, list[np.ndarray], str]:
    if use_sim:
        try:
            from delaykit.sim import Arithmetic, simulate
        except ImportError:
            use_sim = False
    if not use_sim:
        out, spikes = reference_run(net, frames, arith)
        return out, spikes, "delaykit.hardware_targets.realize.reference_run"
    res = simulate(net, frames, engine="reference", arithmetic=arith or Arithmetic.float64())
    return (np.asarray(res.output, dtype=np.float64), [np.asarray(s) for s in res.spikes],
            "delaykit.sim.simulate(engine='reference')")


def verify_realization(net: Network, method: str, inputs: Sequence[np.ndarray], arith: Any = None,
                       rnet: RelayNetwork | None = None, use_sim: bool = True) -> Verification:
    """Run the realization and the reference on every input; compare spikes and outputs.

    The reference is ``delaykit.sim.simulate(engine='reference')`` when the simulator is
    installed (``use_sim``), else :func:`reference_run`. ``arith`` is a simulator
    ``Arithmetic`` (None: float64); its layer latency is set to 0 (model time).
    ``identical`` means bit-for-bit equal outputs and spikes. Integer networks sum exactly,
    so that must hold for them; with float weights the summation order differs (the queue
    adds events one by one, relays regroup the columns), so outputs may differ by rounding.
    """
    if method not in ("relay", "queue"):
        raise ValueError(f"unknown realization method {method!r}; use 'relay' or 'queue'")
    arith = model_time(arith)
    if method == "relay" and rnet is None:
        rnet = relay_expand(net)
    ident = spikes_ok = True
    worst = 0.0
    details: list[str] = []
    ref_name = ""
    for k, frames in enumerate(inputs):
        ref_out, ref_spikes, ref_name = _reference(net, frames, arith, use_sim)
        if method == "relay":
            out, spikes = run_relay(rnet, frames, arith)  # type: ignore[arg-type]
        else:
            q = run_queue(net, frames, arith)
            out, spikes = q.output, q.spikes
        same_spikes = len(spikes) == len(ref_spikes) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(spikes, ref_spikes, strict=True))
        same_shape = out.shape == ref_out.shape
        diff = float(np.max(np.abs(out - ref_out))) if same_shape and out.size else (0.0 if same_shape else math.inf)
        worst = max(worst, diff)
        if not same_spikes:
            spikes_ok = False
            details.append(f"sample {k}: spikes differ")
        if not same_shape:
            details.append(f"sample {k}: output shape {out.shape} != reference {ref_out.shape}")
        if not (same_spikes and same_shape and np.array_equal(out, ref_out)):
            ident = False
    name = "float64" if arith is None else str(arith.name)
    return Verification(method=method, reference=ref_name, arithmetic=name, samples=len(inputs),
                        identical=ident, spikes_identical=spikes_ok, max_abs_output_diff=worst, details=details)
