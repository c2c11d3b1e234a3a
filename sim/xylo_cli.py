"""``delaykit sim --target xylo`` for a network trained with Xylo's neuron: Xylo mode.

Such a network (``metadata.read_as``, :mod:`delaykit.network.reading`) means the trained network
only in Xylo's arithmetic, so ``sim`` runs it there -- :func:`~delaykit.hardware_targets.
xylo_eval.run_xylo_mode_dataset`, batched -- and refuses to run it any other way (one line,
exit 2). A float network is first quantized as ``convert --bits 8`` and
:func:`~delaykit.convert.xylo_export.xylo_network` quantize it (8-bit weights, one scale per
layer, the scale training's fine-tuning fake-quantized with).

The report has the normal sim's fields. Its counts in Xylo's terms: a layer's *spikes* are its
events (up to 31 per hidden neuron and step); its *synaptic events* are the pairs of a source
(input channel with a non-zero count, capped at 15, or hidden neuron with events) at a step and a
non-zero synapse whose arrival falls inside the run (every layer runs ``T + E`` steps, ``E`` the
layers' ``extend_steps``); *seconds* are a batch's wall time shared among its samples.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np

from delaykit.convert.quantize import quantize_network
from delaykit.data.shd import SHDFile
from delaykit.errors import DelaykitError
from delaykit.hardware_targets.xylo_eval import extra_steps, pad_input, run_xylo_mode_dataset
from delaykit.hardware_targets.xylo_reference import xylo_layers
from delaykit.hardware_targets.xylo_spec import MAX_INPUT_COUNT
from delaykit.network import Network
from delaykit.network.reading import xylo_reading, xylo_refusal
from delaykit.progress import progress_bar
from delaykit.sim import Arithmetic, EvalResult
from delaykit.sim.evaluate import Row, assemble_result

#: Weight bits of a float network quantized for Xylo mode (Xylo's int8 weights).
XYLO_BITS = 8
#: Samples per Xylo-mode batch (one numpy run over the batch).
BATCH = 64

#: The arithmetic Xylo mode computes in (the header line and ``--json``'s ``arithmetic_params``).
XYLO_MODE: dict[str, Any] = {
    "name": "xylo_mode",
    "reference": "delaykit.hardware_targets.xylo_reference.run_xylo_mode",
    "weight_bits": XYLO_BITS,
    "state_bits": 16,
    "decay": "bit shift x - (x >> dash), current decayed before the membrane uses it",
    "reset": "subtract",
    "input_events_per_channel_step": MAX_INPUT_COUNT,
    "hidden_events_per_neuron_step": 31,
    "readout_events_per_neuron_step": 1,
}
DESCRIBE = (
    "xylo_mode (Xylo's integer arithmetic: int8 weights, int16 states, bit-shift decay with the "
    "current decayed before use, up to 31 events per step, input counts capped at 15, subtractive reset)"
)


def wants_xylo_mode(args: argparse.Namespace, net: Network, target: Any) -> bool:
    """True when ``net`` is read in Xylo's arithmetic and ``--target xylo`` asks for it; a
    network so marked without ``--target xylo`` is refused (one line naming the file, the
    field and the fix), as are the flags Xylo mode cannot honour."""
    field = xylo_reading(net.metadata)
    if field is None:
        return False
    if target is None or target.name != "xylo":
        what = "delaykit sim" + (f" --target {target.name}" if target is not None else "")
        raise xylo_refusal(
            args.model,
            field,
            what,
            "pass --target xylo (Xylo mode), or run it on Xylo: delaykit convert to-xylo "
            "(--bits 8 for a float network) and xylosim",
        )
    if args.engine != "event":
        raise DelaykitError(f"--engine {args.engine}: Xylo mode has one engine of its own; drop --engine")
    if args.raster is not None:
        raise DelaykitError(
            f"{args.model}: --raster draws the contract's neuron, not Xylo mode; drop --raster"
        )
    return True


def xylo_ready(net: Network, path: str) -> Network:
    """``net`` with 8-bit weights (quantized per layer when float) and Xylo-expressible, or a
    DelaykitError naming the file and the layer field Xylo cannot hold."""
    if not all(layer.is_integer for layer in net.layers):
        net, _ = quantize_network(net, XYLO_BITS)
    try:
        xylo_layers(net)
    except DelaykitError as e:
        raise DelaykitError(f"{path}: {e}") from None
    return net


def quantized_note(before: Network, after: Network) -> str | None:
    """The header line saying a float network was quantized for Xylo mode (None: it was not)."""
    if before is after:
        return None
    return f"weights quantized to int{XYLO_BITS}, one scale per layer (as convert --bits {XYLO_BITS})"


def _synaptic_events(layer_w: np.ndarray, delay: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Per sample: (source with a non-zero count at step u, non-zero synapse) pairs with
    ``u + delay < steps``; ``src`` [N, steps, n_in]."""
    steps = src.shape[1]
    active = np.concatenate([np.zeros_like(src[:, :1]), np.cumsum(src > 0, axis=1)], axis=1)
    out = np.zeros(src.shape[0], np.int64)
    nz = layer_w != 0
    for d in np.unique(delay[nz]):
        if d >= steps:
            continue
        fan = (nz & (delay == d)).sum(axis=0)  # [n_in]
        out += active[:, steps - int(d)] @ fan
    return out


