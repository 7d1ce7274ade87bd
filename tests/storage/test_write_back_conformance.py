"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for WriteBackStore."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from store_conformance import LocalWrapperTests, run

from nwbzarr.compat import default_buffer_prototype
from nwbzarr.errors import ReadOnlyError
from nwbzarr.storage.write_back import WriteBackStore


class TestWriteBackStore(LocalWrapperTests):
    store_cls = WriteBackStore

    async def get(self, store: WriteBackStore, key: str) -> Any:
        await store.flush()  # what the wrapped store holds once the held writes are written
        return await super().get(store, key)

    def test_store_repr(self, store: WriteBackStore) -> None:
        assert repr(store) == f"WriteBackStore({store._store!r})"

    async def test_serializable_store(self, store: WriteBackStore) -> None:
        """Design: a pickled WriteBackStore is its wrapped store, read-only (one process
        writes a store), and pickling while writes are held is refused."""
        value = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await store.set("foo", value)
        with pytest.raises(ReadOnlyError, match="flush"):
            pickle.dumps(store)
        await store.flush()
        copy = pickle.loads(pickle.dumps(store))
        assert copy == store._store.with_read_only(True)
        assert copy.read_only
        assert (await copy.get("foo", prototype=default_buffer_prototype())) == value

    def test_held_value_ranges(self, store: WriteBackStore) -> None:
        """Byte ranges of a value still held in memory read as those of a written one."""
        from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

        value = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        run(store.set("c/0", value))
        assert store.holds("c/0")
        for rng, want in [
            (RangeByteRequest(1, 3), b"\x02\x03"),
            (RangeByteRequest(2, 10), b"\x03\x04"),
            (OffsetByteRequest(3), b"\x04"),
            (SuffixByteRequest(9), b"\x01\x02\x03\x04"),
        ]:
            got = run(store.get("c/0", default_buffer_prototype(), rng))
            assert got.to_bytes() == want
        with pytest.raises(TypeError, match="Unexpected byte_range, got"):
            run(store.get("c/0", default_buffer_prototype(), (0, 2)))
