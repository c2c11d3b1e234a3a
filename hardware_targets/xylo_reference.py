"""delaykit's "Xylo mode": a contract network run in Xylo's integer arithmetic, delays as delays.

delaykit's own fixed-point arithmetic cannot model Xylo: its ``"shift"`` decay has no linear
step for small positive values and saturates symmetrically (``docs/xylo.md``), its LIF fires at
most once per step and sees the synaptic current before it decays. So a network meant for Xylo
is *read* in Xylo's arithmetic, and this module is the exact reference of that reading: time
stepped, layer by layer, every synaptic delay a plain delay (no relays, no latency).

A network is Xylo-expressible (:func:`xylo_layers`, otherwise one refusal line naming the layer
and field) when every layer has int8 weights and integer biases, ``tau = 2**dash_mem``,
``tau_syn = 2**dash_syn`` with ``dash_syn >= 1``, ``leak = "euler"``, ``v_reset = 0``, and
``v_threshold`` (in the weights' integer units, as the contract has it) a whole number in
[1, 32767] (per neuron); hidden layers are LIF
with ``reset = "subtract"``; the last layer (the readout, <= 8 neurons) is a subtract-reset LIF
or an LI (Xylo threshold 32767). Per step ``t`` and neuron ``j`` of layer ``l`` (``x`` the input
counts capped at 15, ``n`` the previous layer's event counts, capped at 31)::

    i_j <- sat16(i_j + sum_i w_ji * n_i[t - d_ji]);   i_j <- i_j - decay_step(i_j, dash_syn)
    v_j <- sat16(v_j + sat16(sat16(wrap16(-decay_step(v_j, dash_mem)) + i_j) + bias_j))
    n_j[t] = events while v_j >= threshold_j (cap 31 hidden, 1 readout), subtracting each time

which is Xylo's neuron (``xylo_core``) with the whole input added at once (and, as on Xylo, a
layer ``l`` that runs ``l`` bias-only steps before its input arrives: :func:`run_xylo_mode`). Xylo adds it one
source at a time, saturating after each addition; the two agree whenever no partial sum leaves
int16 -- :class:`XyloModeRecord` counts the (neuron, step) pairs where one could (``risky``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_core import _fire, _integrate, decay_step, sat16
from delaykit.hardware_targets.xylo_spec import (
    DASH_RANGE,
    MAX_HIDDEN_SPIKES,
    MAX_INPUT_COUNT,
    MAX_OUTPUT_SPIKES,
    STATE_RANGE,
    WEIGHT_RANGE,
)
from delaykit.network import LI, LIF, Layer, Network

#: Readout threshold that stands for "never spikes" (an LI readout): the largest int16.
LI_THRESHOLD = STATE_RANGE[1]


@dataclass(frozen=True)
class XyloLayer:
    """One contract layer as Xylo integers (all arrays int64)."""

    name: str
    weight: np.ndarray  # [n_out, n_in] int8 values
    delay: np.ndarray  # [n_out, n_in] steps
    threshold: np.ndarray  # [n_out] int16 state LSB
    bias: np.ndarray  # [n_out]
    dash_mem: int
    dash_syn: int
    readout: bool  # the last layer: Xylo readout neurons (cap 1)


class XyloModeRecord(NamedTuple):
    """What :func:`run_xylo_mode` records, in the contract's time (no hop latency)."""

    spikes: list[np.ndarray]  # per hidden layer [T, n_out] event counts
    spikes_out: np.ndarray  # [T, n_classes] readout events (0 or 1)
    v_mem_out: np.ndarray  # [T, n_classes] readout membranes after the reset
    risky: int  # (neuron, step) pairs where a partial sum could saturate (order-dependent)


def _refuse(layer: Layer, field: str, why: str) -> DelaykitError:
    return DelaykitError(f"Xylo cannot express layer {layer.name!r}, field {field}: {why}")


