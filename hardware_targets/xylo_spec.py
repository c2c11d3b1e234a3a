"""A network for SynSense Xylo Audio 2 (SYNS61201), as the integers the chip holds (numpy only).

:class:`XyloSpec` is the complete configuration of Xylo's one SNN core -- input, recurrent and
readout weights, bit-shift decays, thresholds, biases, weight shifts, aliases -- checked on
construction against the chip's limits. The integer dynamics that run it are in
:mod:`delaykit.hardware_targets.xylo_core` (bit-exact with SynSense's ``xylosim.v2``); the rules
and where each limit comes from are in ``docs/xylo.md``.

Shapes (``n_in`` <= 16 input channels, ``n_hid`` <= 1000 hidden neurons, ``n_out`` <= 8 readout
neurons, ``n_syn`` in {1, 2} synaptic states per hidden neuron; readout neurons have one)::

    weights_in   [n_in, n_hid, n_syn]   int8      weights_rec [n_hid, n_hid, n_syn]  int8
    weights_out  [n_hid, n_out]         int8
    dash_mem     [n_hid]   dash_syn [n_hid, n_syn]   dash_mem_out [n_out]  dash_syn_out [n_out]
    threshold    [n_hid]   threshold_out [n_out]     bias [n_hid]          bias_out [n_out]
    weight_shift_in, weight_shift_rec, weight_shift_out   (one left shift per weight matrix)
    aliases      [n_hid]   alias target of each hidden neuron, -1 for none
    dt           seconds per time step (metadata: the chip's dynamics are in steps)

On disk (:func:`save_spec` / :func:`load_spec`): a folder with ``spec.npz`` (every field, the
scalars as 0-d arrays) and ``manifest.json`` (format, shapes, the meaning and unit of every
field, the limits, the NPZ's SHA-256). The NPZ alone is enough to rebuild the network, which is
how the xylosim runner (:mod:`delaykit.hardware_targets.xylo_run`) reads it without delaykit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import write_bytes_atomic, write_text_atomic
from delaykit.outputs import atomic_folder

FORMAT = "delaykit-xylo-spec"
VERSION = 1

# ---- Xylo Audio 2 (SYNS61201) limits; docs/xylo.md cites each one -----------------------------

MAX_INPUTS = 16  # rockpool devices/xylo/syns61201/xylo_mapper.py: le_16_input_channels
MAX_HIDDEN = 1000  # rockpool devices/xylo/syns61201/xylo_mapper.py: max_hidden_neurons = 1000
MAX_OUTPUTS = 8  # rockpool devices/xylo/syns61201/xylo_mapper.py: max_output_neurons = 8
MAX_SYNAPSES = 2  # rockpool docs/devices/xylo-overview.ipynb: "Num. Syn. states 2"
WEIGHT_RANGE = (-128, 127)  # int8 weights (xylosim XyloSynapse.weight is int8_t)
STATE_RANGE = (-32768, 32767)  # int16 thresholds, biases, currents, membranes (xylosim int16_t)
DASH_RANGE = (0, 15)  # 4-bit decay shifts (xylosim XyloIAFNeuron.h: "should be 4 bits")
SHIFT_RANGE = (0, 7)  # 3-bit IWBS/RWBS/OWBS register fields (rockpool xa2_devkit_utils.py CTRL1)
MAX_FAN_OUT = 64  # recurrent targets per hidden neuron ("Max. fanout 64")
MAX_REC_SYNAPSES = 32000  # recurrent (pre, post) pairs: "Avg. fanout 32" x 1000 (RWTRAM words)
MAX_INPUT_COUNT = 15  # input events per channel per step (xylosim MAX_NUM_INP_SPIKES)
MAX_HIDDEN_SPIKES = 31  # events per hidden neuron per step (xylosim MAX_NUM_SPIKES)
MAX_OUTPUT_SPIKES = 1  # events per readout neuron per step (xylosim MAX_NUM_OUT_SPIKES)

#: Every field: (meaning, unit) -- written into manifest.json.
FIELD_DOCS: dict[str, tuple[str, str]] = {
    "weights_in": ("input channel -> hidden neuron synapse weights [n_in, n_hid, n_syn]", "int8 weight LSB"),
    "weights_rec": (
        "hidden -> hidden recurrent weights [pre, post, n_syn]; a hop takes one step",
        "int8 weight LSB",
    ),
    "weights_out": (
        "hidden -> readout weights [n_hid, n_out]; seen one step after the hidden spike",
        "int8 weight LSB",
    ),
    "dash_mem": ("hidden membrane decay shift: v <- v - max(v >> dash_mem, 1 if v > 0)", "bits"),
    "dash_syn": ("hidden synaptic decay shift per state [n_hid, n_syn], same rule", "bits"),
    "dash_mem_out": ("readout membrane decay shift [n_out]", "bits"),
    "dash_syn_out": ("readout synaptic decay shift [n_out]", "bits"),
    "threshold": (
        "hidden firing threshold: spike while v >= threshold, subtractive reset",
        "int16 state LSB",
    ),
    "threshold_out": ("readout firing threshold (at most one spike per step)", "int16 state LSB"),
    "bias": ("constant added to each hidden membrane every step", "int16 state LSB per step"),
    "bias_out": ("constant added to each readout membrane every step", "int16 state LSB per step"),
    "weight_shift_in": ("left shift applied to every input weight", "bits"),
    "weight_shift_rec": ("left shift applied to every recurrent weight", "bits"),
    "weight_shift_out": ("left shift applied to every readout weight", "bits"),
    "aliases": (
        "hidden neuron whose output events each hidden neuron also emits as (-1: none)",
        "neuron index",
    ),
    "dt": ("duration of one time step (the chip's dynamics are in steps)", "seconds"),
}

ARRAY_FIELDS = tuple(
    k for k in FIELD_DOCS if k not in ("weight_shift_in", "weight_shift_rec", "weight_shift_out", "dt")
)
SHIFT_FIELDS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")


def _fail(field: str, what: str) -> DelaykitError:
    return DelaykitError(f"XyloSpec.{field}: {what}")


def _int_array(field: str, value: Any, ndim: int) -> np.ndarray:
    """``value`` as a read-only int64 array of ``ndim`` dimensions holding whole numbers."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise _fail(field, f"not an array ({e})") from e
    if raw.ndim != ndim:
        raise _fail(field, f"expected {ndim} dimension(s), got shape {raw.shape}")
    if raw.dtype.kind not in "biuf":
        raise _fail(field, f"expected integers, got dtype {raw.dtype}")
    if raw.dtype.kind == "f" and raw.size and not (np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))):
        raise _fail(field, "expected whole numbers, got fractional or non-finite values")
    arr = raw.astype(np.int64)
    arr.setflags(write=False)
    return arr


