"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for ReferenceStore.

The store is read-only by design (its keys are fixed by its reference set), so it runs the
read-only subset (tests/store_conformance.py). The backdoor ``set`` adds a key to the reference
set: inline bytes, or a byte range of a file (with and without a recorded length).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from store_conformance import ReadOnlyStoreTests

from nwbzarr.storage.manifest import ByteRange, ReferenceSet
from nwbzarr.virtual.store import ReferenceStore

_names = itertools.count()


def add_reference(store: ReferenceStore, key: str, value: Any, where: str | None) -> None:
    """Put ``value`` under ``key`` in the store's reference set (inline, or in a file of
    ``where`` with ``known_length`` per the test class) and drop the cached listings."""
    data = value.to_bytes()
    if where is None:
        store.refset.refs[key] = data
    else:
        path, known = where.split("|")
        name = f"{path}/value-{next(_names)}"
        with open(name, "wb") as f:
            f.write(b"\xff" * 3 + data)  # the value starts at offset 3 of its file
        store.refset.refs[key] = ByteRange(name, 3, len(data) if known == "1" else -1)
    for cached in ("_sorted_keys", "_children"):
        store.__dict__.pop(cached, None)


class TestReferenceStoreInline(ReadOnlyStoreTests):
    store_cls = ReferenceStore
    read_only_reason = "a ReferenceStore's keys are fixed by its reference set"
    where: str | None = None

    async def set(self, store: ReferenceStore, key: str, value: Any) -> None:
        add_reference(store, key, value, self.where)

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        if type(self).where is not None:
            self.where = f"{tmp_path}|{type(self).where}"
        return {"refset": ReferenceSet({}, zarr_format=3)}

    def test_store_repr(self, store: ReferenceStore) -> None:
        assert repr(store) == "ReferenceStore('in memory', 0 keys, zarr v3)"


class TestReferenceStoreRanges(TestReferenceStoreInline):
    """Values are byte ranges of files, with their length recorded."""

    where = "1"


class TestReferenceStoreOpenEnded(TestReferenceStoreInline):
    """Values are byte ranges running to the end of their file (length -1)."""

    where = "0"