def _dash(layer: Layer, field: str, tau: float | None, lo: int) -> int:
    """``log2(tau)`` when ``tau`` is ``2**dash`` with ``lo <= dash <= 15``; else a refusal."""
    if tau is None:
        raise _refuse(
            layer, field, "None, but every Xylo neuron filters its input through a decaying current"
        )
    dash = round(math.log2(tau))
    if 2.0**dash != tau or not lo <= dash <= DASH_RANGE[1]:
        powers = f"2**{lo} .. 2**{DASH_RANGE[1]}"
        raise _refuse(layer, field, f"{tau} is not a power of two in {powers} (Xylo decays by a bit shift)")
    return dash


def _check_neuron(layer: Layer, last: bool) -> None:
    nrn = layer.neuron
    if not last and not isinstance(nrn, LIF):
        raise _refuse(layer, "neuron", "a hidden layer must be LIF (Xylo's hidden neurons spike)")
    if isinstance(nrn, LIF) and nrn.reset != "subtract":
        raise _refuse(layer, "neuron.reset", f"{nrn.reset!r}; Xylo resets by subtraction ('subtract')")
    if nrn.leak != "euler":
        raise _refuse(layer, "neuron.leak", f"{nrn.leak!r}; Xylo's leak keeps 1 - 2**-dash ('euler')")
    if np.any(np.asarray(nrn.v_reset) != 0):
        raise _refuse(layer, "neuron.v_reset", "non-zero; Xylo leaks toward 0")
    if layer.n_relay:
        raise _refuse(layer, "relay_src", "already relay-expanded; map the network before expansion")


def _threshold(layer: Layer) -> np.ndarray:
    nrn = layer.neuron
    if isinstance(nrn, LI):
        return np.full(layer.n_out, LI_THRESHOLD, np.int64)
    # an integer layer's threshold is in the weights' integer units already (the contract)
    th = np.broadcast_to(np.asarray(nrn.v_threshold, np.float64), (layer.n_out,))
    whole = np.round(th)
    if (
        np.any(np.abs(th - whole) > 1e-9 * np.maximum(1.0, np.abs(th)))
        or whole.min() < 1
        or whole.max() > LI_THRESHOLD
    ):
        raise _refuse(layer, "neuron.v_threshold", "must be a whole number of weight units in [1, 32767]")
    return whole.astype(np.int64)


def xylo_layer(layer: Layer, last: bool) -> XyloLayer:
    """``layer`` as Xylo integers, or a :class:`DelaykitError` naming the field Xylo cannot hold."""
    if not layer.is_integer:
        raise _refuse(
            layer, "weight", "float weights; Xylo holds int8 weights (quantize first, e.g. --bits 8)"
        )
    w = layer.weight.astype(np.int64)
    if w.min() < WEIGHT_RANGE[0] or w.max() > WEIGHT_RANGE[1]:
        raise _refuse(layer, "weight", f"values in [{w.min()}, {w.max()}] outside int8 {list(WEIGHT_RANGE)}")
    b = np.asarray(layer.bias, np.int64)
    if b.size and (b.min() < STATE_RANGE[0] or b.max() > STATE_RANGE[1]):
        raise _refuse(layer, "bias", "outside int16")
    _check_neuron(layer, last)
    return XyloLayer(
        name=layer.name,
        weight=w,
        delay=np.where(w != 0, layer.delay, 0).astype(np.int64),
        threshold=_threshold(layer),
        bias=b,
        dash_mem=_dash(layer, "neuron.tau", layer.neuron.tau, 0),
        dash_syn=_dash(layer, "neuron.tau_syn", layer.neuron.tau_syn, 1),
        readout=last,
    )


def xylo_layers(net: Network) -> list[XyloLayer]:
    """Every layer of ``net`` as Xylo integers; refuses (one line) what Xylo cannot express."""
    if len(net.layers) < 2:
        raise DelaykitError(
            "Xylo needs at least one hidden layer: its readout neurons read hidden neurons only"
        )
    if net.input.taps:
        raise DelaykitError(
            "Xylo cannot express input.taps (host-side taps); map the network before expansion"
        )
    return [xylo_layer(layer, k == len(net.layers) - 1) for k, layer in enumerate(net.layers)]


