"""Read small local files without a worker-thread round trip.

``LocalStore.get`` reads every file in a worker thread. For a file of a few hundred bytes (a
``zarr.json``, the chunk of a scalar or of a short series) handing the read to a thread and
waiting for the answer costs several times the read itself, and a file with thousands of small
objects pays it for every object. :class:`InlineReadStore` wraps a read-only ``LocalStore``
and reads files up to ``max_inline_bytes`` with a plain file read in the calling
coroutine; larger files and byte ranges still go through the worker threads, so big reads stay
concurrent. While an append runs (:mod:`nwbzarr.storage.journal`), a file the append replaced
or deleted is read from the journal's backup, so a reader sees the committed bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.storage import LocalStore, WrapperStore

from ..compat import Buffer, BufferPrototype, WrapperStoreCompat, default_buffer_prototype
from .byte_ranges import unexpected_byte_range

__all__ = [
    "BACKUP_DIR",
    "COMMIT_FILE",
    "JOURNAL_DIR",
    "MAX_INLINE_BYTES",
    "ROOT_KEY",
    "InlineReadStore",
    "committed_path",
    "digest",
]

#: Files up to this many bytes are read in the calling coroutine.
MAX_INLINE_BYTES = 64 * 1024

# -- the append journal's files, as readers see them (written by storage/journal.py) -----------
#: Directory of the undo journal, inside the store (zarr ignores it: no ``zarr.json``).
JOURNAL_DIR = ".nwbzarr-journal"
#: File of the journal naming (SHA-256) the root its append commits, written just before it.
COMMIT_FILE = "commit"
#: Directory of the journal holding the committed file of every key an append replaced.
BACKUP_DIR = "backup"
#: Name of the root metadata document, the commit record.
ROOT_KEY = "zarr.json"


def committed_path(root: str, key: str, root_digest: str | None) -> str:
    """The file holding ``key``'s bytes as of the root a reader opened.

    That is the journal's backup while an append that replaced or deleted the key has not
    committed that root, else the key's own file.

    Parameters
    ----------
    root : str
        The store directory.
    key : str
        A zarr key (``acquisition/ts/data/c/0``).
    root_digest : str or None
        SHA-256 (hex) of the root ``zarr.json`` the reader opened (:func:`digest`); None if
        unknown, which is taken as the root before the append.

    Returns
    -------
    str
        A file path (which may not exist).
    """
    backup = os.path.join(root, JOURNAL_DIR, BACKUP_DIR, key)
    if not os.path.lexists(backup):
        return os.path.join(root, key)
    try:
        with open(os.path.join(root, JOURNAL_DIR, COMMIT_FILE), encoding="ascii") as f:
            committed = f.read().strip()
    except FileNotFoundError:
        committed = None
    if committed is not None and committed == root_digest:
        return os.path.join(root, key)  # the reader opened the append's own root
    return backup


def digest(data: bytes) -> str:
    """SHA-256 (hex) of a root ``zarr.json``, as the journal's commit record names it.

    Parameters
    ----------
    data : bytes
        The document.

    Returns
    -------
    str
    """
    return hashlib.sha256(data).hexdigest()


class InlineReadStore(WrapperStoreCompat, WrapperStore):
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
        self._root_digest: str | None = None

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
        proto = prototype or default_buffer_prototype()
        value = await self._get(key, proto, byte_range)
        if key == ROOT_KEY and byte_range is None and value is not None:
            self._root_digest = digest(value.to_bytes())  # which snapshot this reader sees
        return value

    async def _get(
        self, key: str, proto: BufferPrototype, byte_range: ByteRequest | None
    ) -> Buffer | None:
        root = os.fspath(self._store.root)
        path = committed_path(root, key, self._root_digest)  # an append's backup, if running
        if path != os.path.join(root, key):
            value = await asyncio.to_thread(_read_file, path, byte_range, proto)
            if value is not None:
                return value
            path = os.path.join(root, key)  # the journal went meanwhile
        if byte_range is None:
            try:
                size = os.stat(path).st_size
            except (FileNotFoundError, NotADirectoryError):
                return None
            if size <= self.max_inline_bytes:
                return _read_file(path, None, proto)
        return await self._store.get(key, proto, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        """Several reads, each as :meth:`get` (zarr's wrapper would pass them to the
        wrapped store, past an append's backups)."""
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        """True if ``key`` has a value in the snapshot this reader sees (an append's backup
        counts while that append has not committed the root the reader opened)."""
        root = os.fspath(self._store.root)
        path = committed_path(root, key, self._root_digest)
        if path != os.path.join(root, key) and os.path.isfile(path):
            return True
        return await self._store.exists(key)

    def __repr__(self) -> str:
        return f"InlineReadStore({self._store!r})"


def _read_file(
    path: str, byte_range: ByteRequest | None, prototype: BufferPrototype
) -> Buffer | None:
    """The bytes of ``path`` (a ``byte_range`` of them), or None if it does not exist."""
    try:
        with open(path, "rb") as f:
            if byte_range is None:
                data = f.read()
            elif isinstance(byte_range, RangeByteRequest):
                f.seek(byte_range.start)
                data = f.read(byte_range.end - byte_range.start)
            elif isinstance(byte_range, OffsetByteRequest):
                f.seek(byte_range.offset)
                data = f.read()
            elif isinstance(byte_range, SuffixByteRequest):
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - byte_range.suffix))
                data = f.read()
            else:
                raise unexpected_byte_range(byte_range)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return prototype.buffer.from_bytes(data)
