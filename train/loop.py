"""The training loop: the paper's optimisation, exact resume, data-parallel scale-out.

Per epoch (Thvnvtos/SNN-delays ``Model.train_model``): for every batch, loss = cross-entropy
on ``sum_t softmax(v_t)``, one step of the weight optimizer (Adam, weight decay on the
synaptic weights only, BatchNorm without) and of the position optimizer (Adam, 100× lr, no
decay), then positions clamped to ``[-K//2, K//2]``. After the epoch: both schedulers step
(one-cycle / cosine over the epochs), SIG is annealed, and the test set (and the validation
set when there is one) is evaluated twice: with the training kernel (``*_float``) and with
one-hot rounded integer delays (``*_rounded``, what a deployed network computes).

Outputs in ``out_dir``: ``model.pt`` (interface A, rewritten after every epoch),
``resume.pt`` (optimizer/scheduler/RNG state, after every epoch and every
``train.checkpoint_every_steps`` steps), ``metrics.jsonl`` (one line per epoch),
``config.toml`` (resolved), ``plots/*.png``.

Resume: ``resume=True`` loads ``resume.pt`` and continues from the exact batch where it was
written. On CPU with a fixed seed and thread count the result is bit-identical to an
uninterrupted run (tests/test_train_loop.py kills a run mid-epoch and compares).

Scale-out: under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (gloo on CPU, nccl on GPU); each rank takes its share of every
global batch (``train.batch_size`` is global), BatchNorm statistics are synchronized over
ranks, and only rank 0 writes files.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from delaykit.errors import DelaykitError
from delaykit.fileio import write_text_atomic
from delaykit.train import config as C
from delaykit.train.checkpoint import (
    RESUME_FORMAT,
    load_checked,
    model_checkpoint,
    plain,
    save_torch_atomic,
)
from delaykit.train.data import GlobalBatchSampler, Splits, load_splits, make_loader
from delaykit.train.model import DelaySNN, build_model, sum_softmax


class StopTraining(Exception):
    """Raised by the ``stop_after_steps`` hook (tests simulate a killed run with it)."""


# --------------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.cpu().tolist()


def setup_distributed() -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE/RANK/MASTER_ADDR); else single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and os.environ.get("DELAYKIT_DDP_BACKEND", "") != "gloo"
    initialized_here = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        initialized_here = True
    rank = dist.get_rank()
    device = torch.device("cpu")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return Dist(rank=rank, world=dist.get_world_size(), device=device, initialized_here=initialized_here)


def _sync_batchnorm(model: DelaySNN) -> None:
    """Make the model's BatchNorm use statistics over all ranks (torch's SyncBatchNorm is GPU-only)."""
    import torch.distributed as dist

    class _AllReduceSum(torch.autograd.Function):
        # y = sum over ranks of x; the gradient of x is the sum over ranks of dL/dy
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            y = x.clone()
            dist.all_reduce(y, op=dist.ReduceOp.SUM)
            return y

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            g = g.clone()
            dist.all_reduce(g, op=dist.ReduceOp.SUM)
            return g

    def bn_forward(bn: torch.nn.BatchNorm1d, x: torch.Tensor, i: int) -> torch.Tensor:
        # x: (N, C) with N = batch x time on this rank
        if not bn.training:
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        c = x.shape[1]
        n_local = torch.tensor([float(x.shape[0])], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(0), (x * x).sum(0), n_local])
        stats = _AllReduceSum.apply(stats)
        s1, s2, n = stats[:c], stats[c : 2 * c], stats[2 * c]
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            m = bn.momentum
            bn.running_mean.mul_(1 - m).add_(m * mean.detach())
            bn.running_var.mul_(1 - m).add_(m * var.detach() * (n / (n - 1)).detach())
            bn.num_batches_tracked.add_(1)
        y = (x - mean) * torch.rsqrt(var + bn.eps)
        return y * bn.weight + bn.bias

    model.bn_forward = bn_forward  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def make_arch(cfg: Mapping[str, Any], splits: Splits) -> dict[str, Any]:
    """The interface-A ``arch`` dict for a config and its data."""
    m, d = cfg["model"], cfg["data"]
    return {
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
    }


def _adam(groups: list[dict[str, Any]], **kw: Any) -> torch.optim.Optimizer:
    """Adam with the fused implementation (one kernel for all tensors; the default multi-tensor
    path costs more than the whole LIF on a loaded 2-core machine). Same update rule."""
    try:
        return torch.optim.Adam(groups, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch or unsupported device
        return torch.optim.Adam(groups, **kw)


def make_optimizers(
    model: DelaySNN,
    cfg: Mapping[str, Any],
    *,
    lr_w: float | None = None,
    max_lr_w: float | None = None,
    epochs: int | None = None,
    positions: bool = True,
) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """[Adam(weights + BN)] (+ [Adam(positions)]) and their per-epoch schedulers (reference optimizers())."""
    t = cfg["train"]
    lr_w = t["lr_w"] if lr_w is None else lr_w
    max_lr_w = t["max_lr_w"] if max_lr_w is None else max_lr_w
    epochs = t["epochs"] if epochs is None else epochs
    groups = [{"params": model.weight_parameters(), "lr": lr_w, "weight_decay": t["weight_decay"]}]
    if model.bn is not None:
        groups.append({"params": model.bn_parameters(), "lr": lr_w, "weight_decay": 0.0})
    opts: list[torch.optim.Optimizer] = [_adam(groups)]
    scheds: list[Any] = []

    def sched(opt: torch.optim.Optimizer, kind: str, max_lr: float) -> None:
        if kind == "one_cycle":
            scheds.append(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs))
        elif kind == "cosine":
            scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs))

    sched(opts[0], t["scheduler_w"], max_lr_w)
    pos = model.position_parameters() if positions else []
    if pos:
        opts.append(_adam([{"params": pos}], lr=t["lr_pos"], weight_decay=0.0))
        sched(opts[1], t["scheduler_pos"], t["max_lr_pos"])
    return opts, scheds


def anneal_sigma(model: DelaySNN, cfg: Mapping[str, Any], epoch: int, epochs: int) -> None:
    """Reference ``decrease_sig`` ('exp'): SIG *= (sig_final / sig_init) ** (1 / final_epoch)."""
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


@torch.no_grad()
def evaluate(
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
    from tqdm import tqdm

    dist = dist or Dist()
    if float64 and model.layers[0].weight.dtype != torch.float64:
        model = copy.deepcopy(model).double()
    was_training = model.training
    model.eval()
    old_mode = model.kernel_mode
    model.kernel_mode = "rounded" if rounded else "train"
    n = len(ds)
    sampler = GlobalBatchSampler(n, batch_size, shuffle=False)
    batches = sampler.global_batches()[dist.rank :: dist.world]
    loss_sum = correct = count = 0.0
    preds: list[int] = []
    try:
        for idx in tqdm(batches, desc=desc, disable=not progress, leave=False, unit="batch"):
            x, y = ds.batch(idx) if hasattr(ds, "batch") else _collate_idx(ds, idx)
            out = model(x.to(dist.device))
            m = sum_softmax(out)
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


def replica_max_abs_diff(model: DelaySNN, dist: Dist) -> float:
    """Largest |difference| between this rank's parameters/buffers and rank 0's, over all ranks."""
    import torch.distributed as tdist

    flat = torch.cat([v.detach().reshape(-1).to(torch.float64) for v in model.state_dict().values()])
    ref = flat.clone()
    tdist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1)
    tdist.all_reduce(diff, op=tdist.ReduceOp.MAX)
    return float(diff)


def _collate_idx(ds: Any, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    from delaykit.train.data import collate

    return collate([ds[i] for i in idx])


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


@dataclass
class RunState:
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    epoch_seconds: float = 0.0


def _resume_dict(
    model: DelaySNN,
    opts: list[Any],
    scheds: list[Any],
    st: RunState,
    history: list[dict[str, Any]],
    cfg: Mapping[str, Any],
    phase: str,
) -> dict[str, Any]:
    return {
        "format": RESUME_FORMAT,
        "phase": phase,
        "state": plain(st.__dict__),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizers": [plain(o.state_dict()) for o in opts],
        "schedulers": [plain(s.state_dict()) for s in scheds],
        "rng": torch.get_rng_state(),
        "history": plain(history),
        "config": plain(dict(cfg)),
    }


def _same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    diffs = []
    for section in C.DEFAULTS:
        for k in C.DEFAULTS[section]:
            if k in ("threads", "plots", "workers", "cache") and section in ("train", "data"):
                continue
            if section == "train" and k == "epochs":
                continue
            if a[section].get(k) != b[section].get(k):
                diffs.append(f"{section}.{k}: {b[section].get(k)!r} -> {a[section].get(k)!r}")
    return diffs


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

    ``phase="finetune"`` is used by hardware-aware fine-tuning (fixed positions, its own lrs).
    """
    from tqdm import tqdm

    dist = dist or Dist()
    t = cfg["train"]
    from delaykit.train.kernels import set_threads

    set_threads(int(t["threads"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = make_arch(cfg, splits)
    epochs = int(t["epochs"]) if phase == "train" else int(cfg["finetune"]["epochs"])
    torch.manual_seed(int(t["seed"]))
    if model is None:
        model = build_model(
            arch,
            seed=int(t["seed"]),
            dropout=cfg["model"]["dropout"],
            surrogate_alpha=cfg["model"]["surrogate_alpha"],
            init_pos=cfg["model"]["init_pos"],
        )
    model.bf16 = bool(t["bf16"])
    model.to(dist.device)
    if phase == "train":
        opts, scheds = make_optimizers(model, cfg)
    else:
        f = cfg["finetune"]
        opts, scheds = make_optimizers(
            model, cfg, lr_w=f["lr_w"], max_lr_w=f["max_lr_w"], epochs=epochs, positions=False
        )
    history: list[dict[str, Any]] = []
    st = RunState()
    resume_path = out_dir / ("resume.pt" if phase == "train" else f"resume_{phase}.pt")
    if resume:
        if not resume_path.exists():
            raise DelaykitError(f"--resume: {resume_path} not found; start the run without --resume")
        rs = load_checked(resume_path, RESUME_FORMAT)
        diffs = _same_config(cfg, rs["config"])
        if diffs:
            raise DelaykitError(
                f"--resume: the config differs from the interrupted run's ({'; '.join(diffs)}); "
                f"resume with the same config or start a new --out"
            )
        model.load_state_dict(rs["state_dict"])
        for o, s in zip(opts, rs["optimizers"]):
            o.load_state_dict(s)
        for sc, s in zip(scheds, rs["schedulers"]):
            sc.load_state_dict(s)
        torch.set_rng_state(rs["rng"])
        st = RunState(**rs["state"])
        history = list(rs["history"])
        log(f"resumed from {resume_path}: epoch {st.epoch}, step {st.step_in_epoch} of the epoch")
    elif dist.world > 1:
        # rank-specific dropout streams, identical parameters (build_model is seeded)
        torch.manual_seed(int(t["seed"]) * 1000 + dist.rank)

    net: torch.nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if model.bn is not None and model.bn_forward is None:
            _sync_batchnorm(model)
        net = DDP(
            model,
            device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
            broadcast_buffers=False,
        )

    metrics_path = out_dir / ("metrics.jsonl" if phase == "train" else f"metrics_{phase}.jsonl")
    n_train = len(splits.train)
    world = dist.world
    for epoch in range(st.epoch, epochs):
        st.epoch = epoch
        sampler = GlobalBatchSampler(
            n_train,
            t["batch_size"],
            shuffle=True,
            seed=int(t["seed"]),
            epoch=epoch,
            rank=dist.rank,
            world=world,
            start=st.step_in_epoch,
        )
        global_sizes = [len(b) for b in sampler.global_batches()]
        loader = make_loader(splits.train, sampler, workers=int(cfg["data"]["workers"]))
        model.train()
        t0 = time.perf_counter()
        bar = tqdm(
            total=len(global_sizes),
            initial=st.step_in_epoch,
            desc=f"{phase} epoch {epoch + 1}/{epochs}",
            disable=not (progress and dist.main),
            unit="batch",
            leave=False,
        )
        for x, y in loader:
            n_global = global_sizes[st.step_in_epoch]
            x, y = x.to(dist.device), y.to(dist.device)
            for o in opts:
                o.zero_grad(set_to_none=True)
            out = net(x)
            m = sum_softmax(out)
            ce = F.cross_entropy(m, y, reduction="sum")
            (ce * (world / n_global)).backward()
            for o in opts:
                o.step()
            model.clamp_positions()
            with torch.no_grad():
                st.loss_sum += float(ce)
                st.correct += float((m.argmax(1) == y).sum())
                st.count += len(y)
            st.step_in_epoch += 1
            st.global_step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{st.loss_sum / max(st.count, 1):.3f}")
            if stop_after_steps is not None and st.global_step >= stop_after_steps:
                bar.close()
                raise StopTraining(f"stopped after {st.global_step} steps")
            every = int(t["checkpoint_every_steps"])
            if every > 0 and st.global_step % every == 0 and dist.main:
                st.epoch_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                save_torch_atomic(_resume_dict(model, opts, scheds, st, history, cfg, phase), resume_path)
        bar.close()
        st.epoch_seconds += time.perf_counter() - t0
        for s in scheds:
            s.step()
        if phase == "train":
            anneal_sigma(model, cfg, epoch, epochs)
        loss_sum, correct, count = dist.all_sum([st.loss_sum, st.correct, st.count])
        rec: dict[str, Any] = {
            "epoch": epoch + 1,
            "phase": phase,
            "sigma": model.sigma(),
            "lr_w": opts[0].param_groups[0]["lr"],
            "lr_pos": opts[1].param_groups[0]["lr"] if len(opts) > 1 else 0.0,
            "train_loss": loss_sum / max(count, 1),
            "train_acc": 100.0 * correct / max(count, 1),
            "train_seconds": st.epoch_seconds,
        }
        t1 = time.perf_counter()
        ev_bs = int(t["eval_batch_size"])
        for split_name, ds in (("test", splits.test), ("valid", splits.valid)):
            if ds is None:
                continue
            kinds = (("float", False), ("rounded", True)) if phase == "train" else (("quantized", True),)
            for kind, rounded in kinds:
                r = evaluate(
                    model,
                    ds,
                    ev_bs,
                    rounded=rounded,
                    dist=dist,
                    progress=progress and dist.main,
                    desc=f"{split_name} {kind}",
                    float64=False,
                )
                rec[f"{split_name}_loss_{kind}"] = r["loss"]
                rec[f"{split_name}_acc_{kind}"] = r["acc"]
        if t["eval_train"]:
            r = evaluate(model, splits.train, ev_bs, rounded=True, dist=dist, float64=False)
            rec["train_acc_rounded_eval"] = r["acc"]
        rec["eval_seconds"] = time.perf_counter() - t1
        if dist.world > 1:
            rec["replica_max_abs_diff"] = replica_max_abs_diff(model, dist)
        history.append(rec)
        st = RunState(epoch=epoch + 1, step_in_epoch=0, global_step=st.global_step)
        if dist.main:
            log(_epoch_line(rec, epochs))
            write_text_atomic(metrics_path, "".join(json.dumps(h) + "\n" for h in history))
            save_torch_atomic(_resume_dict(model, opts, scheds, st, history, cfg, phase), resume_path)
    return model, history


def _epoch_line(rec: Mapping[str, Any], epochs: int) -> str:
    s = f"[{rec['phase']}] epoch {rec['epoch']}/{epochs}  loss {rec['train_loss']:.3f}  train {rec['train_acc']:.2f}%"
    if "test_acc_float" in rec:
        s += f"  test float {rec['test_acc_float']:.2f}%  rounded {rec['test_acc_rounded']:.2f}%"
    if "test_acc_quantized" in rec:
        s += f"  quantized {rec['test_acc_quantized']:.2f}%"
    if "valid_acc_rounded" in rec:
        s += f"  valid rounded {rec['valid_acc_rounded']:.2f}%"
    return s + f"  sigma {rec['sigma']:.3f}  ({rec['train_seconds']:.1f}s + {rec['eval_seconds']:.1f}s eval)"


def final_evaluation(model: DelaySNN, cfg: Mapping[str, Any], splits: Splits, dist: Dist) -> dict[str, Any]:
    """Test (and validation) accuracies of the final model, float and rounded, in the precision
    ``train.eval_float64`` asks for (float64: the simulator's float64 arithmetic gives the same)."""
    f64 = bool(cfg["train"]["eval_float64"])
    rec: dict[str, Any] = {"eval_precision": "float64" if f64 else "float32"}
    for split_name, ds in (("test", splits.test), ("valid", splits.valid)):
        if ds is None:
            continue
        for kind, rounded in (("float", False), ("rounded", True)):
            r = evaluate(
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
    from delaykit.train.checkpoint import model_from_checkpoint

    if isinstance(config, Mapping):
        cfg = copy.deepcopy(dict(config))
        for item in overrides or []:
            k, v = item.split("=", 1)
            C.set_value(cfg, k.strip(), C.parse_value(v.strip()), f"--set {item}")
        C.validate(cfg)
    else:
        cfg = C.load_config(config, overrides or [])
    out = Path(out_dir)
    dist = setup_distributed()
    say = log or (print if dist.main else (lambda s: None))
    threads_before = torch.get_num_threads()
    try:
        if dist.main:
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "config.toml", C.to_toml(cfg))
        splits = load_splits(cfg, data_dir, progress=progress and dist.main)
        if init is not None:
            model = model_from_checkpoint(
                init, dropout=cfg["model"]["dropout"], surrogate_alpha=cfg["model"]["surrogate_alpha"]
            )
            _check_init_matches(model, splits, init)
            history: list[dict[str, Any]] = []
        else:
            model, history = run_training(
                cfg,
                splits,
                out,
                progress=progress,
                resume=resume,
                stop_after_steps=stop_after_steps,
                dist=dist,
                log=say,
            )
        model_path = out / "model.pt"
        extra = {"data": {"files": splits.files, "window_steps": splits.window_steps}}
        if init is None and history:
            history[-1] = {**history[-1], **final_evaluation(model, cfg, splits, dist)}
            if dist.main:
                write_text_atomic(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        if dist.main and init is None:
            ck = model_checkpoint(model, cfg, final_metrics(history), splits.class_names, extra)
            save_torch_atomic(ck, model_path)
            if cfg["train"]["plots"]:
                from delaykit.train.plots import write_plots

                write_plots(out / "plots", history, model, cfg)
        if finetune:
            from delaykit.train.finetune import finetune_for_target

            if target is None:
                raise DelaykitError("--finetune needs --target NAME (a hardware target profile)")
            if dist.main and init is None:
                os.replace(model_path, out / "model_pretrained.pt")
            model_path = finetune_for_target(
                model,
                cfg,
                splits,
                out,
                target,
                progress=progress,
                dist=dist,
                log=say,
                history=history,
                resume=resume,
            )
        return model_path
    finally:
        torch.set_num_threads(threads_before)  # train.threads applies to this call only
        if dist.initialized_here:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _check_init_matches(model: DelaySNN, splits: Splits, path: str | Path) -> None:
    a = model.arch
    if a["n_inputs"] != splits.n_inputs or a["n_classes"] < splits.n_classes:
        raise DelaykitError(
            f"--init {path}: the model has {a['n_inputs']} inputs / {a['n_classes']} classes but the "
            f"data have {splits.n_inputs} / {splits.n_classes}"
        )


__all__ = [
    "StopTraining",
    "evaluate",
    "final_metrics",
    "make_arch",
    "make_optimizers",
    "run_training",
    "train_model",
]
