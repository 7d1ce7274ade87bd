"""The lean local read path (storage/local_chunks.py) returns what zarr-python returns.

Every test compares with zarr-python reading the same store (plain ``zarr.Array`` indexing),
and checks that the lean reader really served the read (``reader.read`` is not None), so a
silent fallback to zarr-python cannot make a test pass.
"""

from __future__ import annotations

import os
import shutil
import struct
import time

import google_crc32c
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ShardingCodec, TransposeCodec, ZstdCodec
from zarr.storage import LocalStore, MemoryStore

from nwbzarr.backend.lazy import ZarrArrayView
from nwbzarr.errors import CorruptChunkError
from nwbzarr.storage import local_chunks
from nwbzarr.storage.inline_reads import InlineReadStore
from nwbzarr.storage.journal import JOURNAL_DIR

COMPRESSORS = {
    "none": None,
    "lz4-bitshuffle": BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    "zstd": ZstdCodec(level=3),
    "gzip": GzipCodec(level=4),
    "blosc-zstd": BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
}


def _values(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def _open(path: str) -> tuple[ZarrArrayView, zarr.Array]:
    """The array at ``path`` as nwbzarr reads it (view) and as zarr-python reads it."""
    store = InlineReadStore(LocalStore(path, read_only=True))
    plain = zarr.open_array(store, mode="r")
    return ZarrArrayView.wrap(plain), plain


def _write(
    path: str,
    shape: tuple[int, ...],
    dtype: str,
    chunks: tuple[int, ...],
    shards: tuple[int, ...] | None,
    compressor: str,
    rng: np.random.Generator,
    fill_value: object = None,
    serializer: object = "auto",
) -> np.ndarray:
    """Create an array and write a random part of it (some chunks stay unwritten)."""
    array = zarr.create_array(
        path,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        compressors=COMPRESSORS[compressor],
        fill_value=fill_value,
        serializer=serializer,
    )
    values = _values(shape, dtype, rng)
    if shape:
        region = tuple(slice(0, max(1, n * 2 // 3)) for n in shape)  # the rest: fill value
        array[region] = values[region]
        expected = np.full(shape, array.fill_value, dtype=array.dtype)
        expected[region] = values[region]
    else:
        array[()] = values
        expected = values
    return expected


def _random_key(shape: tuple[int, ...], rng: np.random.Generator) -> tuple:
    items: list = []
    for n in shape:
        kind = rng.integers(0, 5)
        if kind == 0:
            items.append(int(rng.integers(-n, n)))  # negative indices too
        elif kind == 1:
            items.append(slice(None))
        else:
            start = int(rng.integers(-n - 3, n + 3)) if rng.random() < 0.8 else None
            stop = int(rng.integers(-n - 3, n + 5)) if rng.random() < 0.8 else None
            items.append(slice(start, stop))
    if items and rng.random() < 0.2:
        items = items[: int(rng.integers(0, len(items)))]  # trailing dimensions implied
    elif items and rng.random() < 0.25:
        at = int(rng.integers(0, len(items)))
        items = items[:at] + [Ellipsis] + items[at + 1 :]  # standing for dimension ``at``
    return tuple(items)


def _same(got: object, want: object) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


CASES = [
    # shape, dtype, chunks, shards, compressor
    ((1000,), "int16", (64,), (256,), "lz4-bitshuffle"),
    ((1000,), "float64", (100,), None, "zstd"),
    ((257, 45), "int16", (32, 8), (64, 16), "lz4-bitshuffle"),
    ((257, 45), "uint8", (32, 8), (64, 16), "gzip"),
    ((257, 45), "float32", (50, 10), None, "blosc-zstd"),
    ((257, 45), "bool", (32, 8), (96, 24), "zstd"),
    ((257, 45), "float64", (32, 8), (64, 16), "none"),
    ((33, 17, 9), "int16", (8, 4, 3), (16, 8, 9), "gzip"),
    ((33, 17, 9), "float32", (8, 5, 4), None, "lz4-bitshuffle"),
    ((33, 17, 9), "uint8", (5, 5, 5), (10, 10, 5), "none"),
]


@pytest.mark.parametrize(("shape", "dtype", "chunks", "shards", "compressor"), CASES)
def test_random_selections_equal_zarr(tmp_path, shape, dtype, chunks, shards, compressor) -> None:
    rng = np.random.default_rng(CASES.index((shape, dtype, chunks, shards, compressor)))
    path = str(tmp_path / "a.zarr")
    expected = _write(path, shape, dtype, chunks, shards, compressor, rng, fill_value=1)
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    assert isinstance(reader, local_chunks.LocalChunkReader)
    _same(reader.read(...), plain[...])
    _same(reader.read(...), expected)  # missing chunks read as the fill value
    for _ in range(80):
        key = _random_key(shape, rng)
        got = reader.read(key)
        assert got is not None, key
        _same(got, plain[key])
        want = plain[key]
        want = want[()] if want.ndim == 0 else want
        assert type(view[key]) is type(want)
        _same(view[key], want)
    _same(np.asarray(view), plain[...])


@pytest.mark.parametrize("location", ["start", "end"])
@pytest.mark.parametrize("endian", ["big", "little"])
def test_index_location_and_byte_order(tmp_path, location: str, endian: str) -> None:
    rng = np.random.default_rng(3)
    path = str(tmp_path / "a.zarr")
    codec = ShardingCodec(
        chunk_shape=(16, 8),
        codecs=[BytesCodec(endian=endian), BloscCodec(cname="lz4", shuffle="shuffle")],
        index_location=location,
    )
    array = zarr.create_array(
        path, shape=(100, 20), dtype="int32", chunks=(48, 16), serializer=codec, compressors=None
    )
    values = rng.integers(-(2**31), 2**31 - 1, size=(100, 20), dtype="int32")
    array[:70] = values[:70]
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    for key in [np.s_[...], np.s_[5:90, 3:17], np.s_[-1], np.s_[69:71, 19], np.s_[3, 4]]:
        got = reader.read(key)
        assert got is not None
        _same(got, plain[key])
    _same(reader.read(np.s_[:70]), values[:70])


def test_big_endian_unsharded_and_zero_d(tmp_path) -> None:
    rng = np.random.default_rng(4)
    path = str(tmp_path / "be.zarr")
    array = zarr.create_array(
        path,
        shape=(50, 7),
        dtype="float64",
        chunks=(9, 4),
        serializer=BytesCodec(endian="big"),
        compressors=GzipCodec(),
    )
    array[:] = rng.normal(size=(50, 7))
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    _same(reader.read(np.s_[3:44, 1:6]), plain[3:44, 1:6])
    _same(view[7, 3], plain[7, 3][()])

    scalar = str(tmp_path / "s.zarr")
    zarr.create_array(scalar, shape=(), dtype="float32", compressors=None)[()] = 2.5
    view, plain = _open(scalar)
    reader = local_chunks.reader_for(view)
    _same(reader.read(()), plain[()])
    _same(reader.read(...), plain[...])
    assert view[()] == np.float32(2.5)
    assert type(view[()]) is np.float32


def test_missing_shards_and_fill_values(tmp_path) -> None:
    path = str(tmp_path / "f.zarr")
    array = zarr.create_array(
        path, shape=(300, 10), dtype="float32", chunks=(10, 5), shards=(100, 10), fill_value=np.nan
    )
    array[120:130, 5:] = 7.0  # one inner chunk of the second shard; the rest stays unwritten
    assert sorted(os.listdir(os.path.join(path, "c"))) == ["1"]
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    got = reader.read(...)
    _same(got, plain[...])
    assert np.isnan(got[:120]).all() and (got[120:130, 5:] == 7).all()
    assert np.isnan(got[130:]).all() and np.isnan(got[120:130, :5]).all()
    _same(reader.read(np.s_[0:5]), np.full((5, 10), np.nan, dtype="float32"))
    _same(reader.read(np.s_[10:10]), plain[10:10])  # empty selection


def test_unsupported_selections_fall_back_to_zarr(tmp_path) -> None:
    rng = np.random.default_rng(5)
    path = str(tmp_path / "a.zarr")
    _write(path, (40, 6), "int16", (8, 3), (16, 6), "zstd", rng)
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    for key in [np.s_[::2], np.s_[[1, 3, 5]], np.s_[np.array([0, 2]), 1], np.s_[None, 3]]:
        assert reader.read(key) is None
    _same(view[::3], plain[::3])
    _same(view[[1, 3, 5]], plain[[1, 3, 5]])
    for key in [40, -41, (0, 6), (0, 0, 0)]:  # out of range / too many indices: zarr's errors
        assert reader.read(key) is None
        with pytest.raises(IndexError) as want:
            plain[key]
        with pytest.raises(type(want.value)):
            view[key]


def test_unsupported_arrays_are_read_by_zarr(tmp_path) -> None:
    mem = zarr.create_array(MemoryStore(), shape=(10,), dtype="int16", chunks=(5,))
    mem[:] = np.arange(10)
    assert local_chunks.reader_for(mem).read(...) is None
    writable = zarr.create_array(str(tmp_path / "w.zarr"), shape=(10,), dtype="int16", chunks=(5,))
    assert local_chunks.reader_for(writable).read(...) is None  # written in place by zarr
    zarr.create_array(
        str(tmp_path / "tr.zarr"),
        shape=(6, 4),
        dtype="int16",
        chunks=(3, 2),
        filters=[TransposeCodec(order=(1, 0))],
        compressors=None,
    )[:] = np.arange(24).reshape(6, 4)
    view, plain = _open(str(tmp_path / "tr.zarr"))
    assert local_chunks.reader_for(view).read(...) is None
    _same(view[...], plain[...])
    text = zarr.create_array(str(tmp_path / "s.zarr"), shape=(3,), dtype=str, chunks=(3,))
    text[:] = ["a", "bc", "d"]
    view, _ = _open(str(tmp_path / "s.zarr"))
    assert local_chunks.reader_for(view).read(...) is None


def _age(path: str, seconds: float = 100.0) -> None:
    """Make every file under ``path`` look ``seconds`` old (its index becomes cacheable)."""
    then = time.time() - seconds
    for folder, _dirs, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(folder, name), (then, then))


def test_shard_replaced_after_caching_is_read_again(tmp_path) -> None:
    path = str(tmp_path / "a.zarr")
    array = zarr.create_array(
        path, shape=(64, 8), dtype="int16", chunks=(8, 8), shards=(32, 8), compressors=None
    )
    array[:] = 1
    _age(path)
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    _same(reader.read(np.s_[:40]), np.ones((40, 8), "int16"))
    assert "c/0/0" in reader._indexes and "c/1/0" in reader._indexes  # cached
    assert local_chunks.reader_for(view, reader) is reader  # kept while the array is the same

    # a writer (another process, say) replaces shard c/0/0 with one of the same size whose
    # chunks lie in another order; its mtime is set to the cached one
    shard = os.path.join(path, "c", "0", "0")
    stat = os.stat(shard)
    other = str(tmp_path / "b.zarr")
    rewritten = zarr.create_array(
        other, shape=(64, 8), dtype="int16", chunks=(8, 8), shards=(32, 8), compressors=None
    )
    rewritten[:] = np.arange(64 * 8, dtype="int16").reshape(64, 8)
    new = shard + ".new"
    shutil.copyfile(os.path.join(other, "c", "0", "0"), new)
    assert os.path.getsize(new) == stat.st_size
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(new, shard)
    got = reader.read(np.s_[:40])
    _same(got[:32], np.arange(32 * 8, dtype="int16").reshape(32, 8))
    _same(got, plain[:40])

    # rewritten in place (same inode and size), then aged: the index is read again
    with open(os.path.join(other, "c", "0", "0"), "rb") as f:
        data = bytearray(f.read())
    with open(shard, "r+b") as f:
        f.write(bytes(data))
    os.utime(shard, (time.time() - 50, time.time() - 50))
    _same(reader.read(np.s_[:32]), plain[:32])


def test_fresh_shard_index_is_not_cached(tmp_path) -> None:
    path = str(tmp_path / "a.zarr")
    zarr.create_array(path, shape=(16,), dtype="int16", chunks=(4,), shards=(8,))[:] = 3
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    _same(reader.read(...), plain[...])
    assert reader._indexes == {}  # written just now: within the timestamp granularity


def _sharded(tmp_path, compressor: str = "none") -> str:
    path = str(tmp_path / "a.zarr")
    array = zarr.create_array(
        path,
        shape=(64, 8),
        dtype="int16",
        chunks=(8, 8),
        shards=(32, 8),
        compressors=COMPRESSORS[compressor],
    )
    array[:] = np.arange(64 * 8, dtype="int16").reshape(64, 8)
    return path


def _index(shard: str) -> tuple[bytes, np.ndarray]:
    with open(shard, "rb") as f:
        data = f.read()
    n = 4  # chunks per shard
    entries = np.frombuffer(data[-(16 * n + 4) : -4], dtype="<u8").reshape(n, 2).copy()
    return data[: -(16 * n + 4)], entries


def _with_index(body: bytes, entries: np.ndarray, good_crc: bool = True) -> bytes:
    raw = entries.astype("<u8").tobytes()
    crc = google_crc32c.value(raw) ^ (0 if good_crc else 1)
    return body + raw + struct.pack("<I", crc)


def test_bad_index_checksum(tmp_path) -> None:
    path = _sharded(tmp_path)
    shard = os.path.join(path, "c", "1", "0")
    body, entries = _index(shard)
    with open(shard, "wb") as f:
        f.write(_with_index(body, entries, good_crc=False))
    view, _ = _open(path)
    with pytest.raises(CorruptChunkError, match=r"'c/1/0'.*crc32c") as err:
        view[40:50]
    assert path in str(err.value)
    _same(view[:32], np.arange(32 * 8, dtype="int16").reshape(32, 8))  # shard c/0/0 is fine


def test_index_offsets_beyond_the_file(tmp_path) -> None:
    path = _sharded(tmp_path)
    shard = os.path.join(path, "c", "0", "0")
    body, entries = _index(shard)
    entries[2, 0] = len(body) + 1000  # valid checksum, offset past the end
    with open(shard, "wb") as f:
        f.write(_with_index(body, entries))
    view, _ = _open(path)
    with pytest.raises(CorruptChunkError, match=r"c/0/0.*inner chunk \(2, 0\).*beyond"):
        view[0:4]  # the whole index is checked, not only the chunks asked for
    entries[2, 0], entries[2, 1] = 0, 2**63  # huge size
    with open(shard, "wb") as f:
        f.write(_with_index(body, entries))
    with pytest.raises(CorruptChunkError, match="beyond"):
        view[...]


def _blosc_header_declares(data: bytearray, at: int, nbytes: int) -> None:
    struct.pack_into("<I", data, at + 4, nbytes)


def test_blosc_header_declaring_a_huge_size(tmp_path, monkeypatch) -> None:
    path = _sharded(tmp_path, "lz4-bitshuffle")
    shard = os.path.join(path, "c", "0", "0")
    body, entries = _index(shard)
    data = bytearray(body)
    _blosc_header_declares(data, int(entries[1, 0]), 2**31)
    with open(shard, "wb") as f:
        f.write(_with_index(bytes(data), entries))
    view, plain = _open(path)
    decoded = []
    import numcodecs.blosc

    real = numcodecs.blosc.Blosc.decode
    monkeypatch.setattr(
        numcodecs.blosc.Blosc,
        "decode",
        lambda self, *a, **k: decoded.append(1) or real(self, *a, **k),
    )
    with pytest.raises(CorruptChunkError, match=r"'c/0/0' \(inner chunk \(1, 0\)\).*2147483648"):
        local_chunks.reader_for(view).read(np.s_[8:16])
    assert decoded == []  # refused before decompressing
    with pytest.raises(CorruptChunkError, match="Blosc header"):
        view[8:16]
    _same(view[:8], plain[:8])  # the other chunks still read

    # unsharded: the chunk file itself
    other = str(tmp_path / "u.zarr")
    zarr.create_array(
        other, shape=(16,), dtype="int16", chunks=(8,), compressors=COMPRESSORS["lz4-bitshuffle"]
    )[:] = np.arange(16)
    chunk = os.path.join(other, "c", "1")
    with open(chunk, "rb") as f:
        data = bytearray(f.read())
    _blosc_header_declares(data, 0, 2**31)
    with open(chunk, "wb") as f:
        f.write(bytes(data))
    view, _ = _open(other)
    with pytest.raises(CorruptChunkError, match="c/1"):
        view[...]


def test_chunk_decoding_to_the_wrong_size(tmp_path) -> None:
    path = str(tmp_path / "z.zarr")
    zarr.create_array(path, shape=(16,), dtype="int16", chunks=(8,), compressors=ZstdCodec())[:] = 1
    import numcodecs

    with open(os.path.join(path, "c", "1"), "wb") as f:
        f.write(numcodecs.Zstd().encode(np.zeros(4, "int16")))  # 8 bytes, the chunk holds 16
    view, _ = _open(path)
    with pytest.raises(CorruptChunkError, match=r"c/1.*"):
        view[...]


def test_running_append_reads_committed_bytes(tmp_path) -> None:
    path = _sharded(tmp_path)
    view, plain = _open(path)
    before = plain[...]
    # an append has backed up shard c/0/0 and replaced it (journal.py's layout)
    backup = os.path.join(path, JOURNAL_DIR, "backup", "c", "0", "0")
    os.makedirs(os.path.dirname(backup))
    os.link(os.path.join(path, "c", "0", "0"), backup)
    with open(os.path.join(tmp_path, "new"), "wb") as f:
        f.write(b"\0" * 100)
    os.replace(os.path.join(tmp_path, "new"), os.path.join(path, "c", "0", "0"))
    reader = local_chunks.reader_for(view)
    assert reader.read(...) is None  # the reader leaves it to the journal-aware store
    _same(view[...], before)


def test_arrays_of_a_real_nwb_file(tmp_path, ecephys_file) -> None:
    from nwbzarr import NWBZarrIO, convert

    dst = convert(ecephys_file, tmp_path / "sample.nwb.zarr", progress=False)
    served = 0
    with NWBZarrIO(str(dst), mode="r") as io:
        nwb = io.read()
        for obj in nwb.objects.values():
            data = getattr(obj, "data", None)
            if not isinstance(data, ZarrArrayView) or data.dtype.kind not in "biuf":
                continue
            plain = zarr.open_array(LocalStore(str(dst), read_only=True), path=data.path)
            reader = local_chunks.reader_for(data)
            if not isinstance(reader, local_chunks.LocalChunkReader):
                continue
            _same(data[...], plain[...])
            if data.ndim:
                n = data.shape[0]
                _same(data[n // 3 : n // 2], plain[n // 3 : n // 2])
                _same(data[-1], plain[-1])
            served += 1
    assert served >= 2


def test_chunk_over_max_chunk_bytes_is_refused(tmp_path) -> None:
    from nwbzarr import limits

    path = _sharded(tmp_path, "zstd")  # inner chunks of 8 x 8 int16: 128 bytes
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    with limits.override(max_chunk_bytes=100):
        with pytest.raises(CorruptChunkError, match="max_chunk_bytes=100"):
            reader.read(np.s_[:8])
    _same(reader.read(np.s_[:8]), plain[:8])


def test_max_chunk_bytes_variable_takes_effect_on_the_next_read(tmp_path, monkeypatch) -> None:
    path = _sharded(tmp_path, "zstd")  # inner chunks of 8 x 8 int16: 128 bytes
    _age(path)
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    _same(reader.read(np.s_[:8]), plain[:8])  # the reader (and its index) exists already
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "100")
    with pytest.raises(CorruptChunkError, match="max_chunk_bytes=100"):
        reader.read(np.s_[:8])
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "128")
    _same(reader.read(np.s_[:8]), plain[:8])
    monkeypatch.delenv("NWBZARR_MAX_CHUNK_BYTES")
    _same(view[:8], plain[:8])


def test_replaced_shard_is_detected_on_every_read(tmp_path) -> None:
    """Cached paths and indexes never outlive the file: each read checks the shard's identity."""
    path = _sharded(tmp_path, "lz4-bitshuffle")
    _age(path)
    view, plain = _open(path)
    reader = local_chunks.reader_for(view)
    for key in (np.s_[3:5, 1:3], np.s_[0:32], np.s_[5, 2:7]):
        _same(reader.read(key), plain[key])
    assert "c/0/0" in reader._indexes
    shard = os.path.join(path, "c", "0", "0")
    stat = os.stat(shard)
    body, entries = _index(shard)
    new = shard + ".new"
    with open(new, "wb") as f:  # same size and times, a bad checksum: must be read again
        f.write(_with_index(body, entries, good_crc=False))
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(new, shard)
    with pytest.raises(CorruptChunkError, match=r"'c/0/0'.*crc32c"):
        reader.read(np.s_[3:5, 1:3])  # a one-chunk window, right after the cached reads
    os.remove(shard)
    _same(reader.read(np.s_[3:5, 1:3]), np.zeros((2, 2), "int16"))  # missing: fill value


def test_pickled_view_reads_again(tmp_path) -> None:
    import pickle

    path = _sharded(tmp_path, "lz4-bitshuffle")
    _age(path)
    view, plain = _open(path)
    _same(view[3:40], plain[3:40])
    assert view._nwbzarr_reader._indexes  # cached in this process
    copy = pickle.loads(pickle.dumps(view))
    assert copy._nwbzarr_reader._indexes == {}  # the cache does not travel
    _same(copy[3:40, 2], plain[3:40, 2])
    assert isinstance(
        local_chunks.reader_for(copy, copy._nwbzarr_reader), local_chunks.LocalChunkReader
    )
