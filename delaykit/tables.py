"""Explicit synaptic-delay tables: write a deployed network as tables, and read it back.

numpy only (pyarrow for Parquet, imported when used); never torch. ``delaykit convert
to-table`` writes them; ``read_tables(dir)`` rebuilds the :class:`~delaykit.network.Network`
(``delaykit sim`` accepts a table directory).

Schema (directory ``OUT/``; every file is written atomically)
-------------------------------------------------------------
``manifest.json``
    ``format`` = ``"delaykit.tables"``, ``format_version`` = 1, ``dt_s`` (step length, seconds),
    ``readout`` (rule name), ``input`` (InputSpec: n_channels, window_steps, n_units,
    channel_group, encoding), ``layers`` (in order: ``index``, ``name``, ``n_in``, ``n_out``,
    ``extend_steps``, ``neuron`` (contract dict: kind, tau in steps, v_threshold, v_reset, in
    the layer's units), ``weight_dtype``, ``quantized``, ``weight_scale`` (list per neuron or
    null), ``synapses``), ``files`` (what was written), ``units`` (column units),
    ``provenance``, ``metadata``.
``synapses.{csv,parquet,npz}`` -- one row per synapse with a non-zero weight, sorted by
    (layer, post, pre):

    ========== ======= ==========================================================
    column     type    meaning
    ========== ======= ==========================================================
    layer      int32   layer index (0 = fed by the input channels)
    pre        int32   presynaptic index (input channel for layer 0, else neuron)
    post       int32   postsynaptic neuron index in the layer
    weight     float64 weight in real units (integer x weight_scale[post] if quantized)
    weight_int int64   stored integer weight (quantized layers; 0 for float layers)
    delay_steps int32  delay in steps of dt (0 = same step)
    delay_ms   float64 delay_steps x dt x 1000
    ========== ======= ==========================================================

``format_version`` 2 (contract-v3 neurons only): ``layers[].neuron`` holds ``tau_syn``,
    ``reset``, ``leak``, ``layers[].update`` the layer's rule, and the neuron table four more
    columns ``tau_syn_steps`` (NaN: no current), ``tau_syn_ms``, ``reset``, ``leak``.
``neurons.{csv,parquet,npz}`` -- one row per neuron: ``layer``, ``neuron``, ``kind`` ("lif" /
    "li"), ``tau_steps``, ``tau_ms``, ``v_threshold``, ``v_reset``, ``bias`` (per-step constant
    current) in real units (NaN threshold for LI), ``weight_scale`` (1.0 for float layers),
    and ``v_threshold_int``, ``v_reset_int``, ``bias_int`` (the stored integers of quantized
    layers, 0 otherwise).
``pynn/<ii>_<name>_{exc,inh,bias_exc,bias_inh}.txt`` -- PyNN ``FromFileConnector`` lists (see
    :func:`pynn_lists`): one ``# columns = ["i", "j", "weight", "delay"]`` header line, one sign
    per file, weights in simulation units, delays ``(delay_steps + 1) x dt`` in ms (a PyNN
    simulator's smallest delay is one step; the manifest's ``pynn.timing`` gives the exact
    per-layer shift that restores the network's steps).

The manifest also states the update rule of each neuron kind, which columns are authoritative,
run lengths, input binning and readout (:mod:`delaykit.tables_manifest`, ``docs/tables.md``).

CSV floats are written with 17 significant digits, so every format round-trips exactly. A
synapse without a row has weight 0 (its delay reads back as 0).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import atomic_path, write_text_atomic
from delaykit.network import InputSpec, Layer, Network, neuron_from_dict, require_no_relays
from delaykit.outputs import atomic_folder, refuse_foreign_folder
from delaykit.tables_checks import check_neuron_rows, check_synapse_rows
from delaykit.tables_manifest import manifest, v3_neuron_columns

TABLES_FORMAT = "delaykit.tables"
TABLES_VERSION = 1
#: Version 2: a layer's neuron is of contract version 3 (synaptic current, reset mode, exact
#: leak; the manifest says which, the neuron table has four more columns). Written only then.
SUPPORTED_TABLES_VERSIONS = (1, 2)
FORMATS = ("csv", "parquet", "npz")

SYNAPSE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "int32"),
    ("pre", "int32"),
    ("post", "int32"),
    ("weight", "float64"),
    ("weight_int", "int64"),
    ("delay_steps", "int32"),
    ("delay_ms", "float64"),
)
NEURON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "int32"),
    ("neuron", "int32"),
    ("kind", "str"),
    ("tau_steps", "float64"),
    ("tau_ms", "float64"),
    ("v_threshold", "float64"),
    ("v_reset", "float64"),
    ("bias", "float64"),
    ("weight_scale", "float64"),
    ("v_threshold_int", "int64"),
    ("v_reset_int", "int64"),
    ("bias_int", "int64"),
)


def synapse_table(net: Network) -> dict[str, np.ndarray]:
    """Columns of the synapse table (see the module docstring)."""
    require_no_relays(net, "the synaptic-delay tables")  # their 'pre' indexes neurons, not relays
    cols: dict[str, list[np.ndarray]] = {name: [] for name, _ in SYNAPSE_COLUMNS}
    for li, layer in enumerate(net.layers):
        post, pre = np.nonzero(layer.weight)  # row-major: sorted by (post, pre)
        w_stored = layer.weight[post, pre]
        real = layer.real_weight()[post, pre]
        d = layer.delay[post, pre]
        cols["layer"].append(np.full(post.size, li, np.int32))
        cols["pre"].append(pre.astype(np.int32))
        cols["post"].append(post.astype(np.int32))
        cols["weight"].append(real.astype(np.float64))
        cols["weight_int"].append(
            w_stored.astype(np.int64) if layer.is_integer else np.zeros(post.size, np.int64)
        )
        cols["delay_steps"].append(d.astype(np.int32))
        cols["delay_ms"].append(d.astype(np.float64) * net.dt * 1e3)
    return {name: np.concatenate(cols[name]).astype(dtype) for name, dtype in SYNAPSE_COLUMNS}


def _bias(layer: Layer) -> np.ndarray:
    """The layer's per-step bias (the contract fills a missing one with zeros)."""
    return np.zeros(layer.n_out) if layer.bias is None else layer.bias


