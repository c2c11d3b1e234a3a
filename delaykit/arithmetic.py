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

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from delaykit.network import LIF, Layer

FLOAT_KINDS = ("float64", "float32")
DECAY_KINDS = ("loihi12", "shift", "none")
OVERFLOW_MODES = ("saturate", "wrap")
COMPARE_MODES = ("ge", "gt")

#: Loihi's decay constants are 12-bit: x <- x * (4096 - d) / 4096.
LOIHI_DECAY_UNITY = 4096


def loihi_decay_constant(tau: float) -> int:
    """Loihi's 12-bit voltage decay ``dv`` for a membrane time constant ``tau`` (steps)."""
    tau = float(tau)
    if not (math.isfinite(tau) and tau >= 1.0):
        raise ValueError(f"tau: must be a finite number of steps >= 1, got {tau}")
    return int(min(LOIHI_DECAY_UNITY - 1, math.floor(LOIHI_DECAY_UNITY / tau + 0.5)))


def shift_decay_constant(tau: float) -> int:
    """Xylo-style shift ``k`` (``x <- x - (x >> k)``) for ``tau`` in steps: round(log2(tau))."""
    tau = float(tau)
    if not (math.isfinite(tau) and tau >= 1.0):
        raise ValueError(f"tau: must be a finite number of steps >= 1, got {tau}")
    return max(0, int(round(math.log2(tau))))


def reduce_int(x: np.ndarray | int, bits: int | None, mode: str) -> np.ndarray:
    """Reduce integers to ``bits`` signed bits by saturation or wrap-around (see module doc)."""
    a = np.asarray(x, dtype=np.int64)
    if bits is None:
        return a
    half = 1 << (bits - 1)
    if mode == "saturate":
        return np.clip(a, -(half - 1), half - 1)
    if mode == "wrap":
        return ((a + half) & ((1 << bits) - 1)) - half
    raise ValueError(f"overflow mode must be one of {OVERFLOW_MODES}, got {mode!r}")


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

    def decay_param(self, tau: float) -> int:
        """The integer decay constant for ``tau`` (steps): ``4096 - dv`` for 'loihi12'
        (the multiplier), ``k`` for 'shift', 0 for 'none'."""
        if self.decay == "loihi12":
            return LOIHI_DECAY_UNITY - loihi_decay_constant(tau)
        if self.decay == "shift":
            return shift_decay_constant(tau)
        return 0

    def apply_decay(self, x: np.ndarray, tau: float) -> np.ndarray:
        """``decay(x)`` of the module docstring on int64 arrays (the reference uses it)."""
        x = np.asarray(x, dtype=np.int64)
        p = self.decay_param(tau)
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


# ---- per-layer constants shared by both engines -------------------------------------------


@dataclass(frozen=True)
class LayerConstants:
    """A layer's parameters in the arithmetic's representation (both engines use these).

    Fixed point: ``weight`` int64, ``bias``/``threshold``/``reset`` int64 in membrane units
    (already shifted), ``decay_param`` as :meth:`Arithmetic.decay_param`.
    Float: ``weight`` float64 holding F-rounded values, ``bias`` float64 holding F(b),
    ``threshold``/``reset`` in F, ``tau`` in F.
    ``out_scale`` (out,) float64 turns the membrane into real units.
    """

    weight: np.ndarray
    bias: np.ndarray
    threshold: np.ndarray
    reset: np.ndarray
    tau: float
    decay_param: int
    spiking: bool
    out_scale: np.ndarray


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
            decay_param=arith.decay_param(neuron.tau),
            spiking=spiking,
            out_scale=scale / float(1 << ws),
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
    )
