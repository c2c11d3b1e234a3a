"""Training plots (matplotlib, Agg): curves, learned-delay histograms, the σ schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.fileio import atomic_path
from delaykit.train.config import sig_schedule

_LOSS_CURVES = (
    ("test_loss_float", "test (training kernel)"),
    ("test_loss_rounded", "test (rounded delays)"),
)
_ACC_CURVES = (
    ("test_acc_float", "test, training kernel"),
    ("test_acc_rounded", "test, rounded integer delays"),
    ("valid_acc_rounded", "valid, rounded"),
    ("test_acc_quantized", "test, quantized"),
)


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib  # heavy: only when plots are written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(fig)


def write_plots(
    folder: str | Path, history: Sequence[Mapping[str, Any]], model: Any, cfg: Mapping[str, Any]
) -> list[Path]:
    """Write ``curves.png`` (loss and accuracy), ``delays.png`` (per layer) and ``sigma.png``.

    Returns the paths written. ``model`` is a DelaySNN (its rounded integer delays are shown).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if history:
        written.append(_plot_curves(out / "curves.png", history, model, cfg))
    written.append(_plot_delays(out / "delays.png", model))
    if history:
        written.append(_plot_sigma(out / "sigma.png", history, cfg))
    return written


def _plot_curves(
    path: Path, history: Sequence[Mapping[str, Any]], model: Any, cfg: Mapping[str, Any]
) -> Path:
    """Loss and accuracy (%) per epoch, train and test."""
    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    for key, lab in _LOSS_CURVES:
        if key in history[0]:
            a1.plot(ep, [h[key] for h in history], label=lab)
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy on sum of softmax")
    a1.legend()
    a2.plot(ep, [h["train_acc"] for h in history], label="train (batches, dropout)")
    for key, lab in _ACC_CURVES:
        if key in history[0]:
            a2.plot(ep, [h[key] for h in history], label=lab)
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    fig.suptitle(f"delaykit train: {cfg.get('_name', '')} ({model.arch['model']} delays)")
    _save(fig, path)
    return path


def _plot_delays(path: Path, model: Any) -> Path:
    """Histogram of the rounded integer delays (steps) of each layer."""
    plt = _pyplot()
    delays = [d.cpu().numpy() for d in model.delays()]
    k = model.kernel_size
    fig, axes = plt.subplots(1, len(delays), figsize=(3.6 * len(delays), 3.2), squeeze=False)
    for i, (ax, d) in enumerate(zip(axes[0], delays)):
        ax.hist(d.ravel(), bins=np.arange(k + 1) - 0.5, color="C0")
        ax.set_title(f"layer {i}: {d.shape[1]}→{d.shape[0]}")
        ax.set_xlabel("delay (steps)")
        ax.set_xlim(-0.5, k - 0.5)
    axes[0][0].set_ylabel("synapses")
    fig.suptitle("learned integer delays (rounded positions)", y=1.04)
    _save(fig, path)
    return path


def _plot_sigma(path: Path, history: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any]) -> Path:
    """The planned SIG schedule and the SIG (steps) after each epoch."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    planned = sig_schedule(cfg)
    ax.plot(range(1, len(planned) + 1), planned, "--", label="schedule")
    ax.plot([h["epoch"] for h in history], [h["sigma"] for h in history], "o", ms=3, label="SIG after epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("SIG (steps); sigma_eff = SIG + 0.27")
    ax.legend()
    _save(fig, path)
    return path