def neuron_table(net: Network) -> dict[str, np.ndarray]:
    """Columns of the neuron table (see the module docstring)."""
    require_no_relays(net, "the synaptic-delay tables")
    cols: dict[str, list[Any]] = {name: [] for name, _ in NEURON_COLUMNS}
    for li, layer in enumerate(net.layers):
        n = layer.n_out
        scale = layer.weight_scale if layer.weight_scale is not None else np.ones(n)
        neu = layer.neuron
        th = np.broadcast_to(np.asarray(getattr(neu, "v_threshold", np.nan), np.float64), (n,))
        rs = np.broadcast_to(np.asarray(neu.v_reset, np.float64), (n,))
        cols["layer"].append(np.full(n, li))
        cols["neuron"].append(np.arange(n))
        cols["kind"].append(np.full(n, neu.kind, dtype=object))
        cols["tau_steps"].append(np.full(n, float(neu.tau)))
        cols["tau_ms"].append(np.full(n, float(neu.tau) * net.dt * 1e3))
        cols["v_threshold"].append(th * scale)
        cols["v_reset"].append(rs * scale)
        cols["bias"].append(_bias(layer).astype(np.float64) * scale)
        cols["weight_scale"].append(scale.astype(np.float64))
        if layer.is_integer:
            cols["v_threshold_int"].append(np.nan_to_num(th, nan=0).astype(np.int64))
            cols["v_reset_int"].append(rs.astype(np.int64))
            cols["bias_int"].append(_bias(layer).astype(np.int64))
        else:
            for k in ("v_threshold_int", "v_reset_int", "bias_int"):
                cols[k].append(np.zeros(n, np.int64))
    out: dict[str, np.ndarray] = {}
    for name, dtype in NEURON_COLUMNS:
        arr = np.concatenate(cols[name])
        out[name] = arr.astype(str) if dtype == "str" else arr.astype(dtype)
    out.update(v3_neuron_columns(net))  # contract v3 only: tau_syn_steps, tau_syn_ms, reset, leak
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(v)


