"""Remote (read-only) stores: real files served over HTTP from a loopback server, fsspec's
``memory://`` filesystem, and ``s3://``/``gs://`` URLs routed to it, compared with local reads.

The HTTP server (``tests/http_server.py``) serves a temporary directory with Range support and
logs every request, so laziness and the cost of opening a file are measured in requests.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from conftest import ECEPHYS_FILE, NWB_DIR, SHARED_DATA
from hdmf.testing import TestCase
from http_server import RangeHTTPServer
from pynwb import TimeSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrIO
from nwbzarr.cli import main
from nwbzarr.errors import (
    NotAZarrStoreError,
    ReadOnlyError,
    RemoteAccessError,
    RemoteListingError,
    StoreNotFoundError,
)
from nwbzarr.storage.resolve import is_remote_url, join_location, open_store
from nwbzarr.summary.tree import summarize

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fsspec") is None or importlib.util.find_spec("aiohttp") is None,
    reason="remote stores need fsspec and aiohttp: pip install 'nwbzarr[remote]'",
)

# more real files served when the shared data are there (the shipped sample always is)
OTHERS = tuple(
    name
    for name in ("2.1.0_nwbfile_with_extension.nwb", "1.5.1_timeseries_no_unit.nwb")
    if (NWB_DIR / name).is_file()
)
LEGACY_DIR = SHARED_DATA / "hdmf_zarr_v2"
LEGACY_STORES = sorted(p.name for p in LEGACY_DIR.glob("*.nwb.zarr")) if LEGACY_DIR.is_dir() else []
TOKEN = {"Authorization": "Bearer s3cret"}
# Budget for NWBZarrIO(url, "r") + read() of the ecephys file (measured: see test docstring).
OPEN_READ_BUDGET = 30  # measured 26


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of Zarr stores converted from real HDF5 files, plus a linked pair.

    ``ecephys.nwb.zarr`` default layout; ``sharded.nwb.zarr`` 8 kB chunks in 64 kB shards;
    ``chunked.nwb.zarr`` 8 kB chunks, no shards (all three from the shipped sample); one store
    per name in ``OTHERS`` (shared data);
    ``a.nwb.zarr`` and ``b.nwb.zarr``, where b's ``acquisition/linked/data`` links into a.
    """
    src = ECEPHYS_FILE
    root = tmp_path_factory.mktemp("served")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbzarr.convert(src, root / "ecephys.nwb.zarr", progress=False)
        nwbzarr.convert(
            src, root / "sharded.nwb.zarr", chunk_mb=8 / 1024, shard_mb=64 / 1024, progress=False
        )
        nwbzarr.convert(
            src, root / "chunked.nwb.zarr", chunk_mb=8 / 1024, shard_mb=0, progress=False
        )
        for name in OTHERS:
            nwbzarr.convert(NWB_DIR / name, root / f"{name}.zarr", progress=False)
        _write_linked_pair(root)
    return root


def _write_linked_pair(root: Path) -> None:
    source = mock_NWBFile()
    mock_TimeSeries(name="src", data=np.arange(10.0), rate=1.0, nwbfile=source)
    with NWBZarrIO(root / "a.nwb.zarr", mode="w") as io:
        io.write(source)
    with NWBZarrIO(root / "a.nwb.zarr", mode="r") as src_io:
        data = src_io.read().acquisition["src"].data
        nwbfile = mock_NWBFile()
        nwbfile.add_acquisition(TimeSeries(name="linked", data=data, unit="volts", rate=1.0))
        with NWBZarrIO(root / "b.nwb.zarr", mode="w") as io:
            io.write(nwbfile)


@pytest.fixture
def listing_server(served_dir: Path) -> Iterator[RangeHTTPServer]:
    """The same stores from a server that answers directory URLs with an HTML index."""
    with RangeHTTPServer(served_dir, listing=True) as srv:
        yield srv


@pytest.fixture
def auth_server(served_dir: Path) -> Iterator[RangeHTTPServer]:
    """The same stores, refusing (401) every request without the ``TOKEN`` header."""
    with RangeHTTPServer(served_dir, required_headers=TOKEN) as srv:
        yield srv


