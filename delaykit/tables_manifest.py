"""The self-describing part of a table directory: ``manifest.json`` beyond the columns.

:func:`manifest` states, as fields and in words, everything a reader needs to reproduce
delaykit's simulation from the files alone with numpy: which network the tables hold (float or
integer, bits, target), which columns are authoritative, the per-step update of each neuron
kind, how threshold ties are decided, each layer's run length, the input binning, the readout
and how the PyNN lists relate to the network's timing. The worked example is in
``docs/tables.md``. All times are in steps of ``dt_s`` unless a name ends in ``_ms`` or ``_s``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from delaykit.network import LIF, Network, uses_v3

#: Per-step update of each neuron kind (the contract's, evaluated in float64 as written).
UPDATE_RULES: dict[str, str] = {
    "lif": (
        "I = syn[t] + b;  h = (v + (v_reset - v) / tau_steps) + I;  "
        "s[t] = 1 if h >= v_threshold else 0;  v = v_reset if s[t] else h"
    ),
    "li": "I = syn[t] + b;  h = (v + (v_reset - v) / tau_steps) + I;  v = h;  y[t] = v x weight_scale",
}

#: The version-3 neuron (a synaptic current, a reset mode, the exact leak), in float64 as
#: written; k(tau) = 1/tau_steps ('euler': the division above) or 1 - exp(-1/tau_steps) ('exact').
UPDATE_V3 = (
    "leak = (v_reset - v) / tau_steps ('euler') or (v_reset - v) * k_m ('exact', k_m = "
    "-expm1(-1 / tau_steps), i.e. 1 - exp(-1/tau_steps) computed with expm1);  without "
    "tau_syn_steps: h = (v + leak) + (syn[t] + b);  with it: c = c + syn[t];  "
    "h = ((v + leak) + c) + b  (c starts at 0; the bias goes to the membrane);  lif: s[t] = 1 if "
    "h >= v_threshold else 0;  v = (v_reset if reset == 'value', h - v_threshold if 'subtract', "
    "h if 'none') if s[t] else h;  li: v = h;  then c = c + (0 - c) / tau_syn_steps ('euler') or "
    "c + (0 - c) * k_c ('exact', k_c = -expm1(-1 / tau_syn_steps))"
)


def update_rule(neuron: Any) -> str:
    """The per-step update of one layer's neuron: :data:`UPDATE_RULES` for the version-1/2
    neuron, :data:`UPDATE_V3` with the layer's fields otherwise."""
    if not uses_v3(neuron):
        return UPDATE_RULES[neuron.kind]
    reset = f"reset '{neuron.reset}', " if neuron.spiking else ""
    ts = "none" if neuron.tau_syn is None else repr(float(neuron.tau_syn))
    return f"{neuron.kind}, tau_syn_steps {ts}, {reset}leak '{neuron.leak}': {UPDATE_V3}"


def v3_neuron_columns(net: Network) -> dict[str, np.ndarray]:
    """Extra neuron-table columns of a network with version-3 neurons (none otherwise, so a
    version-1 table stays as it was): ``tau_syn_steps`` (NaN: no current), ``tau_syn_ms``,
    ``reset`` (li: 'none') and ``leak``."""
    if not any(uses_v3(layer.neuron) for layer in net.layers):
        return {}
    ts, reset, leak = [], [], []
    for layer in net.layers:
        neu, n = layer.neuron, layer.n_out
        ts.append(np.full(n, np.nan if neu.tau_syn is None else float(neu.tau_syn)))
        reset.append(np.full(n, neu.reset, dtype=object))
        leak.append(np.full(n, neu.leak, dtype=object))
    tau_syn = np.concatenate(ts)
    return {
        "tau_syn_steps": tau_syn,
        "tau_syn_ms": tau_syn * net.dt * 1e3,
        "reset": np.concatenate(reset).astype(str),
        "leak": np.concatenate(leak).astype(str),
    }


SYNAPTIC_INPUT = (
    "syn[t, post] = sum over the layer's rows of w x x[t - delay_steps, pre] (terms with "
    "t - delay_steps outside the input sequence are 0). x is the layer's input: the binned "
    "frames (counts) for layer 0, the previous layer's spikes (0/1) after. A spike at step t "
    "with delay_steps 0 is integrated by the next layer in the same step t."
)

ARITHMETIC = (
    "IEEE float64, round to nearest, each operation in the order written (parentheses as "
    "shown); tau_steps is the float64 in the column. The membrane v starts at v_reset before "
    "step 0. The threshold test is '>=' (a hard reset to v_reset follows a spike; no "
    "refractory period, no synaptic current state). This is what 'delaykit sim TABLE_DIR' "
    "computes without --target (a target's fixed point is another arithmetic: 'delaykit sim "
    "--target T')."
)

