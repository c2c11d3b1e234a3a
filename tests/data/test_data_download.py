"""Download logic (md5, resume, extraction) against a local HTTP server on loopback."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from delaykit.data.download import download_dataset, fetch_resumable, gunzip_atomic, parse_md5sums
from delaykit.errors import DelaykitError


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder, honouring 'Range: bytes=N-' (Python's handler does not)."""

    requests: list[tuple[str, str | None]] = []
    support_range = True

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        _RangeHandler.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        if rng and self.support_range:
            start = int(rng.split("=")[1].rstrip("-"))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    payloads = {}
    for name in ("shd_train.h5", "shd_test.h5"):
        raw = (name * 5000).encode()
        payloads[name] = raw
        (root / f"{name}.gz").write_bytes(gzip.compress(raw))
    sums = "".join(f"{hashlib.md5((root / f'{n}.gz').read_bytes()).hexdigest()}  {n}.gz\n" for n in payloads)
    (root / "md5sums.txt").write_text(sums)

    def handler(*a, **k):
        return _RangeHandler(*a, directory=str(root), **k)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    _RangeHandler.requests = []
    _RangeHandler.support_range = True
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, payloads
    httpd.shutdown()


def test_parse_md5sums():
    text = "0123456789abcdef0123456789abcdef  shd_train.h5.gz\nbad line\nFEDCBA9876543210FEDCBA9876543210 *x.gz\n"
    assert parse_md5sums(text) == {
        "shd_train.h5.gz": "0123456789abcdef0123456789abcdef",
        "x.gz": "fedcba9876543210fedcba9876543210",
    }


def test_download_verifies_and_extracts(server, tmp_path):
    url, _root, payloads = server
    out = tmp_path / "data"
    paths = download_dataset("shd", out, base_url=url, progress=False)
    assert [p.name for p in paths] == ["shd_train.h5", "shd_test.h5"]
    for p in paths:
        assert p.read_bytes() == payloads[p.name]
    assert not list(out.glob("*.gz")) and not list(out.glob("*.part"))
    # a second call finds the files and downloads nothing but the md5 list
    _RangeHandler.requests = []
    download_dataset("shd", out, base_url=url, progress=False)
    assert [r[0] for r in _RangeHandler.requests] == ["/md5sums.txt"]


def test_resume_continues_a_partial_file(server, tmp_path):
    url, root, _ = server
    full = (root / "shd_test.h5.gz").read_bytes()
    dest = tmp_path / "shd_test.h5.gz"
    dest.with_name(dest.name + ".part").write_bytes(full[:100])
    fetch_resumable(f"{url}/shd_test.h5.gz", dest, progress=False)
    assert dest.read_bytes() == full
    assert _RangeHandler.requests[-1] == ("/shd_test.h5.gz", "bytes=100-")


def test_server_without_range_restarts(server, tmp_path):
    url, root, _ = server
    _RangeHandler.support_range = False
    full = (root / "shd_test.h5.gz").read_bytes()
    dest = tmp_path / "shd_test.h5.gz"
    dest.with_name(dest.name + ".part").write_bytes(b"stale prefix")
    fetch_resumable(f"{url}/shd_test.h5.gz", dest, progress=False)
    assert dest.read_bytes() == full


def test_md5_mismatch_deletes_and_reports(server, tmp_path):
    url, root, _ = server
    (root / "shd_train.h5.gz").write_bytes(gzip.compress(b"tampered"))
    out = tmp_path / "data"
    with pytest.raises(DelaykitError, match="md5 .* does not match"):
        download_dataset("shd", out, base_url=url, progress=False)
    assert not (out / "shd_train.h5.gz").exists() and not (out / "shd_train.h5").exists()


def test_corrupt_gzip_leaves_no_output(tmp_path):
    bad = tmp_path / "x.h5.gz"
    bad.write_bytes(gzip.compress(b"abc" * 1000)[:-20])
    with pytest.raises(DelaykitError, match="corrupt gzip"):
        gunzip_atomic(bad, tmp_path / "x.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5.gz"]


def test_unreachable_host_is_a_clear_error(tmp_path):
    with pytest.raises(DelaykitError, match="cannot reach the server"):
        download_dataset("shd", tmp_path, base_url="http://127.0.0.1:9", progress=False)