def _csv_text(cols: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(cols)
    w.writerow(names)
    lists = [cols[n].tolist() for n in names]
    for row in zip(*lists, strict=False):
        w.writerow([_fmt(v) for v in row])
    return buf.getvalue()


def _write_columns(cols: dict[str, np.ndarray], path_stem: Path, fmt: str) -> Path:
    if fmt == "csv":
        p = path_stem.with_suffix(".csv")
        write_text_atomic(p, _csv_text(cols))
    elif fmt == "npz":
        p = path_stem.with_suffix(".npz")
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **cols)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    elif fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DelaykitError(
                "Parquet output needs pyarrow: pip install pyarrow, or use --format csv/npz"
            ) from None
        p = path_stem.with_suffix(".parquet")
        table = pa.table({k: pa.array(v.tolist() if v.dtype.kind == "U" else v) for k, v in cols.items()})
        with atomic_path(p) as tmp:
            pq.write_table(table, tmp)
    else:
        raise DelaykitError(f"table format must be one of {FORMATS}, got {fmt!r}")
    return p


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
PYNN_HEADER = '# columns = ["i", "j", "weight", "delay"]'


def _dt_ms(dt_s: float) -> float:
    """The step in milliseconds, rounded to the nanosecond (0.01 s -> 10.0, not 10.000000000000002)."""
    return round(float(dt_s) * 1e3, 6)


