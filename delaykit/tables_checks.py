"""Row checks of a table folder (``delaykit convert to-table``) before a network is built.

Every synapse and neuron row must belong to a layer of the manifest and appear once; delays
are whole steps in ``0..MAX_DELAY_STEPS``; weights, biases and neuron parameters are finite;
an integer weight fits the layer's weight type (``weight_int = 1000`` in an int8 layer is
refused, never wrapped to -24); the per-neuron columns agree with the manifest's neuron.
Errors are :class:`~delaykit.validate.InvalidValue` naming the file, the column, the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from delaykit.validate import MAX_DELAY_STEPS, finite_array, integral_array, invalid

_FIX = "the table was edited or damaged; write it again with 'delaykit convert to-table'"


def _numeric(cols: dict[str, np.ndarray], name: str, where: str) -> np.ndarray | None:
    if name not in cols:
        return None
    try:
        return np.asarray(cols[name]).astype(np.float64)
    except ValueError:
        raise invalid(where, name, "<text>", "is not numeric", _FIX) from None


def _unique_rows(keys: np.ndarray, where: str, what: str) -> None:
    if keys.size == 0:
        return
    _, idx, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        first = keys[idx[int(np.argmax(counts > 1))]].tolist()
        raise invalid(where, what, first, f"{int((counts > 1).sum())} row(s) appear more than once", _FIX)


#: Weight types a table layer may declare (those of a deployed network's layer).
WEIGHT_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64")


def weight_dtype(lm: dict[str, Any], li: int, manifest: Path) -> np.dtype:
    """The manifest's ``weight_dtype`` of layer ``li``, one of :data:`WEIGHT_DTYPES`."""
    name = lm.get("weight_dtype", "float64")
    if name not in WEIGHT_DTYPES:
        raise invalid(
            f"{manifest} layers[{li}]",
            "weight_dtype",
            name,
            f"must be one of {', '.join(WEIGHT_DTYPES)}",
            _FIX,
        )
    return np.dtype(name)


def check_synapse_rows(cols: dict[str, np.ndarray], layers: list[dict[str, Any]], path: Path) -> None:
    """Synapse rows: known layer, unique (layer, pre, post), whole delays in range, finite weights."""
    where, n = str(path), len(layers)
    ids = {
        k: _numeric(cols, k, where) for k in ("layer", "pre", "post", "delay_steps", "weight", "weight_int")
    }
    if ids["layer"] is None or ids["pre"] is None or ids["post"] is None:
        return  # the reader names the missing column
    layer = integral_array(ids["layer"], where, "layer", 0, n - 1, f"the manifest has {n} layer(s); {_FIX}")
    pre = integral_array(ids["pre"], where, "pre", 0, fix=_FIX)
    post = integral_array(ids["post"], where, "post", 0, fix=_FIX)
    _unique_rows(np.stack([layer, pre, post], axis=1), where, "(layer, pre, post)")
    if ids["delay_steps"] is not None:
        integral_array(ids["delay_steps"], where, "delay_steps", 0, MAX_DELAY_STEPS, _FIX)
    if ids["weight"] is not None:
        finite_array(ids["weight"], where, "weight", _FIX)
    if ids["weight_int"] is not None:
        wi = integral_array(ids["weight_int"], where, "weight_int", fix=_FIX)
        for li, lm in enumerate(layers):
            dtype = weight_dtype(lm, li, path.parent / "manifest.json")
            if dtype.kind in "iu" and (layer == li).any():
                info = np.iinfo(dtype)
                sel = wi[layer == li]
                if sel.min() < info.min or sel.max() > info.max:
                    bad = int(sel.max() if sel.max() > info.max else sel.min())
                    raise invalid(
                        where,
                        "weight_int",
                        bad,
                        f"outside {info.min}..{info.max} of layer {li}'s {dtype}",
                        _FIX,
                    )


def check_neuron_rows(cols: dict[str, np.ndarray], layers: list[dict[str, Any]], path: Path) -> None:
    """Neuron rows: known layer, unique (layer, neuron), finite parameters equal to the manifest's."""
    where, n = str(path), len(layers)
    lay, neu = _numeric(cols, "layer", where), _numeric(cols, "neuron", where)
    if lay is None:
        return
    layer = integral_array(lay, where, "layer", 0, n - 1, f"the manifest has {n} layer(s); {_FIX}")
    if neu is not None:
        _unique_rows(
            np.stack([layer, integral_array(neu, where, "neuron", 0, fix=_FIX)], axis=1),
            where,
            "(layer, neuron)",
        )
    _check_weight_scale(cols, layers, layer, where)
    for name in ("tau_steps", "bias", "v_threshold", "v_reset"):
        v = _numeric(cols, name, where)
        if v is None:
            continue
        if name not in ("v_threshold", "v_reset"):
            finite_array(v, where, name, _FIX)
            continue
        for li, lm in enumerate(layers):
            stated = (lm.get("neuron") or {}).get(name)
            if stated is None:
                continue
            # a quantized layer's manifest neuron is in integer units: compare the *_int column
            col = _numeric(cols, f"{name}_int", where) if lm.get("quantized") else v
            if col is None:
                continue
            got = col[layer == li]
            want = np.broadcast_to(np.asarray(stated, dtype=np.float64), got.shape)
            if not np.isclose(got, want, rtol=1e-9, atol=0).all():
                i = int(np.argmax(~np.isclose(got, want, rtol=1e-9, atol=0)))
                raise invalid(
                    where,
                    name,
                    float(got[i]),
                    f"layer {li} neuron {i} differs from the manifest's {float(want[i])!r}",
                    _FIX,
                )


def _check_weight_scale(
    cols: dict[str, np.ndarray], layers: list[dict[str, Any]], layer: np.ndarray, where: str
) -> None:
    """The ``weight_scale`` column: finite, > 0, and the manifest's scale of each neuron (1.0 in
    a float layer). The manifest's value is the one a reader uses; a column that disagrees
    means one of the two was edited, and the real-unit readout would be wrong."""
    ws = _numeric(cols, "weight_scale", where)
    if ws is None:
        return
    finite_array(ws, where, "weight_scale", _FIX)
    if ws.size and ws.min() <= 0:
        raise invalid(
            where, "weight_scale", float(ws.min()), "must be > 0 (real units per integer unit)", _FIX
        )
    for li, lm in enumerate(layers):
        got = ws[layer == li]
        stated = lm.get("weight_scale") if lm.get("quantized") else None
        try:
            want = np.broadcast_to(np.asarray(1.0 if stated is None else stated, dtype=np.float64), got.shape)
        except (TypeError, ValueError):
            continue  # the manifest's own weight_scale is refused when the layer is built
        bad = ~np.isclose(got, want, rtol=1e-9, atol=0)
        if bad.any():
            i = int(np.argmax(bad))
            raise invalid(
                where,
                "weight_scale",
                float(got[i]),
                f"layer {li} neuron {i} differs from the manifest's {float(want[i])!r}",
                _FIX,
            )
