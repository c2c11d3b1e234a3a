"""Time one training step (forward, backward, Adam) of the SHD-size delay SNN.

Network: 140 -> 256 -> 256 -> 20, K = 25, batch 64, T = 100 steps.
Three implementations are timed in the same run, on the same inputs:

* ``dense``: a plain dense-conv PyTorch implementation: each layer is ``conv1d`` with a full
  learnable (out, in, K) weight, BatchNorm, a per-step Python LIF loop through autograd with
  the ATan surrogate (the baseline the ratio is measured against);
* ``reference``: the paper's code path: dcls ``Dcls1d(version='gauss')`` + spikingjelly
  ``LIFNode``/``BatchNorm1d``/``Dropout`` modules (multi-step);
* ``delaykit``: ``delaykit.train.model.DelaySNN`` as ``delaykit train`` runs it: DCLS kernel
  built once per layer and step by a numba kernel with an analytic backward, LIF forward and
  surrogate backward as numba kernels over (batch x neuron) rows, fused Adam; fp32 with the
  delay convolution ``train.delay_conv = "auto"`` picks per layer (``delaykit_auto``, the
  default) and forced dense (``delaykit_dense``, the path before the spectral one); with bf16
  autocast (``train.bf16``) only where the CPU has native bf16 (elsewhere training warns and
  runs fp32, so there is nothing else to time).

The dense and reference stacks use torch's default Adam, as their code does. Each delaykit
path's gradients are checked against the dense path's on the same batch before timing.

Prints where it ran, the median seconds per step of each, the speed-up ratios against the
dense baseline and the paper's stack, and an estimate of one full SHD training run (150 epochs
x 8,156 samples at this batch size) from the measured step, evaluation and data-loading times.
Usage::

    .venv/bin/python benchmarks/bench_train_step.py [--threads 2] [--repeats 7] [--batch 64] [--steps 100]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

# OpenMP threads sleep while waiting, as `delaykit train` sets it (train/cpu.py); for every
# implementation alike, before torch starts OpenMP. OMP_WAIT_POLICY=ACTIVE in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import machine  # noqa: E402  benchmarks/machine.py: where the figures were measured
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


class _DenseLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):  # heaviside with ATan surrogate
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return g * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


class DenseConvSNN(nn.Module):
    """Baseline: dense conv1d weights (out, in, K), BN, per-step LIF loop through autograd."""

    def __init__(self, sizes: list[int], k: int, tau: float = 1.005, dropout: float = 0.4) -> None:
        super().__init__()
        self.k, self.tau, self.p = k, tau, dropout
        self.convs = nn.ModuleList(nn.Conv1d(a, b, k, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm1d(b) for b in sizes[1:-1])

    def _lif(self, x: torch.Tensor, th: float) -> tuple[torch.Tensor, torch.Tensor]:
        v = torch.zeros_like(x[:, :, 0])
        spikes, vs = [], []
        for t in range(x.shape[2]):
            h = v - v / self.tau + x[:, :, t]
            s = _DenseLIF.apply(h - th, 5.0)
            v = h * (1 - s.detach())
            spikes.append(s)
            vs.append(v)
        return torch.stack(spikes, 2), torch.stack(vs, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, T, C)
        h = x.transpose(1, 2)
        pad = (self.k - 1, (self.k - 1) // 2)
        for i, conv in enumerate(self.convs):
            cur = conv(F.pad(h, pad))
            if i < len(self.convs) - 1:
                s, _ = self._lif(self.bns[i](cur), 1.0)
                h = s * F.dropout(torch.ones_like(s[:, :, :1]), self.p, self.training)
            else:
                _, out = self._lif(cur, 1e9)
        return out


def reference_model(sizes: list[int], k: int):
    """The paper's module stack: dcls Dcls1d(gauss) + spikingjelly BN/LIF/Dropout."""
    from DCLS.construct.modules import Dcls1d
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dcls = nn.ModuleList(
                Dcls1d(a, b, kernel_count=1, dilated_kernel_size=k, bias=False, version="gauss")
                for a, b in zip(sizes[:-1], sizes[1:])
            )
            for m in self.dcls:
                m.SIG.requires_grad_(False)
                with torch.no_grad():
                    m.SIG.fill_(k // 2)
            self.bns = nn.ModuleList(layer.BatchNorm1d(b, step_mode="m") for b in sizes[1:-1])
            kw = dict(
                tau=1.005,
                surrogate_function=surrogate.ATan(alpha=5.0),
                detach_reset=True,
                step_mode="m",
                decay_input=False,
                store_v_seq=True,
            )
            self.lifs = nn.ModuleList(neuron.LIFNode(v_threshold=1.0, **kw) for _ in sizes[1:-1])
            self.out_lif = neuron.LIFNode(v_threshold=1e9, **kw)
            self.drops = nn.ModuleList(layer.Dropout(0.4, step_mode="m") for _ in sizes[1:-1])

        def forward(self, x):  # (B, T, C) -> (T, B, C)
            x = x.permute(1, 0, 2)
            for i, conv in enumerate(self.dcls):
                x = x.permute(1, 2, 0)
                x = F.pad(x, (k - 1, (k - 1) // 2))
                x = conv(x).permute(2, 0, 1)
                if i < len(self.dcls) - 1:
                    x = self.bns[i](x.unsqueeze(3)).squeeze(3)
                    x = self.drops[i](self.lifs[i](x))
                else:
                    self.out_lif(x)
                    x = self.out_lif.v_seq
            return x

        def clear_state(self):
            functional.reset_net(self)

    return Ref()


class Runner:
    """One implementation: a model, its optimizers and a per-step reset."""

    def __init__(self, model: nn.Module, opts: list[torch.optim.Optimizer], reset=None) -> None:
        self.model, self.opts, self.reset = model, opts, reset
        self.times: list[float] = []

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        from delaykit.train.model import loss_fn

        self.model.train()
        t0 = time.perf_counter()
        for o in self.opts:
            o.zero_grad(set_to_none=True)
        loss = loss_fn(self.model(x), y)
        loss.backward()
        for o in self.opts:
            o.step()
        if self.reset is not None:
            self.reset()
        return time.perf_counter() - t0


def _arch(hidden: list[int], k: int, steps: int) -> dict:
    return dict(
        model="learned",
        n_inputs=140,
        hidden=hidden,
        n_classes=20,
        kernel_size=k,
        tau_steps=1.005,
        v_threshold=1.0,
        v_reset=0.0,
        readout_tau_steps=1.005,
        batchnorm=True,
        bn_eps=1e-5,
        dt=0.01,
        n_units=700,
        channel_group=5,
        window_steps=steps,
        readout="softmax_sum",
    )


def _delaykit_runners(arch: dict, x: torch.Tensor, y: torch.Tensor) -> dict[str, Runner]:
    """delaykit's paths: auto (the default), forced dense, bf16 where native; gradients checked."""
    from delaykit.train.cpu import native_bf16
    from delaykit.train.model import build_model

    paths = [("delaykit_dense", "dense", False), ("delaykit_auto", "auto", False)]
    if native_bf16():
        paths.append(("delaykit_bf16", "dense", True))
    else:
        print("delaykit_bf16: not timed (no native bf16 here: train.bf16=true warns and runs fp32)")
    runners, grads = {}, {}
    for name, mode, bf16 in paths:
        m = build_model(arch, seed=0, dropout=0.0)
        m.conv_mode, m.bf16 = mode, bf16
        torch.manual_seed(1)
        loss_fn_value(m, x, y).backward()
        grads[name] = [p.grad.clone() for p in m.weight_parameters() + m.position_parameters()]
        m.zero_grad(set_to_none=True)
        m.dropout = 0.4
        opts = [
            torch.optim.Adam(m.weight_parameters() + m.bn_parameters(), 1e-3, fused=True),
            torch.optim.Adam(m.position_parameters(), 0.1, fused=True),
        ]
        runners[name] = Runner(m, opts, m.clamp_positions)
    for name, g in grads.items():
        rel = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(g, grads["delaykit_dense"]))
        print(
            f"{name}: gradients (W, P of every layer) vs the dense path: max |diff| / max |grad| = {rel:.1e}"
        )
    return runners


def loss_fn_value(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The paper's loss of ``model`` on one batch (training mode)."""
    from delaykit.train.model import loss_fn

    model.train()
    return loss_fn(model(x), y)


def _eval_seconds(runner: Runner, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of one evaluation forward pass (no_grad, both kernel modes) on ``x``."""
    m = runner.model
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            m.eval()
            m(x)
            with m.rounded():
                m(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _load_seconds(batch: int, steps: int) -> tuple[float, float]:
    """(binning seconds per sample, seconds per cached batch) for SHD-like samples (~4000 events)."""
    import numpy as np

    from delaykit.data.shd import BinSpec, bin_events

    rng = np.random.default_rng(0)
    spec = BinSpec(dt=0.01, channel_group=5, window_steps=steps)
    samples = [(np.sort(rng.uniform(0, steps * 0.01, 4000)), rng.integers(0, 700, 4000)) for _ in range(50)]
    t0 = time.perf_counter()
    for t, u in samples:
        bin_events(t, u, 700, spec, steps)
    per_sample = (time.perf_counter() - t0) / len(samples)
    cache = torch.randint(0, 4, (8156, steps, 140), dtype=torch.int16)
    t0 = time.perf_counter()
    for _ in range(20):
        idx = torch.randint(0, 8156, (batch,))
        cache[idx].to(torch.float32)
    return per_sample, (time.perf_counter() - t0) / 20


def _print_time_to_result(
    results: dict[str, float], args: argparse.Namespace, eval_s: dict[str, float]
) -> None:
    """One full SHD run (150 epochs x 8,156 train samples, 2,264 test samples evaluated twice per
    epoch at batch 256) from the measured per-step, evaluation and loading times. The reference
    stack's evaluation is taken as delaykit's dense one (it was not timed)."""
    bin_s, batch_s = _load_seconds(args.batch, args.steps)
    steps_per_epoch = math.ceil(8156 / args.batch)
    eval_batches = math.ceil(2264 / 256)
    once = (8156 + 2264) * bin_s  # binning into the in-memory cache, once per run
    print(
        f"estimated SHD run, 150 epochs x {steps_per_epoch} steps of batch {args.batch}, "
        f"{args.threads} threads (data: binning {1e3 * bin_s:.2f} ms/sample once, "
        f"{1e3 * batch_s:.1f} ms per cached batch; eval: test set, float + rounded, batch 256):"
    )
    for name in ("delaykit_dense", "delaykit_auto", "reference"):
        if name not in results:
            continue
        ev = eval_s.get(name, eval_s["delaykit_dense"]) * eval_batches
        epoch = steps_per_epoch * (results[name] + batch_s) + ev
        total = once + 150 * epoch
        label = {"delaykit_dense": "before (dense conv)", "delaykit_auto": "after (auto)"}.get(name, name)
        print(f"  {label:20s} {epoch:7.1f} s/epoch ({ev:5.1f} s eval)  {total / 3600:6.2f} h")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--skip-reference", action="store_true", help="do not time the dcls+spikingjelly stack")
    ap.add_argument("--skip-dense", action="store_true", help="do not time the plain dense-conv baseline")
    args = ap.parse_args()
    from delaykit.train.cpu import keep_freed_memory
    from delaykit.train.kernels import set_threads

    set_threads(args.threads)
    print(machine.describe(), flush=True)  # after the thread count is set
    print(
        f"glibc keeps freed memory (as delaykit train sets it, for every implementation): {keep_freed_memory()}"
    )
    torch.manual_seed(0)
    k = 25
    sizes = [140, args.hidden, args.hidden, 20]
    x = torch.poisson(torch.full((args.batch, args.steps, 140), 0.3))
    y = torch.randint(0, 20, (args.batch,))
    runners: dict[str, Runner] = {}
    if not args.skip_dense:
        dense = DenseConvSNN(sizes, k)
        runners["dense"] = Runner(dense, [torch.optim.Adam(dense.parameters(), 1e-3)])
    if not args.skip_reference:
        ref = reference_model(sizes, k)
        opts = [
            torch.optim.Adam(
                [p for n, p in ref.named_parameters() if not n.endswith(".P") and p.requires_grad], 1e-3
            ),
            torch.optim.Adam([m.P for m in ref.dcls], 0.1),
        ]
        runners["reference"] = Runner(ref, opts, ref.clear_state)
    runners.update(_delaykit_runners(_arch(sizes[1:-1], k, args.steps), x, y))

    # The machine is shared: run the implementations round-robin so that load changes hit
    # them alike, after one warm-up step each (allocators, oneDNN primitives, numba JIT).
    for r in runners.values():
        r.step(x, y)
    for _ in range(args.repeats):
        for r in runners.values():
            r.times.append(r.step(x, y))
    results = {name: statistics.median(r.times) for name, r in runners.items()}
    _print_results(results, args, k)
    xe = torch.poisson(torch.full((256, args.steps, 140), 0.3))
    eval_s = {n: _eval_seconds(runners[n], xe, 3) for n in ("delaykit_dense", "delaykit_auto")}
    _print_time_to_result(results, args, eval_s)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def _print_results(results: dict[str, float], args: argparse.Namespace, k: int) -> None:
    print(
        f"one training step, 140-{args.hidden}-{args.hidden}-20, K={k}, batch {args.batch}, T={args.steps}, "
        f"{args.threads} threads, median of {args.repeats} (interleaved):"
    )
    bases = [(n, results[n]) for n in ("dense", "reference") if n in results]
    for name, t in results.items():
        ratios = "   ".join(f"vs {b} {bt / t:5.2f}x" for b, bt in bases)
        print(f"  {name:15s} {t:7.3f} s/step   {ratios}")


if __name__ == "__main__":
    main()
