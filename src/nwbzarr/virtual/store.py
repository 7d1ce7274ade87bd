"""ReferenceStore: a read-only zarr store over a reference set.

Every key of the store is a key of a :class:`~nwbzarr.storage.manifest.ReferenceSet`: inline
values are served from memory, byte ranges are read through a
:class:`~nwbzarr.storage.manifest.RangeReader` (local files, HTTP(S), S3, ...), which may merge
concurrent requests. Listing uses the key set only (no I/O): the sorted keys and the children
of every directory are computed once, on first use.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable
from functools import cached_property
from typing import Any

from zarr.abc.store import ByteRequest, Store

from ..compat import (
    Buffer,
    BufferPrototype,
    StoreCompat,
    concurrent_map,
    default_buffer_prototype,
    read_only_store_error,
)
from ..storage.byte_ranges import narrow_byte_range, slice_bytes
from ..storage.manifest import ByteRange, RangeReader, ReferenceSet
from ..storage.policy import AccessPolicy, export_trust, restore_trust
from ..storage.ranges import open_range_reader
from ..storage.resolve import checked_pipeline_installed, restore_checked_pipeline

__all__ = ["ReferenceStore"]


class ReferenceStore(StoreCompat, Store):
    """Read-only zarr store whose keys are those of a reference set.

    Parameters
    ----------
    refset : ReferenceSet
        The keys and where their bytes are (inline or a byte range of another file).
    reader : RangeReader, optional
        Reads byte ranges. Default: ``nwbzarr.storage.ranges.open_range_reader()``, created on
        the first byte-range read.
    policy : AccessPolicy, optional
        If given, every byte-range target is checked against it when the store is made (use
        it for a reference set that did not come from :func:`~nwbzarr.formats.kerchunk.references.
        load_references`, which checks already).
    close_reader : bool
        Close ``reader`` (its network sessions) when the store is closed; a reader the store
        makes itself is always closed.
    read_only : bool
        Accepted for zarr's ``Store.open(..., read_only=...)``; only True is possible.

    Raises
    ------
    UntrustedReferenceError
        ``policy`` is given and a target lies outside what it allows.
    ReadOnlyError
        ``read_only=False`` (also a ``ValueError``, as zarr's read-only stores raise).

    Notes
    -----
    The store never writes: ``set``, ``delete`` and their relatives raise
    :class:`~nwbzarr.errors.ReadOnlyError` (a :class:`~nwbzarr.compat.StoreReadOnlyError`,
    also the ``ValueError`` with zarr's wording). The data format of the values (Zarr v2 or v3) is
    ``refset.zarr_format``; a Zarr v2 set is read as v3 through a translating store.
    """

    supports_writes: bool = False
    supports_deletes: bool = False
    supports_listing: bool = True

    def __init__(
        self,
        refset: ReferenceSet,
        reader: RangeReader | None = None,
        policy: AccessPolicy | None = None,
        close_reader: bool = False,
        *,
        read_only: bool = True,
    ) -> None:
        super().__init__(read_only=True)
        if not read_only:
            self._refuse("open for writing")
        if policy is not None:
            policy.check_all(
                ((k, v.url) for k, v in refset.refs.items() if isinstance(v, ByteRange)),
                refset.location,
            )
        self.refset = refset
        self._refs = refset.refs
        self._reader = reader
        self._owns_reader = reader is None
        self._close_reader = close_reader or reader is None

    # ------------------------------------------------------------------------- identity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReferenceStore) and (
            other.refset is self.refset or other._refs == self._refs
        )

    def __repr__(self) -> str:
        where = self.refset.location or "in memory"
        return f"ReferenceStore({where!r}, {len(self._refs)} keys, zarr v{self.refset.zarr_format})"

    def __getstate__(self) -> dict[str, Any]:
        """The reference set, the reader's configuration and the access records of its sources.

        A reader made by the store is left out (a new one is made on the first read after
        unpickling); a reader given by the caller is pickled with it (a
        :class:`~nwbzarr.storage.ranges.ByteRangeReader` pickles as its configuration, never
        its sessions or event-loop state). The key listings are recomputed. What this process
        learned about the sources when the reference JSON was checked (file identities,
        recorded sizes, trusted origins: :func:`~nwbzarr.storage.policy.export_trust`) is
        carried so that an unpickled copy checks its reads as this store does.

        Returns
        -------
        dict
        """
        state = self.__dict__.copy()
        if self._owns_reader:
            state["_reader"] = None
        for name in ("_sorted_keys", "_children"):
            state.pop(name, None)
        state["_trust"] = export_trust(self._source_urls(), self.refset.location)
        state["_checked_pipeline"] = checked_pipeline_installed()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled store; its access records join this process's (see above).

        Parameters
        ----------
        state : dict
            What :meth:`__getstate__` returned.

        Raises
        ------
        UntrustedReferenceError
            Unpickled on another machine, a local source now lies outside the roots its
            policy allowed.
        """
        restore_checked_pipeline(state.pop("_checked_pipeline", False))
        trust = state.pop("_trust", None)
        if trust is not None:
            restore_trust(trust)
        self.__dict__.update(state)

    def _source_urls(self) -> tuple[str, ...]:
        """The distinct files and URLs the byte ranges name."""
        if self.refset.sources:
            return tuple(self.refset.sources)
        return tuple(dict.fromkeys(v.url for v in self._refs.values() if isinstance(v, ByteRange)))

    def with_read_only(self, read_only: bool = False) -> ReferenceStore:
        """Return a store over the same references; only ``read_only=True`` is possible.

        Raises
        ------
        ReadOnlyError
            For ``read_only=False`` (also a ``ValueError``).
        """
        if not read_only:
            self._refuse("open for writing")
        return ReferenceStore(self.refset, reader=None if self._owns_reader else self._reader)

    # ------------------------------------------------------------------------- reading

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Return the bytes of ``key`` (or of ``byte_range`` within them), None if absent.

        Parameters
        ----------
        key : str
            Store key.
        prototype : BufferPrototype, optional
            Buffer type to return; default zarr's default prototype.
        byte_range : RangeByteRequest, OffsetByteRequest or SuffixByteRequest, optional
            Part of the value to return (bytes, relative to the value's start).

        Raises
        ------
        RemoteReadError
            A byte range could not be read (raised by the reader).
        """
        if prototype is None:
            prototype = default_buffer_prototype()
        value = self._refs.get(key)
        if value is None:
            return None
        if isinstance(value, ByteRange):
            ref, tail = narrow_byte_range(value, byte_range)
            data = await self._range_reader().read(ref)
            if tail is not None:
                data = data[-tail:] if tail else b""
            return prototype.buffer.from_bytes(data)
        return prototype.buffer.from_bytes(slice_bytes(value, byte_range))

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Return the values of several ``(key, byte_range)`` pairs, read concurrently."""

        async def one(key: str, byte_range: ByteRequest | None) -> Buffer | None:
            return await self.get(key, prototype, byte_range)

        return await concurrent_map(list(key_ranges), one, limit=None)

    async def exists(self, key: str) -> bool:
        """Return True if ``key`` is one of the reference set's keys."""
        return key in self._refs

    async def getsize(self, key: str) -> int:
        """Size of the value of ``key`` in bytes; reads only for a whole-file reference.

        Raises
        ------
        FileNotFoundError
            ``key`` is not in the store.
        """
        value = self._refs.get(key)
        if value is None:
            raise FileNotFoundError(key)
        if isinstance(value, ByteRange):
            if value.length >= 0:
                return value.length
            return len(await self._range_reader().read(value))
        return len(value)

    def close(self) -> None:
        """Close the store, and its reader's network sessions if the store made the reader
        or was given it with ``close_reader=True``."""
        if self._close_reader and self._reader is not None and hasattr(self._reader, "close"):
            self._reader.close()
        super().close()

    def _range_reader(self) -> RangeReader:
        if self._reader is None:
            self._reader = open_range_reader()
        return self._reader

    # ------------------------------------------------------------------------- listing

    @cached_property
    def _sorted_keys(self) -> list[str]:
        return sorted(self._refs)

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        children: dict[str, dict[str, None]] = {}
        for key in self._refs:
            parts = key.split("/")
            parent = ""
            for part in parts:
                children.setdefault(parent, {})[part] = None
                parent = f"{parent}/{part}" if parent else part
        return {k: list(v) for k, v in children.items()}

    async def list(self) -> AsyncIterator[str]:
        """Yield every key."""
        for key in list(self._refs):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Yield every key starting with ``prefix`` (in sorted order)."""
        keys = self._sorted_keys
        for i in range(bisect.bisect_left(keys, prefix), len(keys)):
            if not keys[i].startswith(prefix):
                break
            yield keys[i]

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Yield the names directly under ``prefix`` (keys and sub-directories)."""
        for name in self._children.get(prefix.strip("/"), ()):
            yield name

    # ------------------------------------------------------------------------- writing

    def _refuse(self, what: str) -> None:
        location = getattr(self, "refset", None)
        location = location.location if location is not None else None
        raise read_only_store_error(
            f"cannot {what}: a ReferenceStore ({location or 'in memory'}) is "
            "read-only; convert it to a Zarr store (nwbzarr convert) to modify it"
        )

    async def set(self, key: str, value: Buffer) -> None:
        """Refuse: the store is read-only (raises :class:`~nwbzarr.errors.ReadOnlyError`)."""
        self._refuse(f"write {key!r}")

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Refuse: the store is read-only (raises :class:`~nwbzarr.errors.ReadOnlyError`)."""
        self._refuse(f"write {key!r}")

    async def delete(self, key: str) -> None:
        """Refuse: the store is read-only (raises :class:`~nwbzarr.errors.ReadOnlyError`)."""
        self._refuse(f"delete {key!r}")

    async def delete_dir(self, prefix: str) -> None:
        """Refuse: the store is read-only (raises :class:`~nwbzarr.errors.ReadOnlyError`)."""
        self._refuse(f"delete {prefix!r}")

    async def clear(self) -> None:
        """Refuse: the store is read-only (raises :class:`~nwbzarr.errors.ReadOnlyError`)."""
        self._refuse("clear the store")