def _rows(net: Network, chunk: list[tuple[np.ndarray, int]], first: int) -> tuple[list[Row], int]:
    """Xylo mode on one chunk of samples (``first``: the first one's index in the file): the
    evaluation rows and the risky (neuron, step) pairs."""
    t0 = time.perf_counter()
    run = run_xylo_mode_dataset(net, chunk, batch=BATCH)
    per = (time.perf_counter() - t0) / len(chunk)
    e = extra_steps(net)
    sources = [np.minimum(np.stack([pad_input(f, e) for f, _ in chunk]), MAX_INPUT_COUNT)]
    sources += [np.stack([r.spikes[k] for r in run.records]) for k in range(len(net.layers) - 1)]
    events = np.stack(
        [_synaptic_events(la.weight, la.delay, src) for la, src in zip(net.layers, sources, strict=True)], 1
    )
    rows: list[Row] = []
    for k, ((frames, label), rec) in enumerate(zip(chunk, run.records, strict=True)):
        spikes = [int(s.sum()) for s in rec.spikes]
        if net.layers[-1].neuron.spiking:
            spikes.append(int(rec.spikes_out.sum()))
        ins = int(np.count_nonzero(frames))
        rows.append((first + k, label, int(run.predictions[k]), per, spikes, events[k].tolist(), ins))
    return rows, run.risky


def evaluate_xylo(
    net: Network, ds: SHDFile, arith: Arithmetic, *, limit: int | None, progress: bool
) -> tuple[EvalResult, int]:
    """Xylo mode on the first ``limit`` samples of ``ds`` (all: None), ``BATCH`` at a time:
    (the normal sim's result record, risky (neuron, step) pairs). ``arith`` is not used to
    compute (the record's arithmetic is ``xylo_mode``); it satisfies the record's builder."""
    n = len(ds) if limit is None else min(len(ds), limit)
    if n < 1:
        raise DelaykitError(f"{ds.path}: has no samples to evaluate")
    rows: list[Row] = []
    risky = 0
    bar = progress_bar(total=n, unit="sample", desc="Xylo mode", leave=False) if progress else None
    t_start = time.perf_counter()
    try:
        for lo in range(0, n, BATCH):
            chunk = ds.read_range(lo, min(n, lo + BATCH))
            part, r = _rows(net, chunk, lo)
            rows.extend(part)
            risky += r
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    ev = assemble_result(net, rows, "xylo_mode", arith, 1, time.perf_counter() - t_start, ds)
    return replace(ev, arithmetic=XYLO_MODE["name"]), risky


def risky_line(risky: int) -> str:
    """The report line on partial sums that could saturate (Xylo adds one source at a time)."""
    if not risky:
        return "Xylo mode: no partial sum can leave int16 (Xylo's order of addition cannot matter)"
    return (
        f"Xylo mode: {risky:,} (neuron, step) pairs where a partial sum could leave int16: Xylo adds "
        "one source at a time, so its order could change those results"
    )