TIES_INTEGER = (
    "The integer columns (weight_int, bias_int, v_threshold_int, v_reset_int) are "
    "authoritative: simulate in those units (state in 'integer units'), and multiply the "
    "readout membrane by weight_scale[post] for real units. Every synaptic sum and bias is then "
    "an exact integer, so a membrane that starts a step at v_reset (step 0, after a spike) "
    "meets an integer threshold exactly and h == v_threshold spikes. The real-unit columns "
    "(weight, bias, v_threshold = integer x weight_scale) round differently and decide such ties "
    "by float rounding order: they are for display, not for simulation."
)

TIES_FLOAT = (
    "Float network: the real-unit columns (weight, bias, v_threshold, v_reset) are "
    "authoritative; the *_int columns are 0. Sums of float weights depend on summation order "
    "in the last bit: an exact reproduction sums syn[t, post] in float64 in any order only when "
    "the partial sums are exact."
)

EXTEND_STEPS = (
    "extend_steps: steps a layer runs beyond the end of its input sequence, so that spikes "
    "delayed past the end are still integrated. Layer l runs steps t = 0 .. L_l - 1 with "
    "L_l = T + sum(extend_steps[m] for m <= l), T = number of input frames; layer l's spikes "
    "(and its input to layer l + 1) exist only for those L_l steps; a layer is not run, and "
    "cannot spike, after its own L_l steps, even though the next layer runs longer."
)

BINNING = (
    "For an SHD-schema sample (spikes/times in seconds, spikes/units): t_us = round(time_s x 1e6) "
    "(nearest whole microsecond, numpy.round on float64; SHD stores float32 seconds, so "
    "floor(time_s / dt_s) alone moves some spikes into the previous frame), "
    "frame = t_us // round(dt_s x 1e6) (integer division), channel = unit // channel_group; "
    "frames[frame, channel] counts the events (encoding 'binary': clipped to 1); events with "
    "frame < 0 or frame >= window_steps are dropped. T = window_steps frames."
)

READOUT_RULES_TEXT: dict[str, str] = {
    "softmax_sum": "scores[c] = sum over t of exp(y[t, c] - max_k y[t, k]) / sum_k exp(y[t, k] - max_k y[t, k])",
    "membrane_sum": "scores[c] = sum over t of y[t, c]",
    "membrane_max": "scores[c] = max over t of y[t, c]",
    "spike_count": "scores[c] = sum over t of s[t, c] (spikes of the last, spiking, layer)",
}

PYNN_TIMING = (
    "PyNN/NEST/SpiNNaker's smallest delay is one step, so the lists give every synapse "
    "(delay_steps + 1) x dt_ms. With a time origin of O steps, frame t of the input is emitted "
    "at (O + t + 1) x dt_ms; layer l's step s then runs in simulator step O + s + l + 1, so its "
    "spike (and its membrane after the step) is stamped (O + s + l + 2) x dt_ms, and its bias "
    "source must fire at (O + s + l + 1) x dt_ms for s < L_l. This is an exact equivalence: "
    "every arrival moves by the same l + 1 steps at layer l, so subtracting them restores the "
    "network's steps. Stop layer l after simulator step O + L_l + l (raise its threshold). "
    "Bias lists: pre 0 is that layer's bias source; weight = bias (per step)."
)


def _network_block(net: Network) -> dict[str, Any]:
    quant = net.layers[0].is_integer
    q = (net.provenance or {}).get("quantization") or {}
    return {
        "numbers": "integer" if quant else "float",
        "weight_dtype": str(net.layers[0].weight.dtype),
        "weight_bits": q.get("bits") if quant else None,
        "quantization": q or None,
        "target": (net.provenance or {}).get("target"),
        "authoritative_columns": (
            ["weight_int", "bias_int", "v_threshold_int", "v_reset_int"]
            if quant
            else ["weight", "bias", "v_threshold", "v_reset"]
        ),
        "state_units": "integer units (real = integer x weight_scale[post])" if quant else "real units",
        "description": (
            f"the {q.get('bits', '')}-bit integer network (weights, biases, thresholds as stored "
            "integers with one real scale per neuron), not the float one it was quantized from"
            if quant
            else "the float network (real units; no quantization)"
        ),
    }


