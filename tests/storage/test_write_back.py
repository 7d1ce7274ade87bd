"""WriteBackStore: small writes held in memory, flushed together; new files use it."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import zarr
from pynwb import NWBHDF5IO
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from nwbzarr import NWBZarrIO
from nwbzarr.errors import IncompleteStoreError
from nwbzarr.storage.write_back import WriteBackStore

PROTO = default_buffer_prototype()


def _buf(data: bytes):
    return PROTO.buffer.from_bytes(data)


async def _listed(iterator) -> list[str]:
    return sorted([k async for k in iterator])


def test_store_holds_small_values_until_flush(ecephys_file, tmp_path):
    with h5py.File(ecephys_file, "r") as f:
        small = f["units/spike_times"][:100].tobytes()  # 800 bytes
        large = f["units/spike_times"][:].tobytes()  # 272456 bytes
    store = WriteBackStore(LocalStore(tmp_path), max_value_bytes=1000)
    sync(store.set("zarr.json", _buf(b'{"root": 1}')))
    sync(store.set("a/zarr.json", _buf(b'{"a": 1}')))
    sync(store.set("a/c/0", _buf(small)))
    sync(store.set("a/big", _buf(large)))
    # the root document and large values are on disk at once; small ones are not
    assert (tmp_path / "zarr.json").read_bytes() == b'{"root": 1}'
    assert (tmp_path / "a" / "big").read_bytes() == large
    assert not (tmp_path / "a" / "c").exists()
    assert sorted(store.pending_keys) == ["a/c/0", "a/zarr.json"]
    # reads, ranges, existence and listings see held values
    assert sync(store.get("a/c/0", PROTO)).to_bytes() == small
    assert sync(store.get("a/c/0", PROTO, RangeByteRequest(8, 24))).to_bytes() == small[8:24]
    assert sync(store.get("a/c/0", PROTO, OffsetByteRequest(790))).to_bytes() == small[790:]
    assert sync(store.get("a/c/0", PROTO, SuffixByteRequest(5))).to_bytes() == small[-5:]
    assert sync(store.exists("a/c/0")) and not sync(store.exists("a/c/1"))
    assert sync(store.getsize("a/c/0")) == len(small)
    assert [v.to_bytes() for v in sync(store.get_partial_values(PROTO, [("a/c/0", None)]))] == [
        small
    ]
    assert sync(_listed(store.list_dir("a"))) == ["big", "c", "zarr.json"]
    assert sync(_listed(store.list_prefix("a/c"))) == ["a/c/0"]
    assert sync(_listed(store.list())) == ["a/big", "a/c/0", "a/zarr.json", "zarr.json"]
    sync(store.flush())
    assert store.pending_keys == []
    assert (tmp_path / "a" / "c" / "0").read_bytes() == small
    assert (tmp_path / "a" / "zarr.json").read_bytes() == b'{"a": 1}'
    # metadata documents stay readable from memory after the flush
    (tmp_path / "a" / "zarr.json").write_bytes(b"changed behind our back")
    assert sync(store.get("a/zarr.json", PROTO)).to_bytes() == b'{"a": 1}'


def test_store_writes_batches_in_background_in_order(tmp_path):
    store = WriteBackStore(LocalStore(tmp_path), max_value_bytes=100, flush_items=3)
    sync(store.set("g/x/c/0", _buf(b"x" * 100)))
    sync(store.set("g/y/c/0", _buf(b"y" * 100)))
    assert not (tmp_path / "g").exists()
    sync(store.delete_dir("g/y"))  # never written: dropped from memory
    assert store.pending_keys == ["g/x/c/0"]
    sync(store.set("g/z/c/0", _buf(b"z" * 100)))
    sync(store.set("g/w/c/0", _buf(b"w" * 100)))  # 3 held: written in the background
    # a newer value of a key being written waits for that batch, so it lands last
    sync(store.set("g/x/c/0", _buf(b"X" * 100)))
    assert (tmp_path / "g" / "x" / "c" / "0").read_bytes() == b"x" * 100
    assert store.pending_keys == ["g/x/c/0"]
    assert sync(store.get("g/x/c/0", PROTO)).to_bytes() == b"X" * 100
    sync(store.flush())
    assert store.pending_keys == []
    assert (tmp_path / "g" / "x" / "c" / "0").read_bytes() == b"X" * 100
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["w", "x", "z"]
    sync(store.delete("g/x/c/0"))
    assert not sync(store.exists("g/x/c/0"))


def test_failed_background_write_is_raised_by_flush(tmp_path):
    (tmp_path / "blocked").write_text("a file where a directory is needed")
    store = WriteBackStore(LocalStore(tmp_path), flush_items=1)
    sync(store.set("blocked/c/0", _buf(b"data")))  # the batch fails in the background
    with pytest.raises(OSError):
        sync(store.flush())
    assert store.pending_keys == ["blocked/c/0"]  # still held, not lost
    assert sync(store.get("blocked/c/0", PROTO)).to_bytes() == b"data"


def test_new_file_keeps_marker_until_everything_is_flushed(ecephys_file, tmp_path):
    dst = tmp_path / "out.nwb.zarr"
    with NWBHDF5IO(str(ecephys_file), mode="r") as src:
        with NWBZarrIO(str(dst), mode="w") as io:
            io.export(src_io=src)
            assert isinstance(io.file.store, WriteBackStore)
            # export published what it wrote (specs included: one consolidation after the
            # spec cache), and the marker stays until close
            root_doc = json.loads((dst / "zarr.json").read_text())
            assert root_doc["attributes"]["_WRITE_IN_PROGRESS"] is True
            assert "specifications" in root_doc["consolidated_metadata"]["metadata"]
            with pytest.raises(IncompleteStoreError):
                NWBZarrIO(str(dst), mode="r")
        root_doc = json.loads((dst / "zarr.json").read_text())
        assert "_WRITE_IN_PROGRESS" not in root_doc["attributes"]
        with h5py.File(ecephys_file, "r") as h5:
            z = zarr.open_group(str(dst), mode="r")
            n_compared = 0

            def compare(name, obj):
                nonlocal n_compared
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iuf" and name in z:
                    np.testing.assert_array_equal(z[name][...], obj[()], err_msg=name)
                    n_compared += 1

            h5.visititems(compare)
            assert n_compared > 10


def test_emptied_store_skips_lookups_of_unwritten_metadata_until_flush(tmp_path):
    inner = LocalStore(tmp_path)
    store = WriteBackStore(inner)
    sync(inner.set("old/zarr.json", _buf(b'{"old": 1}')))
    # before the store is emptied, documents on disk are seen
    assert sync(store.exists("old/zarr.json"))
    sync(store.delete_dir(""))
    assert not (tmp_path / "old").exists()
    # emptied: a document written behind the wrapper's back is not looked up...
    sync(inner.set("other/zarr.json", _buf(b'{"other": 1}')))
    assert not sync(store.exists("other/zarr.json"))
    assert sync(store.get("other/zarr.json", PROTO)) is None
    # ...but chunks still are, and documents written through the wrapper are served
    sync(inner.set("other/c/0", _buf(b"\x01\x02")))
    assert sync(store.get("other/c/0", PROTO)).to_bytes() == b"\x01\x02"
    sync(store.set("a/zarr.json", _buf(b'{"a": 1}')))
    assert sync(store.get("a/zarr.json", PROTO)).to_bytes() == b'{"a": 1}'
    # after a flush other writers may have written: lookups reach the disk again
    sync(store.flush())
    assert sync(store.exists("other/zarr.json"))
    assert sync(store.get("other/zarr.json", PROTO)).to_bytes() == b'{"other": 1}'
    assert json.loads((tmp_path / "a" / "zarr.json").read_bytes()) == {"a": 1}


def test_small_arrays_created_and_written_in_one_call_match_block_copies(
    ecephys_file, tmp_path, monkeypatch
):
    import nwbzarr.backend.write as write_module

    def convert(dst, small_bytes):
        monkeypatch.setattr(write_module, "SMALL_ARRAY_BYTES", small_bytes)
        with h5py.File(ecephys_file, "r") as f:
            data = f["units/spike_times"][:5000]  # real values, 40000 bytes
        from pynwb import TimeSeries
        from pynwb.testing.mock.file import mock_NWBFile

        out = mock_NWBFile()
        out.add_acquisition(TimeSeries(name="small", data=data, unit="V", rate=30.0))
        with NWBZarrIO(str(dst), "w") as io:
            io.write(out)
        return zarr.open_group(str(dst), mode="r")["acquisition/small/data"], data

    fused, data = convert(tmp_path / "fused.nwb.zarr", 1 << 20)
    blocks, _ = convert(tmp_path / "blocks.nwb.zarr", 0)
    np.testing.assert_array_equal(fused[...], data)
    np.testing.assert_array_equal(blocks[...], data)
    assert fused.metadata.to_dict() == blocks.metadata.to_dict()
    assert dict(fused.attrs) == dict(blocks.attrs)
