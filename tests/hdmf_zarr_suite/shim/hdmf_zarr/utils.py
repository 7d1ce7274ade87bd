"""``hdmf_zarr.utils`` names bound to nwbzarr (test-only).

``ZarrReference`` is the JSON object of an object reference (docs/storage.md), a dict of
``source``/``path`` (and ``object_id``/``source_object_id``); ``ProcessPoolExecutor`` is the
executor nwbzarr's parallel writer uses, so tests patching it here see nwbzarr's pool.
"""

from concurrent.futures import ProcessPoolExecutor  # noqa: F401  (patched by the suite)

from nwbzarr import ZarrDataIO

from ._missing import missing


class ZarrReference(dict):
    """An object reference as the JSON object nwbzarr writes (``source``, ``path``, ...)."""

    def __init__(self, source=None, path=None, object_id=None, source_object_id=None):
        super().__init__(
            source=source, path=path, object_id=object_id, source_object_id=source_object_id
        )

    source = property(lambda self: self["source"])
    path = property(lambda self: self["path"])
    object_id = property(lambda self: self["object_id"])
    source_object_id = property(lambda self: self["source_object_id"])


def get_store_path(store):
    """The local path of a zarr store (``LocalStore.root``), as ``hdmf_zarr.utils`` gives it."""
    from zarr.storage import LocalStore

    if isinstance(store, LocalStore):
        return str(store.root.resolve())
    return str(store)


HDMFZarrArray = missing("hdmf_zarr.utils.HDMFZarrArray")
ZarrIODataChunkIteratorQueue = missing("hdmf_zarr.utils.ZarrIODataChunkIteratorQueue")

__all__ = [
    "ZarrDataIO",
    "ZarrReference",
    "get_store_path",
    "HDMFZarrArray",
    "ZarrIODataChunkIteratorQueue",
    "ProcessPoolExecutor",
]