def _check_range(field: str, arr: np.ndarray, lo: int, hi: int, what: str) -> None:
    if arr.size == 0:
        return
    bad = np.argwhere((arr < lo) | (arr > hi))
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        raise _fail(field, f"{what} must lie in [{lo}, {hi}]; found {int(arr[at])} at index {at}")


def _check_shape(field: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise _fail(field, f"expected shape {shape}, got {arr.shape}")


@dataclass(frozen=True)
class XyloSpec:
    """A complete Xylo Audio 2 core configuration; validated on construction (see module doc)."""

    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: np.ndarray | None = None
    dt: float = 1e-3

    def __post_init__(self) -> None:
        dims = {"weights_in": 3, "weights_rec": 3, "weights_out": 2, "dash_syn": 2}
        if self.aliases is None:
            n_hid = np.shape(self.weights_out)[0] if np.ndim(self.weights_out) == 2 else 0
            object.__setattr__(self, "aliases", np.full(n_hid, -1, np.int64))
        for name in ARRAY_FIELDS:
            object.__setattr__(self, name, _int_array(name, getattr(self, name), dims.get(name, 1)))
        for name in SHIFT_FIELDS:
            value = getattr(self, name)
            try:
                whole = not isinstance(value, bool) and float(value).is_integer()
            except (TypeError, ValueError):
                whole = False
            if not whole:
                raise _fail(name, f"expected an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
            _check_range(name, np.asarray(value), *SHIFT_RANGE, "weight shift")
        try:
            dt = float(self.dt)
        except (TypeError, ValueError):
            dt = float("nan")
        if not np.isfinite(dt) or dt <= 0:
            raise _fail("dt", f"expected a positive number of seconds, got {self.dt!r}")
        object.__setattr__(self, "dt", dt)
        _validate_sizes(self)
        _validate_values(self)
        _validate_connectivity(self)

    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hid(self) -> int:
        return int(self.weights_in.shape[1])

    @property
    def n_syn(self) -> int:
        return int(self.weights_in.shape[2])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (scalars 0-d): the content of ``spec.npz``."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


def _validate_sizes(s: XyloSpec) -> None:
    n_in, n_hid, n_syn = s.weights_in.shape
    n_out = s.weights_out.shape[1]
    for name, n, hi in (("weights_in", n_in, MAX_INPUTS), ("weights_out", n_out, MAX_OUTPUTS)):
        if not 1 <= n <= hi:
            raise _fail(
                name,
                f"{n} {'input channels' if name == 'weights_in' else 'readout neurons'}; Xylo has 1 to {hi}",
            )
    if not 1 <= n_hid <= MAX_HIDDEN:
        raise _fail("weights_in", f"{n_hid} hidden neurons; Xylo has 1 to {MAX_HIDDEN}")
    if not 1 <= n_syn <= MAX_SYNAPSES:
        raise _fail("weights_in", f"{n_syn} synaptic states per hidden neuron; Xylo has 1 or {MAX_SYNAPSES}")
    expected = {
        "weights_rec": (n_hid, n_hid, n_syn),
        "weights_out": (n_hid, n_out),
        "dash_mem": (n_hid,),
        "dash_syn": (n_hid, n_syn),
        "dash_mem_out": (n_out,),
        "dash_syn_out": (n_out,),
        "threshold": (n_hid,),
        "threshold_out": (n_out,),
        "bias": (n_hid,),
        "bias_out": (n_out,),
        "aliases": (n_hid,),
    }
    for name, shape in expected.items():
        _check_shape(name, getattr(s, name), shape)


def _validate_values(s: XyloSpec) -> None:
    for name in ("weights_in", "weights_rec", "weights_out"):
        _check_range(name, getattr(s, name), *WEIGHT_RANGE, "int8 weights")
    for name in ("dash_mem", "dash_syn", "dash_mem_out", "dash_syn_out"):
        _check_range(name, getattr(s, name), *DASH_RANGE, "4-bit decay shifts")
    for name in ("threshold", "threshold_out", "bias", "bias_out"):
        _check_range(name, getattr(s, name), *STATE_RANGE, "signed 16-bit values")


def _validate_connectivity(s: XyloSpec) -> None:
    n_hid, aliases = s.n_hid, np.asarray(s.aliases)
    _check_range("aliases", aliases, -1, n_hid - 1, "alias targets (-1: none)")
    selfish = np.flatnonzero(aliases == np.arange(n_hid))
    if len(selfish):
        raise _fail("aliases", f"hidden neuron {int(selfish[0])} is its own alias target")
    pairs = np.any(s.weights_rec != 0, axis=2)
    fan_out = pairs.sum(axis=1)
    if fan_out.size and fan_out.max() > MAX_FAN_OUT:
        worst = int(np.argmax(fan_out))
        raise _fail(
            "weights_rec",
            f"hidden neuron {worst} has {int(fan_out[worst])} recurrent targets; Xylo allows "
            f"{MAX_FAN_OUT} per neuron (give it an alias to spread the fan-out)",
        )
    if int(pairs.sum()) > MAX_REC_SYNAPSES:
        raise _fail("weights_rec", f"{int(pairs.sum())} recurrent connections; Xylo holds {MAX_REC_SYNAPSES}")


# ---- on disk ---------------------------------------------------------------------------------


def _manifest(spec: XyloSpec, npz_sha256: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "device": "SynSense Xylo Audio 2 (SYNS61201) SNN core; dynamics bit-exact with xylosim.v2",
        "files": {"spec.npz": {"sha256": npz_sha256}},
        "sizes": {"n_in": spec.n_in, "n_hid": spec.n_hid, "n_out": spec.n_out, "n_syn": spec.n_syn},
        "scalars": {name: getattr(spec, name) for name in (*SHIFT_FIELDS, "dt")},
        "fields": {
            name: {"meaning": doc, "unit": unit, "shape": list(np.shape(getattr(spec, name)))}
            for name, (doc, unit) in FIELD_DOCS.items()
        },
        "limits": {
            "inputs": MAX_INPUTS,
            "hidden": MAX_HIDDEN,
            "outputs": MAX_OUTPUTS,
            "synaptic_states": MAX_SYNAPSES,
            "weight": list(WEIGHT_RANGE),
            "state": list(STATE_RANGE),
            "dash": list(DASH_RANGE),
            "weight_shift": list(SHIFT_RANGE),
            "recurrent_fan_out": MAX_FAN_OUT,
            "recurrent_connections": MAX_REC_SYNAPSES,
            "input_events_per_step": MAX_INPUT_COUNT,
            "hidden_spikes_per_step": MAX_HIDDEN_SPIKES,
            "readout_spikes_per_step": MAX_OUTPUT_SPIKES,
        },
    }


def _npz_bytes(spec: XyloSpec) -> bytes:
    with tempfile.TemporaryFile() as f:
        np.savez(f, **spec.to_arrays())  # type: ignore[arg-type]
        f.seek(0)
        return f.read()


def save_spec(spec: XyloSpec, directory: str | os.PathLike[str]) -> Path:
    """Write ``spec`` into ``directory`` (created or replaced as a whole); return its path.

    The files are written into a temporary sibling folder, which is then swapped in for
    ``directory`` in one step (:func:`delaykit.outputs.atomic_folder`): a reader never sees a
    half-written spec, and an interrupted write leaves the old one intact.
    """
    target = Path(directory)
    with atomic_folder(target) as tmp:
        data = _npz_bytes(spec)
        write_bytes_atomic(tmp / "spec.npz", data)
        manifest = _manifest(spec, hashlib.sha256(data).hexdigest())
        write_text_atomic(tmp / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return target


def load_spec(directory: str | os.PathLike[str]) -> XyloSpec:
    """Read a spec written by :func:`save_spec` (checks format, version and checksum)."""
    folder = Path(directory)
    manifest_path, npz_path = folder / "manifest.json", folder / "spec.npz"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        data = npz_path.read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        raise FormatError(f"{folder}: not a Xylo spec folder ({e})") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise FormatError(
            f"{manifest_path}: format/version is {manifest.get('format')!r}/{manifest.get('version')!r}, "
            f"expected {FORMAT!r}/{VERSION}"
        )
    expected = manifest.get("files", {}).get("spec.npz", {}).get("sha256")
    if expected != hashlib.sha256(data).hexdigest():
        raise FormatError(f"{npz_path}: checksum differs from manifest.json (file changed or truncated)")
    names = [f.name for f in fields(XyloSpec)]
    with np.load(npz_path, allow_pickle=False) as z:
        missing = [n for n in names if n not in z.files]
        if missing:
            raise FormatError(f"{npz_path}: missing field(s) {missing}")
        values = {n: z[n] for n in names}
    for name in (*SHIFT_FIELDS, "dt"):
        values[name] = values[name].item()
    return XyloSpec(**values)
