"""A write-back store: small writes are held in memory and flushed together, concurrently.

Writing a file of thousands of small objects through zarr-python costs about ten store calls
per node (existence checks of the node and of each parent, then the ``zarr.json`` write), each
a file-system round trip on a ``LocalStore``. :class:`WriteBackStore` wraps the store a new
file is written into: values up to ``max_value_bytes`` wait in memory and are written in one
concurrent batch when ``max_pending_bytes`` is reached or :meth:`WriteBackStore.flush` is
called; every ``zarr.json`` written stays in memory so later reads (parent checks,
consolidation) never touch the disk. The root ``zarr.json`` is always written through at once,
so the write-in-progress marker reaches the disk before any other object and is removed only
after everything else has been flushed (see ``docs/storage.md`` §7).

Only one process may write through the wrapper; other writers of the same store would not see
pending values. Once the whole store has been emptied through the wrapper (``mode="w"``), and
until the first :meth:`WriteBackStore.flush`, a ``zarr.json`` it does not hold is known to be
absent, so creating a node costs no file-system lookup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from zarr.abc.store import ByteRequest, Store
from zarr.storage import LocalStore, WrapperStore

from ..compat import Buffer, BufferPrototype, WrapperStoreCompat
from ..errors import ReadOnlyError
from .byte_ranges import slice_bytes

#: Key of the root group's metadata, never held back.
ROOT_KEY = "zarr.json"
#: Name of metadata documents, kept in memory once written.
METADATA_NAME = "zarr.json"
#: Worker threads writing the files of one flush into a ``LocalStore``.
FLUSH_THREADS = 2


def _write_files(root: Path, items: list[tuple[str, Buffer]]) -> None:
    """Write ``(key, value)`` pairs as files under ``root`` (directories made once each)."""
    made: set[Path] = set()
    for key, value in items:
        path = root / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as f:
            f.write(value.as_buffer_like())


def _identity(store: Store) -> Store:
    """Unpickling helper: the store itself (a pickled :class:`WriteBackStore` is its store)."""
    return store


class WriteBackStore(WrapperStoreCompat, WrapperStore):
    """Hold small writes in memory and write them to the wrapped store in concurrent batches.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The writable store the file is written into (e.g. a ``LocalStore``).
    max_value_bytes : int
        Values larger than this (bytes) are written through at once.
    max_pending_bytes : int
        When the values held reach this many bytes, they are written in the background (the
        next batch waits for that one, so about twice this is held at most).
    flush_items : int
        Also start a background batch when this many values are held.
    """

    def __init__(
        self,
        store: Store,
        max_value_bytes: int = 1 << 20,
        max_pending_bytes: int = 64 << 20,
        flush_items: int = 2000,
    ) -> None:
        super().__init__(store)
        self.max_value_bytes = int(max_value_bytes)
        self.max_pending_bytes = int(max_pending_bytes)
        self.flush_items = int(flush_items)
        self._pending: dict[str, Buffer] = {}
        self._pending_bytes = 0
        self._in_flight: dict[str, Buffer] = {}
        self._metadata: dict[str, Buffer] = {}
        self._tasks: set[asyncio.Future] = set()
        self._error: BaseException | None = None
        # True from emptying the whole store (mode "w") until the first flush: every metadata
        # document then exists only if it was written through this wrapper (all are kept).
        self._fresh = False

    def _with_store(self, store: Store) -> WriteBackStore:
        return type(self)(store, self.max_value_bytes, self.max_pending_bytes, self.flush_items)

    def with_read_only(self, read_only: bool = False) -> WriteBackStore:
        """A new wrapper of the same store, read-only or not (zarr's ``Store.with_read_only``).

        zarr-python >= 3.1.6 gives every ``WrapperStore`` this method; 3.1.5 does not. The
        new wrapper does not see values this one still holds: :meth:`flush` first.

        Parameters
        ----------
        read_only : bool
            Whether the copy refuses writes.
        """
        return self._with_store(self._store.with_read_only(read_only))

    def __reduce__(self) -> tuple:
        """Pickle as the wrapped store, read-only, and only when no write is held.

        A copy in another process (a Dask worker) must never become a second writer of the
        writes held here, nor see a store missing them: pickling while writes are pending
        raises :class:`~nwbzarr.errors.ReadOnlyError` ("flush first").
        """
        if self._pending or self._in_flight or self._tasks:
            raise ReadOnlyError(
                f"{self.root or self._store}: the store holds {len(self.pending_keys)} "
                "unwritten values; close the file (or flush) before pickling it"
            )
        inner = self._store
        if not inner.read_only and hasattr(inner, "with_read_only"):
            inner = inner.with_read_only(True)
        return (_identity, (inner,))

    @property
    def root(self) -> Any:
        """The wrapped store's ``root`` directory (None if it has none)."""
        return getattr(self._store, "root", None)

    @property
    def pending_keys(self) -> list[str]:
        """Keys written to this wrapper and not yet to the wrapped store."""
        return [*self._in_flight, *self._pending]

    def holds(self, key: str) -> bool:
        """True if ``key`` was written through this wrapper and is still held in memory (a
        pending value or a metadata document)."""
        return self._held(key) is not None

    def _held(self, key: str) -> Buffer | None:
        value = self._pending.get(key)
        if value is None:
            value = self._in_flight.get(key)
        if value is None:
            value = self._metadata.get(key)
        return value

    def _forget(self, key: str) -> None:
        value = self._pending.pop(key, None)
        if value is not None:
            self._pending_bytes -= len(value)
        self._metadata.pop(key, None)

    # -- reads ------------------------------------------------------------------------------
    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        value = self._held(key)
        if value is not None:
            return slice_bytes(value, byte_range)
        if self._known_absent(key):
            return None
        return await self._store.get(key, prototype, byte_range)

    def _known_absent(self, key: str) -> bool:
        """True if ``key`` is a metadata document that cannot be in the wrapped store: the
        store was emptied through this wrapper and nothing has been flushed since (so no other
        writer was handed the store). Saves a file-system round trip per node created."""
        return self._fresh and key.rsplit("/", 1)[-1] == METADATA_NAME

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        if self._held(key) is not None:
            return True
        if self._known_absent(key):
            return False
        return await self._store.exists(key)

    # -- writes -----------------------------------------------------------------------------
    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        if key in self._in_flight:
            await self._drain()  # the older value must not land after this one
        self._forget(key)
        if key == ROOT_KEY or len(value) > self.max_value_bytes:
            await self._store.set(key, value)
        else:
            self._pending[key] = value
            self._pending_bytes += len(value)
        if key.rsplit("/", 1)[-1] == METADATA_NAME:
            self._metadata[key] = value
        if self._batch_due():
            await self._start_batch()

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        if not await self.exists(key):
            await self.set(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        for key, value in values:
            await self.set(key, value)

    async def adopt_file(self, key: str, path: str) -> None:
        """Make the finished file ``path`` the value of ``key`` (the file is moved).

        The store's way to take a large value written to a file beside it (a shard written
        by :class:`nwbzarr.backend.shard_writer.ShardStreamWriter`) without reading it into
        memory: any value of ``key`` held here (pending, or being written in a batch, which is
        waited for) is forgotten, so it can never land after the file; then the wrapped store
        adopts the file (its own ``adopt_file``, e.g. a journal's), or a ``LocalStore`` gets
        it by ``os.replace``.

        Parameters
        ----------
        key : str
            Store key, e.g. ``acquisition/ts/data/c/0/0``.
        path : str
            A file on the same file system as the wrapped store (e.g. in the array's
            directory); it is moved, atomically.

        Raises
        ------
        TypeError
            If the wrapped store can take no files (neither ``adopt_file`` nor a
            ``LocalStore``).
        ValueError
            If the store is read-only.
        """
        self._check_writable()
        if key in self._in_flight:
            await self._drain()  # the older value must not land after the file
        self._forget(key)
        inner = self._store
        if hasattr(inner, "adopt_file"):
            await inner.adopt_file(key, path)
        elif isinstance(inner, LocalStore):
            target = Path(inner.root) / key
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        else:
            raise TypeError(
                f"{type(inner).__name__} cannot adopt files; write {key} with set() instead"
            )

    async def delete(self, key: str) -> None:
        if key in self._in_flight:
            await self._drain()
        self._forget(key)
        await self._store.delete(key)

    async def delete_dir(self, prefix: str) -> None:
        base = prefix.rstrip("/") + "/" if prefix else ""
        if any(k.startswith(base) for k in self._in_flight):
            await self._drain()
        for key in [k for k in (*self._pending, *self._metadata) if k.startswith(base)]:
            self._forget(key)
        await self._store.delete_dir(prefix)
        if not prefix.strip("/"):
            self._fresh = True

    async def clear(self) -> None:
        await self._drain()
        self._pending.clear()
        self._pending_bytes = 0
        self._metadata.clear()
        self._error = None
        await self._store.clear()
        self._fresh = True

    async def is_empty(self, prefix: str) -> bool:
        base = prefix.rstrip("/") + "/" if prefix else ""
        if any(k.startswith(base) for k in self.pending_keys):
            return False
        return await self._store.is_empty(prefix)

    def _batch_due(self) -> bool:
        return (
            len(self._pending) >= self.flush_items or self._pending_bytes >= self.max_pending_bytes
        )

    async def _drain(self) -> None:
        """Wait until no batch is being written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _start_batch(self) -> None:
        """Hand the pending values to a background task (after the previous batch is done)."""
        await self._drain()  # one batch at a time bounds memory and keeps writes ordered
        if not self._pending:
            return
        batch, self._pending, self._pending_bytes = self._pending, {}, 0
        self._in_flight = batch
        task = asyncio.ensure_future(self._write_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_batch(self, batch: dict[str, Buffer]) -> None:
        try:
            if isinstance(self._store, LocalStore) and not self._store.read_only:
                # one worker thread per slice writes plain files: per-key tasks cost more
                # than the writes themselves when values are small
                items = list(batch.items())
                step = max(1, -(-len(items) // FLUSH_THREADS))
                root = Path(self._store.root)
                await asyncio.gather(
                    *(
                        asyncio.to_thread(_write_files, root, items[i : i + step])
                        for i in range(0, len(items), step)
                    )
                )
            else:
                await asyncio.gather(*(self._store.set(k, v) for k, v in batch.items()))
        except BaseException as exc:
            self._error = self._error or exc
            for key, value in batch.items():  # keep them for a retry, newer values first
                if key not in self._pending:
                    self._pending[key] = value
                    self._pending_bytes += len(value)
        finally:
            self._in_flight = {}

    async def flush(self) -> None:
        """Write every held value to the wrapped store; wait until all are written.

        Raises
        ------
        OSError
            Whatever the wrapped store raised for a failed write, here or in a batch written
            in the background since the last flush (the values stay held).
        """
        self._fresh = False  # the caller may hand the store to other writers from here on
        await self._start_batch()
        await self._drain()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # -- listing ------------------------------------------------------------------------------
    async def list(self) -> AsyncIterator[str]:
        seen = set()
        async for key in self._store.list():
            seen.add(key)
            yield key
        for key in self.pending_keys:
            if key not in seen:
                seen.add(key)
                yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        seen = set()
        async for key in self._store.list_prefix(prefix):
            seen.add(key)
            yield key
        for key in self.pending_keys:
            if key.startswith(prefix) and key not in seen:
                seen.add(key)
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        base = prefix.rstrip("/") + "/" if prefix else ""
        seen = set()
        async for name in self._store.list_dir(prefix):
            seen.add(name)
            yield name
        for key in self.pending_keys:
            if key.startswith(base):
                name = key[len(base) :].split("/", 1)[0]
                if name not in seen:
                    seen.add(name)
                    yield name

    def __repr__(self) -> str:
        return f"WriteBackStore({self._store!r})"
