"""A layer's parameters in an arithmetic's representation: what both engines step with.

:mod:`delaykit.arithmetic` re-exports :class:`LayerConstants` and :func:`layer_constants`; the
number formats are described there and in docs/design.md ("Number formats").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from delaykit.fixed_decay import RESET_CODES
from delaykit.network import LIF, Layer, decay_fraction

if TYPE_CHECKING:
    from delaykit.arithmetic import Arithmetic

# ---- per-layer constants shared by both engines -------------------------------------------


@dataclass(frozen=True)
class LayerConstants:
    """A layer's parameters in the arithmetic's representation (both engines use these).

    Fixed point: ``weight`` int64, ``bias``/``threshold``/``reset`` int64 in membrane units
    (already shifted), ``decay_param`` as :meth:`Arithmetic.decay_param`.
    Float: ``weight`` float64 holding F-rounded values, ``bias`` float64 holding F(b),
    ``threshold``/``reset`` in F, ``tau`` in F.
    ``out_scale`` (out,) float64 turns the membrane into real units.
    Version-3 neurons: ``has_current`` (a synaptic current state, ``tau_syn`` set),
    ``syn_decay_param`` (fixed point, :meth:`Arithmetic.current_decay_param`), the float leaks
    as ``x + (target - x) / leak`` when ``*_leak_div`` (forward Euler: ``leak = F(tau)``) else
    ``x + (target - x) * leak`` (exact: ``leak = F(1 - exp(-1/tau))``), and ``reset_mode``
    (:data:`RESET_CODES`).
    """

    weight: np.ndarray
    bias: np.ndarray
    threshold: np.ndarray
    reset: np.ndarray
    tau: float
    decay_param: int
    spiking: bool
    out_scale: np.ndarray
    has_current: bool = False
    syn_decay_param: int = 0
    mem_leak: float = 1.0
    mem_leak_div: bool = True
    syn_leak: float = 1.0
    syn_leak_div: bool = True
    reset_mode: int = 0
    leak: str = "euler"
    tau_syn: float | None = None


def _as_vector(v: float | np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return np.full(n, float(a)) if a.ndim == 0 else a.astype(np.float64)


def _integer_vector(v: float | np.ndarray, n: int, where: str, name: str) -> np.ndarray:
    a = _as_vector(v, n)
    if not np.all(a == np.round(a)) or np.abs(a).max() >= 2.0**52:
        raise ValueError(
            f"{where}: field '{name}': fixed-point arithmetic needs integer values "
            f"(in the weights' integer units); quantize with 'delaykit convert --target'"
        )
    return a.astype(np.int64)


def _check_weight_bits(w: np.ndarray, arith: Arithmetic, where: str) -> None:
    bits = arith.weight_bits
    if bits is None:
        return
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    nz = w[w != 0]
    if nz.size == 0:
        return
    if not arith.weight_exponent:
        if nz.min() < lo or nz.max() > hi:
            raise ValueError(
                f"{where}: field 'weight': values {int(nz.min())}..{int(nz.max())} do not fit "
                f"{bits}-bit signed weights of {arith.name}; quantize with "
                f"'delaykit convert --target'"
            )
        return
    # mantissa * 2**e with one exponent e >= 0 per layer (Loihi's weight_exp)
    e = 0
    while nz.min() < (lo << e) or nz.max() > (hi << e):
        e += 1
    if np.any(nz % (1 << e)):
        raise ValueError(
            f"{where}: field 'weight': values {int(nz.min())}..{int(nz.max())} need exponent "
            f"{e} but are not multiples of 2**{e}: not representable as {bits}-bit mantissa "
            f"x 2**exp on {arith.name}; quantize with 'delaykit convert --target'"
        )


def layer_constants(layer: Layer, arith: Arithmetic) -> LayerConstants:
    """Convert a layer's parameters for ``arith``; raise ValueError naming the field when they
    cannot be represented (float weights in fixed point, weights beyond ``weight_bits``)."""
    where = f"layer {layer.name!r}"
    n = layer.n_out
    neuron = layer.neuron
    spiking = isinstance(neuron, LIF)
    th = neuron.v_threshold if isinstance(neuron, LIF) else 0.0
    scale = (layer.weight_scale if layer.weight_scale is not None else np.ones(n)).astype(np.float64)
    if arith.is_fixed:
        if not layer.is_integer:
            raise ValueError(
                f"{where}: field 'weight': float weights cannot run in fixed-point arithmetic "
                f"{arith.name!r}; quantize with 'delaykit convert --target'"
            )
        w = layer.weight.astype(np.int64)
        _check_weight_bits(w, arith, where)
        ws, ts = arith.weight_shift, arith.threshold_shift
        reset = _integer_vector(neuron.v_reset, n, where, "neuron.v_reset") << ws
        if arith.membrane_bits is not None:
            lim = (1 << (arith.membrane_bits - 1)) - 1
            if np.abs(reset).max() > lim:
                raise ValueError(
                    f"{where}: field 'neuron.v_reset': beyond the {arith.membrane_bits}-bit membrane"
                )
        thr = (
            (_integer_vector(th, n, where, "neuron.v_threshold") << ts) if spiking else np.zeros(n, np.int64)
        )
        bias = np.array(layer.bias, dtype=np.int64) << ws
        return LayerConstants(
            weight=w,
            bias=bias,
            threshold=thr,
            reset=reset,
            tau=float(neuron.tau),
            decay_param=arith.decay_param(neuron.tau, neuron.leak),
            spiking=spiking,
            out_scale=scale / float(1 << ws),
            syn_decay_param=arith.current_decay_param(neuron.tau_syn, neuron.leak),
            **_v3_constants(neuron, np.float64),
        )
    f = arith.float_dtype
    w = layer.weight.astype(f).astype(np.float64)
    bias = np.array(layer.bias, dtype=f).astype(np.float64)
    return LayerConstants(
        weight=w,
        bias=bias,
        threshold=_as_vector(th, n).astype(f),
        reset=_as_vector(neuron.v_reset, n).astype(f),
        tau=float(f(neuron.tau)),
        decay_param=0,
        spiking=spiking,
        out_scale=scale,
        **_v3_constants(neuron, f),
    )


def _float_leak(tau: float, leak: str, f: type) -> tuple[float, bool]:
    """(leak constant, divide?) of a float decay: ``F(tau)`` divided (forward Euler, today's
    operation, bit for bit) or ``F(1 - exp(-1/tau))`` multiplied (exact)."""
    if leak == "euler":
        return float(f(tau)), True
    return float(f(decay_fraction(tau, leak))), False


def _v3_constants(neuron: Any, f: type) -> dict[str, Any]:
    """The version-3 fields of :class:`LayerConstants` for ``neuron`` (float type ``f``)."""
    mem_leak, mem_div = _float_leak(neuron.tau, neuron.leak, f)
    ts = neuron.tau_syn
    syn_leak, syn_div = _float_leak(ts, neuron.leak, f) if ts is not None else (1.0, True)
    return {
        "has_current": ts is not None,
        "mem_leak": mem_leak,
        "mem_leak_div": mem_div,
        "syn_leak": syn_leak,
        "syn_leak_div": syn_div,
        "reset_mode": RESET_CODES[neuron.reset],
        "leak": neuron.leak,
        "tau_syn": None if ts is None else float(ts),
    }
