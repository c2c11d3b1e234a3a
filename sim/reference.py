"""The oracle: a plain, time-stepped numpy simulation of the contract (readable over fast).

One layer at a time: the whole synaptic input ``syn[t, j]`` is computed first (one matrix
product per distinct delay), then the neurons are stepped through time. The equations,
number formats, overflow and latency rules are those of :mod:`delaykit.arithmetic`.

Relay neurons and input taps (format v2, :mod:`delaykit.network`) are run literally: the
host appends the tap columns to the frames (:func:`delaykit.network.apply_input_taps`), and
after a layer with relays the relay columns are stepped one copy per step
(``y[t, n_out + k] = y[t - 1, relay_src[k]]``) for as long as the next layer reads them. A
copy is exact in every arithmetic (no membrane, no overflow). Copies happen in the layer's own
step count; ``layer_latency_steps`` applies to synapses only, as for delays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from delaykit.arithmetic import RESET_CODES, Arithmetic, LayerConstants, layer_constants, reduce_int
from delaykit.network import Layer, Network, apply_input_taps

from .readout import result_of
from .result import SimResult, check_frames


def synaptic_input(
    x: np.ndarray, weight: np.ndarray, delay: np.ndarray, shift: int, out_steps: int
) -> tuple[np.ndarray, int]:
    """``syn[t, j] = sum_i weight[j, i] * x[t - delay[j, i] - shift, i]`` for t < out_steps.

    x: (L_in, n_in); weight/delay: (n_out, n_in); shift: extra steps for every synapse.
    Returns syn (out_steps, n_out) in x's dtype (exact for int64) and the number of synaptic
    events: pairs of a nonzero x[t, i] and a nonzero-weight synapse arriving before out_steps.
    """
    n_out = weight.shape[0]
    syn = np.zeros((out_steps, n_out), dtype=np.result_type(x.dtype, weight.dtype))
    events = 0
    active = x != 0
    for d in np.unique(delay[weight != 0]):
        w_d = np.where(delay == d, weight, 0)  # only the synapses with this delay
        start = int(d) + shift
        n = min(x.shape[0], out_steps - start)  # input steps whose arrival is in the run
        if n <= 0:
            continue
        syn[start : start + n] += x[:n] @ w_d.T
        events += int(active[:n].sum(axis=0) @ (w_d != 0).sum(axis=0))
    return syn, events


def _step_neurons(
    c: LayerConstants,
    shape: tuple[int, ...],
    dtype: type,
    update: Callable[[np.ndarray, int], np.ndarray],
    fires: Callable[[np.ndarray], np.ndarray],
    after_spike: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The loop both number formats share: ``h = update(v, t)``; LIF: ``s = fires(h)``,
    ``v = s ? after_spike(h) : h``; LI: ``v = h``. Returns (spikes uint8, membrane trace)."""
    v = c.reset.copy()
    spikes = np.zeros(shape, dtype=np.uint8)
    trace: np.ndarray = np.zeros(shape, dtype=dtype)
    for t in range(shape[0]):
        h = update(v, t)
        if c.spiking:
            s = fires(h)
            spikes[t] = s
            v = np.where(s, after_spike(h), h)
        else:
            v = h
        trace[t] = v
    return spikes, trace


def _float_decay(x: np.ndarray, target: np.ndarray | float, leak: float, divide: bool) -> np.ndarray:
    """The float leak term ``(target - x) / leak`` (forward Euler, leak = tau) or
    ``(target - x) * leak`` (exact, leak = 1 - exp(-1/tau)), in x's float type."""
    return (target - x) / leak if divide else (target - x) * leak


def _run_float(syn: np.ndarray, c: LayerConstants, ftype: type) -> tuple[np.ndarray, np.ndarray]:
    mem_leak, syn_leak = ftype(c.mem_leak), ftype(c.syn_leak)
    if not c.has_current:
        current = (syn + c.bias).astype(ftype)  # I = F(syn + F(b))

        def update(v: np.ndarray, t: int) -> np.ndarray:
            return v + _float_decay(v, c.reset, mem_leak, c.mem_leak_div) + current[t]

    else:  # c = c + F(syn); h = ((v + leak) + c) + F(b); then c decays
        inp: np.ndarray = syn.astype(ftype)
        bias: np.ndarray = c.bias.astype(ftype)
        cur: np.ndarray = np.zeros(syn.shape[1], dtype=ftype)

        def update(v: np.ndarray, t: int) -> np.ndarray:
            nonlocal cur
            cur = cur + inp[t]
            h = v + _float_decay(v, c.reset, mem_leak, c.mem_leak_div) + cur + bias
            cur = cur + _float_decay(cur, ftype(0), syn_leak, c.syn_leak_div)
            return h

    after = _after_spike(c, lambda h: h - c.threshold)
    return _step_neurons(c, syn.shape, ftype, update, lambda h: h >= c.threshold, after)


