"""Hardware-aware fine-tuning for a hardware target profile.

The trained model is changed into what the converter will deploy, and trained a little more
in that form so the deployed accuracy holds:

* **delays**: positions rounded half to even, clipped into the target's range
  ``[delay_min_steps, delay_max_steps]`` (``delaykit.hardware_targets.ranges.delay_range``: ``[0, 0]``
  for a target without native delays), then frozen; the kernel is one-hot (``SIG = 0``);
* **BatchNorm** folded with its running statistics (frozen): ``W' = W γ/√(σ²+ε)``,
  ``b = β − γμ/√(σ²+ε)`` (the converter's fold);
* **weights** fake-quantized like ``delaykit.convert.quantize.quantize_layer`` (signed
  ``bits``, one scale per layer ``s = max|W'| / (2^(bits-1) − 1)``, round half to even), with
  the bias and the threshold in the same integer units (``th_int = max(round(th/s), 1)``);
  gradients pass straight through the rounding (STE), the scale is not differentiated.

Reported side by side: float (training kernel), rounded (integer delays), rounded within the
target's range, quantized before fine-tuning (post-training quantization), quantized after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from delaykit.fileio import write_text_atomic
from delaykit.hardware_targets.ranges import delay_range, resolve_target
from delaykit.train.checkpoint import model_checkpoint, save_torch_atomic
from delaykit.train.data import Splits
from delaykit.train.dcls_kernel import rounded_delays
from delaykit.train.distributed import Dist
from delaykit.train.evaluation import evaluate_model, final_metrics
from delaykit.train.loop import run_training
from delaykit.train.model import DelaySNN
from delaykit.train.xylo import relay_count
from delaykit.train.xylo_fit import is_xylo


class FakeQuant:
    """Installs the deployment transform on a DelaySNN (kernel, BatchNorm and threshold hooks)."""

    def __init__(self, model: DelaySNN, bits: int | None) -> None:
        if bits is not None and not 2 <= int(bits) <= 32:
            raise ValueError(f"weight_bits: must be between 2 and 32, got {bits}")
        self.model = model
        self.bits = None if bits is None else int(bits)
        self.qmax = None if bits is None else 2 ** (int(bits) - 1) - 1
        self.scales: list[torch.Tensor | None] = [None] * model.n_layers

    @staticmethod
    def _fold_gain(m: DelaySNN, i: int) -> torch.Tensor | None:
        if m.bn is None or i >= m.n_layers - 1:
            return None
        bn = m.bn[i]
        return bn.weight / torch.sqrt(bn.running_var + bn.eps)

    def _q(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x + (torch.round(x / s) * s - x).detach()

    def kernel_hook(self, model: DelaySNN, i: int, k: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s kernel BN-folded and fake-quantized; sets its threshold in the same units."""
        g = self._fold_gain(model, i)
        kf = k if g is None else k * g[:, None, None]
        th = float(model.arch["v_threshold"])
        if self.qmax is None:
            self.scales[i] = None
            ths = th
        else:
            amax = kf.detach().abs().max()
            s = torch.where(amax > 0, amax / self.qmax, torch.ones_like(amax))
            self.scales[i] = s
            kf = self._q(kf, s)
            ths = float(max(torch.round(torch.tensor(th, dtype=s.dtype) / s).item(), 1.0) * s.item())
        if i < model.n_layers - 1:
            if model.thresholds is None:
                model.thresholds = [th] * (model.n_layers - 1)
            model.thresholds[i] = ths
        return kf

    def bn_hook(self, bn: torch.nn.BatchNorm1d, x: torch.Tensor, i: int) -> torch.Tensor:
        """BatchNorm as a bias (its gain is folded into the kernel), quantized with the layer's scale."""
        inv = torch.rsqrt(bn.running_var + bn.eps)
        b = bn.bias - bn.weight * bn.running_mean * inv
        s = self.scales[i]
        if s is not None:
            b = self._q(b, s)
        return x + b  # x: (batch x time, neurons)

    def install(self) -> None:
        """Hook the transform into the model."""
        m = self.model
        m.quantizer = self.kernel_hook
        m.bn_forward = self.bn_hook if m.bn is not None else None

    def remove(self) -> None:
        """Restore the model's own kernel, BatchNorm and thresholds."""
        m = self.model
        m.quantizer = None
        m.bn_forward = None
        m.thresholds = None


