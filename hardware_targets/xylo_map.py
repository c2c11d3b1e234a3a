"""A delaykit network on SynSense Xylo: layers and delays inside Xylo's one recurrent core.

:func:`map_to_xylo` turns a Xylo-expressible network (:mod:`~delaykit.hardware_targets.
xylo_reference` says which; anything else is refused in one line naming the layer and field)
into a :class:`~delaykit.hardware_targets.xylo_spec.XyloSpec`:

* layer 0 reads the input channels through ``weights_in`` (<= 16 channels);
* every hidden layer is a block of hidden neurons, layers connected through ``weights_rec``;
  a hidden-to-hidden hop takes one step, so layer ``l`` runs ``l`` steps after the contract's
  time and the readout (the last layer, <= 8 neurons, ``weights_out``) ``L - 1`` steps after
  (:attr:`XyloPlan.latency`);
* every delay is a **relay chain** in the recurrent core (``docs/xylo.md``'s exact relay:
  ``dash_mem = 0``, ``dash_syn = 1``, threshold 1, weight 2 from its source, self weight -1; it
  repeats its source's event counts one step later). One chain per presynaptic neuron (or input
  channel), as long as its largest delay; the synapse with delay ``d`` reads tap ``d`` of the
  chain (tap 0 is the neuron itself). As every hop costs the same one step, a layer's base
  latency is the same for its direct and relayed synapses and the taps are the contract's
  delays unchanged.

The result runs in ``xylo_core`` / xylosim exactly as :func:`~delaykit.hardware_targets.
xylo_reference.run_xylo_mode` runs the network (hidden events of layer ``l`` and the readout
shifted by the latency), as long as no current's partial sum saturates (``risky == 0``).
:func:`plan_xylo` counts the neurons and connections first and names every limit exceeded.
All weight shifts are 0 (weights are the contract's int8 values; a relay's threshold is 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_reference import XyloLayer, xylo_layers
from delaykit.hardware_targets.xylo_spec import (
    MAX_FAN_OUT,
    MAX_HIDDEN,
    MAX_INPUTS,
    MAX_OUTPUTS,
    MAX_REC_SYNAPSES,
    XyloSpec,
)
from delaykit.network import Layer, Network

RELAY_IN, RELAY_SELF, RELAY_THRESHOLD = 2, -1, 1  #: the exact relay (docs/xylo.md), shift 0


@dataclass
class _Core:
    """Hidden neurons and connections as lists, before they become dense matrices."""

    dash_mem: list[int] = field(default_factory=list)
    dash_syn: list[int] = field(default_factory=list)
    threshold: list[int] = field(default_factory=list)
    bias: list[int] = field(default_factory=list)
    w_in: list[tuple[int, int, int]] = field(default_factory=list)  # (channel, post, w)
    w_rec: list[tuple[int, int, int]] = field(default_factory=list)  # (pre, post, w)
    w_out: list[tuple[int, int, int]] = field(default_factory=list)  # (pre, readout, w)
    layer_index: list[np.ndarray] = field(default_factory=list)  # hidden index of each layer's neurons
    n_relays: int = 0

    def add(
        self, n: int, dash_mem: int, dash_syn: int, threshold: np.ndarray | int, bias: np.ndarray | int
    ) -> np.ndarray:
        start = len(self.threshold)
        self.dash_mem += [dash_mem] * n
        self.dash_syn += [dash_syn] * n
        self.threshold += [int(t) for t in np.broadcast_to(threshold, (n,))]
        self.bias += [int(b) for b in np.broadcast_to(bias, (n,))]
        return np.arange(start, start + n)


def _chains(core: _Core, xl: XyloLayer, sources: np.ndarray | None) -> dict[tuple[int, int], int]:
    """Relay chains for the inputs of ``xl``; (source, tap) -> hidden index (tap 0 is the
    source itself, which is an input channel when ``sources`` is None)."""
    taps: dict[tuple[int, int], int] = {}
    length = np.where(xl.weight != 0, xl.delay, 0).max(axis=0)
    for i, n in enumerate(length):
        if sources is not None:
            taps[(i, 0)] = int(sources[i])
        if n == 0:
            continue
        relays = core.add(int(n), 0, 1, RELAY_THRESHOLD, 0)
        core.n_relays += int(n)
        prev = None if sources is None else int(sources[i])
        for k, r in enumerate(relays, start=1):
            r = int(r)
            if prev is None:
                core.w_in.append((i, r, RELAY_IN))
            else:
                core.w_rec.append((prev, r, RELAY_IN))
            core.w_rec.append((r, r, RELAY_SELF))
            taps[(i, k)] = prev = r
    return taps


def _connect(
    core: _Core, xl: XyloLayer, taps: dict[tuple[int, int], int], post: np.ndarray, first: bool
) -> None:
    """The synapses of ``xl`` from their taps to ``post`` (hidden or readout indices)."""
    for j, i in zip(*np.nonzero(xl.weight)):
        w, d = int(xl.weight[j, i]), int(xl.delay[j, i])
        if first and d == 0:
            core.w_in.append((int(i), int(post[j]), w))
        elif xl.readout:
            core.w_out.append((taps[(int(i), d)], int(post[j]), w))
        else:
            core.w_rec.append((taps[(int(i), d)], int(post[j]), w))


def _build_core(layers: list[XyloLayer]) -> _Core:
    core, sources = _Core(), None
    for k, xl in enumerate(layers):
        taps = _chains(core, xl, sources)
        if xl.readout:
            post = np.arange(xl.weight.shape[0])
        else:
            post = core.add(xl.weight.shape[0], xl.dash_mem, xl.dash_syn, xl.threshold, xl.bias)
            core.layer_index.append(post)
        _connect(core, xl, taps, post, k == 0)
        sources = post
    return core


@dataclass(frozen=True)
class XyloPlan:
    """What a network needs on Xylo, against its limits."""

    n_in: int
    n_main: int  # hidden neurons of the network's own hidden layers
    n_relays: int  # relay neurons for the delays
    n_out: int
    rec_connections: int
    max_fan_out: int
    latency: int  # steps the readout runs behind the contract's time (hidden layers - 1 + 1 hop)
    problems: tuple[str, ...]

    @property
    def n_hidden(self) -> int:
        return self.n_main + self.n_relays

    def lines(self) -> list[str]:
        fits = "fits" if not self.problems else "does NOT fit"
        return [
            f"Xylo plan: {self.n_in} inputs (max {MAX_INPUTS}), {self.n_hidden} hidden neurons = "
            f"{self.n_main} network + {self.n_relays} delay relays (max {MAX_HIDDEN}), {self.n_out} readout "
            f"(max {MAX_OUTPUTS}); {self.rec_connections} recurrent connections (max {MAX_REC_SYNAPSES}), "
            f"largest fan-out {self.max_fan_out} (max {MAX_FAN_OUT}); readout latency {self.latency} steps: {fits}",
            *(f"  - {p}" for p in self.problems),
        ]


def _plan(layers: list[XyloLayer], core: _Core) -> XyloPlan:
    pre = np.array([p for p, _, _ in core.w_rec], np.int64)
    fan = np.bincount(pre, minlength=len(core.threshold)) if pre.size else np.zeros(1, np.int64)
    n_in, n_out = layers[0].weight.shape[1], layers[-1].weight.shape[0]
    n_hid, n_rec = len(core.threshold), len(core.w_rec)
    problems = []
    if n_in > MAX_INPUTS:
        problems.append(f"{n_in} input channels: {n_in - MAX_INPUTS} more than Xylo's {MAX_INPUTS}")
    if n_out > MAX_OUTPUTS:
        problems.append(f"{n_out} readout neurons: {n_out - MAX_OUTPUTS} more than Xylo's {MAX_OUTPUTS}")
    if n_hid > MAX_HIDDEN:
        problems.append(f"{n_hid} hidden neurons: {n_hid - MAX_HIDDEN} more than Xylo's {MAX_HIDDEN}")
    if n_rec > MAX_REC_SYNAPSES:
        problems.append(f"{n_rec} recurrent connections: more than Xylo's {MAX_REC_SYNAPSES}")
    over = int(np.count_nonzero(fan > MAX_FAN_OUT))
    if over:
        problems.append(
            f"{over} hidden neuron(s) with more than {MAX_FAN_OUT} recurrent targets "
            f"(largest {int(fan.max())}); aliases could spread them (not done by this mapper)"
        )
    return XyloPlan(
        n_in=n_in,
        n_main=n_hid - core.n_relays,
        n_relays=core.n_relays,
        n_out=n_out,
        rec_connections=n_rec,
        max_fan_out=int(fan.max()),
        latency=len(layers) - 1,
        problems=tuple(problems),
    )


def _shape_only(layer: Layer, last: bool) -> XyloLayer:
    """The connectivity of ``layer`` (non-zero synapses and their delays), neurons ignored."""
    nz = layer.weight != 0
    one = np.ones(layer.n_out, np.int64)
    return XyloLayer(layer.name, nz.astype(np.int64), np.where(nz, layer.delay, 0), one, 0 * one, 0, 1, last)


def plan_xylo(net: Network, *, neurons: bool = True) -> XyloPlan:
    """Neurons, relays and connections ``net`` needs on Xylo. With ``neurons=True`` what Xylo
    cannot express is refused first; with ``False`` only the connectivity and delays count
    (the relay budget of a network that still has to be trained for Xylo's neuron)."""
    if neurons:
        layers = xylo_layers(net)
    else:
        layers = [_shape_only(layer, k == len(net.layers) - 1) for k, layer in enumerate(net.layers)]
    return _plan(layers, _build_core(layers))


@dataclass(frozen=True)
class XyloMapping:
    """A mapped network: the spec, its plan, and where each hidden layer's neurons are."""

    spec: XyloSpec
    plan: XyloPlan
    layer_index: tuple[np.ndarray, ...]  # hidden indices of each hidden layer's neurons


def _dense(entries: list[tuple[int, int, int]], shape: tuple[int, ...]) -> np.ndarray:
    m = np.zeros(shape, np.int64)
    for a, b, w in entries:
        m[a, b, ...] = w
    return m


def map_to_xylo(net: Network) -> XyloMapping:
    """``net`` as a :class:`XyloSpec` (see the module doc); refuses in one line what does not fit."""
    layers = xylo_layers(net)
    core = _build_core(layers)
    plan = _plan(layers, core)
    if plan.problems:
        raise DelaykitError(f"network does not fit Xylo: {'; '.join(plan.problems)}")
    n_in, n_hid, n_out, last = plan.n_in, plan.n_hidden, plan.n_out, layers[-1]
    spec = XyloSpec(
        weights_in=_dense(core.w_in, (n_in, n_hid, 1)),
        weights_rec=_dense(core.w_rec, (n_hid, n_hid, 1)),
        weights_out=_dense(core.w_out, (n_hid, n_out)),
        dash_mem=np.array(core.dash_mem),
        dash_syn=np.array(core.dash_syn)[:, None],
        dash_mem_out=np.full(n_out, last.dash_mem),
        dash_syn_out=np.full(n_out, last.dash_syn),
        threshold=np.array(core.threshold),
        threshold_out=last.threshold,
        bias=np.array(core.bias),
        bias_out=last.bias,
        dt=net.dt,
    )
    return XyloMapping(spec=spec, plan=plan, layer_index=tuple(core.layer_index))
