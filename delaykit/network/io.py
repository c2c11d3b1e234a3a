"""The ``.dkn`` file: HDF5 writing and reading, format versions and the version gate.

Layout (root attributes ``format``, ``format_version``, ``delaykit_version``, ``dt``,
``readout``, ``input``/``provenance``/``metadata`` as JSON, ``n_layers``; one group
``layers/NNN`` per layer with attributes ``name``, ``extend_steps``, ``neuron`` (JSON) and
datasets ``weight``, ``delay``, ``bias``, optional ``weight_scale`` and ``relay_src``).
See the "File formats" section of docs/design.md.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from delaykit import __version__
from delaykit.errors import DelaykitError, FormatError
from delaykit.fileio import atomic_h5
from delaykit.network.layer import InputSpec, Layer
from delaykit.network.neurons import neuron_from_dict, uses_v3
from delaykit.network.relays import uses_relays

if TYPE_CHECKING:
    from delaykit.network.contract import Network

FORMAT_NAME = "delaykit.network"
#: Newest file version this module reads and writes. Version 2 adds relay neurons
#: (``Layer.relay_src``) and input taps (``InputSpec.taps``); version 3 adds the neuron fields
#: ``tau_syn``, ``reset`` and ``leak`` (:func:`~delaykit.network.neurons.uses_v3`). A file is
#: written as the lowest version that holds it, so that older readers keep reading everything
#: they can represent, byte for byte as before.
FORMAT_VERSION = 3
BASE_FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1, 2, 3)


def uses_v3_neurons(net: Network) -> bool:
    """True when a layer's neuron has a synaptic current, a reset other than to a value, or the
    exact leak (format version 3)."""
    return any(uses_v3(layer.neuron) for layer in net.layers)


def format_version(net: Network) -> int:
    """The file version ``net`` is written as: 3 if a neuron uses a version-3 field, 2 if it
    uses relays or input taps, else 1."""
    if uses_v3_neurons(net):
        return 3
    return 2 if uses_relays(net) else BASE_FORMAT_VERSION


def _version_features(net: Network) -> str:
    if uses_v3_neurons(net):
        return "neurons with a synaptic current (tau_syn), a reset mode or the exact leak"
    return "relay neurons or input taps"


# ---- writing --------------------------------------------------------------------------------


def save_network(net: Network, path: str | Path) -> None:
    """Save ``net`` to ``path`` (HDF5). Writes a temporary file, then renames it."""

    with atomic_h5(path) as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = format_version(net)
        f.attrs["delaykit_version"] = __version__
        f.attrs["dt"] = net.dt
        f.attrs["readout"] = net.readout
        f.attrs["input"] = json.dumps(net.input.to_dict())
        f.attrs["provenance"] = json.dumps(net.provenance)
        f.attrs["metadata"] = json.dumps(net.metadata)
        f.attrs["n_layers"] = len(net.layers)
        g = f.create_group("layers")
        for i, layer in enumerate(net.layers):
            _write_layer(g.create_group(f"{i:03d}"), layer)


def _write_layer(lg: Any, layer: Layer) -> None:
    lg.attrs["name"] = layer.name
    lg.attrs["extend_steps"] = layer.extend_steps
    lg.attrs["neuron"] = json.dumps(layer.neuron.to_dict())
    lg.create_dataset("weight", data=layer.weight, compression="gzip")
    lg.create_dataset("delay", data=_compact_delay(layer.delay), compression="gzip")
    lg.create_dataset("bias", data=layer.bias)
    if layer.weight_scale is not None:
        lg.create_dataset("weight_scale", data=layer.weight_scale)
    if layer.n_relay:  # version 2
        lg.create_dataset("relay_src", data=layer.relay_src, compression="gzip")


def _compact_delay(d: np.ndarray) -> np.ndarray:
    """Delays in the smallest unsigned type that holds them (uint8, uint16, else int32)."""
    m = int(d.max()) if d.size else 0
    for dt in (np.uint8, np.uint16):
        if m <= np.iinfo(dt).max:
            return d.astype(dt)
    return d.astype(np.int32)


# ---- reading --------------------------------------------------------------------------------


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[tuple[Any, int]]:
    """Open a ``.dkn`` file past the format gate; yield ``(h5py file, format version)``.

    Raises DelaykitError for a missing file and FormatError (a ValueError) for a file that is
    not a delaykit network or has an unsupported version. Inside the block, a missing field
    (KeyError), unreadable content (OSError, JSON) or an invalid value (ValueError) becomes a
    FormatError naming the file.
    """
    import h5py  # heavy optional reader kept out of plain imports

    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file")
    if p.is_dir():
        raise DelaykitError(f"{p}: is a folder; expected a .dkn network file")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise FormatError(
            f"{p}: not a readable HDF5 file ({e}); is it truncated, or not a delaykit network?"
        ) from None
    try:
        with f:
            try:
                version = _check_header(f, p)
            except (KeyError, RuntimeError) as e:  # h5py on a damaged root object
                raise FormatError(f"{p}: unreadable HDF5 root ({e}); the file is damaged") from None
            with _as_format_errors(p):
                yield f, version
    except (OSError, RuntimeError) as e:  # h5py can fail while closing a damaged file
        raise FormatError(f"{p}: unreadable HDF5 file ({e})") from None


def _check_header(f: Any, p: Path) -> int:
    """The file's format version, after checking its ``format`` name and version are known."""
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT_NAME:
        raise FormatError(
            f"{p}: not a delaykit network file (attribute 'format' is {fmt!r}, "
            f"expected {FORMAT_NAME!r}); convert a checkpoint with 'delaykit convert'"
        )
    version = int(f.attrs.get("format_version", -1))
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise FormatError(
            f"{p}: network format_version {version} is not supported by delaykit "
            f"{__version__} (supports {', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}); "
            f"re-export the network or upgrade delaykit"
        )
    return version


