"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for RemoteReadCache.

The cache wraps the read-only store of a remote open (here a read-only ``LocalStore``); it is
read-only by design (what it keeps would go stale), so it runs the read-only subset
(tests/store_conformance.py), the backdoor writing the wrapped store's files.
"""

from __future__ import annotations

from typing import Any

import pytest
from store_conformance import READ_ONLY, ReadOnlyStoreTests
from zarr.storage import LocalStore

from nwbzarr.storage.cache import RemoteReadCache


class TestRemoteReadCache(ReadOnlyStoreTests):
    store_cls = RemoteReadCache
    read_only_reason = "a RemoteReadCache is read-only (the values it keeps would go stale)"

    async def set(self, store: RemoteReadCache, key: str, value: Any) -> None:
        path = store._store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        return {"store": LocalStore(str(tmp_path), read_only=True)}

    @pytest.fixture
    def open_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        return {"store_cls": LocalStore, "root": str(tmp_path), "read_only": True}

    def test_store_repr(self, store: RemoteReadCache) -> None:
        assert repr(store) == f"RemoteReadCache({store._store!r})"

    async def test_open_writable_refused(self, open_kwargs: dict[str, Any]) -> None:
        """Design: the cache is read-only whatever the store it wraps."""
        store = await RemoteReadCache.open(**{**open_kwargs, "read_only": False})
        assert store.read_only and not store._store.read_only
        with pytest.raises(ValueError, match=READ_ONLY):
            await store.set("foo", self.buffer_cls.from_bytes(b"bar"))
