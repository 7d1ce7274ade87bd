"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for LindiTranslatingStore.

The view presents the Zarr v2 keys of a LINDI / kerchunk reference set (here a
:class:`~nwbzarr.virtual.store.ReferenceStore` over a v2 reference set, as opening a
``.lindi.json`` builds it) as Zarr v3; it is read-only by design, so it runs the read-only
subset for translated views (tests/store_conformance.py): the backdoor adds v2 groups,
one-byte-integer arrays and their chunks to the reference set as inline values.
"""

from __future__ import annotations

from typing import Any

import pytest
from store_conformance import TranslatedViewTests

from nwbzarr.formats.lindi.store import LindiTranslatingStore
from nwbzarr.storage.manifest import ReferenceSet
from nwbzarr.storage.policy import AccessPolicy
from nwbzarr.virtual.store import ReferenceStore


class TestLindiTranslatingStore(TranslatedViewTests):
    store_cls = LindiTranslatingStore
    read_only_reason = "a LINDI / kerchunk reference store is read-only (export it to write)"

    def write_v2(self, base: ReferenceStore, key: str, value: bytes) -> None:
        base.refset.refs[key] = value
        for cached in ("_sorted_keys", "_children"):
            base.__dict__.pop(cached, None)

    def read_v2(self, base: ReferenceStore, key: str) -> bytes | None:
        value = base.refset.refs.get(key)
        return value if isinstance(value, bytes) else None

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        return {"v2_store": ReferenceStore(ReferenceSet({}, zarr_format=2))}

    def test_store_repr(self, store: LindiTranslatingStore) -> None:
        assert repr(store) == f"LindiTranslatingStore({store.base!r})"

    def test_options_in_equality(self, store_kwargs: dict[str, Any]) -> None:
        """Views of one reference set that resolve or check links differently are different."""
        store = LindiTranslatingStore(**store_kwargs)
        assert store == LindiTranslatingStore(**store_kwargs, policy=AccessPolicy())
        assert store != LindiTranslatingStore(**store_kwargs, location="/elsewhere/a.lindi.json")
        assert store != LindiTranslatingStore(**store_kwargs, storage_options={"anon": True})
        assert store.with_read_only(True) == store
