"""Checkpoint builders and a numpy contract reference for the convert tests (test-only code).

The checkpoints hold real ``DCLS.Dcls1d`` state dicts (version 'gauss', as training leaves
them) with random weights, positions spread over the whole kernel and non-trivial BatchNorm
statistics, in both layouts delaykit reads: its own checkpoint (``delaykit.checkpoint``) and the
reference code's ``nn.Sequential`` state dict (``model.{i}.weight/P/SIG``, BatchNorm, LIF,
Dropout, ... in the order of Thvnvtos/SNN-delays ``snn_delays.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _dcls_layers(rng: np.random.Generator, sizes: tuple[int, ...], k: int, gain: float) -> list[Any]:
    import torch
    from DCLS.construct.modules import Dcls1d

    torch.manual_seed(int(rng.integers(1 << 30)))
    mods = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
        m = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=k, bias=False, version="gauss")
        with torch.no_grad():
            m.weight.copy_(torch.as_tensor(rng.normal(0, gain / np.sqrt(n_in), (n_out, n_in, 1))))
            lim = k // 2
            p = rng.uniform(-lim - 0.4, lim + 0.4, (1, n_out, n_in, 1))
            # a few exact half-integers to exercise round-half-to-even
            half = rng.random(p.shape) < 0.1
            p[half] = np.floor(p[half]) + 0.5
            m.P.copy_(torch.as_tensor(p))
            m.clamp_parameters()
            m.SIG.fill_(0.23)
        mods.append(m)
    return mods


def _bn_state(rng: np.random.Generator, n: int) -> dict[str, Any]:
    import torch

    return {
        "weight": torch.as_tensor(rng.uniform(0.5, 1.5, n), dtype=torch.float32),
        "bias": torch.as_tensor(rng.normal(0.0, 0.2, n), dtype=torch.float32),
        "running_mean": torch.as_tensor(rng.normal(0.1, 0.2, n), dtype=torch.float32),
        "running_var": torch.as_tensor(rng.uniform(0.2, 1.0, n), dtype=torch.float32),
        "num_batches_tracked": torch.tensor(100),
    }


def make_delaykit_checkpoint(
    path: str | Path,
    rng: np.random.Generator,
    sizes: tuple[int, ...] = (20, 16, 12, 5),
    *,
    k: int = 9,
    tau_steps: float = 1.005,
    batchnorm: bool = True,
    model: str = "learned",
    window_steps: int = 30,
    gain: float = 2.0,
    extra: dict[str, Any] | None = None,
    channel_group: int = 1,
) -> Path:
    """Write a delaykit checkpoint with real Dcls1d tensors; returns its path."""
    import torch

    if model == "none":
        k = 1
    mods = _dcls_layers(rng, sizes, k, gain)
    sd: dict[str, Any] = {}
    for i, m in enumerate(mods):
        for key, v in m.state_dict().items():
            sd[f"layers.{i}.{key}"] = v.detach().clone()
        if batchnorm and i < len(mods) - 1:
            for key, v in _bn_state(rng, m.out_channels).items():
                sd[f"bn.{i}.{key}"] = v
    ck = {
        "format": "delaykit.checkpoint",
        "format_version": 1,
        "arch": {
            "model": model,
            "n_inputs": sizes[0],
            "hidden": list(sizes[1:-1]),
            "n_classes": sizes[-1],
            "kernel_size": k,
            "tau_steps": tau_steps,
            "v_threshold": 1.0,
            "v_reset": 0.0,
            "readout_tau_steps": tau_steps,
            "batchnorm": batchnorm,
            "bn_eps": 1e-5,
            "dt": 0.01,
            "n_units": sizes[0] * channel_group,
            "channel_group": channel_group,
            "window_steps": window_steps,
            "readout": "softmax_sum",
        },
        "state_dict": sd,
        "config": {"seed": 0, "lr": 1e-3},
        "metrics": {"test_acc_float": 91.5, "test_acc_rounded": 90.25, "epoch": 3},
        "class_names": [f"class{c}" for c in range(sizes[-1])],
        "versions": {"torch": str(torch.__version__)},
    }
    if extra:
        ck.update(extra)
    p = Path(path)
    torch.save(ck, p)
    return p


def make_reference_state_dict(
    path: str | Path,
    rng: np.random.Generator,
    sizes: tuple[int, ...] = (20, 16, 12, 5),
    *,
    k: int = 25,
    gain: float = 2.0,
) -> Path:
    """Write ``torch.save(model.state_dict())`` laid out like the reference code's SnnDelays."""
    import torch
    from spikingjelly.activation_based import layer, neuron

    mods = _dcls_layers(rng, sizes, k, gain)
    seq: list[Any] = []
    for i, m in enumerate(mods):
        seq.append(m)
        if i < len(mods) - 1:
            bn = layer.BatchNorm1d(m.out_channels, step_mode="m")
            bn.load_state_dict(_bn_state(rng, m.out_channels))
            seq += [
                bn,
                neuron.LIFNode(tau=1.005, decay_input=False, step_mode="m"),
                layer.Dropout(0.4, step_mode="m"),
            ]
        else:
            seq.append(neuron.LIFNode(tau=1.005, v_threshold=1e9, decay_input=False, step_mode="m"))

    class SnnDelays(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = torch.nn.Sequential(*seq)

    p = Path(path)
    torch.save(SnnDelays().state_dict(), p)
    return p