def _sim_units(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(weight (n_out, n_in), bias (n_out,)) in the layer's simulation units: the stored
    integers of a quantized layer, real units otherwise."""
    return layer.weight.astype(np.float64), _bias(layer).astype(np.float64)


def _pynn_text(rows: list[tuple[int, int, float, float]]) -> str:
    lines = [PYNN_HEADER] + [f"{i} {j} {w!r} {d!r}" for i, j, w, d in rows]
    return "\n".join(lines) + "\n"


def pynn_lists(net: Network) -> dict[str, str]:
    """PyNN ``FromFileConnector`` lists: ``{relative path: text}``.

    Per layer ``pynn/<ii>_<name>_{exc,inh}.txt`` (synapses with weight > 0 / < 0: PyNN wants one
    sign per projection) and ``pynn/<ii>_<name>_bias_{exc,inh}.txt`` (pre = the layer's bias
    source, 0). Weights are in simulation units (the stored integers of quantized layers);
    inhibitory weights are negative (PyNN's rule for current-based synapses). Delays are in ms
    and one step longer than the network's: ``(delay_steps + 1) x dt`` (bias: one step), because
    PyNN simulators' smallest delay is one step; ``run_pynn.py`` undoes the resulting shift of
    ``l + 1`` steps at layer ``l`` exactly (see the manifest's ``pynn`` block).
    """
    require_no_relays(net, "the PyNN lists")
    dt_ms = _dt_ms(net.dt)
    out: dict[str, str] = {}
    for li, layer in enumerate(net.layers):
        w, b = _sim_units(layer)
        name = f"pynn/{li:02d}_{_SAFE.sub('_', layer.name) or f'layer{li}'}"
        post, pre = np.nonzero(w)  # sorted by (post, pre)
        for sign, tag in ((1, "exc"), (-1, "inh")):
            sel = np.sign(w[post, pre]) == sign
            rows = [
                (int(i), int(j), float(w[j, i]), (int(layer.delay[j, i]) + 1) * dt_ms)
                for i, j in zip(pre[sel].tolist(), post[sel].tolist(), strict=True)
            ]
            out[f"{name}_{tag}.txt"] = _pynn_text(rows)
            brows = [(0, int(j), float(b[j]), dt_ms) for j in np.flatnonzero(np.sign(b) == sign).tolist()]
            out[f"{name}_bias_{tag}.txt"] = _pynn_text(brows)
    return out


def write_tables(
    net: Network, out_dir: str | Path, formats: Iterable[str] = FORMATS, pynn: bool = True
) -> list[Path]:
    """Write the tables of ``net`` as the folder ``out_dir``; returns the written paths.

    The folder is written as a whole (:func:`delaykit.outputs.atomic_folder`): a reader sees the
    old folder intact or the new one complete. An existing folder that is not a table export
    (no delaykit manifest) is refused rather than replaced. The manifest
    (:func:`delaykit.tables_manifest.manifest`) states the update rule, units, run lengths,
    input binning and readout, so the files alone reproduce delaykit's simulation.
    """
    out = Path(out_dir)
    refuse_foreign_folder(out, "manifest.json", "a table export")
    with atomic_folder(out) as tmp:
        files = write_tables_into(net, tmp, formats, pynn)
    return [out / p.relative_to(tmp) for p in files]


def write_tables_into(
    net: Network, folder: Path, formats: Iterable[str] = FORMATS, pynn: bool = True
) -> list[Path]:
    """Write the tables of ``net`` into the existing, empty ``folder`` (a temporary one)."""
    formats = tuple(formats)
    for f in formats:
        if f not in FORMATS:
            raise DelaykitError(f"table format must be one of {FORMATS}, got {f!r}")
    syn = synapse_table(net)
    neu = neuron_table(net)
    written: list[Path] = []
    for f in formats:
        written.append(_write_columns(syn, folder / "synapses", f))
        written.append(_write_columns(neu, folder / "neurons", f))
    pynn_files: list[str] = []
    if pynn:
        (folder / "pynn").mkdir(exist_ok=True)
        for rel, text in pynn_lists(net).items():
            write_text_atomic(folder / rel, text)
            written.append(folder / rel)
            pynn_files.append(rel)
    man = {"format": TABLES_FORMAT, "format_version": TABLES_VERSION, **manifest(net, formats, pynn_files)}
    mp = folder / "manifest.json"
    write_text_atomic(mp, json.dumps(man, indent=2) + "\n")
    return [mp, *written]


# ---- reading -------------------------------------------------------------------------------


def _read_columns(path: Path) -> dict[str, np.ndarray]:
    try:
        return _read_columns_raw(path)
    except DelaykitError:
        raise
    except Exception as e:  # noqa: BLE001 - numpy/zipfile/pyarrow/csv each fail their own way
        raise FormatError(f"{path}: unreadable table ({type(e).__name__}: {e}); write it again") from None


def _read_columns_raw(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        return {name: t.column(name).to_numpy() for name in t.column_names}
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows:
            raise FormatError(f"{path}: empty CSV (expected a header row)")
        header, body = rows[0], rows[1:]
        cols = list(zip(*body, strict=False)) if body else [() for _ in header]
        return {h: np.asarray(c) for h, c in zip(header, cols, strict=False)}
    raise FormatError(f"{path}: unknown table format (expected .parquet, .npz or .csv)")


def _pick(dir_: Path, stem: str) -> Path:
    for ext in (".parquet", ".npz", ".csv"):
        p = dir_ / f"{stem}{ext}"
        if p.exists():
            if ext == ".parquet":
                try:
                    import pyarrow  # noqa: F401
                except ImportError:
                    continue
            return p
    raise FormatError(
        f"{dir_}: no {stem}.parquet, {stem}.npz or {stem}.csv; is it a 'delaykit convert to-table' directory?"
    )


def _col(cols: dict[str, np.ndarray], name: str, dtype: str, where: Path) -> np.ndarray:
    if name not in cols:
        raise FormatError(f"{where}: missing column '{name}'")
    try:
        return np.asarray(cols[name]).astype(dtype)
    except ValueError as e:
        raise FormatError(f"{where}: column '{name}' is not {dtype}: {e}") from None


def _load_manifest(d: Path) -> tuple[Path, dict[str, Any]]:
    mp = d / "manifest.json"
    if not mp.exists():
        raise DelaykitError(f"{d}: no manifest.json; not a delaykit table directory")
    try:
        man = json.loads(mp.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(f"{mp}: not valid JSON ({e})") from None
    if man.get("format") != TABLES_FORMAT:
        raise FormatError(f"{mp}: field 'format' is {man.get('format')!r}, expected {TABLES_FORMAT!r}")
    if man.get("format_version") not in SUPPORTED_TABLES_VERSIONS:
        raise FormatError(
            f"{mp}: format_version {man.get('format_version')!r} unsupported "
            f"(supported: {', '.join(map(str, SUPPORTED_TABLES_VERSIONS))}); upgrade delaykit"
        )
    return mp, man


def _layer(li: int, lm: dict[str, Any], mp: Path, sp: Path, np_: Path, syn: dict, neu: dict) -> Layer:
    """Layer ``li`` from its manifest entry and its synapse/neuron rows (see read_tables)."""
    try:
        n_in, n_out = int(lm["n_in"]), int(lm["n_out"])
        quant = bool(lm["quantized"])
        dtype = np.dtype(lm["weight_dtype"])
        neuron = neuron_from_dict(lm["neuron"], where=f"{mp} layers[{li}]")
    except KeyError as e:
        raise FormatError(f"{mp}: layers[{li}] lacks field {e}") from None
    sel = syn["layer"] == li
    pre, post = syn["pre"][sel], syn["post"][sel]
    if pre.size and (pre.min() < 0 or pre.max() >= n_in or post.min() < 0 or post.max() >= n_out):
        raise FormatError(f"{sp}: layer {li} has pre/post indices outside {n_out}x{n_in}")
    w = np.zeros((n_out, n_in), dtype=dtype)
    w[post, pre] = syn["weight_int"][sel] if quant else syn["weight"][sel]
    dm = np.zeros((n_out, n_in), dtype=np.int32)
    dm[post, pre] = syn["delay_steps"][sel]
    nsel = neu["layer"] == li
    if int(nsel.sum()) != n_out:
        raise FormatError(f"{np_}: layer {li} has {int(nsel.sum())} neuron rows, manifest says {n_out}")
    return Layer(
        name=str(lm["name"]),
        weight=w,
        delay=dm,
        neuron=neuron,
        bias=neu["bias_int"][nsel] if quant else neu["bias"][nsel],
        weight_scale=np.asarray(lm["weight_scale"], dtype=np.float64) if quant else None,
        extend_steps=int(lm["extend_steps"]),
    )


def read_tables(path: str | Path) -> Network:
    """Rebuild the Network from a table directory (or its ``manifest.json``).

    Prefers Parquet (if pyarrow is installed), then npz, then CSV for the synapse and neuron
    tables. Raises FormatError naming the file and field on anything inconsistent.
    """
    p = Path(path)
    d = p.parent if p.name == "manifest.json" else p
    mp, man = _load_manifest(d)
    sp, np_ = _pick(d, "synapses"), _pick(d, "neurons")
    syn_cols, neu_cols = _read_columns(sp), _read_columns(np_)
    man_layers: list[dict[str, Any]] = man["layers"] if isinstance(man.get("layers"), list) else []
    check_synapse_rows(syn_cols, man_layers, sp)
    check_neuron_rows(neu_cols, man_layers, np_)
    syn = {
        name: _col(syn_cols, name, dtype, sp)
        for name, dtype in (
            ("layer", "int64"),
            ("pre", "int64"),
            ("post", "int64"),
            ("weight", "float64"),
            ("weight_int", "int64"),
            ("delay_steps", "int64"),
        )
    }
    neu = {
        name: _col(neu_cols, name, dtype, np_)
        for name, dtype in (("layer", "int64"), ("bias", "float64"), ("bias_int", "int64"))
    }
    try:
        layers = [_layer(li, lm, mp, sp, np_, syn, neu) for li, lm in enumerate(man.get("layers", []))]
    except (TypeError, ValueError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{mp}: {e}") from None
    if not layers:
        raise FormatError(f"{mp}: field 'layers' is empty")
    try:
        return Network(
            layers=tuple(layers),
            dt=float(man["dt_s"]),
            input=InputSpec(**{k: v for k, v in man["input"].items() if k != "binning"}),
            readout=str(man["readout"]),
            provenance=man.get("provenance") or {},
            metadata=man.get("metadata") or {},
        )
    except KeyError as e:
        raise FormatError(f"{mp}: missing field {e}") from None
    except ValueError as e:
        raise FormatError(f"{mp}: {e}") from None
