"""A whole training job (``delaykit train``): train, evaluate, save, plot, optionally fine-tune.

Outputs in ``out_dir``: ``model.pt`` (the checkpoint, rewritten when the run ends),
``resume.pt`` and ``metrics.jsonl`` (:mod:`delaykit.train.loop`), ``config.toml``
(the resolved config) and ``plots/*.png``. With a hardware target and fine-tuning
(:mod:`delaykit.train.finetune`), ``model.pt`` is the fine-tuned model and the float-trained
one is kept as ``model_pretrained.pt``.

Resume: ``resume=True`` continues from ``resume.pt`` at the exact batch where it was written;
on CPU with a fixed seed and thread count the result is bit-identical to an uninterrupted
run. Under ``torchrun`` only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.ranges import resolve_target
from delaykit.outputs import folder_lock
from delaykit.train import config as C
from delaykit.train.checkpoint import model_checkpoint, model_from_checkpoint, save_torch_atomic
from delaykit.train.data import Splits, load_splits
from delaykit.train.distributed import Dist, setup_distributed, teardown_distributed
from delaykit.train.evaluation import final_evaluation, final_metrics
from delaykit.train.finetune import finetune_for_target
from delaykit.train.loop import run_training
from delaykit.train.model import DelaySNN
from delaykit.train.plots import write_plots
from delaykit.train.xylo_fit import check_xylo_fit


def resolve_config(
    config: Mapping[str, Any] | str | Path, overrides: list[str] | None = None
) -> dict[str, Any]:
    """A resolved config from a config dict, a named config or a TOML/YAML path, plus overrides.

    overrides: ``["train.epochs=3", ...]`` applied on top (a dict is copied, not changed).
    """
    if not isinstance(config, Mapping):
        return C.load_config(config, overrides or [])
    cfg = copy.deepcopy(dict(config))
    for item in overrides or []:
        k, v = item.split("=", 1)
        C.set_value(cfg, k.strip(), C.parse_value(v.strip()), f"override {item}")
    C.validate(cfg)
    return cfg


def train_model(
    config: Mapping[str, Any] | str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    progress: bool = True,
    *,
    resume: bool = False,
    overrides: list[str] | None = None,
    stop_after_steps: int | None = None,
    target: Any = None,
    finetune: bool = False,
    init: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train (and optionally fine-tune for a hardware target); return the path of ``model.pt``.

    config: a resolved config dict, a named config (``"delay-task"``) or a TOML/YAML path.
    data_dir: folder with the split files (``*train*.h5`` / ``*test*.h5``, or GSC audio).
    out_dir: run folder (created). resume: continue from ``out_dir/resume.pt``.
    target/finetune: a hardware target (name, path or profile object); with ``finetune`` the
    trained model is fine-tuned with integer delays in the target's range and weights
    fake-quantized to its bit width; ``model.pt`` is then the fine-tuned model and the
    float-trained one is kept as ``model_pretrained.pt``. init: start from this ``model.pt``
    instead of training (fine-tuning an existing model).
    """
    cfg = resolve_config(config, overrides)
    if finetune and target is None:
        raise DelaykitError("finetune needs a target (a hardware target profile name, path or object)")
    target = resolve_target(target)  # an unknown --target fails now, not after training
    dist = setup_distributed()
    say = log or (print if dist.main else (lambda s: None))
    job = _Job(cfg=cfg, out=Path(out_dir), dist=dist, log=say, progress=progress, resume=resume)
    threads_before = torch.get_num_threads()
    lock = contextlib.ExitStack()
    try:
        # the data is read and checked first: invalid data leaves no run folder behind
        splits = load_splits(cfg, data_dir, progress=progress and dist.main)
        if getattr(target, "name", None) == "xylo":  # Xylo's limits, before any training
            check_xylo_fit(cfg, splits.n_inputs, splits.n_classes, splits.n_units)
        init_model = _initial_model(cfg, splits, init) if init is not None else None
        if dist.main:
            # a second train into this folder is refused while this one runs
            lock.enter_context(folder_lock(job.out, "a training run"))
            write_text_atomic(job.out / "config.toml", C.to_toml(cfg))
        if init_model is not None:
            model, history = init_model, []
        else:
            model, history = _train(job, splits, stop_after_steps)
        if not finetune:
            return job.out / "model.pt"
        return _finetune(job, model, splits, history, target, keep_pretrained=init is None)
    finally:
        torch.set_num_threads(threads_before)  # train.threads applies to this call only
        teardown_distributed(dist)
        lock.close()


@dataclass
class _Job:
    """The settings every step of a :func:`train_model` call shares."""

    cfg: dict[str, Any]
    out: Path
    dist: Dist
    log: Callable[[str], None]
    progress: bool
    resume: bool


def _train(job: _Job, splits: Splits, stop_after_steps: int | None) -> tuple[DelaySNN, list[dict[str, Any]]]:
    """Train, evaluate the final model and save it with its metrics and plots."""
    model, history = run_training(
        job.cfg,
        splits,
        job.out,
        progress=job.progress,
        resume=job.resume,
        stop_after_steps=stop_after_steps,
        dist=job.dist,
        log=job.log,
    )
    _save_trained(model, history, job.cfg, splits, job.out, job.dist)
    return model, history


def _finetune(
    job: _Job,
    model: DelaySNN,
    splits: Splits,
    history: list[dict[str, Any]],
    target: Any,
    *,
    keep_pretrained: bool,
) -> Path:
    """Fine-tune for ``target`` (keeping the trained ``model.pt`` as ``model_pretrained.pt``)."""
    if job.dist.main and keep_pretrained:
        os.replace(job.out / "model.pt", job.out / "model_pretrained.pt")
    return finetune_for_target(
        model,
        job.cfg,
        splits,
        job.out,
        target,
        progress=job.progress,
        dist=job.dist,
        log=job.log,
        history=history,
        resume=job.resume,
    )


def _initial_model(cfg: Mapping[str, Any], splits: Splits, path: str | Path) -> DelaySNN:
    """The model of the checkpoint ``path`` (``init``), checked against the data."""
    model = model_from_checkpoint(
        path, dropout=cfg["model"]["dropout"], surrogate_alpha=cfg["model"]["surrogate_alpha"]
    )
    for key, value in model.state_dict().items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise DelaykitError(
                f"init {path}: state_dict['{key}'] holds {int((~torch.isfinite(value)).sum())} NaN or "
                f"infinite value(s); the checkpoint is damaged: train it again"
            )
    a = model.arch
    if a["n_inputs"] != splits.n_inputs or a["n_classes"] < splits.n_classes:
        raise DelaykitError(
            f"init {path}: the model has {a['n_inputs']} inputs / {a['n_classes']} classes but the "
            f"data have {splits.n_inputs} / {splits.n_classes}"
        )
    return model


def _save_trained(
    model: DelaySNN,
    history: list[dict[str, Any]],
    cfg: dict[str, Any],
    splits: Splits,
    out: Path,
    dist: Dist,
) -> None:
    """Final evaluation into the last epoch's record, then (rank 0) metrics, ``model.pt`` and plots."""
    if history:
        history[-1] = {**history[-1], **final_evaluation(model, cfg, splits, dist)}
        if dist.main:
            write_text_atomic(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    if not dist.main:
        return
    extra = {"data": {"files": splits.files, "window_steps": splits.window_steps}}
    ck = model_checkpoint(model, cfg, final_metrics(history), splits.class_names, extra)
    save_torch_atomic(ck, out / "model.pt")
    if cfg["train"]["plots"]:
        write_plots(out / "plots", history, model, cfg)


__all__ = ["resolve_config", "train_model"]
