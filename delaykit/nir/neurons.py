"""Neuron models between NIR and the deployed-network contract, both directions.

NIR is continuous-time (times in **seconds**); the contract's neurons count **steps** of
``dt``. Neurons are discretised with forward Euler, the convention of the NIR reference
simulators and of spikingjelly's / norse's NIR importers.

Import (:func:`map_neuron`, one function per NIR node type in ``_MAPPERS``):

* ``LIF`` ``tau dv/dt = (v_leak - v) + r I``  ->  ``v += (v_leak - v)/tau_steps + (r/tau_steps) I``
  with ``tau_steps = tau/dt``. The input gain ``g = r/tau_steps`` is folded into the incoming
  weights and bias, so ``r = tau/dt`` (spikingjelly ``decay_input=False``, delaykit's export)
  gives ``g = 1`` and ``r = 1`` (``decay_input=True``) gives ``g = 1/tau_steps``. The contract
  leaks towards ``v_reset``: a different ``v_leak`` becomes the extra constant current
  ``(v_leak - v_reset)/tau_steps`` in the layer's bias. ``tau`` must be one value per node
  (the contract has one tau per layer) and ``tau/dt >= 1``.
* ``IF`` ``dv/dt = r I`` -> no leak, gain ``g = r*dt`` (spikingjelly writes ``r = 1/dt``).
  The contract has no tau = infinity, so IF becomes ``LIF(tau = 2**64)``: with ``v_reset = 0``
  the leak ``-v/2**64`` is below half an ulp of ``v`` in float32 and float64 and the float
  update is bit-identical to ``v + I``; Loihi's 12-bit decay rounds it to ``dv = 0``. (A
  Xylo-style shift decay ``x - (x >> k)`` floors, so it still adds 1 per step to a negative
  integer membrane: no shift decay is leak-free for ``v < 0``.) A non-zero
  IF ``v_reset`` is removed by shifting the voltage (threshold ``th - v_reset``, reset 0),
  which is exact in real arithmetic and starts the membrane at the reset value.
* ``LI`` -> contract ``LI(tau_steps, v_reset=v_leak)`` with gain ``r/tau_steps``; ``I`` -> ``LI``
  with ``tau = 2**64``, ``v_reset = 0`` and gain ``r*dt``.
* ``CubaLIF`` / ``CubaLI``: the synaptic current ``tau_syn dI/dt = -I + w_in S``. With
  ``tau_syn = dt`` (within PARAM_RTOL) Euler gives ``I[t] = w_in S[t]`` exactly (the current
  lives one step and reaches the membrane on the same step, spikingjelly's ``CUBALIFNode``
  order), and the neuron is a LIF/LI with gain ``w_in*r/tau_mem_steps``. A longer ``tau_syn``
  is the contract's synaptic current (version 3, :func:`_cuba_v3`): ``LIF/LI(tau_syn =
  tau_syn/dt)`` with gain ``w_in*r/(tau_mem_steps*tau_syn_steps)``; a constant input (Affine
  bias) into it is refused (NIR integrates it in the current, the contract adds its bias to
  the membrane) -- delaykit's export writes the bias as ``v_leak`` instead.
* Initial state: NIR does not say; the contract (like spikingjelly) starts the membrane at
  ``v_reset`` (LIF, IF, CubaLIF), at ``v_leak`` (LI, CubaLI) and at 0 (I).
* Spikes: NIR's text says ``v > v_threshold``; the contract (spikingjelly, norse, Lava) fires
  at ``h >= v_threshold``. The two differ only when the membrane lands exactly on the
  threshold. ``strict_threshold=True`` realises ``>`` exactly in float64 by using
  ``nextafter(threshold, +inf)``.

Export (:func:`neuron_node`): a leak-free neuron (``tau >= 2**64`` steps, as IF and I import)
with ``v_reset = 0`` becomes ``IF(r = 1/dt)`` / ``I(r = 1/dt)`` (gain 1); hidden neurons become ``LIF(tau = tau_steps * dt s, r = tau_steps,
v_leak = v_reset, v_threshold, v_reset)``. With forward Euler at step dt this is exactly the
contract's ``h = v + (v_reset - v)/tau_steps + I``: ``r = tau/dt`` makes the input gain
``r dt/tau = 1`` (spikingjelly's ``decay_input=False``; its NIR importer accepts r = 1 or
r = tau/dt). The readout becomes ``LI(tau, r = tau_steps, v_leak = v_reset)`` (or ``LIF`` for a
spiking readout).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from delaykit.network import LI, LIF

from .fields import PARAM_RTOL, float32_decimal, node_error, snap, uniform, vector

#: tau (steps) used for leak-free neurons (IF, I): the leak is below half an ulp (module doc).
NO_LEAK_TAU_STEPS = 2.0**64


# ---- NIR -> contract ---------------------------------------------------------------------------


@dataclass
class NeuronMap:
    """A NIR neuron node as the contract's neuron plus what folds into the layer's synapses."""

    neuron: LIF | LI
    gain: np.ndarray  # per neuron, multiplies incoming weights and bias
    extra_bias: np.ndarray  # per neuron, added after the gain (leak offset)
    #: a synaptic current that outlasts one step (contract v3): a constant input (Affine bias)
    #: would pass through the current, the contract adds its bias to the membrane
    current_state: bool = False


@dataclass
class _Fields:
    """Reads one neuron node's fields for ``n`` neurons at step ``dt`` (seconds)."""

    name: str
    node: Any
    n: int
    dt: float
    strict_threshold: bool

    @property
    def kind(self) -> str:
        return type(self.node).__name__

    def vec(self, field_name: str, default: Any = None) -> np.ndarray:
        value = getattr(self.node, field_name, default)
        return vector(self.name, field_name, default if value is None else value, self.n)

    def tau_steps(self, field_name: str) -> float:
        """The node's one time constant in steps (>= 1)."""
        why = "the contract has one time constant per layer"
        tau = float32_decimal(uniform(self.name, field_name, self.vec(field_name), why))
        if not (math.isfinite(tau) and tau > 0):
            raise node_error(
                self.name, f"field {field_name!r} must be a positive number of seconds, got {tau}"
            )
        steps = snap(tau / self.dt)
        if steps < 1.0:
            raise node_error(
                self.name,
                f"{field_name} = {tau} s is shorter than one step (dt = {self.dt} s); forward Euler "
                "needs tau/dt >= 1",
            )
        return steps

    def threshold(self) -> np.ndarray:
        th = self.vec("v_threshold")
        if not np.isfinite(th).all():
            raise node_error(self.name, "v_threshold must be finite")
        return np.nextafter(th, np.inf) if self.strict_threshold else th

    def require_one_step_tau_syn(self) -> None:
        """A current-based node imports exactly only with ``tau_syn == dt`` (module doc)."""
        ts = self.vec("tau_syn")
        steps = ts / self.dt
        if not np.allclose(steps, 1.0, rtol=PARAM_RTOL, atol=0.0):
            k = int(np.argmax(np.abs(steps - 1.0)))
            raise node_error(
                self.name,
                f"{self.kind} with tau_syn = {float(ts[k])!r} s ({steps[k]:g} steps of dt = {self.dt} s): a "
                "synaptic current that outlasts one step is a second state variable the contract's "
                "neuron cannot hold; only tau_syn = dt (an instantaneous current) is imported exactly",
            )


