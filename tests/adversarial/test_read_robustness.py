"""Damaged or hostile stores read as nwbzarr errors naming the path, never as crashes.

Issue 13: link cycles (soft links, external links, HDF5 hard-link loops), malformed reserved
attributes (``_DTYPE``, ``_LINKS``, ``_REFERENCE``), chunks that do not decode and chunks that
inflate far beyond their array's chunk shape. Every store here is a small NWB file written by
nwbzarr (or pynwb) and then edited on disk as an attacker would.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO, limits
from nwbzarr.errors import (
    CorruptChunkError,
    LimitExceededError,
    LinkCycleError,
    MalformedAttributeError,
)
from nwbzarr.formats.hdf5.index import check_hard_link_loops, index_hdf5
from nwbzarr.storage.checked_codecs import zstd_content_size

from .conftest import run_capped

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
DATA_PATH = "acquisition/ts/data"


def _nwbfile(data=None):
    nwbfile = mock_NWBFile(session_start_time=START)
    data = np.arange(1000.0) if data is None else data
    nwbfile.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=2.0))
    return nwbfile


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    """A small NWB store (one 1000-element float64 TimeSeries), written once per module."""
    path = tmp_path_factory.mktemp("base") / "base.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile())
    return path


@pytest.fixture
def store(base_store, tmp_path) -> Path:
    """A fresh copy of the base store, to damage."""
    path = tmp_path / "a.nwb.zarr"
    shutil.copytree(base_store, path)
    return path


def _edit_node(store: Path, node: str, edit) -> None:
    """Apply ``edit(metadata dict)`` to a node's zarr.json and to its consolidated copy."""
    own = store / node / "zarr.json" if node else store / "zarr.json"
    doc = json.loads(own.read_text())
    edit(doc)
    own.write_text(json.dumps(doc))
    if node:
        root = json.loads((store / "zarr.json").read_text())
        edit(root["consolidated_metadata"]["metadata"][node])
        (store / "zarr.json").write_text(json.dumps(root))


def _set_attr(store: Path, node: str, key: str, value) -> None:
    _edit_node(store, node, lambda doc: doc["attributes"].__setitem__(key, value))


def _link(name: str, path: str, source: str = ".") -> dict:
    return {"name": name, "source": source, "path": path}


def _read_all(path) -> None:
    with NWBZarrIO(path, mode="r") as io:
        io.read()


# -- 1. link cycles ----------------------------------------------------------------------------
def test_soft_link_cycle_names_the_cycle(store):
    _set_attr(store, "acquisition", "_LINKS", [_link("a", "/processing/b")])
    _set_attr(store, "processing", "_LINKS", [_link("b", "/acquisition/a")])
    with pytest.raises(LinkCycleError) as err:
        _read_all(store)
    assert "/acquisition/a -> /processing/b -> /acquisition/a" in str(err.value)


def test_link_to_own_ancestor_is_a_cycle(store):
    _set_attr(store, "acquisition/ts", "_LINKS", [_link("loop", "/acquisition")])
    with pytest.raises(LinkCycleError) as err:
        _read_all(store)
    assert "/acquisition/ts/loop" in str(err.value) and "-> /acquisition:" in str(err.value)


def test_external_link_cycle_between_stores(store, tmp_path):
    other = tmp_path / "b.nwb.zarr"
    shutil.copytree(store, other)
    _set_attr(store, "acquisition", "_LINKS", [_link("a", "/acquisition/b", "../b.nwb.zarr")])
    _set_attr(other, "acquisition", "_LINKS", [_link("b", "/acquisition/a", "../a.nwb.zarr")])
    with pytest.raises(LinkCycleError) as err:
        _read_all(store)
    message = str(err.value)
    assert "/acquisition/a ->" in message and "/acquisition/b ->" in message


def test_mutual_external_links_without_a_cycle_read(store, tmp_path):
    # each store links a dataset of the other: no cycle, and no endless re-opening either
    other = tmp_path / "b.nwb.zarr"
    shutil.copytree(store, other)
    _set_attr(store, "acquisition", "_LINKS", [_link("x", f"/{DATA_PATH}", "../b.nwb.zarr")])
    _set_attr(other, "acquisition", "_LINKS", [_link("y", f"/{DATA_PATH}", "../a.nwb.zarr")])
    with NWBZarrIO(store, mode="r") as io:
        root = io.read_builder()
        target = root["acquisition"].links["x"].builder
        assert target.source.endswith("b.nwb.zarr") and target.name == "data"


def test_link_chains_follow_up_to_max_link_depth(store):
    # /acquisition/l0 -> l1 -> ... -> l5 -> the data: a chain of six links
    n = 6
    chain = [_link(f"l{i}", f"/acquisition/l{i + 1}") for i in range(n - 1)]
    chain.append(_link(f"l{n - 1}", f"/{DATA_PATH}"))
    _set_attr(store, "acquisition", "_LINKS", chain)
    with NWBZarrIO(store, mode="r") as io:
        assert io.read_builder()["acquisition"].links["l0"].builder.name == "data"
    with limits.override(max_link_depth=3):
        with pytest.raises(LimitExceededError) as err:
            _read_all(store)
    assert "max_link_depth" in str(err.value) and "/acquisition/l" in str(err.value)


