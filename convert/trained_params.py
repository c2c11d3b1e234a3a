"""The trained tensors of a model, independent of the file they came from.

:class:`Checkpoint` and its :class:`LayerParams` are what both readers produce (delaykit
checkpoints in :mod:`.checkpoint`, the paper's reference-code state dicts in
:mod:`.reference_code`) and what :mod:`.build` turns into a deployed network. The helpers
below read one tensor each and name the file and key when it is not what they expect.
torch is imported inside the helpers, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from delaykit.errors import FormatError


@dataclass
class LayerParams:
    """The trained tensors of one Dcls1d layer (float64 numpy, squeezed).

    weight: (out, in). positions: (out, in) DCLS P in steps. sig: (out, in) or None.
    conv_bias: (out,) or None. bn: dict with gamma, beta, mean, var (out,) and eps, or None.
    tau_steps: per-layer membrane tau in steps (scalar; ParametricLIF learns it).
    v_threshold: LIF threshold; None for the non-spiking readout.
    tau_syn, reset, leak: the contract's format-3 neuron fields (synaptic current time constant
    in steps or None, "value" | "subtract" reset, "euler" | "exact" leak); the defaults are the
    paper's LIF.
    """

    name: str
    weight: np.ndarray
    positions: np.ndarray
    sig: np.ndarray | None
    conv_bias: np.ndarray | None
    bn: dict[str, Any] | None
    tau_steps: float
    v_threshold: float | None
    v_reset: float = 0.0
    tau_syn: float | None = None
    reset: str = "value"
    leak: str = "euler"

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])


@dataclass
class Checkpoint:
    """A trained model, independent of where it came from.

    kind: "delaykit" or "reference". dt: step in seconds. kernel_size: K in steps.
    arch: the (resolved) architecture dict, with the keys of a delaykit checkpoint's ``arch``.
    sha256: of the source file. window_steps: input frames per sample.
    """

    path: str
    sha256: str
    kind: str
    dt: float
    kernel_size: int
    layers: list[LayerParams]
    arch: dict[str, Any]
    n_units: int
    channel_group: int
    window_steps: int
    readout: str = "softmax_sum"
    metrics: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [lay.n_out for lay in self.layers]


def to_numpy(t: Any, where: str) -> np.ndarray:
    """A tensor (or array) as a float64 numpy array; ``where`` names it in the error."""
    try:
        import torch  # torch only when a checkpoint is read

        if isinstance(t, torch.Tensor):
            return t.detach().to(torch.float64).cpu().numpy()
    except ImportError:  # pragma: no cover - torch is required to read checkpoints
        pass
    if isinstance(t, np.ndarray):
        return t.astype(np.float64)
    raise FormatError(f"{where}: expected a tensor, got {type(t).__name__}")


def is_tensor(v: Any) -> bool:
    """Whether ``v`` is a torch tensor."""
    import torch  # torch only when a checkpoint is read

    return isinstance(v, torch.Tensor)


def read_batchnorm(sd: Mapping[str, Any], prefix: str, n: int, eps: float, where: str) -> dict[str, Any]:
    """BatchNorm1d ``<prefix>.weight/bias/running_mean/running_var`` as gamma/beta/mean/var (n,)."""
    out: dict[str, Any] = {"eps": eps}
    for key, name in (
        ("weight", "gamma"),
        ("bias", "beta"),
        ("running_mean", "mean"),
        ("running_var", "var"),
    ):
        full = f"{prefix}.{key}"
        if full not in sd:
            raise FormatError(f"{where} lacks '{full}' (BatchNorm of a hidden layer)")
        v = to_numpy(sd[full], full).reshape(-1)
        if v.shape != (n,):
            raise FormatError(f"{where}['{full}'] has {v.shape[0]} values, expected {n}")
        out[name] = v
    if (out["var"] < 0).any():
        raise FormatError(f"{where}['{prefix}.running_var'] has negative entries")
    return out


def squeeze_weight(w: np.ndarray, where: str) -> np.ndarray:
    """A Dcls1d weight (out, in, 1) as (out, in)."""
    if w.ndim == 3 and w.shape[2] == 1:
        return w[:, :, 0]
    if w.ndim == 2:
        return w
    raise FormatError(
        f"{where} has shape {w.shape}; expected (out, in, 1) (Dcls1d with kernel_count=1). "
        "kernel_count > 1 (several taps per synapse) is not supported"
    )


def squeeze_positions(p: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Dcls1d positions P (1, out, in, 1) as (out, in), in steps."""
    if p.shape == (1, *shape, 1):
        return p[0, :, :, 0]
    if p.shape == shape:
        return p
    raise FormatError(f"{where} has shape {p.shape}; expected (1, {shape[0]}, {shape[1]}, 1)")