def _snap_gain(g: np.ndarray) -> np.ndarray:
    g = g.copy()
    g[np.isclose(g, 1.0, rtol=PARAM_RTOL, atol=0.0)] = 1.0
    return g


def _lif(f: _Fields) -> NeuronMap:
    ts = f.tau_steps("tau")
    v_reset = f.vec("v_reset", 0.0)
    v_leak = f.vec("v_leak", 0.0)
    gain = _snap_gain(f.vec("r") / ts)
    neuron = LIF(tau=ts, v_threshold=f.threshold(), v_reset=v_reset)
    return NeuronMap(neuron, gain, (v_leak - v_reset) / ts)


def _tau_syn_steps(f: _Fields) -> float | None:
    """``tau_syn`` in steps for a current that outlasts one step (contract version 3), None for
    ``tau_syn == dt`` (within PARAM_RTOL: an instantaneous current, the version-1 neuron)."""
    steps = f.vec("tau_syn") / f.dt
    if np.allclose(steps, 1.0, rtol=PARAM_RTOL, atol=0.0):
        return None
    return f.tau_steps("tau_syn")


def _cuba_v3(f: _Fields, spiking: bool) -> NeuronMap:
    """CubaLIF / CubaLI with a current that outlasts one step, under forward Euler:
    ``I += (w_in S - I)/tau_syn_steps``, ``v += (v_leak - v)/tau_mem_steps + r I/tau_mem_steps``.
    With the contract's current ``c = r I / tau_mem_steps`` this is ``c = c (1 - 1/tau_syn) +
    g syn`` with gain ``g = w_in r / (tau_mem_steps tau_syn_steps)`` (delaykit's export writes
    ``r = tau_mem_steps``, ``w_in = tau_syn_steps``: g = 1); ``v_leak`` becomes the membrane
    bias ``(v_leak - v_reset)/tau_mem_steps``."""
    tm = f.tau_steps("tau_mem")
    ts = f.tau_steps("tau_syn")
    gain = _snap_gain(f.vec("w_in", 1.0) * f.vec("r") / (tm * ts))
    v_leak = f.vec("v_leak", 0.0)
    if spiking:
        v_reset = f.vec("v_reset", 0.0)
        neuron: LIF | LI = LIF(tau=tm, v_threshold=f.threshold(), v_reset=v_reset, tau_syn=ts)
        return NeuronMap(neuron, gain, (v_leak - v_reset) / tm, current_state=True)
    return NeuronMap(LI(tau=tm, v_reset=v_leak, tau_syn=ts), gain, np.zeros(f.n), current_state=True)


