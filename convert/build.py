"""Checkpoint -> deployed :class:`delaykit.network.Network` (float), and the one-call API.

What conversion does (docs/design.md, "The deployed-network contract"):

* delays: ``d = (K-1)//2 - round_half_even(clamp(P))`` per synapse (:mod:`delays`), exactly
  the taps DCLS ``version='max'`` with SIG=0 and rounded P uses;
* BatchNorm (eval, running statistics) folded into the synapses:
  ``W' = W * g``, ``bias = beta - mean * g`` (+ ``conv_bias * g``), ``g = gamma / sqrt(var + eps)``;
* LIF parameters (tau in steps, threshold, reset) per hidden layer, a non-spiking ``LI`` readout
  (threshold 1e9 in training), ``extend_steps = (K-1)//2`` per layer (DCLS right padding);
* a checkpoint trained with another neuron (``model.neuron = "cuba"``, ``model.reset``,
  ``model.leak``; ``train/cuba.py``) gets the contract's format-3 fields ``tau_syn`` (steps; the
  learned value when ``tau_syn`` was learned), ``reset`` and ``leak`` on every layer. The folded
  BatchNorm shift stays the per-step ``bias``, which the contract adds to the membrane -- where
  training adds it (it splits BatchNorm: the gain scales the current, the shift is the bias);
* provenance: sha256 of the source file, its kind and the options; metadata: training metrics,
  class names, the architecture, and for a checkpoint trained with Xylo's neuron
  (``arch["xylo_neuron"]``) ``read_as`` (:mod:`delaykit.network.reading`): it means the trained
  network only in Xylo's arithmetic.

All arithmetic here is float64 from the checkpoint's float32 tensors.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from delaykit import __version__
from delaykit.convert.checkpoint import load_checkpoint
from delaykit.convert.delays import delays_from_positions
from delaykit.convert.quantize import prepare_for_target
from delaykit.convert.reference_code import ReferenceOptions
from delaykit.convert.trained_params import Checkpoint, LayerParams
from delaykit.errors import DelaykitError
from delaykit.loading import is_deployed_path, load_model
from delaykit.network import LI, LIF, InputSpec, Layer, Network
from delaykit.network.reading import with_xylo_reading


def fold_batchnorm(layer: LayerParams) -> tuple[np.ndarray, np.ndarray]:
    """Return (weight (out, in), bias (out,)) with the layer's BatchNorm folded in (float64)."""
    w = layer.weight.astype(np.float64)
    cb = layer.conv_bias if layer.conv_bias is not None else np.zeros(w.shape[0])
    if layer.bn is None:
        return w.copy(), cb.astype(np.float64).copy()
    bn = layer.bn
    g = bn["gamma"] / np.sqrt(bn["var"] + float(bn["eps"]))
    return w * g[:, None], bn["beta"] + (cb - bn["mean"]) * g


def _neuron(lp: LayerParams) -> LIF | LI:
    """The contract neuron of a layer: ``LI`` for the readout (no threshold), else ``LIF``; a
    synaptic current, subtractive reset or exact leak (train/cuba.py) make it format 3."""
    if lp.v_threshold is None:
        return LI(tau=lp.tau_steps, v_reset=lp.v_reset, tau_syn=lp.tau_syn, leak=lp.leak)
    return LIF(
        tau=lp.tau_steps,
        v_threshold=lp.v_threshold,
        v_reset=lp.v_reset,
        tau_syn=lp.tau_syn,
        reset=lp.reset,
        leak=lp.leak,
    )


def _jsonable(obj: Any) -> Any:
    """Best-effort JSON-able copy (tensors/arrays become lists, unknown objects strings)."""
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        pass
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    return str(obj)