@pytest.fixture
def legacy_server() -> Iterator[RangeHTTPServer]:
    """The shared legacy hdmf-zarr v2 stores, served in place (read-only)."""
    if not LEGACY_STORES:
        pytest.skip(f"shared data not found: {LEGACY_DIR}")
    with RangeHTTPServer(LEGACY_DIR, listing=True) as srv:
        yield srv


@pytest.fixture
def memory_store(served_dir: Path) -> Iterator[str]:
    """A copy of ``ecephys.nwb.zarr`` in fsspec's memory filesystem; yields its path there."""
    import fsspec

    fs = fsspec.filesystem("memory")
    base = f"/nwbzarr-test-{uuid.uuid4().hex}"
    local = served_dir / "ecephys.nwb.zarr"
    for dirpath, _, filenames in os.walk(local):
        for name in filenames:
            rel = Path(dirpath, name).relative_to(local).as_posix()
            fs.pipe_file(f"{base}/ecephys.nwb.zarr/{rel}", Path(dirpath, name).read_bytes())
    yield f"{base}/ecephys.nwb.zarr"
    fs.rm(base, recursive=True)


# -- helpers ----------------------------------------------------------------------------------
def _assert_same_file(local_path: Path, remote, **remote_kwargs) -> None:
    """Read ``local_path`` and ``remote`` (URL or open NWBZarrIO) and compare every container."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(local_path, mode="r") as local:
            if isinstance(remote, NWBZarrIO):
                TestCase().assertContainerEqual(local.read(), remote.read(), ignore_hdmf_attrs=True)
                return
            with NWBZarrIO(remote, mode="r", **remote_kwargs) as io:
                TestCase().assertContainerEqual(local.read(), io.read(), ignore_hdmf_attrs=True)


def _assert_quick_same(local_path: Path, remote: NWBZarrIO) -> None:
    """Cheaper than :func:`_assert_same_file`: same objects (ids and types), identifier and
    spike times."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(local_path, mode="r") as local:
            want, got = local.read(), remote.read()
            assert got.identifier == want.identifier
            kinds = {k: type(v).__name__ for k, v in want.objects.items()}
            assert {k: type(v).__name__ for k, v in got.objects.items()} == kinds
            if want.units is not None:
                np.testing.assert_array_equal(
                    got.units.spike_times.data[:], want.units.spike_times.data[:]
                )


def _summary_facts(summary) -> list[tuple]:
    return [
        (n.path, n.kind, n.neurodata_type, n.shape, n.dtype, n.chunks, n.shards, tuple(n.codecs))
        for n in summary.nodes
    ]


