"""Data-parallel training under torchrun (2 CPU processes, gloo) vs one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


def test_two_process_ddp_matches_single_process(tmp_path):
    from delaykit.data.synth import write_delay_task_pair
    from delaykit.train.run import train_model

    data = tmp_path / "data"
    write_delay_task_pair(data, n_train=96, n_test=40, seed=5)
    # dropout 0: dropout masks come from per-rank RNG streams and cannot match one process
    sets = ["model.dropout=0.0", "train.threads=1", "train.epochs=2"]
    single = train_model(
        "tiny", data, tmp_path / "single", progress=False, overrides=sets, log=lambda s: None
    )

    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "delaykit",
        "train",
        "--config",
        "tiny",
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--no-progress",
    ] + [x for s in sets for x in ("--set", s)]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote") == 1  # only rank 0 writes and reports

    hist = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # replicas stay identical: every epoch, each rank's parameters and buffers are compared
    # with rank 0's (broadcast) and the largest difference is recorded
    assert [h["replica_max_abs_diff"] for h in hist] == [0.0, 0.0]

    a = torch.load(single, weights_only=True)["state_dict"]
    b = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    # Same global batches and the same objective; what differs is float32 summation order
    # (loss and gradients summed per rank then all-reduced, BatchNorm statistics from
    # all-reduced sums instead of PyTorch's per-batch reduction). Over 12 Adam steps that
    # stays within 1e-4 absolute / 1e-3 relative on every tensor; a spike flipped by
    # rounding would show up as a much larger jump.
    for k in a:
        torch.testing.assert_close(b[k].double(), a[k].double(), rtol=1e-3, atol=1e-4, msg=k)
    ha = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    for x, y in zip(ha, hist):
        assert x["test_acc_rounded"] == y["test_acc_rounded"]
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-4)


def test_global_batches_split_across_ranks():
    from delaykit.train.data import GlobalBatchSampler

    one = list(GlobalBatchSampler(51, 8, shuffle=True, seed=1, epoch=3))
    parts = [
        list(GlobalBatchSampler(51, 8, shuffle=True, seed=1, epoch=3, rank=r, world=3)) for r in range(3)
    ]
    assert len(one) == 7 and all(len(p) == 7 for p in parts)
    for b, (p0, p1, p2) in zip(one, zip(*parts)):
        assert sorted(p0 + p1 + p2) == sorted(b)
    # resume: skipping batches gives the tail of the same sequence
    assert list(GlobalBatchSampler(51, 8, shuffle=True, seed=1, epoch=3, start=4)) == one[4:]
    assert list(GlobalBatchSampler(51, 8, shuffle=True, seed=1, epoch=4)) != one
    # a trailing batch too small for every rank to get a sample is dropped
    assert len(list(GlobalBatchSampler(17, 8, shuffle=False, world=2))) == 2
    assert len(list(GlobalBatchSampler(18, 8, shuffle=False, world=2))) == 3