def build_network(ck: Checkpoint, *, window_steps: int | None = None, readout: str | None = None) -> Network:
    """Build the float deployed network of a loaded checkpoint.

    window_steps: input frames per sample (default: the checkpoint's window).
    readout: a :data:`delaykit.network.READOUT_RULES` name (default: the checkpoint's rule).
    """
    k = ck.kernel_size
    extend = (k - 1) // 2
    layers = []
    for lp in ck.layers:
        w, b = fold_batchnorm(lp)
        d = delays_from_positions(lp.positions, k)
        neuron = _neuron(lp)
        layers.append(Layer(name=lp.name, weight=w, delay=d, bias=b, neuron=neuron, extend_steps=extend))
    inp = InputSpec(
        n_channels=ck.layers[0].n_in,
        window_steps=int(window_steps or ck.window_steps),
        n_units=ck.n_units,
        channel_group=ck.channel_group,
        encoding="counts",
    )
    provenance = {
        "source": Path(ck.path).name,
        "source_sha256": ck.sha256,
        "source_kind": ck.kind,
        "converter": f"delaykit {__version__}",
        "kernel_size": k,
        "delay_rule": "d = (K-1)//2 - round_half_even(clamp(P, -(K//2), K//2))",
        "batchnorm": "folded: W*g, beta - mean*g, g = gamma/sqrt(var+eps)"
        if any(lp.bn is not None for lp in ck.layers)
        else "none",
        "options": _jsonable(ck.options),
    }
    metadata: dict[str, Any] = {"arch": _jsonable(ck.arch)}
    if ck.metrics:
        metadata["metrics"] = _jsonable(ck.metrics)
    if ck.class_names:
        metadata["class_names"] = list(ck.class_names)
    if ck.versions:
        metadata["training_versions"] = _jsonable(ck.versions)
    return Network(
        layers=tuple(layers),
        dt=ck.dt,
        input=inp,
        readout=readout or ck.readout,
        provenance=provenance,
        metadata=with_xylo_reading(metadata),
    )


def load_any(
    path: str | Path, *, reference_code: bool | None = None, options: ReferenceOptions | None = None
) -> Network:
    """A Network from a checkpoint or reference state dict (float), or an already deployed
    network: a ``.dkn`` file, a ``to-table`` directory or a delaykit ``.nir`` graph."""
    p = Path(path)
    deployed = is_deployed_path(p) or _is_hdf5(p)
    if deployed and reference_code:
        raise DelaykitError(
            f"{p}: is a deployed network, not a reference-code state dict; drop reference_code=True"
        )
    if deployed:  # a file converted before the read_as marker existed gets it here
        net = load_model(p)
        meta = with_xylo_reading(net.metadata)
        return net if meta == net.metadata else replace(net, metadata=meta)
    return build_network(load_checkpoint(p, reference_code=reference_code, options=options))


def with_window(net: Network, window_steps: int | None = None, readout: str | None = None) -> Network:
    """``net`` with another input window (frames per sample) and/or readout rule; None keeps it."""
    if not window_steps and readout is None:
        return net
    return Network(
        layers=net.layers,
        dt=net.dt,
        input=InputSpec(
            **{**net.input.to_dict(), "window_steps": int(window_steps or net.input.window_steps)}
        ),
        readout=readout or net.readout,
        provenance=net.provenance,
        metadata=net.metadata,
    )


def _is_hdf5(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def convert_checkpoint(
    path: str | Path,
    target: Any = None,
    bits: int | None = None,
    *,
    per_neuron: bool = False,
    clip: bool = False,
    reference_code: bool | None = None,
    options: ReferenceOptions | None = None,
    window_steps: int | None = None,
    readout: str | None = None,
) -> Network:
    """Checkpoint (or reference state dict, or ``.dkn``) -> deployed Network, in one call.

    target: a hardware target name, ``.toml`` path or loaded profile, or None.
    bits: signed weight bits (default: the target's, else no quantization -> float network).
    per_neuron: one weight scale per output neuron instead of per layer.
    clip: clip delays outside the target's range instead of refusing (they are reported).
    reference_code, options: how to read a reference-code state dict (see :func:`load_checkpoint`).
    window_steps: input frames per sample; readout: readout rule (None: the model's own).
    Raises DelaykitError when delays exceed the target's range and ``clip`` is False.
    """
    net = with_window(load_any(path, reference_code=reference_code, options=options), window_steps, readout)
    deployed, _report = prepare_for_target(net, target=target, bits=bits, per_neuron=per_neuron, clip=clip)
    return deployed
