"""The training loop: the paper's optimisation, one epoch after another, resumable at any step.

Per epoch (Thvnvtos/SNN-delays ``Model.train_model``): for every batch, loss = cross-entropy
on ``sum_t softmax(v_t)``, one step of the weight optimizer and of the position optimizer
(:mod:`delaykit.train.optim`), then positions clamped to ``[-K//2, K//2]``. After the epoch:
both schedulers step, SIG is annealed, and the test set (and the validation set when there is
one) is evaluated twice: with the training kernel (``*_float``) and with one-hot rounded
integer delays (``*_rounded``, what a deployed network computes).

Outputs in ``out_dir``: ``resume.pt`` (:mod:`delaykit.train.resume`, after every epoch and
every ``train.checkpoint_every_steps`` steps) and ``metrics.jsonl`` (one line per epoch);
fine-tuning writes ``resume_finetune.pt`` and ``metrics_finetune.jsonl``. Under ``torchrun``
the model is wrapped in DistributedDataParallel (:mod:`delaykit.train.distributed`), each
rank takes its share of every global batch (``train.batch_size`` is global) and only rank 0
writes files. :func:`delaykit.train.run.train_model` runs the whole job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from delaykit.fileio import write_text_atomic
from delaykit.progress import progress_bar
from delaykit.train import config as C
from delaykit.train.checkpoint import save_torch_atomic
from delaykit.train.cpu import keep_freed_memory, resolve_bf16
from delaykit.train.cuba import arch_fields
from delaykit.train.data import GlobalBatchSampler, Splits, make_loader
from delaykit.train.distributed import Dist, replica_max_abs_diff, sync_batchnorm
from delaykit.train.evaluation import evaluate_model
from delaykit.train.kernels import set_threads
from delaykit.train.model import DelaySNN, build_model, sum_softmax
from delaykit.train.optim import anneal_sigma, make_optimizers
from delaykit.train.resume import RunState, restore, resume_dict
from delaykit.train.xylo_fit import power_of_two_steps


class StopTraining(Exception):
    """Raised by the ``stop_after_steps`` hook (tests simulate a killed run with it)."""


def make_arch(cfg: Mapping[str, Any], splits: Splits) -> dict[str, Any]:
    """The checkpoint's ``arch`` dict for a config and its data (times in steps of ``dt`` seconds)."""
    m, d = cfg["model"], cfg["data"]
    arch = {
        "model": m["kind"],
        "n_inputs": int(splits.n_inputs),
        "hidden": [int(h) for h in m["hidden"]],
        "n_classes": int(splits.n_classes),
        "kernel_size": C.effective_kernel_size(cfg),
        "tau_steps": C.tau_steps(m["tau_ms"], d["dt"]),
        "v_threshold": float(m["v_threshold"]),
        "v_reset": 0.0,
        "readout_tau_steps": C.tau_steps(m["readout_tau_ms"], d["dt"]),
        "batchnorm": bool(m["batchnorm"]),
        "bn_eps": float(m["bn_eps"]),
        "dt": float(d["dt"]),
        "n_units": int(splits.n_units),
        "channel_group": int(splits.channel_group),
        "window_steps": int(splits.window_steps),
        "readout": "softmax_sum",
        **arch_fields(m),  # the neuron, when not the paper's LIF (train/cuba.py)
    }
    if m["neuron"] == "xylo":  # Xylo decays by bit shifts: exact powers of two (train/xylo.py)
        for key, ms in (("tau_steps", "tau_ms"), ("readout_tau_steps", "readout_tau_ms")):
            arch[key] = power_of_two_steps(m[ms] / (d["dt"] * 1e3), 0, f"model.{ms}")
    return arch


@dataclass
class _Phase:
    """One training phase in progress (``"train"``, or ``"finetune"`` with fixed positions)."""

    cfg: dict[str, Any]
    splits: Splits
    phase: str
    epochs: int
    model: DelaySNN
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    opts: list[Any]
    scheds: list[Any]
    dist: Dist
    progress: bool
    log: Callable[[str], None]
    stop_after_steps: int | None
    resume_path: Path
    metrics_path: Path
    st: RunState = field(default_factory=RunState)
    history: list[dict[str, Any]] = field(default_factory=list)


