"""Resource estimate and neuron-to-core mapping of a deployed network on a target (numpy only).

What it counts (memory in bytes, delays in steps):

* **synapse memory** per layer: the cheaper of a dense matrix (``n_out x n_in`` entries of
  weight + per-synapse delay bits) and a sparse list (non-zero synapses x (weight + delay +
  target-index bits)). Weight bits: the target's mantissa width, 16 for bf16, 32 for float;
  analog weights have no memory figure.
* **delay-buffer memory** by how the target realizes delays:
  ``native`` per-synapse delays: a ring buffer of ``max_delay + 1`` current slots per
  postsynaptic neuron (Loihi's dendritic accumulators, sPyNNaker's ring buffers). On
  SpiNNaker the native range follows the neurons per core; longer delays add
  delay-extension cores (one spike bit per presynaptic neuron and tick of each stage), and
  delays beyond those force fewer neurons per core for that layer (``neurons_per_core``). ``axon``: ``max_delay + 1`` spike bits per axon, one axon per
  (presynaptic neuron, distinct delay). ``relay``: one relay neuron per step of each chain
  (see :mod:`realize`), each holding a membrane. ``queue``: a shared circular delay queue
  whose worst case holds one entry per (presynaptic neuron, delay > 0) per step of delay.
* **cores**: neurons are assigned to cores in order, layer by layer, filling a core until
  one of its limits (neurons, synapses, memory, axons = distinct inputs) would be exceeded.
  Without any per-core limit in the profile there is no mapping (``cores is None``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from delaykit.hardware_targets.schema import Target, core_size_for_delay
from delaykit.network import Layer, Network

DELAY_METHODS = ("relay", "queue")


def _bits_for(n: int) -> int:
    """Bits to index ``n`` distinct values (at least 1)."""
    return max(1, math.ceil(math.log2(max(n, 2))))


@dataclass(frozen=True)
class CoreAssignment:
    """One core of the mapping: ``segments`` lists (population, start, stop) neuron ranges.

    A population is a layer name, ``<layer>:relays`` for the relay neurons that delay that
    layer's spikes, or ``<layer>:delay-ext`` for a SpiNNaker delay-extension core.
    inputs: distinct axons the core receives (presynaptic neurons; per-axon-delay targets:
    distinct (presynaptic neuron, delay) pairs). memory_bytes: synapses plus delay buffers.
    """

    core: int
    segments: tuple[tuple[str, int, int], ...]
    neurons: int
    synapses: int
    inputs: int
    memory_bytes: int
    over_limit: bool = False

    @property
    def label(self) -> str:
        return " + ".join(f"{p}[{a}:{b}]" for p, a, b in self.segments) or "-"


@dataclass(frozen=True)
class LayerEstimate:
    """Resources of one layer (memory in bytes, delays in steps)."""

    name: str
    neurons: int
    synapses: int
    fan_in_max: int
    fan_out_max: int
    max_delay: int
    distinct_delays: int
    delay_method: str
    weight_bits: int | None
    delay_bits: int
    synapse_memory_bytes: int | None
    delay_buffer_bytes: int
    extra_neurons: int = 0
    extra_synapses: int = 0
    extra_axons: int = 0
    host_input_taps: int = 0
    extension_cores: int = 0
    neurons_per_core: int | None = None
    cores: int | None = None


@dataclass
class ResourceEstimate:
    """The estimate for a whole network; ``assignments`` is the core mapping (or None)."""

    target: str
    method: str
    layers: list[LayerEstimate]
    assignments: list[CoreAssignment] | None
    limits: dict[str, int | None] = field(default_factory=dict)

    @property
    def cores(self) -> int | None:
        if self.assignments is None:
            return None
        return len(self.assignments)

    @property
    def neurons(self) -> int:
        return sum(x.neurons for x in self.layers)

    @property
    def extra_neurons(self) -> int:
        return sum(x.extra_neurons for x in self.layers)

    @property
    def synapses(self) -> int:
        return sum(x.synapses for x in self.layers)

    @property
    def synapse_memory_bytes(self) -> int | None:
        vals = [x.synapse_memory_bytes for x in self.layers]
        return None if any(v is None for v in vals) else int(sum(vals))  # type: ignore[arg-type]

    @property
    def delay_buffer_bytes(self) -> int:
        return sum(x.delay_buffer_bytes for x in self.layers)

    @property
    def over_limit_cores(self) -> int:
        return 0 if self.assignments is None else sum(a.over_limit for a in self.assignments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "method": self.method,
            "cores": self.cores,
            "neurons": self.neurons,
            "extra_neurons": self.extra_neurons,
            "synapses": self.synapses,
            "synapse_memory_bytes": self.synapse_memory_bytes,
            "delay_buffer_bytes": self.delay_buffer_bytes,
            "over_limit_cores": self.over_limit_cores,
            "limits": self.limits,
            "layers": [asdict(x) for x in self.layers],
            "assignments": None if self.assignments is None else [asdict(a) for a in self.assignments],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _weight_bits(target: Target) -> int | None:
    if target.weight_bits is not None:
        return int(target.weight_bits)
    return {"bf16": 16, "float": 32}.get(target.weight_format)


def _state_bits(target: Target, key: str) -> int:
    if target.fixed_point is not None:
        return int(target.fixed_point[key])
    if target.weight_format == "bf16":
        return 16
    if target.weight_bits is not None:
        return max(16, int(target.weight_bits))
    return 32


def relay_chain_lengths(layer: Layer) -> np.ndarray:
    """Relay neurons per presynaptic input of ``layer``: its largest delay among non-zero synapses."""
    nz = layer.weight != 0
    d = np.where(nz, layer.delay, 0)
    return d.max(axis=0).astype(np.int64) if d.size else np.zeros(layer.n_in, np.int64)


def delay_groups(layer: Layer) -> list[np.ndarray]:
    """For each presynaptic input, the sorted distinct delays of its non-zero synapses."""
    nz = layer.weight != 0
    return [np.unique(layer.delay[nz[:, i], i]) for i in range(layer.n_in)]


def queue_worst_entries(layer: Layer) -> int:
    """Worst-case entries of a shared circular delay queue for ``layer``.

    A spike of input ``i`` at step t queues one event per distinct delay d > 0 of its
    synapses, consumed at step t + d; with a spike every step, d such events of (i, d) are
    pending at once.
    """
    return int(sum(int(g[g > 0].sum()) for g in delay_groups(layer)))


@dataclass
class _DelayPlan:
    """How one layer's delays are held: the method name, buffer bits, the delay field width
    per synapse, extra neurons/synapses/axons/host taps/extension cores, and the most
    neurons per core the delays allow (None: the profile's)."""

    how: str
    buf_bits: int = 0
    delay_bits: int = 0
    per_neuron_buf_bits: int = 0
    extra_neurons: int = 0
    extra_synapses: int = 0
    extra_axons: int = 0
    host_taps: int = 0
    extension_cores: int = 0
    core_size: int | None = None


def _native_synapse_plan(layer: Layer, target: Target) -> _DelayPlan:
    """Per-synapse native delays: a ring buffer of (delay + 1) current slots per neuron, and on
    SpiNNaker delay-extension cores beyond the native range (which follows the core size)."""
    max_delay, cb = layer.max_delay, _state_bits(target, "current_bits")
    size = None
    native = target.delay_native_max_steps
    if target.delay_depends_on_core_size:
        size, _how = core_size_for_delay(target, max_delay, layer.n_out)
        native = target.delay_limits_at(size or 1)[0]
    field = native if native is not None else int(target.delay_max_steps or max_delay)
    if field > 65535:  # generic target: size the field for the delays actually used
        field = max_delay
    slots = max_delay + 1 if native is None else min(max_delay, native) + 1
    plan = _DelayPlan(
        "native synapse", layer.n_out * slots * cb, _bits_for(field + 1), slots * cb, core_size=size
    )
    if native is not None and max_delay > native:
        ticks = native + target.layer_latency_steps  # native range in hardware ticks
        stages = math.ceil((max_delay + target.layer_latency_steps) / ticks) - 1
        plan.how = "native+extension"
        plan.buf_bits += layer.n_in * stages * ticks  # one spike bit per source neuron and tick
        if target.neurons_per_core:
            plan.extension_cores = math.ceil(layer.n_in / target.neurons_per_core)
    return plan


def _realized_plan(layer: Layer, target: Target, method: str, first: bool) -> _DelayPlan:
    """Delays on a chip without native ones: relay lines or a shared circular delay queue."""
    if method == "none":
        return _DelayPlan("not realized")
    if method == "queue":
        entry_bits = _bits_for(layer.n_in) + _bits_for(layer.max_delay + 1)
        return _DelayPlan("queue", queue_worst_entries(layer) * entry_bits)
    if method != "relay":
        raise ValueError(f"unknown delay method {method!r}; use one of {DELAY_METHODS}")
    if first:
        # input channels carry counts, not spikes: the host feeds one input per (channel,
        # delay) pair in use, delay 0 included
        return _DelayPlan("relay", host_taps=int(sum(int(g.size) for g in delay_groups(layer))))
    n = int(relay_chain_lengths(layer).sum())
    per_relay = _state_bits(target, "membrane_bits") + (_weight_bits(target) or 0)
    return _DelayPlan("relay", n * per_relay, extra_neurons=n, extra_synapses=n)


def _delay_plan(layer: Layer, target: Target, method: str, first: bool) -> _DelayPlan:
    if layer.max_delay == 0:
        return _DelayPlan("none needed")
    if target.delay_per_synapse:
        return _native_synapse_plan(layer, target)
    if target.delay_per_axon:  # the delay lives in the axon, not in each synapse word
        axons = sum(max(1, g.size) for g in delay_groups(layer))
        return _DelayPlan("native axon", axons * (layer.max_delay + 1), extra_axons=axons - layer.n_in)
    return _realized_plan(layer, target, method, first)


def _layer_estimate(layer: Layer, target: Target, method: str, first: bool) -> tuple[LayerEstimate, dict]:
    """One layer's resources, and its per-neuron synapse counts and memory bits for packing."""
    nz = layer.weight != 0
    n_syn = int(nz.sum())
    fan_in = nz.sum(axis=1)
    plan = _delay_plan(layer, target, method, first)
    wb, db, idx_bits = _weight_bits(target), plan.delay_bits, _bits_for(layer.n_out)
    syn_bytes = None
    if wb is not None:
        dense = layer.n_out * layer.n_in * (wb + db)
        syn_bytes = math.ceil(min(dense, n_syn * (wb + db + idx_bits)) / 8)
        if plan.how == "native axon":  # one delay field per axon
            axon_db = _bits_for(int(target.delay_max_steps or layer.max_delay) + 1)
            syn_bytes += math.ceil((plan.extra_axons + layer.n_in) * axon_db / 8)
    est = LayerEstimate(
        name=layer.name,
        neurons=layer.n_out,
        synapses=n_syn,
        fan_in_max=int(fan_in.max()) if fan_in.size else 0,
        fan_out_max=int(nz.sum(axis=0).max()) if nz.size else 0,
        max_delay=layer.max_delay,
        distinct_delays=int(np.unique(layer.delay[nz]).size) if n_syn else 0,
        delay_method=plan.how,
        weight_bits=wb,
        delay_bits=db,
        synapse_memory_bytes=syn_bytes,
        delay_buffer_bytes=math.ceil(plan.buf_bits / 8),
        extra_neurons=plan.extra_neurons,
        extra_synapses=plan.extra_synapses,
        extra_axons=plan.extra_axons,
        host_input_taps=plan.host_taps,
        extension_cores=plan.extension_cores,
        neurons_per_core=plan.core_size,
    )
    w = wb or 0
    syn_bits = np.minimum(fan_in * (w + db + idx_bits), layer.n_in * (w + db)).astype(np.int64)
    per_neuron = {
        "fan_in": fan_in.astype(np.int64),
        "mem_bits": syn_bits + plan.per_neuron_buf_bits,
        "cap": plan.core_size,
    }
    return est, per_neuron


def _input_keys(layer: Layer, target: Target) -> list[np.ndarray]:
    """Per postsynaptic neuron, the integer keys of the axons it needs on its core."""
    nz = layer.weight != 0
    span = layer.max_delay + 1
    keys = []
    for j in range(layer.n_out):
        pre = np.flatnonzero(nz[j])
        keys.append(pre * span + layer.delay[j, pre] if target.delay_per_axon else pre)
    return keys


@dataclass
class _Population:
    name: str
    fan_in: np.ndarray  # (n,) synapses per neuron
    mem_bits: np.ndarray  # (n,) synapse + buffer bits per neuron
    keys: list[np.ndarray] | None  # per neuron, axon keys (distinct inputs) in [0, n_keys)
    n_keys: int
    cap: int | None = None  # most neurons per core this population allows (delay range)

    @property
    def n(self) -> int:
        return int(self.fan_in.size)


@dataclass
class _Core:
    """The core being filled by :func:`_pack`."""

    segs: list[list[Any]] = field(default_factory=list)
    touched: list[np.ndarray] = field(default_factory=list)
    neurons: int = 0
    synapses: int = 0
    mem: int = 0
    axons: int = 0
    cap: int | None = None


def _fits(target: Target, core: _Core, s_j: int, m_j: int, a_j: int, cap: int | None) -> bool:
    caps = [c for c in (target.neurons_per_core, core.cap, cap) if c is not None]
    mem = None if target.memory_per_core_bytes is None else target.memory_per_core_bytes * 8
    return (
        (not caps or core.neurons + 1 <= min(caps))
        and (target.synapses_per_core is None or core.synapses + s_j <= target.synapses_per_core)
        and (mem is None or core.mem + m_j <= mem)
        and (target.axons_per_core is None or core.axons + a_j <= target.axons_per_core)
    )


def _pack(pops: list[_Population], target: Target) -> list[CoreAssignment]:
    """Greedy packing of the populations' neurons, in order, into cores under the per-core
    limits; a core may hold the end of one population and the start of the next."""
    out: list[CoreAssignment] = []
    key_base = np.cumsum([0] + [p.n_keys for p in pops])
    seen = np.zeros(max(int(key_base[-1]), 1), dtype=bool)
    core = _Core()

    def close(over: bool) -> _Core:
        out.append(
            CoreAssignment(
                core=len(out),
                segments=tuple((p, a, b) for p, a, b in core.segs),
                neurons=core.neurons,
                synapses=int(core.synapses),
                inputs=int(core.axons),
                memory_bytes=math.ceil(core.mem / 8),
                over_limit=over,
            )
        )
        for k in core.touched:
            seen[k] = False
        return _Core()

    for pi, pop in enumerate(pops):
        for j in range(pop.n):
            s_j, m_j = int(pop.fan_in[j]), int(pop.mem_bits[j])
            k_j = None if pop.keys is None else pop.keys[j] + key_base[pi]
            fresh = k_j[~seen[k_j]] if k_j is not None else np.zeros(0, np.int64)
            if core.neurons and not _fits(target, core, s_j, m_j, int(fresh.size), pop.cap):
                core = close(False)
                fresh = k_j if k_j is not None else fresh
            if core.segs and core.segs[-1][0] == pop.name:
                core.segs[-1][2] = j + 1
            else:
                core.segs.append([pop.name, j, j + 1])
            core.neurons, core.synapses, core.mem = core.neurons + 1, core.synapses + s_j, core.mem + m_j
            core.axons += int(fresh.size)
            core.cap = pop.cap if core.cap is None else min(core.cap, pop.cap or core.cap)
            seen[fresh] = True
            core.touched.append(fresh)
            if core.neurons == 1 and not _fits(target, _Core(), s_j, m_j, int(fresh.size), pop.cap):
                core = close(True)  # this neuron alone breaks a core limit
    if core.neurons:
        close(False)
    return out


def _populations(
    network: Network, target: Target, method: str
) -> tuple[list[LayerEstimate], list[_Population]]:
    """Per-layer estimates and the populations to pack (layers, their relays, in order)."""
    layers: list[LayerEstimate] = []
    pops: list[_Population] = []
    relay_bits = _state_bits(target, "membrane_bits") + (_weight_bits(target) or 0)
    for li, layer in enumerate(network.layers):
        est, per = _layer_estimate(layer, target, method, first=(li == 0))
        layers.append(est)
        keys = _input_keys(layer, target)
        pops.append(
            _Population(
                layer.name,
                per["fan_in"],
                per["mem_bits"],
                keys,
                layer.n_in * (layer.max_delay + 1),
                per["cap"],
            )
        )
        relays = [(f"{network.layers[li - 1].name}:relays", est.extra_neurons)] if est.extra_neurons else []
        if layer.n_relay:  # an expanded network's own relays (format v2): one copy synapse each
            relays.append((f"{layer.name}:relays", layer.n_relay))
        for name, n in relays:  # relays live beside their presynaptic layer, one synapse each
            pops.append(_Population(name, np.ones(n, np.int64), np.full(n, relay_bits, np.int64), None, 0))
    return layers, pops


def _assign(
    network: Network, target: Target, layers: list[LayerEstimate], pops: list[_Population]
) -> list[CoreAssignment]:
    """Pack the populations, add delay-extension cores, and count each layer's cores."""
    assignments = _pack(pops, target)
    for est, layer in zip(layers, network.layers, strict=True):
        for _k in range(est.extension_cores):
            seg = ((f"{est.name}:delay-ext", 0, 0),)
            assignments.append(CoreAssignment(len(assignments), seg, 0, 0, layer.n_in, 0))
    for li, est in enumerate(layers):
        own = {est.name, f"{est.name}:delay-ext"}
        if est.extra_neurons and li:
            own.add(f"{network.layers[li - 1].name}:relays")
        n_cores = sum(1 for a in assignments if any(p in own for p, _a, _b in a.segments))
        layers[li] = replace(est, cores=n_cores)
    return assignments


def estimate_resources(network: Network, target: Target, method: str = "relay") -> ResourceEstimate:
    """Resource estimate and core mapping of ``network`` on ``target``.

    ``method`` chooses how a target without native delays realizes them: "relay", "queue",
    or "none" (count the network as if its delays were free: what ``check`` uses). It is
    ignored where delays are native. Memory in bytes. Pure: reads only its arguments.
    """
    if method not in (*DELAY_METHODS, "none"):
        raise ValueError(f"unknown delay method {method!r}; use one of {DELAY_METHODS} or 'none'")
    if _weight_bits(target) is None:  # memory per synapse unknown (analog, unknown width)
        target = replace(target, memory_per_core_bytes=None)
    layers, pops = _populations(network, target, method)
    per_core = (
        target.neurons_per_core,
        target.synapses_per_core,
        target.memory_per_core_bytes,
        target.axons_per_core,
    )
    assignments = _assign(network, target, layers, pops) if any(v is not None for v in per_core) else None
    limits = {
        "cores": target.cores,
        "neurons": target.neurons_max,
        "synapses": target.synapses_max,
        "neurons_per_core": target.neurons_per_core,
        "synapses_per_core": target.synapses_per_core,
        "memory_per_core_bytes": target.memory_per_core_bytes,
        "axons_per_core": target.axons_per_core,
    }
    return ResourceEstimate(
        target=target.name, method=method, layers=layers, assignments=assignments, limits=limits
    )