@contextlib.contextmanager
def _as_format_errors(p: Path) -> Iterator[None]:
    try:
        yield
    except KeyError as e:
        raise FormatError(f"{p}: missing field {e}; the file is incomplete") from None
    except (OSError, RuntimeError, json.JSONDecodeError) as e:  # h5py: RuntimeError on a damaged B-tree
        raise FormatError(f"{p}: unreadable content ({e}); the file may be truncated") from None
    except ValueError as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{p}: {e}") from None


def check_version(net: Network, version: int, p: Path) -> None:
    """Refuse a file whose content needs a newer version than its header says (a damaged file)."""
    if format_version(net) > version:
        raise FormatError(
            f"{p}: format_version {version} file holds {_version_features(net)}, "
            f"which need version {format_version(net)}; the file is damaged"
        )


def _attr(obj: Any, key: str) -> Any:
    if key not in obj.attrs:
        raise KeyError(f"{obj.name}@{key}")
    v = obj.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def read_fields(f: Any) -> dict[str, Any]:
    """The keyword arguments of ``Network`` read from an open file (layers and input validated)."""
    n_layers = _attr(f, "n_layers")
    stored = len(f["layers"]) if "layers" in f else 0
    if not isinstance(n_layers, (int, np.integer)) or int(n_layers) != stored:
        raise ValueError(
            f"attribute 'n_layers' = {n_layers!r} but the file stores {stored} layer group(s); "
            f"the file is damaged: export it again"
        )
    layers = tuple(_read_layer(f, i) for i in range(int(n_layers)))
    inp = json.loads(_attr(f, "input"))
    if "taps" in inp:
        inp["taps"] = np.asarray(inp["taps"], dtype=np.int64).reshape(-1, 2)
    return {
        "layers": layers,
        "dt": float(_attr(f, "dt")),
        "input": InputSpec(**inp),
        "readout": str(_attr(f, "readout")),
        "provenance": json.loads(_attr(f, "provenance")),
        "metadata": json.loads(_attr(f, "metadata")),
    }


def _read_layer(f: Any, i: int) -> Layer:
    key = f"layers/{i:03d}"
    if key not in f:
        raise KeyError(key)
    lg = f[key]
    neuron = neuron_from_dict(json.loads(_attr(lg, "neuron")), where=f"layer {i}")
    scale = lg["weight_scale"][()] if "weight_scale" in lg else None
    return Layer(
        name=str(_attr(lg, "name")),
        weight=lg["weight"][()],
        delay=lg["delay"][()],
        bias=lg["bias"][()],
        neuron=neuron,
        weight_scale=scale,
        extend_steps=int(_attr(lg, "extend_steps")),
        relay_src=lg["relay_src"][()] if "relay_src" in lg else None,
    )
