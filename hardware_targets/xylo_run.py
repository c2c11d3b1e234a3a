"""Run a saved Xylo spec in SynSense's ``xylosim.v2`` (the bit-accurate C++ Xylo Audio 2 model).

This file runs in the environment that has xylosim (``bash scripts/setup_xylo.sh`` builds
``.venv-xylo``): it needs numpy, the standard library and xylosim only -- no delaykit -- and
imports xylosim only when it runs. delaykit calls it through
:func:`delaykit.hardware_targets.xylo_check.run_xylosim`; by hand::

    .venv-xylo/bin/python hardware_targets/xylo_run.py SPEC_DIR INPUT.npz OUT.npz [SPEC_DIR INPUT.npz OUT.npz ...]
    .venv-xylo/bin/python hardware_targets/xylo_run.py --batch SPEC_DIR INPUTS.npz OUT.npz

``SPEC_DIR`` is a folder written by ``delaykit.hardware_targets.xylo_spec.save_spec`` (only its
``spec.npz`` is read); ``INPUT.npz`` holds ``input_counts`` [T, n_in] (events per step and
channel, 0..255). ``OUT.npz`` receives xylosim's recordings as int64 arrays, one row per step:
``spikes`` [T, n_hid], ``v_mem_out`` [T, n_out], ``spikes_out`` [T, n_out], ``i_syn``
[T, n_hid, n_syn], ``v_mem`` [T, n_hid], ``i_syn_out`` [T, n_out]. ``--batch`` runs one spec on
many rasters (``input_counts`` [N, T, n_in], state reset before each): :func:`run_batch`.

The layer is built as rockpool's ``XyloSim.from_specification`` (syns61201/xylo_sim.py) builds
it: one ``XyloSynapse(post, state, weight)`` per non-zero weight, listed per presynaptic source,
``has_bias`` when any bias is non-zero, one alias target per hidden neuron. The synapse objects
are kept alive for the layer's lifetime (the layer holds raw pointers to them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np


def _synapses(weights: np.ndarray, syn_cls: Any) -> list[list[Any]]:
    """Per presynaptic row of ``weights`` [pre, post, state]: its non-zero synapses."""
    rows = []
    for pre in range(weights.shape[0]):
        posts, states = np.nonzero(weights[pre])
        rows.append([syn_cls(int(j), int(k), int(weights[pre, j, k])) for j, k in zip(posts, states)])
    return rows


def build_layer(z: dict[str, np.ndarray]) -> tuple[Any, list[Any]]:
    """A ``xylosim.v2.XyloLayer`` for the spec arrays ``z``, and the objects it points to."""
    from xylosim.v2 import XyloLayer, XyloSynapse

    syn_in = _synapses(z["weights_in"], XyloSynapse)
    syn_rec = _synapses(z["weights_rec"], XyloSynapse)
    syn_out = _synapses(z["weights_out"][:, :, None], XyloSynapse)
    bias, bias_out = z["bias"], z["bias_out"]
    layer = XyloLayer(
        synapses_in=syn_in,
        synapses_rec=syn_rec,
        synapses_out=syn_out,
        aliases=[[int(a)] if a >= 0 else [] for a in z["aliases"]],
        threshold=[int(v) for v in z["threshold"]],
        threshold_out=[int(v) for v in z["threshold_out"]],
        has_bias=bool(np.any(bias != 0) or np.any(bias_out != 0)),
        bias=[int(v) for v in bias],
        bias_out=[int(v) for v in bias_out],
        weight_shift_inp=int(z["weight_shift_in"]),
        weight_shift_rec=int(z["weight_shift_rec"]),
        weight_shift_out=int(z["weight_shift_out"]),
        dash_mem=[int(v) for v in z["dash_mem"]],
        dash_mem_out=[int(v) for v in z["dash_mem_out"]],
        dash_syns=[[int(v) for v in row] for row in z["dash_syn"]],
        dash_syns_out=[[int(v)] for v in z["dash_syn_out"]],
        name="delaykit",
    )
    return layer, [syn_in, syn_rec, syn_out]


def run_one(spec_dir: Path, input_path: Path, out_path: Path) -> None:
    """Evolve the spec in ``spec_dir`` on the raster in ``input_path``; write ``out_path``."""
    with np.load(spec_dir / "spec.npz", allow_pickle=False) as f:
        z = {k: f[k] for k in f.files}
    with np.load(input_path, allow_pickle=False) as f:
        counts = np.asarray(f["input_counts"], np.int64)
    layer, keep = build_layer(z)
    n_steps, n_syn = counts.shape[0], z["weights_in"].shape[2]
    out_spikes = np.asarray(layer.evolve(counts.tolist()), np.int64).reshape(n_steps, -1)

    def rec(trace: Any, n: int) -> np.ndarray:
        return np.asarray(trace, np.int64).reshape(n, n_steps).T

    n_hid, n_out = z["weights_in"].shape[1], z["weights_out"].shape[1]
    i_syn = [rec(layer.rec_i_syn, n_hid)]
    if n_syn > 1:
        i_syn.append(rec(layer.rec_i_syn2, n_hid))
    np.savez(
        out_path,
        spikes=np.asarray(layer.rec_recurrent_spikes, np.int64).reshape(n_steps, n_hid),
        v_mem_out=rec(layer.rec_v_mem_out, n_out),
        spikes_out=out_spikes,
        i_syn=np.stack(i_syn, axis=2),
        v_mem=rec(layer.rec_v_mem, n_hid),
        i_syn_out=rec(layer.rec_i_syn_out, n_out),
    )
    del layer, keep


def run_batch(spec_dir: Path, input_path: Path, out_path: Path) -> None:
    """Evolve one spec on many rasters (``input_counts`` [N, T, n_in]), the state reset to zero
    (``reset_all``) before each; write ``spikes`` [N, T, n_hid] (int8), ``spikes_out`` [N, T, n_out]
    (int8) and ``v_mem_out`` [N, T, n_out] (int16) to ``out_path``."""
    with np.load(spec_dir / "spec.npz", allow_pickle=False) as f:
        z = {k: f[k] for k in f.files}
    with np.load(input_path, allow_pickle=False) as f:
        counts = np.asarray(f["input_counts"], np.int64)
    layer, keep = build_layer(z)
    n, n_steps = counts.shape[0], counts.shape[1]
    n_hid, n_out = z["weights_in"].shape[1], z["weights_out"].shape[1]
    spikes = np.zeros((n, n_steps, n_hid), np.int8)
    spikes_out = np.zeros((n, n_steps, n_out), np.int8)
    v_out = np.zeros((n, n_steps, n_out), np.int16)
    for k in range(n):
        layer.reset_all()
        spikes_out[k] = np.asarray(layer.evolve(counts[k].tolist()), np.int64).reshape(n_steps, -1)
        spikes[k] = np.asarray(layer.rec_recurrent_spikes, np.int64).reshape(n_steps, n_hid)
        v_out[k] = np.asarray(layer.rec_v_mem_out, np.int64).reshape(n_out, n_steps).T
    np.savez(out_path, spikes=spikes, spikes_out=spikes_out, v_mem_out=v_out)
    del layer, keep


def main(argv: list[str]) -> int:
    args = argv[1:]
    if len(args) == 4 and args[0] == "--batch":
        run_batch(Path(args[1]), Path(args[2]), Path(args[3]))
        return 0
    if not args or len(args) % 3:
        print(__doc__, file=sys.stderr)
        return 2
    for k in range(0, len(args), 3):
        run_one(Path(args[k]), Path(args[k + 1]), Path(args[k + 2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
