"""zarr's store conformance suite (``zarr.testing.store.StoreTests``) for the one store
backend/opening.py defines, :class:`NoConsolidatedStore` (what a store object that cannot keep
consolidated metadata, such as an Icechunk session's, is wrapped in when opened for writing)."""

from __future__ import annotations

import json

from store_conformance import LocalWrapperTests, run

from nwbzarr.backend.opening import NoConsolidatedStore
from nwbzarr.compat import default_buffer_prototype


class TestNoConsolidatedStore(LocalWrapperTests):
    store_cls = NoConsolidatedStore

    def test_store_repr(self, store: NoConsolidatedStore) -> None:
        assert repr(store) == repr(store._store)  # it stands for the store it wraps

    def test_root_document_loses_consolidated_metadata(self, store: NoConsolidatedStore):
        """Only the root ``zarr.json``'s ``consolidated_metadata`` is dropped on write."""
        doc = {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {"a": 1},
            "consolidated_metadata": {"kind": "inline", "metadata": {}, "must_understand": False},
        }
        value = self.buffer_cls.from_bytes(json.dumps(doc).encode())
        run(store.set("zarr.json", value))
        run(store.set("sub/zarr.json", value))
        root = json.loads((self.root_of(store) / "zarr.json").read_bytes())
        assert root == {k: v for k, v in doc.items() if k != "consolidated_metadata"}
        assert json.loads((self.root_of(store) / "sub" / "zarr.json").read_bytes()) == doc
        got = run(store.get("zarr.json", default_buffer_prototype()))
        assert json.loads(got.to_bytes()) == root
