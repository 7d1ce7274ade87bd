"""ReferenceStore: a read-only zarr store over a reference set (LINDI files, our JSON)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import NWB_DIR, SHARED_DATA, shared
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import nwbzarr.virtual.store as reference_store_module
from nwbzarr.errors import ReadOnlyError, UntrustedReferenceError
from nwbzarr.formats.kerchunk.references import AccessPolicy, load_references, save_references
from nwbzarr.storage.manifest import ByteRange, ReferenceSet
from nwbzarr.virtual.store import ReferenceStore

LINDI_DIR = SHARED_DATA / "lindi"
LINDI_FILES = sorted(LINDI_DIR.glob("*.lindi.json")) if LINDI_DIR.is_dir() else []
ECEPHYS_LINDI = "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.lindi.json"


class FileRangeReader:
    """Minimal RangeReader over local files; records every range it reads."""

    def __init__(self) -> None:
        self.calls: list[ByteRange] = []

    async def read(self, ref: ByteRange) -> bytes:
        self.calls.append(ref)
        with open(ref.url, "rb") as f:
            f.seek(ref.offset)
            return f.read() if ref.length < 0 else f.read(ref.length)

    async def read_many(self, refs):
        return [await self.read(r) for r in refs]


def lindi_store(tmp_path: Path, name: str) -> tuple[ReferenceStore, Path]:
    src = shared("lindi", name)
    shutil.copy(src, tmp_path / name)
    nwb = NWB_DIR / name.removesuffix(".lindi.json")
    (tmp_path / nwb.name).symlink_to(nwb)
    refset = load_references(tmp_path / name, policy=AccessPolicy(allow_local=[NWB_DIR]))
    return ReferenceStore(refset, FileRangeReader()), nwb


def get(store: ReferenceStore, key: str, byte_range=None) -> bytes | None:
    buf = sync(store.get(key, default_buffer_prototype(), byte_range))
    return None if buf is None else buf.to_bytes()


def collect(aiter) -> list[str]:
    async def run():
        return [x async for x in aiter]

    return sync(run())


# ------------------------------------------------------------------------------ LINDI


@pytest.mark.parametrize("path", LINDI_FILES, ids=lambda p: p.name)
def test_lindi_raw_keys_and_every_numeric_dataset(tmp_path, path):
    store, nwb = lindi_store(tmp_path, path.name)
    document = json.loads(path.read_text())["refs"]
    assert json.loads(get(store, ".zattrs")) == document[".zattrs"]
    assert json.loads(get(store, ".zgroup")) == {"zarr_format": 2}
    group = zarr.open_group(store, mode="r", zarr_format=2)
    compared = 0
    with h5py.File(nwb, "r") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            if f"{name}/.zarray" not in document:
                continue
            dset, zarray = f[name], json.loads(get(store, f"{name}/.zarray"))
            if dset.dtype.kind in "iuf":
                expected = dset[()]
                got = group[name][...].reshape(np.shape(expected))  # LINDI scalars are [1]
                assert np.array_equal(got, expected, equal_nan=dset.dtype.kind == "f"), name
            elif zarray["dtype"].startswith("<U"):  # LINDI's fixed-width text
                expected = np.asarray(dset.asstr()[()], dtype=object)
                got = group[name][...].reshape(expected.shape)
                assert got.tolist() == expected.tolist(), name
            else:
                continue
            compared += 1
    assert compared >= 1


def test_lindi_chunk_bytes_equal_hdf5_bytes(tmp_path):
    store, nwb = lindi_store(tmp_path, ECEPHYS_LINDI)
    with h5py.File(nwb, "r") as f:
        dset = f["units/spike_times"]
        offset, size = dset.id.get_offset(), dset.id.get_storage_size()
    raw = nwb.read_bytes()[offset : offset + size]
    assert get(store, "units/spike_times/0") == raw
    assert store._reader.calls[-1] == ByteRange(str(tmp_path / nwb.name), offset, size)
    assert get(store, "units/spike_times/0", RangeByteRequest(8, 24)) == raw[8:24]
    assert get(store, "units/spike_times/0", OffsetByteRequest(size - 5)) == raw[-5:]
    assert get(store, "units/spike_times/0", SuffixByteRequest(7)) == raw[-7:]
    assert store._reader.calls[-1] == ByteRange(str(tmp_path / nwb.name), offset + size - 7, 7)
    assert sync(store.getsize("units/spike_times/0")) == size


# ------------------------------------------------------------------------------ in memory


@pytest.fixture
def small(tmp_path) -> tuple[ReferenceStore, bytes, Path]:
    source = tmp_path / "src.bin"
    data = bytes(range(200))
    source.write_bytes(data)
    refset = ReferenceSet(
        refs={
            "zarr.json": b'{"zarr_format":3,"node_type":"group","attributes":{}}',
            "a/zarr.json": b"{}",
            "a/c/0/0": ByteRange(str(source), 10, 20),
            "a/c/0/1": b"\x00\x01\x02\x03\x04",
            "a/c/1/0": ByteRange(str(source), 150, -1),
            "b/x/y/z": b"deep",
            "bb": b"sibling with a shared prefix",
        },
        location=str(tmp_path / "refs.json"),
    )
    return ReferenceStore(refset, FileRangeReader()), data, source


@pytest.mark.parametrize(
    "byte_range, sl",
    [
        (None, slice(None)),
        (RangeByteRequest(1, 3), slice(1, 3)),
        (RangeByteRequest(3, 100), slice(3, None)),
        (OffsetByteRequest(2), slice(2, None)),
        (SuffixByteRequest(2), slice(-2, None)),
        (SuffixByteRequest(50), slice(None)),
    ],
)
def test_get_byte_ranges(small, byte_range, sl):
    store, data, _ = small
    assert get(store, "a/c/0/1", byte_range) == b"\x00\x01\x02\x03\x04"[sl]
    assert get(store, "a/c/0/0", byte_range) == data[10:30][sl]
    assert get(store, "a/c/1/0", byte_range) == data[150:][sl]


def test_get_missing_and_partial_values(small):
    store, data, _ = small
    assert get(store, "nope") is None
    assert get(store, "a/c") is None  # a directory is not a key
    result = sync(
        store.get_partial_values(
            default_buffer_prototype(),
            [("a/c/0/0", RangeByteRequest(0, 4)), ("nope", None), ("a/c/0/1", None)],
        )
    )
    assert result[0].to_bytes() == data[10:14]
    assert result[1] is None
    assert result[2].to_bytes() == b"\x00\x01\x02\x03\x04"


def test_listing_and_sizes(small):
    store, data, _ = small
    keys = list(store.refset.refs)
    assert collect(store.list()) == keys
    assert collect(store.list_prefix("")) == sorted(keys)
    assert collect(store.list_prefix("a/")) == ["a/c/0/0", "a/c/0/1", "a/c/1/0", "a/zarr.json"]
    assert collect(store.list_prefix("b")) == ["b/x/y/z", "bb"]
    assert collect(store.list_prefix("zz")) == []
    assert collect(store.list_dir("")) == ["zarr.json", "a", "b", "bb"]
    assert collect(store.list_dir("a")) == ["zarr.json", "c"]
    assert collect(store.list_dir("a/")) == ["zarr.json", "c"]
    assert collect(store.list_dir("a/c")) == ["0", "1"]
    assert collect(store.list_dir("b/x")) == ["y"]
    assert collect(store.list_dir("missing")) == []
    assert sync(store.exists("a/c/0/0")) and not sync(store.exists("a/c"))
    assert sync(store.getsize("a/c/0/0")) == 20
    assert sync(store.getsize("a/c/0/1")) == 5
    assert sync(store.getsize("a/c/1/0")) == 50
    with pytest.raises(FileNotFoundError):
        sync(store.getsize("nope"))
    assert not sync(store.is_empty("a")) and sync(store.is_empty("zz"))


def test_read_only(small):
    store, _, _ = small
    buf = default_buffer_prototype().buffer.from_bytes(b"x")
    assert store.read_only
    assert (store.supports_writes, store.supports_deletes, store.supports_listing) == (
        False,
        False,
        True,
    )
    assert not store.supports_partial_writes
    for call in (
        store.set("a/c/0/0", buf),
        store.set_if_not_exists("new", buf),
        store.delete("a/c/0/0"),
        store.delete_dir("a"),
        store.clear(),
    ):
        with pytest.raises(ReadOnlyError, match="read-only"):
            sync(call)
    with pytest.raises(ReadOnlyError):
        store.with_read_only(False)
    assert store.with_read_only(True) == store
    assert get(store, "a/c/0/1") == b"\x00\x01\x02\x03\x04"  # nothing changed
    with pytest.raises(ValueError, match="read-only"):  # zarr refuses before writing
        zarr.open_group(store, mode="a")


def test_equality(small):
    store, _, _ = small
    same = ReferenceStore(ReferenceSet(dict(store.refset.refs)), FileRangeReader())
    other = ReferenceSet({**store.refset.refs, "extra": b"1"})
    assert store == same
    assert store != ReferenceStore(other)
    assert store != zarr.storage.MemoryStore()


def test_policy_checked_at_construction(small, tmp_path):
    store, _, source = small
    refset = store.refset
    with pytest.raises(UntrustedReferenceError, match="a/c/0/0"):
        ReferenceStore(refset, policy=AccessPolicy(use_env=False, allow_own_directory=False))
    allowed = ReferenceStore(refset, policy=AccessPolicy(use_env=False))  # the JSON's directory
    assert allowed == store
    remote = ReferenceSet({"zarr.json": b"{}", "c/0": ByteRange("ftp://h/x", 0, 1)})
    with pytest.raises(UntrustedReferenceError, match="'ftp'"):
        ReferenceStore(remote, policy=AccessPolicy())


def test_default_reader_is_made_lazily(small, monkeypatch):
    store, data, _ = small
    made: list[dict] = []

    def open_range_reader(storage_options=None, **kwargs):
        made.append(kwargs)
        return FileRangeReader()

    monkeypatch.setattr(reference_store_module, "open_range_reader", open_range_reader)
    lazy = ReferenceStore(store.refset)
    assert get(lazy, "a/c/0/1") == b"\x00\x01\x02\x03\x04" and made == []  # inline: no reader
    assert get(lazy, "a/c/0/0") == data[10:30]
    assert get(lazy, "a/c/1/0") == data[150:]
    assert len(made) == 1
    state = lazy.__getstate__()
    assert state["_reader"] is None  # a reader made here is not carried along


# ------------------------------------------------------------------------------ zarr v3


def test_zarr_v3_array_through_saved_json(tmp_path):
    """Chunks of a real Zarr v3 array, indexed as byte ranges, read back through the JSON."""
    original = tmp_path / "data" / "orig.zarr"
    values = np.arange(1000, dtype="<i4").reshape(40, 25) * 3 - 7
    arr = zarr.create_array(original, shape=values.shape, chunks=(16, 10), dtype="<i4")
    arr[:] = values
    arr.attrs["unit"] = "volts"
    refs = {}
    for path in sorted(original.rglob("*")):
        if path.is_file():
            key = path.relative_to(original).as_posix()
            if path.name == "zarr.json":
                refs[key] = path.read_bytes()
            else:
                refs[key] = ByteRange(str(path), 0, path.stat().st_size)
    save_references(ReferenceSet(refs), tmp_path / "orig.json")
    loaded = load_references(tmp_path / "orig.json")
    assert loaded.refs == refs
    store = ReferenceStore(loaded, FileRangeReader())
    read = zarr.open_array(store, mode="r")
    assert read.attrs["unit"] == "volts"
    np.testing.assert_array_equal(read[:], values)
    np.testing.assert_array_equal(read[5:33, 3:21], values[5:33, 3:21])