def check_current_bias(name: str, nm: NeuronMap, bias: np.ndarray) -> None:
    """Refuse a constant input (Affine bias) into a current that outlasts one step: it would be
    integrated by the current (NIR's semantics), while the contract's bias goes to the membrane."""
    if nm.current_state and np.any(bias != 0):
        raise node_error(
            name,
            "a constant input (Affine bias) into a synaptic current with tau_syn > dt cannot be "
            "imported exactly (the contract adds its bias to the membrane); put it in v_leak",
        )


def _cuba_lif(f: _Fields) -> NeuronMap:
    if _tau_syn_steps(f) is not None:
        return _cuba_v3(f, spiking=True)
    f.require_one_step_tau_syn()
    ts = f.tau_steps("tau_mem")
    v_reset = f.vec("v_reset", 0.0)
    v_leak = f.vec("v_leak", 0.0)
    gain = _snap_gain(f.vec("w_in", 1.0) * f.vec("r") / ts)
    neuron = LIF(tau=ts, v_threshold=f.threshold(), v_reset=v_reset)
    return NeuronMap(neuron, gain, (v_leak - v_reset) / ts)


def _if(f: _Fields) -> NeuronMap:
    v_reset = f.vec("v_reset", 0.0)
    th = f.threshold() - v_reset  # shift the voltage so that the reset is 0 (module doc)
    gain = _snap_gain(f.vec("r") * f.dt)
    return NeuronMap(LIF(tau=NO_LEAK_TAU_STEPS, v_threshold=th, v_reset=0.0), gain, np.zeros(f.n))


def _li(f: _Fields) -> NeuronMap:
    ts = f.tau_steps("tau")
    gain = _snap_gain(f.vec("r") / ts)
    return NeuronMap(LI(tau=ts, v_reset=f.vec("v_leak", 0.0)), gain, np.zeros(f.n))


def _cuba_li(f: _Fields) -> NeuronMap:
    if _tau_syn_steps(f) is not None:
        return _cuba_v3(f, spiking=False)
    f.require_one_step_tau_syn()
    ts = f.tau_steps("tau_mem")
    gain = _snap_gain(f.vec("w_in", 1.0) * f.vec("r") / ts)
    return NeuronMap(LI(tau=ts, v_reset=f.vec("v_leak", 0.0)), gain, np.zeros(f.n))


def _i(f: _Fields) -> NeuronMap:
    gain = _snap_gain(f.vec("r") * f.dt)
    return NeuronMap(LI(tau=NO_LEAK_TAU_STEPS, v_reset=0.0), gain, np.zeros(f.n))