def _after_spike(
    c: LayerConstants, subtract: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """The membrane after a spike: the reset value, ``subtract(h)`` or ``h`` (reset modes)."""
    if c.reset_mode == RESET_CODES["value"]:
        return lambda h: c.reset
    if c.reset_mode == RESET_CODES["subtract"]:
        return subtract
    return lambda h: h


def _run_fixed(syn: np.ndarray, c: LayerConstants, arith: Arithmetic) -> tuple[np.ndarray, np.ndarray]:
    bits, mode = arith.current_bits, arith.current_overflow
    u_in = syn << arith.weight_shift
    cur = np.zeros(syn.shape[1], dtype=np.int64)

    def update(v: np.ndarray, t: int) -> np.ndarray:
        nonlocal cur
        if c.has_current:  # c = reduce(cdecay(c) + (syn << ws)); never reset
            cur = reduce_int(arith.decay_by_param(cur, c.syn_decay_param) + u_in[t], bits, mode)
        else:
            cur = reduce_int(u_in[t], bits, mode)
        h = c.reset + arith.decay_by_param(v - c.reset, c.decay_param) + cur + c.bias
        return reduce_int(h, arith.membrane_bits, arith.membrane_overflow)

    after = _after_spike(
        c, lambda h: reduce_int(h - c.threshold, arith.membrane_bits, arith.membrane_overflow)
    )
    if arith.threshold_compare == "gt":
        return _step_neurons(c, syn.shape, np.int64, update, lambda h: h > c.threshold, after)
    return _step_neurons(c, syn.shape, np.int64, update, lambda h: h >= c.threshold, after)


def run_layer(
    layer: Layer, x: np.ndarray, arith: Arithmetic, in_steps: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """One layer on input ``x`` (rows = steps, n_in): (spikes uint8, membrane in the arithmetic's
    own units -- integers in fixed point, F values in float modes --, events).

    in_steps: the input sequence length ``L_in`` that sets the run length (default: the rows of
    ``x``). With relays or input taps ``x`` has more rows: their columns go on past ``L_in``.
    """
    c = layer_constants(layer, arith)
    lat = arith.layer_latency_steps
    out_steps = (x.shape[0] if in_steps is None else int(in_steps)) + layer.extend_steps + lat
    syn, events = synaptic_input(x, c.weight, layer.delay, lat, out_steps)
    spikes, trace = run_neurons(syn, c, arith)
    return spikes, trace, events


def run_neurons(syn: np.ndarray, c: LayerConstants, arith: Arithmetic) -> tuple[np.ndarray, np.ndarray]:
    """Step a layer's neurons over its synaptic input ``syn`` (steps, n_out), however it was
    summed: (spikes uint8, membrane in the arithmetic's own units)."""
    if arith.is_fixed:
        return _run_fixed(syn, c, arith)
    return _run_float(syn, c, arith.float_dtype)


def relay_outputs(layer: Layer, s: np.ndarray, steps: int) -> np.ndarray:
    """The layer's output ``y = [main | relays]`` for ``steps`` steps (>= rows of ``s``): main
    spikes ``s`` (zero after their run), each relay its source's value one step earlier."""
    n = layer.n_out
    y = np.zeros((steps, layer.n_outputs), dtype=s.dtype)
    y[: s.shape[0], :n] = s
    src = layer.relay_src
    for t in range(1, steps):
        y[t, n:] = y[t - 1, src]
    return y


def simulate_reference(net: Network, frames: np.ndarray, arithmetic: Arithmetic | None = None) -> SimResult:
    """Simulate one sample, frames (T, n_in) counts, with the reference engine."""
    arith = arithmetic or Arithmetic.float64()
    x = check_frames(net, frames, arith)
    input_events = int((x != 0).sum())
    steps = x.shape[0]  # L_in of the next layer
    if net.input.taps:  # host-side taps, read over the first layer's whole run
        x = apply_input_taps(x, net.input.taps, steps + net.layers[0].extend_steps)
    spikes, events = [], []
    out = raw = np.zeros((0, 0))
    for li, layer in enumerate(net.layers):
        s, raw, ev = run_layer(layer, x, arith, in_steps=steps)
        events.append(ev)
        if layer.neuron.spiking:
            spikes.append(s)
            out = s.astype(np.float64)
        else:
            out = raw.astype(np.float64) * layer_constants(layer, arith).out_scale
        steps = s.shape[0]
        x = s.astype(x.dtype)
        if layer.n_relay:  # the next layer reads the relays over its whole run
            x = relay_outputs(layer, x, steps + net.layers[li + 1].extend_steps)
    raw_out = None if net.layers[-1].neuron.spiking else raw
    return result_of(net, arith, "reference", out, spikes, events, input_events, raw_out)
