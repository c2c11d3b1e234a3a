"""Resource estimate and neuron-to-core mapping of a deployed network on a target (numpy only).

What it counts (memory in bytes, delays in steps):

* **synapse memory** per layer: the cheaper of a dense matrix (``n_out x n_in`` entries of
  weight + per-synapse delay bits) and a sparse list (non-zero synapses x (weight + delay +
  target-index bits)). Weight bits: the target's mantissa width, 16 for bf16, 32 for float;
  analog weights have no memory figure.
* **delay-buffer memory** by how the target realizes delays:
  ``native`` per-synapse delays: a ring buffer of ``max_delay + 1`` current slots per
  postsynaptic neuron (Loihi's dendritic accumulators, sPyNNaker's ring buffers; SpiNNaker
  delays beyond its native range add delay-extension cores with 8 x 16 tick bit fields per
  presynaptic neuron). ``axon``: ``max_delay + 1`` spike bits per axon, one axon per
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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from delaykit.hardware_targets.profile import Target
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

    def format_table(self, max_cores: int = 40) -> str:
        """Per-layer table, totals and the core mapping (first ``max_cores`` rows)."""
        lines = [f"resource estimate on {self.target} (delays without native support: {self.method})"]
        lines.append(
            f"{'layer':<12} {'neurons':>8} {'+extra':>7} {'synapses':>10} {'fan-in':>7} "
            f"{'fan-out':>7} {'delay':>5} {'method':<17} {'syn mem':>11} {'delay mem':>11} "
            f"{'cores':>6}"
        )
        for x in self.layers:
            lines.append(
                f"{x.name:<12} {x.neurons:>8,} {x.extra_neurons:>7,} {x.synapses:>10,} "
                f"{x.fan_in_max:>7} {x.fan_out_max:>7} {x.max_delay:>5} {x.delay_method:<17} "
                f"{_fmt_bytes(x.synapse_memory_bytes):>11} {_fmt_bytes(x.delay_buffer_bytes):>11} "
                f"{'-' if x.cores is None else x.cores:>6}"
            )
        lines.append(
            f"{'total':<12} {self.neurons:>8,} {self.extra_neurons:>7,} {self.synapses:>10,} "
            f"{'':>7} {'':>7} {'':>5} {'':<17} {_fmt_bytes(self.synapse_memory_bytes):>11} "
            f"{_fmt_bytes(self.delay_buffer_bytes):>11} {'-' if self.cores is None else self.cores:>6}"
        )
        taps = sum(x.host_input_taps for x in self.layers)
        if taps:
            lines.append(f"host-side input taps (one input per (channel, delay) pair): {taps:,}")
        if self.assignments is not None:
            lines.append(
                f"mapping: {self.cores:,} cores"
                + (f" (chip has {self.limits.get('cores'):,})" if self.limits.get("cores") else "")
                + (
                    f", {self.over_limit_cores} hold a neuron that alone exceeds a core limit"
                    if self.over_limit_cores
                    else ""
                )
            )
            lines.append(f"{'core':>5} {'neurons':>8} {'synapses':>9} {'inputs':>7} {'memory':>10}  contents")
            for a in self.assignments[:max_cores]:
                flag = "  OVER A CORE LIMIT" if a.over_limit else ""
                lines.append(
                    f"{a.core:>5} {a.neurons:>8,} {a.synapses:>9,} {a.inputs:>7,} "
                    f"{_fmt_bytes(a.memory_bytes):>10}  {a.label}{flag}"
                )
            if len(self.assignments) > max_cores:
                lines.append(f"  ... {len(self.assignments) - max_cores} more cores (see --json)")
        else:
            lines.append("mapping: the target profile has no per-core limits, so no core mapping")
        return "\n".join(lines)


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.2f} MiB"
    return f"{n / 1024**3:.2f} GiB"


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


def _delay_field_bits(target: Target, layer_max: int) -> int:
    hw = (
        target.delay_native_max_steps if target.delay_native_max_steps is not None else target.delay_max_steps
    )
    if hw is None:
        return 0
    if hw > 65535:  # generic target: size the field for the delays actually used
        hw = layer_max
    return _bits_for(hw + 1)


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


def _layer_estimate(layer: Layer, target: Target, method: str, first: bool) -> tuple[LayerEstimate, dict]:
    nz = layer.weight != 0
    n_syn = int(nz.sum())
    fan_in = nz.sum(axis=1)
    fan_out = nz.sum(axis=0)
    max_delay = layer.max_delay
    groups = delay_groups(layer)
    distinct = int(np.unique(layer.delay[nz]).size) if n_syn else 0
    wb = _weight_bits(target)
    cb = _state_bits(target, "current_bits")
    mb = _state_bits(target, "membrane_bits")
    idx_bits = _bits_for(layer.n_out)
    extra_neurons = extra_syn = extra_axons = host_taps = ext_cores = 0
    db = 0
    if max_delay == 0:
        how = "none needed"
        buf_bits = 0
    elif target.delay_native and target.delay_granularity == "synapse":
        db = _delay_field_bits(target, max_delay)
        nat = target.delay_native_max_steps
        slots = max_delay + 1 if nat is None else min(max_delay, nat) + 1
        buf_bits = layer.n_out * slots * cb
        how = "native synapse"
        if nat is not None and max_delay > nat:
            how = "native+extension"
            buf_bits += layer.n_in * ((target.delay_max_steps or max_delay) + 1 - (nat + 1))
            if target.neurons_per_core:
                ext_cores = math.ceil(layer.n_in / target.neurons_per_core)
    elif target.delay_native and target.delay_granularity == "axon":
        axons = sum(max(1, g.size) for g in groups)
        extra_axons = axons - layer.n_in
        buf_bits = axons * (max_delay + 1)
        how = "native axon"
    elif method == "none":
        how = "not realized"
        buf_bits = 0
    else:
        how = method
        if method == "relay":
            chains = relay_chain_lengths(layer)
            if first:
                # input channels carry counts, not spikes: the host feeds one input per
                # (channel, delay) pair in use, delay 0 included
                host_taps = int(sum(int(g.size) for g in groups))
                buf_bits = 0
            else:
                extra_neurons = int(chains.sum())
                extra_syn = extra_neurons
                buf_bits = extra_neurons * (mb + (wb or 0))
        elif method == "queue":
            entry_bits = _bits_for(layer.n_in) + _bits_for(max_delay + 1)
            buf_bits = queue_worst_entries(layer) * entry_bits
        else:
            raise ValueError(f"unknown delay method {method!r}; use one of {DELAY_METHODS}")
    if wb is None:
        syn_bytes = None
    else:
        dense = layer.n_out * layer.n_in * (wb + db)
        sparse = n_syn * (wb + db + idx_bits)
        syn_bytes = math.ceil(min(dense, sparse) / 8)
        if how == "native axon":
            syn_bytes += math.ceil((extra_axons + layer.n_in) * db / 8)
    est = LayerEstimate(
        name=layer.name,
        neurons=layer.n_out,
        synapses=n_syn,
        fan_in_max=int(fan_in.max()) if fan_in.size else 0,
        fan_out_max=int(fan_out.max()) if fan_out.size else 0,
        max_delay=max_delay,
        distinct_delays=distinct,
        delay_method=how,
        weight_bits=wb,
        delay_bits=db,
        synapse_memory_bytes=syn_bytes,
        delay_buffer_bytes=math.ceil(buf_bits / 8),
        extra_neurons=extra_neurons,
        extra_synapses=extra_syn,
        extra_axons=extra_axons,
        host_input_taps=host_taps,
        extension_cores=ext_cores,
    )
    per_neuron = {
        "fan_in": fan_in.astype(np.int64),
        "syn_bits": np.minimum(fan_in * ((wb or 0) + db + idx_bits), layer.n_in * ((wb or 0) + db)).astype(
            np.int64
        ),
        "buf_bits": (
            np.full(layer.n_out, 0, np.int64)
            if how not in ("native synapse", "native+extension")
            else np.full(
                layer.n_out, (min(max_delay, target.delay_native_max_steps or max_delay) + 1) * cb, np.int64
            )
        ),
    }
    return est, per_neuron


def _input_keys(layer: Layer, target: Target) -> list[np.ndarray]:
    """Per postsynaptic neuron, the integer keys of the axons it needs on its core."""
    nz = layer.weight != 0
    per_axon = target.delay_native and target.delay_granularity == "axon"
    span = layer.max_delay + 1
    keys = []
    for j in range(layer.n_out):
        pre = np.flatnonzero(nz[j])
        keys.append(pre * span + layer.delay[j, pre] if per_axon else pre)
    return keys


@dataclass
class _Population:
    name: str
    fan_in: np.ndarray  # (n,) synapses per neuron
    mem_bits: np.ndarray  # (n,) synapse + buffer bits per neuron
    keys: list[np.ndarray] | None  # per neuron, axon keys (distinct inputs) in [0, n_keys)
    n_keys: int

    @property
    def n(self) -> int:
        return int(self.fan_in.size)


def _pack(pops: list[_Population], target: Target) -> list[CoreAssignment]:
    """Greedy packing of the populations' neurons, in order, into cores under the per-core
    limits; a core may hold the end of one population and the start of the next."""
    cap_n = target.neurons_per_core
    cap_s = target.synapses_per_core
    cap_m = None if target.memory_per_core_bytes is None else target.memory_per_core_bytes * 8
    cap_a = target.axons_per_core
    out: list[CoreAssignment] = []
    key_base = np.cumsum([0] + [p.n_keys for p in pops])
    seen = np.zeros(max(int(key_base[-1]), 1), dtype=bool)
    touched: list[np.ndarray] = []
    segs: list[list[Any]] = []
    cnt = syn = mem = axons = 0

    def fits(c: int, s_: int, m: int, a: int) -> bool:
        return (
            (cap_n is None or c <= cap_n)
            and (cap_s is None or s_ <= cap_s)
            and (cap_m is None or m <= cap_m)
            and (cap_a is None or a <= cap_a)
        )

    def close(over: bool) -> None:
        nonlocal cnt, syn, mem, axons, touched, segs
        out.append(
            CoreAssignment(
                core=len(out),
                segments=tuple((p, a, b) for p, a, b in segs),
                neurons=cnt,
                synapses=int(syn),
                inputs=int(axons),
                memory_bytes=math.ceil(mem / 8),
                over_limit=over,
            )
        )
        for k in touched:
            seen[k] = False
        touched, segs = [], []
        cnt = syn = mem = axons = 0

    for pi, pop in enumerate(pops):
        for j in range(pop.n):
            s_j = int(pop.fan_in[j])
            m_j = int(pop.mem_bits[j])
            k_j = None if pop.keys is None else pop.keys[j] + key_base[pi]
            new_axons = int((~seen[k_j]).sum()) if k_j is not None else 0
            if cnt and not fits(cnt + 1, syn + s_j, mem + m_j, axons + new_axons):
                close(False)
                new_axons = int(k_j.size) if k_j is not None else 0
            if segs and segs[-1][0] == pop.name:
                segs[-1][2] = j + 1
            else:
                segs.append([pop.name, j, j + 1])
            cnt += 1
            syn += s_j
            mem += m_j
            axons += new_axons
            if k_j is not None and k_j.size:
                fresh = k_j[~seen[k_j]]
                seen[fresh] = True
                touched.append(fresh)
            if cnt == 1 and not fits(1, s_j, m_j, new_axons):
                close(True)  # this neuron alone breaks a core limit
    if cnt:
        close(False)
    return out


def estimate_resources(network: Network, target: Target, method: str = "relay") -> ResourceEstimate:
    """Resource estimate and core mapping of ``network`` on ``target``.

    ``method`` chooses how a target without native delays realizes them: "relay", "queue",
    or "none" (count the network as if its delays were free: what ``check`` uses). It is
    ignored where delays are native. Pure: reads only its arguments.
    """
    if method not in (*DELAY_METHODS, "none"):
        raise ValueError(f"unknown delay method {method!r}; use one of {DELAY_METHODS} or 'none'")
    has_core_limits = any(
        v is not None
        for v in (
            target.neurons_per_core,
            target.synapses_per_core,
            target.memory_per_core_bytes,
            target.axons_per_core,
        )
    )
    layers: list[LayerEstimate] = []
    pops: list[_Population] = []
    ext_cores: list[tuple[str, int, int]] = []
    for li, layer in enumerate(network.layers):
        est, per = _layer_estimate(layer, target, method, first=(li == 0))
        layers.append(est)
        pops.append(
            _Population(
                layer.name,
                per["fan_in"],
                per["syn_bits"] + per["buf_bits"],
                _input_keys(layer, target),
                layer.n_in * (layer.max_delay + 1),
            )
        )
        if est.extra_neurons:  # relays of this layer's inputs live beside the presynaptic layer
            mb = _state_bits(target, "membrane_bits") + (_weight_bits(target) or 0)
            n = est.extra_neurons
            pops.append(
                _Population(
                    f"{network.layers[li - 1].name}:relays",
                    np.ones(n, np.int64),
                    np.full(n, mb, np.int64),
                    None,
                    0,
                )
            )
        if layer.n_relay:  # an expanded network's own relays (format v2): one copy synapse each
            mb = _state_bits(target, "membrane_bits") + (_weight_bits(target) or 0)
            pops.append(
                _Population(
                    f"{layer.name}:relays",
                    np.ones(layer.n_relay, np.int64),
                    np.full(layer.n_relay, mb, np.int64),
                    None,
                    0,
                )
            )
        ext_cores.extend((f"{layer.name}:delay-ext", layer.n_in, k) for k in range(est.extension_cores))
    assignments: list[CoreAssignment] | None = None
    if has_core_limits:
        assignments = _pack(pops, target)
        for name, n_in, _k in ext_cores:
            assignments.append(
                CoreAssignment(
                    core=len(assignments),
                    segments=((name, 0, 0),),
                    neurons=0,
                    synapses=0,
                    inputs=n_in,
                    memory_bytes=0,
                )
            )
        for li, est in enumerate(layers):
            own = {
                est.name,
                f"{network.layers[li - 1].name}:relays" if est.extra_neurons and li else None,
                f"{est.name}:delay-ext",
            }
            n_cores = sum(1 for a in assignments if any(p in own for p, _a, _b in a.segments))
            layers[li] = LayerEstimate(**{**asdict(est), "cores": n_cores})
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
