"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for StagingStore.

The backdoor ``set`` adds a key to the original references (what a store over an HDF5 file
or reference JSON starts with); the backdoor ``get`` reads what the store holds for a key
(staged inline bytes or a staged file, else the original reference) without its methods.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from store_conformance import ConformanceTests

from nwbzarr.compat import default_buffer_prototype
from nwbzarr.storage.manifest import ByteRange, ReferenceSet
from nwbzarr.virtual.staging import StagingStore
from nwbzarr.virtual.store import ReferenceStore

#: the suite lets stores with staged changes go unsaved, which warns by design
pytestmark = pytest.mark.filterwarnings("ignore:.*staged change:UserWarning")


class TestStagingStore(ConformanceTests):
    store_cls = StagingStore
    buffer_cls = default_buffer_prototype().buffer

    async def set(self, store: StagingStore, key: str, value: Any) -> None:
        store.base.refset.refs[key] = value.to_bytes()
        for cached in ("_sorted_keys", "_children"):
            store.base.__dict__.pop(cached, None)

    async def get(self, store: StagingStore, key: str) -> Any:
        value = store._overlay.get(key)
        if value is None:
            value = store.base.refset.refs[key]
        if isinstance(value, ByteRange):
            with open(value.url, "rb") as f:
                f.seek(value.offset)
                value = f.read(value.length)
        return self.buffer_cls.from_bytes(value)

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        base = ReferenceStore(ReferenceSet({}, zarr_format=3))
        # inline_bytes=2: values of 3 bytes and more become staged files
        return {"base": base, "directory": str(tmp_path / "staging"), "inline_bytes": 2}

    def test_store_repr(self, store: StagingStore) -> None:
        assert repr(store).startswith("StagingStore('reference set in memory', 0 staged keys")

    def test_store_supports_writes(self, store: StagingStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: StagingStore) -> None:
        assert store.supports_listing

    async def test_serializable_store(self, store: StagingStore) -> None:
        """Design: a pickled StagingStore is a read-only snapshot of the amended view
        (workers read it; writes and saves stay with the original store)."""
        value = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await store.set("foo", value)
        copy = pickle.loads(pickle.dumps(store))
        assert copy == store
        assert copy.read_only and not store.read_only
        assert (await copy.get("foo", prototype=default_buffer_prototype())) == value
        with pytest.raises(ValueError, match="read-only snapshot"):
            await copy.set("foo", value)
        with pytest.raises(ValueError, match="snapshot"):
            copy.with_read_only(False)
        store.mark_saved()
