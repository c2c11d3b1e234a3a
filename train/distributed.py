"""Data-parallel scale-out: the process group torchrun describes, synchronized BatchNorm.

Under ``torchrun`` (``WORLD_SIZE`` > 1) each rank joins the process group (gloo on CPU, nccl
on GPU); :class:`Dist` says which rank this process is and sums values over ranks. BatchNorm
statistics are computed over all ranks (:func:`sync_batchnorm`); every epoch the replicas
are compared with rank 0's (:func:`replica_max_abs_diff`). A single process gets ``Dist()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist
import torch.nn.functional as F

from delaykit.train.model import DelaySNN


@dataclass
class Dist:
    """This process's place in the data-parallel group (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and reports."""
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """``values`` summed element-wise over all ranks (float64)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return t.cpu().tolist()


def setup_distributed() -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE/RANK/MASTER_ADDR); else single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    use_cuda = torch.cuda.is_available() and os.environ.get("DELAYKIT_DDP_BACKEND", "") != "gloo"
    initialized_here = False
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
        initialized_here = True
    rank = tdist.get_rank()
    device = torch.device("cpu")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return Dist(rank=rank, world=tdist.get_world_size(), device=device, initialized_here=initialized_here)


def teardown_distributed(dist: Dist) -> None:
    """Leave the process group if :func:`setup_distributed` created it."""
    if dist.initialized_here:
        tdist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """y = sum over ranks of x; the gradient of x is the sum over ranks of dL/dy."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        tdist.all_reduce(y, op=tdist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        g = g.clone()
        tdist.all_reduce(g, op=tdist.ReduceOp.SUM)
        return g


def _synced_bn_forward(bn: torch.nn.BatchNorm1d, x: torch.Tensor, i: int) -> torch.Tensor:
    """BatchNorm of ``x (N, C)`` (N = batch x time on this rank) with statistics over all ranks."""
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


def sync_batchnorm(model: DelaySNN) -> None:
    """Make the model's BatchNorm use statistics over all ranks (torch's SyncBatchNorm is GPU-only)."""
    model.bn_forward = _synced_bn_forward  # type: ignore[attr-defined]


def replica_max_abs_diff(model: DelaySNN, dist: Dist) -> float:
    """Largest |difference| between this rank's parameters/buffers and rank 0's, over all ranks."""
    flat = torch.cat([v.detach().reshape(-1).to(torch.float64) for v in model.state_dict().values()])
    ref = flat.clone()
    tdist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1)
    tdist.all_reduce(diff, op=tdist.ReduceOp.MAX)
    return float(diff)


__all__ = ["Dist", "replica_max_abs_diff", "setup_distributed", "sync_batchnorm", "teardown_distributed"]