def run_training(
    cfg: dict[str, Any],
    splits: Splits,
    out_dir: Path,
    *,
    progress: bool = True,
    resume: bool = False,
    stop_after_steps: int | None = None,
    dist: Dist | None = None,
    log: Callable[[str], None] = print,
    model: DelaySNN | None = None,
    phase: str = "train",
) -> tuple[DelaySNN, list[dict[str, Any]]]:
    """Train ``model`` (or a fresh one) for ``cfg['train']['epochs']`` epochs; returns (model, history).

    ``phase="finetune"`` is used by hardware-aware fine-tuning (fixed positions, its own lrs,
    ``finetune.epochs``). resume: continue from the phase's resume file in ``out_dir``.
    stop_after_steps: raise :class:`StopTraining` after that many optimizer steps (tests).
    """
    dist = dist or Dist()
    t = cfg["train"]
    set_threads(int(t["threads"]))
    keep_freed_memory()  # reuse the step's large temporaries (train/cpu.py)
    out_dir.mkdir(parents=True, exist_ok=True)
    epochs = int(t["epochs"]) if phase == "train" else int(cfg["finetune"]["epochs"])
    model = _prepared_model(cfg, splits, model, dist)
    opts, scheds = _phase_optimizers(model, cfg, phase, epochs)
    resume_path = out_dir / ("resume.pt" if phase == "train" else f"resume_{phase}.pt")
    st, history = RunState(), []
    if resume:
        st, history = restore(resume_path, cfg, model, opts, scheds, log)
    elif dist.world > 1:
        # rank-specific dropout streams, identical parameters (build_model is seeded)
        torch.manual_seed(int(t["seed"]) * 1000 + dist.rank)
    ph = _Phase(
        cfg=cfg,
        splits=splits,
        phase=phase,
        epochs=epochs,
        model=model,
        net=_data_parallel(model, dist),
        opts=opts,
        scheds=scheds,
        dist=dist,
        progress=progress,
        log=log,
        stop_after_steps=stop_after_steps,
        resume_path=resume_path,
        metrics_path=out_dir / ("metrics.jsonl" if phase == "train" else f"metrics_{phase}.jsonl"),
        st=st,
        history=history,
    )
    for epoch in range(st.epoch, epochs):
        _train_epoch(ph, epoch)
        _finish_epoch(ph, epoch)
    return model, ph.history


def _prepared_model(cfg: Mapping[str, Any], splits: Splits, model: DelaySNN | None, dist: Dist) -> DelaySNN:
    """Seed torch, build the model when none is given, set its precision and device."""
    t = cfg["train"]
    arch = make_arch(cfg, splits)
    torch.manual_seed(int(t["seed"]))
    if model is None:
        model = build_model(
            arch,
            seed=int(t["seed"]),
            dropout=cfg["model"]["dropout"],
            surrogate_alpha=cfg["model"]["surrogate_alpha"],
            init_pos=cfg["model"]["init_pos"],
        )
    model.bf16 = resolve_bf16(bool(t["bf16"]), dist.device)  # float32, with a warning, without native bf16
    model.conv_mode = str(t["delay_conv"])
    model.to(dist.device)
    return model


def _phase_optimizers(
    model: DelaySNN, cfg: Mapping[str, Any], phase: str, epochs: int
) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """Training: both optimizers; fine-tuning: weights only, with the ``finetune`` learning rates."""
    if phase == "train":
        return make_optimizers(model, cfg)
    f = cfg["finetune"]
    return make_optimizers(model, cfg, lr_w=f["lr_w"], max_lr_w=f["max_lr_w"], epochs=epochs, positions=False)


def _data_parallel(model: DelaySNN, dist: Dist) -> torch.nn.Module:
    """The model itself, or under torchrun its DDP wrapper with BatchNorm synchronized."""
    if dist.world == 1:
        return model
    if model.bn is not None and model.bn_forward is None:
        sync_batchnorm(model)
    return DDP(
        model,
        device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
        broadcast_buffers=False,
    )


def _train_epoch(ph: _Phase, epoch: int) -> None:
    """The optimizer steps of one epoch, from ``ph.st.step_in_epoch`` on (a resumed epoch)."""
    st, t, dist = ph.st, ph.cfg["train"], ph.dist
    st.epoch = epoch
    sampler = GlobalBatchSampler(
        len(ph.splits.train),
        t["batch_size"],
        shuffle=True,
        seed=int(t["seed"]),
        epoch=epoch,
        rank=dist.rank,
        world=dist.world,
        start=st.step_in_epoch,
    )
    global_sizes = [len(b) for b in sampler.global_batches()]
    loader = make_loader(ph.splits.train, sampler, workers=int(ph.cfg["data"]["workers"]))
    ph.model.train()
    t0 = time.perf_counter()
    bar = progress_bar(
        every_pct=100,  # in a log file: one line per epoch
        total=len(global_sizes),
        initial=st.step_in_epoch,
        desc=f"{ph.phase} epoch {epoch + 1}/{ph.epochs}",
        disable=not (ph.progress and dist.main),
        unit="batch",
        leave=False,
    )
    every = int(t["checkpoint_every_steps"])
    for x, y in loader:
        _train_step(ph, x, y, global_sizes[st.step_in_epoch])
        bar.update(1)
        bar.set_postfix(loss=f"{st.loss_sum / max(st.count, 1):.3f}")
        if ph.stop_after_steps is not None and st.global_step >= ph.stop_after_steps:
            bar.close()
            raise StopTraining(f"stopped after {st.global_step} steps")
        if every > 0 and st.global_step % every == 0 and dist.main:
            st.epoch_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            _save_resume(ph)
    bar.close()
    st.epoch_seconds += time.perf_counter() - t0


