"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for JournaledStore."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from store_conformance import LocalWrapperTests

from nwbzarr.compat import default_buffer_prototype
from nwbzarr.errors import AppendError
from nwbzarr.storage.inline_reads import InlineReadStore
from nwbzarr.storage.journal import JOURNAL_DIR, JournaledStore


class TestJournaledStore(LocalWrapperTests):
    store_cls = JournaledStore

    async def get(self, store: JournaledStore, key: str) -> Any:
        store.commit()  # the root zarr.json is written at commit
        return await super().get(store, key)

    def test_store_repr(self, store: JournaledStore) -> None:
        assert repr(store) == f"JournaledStore({store._store!r})"

    async def test_serializable_store(self, store: JournaledStore) -> None:
        """Design: a pickled JournaledStore is the read-only view of the committed content
        (one process writes a store); pickling in the middle of an append is refused."""
        value = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await store.set("foo", value)
        with pytest.raises(AppendError, match="middle of an append"):
            pickle.dumps(store)
        store.commit()
        copy = pickle.loads(pickle.dumps(store))
        assert isinstance(copy, InlineReadStore)
        assert copy.read_only
        assert copy.root == store.root
        assert (await copy.get("foo", prototype=default_buffer_prototype())) == value

    @pytest.mark.skip(
        reason="design: the root zarr.json is the append's commit record, which an append "
        "never deletes, so a journaled store cannot be emptied (clear() refuses)"
    )
    def test_clear(self) -> None:  # pragma: no cover - skipped
        pass

    async def test_clear_refused(self, store: JournaledStore) -> None:
        """``clear`` refuses (it would drop the journal and the commit record with it)."""
        await self.set(store, "key", self.buffer_cls.from_bytes(b"something"))
        with pytest.raises(ValueError, match="cannot be emptied"):
            await store.clear()
        assert await store.exists("key")

    async def test_journal_hidden(self, store: JournaledStore) -> None:
        """Keys replaced during the append are journaled; the journal is never listed."""
        await self.set(store, "a/c/0", self.buffer_cls.from_bytes(b"old"))
        await store.set("a/c/0", self.buffer_cls.from_bytes(b"new"))
        assert (self.root_of(store) / JOURNAL_DIR).is_dir()
        assert [k async for k in store.list()] == ["a/c/0"]
        store.rollback()
        assert (await self.get(store, "a/c/0")).to_bytes() == b"old"
