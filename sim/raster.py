"""Raster plot of one sample: input counts, each spiking layer's spikes, the output trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.fileio import atomic_path
from delaykit.network import Network

from .evaluate import simulate


def plot_raster(
    net: Network,
    frames: np.ndarray,
    out: str | Path,
    *,
    engine: str = "event",
    arithmetic: Arithmetic | None = None,
    label: int | None = None,
    title: str = "",
) -> Path:
    """Simulate ``frames`` (T, n_in) and write a PNG to ``out`` (atomically); x axes in ms."""
    import matplotlib  # third-party, only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = simulate(net, frames, engine=engine, arithmetic=arithmetic)
    dt_ms = net.dt * 1e3
    panels = 2 + len(res.spikes)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 2.2 * panels), sharex=True, constrained_layout=True)
    t_in, c_in = np.nonzero(np.asarray(frames))
    axes[0].scatter(t_in * dt_ms, c_in, s=12, c=np.asarray(frames)[t_in, c_in], cmap="viridis", marker="|")
    axes[0].set_ylabel("input channel")
    axes[0].set_title(f"input: {t_in.size} nonzero bins")
    spiking = [la for la in net.layers if la.neuron.spiking]
    for ax, layer, s in zip(axes[1:-1], spiking, res.spikes, strict=True):
        t, j = np.nonzero(s)
        ax.scatter(t * dt_ms, j, s=12, c="k", marker="|", linewidths=0.8)
        ax.set_ylabel(f"{layer.name}\nneuron")
        ax.set_title(f"{layer.name}: {t.size} spikes")
    ax = axes[-1]
    steps = np.arange(res.output.shape[0]) * dt_ms
    for c in range(res.output.shape[1]):
        lw = 2.0 if c == res.prediction else 0.6
        ax.plot(steps, res.output[:, c], lw=lw, label=f"class {c}" if c in (res.prediction, label) else None)
    if res.readout_offset:
        ax.axvline(res.readout_offset * dt_ms, color="grey", ls=":", lw=1)
    ax.set_ylabel("output" + (" spikes" if net.layers[-1].neuron.spiking else " membrane"))
    ax.set_xlabel("time (ms)")
    ax.set_title(
        f"output: predicted {res.prediction}"
        + (f", label {label}" if label is not None else "")
        + f" ({net.readout})"
    )
    ax.legend(loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