def fix_delays(model: DelaySNN, lo: int, hi: int) -> list[dict[str, int]]:
    """Round positions, clip the delays into ``[lo, hi]`` steps, freeze them (SIG = 0, one-hot kernel).

    Returns per-layer counts of clipped synapses.
    """
    k = model.kernel_size
    center = (k - 1) // 2
    hi_eff = min(int(hi), k - 1)
    lo_eff = min(max(int(lo), 0), hi_eff)
    records = []
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            d = rounded_delays(layer.P[0, ..., 0], k)
            dc = d.clamp(lo_eff, hi_eff)
            records.append({"layer": i, "clipped": int((dc != d).sum()), "max_delay": int(d.max())})
            layer.P[0, ..., 0] = (center - dc).to(layer.P.dtype)
            layer.P.requires_grad_(False)
            layer.SIG.zero_()
    model.kernel_version = "rounded"
    return records


def target_bits(t: Any, override: int | None) -> int | None:
    """Weight bits: the config's ``finetune.weight_bits``, else the target's (None = float)."""
    if override is not None:
        return int(override)
    fp = getattr(t, "fixed_point", None)
    if fp and fp.get("weight_bits"):
        return int(fp["weight_bits"])
    wb = getattr(t, "weight_bits", None)
    return int(wb) if wb else None


def finetune_for_target(
    model: DelaySNN,
    cfg: dict[str, Any],
    splits: Splits,
    out: Path,
    target: Any,
    *,
    progress: bool = True,
    dist: Dist | None = None,
    log: Callable[[str], None] = print,
    history: list[dict[str, Any]] | None = None,
    resume: bool = False,
) -> Path:
    """Fine-tune ``model`` for ``target``; write ``out/model.pt`` and ``finetune_report.json``.

    target: a profile name, a ``.toml`` path or a profile object. history: the training
    epochs (their last metrics go into the checkpoint). resume: continue the fine-tuning
    from ``out/resume_finetune.pt``. Returns the path of ``model.pt``.
    """
    dist = dist or Dist()
    t = resolve_target(target)
    lo, hi = finetune_delay_range(t, model)
    report: dict[str, Any] = {
        "target": str(getattr(t, "name", target)),
        "weight_bits": target_bits(t, cfg["finetune"]["weight_bits"]),
        "delay_range": [lo, hi],
        "quantization": "per-layer symmetric max-abs of BN-folded weights, round half to even",
    }
    if is_xylo(model.arch):
        report["delays_as"] = "relay chains in Xylo's recurrent core (one hidden neuron per relay)"
    acc = _test_accuracy(model, cfg, splits, dist)
    _deploy_in_place(model, report, acc)
    model.dropout = float(cfg["finetune"]["dropout"])
    bits = report["weight_bits"]
    log(
        f"fine-tuning for {report['target']}: delays clipped to {lo}..{hi} steps "
        f"({sum(r['clipped'] for r in report['delays'])} synapses clipped), weights "
        f"{'float' if bits is None else f'{bits}-bit'}"
    )
    model, ft_hist = run_training(
        cfg, splits, out, progress=progress, resume=resume, dist=dist, log=log, model=model, phase="finetune"
    )
    report["test_acc_quantized"] = acc(True)
    report["epochs"] = len(ft_hist)
    if is_xylo(model.arch):
        relays = relay_count([layer.weight.detach()[:, :, 0] for layer in model.layers], model.delays())
        report["relays_per_layer"] = relays
        report["hidden_neurons"] = sum(model.arch["hidden"]) + sum(relays)
    path = out / "model.pt"
    if dist.main:
        metrics = _finetuned_metrics(history or [], report, len(ft_hist))
        extra = {
            "finetune": {k: v for k, v in report.items() if not k.startswith("test_acc")},
            "data": {"files": splits.files, "window_steps": splits.window_steps},
        }
        save_torch_atomic(model_checkpoint(model, cfg, metrics, splits.class_names, extra), path)
        write_text_atomic(out / "finetune_report.json", json.dumps(report, indent=2) + "\n")
        log(format_finetune_report(report))
    return path