# -- reading over HTTP ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ecephys.nwb.zarr", *(f"{n}.zarr" for n in OTHERS)])
def test_http_reads_equal_to_local(served_dir, server, name):
    url = server.url(name)
    _assert_same_file(served_dir / name, url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = nwbzarr.read_nwb(url)
    try:
        assert nwbfile.read_io.is_remote()
        _assert_quick_same(served_dir / name, nwbfile.read_io)
    finally:
        nwbfile.read_io.close()
    assert all(r.method in ("GET", "HEAD") for r in server.log)


def test_http_io_identity(served_dir, server):
    url = server.url("ecephys.nwb.zarr")
    with NWBZarrIO(url, mode="r") as io:
        assert io.is_remote() is True
        assert io.path == url
        assert io.abspath == url
        assert io.source == url
        assert io.file.read_only
    with NWBZarrIO(served_dir / "ecephys.nwb.zarr", mode="r") as io:
        assert io.is_remote() is False
    assert ZarrIO.can_read(url)
    assert not ZarrIO.can_read(server.url("missing.nwb.zarr"))


def test_http_open_and_read_request_budget(server):
    """Opening in mode 'r' and reading the whole file costs a small, fixed number of requests.

    Measured: 26 GETs (5 to open, 21 for ``read()``), no listing and no range request.
    Opening fetches the root ``zarr.json`` (with the consolidated metadata) once, the
    ``.zgroup`` probe of the legacy v2 check once, and each cached namespace document once
    (3 namespaces); ``read()`` costs one request per scalar or small text dataset (read
    eagerly). Array data are not fetched.
    """
    url = server.url("ecephys.nwb.zarr")
    with NWBZarrIO(url, mode="r") as io:
        opened = len(server.log)
        nwbfile = io.read()
        total = len(server.log)
        print(f"\nrequests: open={opened} open+read={total}")
        assert opened <= 5, server.log
        assert total <= OPEN_READ_BUDGET, server.log
        assert all(r.method == "GET" and r.range is None for r in server.log)
        assert not any(r.path.endswith("/") for r in server.log)  # never lists
        assert sum(r.path.endswith("/ecephys.nwb.zarr/zarr.json") for r in server.log) == 1
        assert not any("/units/spike_times/" in r.path for r in server.log)  # data stay lazy
        server.clear_log()
        assert nwbfile.units.spike_times.data.shape == (34057,)
        assert server.log == []


INDEX, RANGE = ("bytes=-", 206), ("bytes=", 206)


@pytest.mark.parametrize(
    "name, expected",
    [
        # 272 kB: two 256 KiB chunks in one shard: the shard index, then the chunk's range;
        # rows 20000:20010 lie in the same chunk, already read (the open's read cache)
        ("ecephys.nwb.zarr", [[INDEX, RANGE], []]),
        # 8 kB chunks, no shards: exactly the chunk holding the rows
        ("chunked.nwb.zarr", [[(None, 200)], [(None, 200)]]),
        # shards: the shard index (suffix range), then the one chunk's byte range (the two
        # slices lie in different shards)
        ("sharded.nwb.zarr", [[INDEX, RANGE], [INDEX, RANGE]]),
    ],
)
def test_http_slices_fetch_only_needed_chunks(served_dir, server, name, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(served_dir / name, mode="r") as local:
            want = local.read().units.spike_times.data[:]
        nwbfile = nwbzarr.read_nwb(server.url(name))
    try:
        data = nwbfile.units.spike_times.data
        for sl, wanted in zip((slice(0, 100), slice(20000, 20010)), expected):
            server.clear_log()
            np.testing.assert_array_equal(data[sl], want[sl])
            log = server.log
            assert len(log) == len(wanted), log
            for request, (range_prefix, status) in zip(log, wanted):
                assert "/units/spike_times/c/" in request.path
                assert request.status == status
                if range_prefix is None:
                    assert request.range is None
                else:
                    assert request.range.startswith(range_prefix)
            if (
                log
                and log[-1].range is not None
                and log[-1].range.startswith("bytes=")
                and (not log[-1].range.startswith("bytes=-"))
            ):
                # a few kB of the shard (sharded), one of its two chunks (ecephys), not the shard
                request = log[-1]
                size = (served_dir / name / request.path.split(f"/{name}/", 1)[1]).stat().st_size
                start, stop = (int(x) for x in request.range[len("bytes=") :].split("-"))
                assert stop - start + 1 < (size if name == "ecephys.nwb.zarr" else size / 4)
    finally:
        nwbfile.read_io.close()


@pytest.mark.parametrize("mode", ["w", "w-", "x", "a", "r+"])
@pytest.mark.parametrize("cls", [ZarrIO, NWBZarrIO])
def test_http_write_modes_raise_read_only(server, cls, mode):
    url = server.url("ecephys.nwb.zarr")
    with pytest.raises(ReadOnlyError, match="read-only") as info:
        cls(url, mode=mode)
    assert url in str(info.value)
    assert isinstance(info.value, PermissionError)
    assert all(r.method in ("GET", "HEAD") for r in server.log)


def test_open_store_refuses_writable_url():
    with pytest.raises(ReadOnlyError, match="remote stores are read-only"):
        open_store("https://example.org/x.nwb.zarr", read_only=False)


@pytest.mark.parametrize("name", ["missing.nwb.zarr", "ecephys.nwb.zarr/zarr.json"])
def test_http_missing_store(server, name):
    url = server.url(name)
    for open_it in (lambda: NWBZarrIO(url, mode="r"), lambda: nwbzarr.read_nwb(url)):
        with pytest.raises(StoreNotFoundError, match="no Zarr store at this URL") as info:
            open_it()
        assert url in str(info.value)
        assert isinstance(info.value, FileNotFoundError)


def test_http_array_is_not_a_group(server):
    url = server.url("ecephys.nwb.zarr/units/spike_times")
    with pytest.raises(NotAZarrStoreError, match=url):
        ZarrIO(url, mode="r")


def test_http_r_minus_without_listing_raises(server):
    url = server.url("ecephys.nwb.zarr")
    with pytest.raises(RemoteListingError, match="mode 'r'") as info:
        NWBZarrIO(url, mode="r-")
    assert url in str(info.value) and "HTTP" in str(info.value)


def test_http_r_minus_with_directory_index(served_dir, listing_server):
    url = listing_server.url("ecephys.nwb.zarr")
    with NWBZarrIO(url, mode="r-") as io:
        _assert_same_file(served_dir / "ecephys.nwb.zarr", io)
    assert any(r.path.endswith("/") for r in listing_server.log)  # it did list


def test_http_external_link_followed_with_storage_options(served_dir, auth_server):
    """b's data link to ../a.nwb.zarr resolves to a URL, opened with the same options."""
    url = auth_server.url("b.nwb.zarr")
    with NWBZarrIO(url, mode="r", storage_options={"headers": TOKEN}) as io:
        linked = io.read().acquisition["linked"]
        np.testing.assert_array_equal(linked.data[:], np.arange(10.0))
        opened = io._reader.linked.opened
        assert opened and all(is_remote_url(k) for k in opened)
    assert any(r.path.startswith("/a.nwb.zarr/") for r in auth_server.log)
    assert all(r.status != 401 for r in auth_server.log)


# -- storage_options --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [{"headers": TOKEN}, {"client_kwargs": {"headers": TOKEN}}],
    ids=["headers", "client_kwargs"],
)
def test_http_storage_options_reach_fsspec(served_dir, auth_server, options):
    url = auth_server.url("ecephys.nwb.zarr")
    with NWBZarrIO(url, mode="r", storage_options=options) as io:
        _assert_quick_same(served_dir / "ecephys.nwb.zarr", io)
    assert auth_server.log and all(r.status in (200, 206, 404) for r in auth_server.log)


def test_http_without_credentials_raises_access_error(auth_server):
    url = auth_server.url("ecephys.nwb.zarr")
    for open_it in (
        lambda: NWBZarrIO(url, mode="r"),
        lambda: ZarrIO(url, mode="r"),
        lambda: NWBZarrIO(url, mode="r", storage_options={"headers": {"Authorization": "no"}}),
    ):
        with pytest.raises(RemoteAccessError, match="401") as info:
            open_it()
        assert url in str(info.value) and "storage_options" in str(info.value)
        assert isinstance(info.value, PermissionError)


# -- legacy hdmf-zarr v2 over HTTP ------------------------------------------------------------
@pytest.mark.parametrize("name", LEGACY_STORES)
@pytest.mark.parametrize("mode", ["r", "r-"])
def test_http_legacy_v2_reads_equal_to_local(legacy_server, name, mode):
    with NWBZarrIO(legacy_server.url(name), mode=mode) as io:
        assert io.is_remote()
        _assert_same_file(LEGACY_DIR / name, io)
    used_listing = any(r.path.endswith("/") for r in legacy_server.log)
    assert used_listing == (mode == "r-")  # mode 'r' reads .zmetadata, never lists


def test_http_legacy_v2_read_only(legacy_server):
    url = legacy_server.url(LEGACY_STORES[0])
    with pytest.raises(ReadOnlyError):
        NWBZarrIO(url, mode="r+")


# -- nwbzarr info over HTTP -------------------------------------------------------------------
def test_cli_info_over_http(served_dir, server):
    url = server.url("ecephys.nwb.zarr")
    result = CliRunner().invoke(main, ["info", url])
    assert result.exit_code == 0, result.output
    assert url in result.output
    assert "[NWBFile]" in result.output and "[Units]" in result.output
    assert "files: unknown" in result.output
    remote, local = summarize(url), summarize(served_dir / "ecephys.nwb.zarr")
    assert _summary_facts(remote) == _summary_facts(local)
    assert remote.raw_bytes == local.raw_bytes
    assert not remote.sizes_known and remote.consolidated
    assert not any("/c/" in r.path or r.path.endswith("/c") for r in server.log)  # no chunks


def test_cli_info_with_header(auth_server):
    url = auth_server.url("ecephys.nwb.zarr")
    denied = CliRunner().invoke(main, ["info", url])
    assert denied.exit_code != 0 and "401" in denied.output
    ok = CliRunner().invoke(
        main, ["info", url, "--header", f"Authorization: {TOKEN['Authorization']}"]
    )
    assert ok.exit_code == 0, ok.output
    assert "[NWBFile]" in ok.output
    bad = CliRunner().invoke(main, ["info", url, "--header", "no colon"])
    assert bad.exit_code != 0 and "NAME: VALUE" in bad.output


def test_cli_info_missing(server, tmp_path):
    result = CliRunner().invoke(main, ["info", server.url("missing.nwb.zarr")])
    assert result.exit_code != 0 and "no Zarr store at this URL" in result.output
    result = CliRunner().invoke(main, ["info", str(tmp_path / "nope.nwb.zarr")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_http_legacy_v2_summary(legacy_server):
    name = LEGACY_STORES[0]
    remote = summarize(legacy_server.url(name))
    local = summarize(LEGACY_DIR / name)
    assert remote.zarr_format == 2
    assert _summary_facts(remote) == _summary_facts(local)


# -- memory:// and object-store URLs ----------------------------------------------------------
def test_is_remote_url():
    for url in ("http://h/x", "HTTPS://h/x", "s3://b/x", "gs://b/x", "gcs://b/x", "memory://x"):
        assert is_remote_url(url), url
    for path in ("x.nwb.zarr", "/abs/x", "C:\\x", Path("s3://b/x"), None, "file.http://x"):
        assert not is_remote_url(path), path


@pytest.mark.parametrize(
    "base, rel, expected",
    [
        ("http://h:1/d/b.nwb.zarr", "../a.nwb.zarr", "http://h:1/d/a.nwb.zarr"),
        ("http://h:1/b.nwb.zarr", "../../a.nwb.zarr", "http://h:1/a.nwb.zarr"),
        ("s3://bucket/d/b.nwb.zarr", "sub/a.nwb.zarr", "s3://bucket/d/b.nwb.zarr/sub/a.nwb.zarr"),
        ("https://h/d/b.nwb.zarr?sig=1", "../a.nwb.zarr", "https://h/d/a.nwb.zarr?sig=1"),
        ("/data/d/b.nwb.zarr", "../a.nwb.zarr", os.path.normpath("/data/d/a.nwb.zarr")),
    ],
)
def test_join_location(base, rel, expected):
    assert join_location(base, rel) == expected


def test_memory_url_reads_equal_to_local(served_dir, memory_store):
    url = f"memory://{memory_store}"
    for mode in ("r", "r-"):  # memory:// lists, so 'r-' works too
        with NWBZarrIO(url, mode=mode) as io:
            assert io.is_remote() and io.abspath == url
            if mode == "r-":
                _assert_same_file(served_dir / "ecephys.nwb.zarr", io)
            else:
                _assert_quick_same(served_dir / "ecephys.nwb.zarr", io)
    for mode in ("w", "a", "r+"):
        with pytest.raises(ReadOnlyError):
            NWBZarrIO(url, mode=mode)
    with pytest.raises(StoreNotFoundError, match="no Zarr store"):
        NWBZarrIO(f"memory://{memory_store}-missing", mode="r")


def test_memory_url_summary_has_sizes(served_dir, memory_store):
    remote = summarize(f"memory://{memory_store}")
    local = summarize(served_dir / "ecephys.nwb.zarr")
    assert remote.sizes_known
    assert _summary_facts(remote) == _summary_facts(local)
    assert (remote.n_files, remote.stored_bytes) == (local.n_files, local.stored_bytes)
    assert [n.stored_bytes for n in remote.nodes] == [n.stored_bytes for n in local.nodes]


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_object_store_urls_pass_storage_options(served_dir, memory_store, monkeypatch, scheme):
    """``s3://``/``gs://`` go through fsspec with the caller's storage_options unchanged.

    There is no network here, so fsspec's URL resolution is replaced by one that records its
    arguments and serves the memory copy.
    """
    import fsspec

    calls: list[tuple[str, dict]] = []

    def fake_url_to_fs(url: str, **kwargs):
        calls.append((url, kwargs))
        return fsspec.filesystem("memory"), memory_store

    monkeypatch.setattr(fsspec, "url_to_fs", fake_url_to_fs)
    url = f"{scheme}://bucket/ecephys.nwb.zarr"
    options = {"anon": True, "endpoint_url": "http://127.0.0.1:9"}
    with NWBZarrIO(url, mode="r", storage_options=options) as io:
        assert io.is_remote()
        _assert_quick_same(served_dir / "ecephys.nwb.zarr", io)
    assert calls and all(u == url for u, _ in calls)
    assert all(kw == {"asynchronous": True, **options} for _, kw in calls)


def test_s3_without_s3fs_names_the_package(monkeypatch):
    from fsspec.registry import _registry

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    monkeypatch.delitem(_registry, "s3", raising=False)
    with pytest.raises(ImportError, match="s3fs"):
        NWBZarrIO("s3://bucket/x.nwb.zarr", mode="r")


def test_zarr_sees_the_same_store_over_http(served_dir, server):
    """The stores nwbzarr serves are plain Zarr v3 for zarr-python over HTTP too."""
    root = zarr.open_group(open_store(server.url("ecephys.nwb.zarr"), read_only=True), mode="r")
    local = zarr.open_group(served_dir / "ecephys.nwb.zarr", mode="r")
    assert dict(root.attrs) == dict(local.attrs)
    np.testing.assert_array_equal(root["units/spike_times"][:5], local["units/spike_times"][:5])


# -- the test server itself -------------------------------------------------------------------
def test_http_server_ranges_and_errors(tmp_path):
    import urllib.error
    import urllib.request

    (tmp_path / "f.bin").write_bytes(bytes(range(100)))

    def fetch(path: str, method: str = "GET", **headers: str):
        request = urllib.request.Request(srv.url(path), method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    with RangeHTTPServer(tmp_path, required_headers={"X-Key": "k"}) as srv:
        assert fetch("f.bin", **{"X-Key": "wrong"})[0] == 401
        status, headers, body = fetch("f.bin", **{"X-Key": "k"})
        assert (status, body) == (200, bytes(range(100)))
        assert headers["Accept-Ranges"] == "bytes" and headers["Content-Length"] == "100"
        status, headers, body = fetch("f.bin", **{"X-Key": "k", "Range": "bytes=10-19"})
        assert (status, body, headers["Content-Range"]) == (
            206,
            bytes(range(10, 20)),
            "bytes 10-19/100",
        )
        assert fetch("f.bin", **{"X-Key": "k", "Range": "bytes=-5"})[2] == bytes(range(95, 100))
        assert fetch("f.bin", **{"X-Key": "k", "Range": "bytes=98-"})[2] == bytes([98, 99])
        assert fetch("f.bin", **{"X-Key": "k", "Range": "bytes=100-"})[0] == 416
        status, headers, body = fetch("f.bin", "HEAD", **{"X-Key": "k"})
        assert (status, headers["Content-Length"], body) == (200, "100", b"")
        assert fetch("missing", **{"X-Key": "k"})[0] == 404
        assert fetch("", **{"X-Key": "k"})[0] == 404  # no listing by default
        assert fetch("../etc/passwd", **{"X-Key": "k"})[0] == 404
        assert fetch("f.bin")[0] == 401
        assert fetch("f.bin", "PUT", **{"X-Key": "k"})[0] == 405
        log = srv.log
        assert [r.status for r in log][:3] == [401, 200, 206]
        assert log[2].range == "bytes=10-19" and log[2].path == "/f.bin"
