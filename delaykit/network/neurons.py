"""The contract's neuron models: their parameters, validation and dict form, in one place.

All times are in **steps** of ``Network.dt`` seconds. Per step (spikingjelly ``LIFNode`` with
``decay_input=False``; every membrane starts at ``v_reset`` before step 0):

* :class:`LIF`: ``h = v + (v_reset - v) / tau + I``; ``s = h >= v_threshold``;
  ``v = v_reset if s else h``.
* :class:`LI` (non-spiking readout): ``v = v + (v_reset - v) / tau + I``; outputs ``v``.

A new neuron kind (or a new parameter) is added here: its dataclass with ``validate`` and
``to_dict``, and an entry in :data:`NEURON_TYPES` (the ``kind`` stored in files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from delaykit.network.fields import field_error, scalar_or_vector, to_json_value


def _check_tau(tau: Any, where: str) -> float:
    """``tau`` as a float number of steps >= 1 (the paper uses 1.005 for SHD)."""
    value = float(tau)
    if not math.isfinite(value) or value < 1.0:
        raise field_error(where, "neuron.tau", f"must be a finite number of steps >= 1, got {tau}")
    return value


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire neuron with hard reset, per step (see the module docstring).

    ``tau`` is in steps (seconds / dt) and must be >= 1 (the paper uses 1.005 for SHD).
    ``v_threshold`` and ``v_reset`` are scalars or per-neuron vectors.
    """

    tau: float
    v_threshold: float | np.ndarray = 1.0
    v_reset: float | np.ndarray = 0.0
    kind: ClassVar[str] = "lif"
    spiking: ClassVar[bool] = True

    def validate(self, n: int, where: str) -> LIF:
        """A checked copy for a layer of ``n`` neurons (vectors as float64); ``where`` names it."""
        tau = _check_tau(self.tau, where)
        th = scalar_or_vector(self.v_threshold, n, where, "neuron.v_threshold")
        rs = scalar_or_vector(self.v_reset, n, where, "neuron.v_reset")
        if np.any(np.asarray(th) <= np.asarray(rs)):
            raise field_error(where, "neuron.v_threshold", "must be greater than v_reset for every neuron")
        return LIF(tau=tau, v_threshold=th, v_reset=rs)

    def to_dict(self) -> dict[str, Any]:
        """JSON form as stored in files; :func:`neuron_from_dict` reads it back."""
        return {
            "kind": self.kind,
            "tau": float(self.tau),
            "v_threshold": to_json_value(self.v_threshold),
            "v_reset": to_json_value(self.v_reset),
        }


@dataclass(frozen=True)
class LI:
    """Non-spiking leaky integrator (the readout); outputs its membrane every step.

    ``tau`` is in steps (seconds / dt), >= 1.
    """

    tau: float
    v_reset: float | np.ndarray = 0.0
    kind: ClassVar[str] = "li"
    spiking: ClassVar[bool] = False

    def validate(self, n: int, where: str) -> LI:
        """A checked copy for a layer of ``n`` neurons (vectors as float64); ``where`` names it."""
        tau = _check_tau(self.tau, where)
        return LI(tau=tau, v_reset=scalar_or_vector(self.v_reset, n, where, "neuron.v_reset"))

    def to_dict(self) -> dict[str, Any]:
        """JSON form as stored in files; :func:`neuron_from_dict` reads it back."""
        return {"kind": self.kind, "tau": float(self.tau), "v_reset": to_json_value(self.v_reset)}


Neuron = Union[LIF, LI]  # noqa: UP007 (a runtime alias; X | Y needs 3.10 at import)
NEURON_TYPES: dict[str, type] = {"lif": LIF, "li": LI}


def validate_neuron(neuron: Any, n: int, where: str) -> Neuron:
    """Check that ``neuron`` is a contract neuron and return its validated copy for ``n`` neurons."""
    if not isinstance(neuron, (LIF, LI)):
        raise field_error(where, "neuron", f"must be LIF or LI, got {type(neuron).__name__}")
    return neuron.validate(n, where)


def neuron_from_dict(d: Mapping[str, Any], where: str = "neuron") -> Neuron:
    """Build a neuron from its ``to_dict`` form; unknown kinds raise ValueError."""
    kind = d.get("kind")
    cls = NEURON_TYPES.get(str(kind))
    if cls is None:
        raise field_error(
            where, "neuron.kind", f"unknown neuron kind {kind!r}; known: {sorted(NEURON_TYPES)}"
        )
    kwargs = {
        k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v)
        for k, v in d.items()
        if k != "kind"
    }
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise field_error(where, "neuron", f"bad parameters for {kind!r}: {e}") from None