@pytest.mark.parametrize(
    "target, loop", [("acquisition/ts", "acquisition/ts/loop"), ("/", "acquisition/up")]
)
def test_hdf5_hard_link_loop_indexes_once_and_reads_as_cycle(tmp_path, target, loop):
    path = tmp_path / "loop.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(_nwbfile(np.arange(10.0)))
    with h5py.File(path, "a") as f:
        f[loop] = f[target]  # a hard link: the group now contains itself
    refs = index_hdf5(path).refs
    parent, name = loop.rsplit("/", 1)
    links = json.loads(refs[f"{parent}/zarr.json"])["attributes"]["_LINKS"]
    assert {"name": name, "source": ".", "path": "/" + target.strip("/")} in links
    assert not any(k.startswith(loop + "/") for k in refs)  # not indexed a second time
    with pytest.raises(LinkCycleError) as err:
        _read_all(path)
    assert f"/{loop}" in str(err.value)
    # for readers that walk the file recursively (hdmf's HDF5IO, used by convert)
    with h5py.File(path, "r") as f:
        with pytest.raises(LinkCycleError) as err:
            check_hard_link_loops(f)
    assert f"/{loop} (the same group as /{target.strip('/')})" in str(err.value)


# -- 2. malformed reserved attributes ----------------------------------------------------------
@pytest.mark.parametrize("value", [42, "object_referenc", None])
def test_garbage_dtype_attribute(store, value):
    _set_attr(store, "session_description", "_DTYPE", value)
    with pytest.raises(MalformedAttributeError) as err:
        _read_all(store)
    message = str(err.value)
    assert "/session_description" in message and "_DTYPE" in message
    assert "'object_reference'" in message


@pytest.mark.parametrize(
    "value",
    ["not a list", [42], [{"name": "x"}], [{"name": "a/b", "path": "/x"}], [{"path": "/x"}]],
)
def test_garbage_links_attribute(store, value):
    _set_attr(store, "acquisition", "_LINKS", value)
    with pytest.raises(MalformedAttributeError) as err:
        _read_all(store)
    message = str(err.value)
    assert ": /acquisition:" in message and "_LINKS" in message and '"name"' in message


@pytest.mark.parametrize(
    "value",
    [
        {"_REFERENCE": "/acquisition/ts"},
        {"_REFERENCE": {"source": "."}},
        {"_REFERENCE": {"source": ".", "path": 7}},
        {"_REFERENCE": {"source": ".", "path": "/acquisition"}, "extra": 1},
        [{"_REFERENCE": {"source": ".", "path": "/acquisition"}}, {"_REFERENCE": 3}],
    ],
)
def test_garbage_reference_attribute(store, value):
    _set_attr(store, "acquisition/ts", "comments", value)
    with pytest.raises(MalformedAttributeError) as err:
        _read_all(store)
    message = str(err.value)
    assert "/acquisition/ts" in message and "'comments'" in message and "_REFERENCE" in message


# -- 3. corrupt chunks -------------------------------------------------------------------------
def test_random_bytes_chunk_names_array_and_chunk(store):
    (store / DATA_PATH / "c" / "0").write_bytes(os.urandom(3000))
    with NWBZarrIO(store, mode="r") as io:
        data = io.read().acquisition["ts"].data
        with pytest.raises(CorruptChunkError) as err:
            data[:10]
    assert f"/{DATA_PATH}" in str(err.value) and "'c/0'" in str(err.value)


def test_damaged_inner_chunk_of_a_shard(tmp_path):
    from nwbzarr import ZarrDataIO

    path = tmp_path / "sharded.nwb.zarr"
    data = ZarrDataIO(np.arange(4000.0), chunks=(100,), shards=(2000,))
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile(data))
    shard = path / DATA_PATH / "c" / "1"
    raw = bytearray(shard.read_bytes())
    raw[10:30] = os.urandom(20)  # inside the first inner chunk of shard 1
    shard.write_bytes(bytes(raw))
    with NWBZarrIO(path, mode="r") as io:
        ts = io.read().acquisition["ts"]
        assert ts.data[2500] == 2500.0  # other inner chunks of the shard still read
        with pytest.raises(CorruptChunkError) as err:
            ts.data[1990:2010]
    assert f"/{DATA_PATH}" in str(err.value) and "'c/1'" in str(err.value)


def _damaged_deflate_file(tmp_path) -> Path:
    """An HDF5 NWB file whose gzip chunk 1 (rows 1000-1999) is cut short."""
    from hdmf.backends.hdf5 import H5DataIO

    path = tmp_path / "gz.nwb"
    data = H5DataIO(np.arange(4000.0), chunks=(1000,), compression="gzip")
    with NWBHDF5IO(path, "w") as io:
        io.write(_nwbfile(data))
    with h5py.File(path, "r") as f:
        info = f[DATA_PATH].id.get_chunk_info(1)
    with open(path, "r+b") as fh:  # zeros over the second half of the stream
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\0" * (info.size - info.size // 2))
    return path