def finetune_delay_range(t: Any, model: DelaySNN) -> tuple[int, int]:
    """The delays (steps) a model may keep on target ``t``: the native range, or for a model
    trained with Xylo's neuron on a target without delays (Xylo) ``0..K-1``, realized as relay
    chains (the relay budget was checked against the hidden neurons before training)."""
    lo, hi = delay_range(t)
    if hi == 0 and is_xylo(model.arch):
        return 0, model.kernel_size - 1
    return lo, hi


def _test_accuracy(
    model: DelaySNN, cfg: dict[str, Any], splits: Splits, dist: Dist
) -> Callable[[bool], float]:
    """``acc(rounded)``: the test accuracy (%) of ``model`` as it is when called."""
    bs = int(cfg["train"]["eval_batch_size"])
    f64 = bool(cfg["train"]["eval_float64"])

    def acc(rounded: bool) -> float:
        return evaluate_model(model, splits.test, bs, rounded=rounded, dist=dist, float64=f64)["acc"]

    return acc


def _deploy_in_place(model: DelaySNN, report: dict[str, Any], acc: Callable[[bool], float]) -> None:
    """Fix the delays into the report's range and install the fake quantization, recording the
    test accuracy before and after each step in ``report``."""
    lo, hi = report["delay_range"]
    report["test_acc_float"] = acc(False)
    report["test_acc_rounded"] = acc(True)
    report["delays"] = fix_delays(model, lo, hi)
    report["test_acc_rounded_in_range"] = acc(True)
    FakeQuant(model, report["weight_bits"]).install()
    report["test_acc_quantized_before_finetune"] = acc(True)


def _finetuned_metrics(
    history: list[dict[str, Any]], report: dict[str, Any], finetune_epochs: int
) -> dict[str, Any]:
    """The fine-tuned checkpoint's metrics: training's last epoch plus the report's accuracies."""
    metrics = final_metrics(history)
    metrics.update({k: v for k, v in report.items() if k.startswith("test_acc")})
    metrics["epoch"] = int(metrics.get("epoch", 0))
    metrics["finetune_epochs"] = finetune_epochs
    return metrics


def format_finetune_report(r: dict[str, Any]) -> str:
    """The accuracies (%) of a fine-tuning report side by side, one line each."""
    rows = [
        ("float (training kernel)", "test_acc_float"),
        ("rounded integer delays", "test_acc_rounded"),
        (f"delays within {r['delay_range'][0]}..{r['delay_range'][1]}", "test_acc_rounded_in_range"),
        ("quantized, before fine-tuning", "test_acc_quantized_before_finetune"),
        (f"quantized, after {r.get('epochs', 0)} fine-tuning epochs", "test_acc_quantized"),
    ]
    bits = "float" if r["weight_bits"] is None else f"{r['weight_bits']}-bit weights"
    lines = [f"test accuracy for target {r['target']} ({bits}):"]
    lines += [f"  {label:38s} {r[key]:6.2f} %" for label, key in rows if key in r]
    if "relays_per_layer" in r:
        lines.append(
            f"  delay relays (Xylo): {sum(r['relays_per_layer'])} {r['relays_per_layer']} per layer's inputs; "
            f"{r['hidden_neurons']} hidden neurons with the network's own (max 1000)"
        )
    return "\n".join(lines)


__all__ = [
    "FakeQuant",
    "finetune_delay_range",
    "finetune_for_target",
    "fix_delays",
    "format_finetune_report",
    "target_bits",
]
