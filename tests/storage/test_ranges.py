"""Byte-range reads (storage/ranges.py) against the loopback server: merging, concurrency,
retries, dropped connections, presigned redirects, errors, and h5py over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from http_server import RangeHTTPServer
from zarr.core.sync import sync

from nwbzarr.errors import RemoteAccessError, RemoteReadError, StoreNotFoundError
from nwbzarr.storage.manifest import ByteRange
from nwbzarr.storage.ranges import open_range_reader
from nwbzarr.storage.remote_file import open_remote_file

SIZE = 3 * 2**20
CHUNK = 10_000


@pytest.fixture(scope="module")
def random_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """``(directory, data)``: ``f.bin`` holds ``data`` (SIZE random bytes), ``small.bin`` its
    first 1000 bytes."""
    root = tmp_path_factory.mktemp("ranges")
    data = np.random.default_rng(5).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    (root / "small.bin").write_bytes(data[:1000])
    return root, data


@pytest.fixture(scope="module")
def served_dir(random_files: tuple[Path, bytes]) -> Path:
    """What the ``server`` fixture (conftest) serves: the random files."""
    return random_files[0]


@pytest.fixture
def reader():
    r = open_range_reader(cache=False, backoff=0.001, timeout=5.0)
    yield r
    r.close()


def gets(server: RangeHTTPServer, prefix: str = "") -> list:
    return [req for req in server.log if req.method == "GET" and req.path.startswith(prefix)]


def test_concurrent_adjacent_reads_merge_into_one_request(server, reader, random_files) -> None:
    data = random_files[1]
    url = server.url("f.bin")

    async def eight() -> list[bytes]:  # like zarr: one read per chunk, gathered
        return await asyncio.gather(
            *(reader.read(ByteRange(url, 7 + i * CHUNK, CHUNK)) for i in (3, 0, 7, 1, 6, 2, 5, 4))
        )

    out = sync(eight())
    expected = [data[7 + i * CHUNK : 7 + (i + 1) * CHUNK] for i in (3, 0, 7, 1, 6, 2, 5, 4)]
    assert out == expected
    log = gets(server)
    assert [req.range for req in log] == [f"bytes=7-{7 + 8 * CHUNK - 1}"]
    assert reader.requests == 1 and reader.bytes_read == 8 * CHUNK


def test_gap_decides_merging(server, random_files) -> None:
    data = random_files[1]
    url = server.url("f.bin")
    reader = open_range_reader(cache=False, merge_gap=1000, max_merged_bytes=50_000)
    try:
        cases = [
            ([(0, 100), (1100, 100)], 1),  # gap 1000 == merge_gap: one request
            ([(0, 100), (1101, 100)], 2),  # gap 1001 > merge_gap: two
            ([(0, 30_000), (30_000, 30_000)], 2),  # merged would exceed max_merged_bytes
            ([(500, 100), (500, 100), (520, 10)], 1),  # duplicates and overlaps
        ]
        for spans, requests in cases:
            server.clear_log()
            refs = [ByteRange(url, o, n) for o, n in spans]
            assert sync(reader.read_many(refs)) == [data[o : o + n] for o, n in spans]
            assert len(gets(server)) == requests, spans
    finally:
        reader.close()


def test_requests_in_flight_bounded_by_max_concurrency(server, random_files) -> None:
    data = random_files[1]
    url = server.url("f.bin")
    server.add_fault("slow", 8, delay=0.15)
    reader = open_range_reader(cache=False, merge_gap=0, max_concurrency=3)
    try:
        refs = [ByteRange(url, i * 200_000, 100) for i in range(8)]
        assert sync(reader.read_many(refs)) == [
            data[i * 200_000 : i * 200_000 + 100] for i in range(8)
        ]
    finally:
        reader.close()
    assert len(gets(server)) == 8
    assert 2 <= server.max_in_flight <= 3


def test_retries_succeed_after_two_server_errors(server, reader, random_files) -> None:
    url = server.url("f.bin")
    server.add_fault("status", 1, status=500)
    server.add_fault("status", 1, status=503)
    assert sync(reader.read(ByteRange(url, 123, 4567))) == random_files[1][123 : 123 + 4567]
    assert [req.status for req in gets(server)] == [500, 503, 206]


def test_out_of_retries_raises_remote_read_error(server, random_files) -> None:
    url = server.url("f.bin")
    server.add_fault("status", 10, status=502)
    reader = open_range_reader(cache=False, retries=2, backoff=0.001)
    try:
        with pytest.raises(RemoteReadError) as info:
            sync(reader.read(ByteRange(url, 100, 50)))
    finally:
        reader.close()
    message = str(info.value)
    assert url in message and "bytes 100-149" in message
    assert "3 attempts" in message and "HTTP 502" in message
    assert len(gets(server)) == 3


@pytest.mark.parametrize("kind", ["drop_before", "drop_mid"])
def test_dropped_connections_are_retried(server, reader, random_files, kind) -> None:
    url = server.url("f.bin")
    server.add_fault(kind, 2)
    assert sync(reader.read(ByteRange(url, 1000, 300_000))) == random_files[1][1000:301_000]
    assert len(gets(server)) == 3


def test_timeout_is_retried(server, random_files) -> None:
    url = server.url("f.bin")
    server.add_fault("slow", 1, delay=1.0)
    reader = open_range_reader(cache=False, backoff=0.001, timeout=0.3)
    try:
        assert sync(reader.read(ByteRange(url, 5, 10))) == random_files[1][5:15]
        assert reader.requests == 2  # the slow answer is logged only after its sleep
    finally:
        reader.close()


def test_redirect_followed_once_then_resolved_again_after_expiry(
    server, reader, random_files
) -> None:
    data = random_files[1]
    url = server.url("redirect/f.bin")
    refs = [ByteRange(url, i * 300_000, 1000) for i in range(6)]
    assert sync(reader.read_many(refs)) == [data[r.offset : r.offset + 1000] for r in refs]
    assert len(gets(server, "/redirect/")) == 1  # concurrent first reads wait for one resolve
    assert len(gets(server, "/signed/t1/")) == 6
    server.clear_log()
    server.expire_tokens()
    assert sync(reader.read(ByteRange(url, 77, 5))) == data[77:82]
    assert [(req.path, req.status) for req in gets(server)] == [
        ("/signed/t1/f.bin", 403),
        ("/redirect/f.bin", 302),
        ("/signed/t2/f.bin", 206),
    ]
    server.clear_log()
    assert sync(reader.read(ByteRange(url, 90, 5))) == data[90:95]
    assert [req.path for req in gets(server)] == ["/signed/t2/f.bin"]


def test_refusals_are_clear_errors(random_files) -> None:
    with RangeHTTPServer(random_files[0], required_headers={"X-Key": "k"}) as srv:
        url = srv.url("f.bin")
        reader = open_range_reader(cache=False, backoff=0.001)
        try:
            with pytest.raises(RemoteAccessError, match="401.*storage_options"):
                sync(reader.read(ByteRange(url, 0, 10)))
        finally:
            reader.close()
        assert len(srv.log) == 1  # refusals are not retried
        reader = open_range_reader({"headers": {"X-Key": "k"}}, cache=False)
        try:
            assert sync(reader.read(ByteRange(url, 0, 10))) == random_files[1][:10]
            with pytest.raises(StoreNotFoundError, match="missing.bin"):
                sync(reader.read(ByteRange(srv.url("missing.bin"), 0, 10)))
        finally:
            reader.close()


def test_ranges_past_the_end_are_errors_never_short(server, reader, random_files) -> None:
    url = server.url("small.bin")
    with pytest.raises(RemoteReadError, match="416"):
        sync(reader.read(ByteRange(url, 5000, 10)))
    with pytest.raises(RemoteReadError, match="only 1000 bytes"):
        sync(reader.read(ByteRange(url, 990, 20)))
    assert sync(reader.read(ByteRange(url, 990, -1))) == random_files[1][990:1000]
    local = str(random_files[0] / "small.bin")
    with pytest.raises(RemoteReadError, match="past the end"):
        sync(reader.read(ByteRange(local, 990, 20)))


def test_local_and_memory_reads(random_files, reader) -> None:
    import fsspec

    root, data = random_files
    path = str(root / "f.bin")
    refs = [
        ByteRange(path, 0, 10),
        ByteRange(path, SIZE - 10, -1),
        ByteRange("file://" + path, 5, 5),
    ]
    assert sync(reader.read_many(refs)) == [data[:10], data[-10:], data[5:10]]
    with pytest.raises(StoreNotFoundError):
        sync(reader.read(ByteRange(str(root / "none.bin"), 0, 1)))
    fs = fsspec.filesystem("memory")
    fs.pipe("/nwbzarr-ranges/f.bin", data[:5000])
    try:
        assert (
            sync(reader.read(ByteRange("memory://nwbzarr-ranges/f.bin", 100, 200))) == data[100:300]
        )
        with pytest.raises(StoreNotFoundError):
            sync(reader.read(ByteRange("memory://nwbzarr-ranges/none.bin", 0, 1)))
    finally:
        fs.rm("/nwbzarr-ranges", recursive=True)


def test_missing_s3_package_is_named(monkeypatch) -> None:
    pytest.importorskip("fsspec")
    from fsspec.registry import _registry

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    monkeypatch.delitem(_registry, "s3", raising=False)
    reader = open_range_reader(cache=False)
    with pytest.raises(ImportError, match="s3fs"):
        sync(reader.read(ByteRange("s3://bucket/x.nwb", 0, 10)))


def test_remote_file_learns_size_without_head(server, random_files) -> None:
    with open_remote_file(server.url("small.bin"), block_size=4096) as f:
        assert f.size == 1000 and f.requests == 1
        assert f.read() == random_files[1][:1000]
        f.seek(-10, os.SEEK_END)
        assert f.read(100) == random_files[1][990:1000]
    assert [req.method for req in server.log] == ["GET"]


def _plain(dset: h5py.Dataset) -> object:
    """A dataset's values with object references replaced by the names they point at."""
    values = dset[()]
    dtype = dset.dtype
    if h5py.check_dtype(ref=dtype) is not None:
        return [dset.file[ref].name if ref else None for ref in np.ravel(values)]
    if dtype.names and any(h5py.check_dtype(ref=dtype[n]) for n in dtype.names):
        return [
            tuple(dset.file[v].name if isinstance(v, h5py.Reference) else v for v in row)
            for row in np.ravel(values).tolist()
        ]
    return values


