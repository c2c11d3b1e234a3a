"""The paper's optimisation: two Adam optimizers, per-epoch schedulers, σ annealing.

Weights and BatchNorm: Adam with weight decay on the synaptic weights only (BatchNorm
without), one-cycle or cosine schedule. Delay positions: a second Adam (100× lr, no decay)
with its own schedule. Schedulers step once per epoch; learning rates are per optimizer step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from delaykit.train.model import DelaySNN


def _adam(groups: list[dict[str, Any]], **kw: Any) -> torch.optim.Optimizer:
    """Adam with the fused implementation (one kernel for all tensors; the default multi-tensor
    path costs more than the whole LIF on a loaded 2-core machine). Same update rule."""
    try:
        return torch.optim.Adam(groups, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch or unsupported device
        return torch.optim.Adam(groups, **kw)


def _add_scheduler(
    scheds: list[Any], opt: torch.optim.Optimizer, kind: str, max_lr: float, epochs: int
) -> None:
    """Append the per-epoch scheduler ``kind`` ("one_cycle" | "cosine"; else none) of ``opt``."""
    if kind == "one_cycle":
        scheds.append(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs))
    elif kind == "cosine":
        scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs))


def make_optimizers(
    model: DelaySNN,
    cfg: Mapping[str, Any],
    *,
    lr_w: float | None = None,
    max_lr_w: float | None = None,
    epochs: int | None = None,
    positions: bool = True,
) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """[Adam(weights + BN)] (+ [Adam(positions)]) and their per-epoch schedulers (reference optimizers()).

    lr_w / max_lr_w / epochs default to the config's ``train`` values; ``positions=False``
    leaves the delay positions out (fine-tuning keeps them fixed).
    """
    t = cfg["train"]
    lr_w = t["lr_w"] if lr_w is None else lr_w
    max_lr_w = t["max_lr_w"] if max_lr_w is None else max_lr_w
    epochs = t["epochs"] if epochs is None else epochs
    groups = [{"params": model.weight_parameters(), "lr": lr_w, "weight_decay": t["weight_decay"]}]
    if model.bn is not None:
        groups.append({"params": model.bn_parameters(), "lr": lr_w, "weight_decay": 0.0})
    if model.neuron_parameters():  # a learned tau_syn (model.tau_syn_learnable): no decay
        groups.append({"params": model.neuron_parameters(), "lr": lr_w, "weight_decay": 0.0})
    opts: list[torch.optim.Optimizer] = [_adam(groups)]
    scheds: list[Any] = []
    _add_scheduler(scheds, opts[0], t["scheduler_w"], max_lr_w, epochs)
    pos = model.position_parameters() if positions else []
    if pos:
        opts.append(_adam([{"params": pos}], lr=t["lr_pos"], weight_decay=0.0))
        _add_scheduler(scheds, opts[1], t["scheduler_pos"], t["max_lr_pos"], epochs)
    return opts, scheds


def anneal_sigma(model: DelaySNN, cfg: Mapping[str, Any], epoch: int, epochs: int) -> None:
    """Reference ``decrease_sig`` ('exp'): SIG *= (sig_final / sig_init) ** (1 / final_epoch).

    SIG is in steps; ``epoch`` is the 0-based epoch just finished, ``epochs`` the run's count.
    """
    if model.kernel_version != "gauss":
        return
    sig_init = float(model.kernel_size // 2)
    final_epoch = int(cfg["train"]["sig_anneal_frac"] * epochs)
    sig = model.sigma()
    if final_epoch > 0 and sig_init > 0 and epoch < final_epoch and sig > cfg["train"]["sig_final"]:
        alpha = (cfg["train"]["sig_final"] / sig_init) ** (1.0 / final_epoch)
        with torch.no_grad():
            for layer in model.layers:
                layer.SIG.mul_(alpha)


__all__ = ["anneal_sigma", "make_optimizers"]
