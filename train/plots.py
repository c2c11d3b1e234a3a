"""Training plots (matplotlib, Agg): curves, learned-delay histograms, the σ schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from delaykit.fileio import atomic_path


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def write_plots(
    folder: str | Path, history: Sequence[Mapping[str, Any]], model: Any, cfg: Mapping[str, Any]
) -> list[Path]:
    """Write ``curves.png`` (loss and accuracy), ``delays.png`` (per layer) and ``sigma.png``.

    Returns the paths written. ``model`` is a DelaySNN (its rounded integer delays are shown).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from delaykit.train.config import sig_schedule

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    ep = [h["epoch"] for h in history]
    if history:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        a1.plot(ep, [h["train_loss"] for h in history], label="train")
        for key, lab in (
            ("test_loss_float", "test (training kernel)"),
            ("test_loss_rounded", "test (rounded delays)"),
        ):
            if key in history[0]:
                a1.plot(ep, [h[key] for h in history], label=lab)
        a1.set_xlabel("epoch")
        a1.set_ylabel("cross-entropy on sum of softmax")
        a1.legend()
        a2.plot(ep, [h["train_acc"] for h in history], label="train (batches, dropout)")
        for key, lab in (
            ("test_acc_float", "test, training kernel"),
            ("test_acc_rounded", "test, rounded integer delays"),
            ("valid_acc_rounded", "valid, rounded"),
            ("test_acc_quantized", "test, quantized"),
        ):
            if key in history[0]:
                a2.plot(ep, [h[key] for h in history], label=lab)
        a2.set_xlabel("epoch")
        a2.set_ylabel("accuracy (%)")
        a2.legend()
        fig.suptitle(f"delaykit train: {cfg.get('_name', '')} ({model.arch['model']} delays)")
        p = out / "curves.png"
        _save(fig, p)
        written.append(p)

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
    p = out / "delays.png"
    _save(fig, p)
    written.append(p)

    if history:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        planned = sig_schedule(cfg)
        ax.plot(range(1, len(planned) + 1), planned, "--", label="schedule")
        ax.plot(ep, [h["sigma"] for h in history], "o", ms=3, label="SIG after epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("SIG (steps); sigma_eff = SIG + 0.27")
        ax.legend()
        p = out / "sigma.png"
        _save(fig, p)
        written.append(p)
    return written
