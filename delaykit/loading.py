"""Load a deployed network from any of the files delaykit reads (torch-free).

``.dkn`` (the contract file), ``.nir`` (any NIR graph :func:`delaykit.nir.import_nir.load_nir`
accepts), or an event-table folder / ``manifest.json`` (:func:`delaykit.tables.read_tables`).
Used by ``delaykit sim``, ``delaykit targets`` and ``delaykit convert``.
"""

from __future__ import annotations

from pathlib import Path

from delaykit.errors import DelaykitError
from delaykit.network import Network, load_network
from delaykit.nir.import_nir import load_nir
from delaykit.tables import read_tables

TABLE_SUFFIXES = (".json", ".toml", ".manifest")


def is_deployed_path(path: str | Path) -> bool:
    """True for paths :func:`load_model` reads by their name: table folders, .json, .nir, .dkn."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (*TABLE_SUFFIXES, ".nir", ".dkn")


def load_model(path: str | Path, *, dt: float | None = None) -> Network:
    """A Network from a ``.dkn`` file, a ``.nir`` graph or an event-table folder / manifest.

    dt: the step in seconds, needed only for NIR graphs that do not carry delaykit metadata
    (their times are in seconds). Errors name the file and are DelaykitError (exit 2 in the CLI).
    """
    p = Path(path)
    if not p.exists():
        raise DelaykitError(f"{p}: no such file or folder")
    if p.is_dir() or p.suffix.lower() in TABLE_SUFFIXES:
        return read_tables(p)
    if p.suffix.lower() == ".nir":
        try:
            return load_nir(p, dt=dt)
        except DelaykitError:
            raise
        except ValueError as e:
            raise DelaykitError(f"{p}: {e}") from None
    return load_network(p)
