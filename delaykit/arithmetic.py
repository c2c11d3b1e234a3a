"""Number formats the simulator runs in: float64, float32, or a target's fixed point.

All times are in **steps** of ``Network.dt``. Symbols: ``W`` weights, ``x[t]`` the input of a
layer (counts for the first layer, 0/1 spikes after), ``b`` bias, ``r`` the reset value,
``theta`` the threshold, ``tau`` the membrane time constant in steps.

Float modes (``Arithmetic.float64()``, ``Arithmetic.float32()``)
------------------------------------------------------------------
The contract's equations (``delaykit.network``) in the chosen float type ``F``:

* synaptic input ``syn[t, j] = sum_i F(W[j, i]) * x[t - D[j, i] - lat, i]``, summed in
  float64 (products of float32 weights and small counts are exact in float64; only the
  summation order differs between engines);
* ``I = F(syn + F(b))`` -- one rounding to ``F`` per step and neuron;
* ``h = v + (r - v) / tau + I`` evaluated in ``F``; LIF: ``s = h >= theta``, ``v = s ? r : h``;
  LI: ``v = h``. The membrane starts at ``r`` (spikingjelly's convention).
* Version-3 neurons (``delaykit.network.neurons``): ``(r - v) / tau`` is the forward-Euler
  leak; the exact leak is ``(r - v) * F(1 - exp(-1/tau))``. With a synaptic current
  (``tau_syn`` set) the bias goes to the membrane: ``c = c + F(syn)``;
  ``h = ((v + leak) + c) + F(b)``; after the spike ``c = c - c / F(tau_syn)`` (Euler) or
  ``c - c * F(1 - exp(-1/tau_syn))`` (exact). Reset ``subtract``: ``v = h - theta``;
  ``none``: ``v = h``.

Integer networks (``Layer.weight`` integer) run in float modes on their integer values
(exact), and their outputs are multiplied by ``weight_scale`` into real units.

Fixed-point mode (``Arithmetic.for_target(t)`` or ``Arithmetic.fixed(...)``)
----------------------------------------------------------------------------
Needs integer weights, bias, threshold and reset (the contract's integer units). Per step
``t`` and neuron ``j``, all in exact integers (int64 internally):

1. ``syn = sum_i W[j, i] * x[t - D[j, i] - lat, i]`` (exact).
2. ``u = reduce(syn << weight_shift, current_bits, current_overflow)``: Loihi MSB-aligns the
   synaptic input by 6 bits (``act_shift``) into its 24-bit current ``u``. The reduction is
   applied once to the step's total, so the result does not depend on the order in which
   events arrive.
3. ``h = r' + decay(v - r') + u + (b << weight_shift)`` with ``r' = r << weight_shift``;
   then ``h`` is reduced to ``membrane_bits`` with ``membrane_overflow``.
4. LIF: spike when ``h >= theta << threshold_shift`` (``threshold_compare = "ge"``) or
   ``h > theta << threshold_shift`` (``"gt"``, Loihi: ``v > vth * 2**6``); ``v = s ? r' : h``.
   LI: ``v = h``; its output in real units is ``v / 2**weight_shift * weight_scale``.

With a synaptic current (``tau_syn`` set, format version 3), step 2 keeps a state:
``c = reduce(cdecay(c) + (syn << weight_shift), current_bits, current_overflow)`` with ``c``
the previous step's current (0 before step 0), and ``c`` replaces ``u`` in step 3; the current
is never reset. ``cdecay`` is ``decay`` with the constant of ``tau_syn``: Loihi's
``(4096 - iDecay)/4096`` with ``iDecay = floor(4096 / tau_syn + 0.5)`` in ``[1, 4096]``
(Lava's bit-accurate CUBA: ``du = iDecay - 1`` plus its ``ds_offset`` of 1, the product's
magnitude shifted by 12), the shift ``k`` of ``tau_syn``, or none. Without a current the
engines clear it every step (``iDecay = 4096``). Reset ``subtract``:
``v = reduce(h - (theta << threshold_shift), membrane_bits, membrane_overflow)``; ``none``:
``v = h``. The exact leak changes only the constants: ``dv`` and ``iDecay`` round
``4096 * (1 - exp(-1/tau))``, the shift is ``round(-log2(1 - exp(-1/tau)))``.

Decay (``decay``), mapped from the neuron's ``tau`` (steps):

* ``"loihi12"``: ``decay(x) = sign(x) * ((|x| * (4096 - dv)) >> 12)`` (the product's magnitude
  is shifted, i.e. rounding toward zero, exactly as Lava's ``PyLifModelBitAcc``) with
  ``dv = min(4095, floor(4096 / tau + 0.5))``: the model removes ``1/tau`` of ``v - r`` per
  step, Loihi removes ``dv/4096``. ``tau = 1`` (full decay) needs ``dv = 4096``, which Loihi's
  12-bit voltage decay cannot hold: it keeps 1/4096 of the membrane.
  Loihi's current ``u`` has no state here (``du = 4095``, i.e. full current decay): the
  contract's neuron has no synaptic current.
* ``"shift"`` (Xylo-style): ``decay(x) = x - (x >> k)`` (arithmetic shift, rounding toward
  minus infinity) with ``k = max(0, round(log2(tau)))``, i.e. ``1/tau ~ 2**-k``; ``tau < 1.42``
  gives ``k = 0``: full decay.
* ``"none"``: ``decay(x) = x`` (integrate-and-fire: no leak, ``tau`` is ignored).

Overflow (``current_overflow``, ``membrane_overflow``; a profile's ``overflow`` sets both):

* ``"saturate"``: clip to ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` -- symmetric, as Lava
  clips Loihi's 24-bit membrane;
* ``"wrap"``: two's complement wrap-around into ``[-2**(bits-1), 2**(bits-1) - 1]``.

``bits = None`` means no limit (int64, never reached by these networks). Lava wraps Loihi's
current by one subtraction into ``(-2**23, 2**23]``; the wrap here is the two's complement one,
which agrees with it except for the single value ``2**23`` and for overflows beyond ``2**24``.

Latency and run length
----------------------
``layer_latency_steps`` (Loihi 2: 1) delays every spike by that many extra steps per layer
(Loihi's ``Dense``/``DelayDense`` deliver a delay-0 spike on the next step). Each layer then
computes ``L_in + extend_steps + layer_latency_steps`` steps, so nothing is cut off: the output
has ``net.output_steps(T) + n_layers * layer_latency_steps`` steps. Neurons run (with their
bias) from step 0. The readout skips the first ``n_layers * layer_latency_steps`` output steps
(no input can have reached the output yet) so that it sees the same number of steps as the
model without latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from delaykit.fixed_decay import (
    LOIHI_DECAY_UNITY,
    OVERFLOW_MODES,
    RESET_CODES,
    loihi_current_decay_constant,
    loihi_decay_constant,
    reduce_int,
    shift_decay_constant,
)
from delaykit.layer_constants import LayerConstants, layer_constants

__all__ = [
    "COMPARE_MODES",
    "DECAY_KINDS",
    "FIXED_POINT_KEYS",
    "FLOAT_KINDS",
    "LOIHI_DECAY_UNITY",
    "OVERFLOW_MODES",
    "RESET_CODES",
    "Arithmetic",
    "LayerConstants",
    "layer_constants",
    "loihi_current_decay_constant",
    "loihi_decay_constant",
    "reduce_int",
    "shift_decay_constant",
]

FLOAT_KINDS = ("float64", "float32")
DECAY_KINDS = ("loihi12", "shift", "none")
COMPARE_MODES = ("ge", "gt")


@dataclass(frozen=True)
class Arithmetic:
    """How numbers are represented while simulating (see the module docstring).

    kind: 'float64', 'float32' or 'fixed'.
    layer_latency_steps: extra steps each layer adds to every spike's travel (Loihi 2: 1).
    The remaining fields only matter for 'fixed'.
    """

    kind: str = "float64"
    layer_latency_steps: int = 0
    weight_bits: int | None = None
    weight_exponent: bool = False
    membrane_bits: int | None = None
    current_bits: int | None = None
    decay: str = "none"
    current_overflow: str = "saturate"
    membrane_overflow: str = "saturate"
    threshold_shift: int = 0
    weight_shift: int = 0
    threshold_compare: str = "ge"
    name: str = ""

    def __post_init__(self) -> None:
        where = "arithmetic"
        if self.kind not in (*FLOAT_KINDS, "fixed"):
            raise ValueError(f"{where}: field 'kind': must be float64, float32 or fixed, got {self.kind!r}")
        lat = self.layer_latency_steps
        if not isinstance(lat, (int, np.integer)) or lat < 0:
            raise ValueError(f"{where}: field 'layer_latency_steps': must be an integer >= 0, got {lat!r}")
        object.__setattr__(self, "layer_latency_steps", int(lat))
        for f, lo, hi in (("weight_bits", 1, 63), ("membrane_bits", 2, 63), ("current_bits", 2, 63)):
            v = getattr(self, f)
            if v is not None and (not isinstance(v, (int, np.integer)) or not lo <= v <= hi):
                raise ValueError(
                    f"{where}: field '{f}': must be None or an integer in [{lo}, {hi}], got {v!r}"
                )
        for f in ("threshold_shift", "weight_shift"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or not 0 <= v <= 24:
                raise ValueError(f"{where}: field '{f}': must be an integer in [0, 24], got {v!r}")
        if self.decay not in DECAY_KINDS:
            raise ValueError(f"{where}: field 'decay': must be one of {DECAY_KINDS}, got {self.decay!r}")
        for f in ("current_overflow", "membrane_overflow"):
            if getattr(self, f) not in OVERFLOW_MODES:
                raise ValueError(
                    f"{where}: field '{f}': must be one of {OVERFLOW_MODES}, got {getattr(self, f)!r}"
                )
        if self.threshold_compare not in COMPARE_MODES:
            raise ValueError(
                f"{where}: field 'threshold_compare': must be one of {COMPARE_MODES}, "
                f"got {self.threshold_compare!r}"
            )
        if self.kind in FLOAT_KINDS and self.threshold_compare != "ge":
            raise ValueError(f"{where}: field 'threshold_compare': float modes use the contract's 'ge'")
        if not self.name:
            object.__setattr__(self, "name", self.kind)

    # -- constructors ----------------------------------------------------------------------
    @staticmethod
    def float64(layer_latency_steps: int = 0) -> Arithmetic:
        """The contract's equations in float64 (the default)."""
        return Arithmetic(kind="float64", layer_latency_steps=layer_latency_steps)

    @staticmethod
    def float32(layer_latency_steps: int = 0) -> Arithmetic:
        """float32 weights and state, as in training (synaptic sums in float64, see module doc)."""
        return Arithmetic(kind="float32", layer_latency_steps=layer_latency_steps)

    @staticmethod
    def fixed(
        *,
        weight_bits: int | None = 8,
        membrane_bits: int | None = 24,
        current_bits: int | None = None,
        decay: str = "loihi12",
        overflow: str = "saturate",
        current_overflow: str | None = None,
        membrane_overflow: str | None = None,
        threshold_shift: int = 0,
        weight_shift: int = 0,
        threshold_compare: str | None = None,
        weight_exponent: bool = False,
        layer_latency_steps: int = 0,
        name: str = "fixed",
    ) -> Arithmetic:
        """Integer arithmetic with explicit parameters (see the module docstring).

        threshold_compare defaults to 'gt' for Loihi's decay ('loihi12', as Lava's
        bit-accurate LIF: ``v > vth << 6``) and to 'ge' (the contract's rule) otherwise.
        """
        if threshold_compare is None:
            threshold_compare = "gt" if decay == "loihi12" else "ge"
        return Arithmetic(
            kind="fixed",
            layer_latency_steps=layer_latency_steps,
            weight_bits=weight_bits,
            weight_exponent=bool(weight_exponent),
            membrane_bits=membrane_bits,
            current_bits=current_bits,
            decay=decay,
            current_overflow=current_overflow or overflow,
            membrane_overflow=membrane_overflow or overflow,
            threshold_shift=threshold_shift,
            weight_shift=weight_shift,
            threshold_compare=threshold_compare,
            name=name,
        )

    @staticmethod
    def for_target(target: Any) -> Arithmetic:
        """Arithmetic of a loaded hardware target profile (docs/design.md, "Number formats").

        Reads ``target.fixed_point`` (None: float64) and ``target.layer_latency_steps``.
        Besides the profile's fixed-point keys, ``fixed_point`` may hold ``current_overflow``,
        ``membrane_overflow`` (override ``overflow`` per variable) and ``threshold_compare``
        ('ge' | 'gt'; default 'gt' for decay 'loihi12', else 'ge').
        """
        if isinstance(target, str):
            raise TypeError(
                "for_target takes a loaded target profile; load it by name with "
                "delaykit.hardware_targets.load_target"
            )
        name = str(getattr(target, "name", "target"))
        lat = int(getattr(target, "layer_latency_steps", 0) or 0)
        fp = getattr(target, "fixed_point", None)
        if fp is None:
            return Arithmetic(kind="float64", layer_latency_steps=lat, name=f"float64:{name}")
        _check_fixed_point_table(name, fp)

        def opt_int(key: str, default: int | None) -> int | None:
            v = fp.get(key, default)
            return None if v is None else int(v)

        try:
            return Arithmetic.fixed(
                weight_bits=opt_int("weight_bits", getattr(target, "weight_bits", None)),
                membrane_bits=opt_int("membrane_bits", None),
                current_bits=opt_int("current_bits", None),
                decay=str(fp.get("decay", "none")),
                overflow=str(fp.get("overflow", "saturate")),
                current_overflow=fp.get("current_overflow"),
                membrane_overflow=fp.get("membrane_overflow"),
                threshold_shift=int(fp.get("threshold_shift", 0)),
                weight_shift=int(fp.get("weight_shift", 0)),
                threshold_compare=fp.get("threshold_compare"),
                weight_exponent=bool(getattr(target, "weight_exponent", False)),
                layer_latency_steps=lat,
                name=f"fixed:{name}",
            )
        except ValueError as e:
            raise ValueError(f"target {name!r}: {e}") from None

    # -- facts -----------------------------------------------------------------------------
    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    @property
    def float_dtype(self) -> type:
        """numpy type of the neuron state in float modes."""
        return np.float32 if self.kind == "float32" else np.float64

    def readout_offset(self, n_layers: int) -> int:
        """Output steps the readout skips: the latency of ``n_layers`` layers (steps)."""
        return self.layer_latency_steps * int(n_layers)

    def decay_param(self, tau: float, leak: str = "euler") -> int:
        """The integer decay constant of a membrane with ``tau`` (steps): ``4096 - dv`` for
        'loihi12' (the multiplier), ``k`` for 'shift', 0 for 'none'."""
        if self.decay == "loihi12":
            return LOIHI_DECAY_UNITY - loihi_decay_constant(tau, leak)
        if self.decay == "shift":
            return shift_decay_constant(tau, leak)
        return 0

    def current_decay_param(self, tau_syn: float | None, leak: str = "euler") -> int:
        """The integer decay constant of a synaptic current with ``tau_syn`` (steps): the
        multiplier ``4096 - iDecay`` for 'loihi12', ``k`` for 'shift', 0 for 'none' (and for no
        current state, where the engines clear the current every step)."""
        if tau_syn is None:
            return 0
        if self.decay == "loihi12":
            return LOIHI_DECAY_UNITY - loihi_current_decay_constant(tau_syn, leak)
        if self.decay == "shift":
            return shift_decay_constant(tau_syn, leak)
        return 0

    def apply_decay(self, x: np.ndarray, tau: float, leak: str = "euler") -> np.ndarray:
        """``decay(x)`` of the module docstring on int64 arrays (the reference uses it)."""
        return self.decay_by_param(x, self.decay_param(tau, leak))

    def decay_by_param(self, x: np.ndarray, p: int) -> np.ndarray:
        """``decay(x)`` with the integer constant ``p`` of :meth:`decay_param`."""
        x = np.asarray(x, dtype=np.int64)
        if self.decay == "loihi12":
            prod = x * p
            return np.sign(prod) * (np.abs(prod) >> 12)
        if self.decay == "shift":
            return x - (x >> p)
        return x.copy()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for humans."""
        lat = f", latency {self.layer_latency_steps} step/layer" if self.layer_latency_steps else ""
        if not self.is_fixed:
            return f"{self.name} ({self.kind}{lat})"
        ov = (
            self.membrane_overflow
            if self.membrane_overflow == self.current_overflow
            else f"current {self.current_overflow}/membrane {self.membrane_overflow}"
        )
        return (
            f"{self.name} (int{self.weight_bits or ''} weights{'+exp' if self.weight_exponent else ''}, "
            f"{self.membrane_bits or 64}-bit membrane, {self.current_bits or 64}-bit current, {ov}, "
            f"decay {self.decay}, threshold {'>' if self.threshold_compare == 'gt' else '>='} "
            f"th<<{self.threshold_shift}, input <<{self.weight_shift}{lat})"
        )


#: The keys a target's ``fixed_point`` table may hold.
FIXED_POINT_KEYS = frozenset(
    {
        "weight_bits",
        "membrane_bits",
        "current_bits",
        "decay",
        "overflow",
        "threshold_shift",
        "weight_shift",
        "current_overflow",
        "membrane_overflow",
        "threshold_compare",
    }
)


def _check_fixed_point_table(name: str, fp: Any) -> None:
    """A target's ``fixed_point`` must be a table of known keys."""
    if not isinstance(fp, Mapping):
        raise ValueError(
            f"target {name!r}: field 'fixed_point': must be a table or None, got {type(fp).__name__}"
        )
    unknown = sorted(set(fp) - FIXED_POINT_KEYS)
    if unknown:
        raise ValueError(
            f"target {name!r}: field 'fixed_point': unknown keys {unknown}; known: {sorted(FIXED_POINT_KEYS)}"
        )
