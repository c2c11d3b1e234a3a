"""The deployed-network contract: a feedforward SNN with integer synaptic delays.

``convert/`` writes it, ``sim/`` and ``hardware_targets/`` read it. numpy + h5py only. Why it
looks like this: section "The deployed-network contract" of docs/design.md.

Modules: :mod:`~delaykit.network.neurons` (LIF, LI: parameters and their checks),
:mod:`~delaykit.network.layer` (Layer, InputSpec), :mod:`~delaykit.network.contract`
(Network), :mod:`~delaykit.network.relays` (relay neurons, input taps),
:mod:`~delaykit.network.io` (the ``.dkn`` file, format versions) and
:mod:`~delaykit.network.summary` (what ``delaykit info`` prints).

Semantics (all times in **steps** of ``Network.dt`` seconds unless a name says otherwise):

* Layer ``l`` receives the input sequence ``x[t]`` (spikes or counts, ``t = 0..L_in-1``) and
  computes ``I[t, j] = sum_i W[j, i] * x[t - D[j, i], i] + bias[j]`` for
  ``t = 0 .. L_in + extend_steps - 1`` (``x`` is zero outside ``[0, L_in)``).
  ``extend_steps`` reproduces the right padding of a DCLS layer: each trained layer lengthens
  the sequence by ``(K - 1) // 2`` steps.
* A :class:`LIF` neuron then runs, per step (spikingjelly ``LIFNode``, ``decay_input=False``):
  ``h = v + (v_reset - v) / tau + I``; ``s = h >= v_threshold``; ``v = v_reset if s else h``.
* Every membrane starts at ``v_reset`` before step 0 (spikingjelly's convention).
* A :class:`LI` neuron (non-spiking readout) runs ``v = v + (v_reset - v) / tau + I`` and
  outputs its membrane ``v`` at every step.
* Format version 3 adds, per layer, a synaptic current with its own ``tau_syn``, the reset
  modes ``subtract`` and ``none`` and the exact leak ``exp(-1/tau)`` (the equations are in
  :mod:`~delaykit.network.neurons`); the defaults are the neuron above.
* The prediction is the readout rule applied to the last layer's output sequence.

Weights are float, or integer with a per-output-neuron ``weight_scale`` (real value =
integer x scale). In that case ``bias``, ``v_threshold`` and ``v_reset`` are in the same
integer units as the weights of their neuron.

Relay neurons and input taps (format version 2; a network using neither is written as
version 1, byte-compatible with older readers). They let a network whose synapses all have
delay 0 realize delays on chips without native delays:

* **Relays.** A spiking layer (not the last) may carry ``n_relay`` relay neurons after its
  ``n_out`` main neurons (``Layer.relay_src``). Its output sequence is then
  ``y = [s | r]`` with ``n_out + n_relay`` columns, and the next layer has that many inputs.
  Relay ``k`` outputs ``y[t, n_out + k] = y[t - 1, relay_src[k]]`` (``y[-1] = 0``): an exact
  copy, one step later, of a main neuron or of another relay (relays chain; every chain starts
  at a main neuron, no cycles). So relay ``k`` is the spike train of main neuron ``root_k``
  delayed by ``lag_k`` steps (:func:`relay_roots`). A relay has no membrane, bias or leak: in
  every arithmetic it is a copy (it never saturates). Main neurons emit nothing after their
  ``L_in + extend_steps`` steps, as without relays; relay columns are defined at every step,
  and the next layer reads them for its whole run (``t < L_out + extend_steps_next``), so the
  spikes of the last main steps still arrive ``lag`` steps later. ``L_in`` of the next layer is
  the main sequence length ``L_out``, as without relays.
* **Input taps.** ``InputSpec.taps`` lists ``(channel, lag >= 1)`` pairs. The input carries
  counts, which a relay cannot copy, so the host appends one column per tap to the frames:
  the first layer reads ``n_channels + n_taps`` inputs, column ``n_channels + k`` at step ``t``
  being ``frames[t - lag_k, channel_k]`` (0 outside ``[0, T)``), defined at every step of the
  first layer's run (:func:`apply_input_taps`). ``L_in`` of the first layer stays ``T``.
"""

from delaykit.errors import RelayNotSupported
from delaykit.network.contract import READOUT_RULES, Network, load_network
from delaykit.network.io import (
    BASE_FORMAT_VERSION,
    FORMAT_NAME,
    FORMAT_VERSION,
    SUPPORTED_FORMAT_VERSIONS,
    format_version,
    save_network,
    uses_v3_neurons,
)
from delaykit.network.layer import InputSpec, Layer
from delaykit.network.neurons import (
    LEAK_RULES,
    LI,
    LIF,
    NEURON_TYPES,
    RESET_MODES,
    Neuron,
    decay_fraction,
    neuron_from_dict,
    require_v2_neurons,
    uses_v3,
)
from delaykit.network.relays import apply_input_taps, relay_roots, require_no_relays
from delaykit.network.summary import format_summary, network_summary, sparkline

_sparkline = sparkline  # the name convert/report.py imports

__all__ = [
    "BASE_FORMAT_VERSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LEAK_RULES",
    "LI",
    "LIF",
    "NEURON_TYPES",
    "READOUT_RULES",
    "RESET_MODES",
    "SUPPORTED_FORMAT_VERSIONS",
    "InputSpec",
    "Layer",
    "Network",
    "Neuron",
    "RelayNotSupported",
    "apply_input_taps",
    "decay_fraction",
    "format_summary",
    "format_version",
    "load_network",
    "network_summary",
    "neuron_from_dict",
    "relay_roots",
    "require_v2_neurons",
    "require_no_relays",
    "save_network",
    "sparkline",
    "uses_v3",
    "uses_v3_neurons",
]
