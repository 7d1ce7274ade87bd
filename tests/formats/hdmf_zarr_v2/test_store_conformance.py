"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for V2TranslatingStore.

The view presents a legacy hdmf-zarr Zarr v2 store (here a directory, as hdmf-zarr writes it)
as Zarr v3; it is read-only by design, so it runs the read-only subset for translated views
(tests/store_conformance.py): the backdoor writes v2 groups, one-byte-integer arrays and their
chunks into the directory, so that the view serves the suite's ``zarr.json`` and chunk keys.
"""

from __future__ import annotations

from typing import Any

import pytest
from store_conformance import TranslatedViewTests
from zarr.storage import LocalStore

from nwbzarr.formats.hdmf_zarr_v2.store import V2TranslatingStore


class TestV2TranslatingStore(TranslatedViewTests):
    store_cls = V2TranslatingStore
    read_only_reason = "a legacy hdmf-zarr (Zarr v2) store is read-only (convert it to write)"

    def write_v2(self, base: LocalStore, key: str, value: bytes) -> None:
        path = base.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    def read_v2(self, base: LocalStore, key: str) -> bytes | None:
        path = base.root / key
        return path.read_bytes() if path.exists() else None

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        return {"base": LocalStore(str(tmp_path), read_only=True)}

    def test_store_repr(self, store: V2TranslatingStore) -> None:
        assert repr(store) == f"V2TranslatingStore({store.base!r})"

    def test_options_in_equality(self, store_kwargs: dict[str, Any]) -> None:
        """Views of one store with different options are different stores."""
        store = V2TranslatingStore(**store_kwargs)
        for option in ("allow_pickle", "use_consolidated", "omit_unreadable"):
            flipped = not store._options()[option]
            assert store != V2TranslatingStore(**{**store_kwargs, option: flipped})
        assert store.with_read_only(True) == store


class TestV2TranslatingStoreNotConsolidated(TestV2TranslatingStore):
    """The same, every document read on demand (``use_consolidated=False``)."""

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        return {"base": LocalStore(str(tmp_path), read_only=True), "use_consolidated": False}
