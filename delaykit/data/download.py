"""Download SHD / SSC from the Zenke lab with md5 check, resume and atomic extraction.

The lab publishes gzip files and an ``md5sums.txt`` beside them. The steps, each testable on
local files: fetch the md5 list, download each ``.gz`` into ``<name>.gz.part`` resuming with an
HTTP Range request, verify its md5, rename it to ``<name>.gz``, gunzip it to a temporary file
and rename that to ``<name>``. A file whose md5 does not match is deleted and reported.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from delaykit.errors import DelaykitError
from delaykit.fileio import atomic_path
from delaykit.outputs import output_error, require_space
from delaykit.progress import progress_bar

BASE_URL = "https://zenkelab.org/datasets"
FILES = {
    "shd": ("shd_train.h5.gz", "shd_test.h5.gz"),
    "ssc": ("ssc_train.h5.gz", "ssc_valid.h5.gz", "ssc_test.h5.gz"),
}
CHUNK = 1 << 20
TIMEOUT_S = 30.0

Opener = Callable[[urllib.request.Request], object]


def md5sum(path: Path, chunk: int = CHUNK) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def parse_md5sums(text: str) -> dict[str, str]:
    """Parse ``md5sum`` output lines ``<hex>  <name>`` into {name: hex}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) == 2 and len(parts[0]) == 32:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def _open(url: str, opener: Opener | None, start: int = 0):
    req = urllib.request.Request(url, headers={"User-Agent": "delaykit"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    if opener is not None:
        return opener(req)
    return urllib.request.urlopen(req, timeout=TIMEOUT_S)


def fetch_resumable(url: str, dest: Path, *, opener: Opener | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, continuing a previous partial ``dest.part``.

    Returns ``dest``. If the server ignores the Range header (status 200), the download
    restarts from zero instead of appending to a stale prefix.
    """
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, opener, start)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # range not satisfiable: the part is already complete
            part.replace(dest)
            return dest
        raise DelaykitError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DelaykitError(
            f"{url}: cannot reach the server ({getattr(e, 'reason', e)}). Download the files "
            f"on a machine with internet access and copy them into {dest.parent}, or use "
            f"'delaykit data synth' / 'delaykit data spoken-digits' for local data"
        ) from None
    with resp:
        status = getattr(resp, "status", 200)
        if start and status != 206:
            start = 0  # no resume support: start over
        total = resp.headers.get("Content-Length")
        total_n = int(total) + start if total is not None else None
        mode = "ab" if start else "wb"
        if total is not None:
            require_space(part.parent, int(total), part)  # a full disk: one line before the download
        with (
            open(part, mode, buffering=0) as f,  # unbuffered: closing never writes (and never fails)
            progress_bar(
                total=total_n, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar,
        ):
            while block := resp.read(CHUNK):
                try:
                    f.write(block)
                except OSError as e:  # the .part stays for a resumed download
                    raise output_error(e, part) from None
                bar.update(len(block))
    part.replace(dest)
    return dest


def verify_md5(path: Path, expected: str) -> None:
    """Raise DelaykitError (and delete ``path``) when its md5 differs from ``expected``."""
    got = md5sum(path)
    if got != expected.lower():
        path.unlink()
        raise DelaykitError(
            f"{path}: md5 {got} does not match the published {expected}; the file was deleted, "
            f"run the download again"
        )


def gunzip_atomic(src: Path, dest: Path) -> Path:
    """Decompress ``src`` (.gz) to ``dest`` through a temporary file; raise on corrupt input."""
    try:
        with gzip.open(src, "rb") as fin, atomic_path(dest) as tmp, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
    except (OSError, EOFError) as e:
        raise DelaykitError(f"{src}: corrupt gzip archive ({e}); delete it and download again") from None
    return dest


def download_dataset(
    name: str,
    out_dir: Path,
    *,
    base_url: str | None = None,
    opener: Opener | None = None,
    keep_archive: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Download, verify and extract dataset ``name`` ('shd' or 'ssc') into ``out_dir``.

    Already extracted files are kept; returns the paths of the .h5 files.
    """
    if name not in FILES:
        raise DelaykitError(f"unknown dataset {name!r}; choose one of {sorted(FILES)}")
    base_url = base_url or BASE_URL
    out_dir.mkdir(parents=True, exist_ok=True)
    md5_path = fetch_resumable(
        f"{base_url}/md5sums.txt", out_dir / "md5sums.txt", opener=opener, progress=False
    )
    sums = parse_md5sums(md5_path.read_text())
    results = []
    for gz_name in FILES[name]:
        h5 = out_dir / gz_name[: -len(".gz")]
        if h5.exists():
            results.append(h5)
            continue
        if gz_name not in sums:
            raise DelaykitError(f"{md5_path}: no md5 listed for {gz_name}; cannot verify the download")
        gz = out_dir / gz_name
        if not gz.exists():
            fetch_resumable(f"{base_url}/{gz_name}", gz, opener=opener, progress=progress)
        verify_md5(gz, sums[gz_name])
        gunzip_atomic(gz, h5)
        if not keep_archive:
            gz.unlink()
        results.append(h5)
    return results
