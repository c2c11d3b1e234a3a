"""Torch modules that NIR consumers lack, for their importers' node maps.

No public NIR importer executes ``nir.Delay``, and several have no ``nir.LI`` that reads
delaykit's readout as written. These modules fill the gap when a tool's importer is given a
node map (nirtorch-based importers: spikingjelly, snntorch, norse, sinabs, rockpool):

* :class:`StepDelay`: ``nir.Delay`` as a shift register, one call per time step. Element ``k``
  of the output is element ``k`` of the input ``steps[k]`` calls earlier (0 before the start).
* :class:`StepLI`: ``nir.LI`` ``tau dv/dt = (v_leak - v) + r I`` with forward Euler at step
  ``dt``: ``v += (v_leak - v) dt/tau + (r dt/tau) I``, starting at ``v_leak``; outputs ``v``.
  ``exact=True``: sinabs' and rockpool's convention, ``v += (v_leak - v)(1 - exp(-dt/tau)) + I``.
* :class:`SeqDelay`, :class:`SeqLI`: the same on a whole sequence, for tools whose modules
  take ``(batch * time, n)`` (sinabs' "squeeze" layers) or ``(batch, time, n)`` (rockpool).

Step modules follow nirtorch's state protocol: ``forward(x, state=None) -> (y, state)``.
This file imports only torch, numpy and nir, so it also runs by path in a tool's own
environment (``convert/nir_tool_run.py``), where delaykit is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["SeqDelay", "SeqLI", "StepDelay", "StepLI", "li_params"]


def li_params(node: Any, dt: float, exact: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decay, gain, ``v_leak``) of a ``nir.LI`` node at step ``dt``: forward Euler (decay
    ``dt/tau``, gain ``r dt/tau``) or, ``exact``, the convention of sinabs' and rockpool's
    layers (decay ``1 - exp(-dt/tau)``, unit gain whatever ``r`` says)."""
    tau = np.asarray(node.tau, dtype=np.float64).reshape(-1)
    r = np.asarray(node.r, dtype=np.float64).reshape(-1)
    v_leak = np.asarray(node.v_leak, dtype=np.float64).reshape(-1)
    if exact:
        return -np.expm1(-dt / tau), np.ones_like(tau), v_leak
    return dt / tau, r * dt / tau, v_leak


def _vec(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype)


class StepDelay(torch.nn.Module):
    """``nir.Delay`` as a per-step shift register (module docstring)."""

    def __init__(self, steps: np.ndarray):
        super().__init__()
        self.register_buffer("steps", torch.as_tensor(np.asarray(steps, dtype=np.int64)))
        self.depth = int(self.steps.max()) if self.steps.numel() else 0

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if self.depth == 0:
            return x, state
        if state is None or not isinstance(state, torch.Tensor):
            state = torch.zeros((self.depth, *x.shape), dtype=x.dtype)
        stacked = torch.cat([x.unsqueeze(0), state], dim=0)  # [0] = now, [d] = d steps ago
        idx = self.steps.expand(*x.shape).unsqueeze(0)
        y = torch.gather(stacked, 0, idx).squeeze(0)
        return y, stacked[:-1]


class StepLI(torch.nn.Module):
    """``nir.LI`` with forward Euler at step ``dt`` (module docstring)."""

    def __init__(self, node: Any, dt: float, dtype: torch.dtype = torch.float32, exact: bool = False):
        super().__init__()
        decay, gain, v_leak = li_params(node, dt, exact)
        self.register_buffer("decay", _vec(decay, dtype))
        self.register_buffer("gain", _vec(gain, dtype))
        self.register_buffer("v_leak", _vec(v_leak, dtype))

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if state is None or not isinstance(state, torch.Tensor):
            state = self.v_leak.expand(*x.shape).to(x.dtype)
        v = state + (self.v_leak - state) * self.decay + self.gain * x
        return v, v


def _as_btn(x: torch.Tensor, num_timesteps: int | None) -> tuple[torch.Tensor, bool]:
    """(batch, time, n) view of ``x``; True when it came squeezed as (batch * time, n)."""
    if x.dim() == 3:
        return x, False
    if num_timesteps is None:
        raise ValueError("a squeezed (batch*time, n) input needs num_timesteps")
    return x.reshape(-1, num_timesteps, x.shape[-1]), True


class SeqDelay(torch.nn.Module):
    """``nir.Delay`` on whole sequences, ``(batch, time, n)`` or squeezed ``(batch*time, n)``."""

    def __init__(self, steps: np.ndarray, num_timesteps: int | None = None):
        super().__init__()
        self.step = StepDelay(steps)
        self.num_timesteps = num_timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        btn, squeezed = _as_btn(x, self.num_timesteps)
        state, out = None, []
        for t in range(btn.shape[1]):
            y, state = self.step(btn[:, t], state)
            out.append(y)
        y = torch.stack(out, dim=1)
        return y.reshape(x.shape) if squeezed else y


class SeqLI(torch.nn.Module):
    """``nir.LI`` (forward Euler) on whole sequences, like :class:`SeqDelay`."""

    def __init__(
        self,
        node: Any,
        dt: float,
        num_timesteps: int | None = None,
        dtype: torch.dtype = torch.float32,
        exact: bool = False,
    ):
        super().__init__()
        self.step = StepLI(node, dt, dtype, exact)
        self.num_timesteps = num_timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        btn, squeezed = _as_btn(x, self.num_timesteps)
        state, out = None, []
        for t in range(btn.shape[1]):
            y, state = self.step(btn[:, t], state)
            out.append(y)
        y = torch.stack(out, dim=1)
        return y.reshape(x.shape) if squeezed else y
