"""Evaluation of a trained model: loss and accuracy with the training kernel and with rounded
integer delays (what a deployed network computes), and the metrics a checkpoint records."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from delaykit.progress import progress_bar
from delaykit.train.data import GlobalBatchSampler, Splits, collate
from delaykit.train.distributed import Dist
from delaykit.train.model import DelaySNN, sum_softmax


def _batch(ds: Any, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of the samples ``idx`` of ``ds``."""
    if hasattr(ds, "batch"):
        return ds.batch(idx)
    return collate([ds[i] for i in idx])


@torch.no_grad()
def evaluate_model(
    model: DelaySNN,
    ds: Any,
    batch_size: int,
    *,
    rounded: bool,
    dist: Dist | None = None,
    progress: bool = False,
    desc: str = "eval",
    float64: bool = True,
) -> dict[str, Any]:
    """Loss (mean CE on sum-softmax) and accuracy (%) of ``model`` on ``ds``, in eval mode.

    rounded: one-hot integer delays (deployed semantics) instead of the training kernel.
    float64: evaluate a float64 copy (default), so that the accuracy is the one the
    simulator's float64 arithmetic gives for the converted network; float32 can flip a
    spike whose membrane lands within rounding of the threshold.
    With ``dist``, each rank evaluates every world-th batch and the sums are all-reduced.
    """
    dist = dist or Dist()
    if float64 and model.layers[0].weight.dtype != torch.float64:
        model = copy.deepcopy(model).double()
    was_training = model.training
    model.eval()
    old_mode = model.kernel_mode
    model.kernel_mode = "rounded" if rounded else "train"
    sampler = GlobalBatchSampler(len(ds), batch_size, shuffle=False)
    batches = sampler.global_batches()[dist.rank :: dist.world]
    loss_sum = correct = count = 0.0
    preds: list[int] = []
    try:
        for idx in progress_bar(batches, desc=desc, disable=not progress, leave=False, unit="batch"):
            x, y = _batch(ds, idx)
            m = sum_softmax(model(x.to(dist.device)))
            y = y.to(m.device)
            loss_sum += float(F.cross_entropy(m, y, reduction="sum"))
            p = m.argmax(1)
            correct += float((p == y).sum())
            count += len(idx)
            preds.extend(p.cpu().tolist())
    finally:
        model.kernel_mode = old_mode
        model.train(was_training)
    loss_sum, correct, count = dist.all_sum([loss_sum, correct, count])
    return {
        "loss": loss_sum / max(count, 1),
        "acc": 100.0 * correct / max(count, 1),
        "n": int(count),
        "predictions": preds if dist.world == 1 else None,
    }


def final_evaluation(model: DelaySNN, cfg: Mapping[str, Any], splits: Splits, dist: Dist) -> dict[str, Any]:
    """Test (and validation) accuracies of the final model, float and rounded, in the precision
    ``train.eval_float64`` asks for (float64: the simulator's float64 arithmetic gives the same)."""
    f64 = bool(cfg["train"]["eval_float64"])
    rec: dict[str, Any] = {"eval_precision": "float64" if f64 else "float32"}
    for split_name, ds in (("test", splits.test), ("valid", splits.valid)):
        if ds is None:
            continue
        for kind, rounded in (("float", False), ("rounded", True)):
            r = evaluate_model(
                model, ds, int(cfg["train"]["eval_batch_size"]), rounded=rounded, dist=dist, float64=f64
            )
            rec[f"{split_name}_loss_{kind}"] = r["loss"]
            rec[f"{split_name}_acc_{kind}"] = r["acc"]
    return rec


def final_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint's metrics: the last epoch's, plus the best rounded test accuracy seen."""
    if not history:
        return {}
    last = {k: v for k, v in history[-1].items() if isinstance(v, (int, float, str))}
    best = max(history, key=lambda h: h.get("test_acc_rounded", -1.0))
    last["best_test_acc_rounded"] = best.get("test_acc_rounded")
    last["best_epoch"] = best.get("epoch")
    return last


__all__ = ["evaluate_model", "final_evaluation", "final_metrics"]