def _layer_run(xl: XyloLayer, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one layer on input counts [N, T, n_in] of N samples at once: (events [N, T, n_out],
    membranes [N, T, n_out], risky pairs per sample [N])."""
    n_smp, n_steps, n_in = counts.shape
    n = xl.weight.shape[0]
    span = int(xl.delay.max()) + 1 if xl.delay.size else 1
    padded = np.concatenate([np.zeros((n_smp, span - 1, n_in), np.int64), counts], axis=1)
    i, v = np.zeros((n_smp, n), np.int64), np.zeros((n_smp, n), np.int64)
    out, mem = np.zeros((n_smp, n_steps, n), np.int64), np.zeros((n_smp, n_steps, n), np.int64)
    risky = np.zeros(n_smp, np.int64)
    groups = []
    for d in np.unique(xl.delay):
        w = np.where(xl.delay == d, xl.weight, 0)
        groups.append((int(d), w.T.copy(), np.abs(w).T.copy()))
    cap = MAX_OUTPUT_SPIKES if xl.readout else MAX_HIDDEN_SPIKES
    no_events = np.zeros((n_smp, n), np.int64)
    for t in range(n_steps):
        add, bound = np.zeros((n_smp, n), np.int64), np.abs(i)
        for d, w_t, w_abs_t in groups:
            src = padded[:, t + span - 1 - d]
            add += src @ w_t
            bound = bound + src @ w_abs_t
        risky += np.count_nonzero(bound > STATE_RANGE[1], axis=1)
        i = sat16(i + add)
        i = i - decay_step(i, xl.dash_syn)
        vh = _integrate(i, v, np.int64(xl.dash_mem), xl.bias)
        out[:, t], v = _fire(vh, xl.threshold, no_events, cap)
        mem[:, t] = v
    return out, mem, risky


def run_xylo_mode(net: Network, input_counts: np.ndarray) -> XyloModeRecord:
    """Run ``net`` in Xylo arithmetic on ``input_counts`` [T, n_channels] (see module doc).

    On Xylo every neuron starts at step 0 but layer ``l`` hears its input ``l`` steps late, so
    layer ``l`` first runs ``l`` warm-up steps on its bias alone; so does this reference (with
    zero biases beyond layer 0 the warm-up is silent and this is the plain delay network).
    The records drop the warm-up: row ``t`` is the contract's step ``t``.
    """
    x = np.asarray(input_counts)
    if x.ndim != 2:
        raise DelaykitError(f"input_counts: expected counts >= 0 of shape [T, {net.layers[0].n_in}]")
    return run_xylo_mode_batch(net, x[None])[0]


def run_xylo_mode_batch(net: Network, input_counts: np.ndarray) -> list[XyloModeRecord]:
    """:func:`run_xylo_mode` on N samples of one length at once, ``input_counts`` [N, T,
    n_channels] (numpy over the samples; each sample's record is the one it gets alone)."""
    layers = xylo_layers(net)
    x = np.asarray(input_counts, np.int64)
    if x.ndim != 3 or x.shape[2] != net.layers[0].n_in or (x.size and x.min() < 0):
        raise DelaykitError(f"input_counts: expected counts >= 0 of shape [N, T, {net.layers[0].n_in}]")
    counts, spikes, risky = np.minimum(x, MAX_INPUT_COUNT), [], np.zeros(x.shape[0], np.int64)
    mem = counts
    for k, xl in enumerate(layers):
        if k:  # one hop: the previous layer's step-u events arrive at step u + 1
            counts = np.concatenate(
                [np.zeros((counts.shape[0], 1, counts.shape[2]), np.int64), counts], axis=1
            )
        counts, mem, r = _layer_run(xl, counts)
        risky += r
        if not xl.readout:
            spikes.append(counts[:, k:])
    last = len(layers) - 1
    return [
        XyloModeRecord(
            spikes=[s[b] for s in spikes],
            spikes_out=counts[b, last:],
            v_mem_out=mem[b, last:],
            risky=int(risky[b]),
        )
        for b in range(x.shape[0])
    ]
