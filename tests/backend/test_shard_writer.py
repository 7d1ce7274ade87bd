"""The streaming shard writer: same shard files as zarr-python, store integration, fallbacks."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.codecs as zc
from hdmf.data_utils import DataChunk, DataChunkIterator
from helpers import ArrayIterator
from pynwb import NWBFile, TimeSeries

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend import shard_writer as sw
from nwbzarr.backend.shard_writer import (
    ShardStreamWriter,
    adopt_file,
    local_root,
    morton_order,
    shard_layout,
)
from nwbzarr.backend.stream import RegionBuffer
from nwbzarr.compat import sync
from nwbzarr.storage.journal import JOURNAL_DIR, TMP_INFIX, JournaledStore
from nwbzarr.storage.write_back import WriteBackStore

CODECS = {
    "blosc-zstd": [zc.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")],
    "blosc-lz4-bitshuffle": [zc.BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")],
    "zstd": [zc.ZstdCodec(level=2)],
    "gzip": [zc.GzipCodec(level=4)],
    "none": None,
}


@pytest.fixture(autouse=True)
def _threads_for_small_chunks(monkeypatch):
    """The test arrays have small chunks: encode them in threads too (when asked)."""
    monkeypatch.setattr(sw, "MIN_THREADED_CHUNK_BYTES", 0)


def _create(root: Path, shape, chunks, shards, dtype, compressors, fill_value=0, **kw):
    return zarr.create_array(
        zarr.storage.LocalStore(root),
        shape=shape,
        chunks=chunks,
        shards=shards,
        dtype=dtype,
        compressors=compressors,
        fill_value=fill_value,
        zarr_format=3,
        **kw,
    )


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _shard_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in _files(root).items() if not k.endswith("zarr.json")}


def _pieces_rows(shape, step):
    return [
        ((r, min(r + step, shape[0])),) + tuple((0, n) for n in shape[1:])
        for r in range(0, shape[0], step)
    ]


def _sel(box):
    return tuple(slice(a, b) for a, b in box)


def _stream(array, values, pieces, threads, limit=None):
    layout = shard_layout(array)
    assert layout is not None
    writer = ShardStreamWriter(array, layout, limit or values.shape, threads=threads)
    for box in pieces:
        writer.add(box, values[_sel(box)])
    writer.finish()
    return writer


def _assert_same_as_zarr(tmp_path, values, chunks, shards, compressors, pieces, threads, **kw):
    """Write ``values`` with zarr-python and with the stream writer; same files, same data."""
    expected = _create(
        tmp_path / "zarr", values.shape, chunks, shards, values.dtype, compressors, **kw
    )
    expected[...] = values
    ours = _create(tmp_path / "ours", values.shape, chunks, shards, values.dtype, compressors, **kw)
    _stream(ours, values, pieces, threads)
    theirs, mine = _shard_files(tmp_path / "zarr"), _shard_files(tmp_path / "ours")
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        assert mine[key] == theirs[key], key
    back = zarr.open_array(tmp_path / "ours", mode="r")[...]
    np.testing.assert_array_equal(back, values)
    return mine


def test_small_chunks_are_encoded_in_the_calling_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "MIN_THREADED_CHUNK_BYTES", 1024)
    small = _create(tmp_path / "s", (100,), (10,), (50,), "int16", None)
    assert ShardStreamWriter(small, shard_layout(small), (100,), threads=2).pool is None
    big = _create(tmp_path / "b", (1000,), (512,), (1024,), "int16", None)
    writer = ShardStreamWriter(big, shard_layout(big), (1000,), threads=2)
    assert writer.pool is not None
    writer.add(((0, 1000),), np.arange(1000, dtype="int16"))
    writer.finish()
    assert writer.pool is None and sw._POOL == [None, 0]  # the shared pool is shut down
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "b")[...], np.arange(1000))


@pytest.mark.parametrize("shape", [(10, 6), (1, 7), (5, 5, 3), (16,), (3, 1, 9), (84, 6)])
def test_morton_order_is_zarrs_inner_chunk_order(shape):
    import zarr.core.indexing as indexing

    # zarr-python's own (private) order: morton_order_iter before 3.2, morton_order_coords after
    zarrs_order = getattr(indexing, "morton_order_iter", None) or indexing.morton_order_coords
    assert morton_order(shape) == tuple(tuple(int(v) for v in c) for c in zarrs_order(shape))


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("threads", [0, 2])
def test_shards_are_byte_identical_to_zarr_python(tmp_path, monkeypatch, codec, threads):
    # gzip members carry the time they were written (numcodecs' GZip: gzip's mtime): one
    # clock for both writers, or a second ticking between them makes the bytes differ
    monkeypatch.setattr(gzip.time, "time", lambda: 1_700_000_000.0)
    rng = np.random.default_rng(7)
    values = rng.integers(-2000, 2000, size=(1000, 37)).astype("int16")
    values[:300] = 0  # whole chunks and a shard's worth equal to the fill value: left out
    files = _assert_same_as_zarr(
        tmp_path,
        values,
        (64, 8),
        (256, 16),
        CODECS[codec],
        _pieces_rows(values.shape, 130),
        threads,
    )
    assert "c/0/0" not in files  # rows 0:256 hold only zeros: zarr writes no shard there
    assert "c/1/0" in files


@pytest.mark.parametrize(
    "dtype,fill",
    [("uint8", 3), (">f4", 0.0), ("<f8", np.nan), ("bool", False), ("<i8", -1), (">u2", 0)],
)
def test_dtypes_byte_orders_and_fill_values(tmp_path, dtype, fill):
    rng = np.random.default_rng(3)
    values = (rng.random((90, 20)) * 200).astype(dtype)
    values[:30] = fill
    values[40:45, 4:8] = fill
    if np.dtype(dtype).kind == "f":
        values[50, 3] = -0.0  # zarr compares a 0.0 fill by bits: -0.0 is data
    _assert_same_as_zarr(
        tmp_path,
        values,
        (10, 4),
        (30, 8),
        CODECS["blosc-zstd"],
        _pieces_rows(values.shape, 7),
        2,
        fill_value=fill,
    )


def test_three_dimensions_pieces_in_any_order_and_overlapping(tmp_path):
    rng = np.random.default_rng(5)
    values = rng.integers(0, 1000, size=(50, 20, 9)).astype("<i4")
    boxes = [
        ((a, min(a + 11, 50)), (b, min(b + 7, 20)), (0, 9))
        for a in range(0, 50, 11)
        for b in range(0, 20, 7)
    ]
    order = rng.permutation(len(boxes))
    pieces = [boxes[i] for i in order]
    # an early piece written again later, with other values first: the last write wins
    stale = values.copy()
    stale[:11, :7] = -5
    expected = _create(
        tmp_path / "zarr", values.shape, (4, 5, 3), (8, 10, 9), "<i4", CODECS["zstd"]
    )
    expected[...] = values
    ours = _create(tmp_path / "ours", values.shape, (4, 5, 3), (8, 10, 9), "<i4", CODECS["zstd"])
    layout = shard_layout(ours)
    writer = ShardStreamWriter(ours, layout, values.shape, threads=2)
    writer.add(boxes[0], stale[_sel(boxes[0])])
    for box in pieces:
        writer.add(box, values[_sel(box)])
    writer.finish()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "ours", mode="r")[...], values)
    assert _shard_files(tmp_path / "ours") == _shard_files(tmp_path / "zarr")


@pytest.mark.parametrize("threads", [0, 2])
def test_rewritten_chunks_keep_the_last_values(tmp_path, threads):
    """A piece rewriting chunks just submitted (maybe still being encoded), in whole or in
    part, and with the fill value (the chunk then disappears): the last write wins."""
    first = np.arange(64 * 8, dtype="int16").reshape(64, 8) + 1
    final = first.copy()
    final[0:16] = 0  # chunk rows 0-1 back to the fill value
    final[20:28, 0:4] = -3
    array = _create(tmp_path / "a", (64, 8), (8, 4), (32, 8), "int16", CODECS["blosc-zstd"])
    writer = ShardStreamWriter(array, shard_layout(array), (64, 8), threads=threads)
    writer.add(((0, 24), (0, 8)), first[0:24].copy())  # shard 0 not complete: stays open
    writer.add(((0, 16), (0, 8)), final[0:16].copy())
    writer.add(((20, 28), (0, 4)), final[20:28, 0:4].copy())
    assert (0, 0) not in writer.finished
    writer.add(((24, 64), (0, 8)), final[24:64].copy())
    writer.finish()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a", mode="r")[...], final)
    expected = _create(tmp_path / "z", (64, 8), (8, 4), (32, 8), "int16", CODECS["blosc-zstd"])
    expected[...] = final
    assert _shard_files(tmp_path / "a") == _shard_files(tmp_path / "z")


def test_column_pieces_exceeding_the_held_and_staged_caps(tmp_path, monkeypatch):
    """Chunks that wait too long for their turn are written out of order and re-packed;
    partly covered chunks beyond the staging cap are encoded and decoded again: the files
    stay byte-identical."""
    monkeypatch.setattr(sw, "MAX_HELD_BYTES", 2000)
    monkeypatch.setattr(sw, "MIN_STAGED_BYTES", 3000)
    rng = np.random.default_rng(11)
    values = rng.integers(-99, 99, size=(200, 24)).astype("int16")
    pieces = [((0, 200), (c, c + 1)) for c in range(24)]  # one channel at a time
    _assert_same_as_zarr(tmp_path, values, (16, 8), (64, 24), CODECS["blosc-zstd"], pieces, 2)


def test_piece_reaching_a_finished_shard_is_written_through_zarr(tmp_path):
    values = np.arange(60 * 4, dtype="int32").reshape(60, 4)
    array = _create(tmp_path / "a", values.shape, (5, 4), (20, 4), "int32", CODECS["zstd"])
    layout = shard_layout(array)
    writer = ShardStreamWriter(array, layout, values.shape, threads=0)
    writer.add(((0, 60), (0, 4)), values)
    assert (0, 0) in writer.finished  # complete shards are in place at once
    fixed = values.copy()
    fixed[3:7] = -1
    writer.add(((3, 7), (0, 4)), fixed[3:7])
    writer.finish()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a", mode="r")[...], fixed)


def test_write_empty_chunks_setting_is_followed(tmp_path):
    values = np.zeros((40, 4), dtype="int16")
    values[30:] = 1
    kw = {"config": {"write_empty_chunks": True}}
    files = _assert_same_as_zarr(
        tmp_path,
        values,
        (10, 4),
        (20, 4),
        CODECS["blosc-zstd"],
        _pieces_rows(values.shape, 8),
        0,
        **kw,
    )
    assert sorted(files) == ["c/0/0", "c/1/0"]


def test_partial_shard_index_marks_absent_chunks(tmp_path):
    """A shard partly covered at finish: chunks never written get offset = nbytes = 2**64-1,
    partial chunks are padded with the fill value."""
    array = _create(tmp_path / "a", (40, 8), (10, 4), (40, 8), "int16", None, fill_value=7)
    layout = shard_layout(array)
    writer = ShardStreamWriter(array, layout, (40, 8), threads=0)
    writer.add(((0, 15), (0, 4)), np.ones((15, 4), "int16"))
    writer.finish()
    data = (tmp_path / "a" / "c" / "0" / "0").read_bytes()
    index = np.frombuffer(data[-(4 * 2 * 2 * 8) - 4 : -4], dtype="<u8").reshape(4, 2, 2)
    assert (index[0, 0] != sw.EMPTY_ENTRY).all() and (index[1, 0] != sw.EMPTY_ENTRY).all()
    assert (index[0, 1] == sw.EMPTY_ENTRY).all() and (index[2:] == sw.EMPTY_ENTRY).all()
    expected = np.full((40, 8), 7, "int16")
    expected[:15, :4] = 1
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a", mode="r")[...], expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": [zc.TransposeCodec(order=(1, 0))]},
        {"compressors": [zc.BloscCodec(), zc.ZstdCodec()]},
        {"shards": None},
        {"dtype": "complex64"},
        {"index_location": "start"},
    ],
    ids=["transpose", "two-compressors", "unsharded", "complex", "index-start"],
)
def test_unsupported_layouts_are_refused(tmp_path, kwargs):
    args = {"shape": (40, 4), "chunks": (10, 4), "shards": (20, 4), "dtype": "int16"}
    args.update({k: v for k, v in kwargs.items() if k != "index_location"})
    if "index_location" in kwargs:
        args["serializer"] = zc.ShardingCodec(chunk_shape=(10, 4), index_location="start")
        args["chunks"] = (20, 4)
        args["compressors"] = None  # the sharding codec alone: refused for its index location
        args.pop("shards")
    array = zarr.create_array(zarr.storage.LocalStore(tmp_path / "a"), zarr_format=3, **args)
    assert shard_layout(array) is None


def test_stores_other_than_local_are_refused():
    array = zarr.create_array(
        zarr.storage.MemoryStore(), shape=(40,), chunks=(10,), shards=(20,), dtype="int16"
    )
    assert shard_layout(array) is None
    assert local_root(zarr.storage.MemoryStore()) is None


def test_region_buffer_streams_only_when_eligible(tmp_path):
    def convert(values):
        return np.asarray(values, dtype="int16")

    good = _create(tmp_path / "good", (30, 4), (5, 4), (10, 4), "int16", CODECS["zstd"])
    assert RegionBuffer(good, np.int16, (30, 4), "/good", convert).stream is not None
    bad = zarr.create_array(
        zarr.storage.LocalStore(tmp_path / "bad"),
        shape=(30, 4),
        chunks=(5, 4),
        shards=(10, 4),
        dtype="int16",
        filters=[zc.TransposeCodec(order=(1, 0))],
    )
    buffer = RegionBuffer(bad, np.int16, (30, 4), "/bad", convert)
    assert buffer.stream is None
    values = np.arange(120, dtype="int16").reshape(30, 4)
    buffer.add(DataChunk(values[:17], np.s_[0:17, :]))
    buffer.add(DataChunk(values[17:], np.s_[17:30, :]))
    buffer.finish()
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "bad", mode="r")[...], values)


def test_region_buffer_grows_unlimited_axis_and_ends_stream_on_fancy_selection(tmp_path):
    def convert(values):
        return np.asarray(values, dtype="float32")

    values = np.random.default_rng(1).random((47, 3)).astype("float32")
    array = _create(tmp_path / "a", (0, 3), (4, 3), (16, 3), "float32", CODECS["blosc-zstd"])
    buffer = RegionBuffer(array, np.float32, (None, 3), "/a", convert)
    assert buffer.stream is not None
    for start in range(0, 40, 9):
        stop = min(start + 9, 40)
        buffer.add(DataChunk(values[start:stop], np.s_[start:stop, :]))
    assert array.shape == (0, 3)  # shards are files; the shape is set when the stream ends
    buffer.add(DataChunk(values[40:47:2], np.s_[40:47:2, :]))  # not a box: through zarr
    assert buffer.stream is None and array.shape[0] >= 40
    buffer.add(DataChunk(values[41:47:2], np.s_[41:47:2, :]))
    buffer.finish()
    back = zarr.open_array(tmp_path / "a", mode="r")
    assert back.shape == (47, 3)
    np.testing.assert_array_equal(back[...], values)
    reference = _create(tmp_path / "ref", (48, 3), (4, 3), (16, 3), "float32", CODECS["blosc-zstd"])
    reference[:40] = values[:40]
    reference.resize((40, 3))
    ours_first = _shard_files(tmp_path / "a")["c/0/0"]
    assert ours_first == _shard_files(tmp_path / "ref")["c/0/0"]


# -- store integration ------------------------------------------------------------------------
def _temp(root: Path, content: bytes) -> str:
    path = root / f".tmpfile{TMP_INFIX}x"
    path.write_bytes(content)
    return str(path)


def test_adopt_file_on_a_local_store(tmp_path):
    store = zarr.storage.LocalStore(tmp_path)
    sync(adopt_file(store, "a/c/0", _temp(tmp_path, b"shard")))
    assert (tmp_path / "a" / "c" / "0").read_bytes() == b"shard"
    assert not list(tmp_path.glob(f"*{TMP_INFIX}*"))


def test_write_back_store_forgets_pending_value_of_an_adopted_key(tmp_path):
    from zarr.core.buffer import default_buffer_prototype

    store = WriteBackStore(zarr.storage.LocalStore(tmp_path))
    proto = default_buffer_prototype()
    sync(store.set("a/c/0", proto.buffer.from_bytes(b"old small value")))
    assert store.holds("a/c/0")
    sync(store.adopt_file("a/c/0", _temp(tmp_path, b"new shard")))
    assert not store.holds("a/c/0")
    sync(store.flush())  # the old value must never land after the file
    assert (tmp_path / "a" / "c" / "0").read_bytes() == b"new shard"
    assert sync(store.get("a/c/0", proto)).to_bytes() == b"new shard"
    with pytest.raises(ValueError):
        sync(store.with_read_only(True).adopt_file("a/c/1", _temp(tmp_path, b"x")))


def test_journaled_store_logs_adopted_files_and_rolls_them_back(tmp_path):
    (tmp_path / "zarr.json").write_text("{}")
    (tmp_path / "a" / "c").mkdir(parents=True)
    (tmp_path / "a" / "c" / "0").write_bytes(b"committed")
    store = JournaledStore(zarr.storage.LocalStore(tmp_path))
    sync(store.adopt_file("a/c/0", _temp(tmp_path, b"replaced")))
    sync(store.adopt_file("a/c/1", _temp(tmp_path, b"created")))
    log = (tmp_path / JOURNAL_DIR / "log").read_text()
    assert "B\ta/c/0" in log and "N\ta/c/1" in log
    assert (tmp_path / JOURNAL_DIR / "backup" / "a" / "c" / "0").read_bytes() == b"committed"
    assert (tmp_path / "a" / "c" / "0").read_bytes() == b"replaced"
    with pytest.raises(ValueError):
        sync(store.adopt_file("zarr.json", _temp(tmp_path, b"{}")))
    store.rollback()
    assert (tmp_path / "a" / "c" / "0").read_bytes() == b"committed"
    assert not (tmp_path / "a" / "c" / "1").exists()


# -- through NWBZarrIO ------------------------------------------------------------------------
class FailingIterator(ArrayIterator):
    def _get_data(self, selection):
        if selection[0].start >= 60:
            raise OSError("source went away")
        return super()._get_data(selection)


def _nwbfile(data) -> NWBFile:
    f = NWBFile("stream", "id", datetime(2024, 1, 1, tzinfo=UTC))
    f.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=10.0))
    return f


def _spy(monkeypatch) -> list:
    used = []
    original = ShardStreamWriter.finish

    def finish(self):
        used.append(self.array.path)
        return original(self)

    monkeypatch.setattr(ShardStreamWriter, "finish", finish)
    return used


def test_nwb_write_streams_generic_iterator_and_matches_zarr(tmp_path, monkeypatch):
    used = _spy(monkeypatch)
    values = np.random.default_rng(2).integers(-500, 500, size=(250, 12)).astype("int16")
    it = ArrayIterator(values, buffer_shape=(37, 12), chunk_shape=(37, 12))
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile(ZarrDataIO(it, chunks=(16, 4), shards=(64, 12))))
    assert used == ["acquisition/ts/data"]
    assert not [p for p in path.rglob("*") if TMP_INFIX in p.name]
    ours = zarr.open_array(path, path="acquisition/ts/data", mode="r")
    np.testing.assert_array_equal(ours[...], values)
    with NWBZarrIO(path, mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], values)
    # zarr-python writing the same values into an array of the same metadata: same shards
    meta = ours.metadata.to_dict()
    ref = zarr.create_array(
        zarr.storage.LocalStore(tmp_path / "ref"),
        shape=values.shape,
        chunks=(16, 4),
        shards=(64, 12),
        dtype="int16",
        serializer=ours.metadata.codecs[0].codecs[0],
        compressors=list(ours.metadata.codecs[0].codecs[1:]) or None,
        fill_value=meta["fill_value"],
        zarr_format=3,
    )
    ref[...] = values
    array_dir = path / "acquisition" / "ts" / "data"
    assert _shard_files(array_dir) == _shard_files(tmp_path / "ref")


def test_nwb_write_with_unknown_length_iterator(tmp_path, monkeypatch):
    used = _spy(monkeypatch)
    values = np.arange(301 * 3, dtype="float64").reshape(301, 3)
    it = DataChunkIterator(data=iter(values), buffer_size=40)
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile(ZarrDataIO(it, chunks=(32, 3), shards=(128, 3))))
    assert used
    with NWBZarrIO(path, mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], values)


def test_failing_iterator_leaves_no_temporary_shards(tmp_path):
    values = np.arange(200 * 4, dtype="int32").reshape(200, 4)
    it = FailingIterator(values, buffer_shape=(30, 4), chunk_shape=(30, 4))
    path = tmp_path / "f.nwb.zarr"
    with pytest.raises(OSError, match="source went away"):
        with NWBZarrIO(path, mode="w") as io:
            io.write(_nwbfile(ZarrDataIO(it, chunks=(8, 4), shards=(64, 4))))
    assert not [p for p in path.rglob("*") if TMP_INFIX in p.name]


def test_append_streams_through_the_journal_and_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile(np.arange(10.0)))
    used = _spy(monkeypatch)
    values = np.arange(150 * 2, dtype="int16").reshape(150, 2)
    with NWBZarrIO(path, mode="a") as io:
        nwbfile = io.read()
        it = ArrayIterator(values, buffer_shape=(40, 2), chunk_shape=(40, 2))
        nwbfile.add_acquisition(
            TimeSeries(
                name="new", data=ZarrDataIO(it, chunks=(10, 2), shards=(50, 2)), unit="V", rate=1.0
            )
        )
        io.write(nwbfile)
    assert used == ["acquisition/new/data"]
    with NWBZarrIO(path, mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["new"].data[:], values)
    # a failing append: its adopted shards are journaled, so the rollback removes them
    with pytest.raises(OSError, match="source went away"):
        with NWBZarrIO(path, mode="a") as io:
            nwbfile = io.read()
            bad = FailingIterator(values, buffer_shape=(20, 2), chunk_shape=(20, 2))
            nwbfile.add_acquisition(
                TimeSeries(
                    name="bad",
                    data=ZarrDataIO(bad, chunks=(10, 2), shards=(20, 2)),
                    unit="V",
                    rate=1.0,
                )
            )
            io.write(nwbfile)
    assert not (path / "acquisition" / "bad").exists()
    assert not (path / JOURNAL_DIR).exists()
    with NWBZarrIO(path, mode="r") as io:
        assert "bad" not in io.read().acquisition
