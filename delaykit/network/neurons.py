"""The contract's neuron models: their parameters, validation and dict form, in one place.

All times are in **steps** of ``Network.dt`` seconds. Per step (every membrane starts at
``v_reset`` and every current at 0 before step 0; ``I`` is the step's synaptic input, ``b`` the
layer's bias, ``k(tau)`` the fraction a state loses per step: ``1 / tau`` for ``leak="euler"``,
``1 - exp(-1 / tau)`` for ``leak="exact"``):

* :class:`LIF`: ``c = c + I``; ``h = v + (v_reset - v) * k(tau) + c + b``;
  ``s = h >= v_threshold``; on a spike ``v = v_reset`` (``reset="value"``), ``v = h -
  v_threshold`` (``"subtract"``) or ``v = h`` (``"none"``), else ``v = h``; then
  ``c = c - c * k(tau_syn)``.
* :class:`LI` (non-spiking readout): the same without the spike: ``v = h``; outputs ``v``.

With ``tau_syn=None`` (the default) there is no current state: ``c`` is the step's input ``I``
alone (spikingjelly's ``LIFNode`` with ``decay_input=False``, the paper's neuron). The defaults
(``tau_syn=None``, ``reset="value"``, ``leak="euler"``) are format versions 1 and 2; any other
value needs format version 3 (:func:`uses_v3`).

A new neuron kind (or a new parameter) is added here: its dataclass with ``validate`` and
``to_dict``, and an entry in :data:`NEURON_TYPES` (the ``kind`` stored in files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from delaykit.errors import DelaykitError
from delaykit.network.fields import field_error, scalar_or_vector, to_json_value

#: What a LIF neuron's membrane does on a spike (format version 3 for all but "value").
RESET_MODES: tuple[str, ...] = ("value", "subtract", "none")
#: How ``tau`` becomes a per-step decay (format version 3 for "exact").
LEAK_RULES: tuple[str, ...] = ("euler", "exact")


def _check_tau(tau: Any, where: str, name: str = "neuron.tau") -> float:
    """``tau`` as a float number of steps >= 1 (the paper uses 1.005 for SHD)."""
    try:
        value = float(tau)
    except (TypeError, ValueError):
        raise field_error(where, name, f"must be a finite number of steps >= 1, got {tau!r}") from None
    if not math.isfinite(value) or value < 1.0:
        raise field_error(where, name, f"must be a finite number of steps >= 1, got {tau}")
    return value


def _check_tau_syn(tau_syn: Any, where: str) -> float | None:
    return None if tau_syn is None else _check_tau(tau_syn, where, "neuron.tau_syn")


def _check_choice(value: Any, choices: tuple[str, ...], where: str, name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise field_error(where, name, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def decay_fraction(tau: float, leak: str = "euler") -> float:
    """``k(tau)``: the fraction of a state lost per step -- ``1 / tau`` (forward Euler, the
    paper's) or ``1 - exp(-1 / tau)`` (exact integration of ``dx/dt = -x / tau``)."""
    if leak == "exact":
        return -math.expm1(-1.0 / float(tau))
    return 1.0 / float(tau)


def _v3_dict(d: dict[str, Any], tau_syn: float | None, leak: str, reset: str | None = None) -> None:
    """Add the version-3 fields to a neuron's dict, only where they differ from the defaults
    (so a version-1/2 neuron's JSON stays byte for byte what it was)."""
    if tau_syn is not None:
        d["tau_syn"] = float(tau_syn)
    if reset is not None and reset != "value":
        d["reset"] = reset
    if leak != "euler":
        d["leak"] = leak


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire neuron, per step (see the module docstring).

    ``tau`` is in steps (seconds / dt) and must be >= 1 (the paper uses 1.005 for SHD).
    ``v_threshold`` and ``v_reset`` are scalars or per-neuron vectors.
    ``tau_syn``: synaptic current time constant in steps (>= 1), None for no current state.
    ``reset``: "value" (``v = v_reset``), "subtract" (``v = h - v_threshold``) or "none".
    ``leak``: "euler" (keeps ``1 - 1/tau`` per step) or "exact" (keeps ``exp(-1/tau)``).
    """

    tau: float
    v_threshold: float | np.ndarray = 1.0
    v_reset: float | np.ndarray = 0.0
    tau_syn: float | None = None
    reset: str = "value"
    leak: str = "euler"
    kind: ClassVar[str] = "lif"
    spiking: ClassVar[bool] = True

    def validate(self, n: int, where: str) -> LIF:
        """A checked copy for a layer of ``n`` neurons (vectors as float64); ``where`` names it."""
        tau = _check_tau(self.tau, where)
        th = scalar_or_vector(self.v_threshold, n, where, "neuron.v_threshold")
        rs = scalar_or_vector(self.v_reset, n, where, "neuron.v_reset")
        if np.any(np.asarray(th) <= np.asarray(rs)):
            raise field_error(where, "neuron.v_threshold", "must be greater than v_reset for every neuron")
        return LIF(
            tau=tau,
            v_threshold=th,
            v_reset=rs,
            tau_syn=_check_tau_syn(self.tau_syn, where),
            reset=_check_choice(self.reset, RESET_MODES, where, "neuron.reset"),
            leak=_check_choice(self.leak, LEAK_RULES, where, "neuron.leak"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form as stored in files; :func:`neuron_from_dict` reads it back."""
        d = {
            "kind": self.kind,
            "tau": float(self.tau),
            "v_threshold": to_json_value(self.v_threshold),
            "v_reset": to_json_value(self.v_reset),
        }
        _v3_dict(d, self.tau_syn, self.leak, self.reset)
        return d


@dataclass(frozen=True)
class LI:
    """Non-spiking leaky integrator (the readout); outputs its membrane every step.

    ``tau`` is in steps (seconds / dt), >= 1; ``tau_syn`` and ``leak`` as for :class:`LIF`.
    """

    tau: float
    v_reset: float | np.ndarray = 0.0
    tau_syn: float | None = None
    leak: str = "euler"
    kind: ClassVar[str] = "li"
    spiking: ClassVar[bool] = False
    reset: ClassVar[str] = "none"  # never spikes: the membrane is never reset

    def validate(self, n: int, where: str) -> LI:
        """A checked copy for a layer of ``n`` neurons (vectors as float64); ``where`` names it."""
        return LI(
            tau=_check_tau(self.tau, where),
            v_reset=scalar_or_vector(self.v_reset, n, where, "neuron.v_reset"),
            tau_syn=_check_tau_syn(self.tau_syn, where),
            leak=_check_choice(self.leak, LEAK_RULES, where, "neuron.leak"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form as stored in files; :func:`neuron_from_dict` reads it back."""
        d = {"kind": self.kind, "tau": float(self.tau), "v_reset": to_json_value(self.v_reset)}
        _v3_dict(d, self.tau_syn, self.leak)
        return d


Neuron = Union[LIF, LI]  # noqa: UP007 (a runtime alias; X | Y needs 3.10 at import)
NEURON_TYPES: dict[str, type] = {"lif": LIF, "li": LI}


def uses_v3(neuron: Neuron) -> bool:
    """True when ``neuron`` uses a field of format version 3 (a synaptic current, a reset other
    than to a value, the exact leak)."""
    return (
        neuron.tau_syn is not None or neuron.leak != "euler" or (neuron.spiking and neuron.reset != "value")
    )


def require_v2_neurons(net: Any, consumer: str) -> None:
    """Raise DelaykitError naming the layer and field if a neuron of ``net`` uses a field of
    format version 3, which ``consumer`` (an exporter or simulator of the version-1/2 neuron:
    no synaptic current, reset to a value, forward-Euler leak) cannot represent."""
    for layer in net.layers:
        n = layer.neuron
        if not uses_v3(n):
            continue
        field, value = (
            ("neuron.tau_syn", n.tau_syn)
            if n.tau_syn is not None
            else ("neuron.leak", n.leak)
            if n.leak != "euler"
            else ("neuron.reset", n.reset)
        )
        raise DelaykitError(
            f"layer {layer.name!r}: field '{field}' is {value!r}: {consumer} runs the neuron of "
            "format versions 1-2 only (no synaptic current, reset to v_reset, leak 1 - 1/tau); "
            "use delaykit's simulator, NIR, ONNX or the tables instead"
        )


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