#: NIR neuron node type -> its mapping onto the contract's neuron (see the module docstring).
_MAPPERS: dict[str, Callable[[_Fields], NeuronMap]] = {
    "LIF": _lif,
    "IF": _if,
    "LI": _li,
    "I": _i,
    "CubaLIF": _cuba_lif,
    "CubaLI": _cuba_li,
}
#: The NIR neuron node types the importer understands.
NEURON_TYPES = tuple(_MAPPERS)


def map_neuron(name: str, node: Any, n: int, dt: float, strict_threshold: bool) -> NeuronMap:
    """The contract neuron of NIR node ``name`` (``n`` neurons, step ``dt`` seconds)."""
    kind = type(node).__name__
    mapper = _MAPPERS.get(kind)
    if mapper is None:
        raise node_error(name, f"unsupported neuron type {kind}")
    return mapper(_Fields(name, node, n, dt, strict_threshold))


# ---- contract -> NIR ---------------------------------------------------------------------------


def _vec(v: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()


def affine_bias(neuron: LIF | LI, bias: np.ndarray) -> np.ndarray:
    """The bias the export writes into the Affine node: the layer's, or zeros for a neuron with
    a synaptic current (its bias goes to the membrane, written as ``v_leak``)."""
    return np.zeros_like(bias) if neuron.tau_syn is not None else bias


def neuron_node(
    neuron: LIF | LI, n_out: int, dt: float, r_convention: str, k: Any, membrane_bias: Any = None
) -> Any:
    """The ``nir.LIF`` / ``nir.LI`` node of a contract neuron (module docstring); a neuron with
    a synaptic current becomes ``nir.CubaLIF`` / ``nir.CubaLI``.

    dt: the step in seconds; r_convention: ``"tau"`` (``r = tau_steps``) or ``"one"`` (``r = 1``);
    k: the factor from the contract's units to real units (1.0, or the layer's weight_scale);
    membrane_bias: the layer's bias in real units, for a neuron with a synaptic current
    (written as ``v_leak = v_reset + bias * tau_steps``, see :func:`affine_bias`).
    """
    import nir  # optional extra ("export")

    tau_steps = float(neuron.tau)
    tau_s = _vec(tau_steps * dt, n_out)
    r = _vec(tau_steps if r_convention == "tau" else 1.0, n_out)
    v_reset = _vec(neuron.v_reset, n_out) * k
    if neuron.tau_syn is not None:
        return _cuba_node(neuron, n_out, dt, tau_s, r, v_reset, k, membrane_bias)
    if tau_steps >= NO_LEAK_TAU_STEPS and r_convention == "tau" and not v_reset.any():
        # no leak (an imported IF / I): NIR's own leak-free nodes, gain r * dt = 1
        r_if = _vec(1.0 / dt, n_out)
        if isinstance(neuron, LIF):
            return nir.IF(r=r_if, v_threshold=_vec(neuron.v_threshold, n_out) * k, v_reset=v_reset)
        return nir.I(r=r_if)
    if isinstance(neuron, LIF):
        return nir.LIF(
            tau=tau_s,
            r=r,
            v_leak=v_reset.copy(),
            v_threshold=_vec(neuron.v_threshold, n_out) * k,
            v_reset=v_reset,
        )
    return nir.LI(tau=tau_s, r=r, v_leak=v_reset)


def _cuba_node(
    neuron: LIF | LI,
    n_out: int,
    dt: float,
    tau_s: np.ndarray,
    r: np.ndarray,
    v_reset: np.ndarray,
    k: Any,
    membrane_bias: Any,
) -> Any:
    """``nir.CubaLIF`` / ``nir.CubaLI`` with ``tau_syn = tau_syn_steps * dt`` and
    ``w_in = tau_syn_steps`` (gain 1 under forward Euler, see :func:`_cuba_v3`)."""
    import nir  # optional extra ("export")

    ts = float(neuron.tau_syn)  # type: ignore[arg-type]
    bias = _vec(0.0 if membrane_bias is None else membrane_bias, n_out)
    fields = {
        "tau_syn": _vec(ts * dt, n_out),
        "tau_mem": tau_s,
        "r": r,
        "v_leak": v_reset + bias * float(neuron.tau),
        "w_in": _vec(ts, n_out),
    }
    if isinstance(neuron, LIF):
        return nir.CubaLIF(**fields, v_threshold=_vec(neuron.v_threshold, n_out) * k, v_reset=v_reset)
    return nir.CubaLI(**fields)
