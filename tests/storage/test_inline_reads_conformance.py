"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for InlineReadStore."""

from __future__ import annotations

from typing import Any

import pytest
from store_conformance import LocalWrapperTests, run

from nwbzarr.storage.inline_reads import InlineReadStore


class TestInlineReadStore(LocalWrapperTests):
    store_cls = InlineReadStore

    def test_store_repr(self, store: InlineReadStore) -> None:
        assert repr(store) == f"InlineReadStore({store._store!r})"


class TestInlineReadStoreThreaded(TestInlineReadStore):
    """Every read through the wrapped store's worker threads (nothing is small enough)."""

    @pytest.fixture
    def store(self, open_kwargs: dict[str, Any]) -> InlineReadStore:
        store = run(InlineReadStore.open(**open_kwargs))
        store.max_inline_bytes = -1
        return store