@pytest.mark.parametrize("keep_storage", [True, False])
def test_convert_of_damaged_deflate_chunk(tmp_path, keep_storage):
    import nwbzarr

    src = _damaged_deflate_file(tmp_path)
    with pytest.raises(CorruptChunkError) as err:
        nwbzarr.convert(src, tmp_path / "out.nwb.zarr", keep_storage=keep_storage, progress=False)
    assert f"/{DATA_PATH}" in str(err.value) and "1000" in str(err.value)


def test_truncated_deflate_chunk_in_hdf5_view(tmp_path):
    path = _damaged_deflate_file(tmp_path)
    with NWBZarrIO(path, mode="r") as io:
        ts = io.read().acquisition["ts"]
        np.testing.assert_array_equal(ts.data[:1000], np.arange(1000.0))  # chunk 0 is fine
        with pytest.raises(CorruptChunkError) as err:
            ts.data[:]
    assert f"/{DATA_PATH}" in str(err.value) and "'c/1'" in str(err.value)


# -- 4. decompression bombs --------------------------------------------------------------------
def _zstd_rle_frame(total: int) -> bytes:
    """A zstd frame declaring ``total`` content bytes, made of RLE blocks (32 KB for 1 GiB)."""
    head = struct.pack("<IB", 0xFD2FB528, 0xE0) + struct.pack("<Q", total)
    blocks, left = [], total
    while left:
        n = min(left, 1 << 17)
        left -= n
        blocks.append(((0 if left else 1) | (1 << 1) | (n << 3)).to_bytes(3, "little") + b"\0")
    return head + b"".join(blocks)


def _use_codec(store: Path, codec: dict) -> None:
    def edit(doc):
        doc["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}}, codec]

    _edit_node(store, DATA_PATH, edit)


def test_zstd_bomb_refused_under_memory_cap(store):
    bomb = _zstd_rle_frame(1 << 30)
    assert zstd_content_size(bomb) == 1 << 30 and len(bomb) < 64 * 1024
    _use_codec(store, {"name": "zstd", "configuration": {"level": 3, "checksum": False}})
    (store / DATA_PATH / "c" / "0").write_bytes(bomb)
    proc, result = run_capped(
        f"""
        import json
        from nwbzarr import NWBZarrIO
        from nwbzarr.errors import CorruptChunkError
        with NWBZarrIO({str(store)!r}, mode="r") as io:
            data = io.read().acquisition["ts"].data
            try:
                data[:]
                print(json.dumps({{"error": None}}))
            except CorruptChunkError as err:
                print(json.dumps({{"error": "CorruptChunkError", "message": str(err)}}))
        """,
        mem_mb=700,
    )
    assert result is not None, proc.stderr[-3000:]
    assert result["error"] == "CorruptChunkError"
    assert f"/{DATA_PATH}" in result["message"] and "'c/0'" in result["message"]
    assert str(1 << 30) in result["message"]


def test_blosc_and_gzip_bombs_are_bounded(store, tmp_path):
    # Blosc: the header's uncompressed size (1 GiB) is checked before decompressing
    _use_codec(store, {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3}})
    header = struct.pack("<BBBBIII", 2, 1, 1, 8, 1 << 30, 1 << 16, 16 + 8)
    (store / DATA_PATH / "c" / "0").write_bytes(header + b"\0" * 8)
    with NWBZarrIO(store, mode="r") as io:
        with pytest.raises(CorruptChunkError) as err:
            io.read().acquisition["ts"].data[:]
    assert "'c/0'" in str(err.value) and str(1 << 30) in str(err.value)
    # gzip: no size in the stream; inflating stops at the bound (64 MiB of zeros here)
    gz = tmp_path / "gz.nwb.zarr"
    shutil.copytree(store, gz)
    _use_codec(gz, {"name": "gzip", "configuration": {"level": 1}})
    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)
    zero = bytes(1 << 20)
    bomb = b"".join(deflater.compress(zero) for _ in range(64)) + deflater.flush()
    (gz / DATA_PATH / "c" / "0").write_bytes(bomb)
    with NWBZarrIO(gz, mode="r") as io:
        with pytest.raises(CorruptChunkError) as err:
            io.read().acquisition["ts"].data[:]
    assert f"/{DATA_PATH}" in str(err.value) and "gzip" in str(err.value)


def test_healthy_reads_unchanged(store):
    with NWBZarrIO(store, mode="r") as io:
        ts = io.read().acquisition["ts"]
        np.testing.assert_array_equal(ts.data[:], np.arange(1000.0))
        assert ts.data[3] == 3.0


def test_convert_of_hdf5_hard_link_loop_is_refused(tmp_path, ecephys_file):
    import shutil

    import h5py

    from nwbzarr.convert import convert
    from nwbzarr.errors import LinkCycleError

    src = tmp_path / "loop.nwb"
    shutil.copy(ecephys_file, src)
    with h5py.File(src, "a") as f:
        f["acquisition/loop"] = f["acquisition"]
    dst = tmp_path / "out.nwb.zarr"
    with pytest.raises(LinkCycleError, match="/acquisition"):
        convert(src, dst, progress=False)
    assert not dst.exists()
