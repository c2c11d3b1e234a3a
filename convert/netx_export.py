"""Export a quantized network as lava-dl netx HDF5 for Loihi 2 (numpy + h5py only).

Layout (lava-dl ``netx/README.md``, parsed by ``lava.lib.dl.netx.hdf5.Network``)::

    /layer/<i>  type 'dense', shape [n_out], inFeatures, outFeatures,
                weight (n_out, n_in) int (8-bit signed mantissa), delay (n_out, n_in) int
                (per synapse, 0..62), bias (n_out,) int (13-bit bias mantissa, bias_exp 6),
                neuron/{type 'CUBA', iDecay, vDecay, vThMant, refDelay, gradedSpike}
    /simulation/{Ts, tSample}

Neuron fields (Lava's bit-accurate LIF, ``u`` the current, ``v`` the voltage)::

    u <- u*(4096 - iDecay)/4096 + (sum_i w*s) << 6      iDecay = round(4096 / tau_syn) in
                                                         [1, 4096]; 4096 (no tau_syn): u = input
    v <- v*(4096 - vDecay)/4096 + u + bias << 6         vDecay = round(4096 / tau) (<= 4095)
    spike when v > vThMant << 6, then v <- 0

(the exact leak rounds ``4096 (1 - exp(-1/tau))`` instead; netx's parser gives Lava
``du = iDecay - 1``, and Lava's bit-accurate model adds its ``ds_offset`` of 1 back). Loihi's
CUBA neuron resets to 0: a ``subtract`` or ``none`` reset is refused.

which is the simulator's Loihi 2 fixed-point mode (``Arithmetic.for_target(loihi2)``) for a
network whose weights, biases and thresholds are the integers of the deployed network. The
non-spiking readout gets the largest threshold (``vThMant`` = 2**17 - 1): it would spike only
within 63 of the 24-bit saturation, which ``lava_check.py`` reports. Per-neuron scales
(per-neuron thresholds) and more than 8 weight bits cannot be written: netx has one threshold
per layer. Input frames are event counts: run the network with ``input_message_bits`` > 0
(graded input) when counts exceed 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.arithmetic import loihi_current_decay_constant, loihi_decay_constant
from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_h5, atomic_path
from delaykit.hardware_targets import load_target
from delaykit.network import LIF, Network, require_no_relays
from delaykit.sim import Arithmetic, simulate

NETX_MAX_DELAY = 62
VTH_MANT_MAX = (1 << 17) - 1
BIAS_MANT_MAX = (1 << 12) - 1
FULL_CURRENT_DECAY = 4096


def _scalar(v: Any, what: str, layer: str) -> int:
    a = np.unique(np.asarray(v, dtype=np.float64))
    if a.size != 1:
        raise DelaykitError(
            f"layer {layer!r}: netx holds one {what} per layer, the network has {a.size} different "
            "values; convert with a per-layer scale (per_neuron=False)"
        )
    if a[0] != np.round(a[0]):
        raise DelaykitError(
            f"layer {layer!r}: {what} {a[0]} is not an integer; quantize with target='loihi2'"
        )
    return int(a[0])


def netx_layers(net: Network) -> list[dict[str, Any]]:
    """The netx fields of every layer; raises DelaykitError when Loihi 2 cannot hold them."""
    require_no_relays(net, "lava-dl netx (Loihi 2 has native delays)")
    out = []
    for layer in net.layers:
        where = f"layer {layer.name!r}"
        if not layer.is_integer:
            raise DelaykitError(
                f"{where}: float weights; netx needs integer weights: convert with target='loihi2'"
            )
        w = layer.weight.astype(np.int64)
        if w.size and (w.min() < -128 or w.max() > 127):
            raise DelaykitError(f"{where}: weights {w.min()}..{w.max()} exceed 8 signed bits; use bits=8")
        nz = w != 0
        d = np.where(nz, layer.delay, 0).astype(np.int64)
        if d.max(initial=0) > NETX_MAX_DELAY:
            raise DelaykitError(f"{where}: delay {d.max()} exceeds netx's {NETX_MAX_DELAY}; use clip=True")
        bias = layer.bias.astype(np.int64)
        if np.abs(bias).max(initial=0) > BIAS_MANT_MAX:
            raise DelaykitError(f"{where}: bias {np.abs(bias).max()} exceeds Loihi's 13-bit bias mantissa")
        neu = layer.neuron
        if _scalar(neu.v_reset, "v_reset", layer.name) != 0:
            raise DelaykitError(f"{where}: Loihi resets to 0; v_reset must be 0")
        if isinstance(neu, LIF) and neu.reset != "value":
            raise DelaykitError(
                f"{where}: field 'neuron.reset' is {neu.reset!r}; Loihi 2's CUBA neuron resets the "
                "voltage to 0 (reset 'value')"
            )
        if isinstance(neu, LIF):
            vth = _scalar(neu.v_threshold, "threshold", layer.name)
            if not 0 < vth <= VTH_MANT_MAX:
                raise DelaykitError(f"{where}: threshold {vth} outside Loihi's 1..{VTH_MANT_MAX}")
        else:
            vth = VTH_MANT_MAX
        out.append(
            {
                "name": layer.name,
                "weight": w,
                "delay": d,
                "bias": bias,
                "iDecay": loihi_current_decay_constant(neu.tau_syn, neu.leak),
                "vDecay": loihi_decay_constant(neu.tau, neu.leak),
                "vThMant": vth,
                "spiking": isinstance(neu, LIF),
            }
        )
    return out


def write_netx(net: Network, path: str | Path) -> None:
    """Write the netx HDF5 file for Loihi 2, atomically (see the module docstring)."""
    layers = netx_layers(net)
    t_sample = net.output_steps() + len(net.layers)  # + one step of latency per layer
    with atomic_h5(path) as f:
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1)
        sim.create_dataset("tSample", data=t_sample)
        lg = f.create_group("layer")
        for i, (lay, spec) in enumerate(zip(net.layers, layers, strict=False)):
            g = lg.create_group(str(i))
            g.create_dataset("type", data=np.bytes_("dense"))
            g.create_dataset("shape", data=np.array([lay.n_out], dtype=np.int64))
            g.create_dataset("inFeatures", data=lay.n_in)
            g.create_dataset("outFeatures", data=lay.n_out)
            g.create_dataset("weight", data=spec["weight"].astype(np.int32), compression="gzip")
            g.create_dataset("delay", data=spec["delay"].astype(np.int32), compression="gzip")
            if spec["bias"].any():
                g.create_dataset("bias", data=spec["bias"].astype(np.int32))
            n = g.create_group("neuron")
            n.create_dataset("type", data=np.bytes_("CUBA"))
            n.create_dataset("iDecay", data=spec["iDecay"])
            n.create_dataset("vDecay", data=spec["vDecay"])
            n.create_dataset("vThMant", data=spec["vThMant"])
            n.create_dataset("refDelay", data=1)
            n.create_dataset("gradedSpike", data=False)
        f.attrs["delaykit"] = json.dumps(
            {
                "format_version": 1,
                "dt_s": net.dt,
                "readout": net.readout,
                "input": net.input.to_dict(),
                "layers": [
                    {
                        "name": lay.name,
                        "extend_steps": lay.extend_steps,
                        "weight_scale": lay.weight_scale.tolist(),
                        "spiking": s["spiking"],
                    }
                    for lay, s in zip(net.layers, layers, strict=False)
                ],
                "provenance": net.provenance,
                "timing": "Loihi delivers a delay-d spike after d + 1 steps per layer; frame f fed "
                "at Lava step f + 1 appears in layer k's output at Lava step f + 1 + k + delays",
            }
        )


def lava_padding(net: Network) -> int:
    """Zero frames to append so every delayed spike arrives, and activity settles, in the run.

    The contract cuts layer ``k`` after ``L_in + extend_steps`` steps (the DCLS right padding),
    so late inputs with long delays never arrive; Lava runs on and delivers them. Padding the
    input with ``sum(max_delay + 2)`` zero frames moves that cut past the last input-driven
    event, so both sides compute the same thing; ``lava_check`` verifies that Lava emits
    nothing after each layer's last step. A layer with a synaptic current (contract v3) adds
    the steps its current needs to decay to 0 (:func:`current_settle_steps`).
    """
    return sum(layer.max_delay + 2 + current_settle_steps(layer) for layer in net.layers)


def current_settle_steps(layer: Any) -> int:
    """Steps after which a synaptic current (contract v3) of Loihi's 24-bit range has decayed to
    0 without input: ``|u|`` shrinks by ``(4096 - iDecay)/4096`` per step, rounding toward
    zero, so ``ceil(23 ln 2 / -ln((4096 - iDecay)/4096)) + 1`` steps suffice; 0 without a current."""
    neu = layer.neuron
    keep = FULL_CURRENT_DECAY - loihi_current_decay_constant(neu.tau_syn, neu.leak)
    if keep <= 0:
        return 0
    return int(math.ceil(23 * math.log(2) / -math.log(keep / FULL_CURRENT_DECAY))) + 1


def write_lava_expectation(
    net: Network, frames: np.ndarray, inputs_path: str | Path, expect_path: str | Path, pad: int | None = None
) -> dict[str, np.ndarray]:
    """Write the inputs and expected outputs of ``lava_check.py`` for frames (S, T, n_in).

    The frames get ``pad`` zero frames appended (default :func:`lava_padding`) and are written
    to ``inputs_path`` as ``frames`` (int64 counts). They are simulated in the simulator's
    Loihi 2 mode (``Arithmetic.for_target(load_target('loihi2'))``); ``expect_path`` gets
    ``spikes_<j>`` (S, L_j, n_j) per spiking layer and, for a non-spiking readout,
    ``readout_v`` (S, L, n_out) its integer voltage in membrane units. Returns the expectation.
    """
    arith = Arithmetic.for_target(load_target("loihi2"))
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.size and (frames < 0).any() or (frames != np.round(frames)).any():
        raise DelaykitError("frames: Loihi input must be non-negative integer event counts")
    pad = lava_padding(net) if pad is None else int(pad)
    padded = np.concatenate([frames, np.zeros((frames.shape[0], pad, frames.shape[2]))], axis=1).astype(
        np.int64
    )
    spikes: list[list[np.ndarray]] = []
    volts = []
    last = net.layers[-1]
    for x in padded:
        res = simulate(net, x, engine="reference", arithmetic=arith)
        spikes.append(res.spikes)
        if not last.neuron.spiking:
            out_scale = last.weight_scale / float(1 << arith.weight_shift)
            volts.append(np.round(res.output / out_scale).astype(np.int64))
    arrays = {f"spikes_{j}": np.stack([s[j] for s in spikes]) for j in range(len(spikes[0]))}
    if volts:
        arrays["readout_v"] = np.stack(volts)
    with atomic_path(inputs_path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, frames=padded, pad=np.array(pad))
    with atomic_path(expect_path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return arrays