def assert_same_values(remote: h5py.Dataset, local: h5py.Dataset) -> None:
    assert remote.shape == local.shape and remote.dtype == local.dtype
    got, expected = _plain(remote), _plain(local)
    if isinstance(expected, list):
        assert got == expected
    else:
        np.testing.assert_array_equal(got, expected)


def test_h5py_over_http_reads_what_local_reads(ecephys_file: Path) -> None:
    with RangeHTTPServer(ecephys_file.parent) as srv:
        reader = open_range_reader(cache=False)
        url = srv.url(ecephys_file.name)
        with (
            reader,
            open_remote_file(url, block_size=16 * 1024, reader=reader) as f,
            h5py.File(f, "r") as remote,
            h5py.File(ecephys_file, "r") as local,
        ):
            names: list[str] = []
            local.visit(names.append)
            compared = 0
            for name in names:
                obj = local[name]
                assert dict(remote[name].attrs).keys() == dict(obj.attrs).keys()
                if isinstance(obj, h5py.Dataset):
                    assert_same_values(remote[name], obj)
                    compared += 1
            assert compared > 50
            assert f.size == ecephys_file.stat().st_size
        assert 0 < reader.requests == len(srv.log)
        assert all(req.method == "GET" for req in srv.log)


def test_reader_in_its_own_event_loop(server, random_files) -> None:
    url = server.url("f.bin")

    async def main() -> tuple[list[bytes], int]:
        async with open_range_reader(cache=False) as reader:
            out = await reader.read_many([ByteRange(url, 0, 100), ByteRange(url, 100, 100)])
            return out, reader.requests

    out, requests = asyncio.run(main())
    assert out == [random_files[1][:100], random_files[1][100:200]] and requests == 1
