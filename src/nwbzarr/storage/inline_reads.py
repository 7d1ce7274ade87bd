"""Read small local files without a worker-thread round trip.

``LocalStore.get`` reads every file in a worker thread. For a file of a few hundred bytes (a
``zarr.json``, the chunk of a scalar or of a short series) handing the read to a thread and
waiting for the answer costs several times the read itself, and a file with thousands of small
objects pays it for every object. :class:`InlineReadStore` wraps a read-only ``LocalStore``
and reads files up to ``max_inline_bytes`` with ``LocalStore.get_sync`` in the calling
coroutine; larger files and byte ranges still go through the worker threads, so big reads stay
concurrent.
"""

from __future__ import annotations

import os
from typing import Any

from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import LocalStore, WrapperStore

#: Files up to this many bytes are read in the calling coroutine.
MAX_INLINE_BYTES = 64 * 1024


class InlineReadStore(WrapperStore):
    """A ``LocalStore`` whose small files are read without a worker thread.

    Parameters
    ----------
    store : zarr.storage.LocalStore
        The store to wrap (read-only or not; writes are passed through unchanged).
    max_inline_bytes : int
        Whole-file reads of files up to this size (bytes) are done inline.
    """

    def __init__(self, store: LocalStore, max_inline_bytes: int = MAX_INLINE_BYTES) -> None:
        super().__init__(store)
        self.max_inline_bytes = int(max_inline_bytes)

    def _with_store(self, store: LocalStore) -> InlineReadStore:
        return type(self)(store, self.max_inline_bytes)

    @property
    def root(self) -> Any:
        """The wrapped store's root directory."""
        return self._store.root

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        if byte_range is None:
            try:
                size = os.stat(os.path.join(self._store.root, key)).st_size
            except (FileNotFoundError, NotADirectoryError):
                return None
            if size <= self.max_inline_bytes:
                return self._store.get_sync(key, prototype=prototype or default_buffer_prototype())
        return await self._store.get(key, prototype, byte_range)

    def __repr__(self) -> str:
        return f"InlineReadStore({self._store!r})"