def _train_step(ph: _Phase, x: torch.Tensor, y: torch.Tensor, n_global: int) -> None:
    """One optimizer step on this rank's part of a global batch of ``n_global`` samples."""
    st, dist = ph.st, ph.dist
    x, y = x.to(dist.device), y.to(dist.device)
    for o in ph.opts:
        o.zero_grad(set_to_none=True)
    m = sum_softmax(ph.net(x))
    ce = F.cross_entropy(m, y, reduction="sum")
    (ce * (dist.world / n_global)).backward()
    for o in ph.opts:
        o.step()
    ph.model.clamp_positions()
    with torch.no_grad():
        st.loss_sum += float(ce)
        st.correct += float((m.argmax(1) == y).sum())
        st.count += len(y)
    st.step_in_epoch += 1
    st.global_step += 1


def _save_resume(ph: _Phase) -> None:
    """Write the phase's resume file (rank 0 only calls this)."""
    state = resume_dict(ph.model, ph.opts, ph.scheds, ph.st, ph.history, ph.cfg, ph.phase)
    save_torch_atomic(state, ph.resume_path)


def _finish_epoch(ph: _Phase, epoch: int) -> None:
    """Step the schedulers, anneal SIG, evaluate, record the epoch and write metrics and resume file."""
    for s in ph.scheds:
        s.step()
    if ph.phase == "train":
        anneal_sigma(ph.model, ph.cfg, epoch, ph.epochs)
    rec = _epoch_record(ph, epoch)
    t1 = time.perf_counter()
    _evaluate_epoch(ph, rec)
    rec["eval_seconds"] = time.perf_counter() - t1
    if ph.dist.world > 1:
        rec["replica_max_abs_diff"] = replica_max_abs_diff(ph.model, ph.dist)
    ph.history.append(rec)
    ph.st = RunState(epoch=epoch + 1, step_in_epoch=0, global_step=ph.st.global_step)
    if ph.dist.main:
        ph.log(_epoch_line(rec, ph.epochs))
        write_text_atomic(ph.metrics_path, "".join(json.dumps(h) + "\n" for h in ph.history))
        _save_resume(ph)


def _epoch_record(ph: _Phase, epoch: int) -> dict[str, Any]:
    """The epoch's training figures, summed over ranks (``train_seconds``: this rank's wall time)."""
    st, opts = ph.st, ph.opts
    loss_sum, correct, count = ph.dist.all_sum([st.loss_sum, st.correct, st.count])
    return {
        "epoch": epoch + 1,
        "phase": ph.phase,
        "sigma": ph.model.sigma(),
        "lr_w": opts[0].param_groups[0]["lr"],
        "lr_pos": opts[1].param_groups[0]["lr"] if len(opts) > 1 else 0.0,
        "train_loss": loss_sum / max(count, 1),
        "train_acc": 100.0 * correct / max(count, 1),
        "train_seconds": st.epoch_seconds,
    }


def _evaluate_epoch(ph: _Phase, rec: dict[str, Any]) -> None:
    """Add the test (and validation) losses and accuracies to ``rec`` (float32, like training).

    Training reports the training kernel (``float``) and rounded delays (``rounded``);
    fine-tuning reports its quantized model (``quantized``).
    """
    t, dist, model = ph.cfg["train"], ph.dist, ph.model
    ev_bs = int(t["eval_batch_size"])
    kinds = (("float", False), ("rounded", True)) if ph.phase == "train" else (("quantized", True),)
    for split_name, ds in (("test", ph.splits.test), ("valid", ph.splits.valid)):
        if ds is None:
            continue
        for kind, rounded in kinds:
            r = evaluate_model(
                model,
                ds,
                ev_bs,
                rounded=rounded,
                dist=dist,
                progress=ph.progress and dist.main,
                desc=f"{split_name} {kind}",
                float64=False,
            )
            rec[f"{split_name}_loss_{kind}"] = r["loss"]
            rec[f"{split_name}_acc_{kind}"] = r["acc"]
    if t["eval_train"]:
        r = evaluate_model(model, ph.splits.train, ev_bs, rounded=True, dist=dist, float64=False)
        rec["train_acc_rounded_eval"] = r["acc"]


def _epoch_line(rec: Mapping[str, Any], epochs: int) -> str:
    """The one-line log of an epoch (accuracies in %, SIG in steps, times in seconds)."""
    s = f"[{rec['phase']}] epoch {rec['epoch']}/{epochs}  loss {rec['train_loss']:.3f}  train {rec['train_acc']:.2f}%"
    if "test_acc_float" in rec:
        s += f"  test float {rec['test_acc_float']:.2f}%  rounded {rec['test_acc_rounded']:.2f}%"
    if "test_acc_quantized" in rec:
        s += f"  quantized {rec['test_acc_quantized']:.2f}%"
    if "valid_acc_rounded" in rec:
        s += f"  valid rounded {rec['valid_acc_rounded']:.2f}%"
    return s + f"  sigma {rec['sigma']:.3f}  ({rec['train_seconds']:.1f}s + {rec['eval_seconds']:.1f}s eval)"


__all__ = ["StopTraining", "make_arch", "run_training"]
