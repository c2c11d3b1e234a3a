"""Proof of fidelity: the float deployed network vs the PyTorch model with rounded delays.

For every sample of a dataset, the converted network runs in the simulator's time-stepped
reference (``delaykit.sim``, float64) and the trained model runs in PyTorch evaluated with
rounded delays (DCLS 'max', SIG = 0, rounded P): both must predict the same class, and their
readout membrane traces must agree within ``atol``.

PyTorch side (``torch_model``): ``"train"`` = delaykit's own training model
(``delaykit.train`` ``DelaySNN.rounded()``, delaykit checkpoints only); ``"dcls"`` = the
reference code's forward rebuilt from ``DCLS.Dcls1d(version='max')`` + BatchNorm +
spikingjelly ``LIFNode`` (:mod:`delaykit.convert.torch_eval`), which reads any checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.convert.build import build_network
from delaykit.convert.checkpoint import load_checkpoint
from delaykit.convert.reference_code import ReferenceOptions
from delaykit.convert.torch_eval import RoundedDelayModel, softmax_sum_prediction
from delaykit.convert.trained_params import Checkpoint
from delaykit.data.shd import BinSpec, SHDFile
from delaykit.errors import DelaykitError
from delaykit.network import Network
from delaykit.progress import progress_bar
from delaykit.sim import Arithmetic, simulate

#: Default tolerance on |v_deployed - v_torch| (readout membrane, real units). PyTorch runs in
#: float32 (conv of float32 weights, BatchNorm, LIF), the deployed network in float64 with BN
#: folded: each readout current is a sum of <= n_in float32 products (relative error ~1e-7
#: each) and the readout keeps ~0.5 % of its membrane per step, so differences stay ~1e-6 of
#: the current's magnitude. 1e-4 leaves margin for |I| up to ~100 and still exposes any wrong
#: delay, weight, bias or step (those move traces by >= 1e-2).
DEFAULT_ATOL = 1e-4


def _train_model(ck: Checkpoint) -> Any:
    import torch  # torch only for the PyTorch side

    from delaykit.train.checkpoint import model_from_checkpoint  # lazy: torch

    model = model_from_checkpoint(ck.path).eval()

    def run(x: np.ndarray) -> np.ndarray:  # x (B, T, C) -> (T_out, B, n)
        with torch.no_grad(), model.rounded():
            return model(torch.as_tensor(x)).to(torch.float64).numpy()

    return run


def _dcls_model(ck: Checkpoint) -> Any:
    m = RoundedDelayModel(ck)

    def run(x: np.ndarray) -> np.ndarray:
        return m(np.transpose(x, (1, 0, 2)))["output"]

    return run


def _torch_runner(ck: Checkpoint, torch_model: str) -> tuple[str, Any]:
    """The PyTorch side (``"auto"`` resolved) and its ``run(x (B, T, C)) -> (T_out, B, n)``."""
    kind = torch_model
    if kind == "auto":
        kind = "train" if ck.kind == "delaykit" else "dcls"
    if kind == "train" and ck.kind != "delaykit":
        raise DelaykitError(
            "torch_model='train' needs a delaykit checkpoint; use torch_model='dcls' for reference state dicts"
        )
    return kind, _train_model(ck) if kind == "train" else _dcls_model(ck)


@dataclass
class _Tally:
    """Running comparison of both sides over the samples seen so far (times in seconds)."""

    samples: int = 0
    agree: int = 0
    correct_torch: int = 0
    correct_deployed: int = 0
    worst: float = 0.0
    seconds_torch: float = 0.0
    seconds_sim: float = 0.0
    disagreements: list[int] = field(default_factory=list)


def _compare_batch(net: Network, items: list[Any], idx: range, run_torch: Any, tally: _Tally) -> None:
    """Run one batch of samples on both sides and add the comparison to ``tally``."""
    x = np.stack([f for f, _ in items]).astype(np.float32)
    labels = [int(lab) for _, lab in items]
    t0 = time.perf_counter()
    v_t = run_torch(x)  # (T_out, B, n)
    tally.seconds_torch += time.perf_counter() - t0
    pred_t = softmax_sum_prediction(v_t)
    arith = Arithmetic.float64()
    for b, i in enumerate(idx):
        t0 = time.perf_counter()
        res = simulate(net, x[b], engine="reference", arithmetic=arith)
        tally.seconds_sim += time.perf_counter() - t0
        if res.output.shape != v_t[:, b].shape:
            raise DelaykitError(f"output shapes differ: deployed {res.output.shape}, torch {v_t[:, b].shape}")
        tally.worst = max(tally.worst, float(np.abs(res.output - v_t[:, b]).max()))
        same = int(res.prediction) == int(pred_t[b])
        tally.agree += same
        if not same:
            tally.disagreements.append(i)
        tally.correct_torch += int(pred_t[b]) == labels[b]
        tally.correct_deployed += int(res.prediction) == labels[b]
    tally.samples += len(idx)


def verify_fidelity(
    model_path: str | Path,
    data_path: str | Path,
    *,
    reference_code: bool | None = None,
    options: ReferenceOptions | None = None,
    torch_model: str = "auto",
    limit: int | None = None,
    batch_size: int = 64,
    atol: float = DEFAULT_ATOL,
    progress: bool = True,
) -> dict[str, Any]:
    """Compare deployed and PyTorch predictions/traces on a SHD-schema file; returns a summary.

    The summary holds ``samples``, ``agree`` (same predicted class), ``max_abs_diff`` (readout
    membrane, real units), ``within_tol``, both accuracies (percent), ``torch_model``, ``atol``
    and the time each side took (``seconds_torch``, ``seconds_sim``).
    """
    ck = load_checkpoint(model_path, reference_code=reference_code, options=options)
    net = build_network(ck)
    if net.readout != "softmax_sum":
        raise DelaykitError(
            f"{model_path}: verify compares the 'softmax_sum' readout; this model uses {net.readout}"
        )
    kind, run_torch = _torch_runner(ck, torch_model)
    ds = SHDFile(
        data_path,
        BinSpec(dt=net.dt, channel_group=net.input.channel_group, window_steps=net.input.window_steps),
    )
    n = len(ds) if limit is None else min(len(ds), int(limit))
    tally = _Tally()
    bar = progress_bar(total=n, desc="verify", unit="sample", disable=not progress)
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        _compare_batch(net, [ds[i] for i in idx], idx, run_torch, tally)
        bar.update(len(idx))
    bar.close()
    return {
        "model": str(model_path),
        "data": str(data_path),
        "source_kind": ck.kind,
        "torch_model": kind,
        "samples": n,
        "agree": tally.agree,
        "disagreements": tally.disagreements[:20],
        "max_abs_diff": tally.worst,
        "atol": atol,
        "within_tol": tally.worst <= atol,
        "accuracy_torch_rounded": 100.0 * tally.correct_torch / max(n, 1),
        "accuracy_deployed": 100.0 * tally.correct_deployed / max(n, 1),
        "seconds_torch": tally.seconds_torch,
        "seconds_sim": tally.seconds_sim,
    }


def format_verify(r: dict[str, Any]) -> str:
    """One line: agreement, worst membrane difference, both accuracies and the verdict."""
    ok = r["agree"] == r["samples"] and r["within_tol"]
    return (
        f"fidelity ({r['source_kind']} checkpoint vs PyTorch '{r['torch_model']}', rounded delays): "
        f"{r['agree']}/{r['samples']} same prediction, max |dv| {r['max_abs_diff']:.3g} "
        f"(tolerance {r['atol']:g}); accuracy torch {r['accuracy_torch_rounded']:.2f}% / deployed "
        f"{r['accuracy_deployed']:.2f}% -> {'OK' if ok else 'MISMATCH'}"
    )
