"""Misbehaving HTTP servers and URLs found inside files: endless or range-ignoring bodies, slow
answers, redirects to private addresses, reference JSON naming private hosts, changed sources.

Every server here listens on a loopback address started inside the test; the addresses the
checks must refuse (``127.0.0.2``, ``169.254.169.254``) are never connected to.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from http_server import RangeHTTPServer
from zarr.core.sync import sync

from nwbzarr import limits
from nwbzarr.errors import (
    LimitExceededError,
    RemoteReadError,
    SourceChangedError,
    UntrustedReferenceError,
)
from nwbzarr.formats.kerchunk.references import load_references
from nwbzarr.storage.manifest import ByteRange
from nwbzarr.storage.ranges import open_range_reader

from .conftest import marker_files, run_capped

PATTERN = bytes(range(256)) * 4096  # 1 MiB; byte i of a body is i % 256
GROUP = {"zarr_format": 3, "node_type": "group", "attributes": {}}


def _write_all(handler: BaseHTTPRequestHandler, pieces) -> None:
    try:
        for piece in pieces:
            handler.wfile.write(piece)
            handler.wfile.flush()
    except OSError:  # the client hung up: expected
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(self.path)
        name = self.path.split("?")[0].strip("/")
        getattr(self, "_" + name.replace("-", "_"))()

    def _head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()

    def _endless206(self) -> None:  # claims 100 bytes, sends without end
        self._head(206, {"Content-Range": "bytes 0-99/1000000", "Connection": "close"})
        _write_all(self, (PATTERN[:65536] for _ in range(4096)))

    def _ignore200(self) -> None:  # ignores Range; a 3 GiB body made on the fly
        self._head(200, {"Content-Length": 3 << 30})
        _write_all(self, (PATTERN for _ in range(3 << 10)))

    def _slow_json(self) -> None:  # one byte per 0.5 s
        self._head(200, {"Content-Length": 1000})
        _write_all(self, (time.sleep(0.5) or b" " for _ in range(1000)))

    def _slow206(self) -> None:
        self._head(206, {"Content-Range": "bytes 0-99/1000", "Content-Length": 100})
        _write_all(self, (time.sleep(0.5) or b"x" for _ in range(100)))

    def _big_json(self) -> None:  # no Content-Length: read until the connection closes
        self._head(200, {"Connection": "close"})
        _write_all(self, (b" " * 65536 for _ in range(1 << 14)))

    def _redirect_private(self) -> None:
        self._head(
            302, {"Location": "http://169.254.169.254/latest/meta-data/", "Content-Length": 0}
        )

    def _redirect_other_loopback(self) -> None:
        location = f"http://127.0.0.2:{self.server.other_port}/x"
        self._head(302, {"Location": location, "Content-Length": 0})


class _Server:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.httpd.other_port = 9
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{path}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with _Server() as srv:
        yield srv


@pytest.fixture
def other_loopback():
    """A server on 127.0.0.2 that must never be asked anything."""
    try:
        srv = _Server("127.0.0.2")
    except OSError:
        pytest.skip("cannot listen on 127.0.0.2")
    with srv:
        yield srv


def _read(url: str, offset: int, length: int, retries: int = 0) -> bytes:
    with open_range_reader(cache=False, retries=retries) as reader:
        return sync(reader.read(ByteRange(url, offset, length)))


def test_endless_206_is_cut_at_the_requested_length(server):
    start = time.monotonic()
    with pytest.raises(RemoteReadError, match="longer than the 100 bytes"):
        _read(server.url("endless206"), 0, 100, retries=2)
    assert time.monotonic() - start < 5
    assert len(server.requests) == 1  # refused, not retried


def test_200_ignoring_range_is_read_only_up_to_the_range(server):
    code = f"""
        import json
        from zarr.core.sync import sync
        from nwbzarr.storage.ranges import open_range_reader
        from nwbzarr.storage.manifest import ByteRange
        from nwbzarr.errors import RemoteReadError
        url = {server.url("ignore200")!r}
        with open_range_reader(cache=False, retries=0) as reader:
            data = sync(reader.read(ByteRange(url, 1000, 300)))
            try:
                sync(reader.read(ByteRange(url, 2 << 30, 100)))
                far = "read"
            except RemoteReadError as exc:
                far = "refused" if "ignores Range" in str(exc) else str(exc)
        print(json.dumps({{"ok": data == bytes(i % 256 for i in range(1000, 1300)), "far": far}}))
    """
    start = time.monotonic()
    proc, result = run_capped(code, mem_mb=1024, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert result == {"ok": True, "far": "refused"}
    assert time.monotonic() - start < 30


def test_reference_json_dribbled_fails_within_http_timeout(server):
    start = time.monotonic()
    with limits.override(http_timeout=2):
        with pytest.raises(RemoteReadError, match="within 2 s"):
            load_references(server.url("slow-json"))
    assert time.monotonic() - start < 6


def test_range_dribbled_fails_within_http_timeout(server):
    start = time.monotonic()
    with limits.override(http_timeout=2):
        with pytest.raises(RemoteReadError, match="within 2 s"):
            _read(server.url("slow206"), 0, 100, retries=0)
    assert time.monotonic() - start < 6


def test_reference_json_body_capped(server):
    with limits.override(max_json_bytes=100_000):
        with pytest.raises(LimitExceededError, match="max_json_bytes"):
            load_references(server.url("big-json"))


def test_redirect_to_private_address_is_refused_before_connecting(server, other_loopback):
    with pytest.raises(UntrustedReferenceError, match="169.254.169.254"):
        _read(server.url("redirect-private"), 0, 10)
    server.httpd.other_port = other_loopback.httpd.server_address[1]
    with pytest.raises(UntrustedReferenceError, match="127.0.0.2"):
        _read(server.url("redirect-other-loopback"), 0, 10)
    assert other_loopback.requests == []


def _serve_json(tmp_path: Path, refs: dict, block: dict | None = None) -> Path:
    root = tmp_path / "served"
    root.mkdir(exist_ok=True)
    (root / "data.bin").write_bytes(PATTERN[:1024])
    doc: dict = {"version": 1, "refs": {"zarr.json": GROUP, **refs}}
    if block is not None:
        doc["nwbzarr"] = block
        doc["templates"] = {"u0": "data.bin"}
    (root / "refs.json").write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/x", "http://169.254.169.254/x"])
def test_remote_json_naming_private_hosts_is_refused(tmp_path, other_loopback, target):
    target = target.format(port=other_loopback.httpd.server_address[1])
    root = _serve_json(tmp_path, {"a/c/0": [target, 0, 10]})
    with RangeHTTPServer(root) as served:
        with pytest.raises(UntrustedReferenceError) as info:
            load_references(served.url("refs.json"))
        assert target in str(info.value) and "NWBZARR_ALLOW_PRIVATE_HOSTS" in str(info.value)
        with limits.override(allow_private_hosts=True):  # the user's choice: loads
            load_references(served.url("refs.json"))
    # a local JSON gets no exception for loopback hosts either
    with pytest.raises(UntrustedReferenceError):
        load_references(root / "refs.json")
    assert other_loopback.requests == []
    assert not marker_files(tmp_path)


def test_remote_json_same_origin_reads(tmp_path):
    root = _serve_json(tmp_path, {"a/c/0": ["data.bin", 16, 32]})
    with RangeHTTPServer(root) as served:
        refset = load_references(served.url("refs.json"))
        assert _read(refset.refs["a/c/0"].url, 16, 32) == PATTERN[16:48]


def test_remote_source_with_another_size_is_refused(tmp_path):
    block = {"format_version": 1, "zarr_format": 3, "sources": {"u0": {"size": 999}}}
    root = _serve_json(tmp_path, {"a/c/0": ["{{u0}}", 0, 64]}, block)
    with RangeHTTPServer(root) as served:
        refset = load_references(served.url("refs.json"))
        ref = refset.refs["a/c/0"]
        with pytest.raises(SourceChangedError, match="999"):
            _read(ref.url, ref.offset, ref.length)


def test_no_private_host_resolution_needed_for_public_names():
    # a name that does not resolve is not refused at load (no connection can be made to it);
    # a literal private address is refused without any lookup
    from nwbzarr.storage.policy import check_url_host

    check_url_host("https://nonexistent.invalid/x.nwb", what="test")
    for url in ("http://[::1]:8080/x", "http://0.0.0.0/x", "http://10.1.2.3/x"):
        with pytest.raises(UntrustedReferenceError):
            check_url_host(url, what="test")
    check_url_host("http://10.1.2.3/x", what="test", allow=True)


def test_remote_index_records_the_source_size(tmp_path):
    import h5py
    import numpy as np

    from nwbzarr.formats.hdf5.index import index_hdf5
    from nwbzarr.formats.kerchunk.references import save_references

    root = tmp_path / "served"
    root.mkdir()
    with h5py.File(root / "f.h5", "w") as f:
        f.create_dataset("x", data=np.arange(100_000), chunks=(50_000,))
    with RangeHTTPServer(root) as served:
        out = tmp_path / "f.json"
        save_references(index_hdf5(served.url("f.h5")), out)
        doc = json.loads(out.read_text())
        assert doc["nwbzarr"]["sources"]["u0"]["size"] == (root / "f.h5").stat().st_size
        with open(root / "f.h5", "ab") as f:  # the served file changes
            f.write(b"\0" * 10)
        with limits.override(allow_private_hosts=True):  # a local JSON naming a loopback URL
            refset = load_references(out)
        ref = next(v for k, v in refset.refs.items() if k.startswith("x/c"))
        with pytest.raises(SourceChangedError):
            _read(ref.url, ref.offset, ref.length)