def _layer_entries(net: Network) -> list[dict[str, Any]]:
    entries, run = [], net.input.window_steps
    for li, layer in enumerate(net.layers):
        run += layer.extend_steps
        entries.append(
            {
                "index": li,
                "name": layer.name,
                "n_in": layer.n_in,
                "n_out": layer.n_out,
                "extend_steps": layer.extend_steps,
                "run_steps": run,
                "neuron": layer.neuron.to_dict(),
                "update": update_rule(layer.neuron),
                "weight_dtype": str(layer.weight.dtype),
                "quantized": layer.is_integer,
                "weight_scale": None if layer.weight_scale is None else layer.weight_scale.tolist(),
                "synapses": int((layer.weight != 0).sum()),
            }
        )
    return entries


def _units(quant: bool) -> dict[str, str]:
    state = "integer units" if quant else "real units"
    return {
        "layer": "index (0 = fed by the input channels)",
        "pre": "input channel (layer 0) or neuron index of the previous layer",
        "post": "neuron index in the layer",
        "neuron": "neuron index in the layer (neuron table)",
        "kind": "'lif' (spiking) or 'li' (non-spiking readout)",
        "weight": "real units per spike (= weight_int x weight_scale[post] if quantized)",
        "weight_int": "integer units per spike (quantized layers; 0 otherwise)",
        "delay_steps": "steps of dt_s (0 = same step)",
        "delay_ms": "milliseconds (= delay_steps x dt_s x 1000)",
        "tau_steps": "steps",
        "tau_ms": "milliseconds",
        "v_threshold": "real units (NaN for li)",
        "v_reset": "real units",
        "bias": "real units added every step",
        "weight_scale": "real units per integer unit",
        "v_threshold_int": "integer units",
        "v_reset_int": "integer units",
        "bias_int": "integer units added every step",
        "simulation_state": state,
        "layers[].neuron": f"tau in steps; v_threshold, v_reset in {state} (the contract's stored values)",
        "dt_s": "seconds",
        "pynn_weight": f"{state} (inhibitory lists negative)",
        "pynn_delay": "milliseconds, one step more than delay_ms",
    }


def manifest(net: Network, formats: tuple[str, ...], pynn_files: list[str]) -> dict[str, Any]:
    """Every manifest field but ``format`` and ``format_version`` (see the module docstring)."""
    quant = net.layers[0].is_integer
    last = net.layers[-1]
    v3 = any(uses_v3(layer.neuron) for layer in net.layers)
    extra: dict[str, Any] = {}
    if v3:  # version 2 of the tables: neurons of contract version 3 (older readers refuse it)
        extra = {"format_version": 2}
    return {
        **extra,
        "dt_s": net.dt,
        "dt_ms": round(net.dt * 1e3, 6),
        "network": _network_block(net),
        "readout": net.readout,
        "readout_definition": {
            "output": (
                "the last layer's spikes s[t, c]"
                if isinstance(last.neuron, LIF)
                else "y[t, c] = v[t, c] x weight_scale[c]: the last layer's membrane after each step, real units"
            ),
            "steps": "every step t = 0 .. L_last - 1 of the last layer's run (see run_steps)",
            "scores": READOUT_RULES_TEXT[net.readout],
            "prediction": "argmax of scores (the first class on ties)",
        },
        "input": {**net.input.to_dict(), "binning": BINNING},
        "semantics": {
            "synaptic_input": SYNAPTIC_INPUT,
            "update": {**UPDATE_RULES, "v3": UPDATE_V3} if v3 else dict(UPDATE_RULES),
            "arithmetic": ARITHMETIC
            + (
                " Version-3 layers (layers[].update): a synaptic current c per neuron, the reset "
                "and leak they name; the neuron table's tau_syn_steps, reset and leak columns."
                if v3
                else ""
            ),
            "ties": TIES_INTEGER if quant else TIES_FLOAT,
            "extend_steps": EXTEND_STEPS,
            "run_steps": "layers[l].run_steps = window_steps + sum(extend_steps[m] for m <= l) "
            "for the window of this manifest; for T input frames replace window_steps by T",
        },
        "layers": _layer_entries(net),
        "files": {
            "synapses": [f"synapses.{f}" for f in formats],
            "neurons": [f"neurons.{f}" for f in formats],
            "pynn": list(pynn_files),
        },
        "pynn": {
            "columns": "i j weight delay (PyNN FromFileConnector, one '# columns' header line)",
            "projections": "per layer: <ii>_<name>_exc / _inh (one sign each: receptor 'excitatory' "
            "/ 'inhibitory'), <ii>_<name>_bias_exc / _bias_inh",
            "timing": PYNN_TIMING,
        },
        "units": _units(quant),
        "provenance": net.provenance,
        "metadata": net.metadata,
    }
