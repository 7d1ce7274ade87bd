"""An on-disk cache of remote byte ranges (chunks), shared by threads and processes.

:class:`LocalCache` keeps the bytes of remote :class:`~nwbzarr.storage.manifest.ByteRange`
reads in a local directory so that a second read of the same chunk costs no request. It is
opt-in: pass ``cache=LocalCache(...)`` to :func:`nwbzarr.storage.ranges.open_range_reader`, or
set the environment variable ``NWBZARR_CACHE_DIR`` (and optionally ``NWBZARR_CACHE_MAX_BYTES``,
1 GiB by default); see :meth:`LocalCache.from_env`.

Layout and safety
-----------------
Each entry is one file ``<directory>/<hh>/<hash>`` named by the SHA-256 of
``(url, offset, length)`` (``hh`` = its first two hex digits). A file starts with a 24-byte
header: the magic ``b"NWZC"``, a format version (1 byte), 3 reserved bytes, the payload length
(8 bytes, little endian) and the payload's CRC-32 (4 bytes, little endian) followed by 4
reserved bytes; then the payload.

* Writes go to a unique temporary file in the same directory, then :func:`os.replace`, so a
  reader sees either no entry or a complete one, even with several processes writing.
* A reader that finds a file of the wrong size, magic, version or checksum drops it and reports
  a miss; a file deleted under a reader (eviction by another process) is a miss. A cache entry
  never produces wrong bytes or an error.
* Eviction is LRU-ish: a hit touches the entry's modification time; when the total size goes
  over ``max_bytes`` the oldest entries are deleted until it is at most ``max_bytes``. Several
  processes may evict at once; deleting an already deleted file is ignored.
* Each process knows the total only from its last scan of the directory, so it also rescans
  (and evicts) after every ``max_bytes / 32`` bytes it has put. With ``n`` processes sharing a
  directory the total therefore stays below ``max_bytes + n * (max_bytes / 32 + largest
  entry)`` bytes at any time. Temporary files left by a killed writer are removed by the first
  eviction an hour later.

Answers of a read-only remote store
-----------------------------------
:class:`RemoteReadCache` wraps the read-only store of a remote Zarr store (an ``FsspecStore``
over HTTP, S3, ...) for the lifetime of one read-only open, so that reading a file costs each
key at most one request:

* a key fetched whole is kept in memory (values of at most ``max_value_bytes``, 4 MiB by
  default; at most ``max_cached_bytes``, 64 MiB, in all, least recently used dropped first)
  and every later read of it, whole or a byte range, is served from memory;
* a key answered absent (a chunk never written: the array's fill value) is remembered and never
  asked for again (at most :data:`MAX_ABSENT_KEYS` keys);
* concurrent reads of the same key wait for one request; ``exists`` of a metadata document
  (``zarr.json``, ``.zgroup``, ...) fetches the document, so the ``get`` that follows is free;
* byte ranges of one key requested together (concurrent ``get`` calls in one turn of the event
  loop, :meth:`~RemoteReadCache.get_partial_values`, or zarr >= 3.2's ``get_ranges`` for the
  chunks of one shard) are planned by :func:`nwbzarr.storage.range_spans.plan_spans`: sorted and
  merged into one request when the gap between neighbours is at most ``merge_gap`` bytes (64 KiB
  by default) and the merged request at most ``max_merged_bytes`` (16 MiB); zarr's own
  ``sharding_coalesce_max_gap_bytes``/``sharding_coalesce_max_bytes`` passed to ``get_ranges``
  take their place for that call. Suffix reads (a shard's index) are kept per key;
* the root ``zarr.json`` may carry chunks inline in the root attribute
  :data:`INLINE_CHUNKS_ATTR` (chunk key -> base64 of the stored bytes, or ``null`` for a chunk
  not written, whose array reads as its fill value; :func:`inline_chunk_entries` makes it):
  those keys are then answered from memory, the way a reference JSON inlines small chunks. The
  bytes are the stored chunk, decoded by zarr's codecs as a fetched chunk would be. An entry is
  used only for the single chunk ``(0, ..., 0)`` of an array (in the consolidated metadata)
  whose chunk shape equals its shape, a chunk that appending rows never rewrites; other
  entries are ignored and their keys fetched.

Nothing is written through the wrapper (the store is read-only), so what it remembers never
goes stale within the open; a store changed on the server while it is open is seen as of the
first read of each key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import struct
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.storage import WrapperStore

from ..compat import (
    Buffer,
    BufferPrototype,
    WrapperStoreCompat,
    default_buffer_prototype,
    read_only_store_error,
)
from ..conventions.attributes import INLINE_CHUNKS_ATTR
from ..errors import ReadOnlyError
from .byte_ranges import slice_bytes, unexpected_byte_range
from .manifest import ByteRange
from .range_spans import plan_spans

__all__ = [
    "LocalCache",
    "DEFAULT_CACHE_MAX_BYTES",
    "RemoteReadCache",
    "INLINE_CHUNKS_ATTR",
    "inline_chunk_entries",
]

DEFAULT_CACHE_MAX_BYTES = 2**30
"""Size bound of a cache made from ``NWBZARR_CACHE_DIR`` without ``NWBZARR_CACHE_MAX_BYTES``."""

_MAGIC = b"NWZC"
_VERSION = 1
_HEADER = struct.Struct("<4sB3xQI4x")  # magic, version, payload length, crc32
_TMP_PREFIX = ".tmp-"
_RESCAN_FRACTION = 32  # rescan the directory after max_bytes / this many bytes put
_STALE_TMP_SECONDS = 3600.0  # a temporary file this old belongs to a killed writer


class LocalCache:
    """On-disk cache of byte ranges keyed by ``(url, offset, length)``.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the entries (created if missing). Several processes may share it.
    max_bytes : int
        Upper bound of the total size of the entries (bytes, payload plus 24-byte headers);
        older entries are evicted to stay under it. An entry larger than the bound is not
        stored.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from the cache / not, in this process.

    Raises
    ------
    ValueError
        If ``max_bytes`` is negative.
    """

    def __init__(
        self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"LocalCache max_bytes must be >= 0, got {max_bytes}")
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._total = self._scan_total()
        self._put_since_scan = 0

    def __repr__(self) -> str:
        return f"LocalCache({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- pickling (dask workers): the directory and the bound travel, the lock does not -------
    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # as a new cache over the same directory: counters of this process, total re-scanned
        self.__init__(state["directory"], state["max_bytes"])  # type: ignore[misc]

    @classmethod
    def from_env(cls) -> LocalCache | None:
        """The cache named by ``NWBZARR_CACHE_DIR``, or None when the variable is unset/empty.

        ``NWBZARR_CACHE_MAX_BYTES`` (an integer number of bytes) sets ``max_bytes``; it
        defaults to :data:`DEFAULT_CACHE_MAX_BYTES` (1 GiB).

        Returns
        -------
        LocalCache or None

        Raises
        ------
        ValueError
            If ``NWBZARR_CACHE_MAX_BYTES`` is not an integer.
        """
        directory = os.environ.get("NWBZARR_CACHE_DIR", "").strip()
        if not directory:
            return None
        raw = os.environ.get("NWBZARR_CACHE_MAX_BYTES", "").strip()
        try:
            max_bytes = int(raw) if raw else DEFAULT_CACHE_MAX_BYTES
        except ValueError:
            raise ValueError(
                f"NWBZARR_CACHE_MAX_BYTES must be an integer number of bytes, got {raw!r}"
            ) from None
        return cls(directory, max_bytes)

    # -- keys -------------------------------------------------------------------------------------
    def path_for(self, url: str, offset: int, length: int) -> Path:
        """The file that holds (or would hold) the entry of ``(url, offset, length)``.

        Parameters
        ----------
        url : str
            URL of the remote file (the original URL, not a redirect target).
        offset, length : int
            The range (bytes).

        Returns
        -------
        pathlib.Path
        """
        digest = hashlib.sha256(f"{url}\n{offset}\n{length}".encode()).hexdigest()
        return self.directory / digest[:2] / digest

    # -- lookups ----------------------------------------------------------------------------------
    def get(self, url: str, offset: int, length: int) -> bytes | None:
        """The cached bytes of a range, or None on a miss.

        A missing, truncated or corrupt entry is a miss (a damaged entry is deleted).

        Parameters
        ----------
        url : str
            URL of the remote file.
        offset, length : int
            The range (bytes); ``length`` may be -1 (to the end of the file).

        Returns
        -------
        bytes or None
        """
        path = self.path_for(url, offset, length)
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError:  # absent, or deleted under us by another process
            with self._lock:
                self.misses += 1
            return None
        payload = _decode(blob, length)
        if payload is None:
            self._discard(path)
            with self._lock:
                self.misses += 1
            return None
        try:
            os.utime(path)  # LRU-ish: recently used entries are evicted last
        except OSError:
            pass
        with self._lock:
            self.hits += 1
        return payload

    def put(self, url: str, offset: int, length: int, data: bytes) -> None:
        """Store the bytes of a range (atomically); evict old entries if over ``max_bytes``.

        Failures to write (full disk, permissions) are ignored: the cache is an optimisation.

        Parameters
        ----------
        url : str
            URL of the remote file.
        offset, length : int
            The range (bytes) as requested (``length`` may be -1).
        data : bytes
            The bytes read for that range.
        """
        size = _HEADER.size + len(data)
        if size > self.max_bytes:
            return
        path = self.path_for(url, offset, length)
        header = _HEADER.pack(_MAGIC, _VERSION, len(data), zlib.crc32(data))
        tmp = path.parent / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            self._discard(tmp)
            return
        with self._lock:
            self._total += size
            self._put_since_scan += size
            over = self._total > self.max_bytes
            over = over or self._put_since_scan > self.max_bytes // _RESCAN_FRACTION
        if over:
            self.evict()

    def evict(self) -> int:
        """Delete the least recently used entries until the total is at most ``max_bytes``.

        The directory is scanned (other processes' entries count too). Temporary files older
        than an hour (left by a killed writer) are deleted as well.

        Returns
        -------
        int
            Bytes deleted.
        """
        entries = []
        with self._lock:
            self._put_since_scan = 0
        stale_before = time.time() - _STALE_TMP_SECONDS
        for sub in _scandir(self.directory):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(sub.path):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.startswith(_TMP_PREFIX):
                    if stat.st_mtime < stale_before:
                        self._discard(Path(entry.path))
                    continue
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        freed = 0
        entries.sort()
        for _, size, path in entries:
            if total - freed <= self.max_bytes:
                break
            if self._discard(Path(path)):
                freed += size
        with self._lock:
            self._total = total - freed
        return freed

    def total_bytes(self) -> int:
        """Size of all entries in the directory now (bytes, scanned)."""
        return self._scan_total()

    def clear(self) -> None:
        """Delete every entry."""
        for sub in _scandir(self.directory):
            if sub.is_dir(follow_symlinks=False):
                for entry in _scandir(sub.path):
                    self._discard(Path(entry.path))
        with self._lock:
            self._total = 0

    # -- internals --------------------------------------------------------------------------------
    def _scan_total(self) -> int:
        total = 0
        for sub in _scandir(self.directory):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(sub.path):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
        return total

    @staticmethod
    def _discard(path: Path) -> bool:
        try:
            os.unlink(path)
            return True
        except OSError:
            return False


def _decode(blob: bytes, length: int) -> bytes | None:
    """The payload of an entry file, or None if the file is damaged or of another version."""
    if len(blob) < _HEADER.size:
        return None
    magic, version, size, crc = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size :]
    if magic != _MAGIC or version != _VERSION or size != len(payload):
        return None
    if length >= 0 and size != length:
        return None
    if zlib.crc32(payload) != crc:
        return None
    return payload


def _scandir(path: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


# -- answers of a read-only remote store (see the module docstring) -----------------------------

MAX_ABSENT_KEYS = 1 << 16
"""Most absent keys (and as many keys found by ``exists``) a :class:`RemoteReadCache`
remembers, oldest forgotten first."""

#: Names of Zarr metadata documents: ``exists`` fetches them whole (they are read next anyway).
_METADATA_NAMES = frozenset({"zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata"})


class RemoteReadCache(WrapperStoreCompat, WrapperStore):
    """A read-only remote store that fetches each key at most once; see the module docstring.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The remote store (read-only, e.g. ``FsspecStore``); only read.
    max_value_bytes : int
        Largest whole value or fetched byte range kept in memory (bytes).
    max_cached_bytes : int
        Bound of all values and ranges kept (bytes); least recently used are dropped first.
    merge_gap : int
        Largest gap (bytes) between two ranges of one key merged into one request.
    max_merged_bytes : int
        Largest merged request (bytes).

    Attributes
    ----------
    fetches : int
        Requests made through the wrapped store (``get`` and ``exists`` calls that reached it).

    Raises
    ------
    ValueError
        If a bound is negative.
    """

    def __init__(
        self,
        store: Any,
        *,
        max_value_bytes: int = 4 << 20,
        max_cached_bytes: int = 64 << 20,
        merge_gap: int = 64 * 1024,
        max_merged_bytes: int = 16 << 20,
    ) -> None:
        if min(max_value_bytes, max_cached_bytes, merge_gap, max_merged_bytes) < 0:
            raise ValueError("RemoteReadCache: byte bounds must be >= 0")
        super().__init__(store)
        self.max_value_bytes = int(max_value_bytes)
        self.max_cached_bytes = int(max_cached_bytes)
        self.merge_gap = int(merge_gap)
        self.max_merged_bytes = int(max_merged_bytes)
        self._reset()

    def _reset(self) -> None:
        self.fetches = 0
        # ("v", key) -> whole value; ("r", key, start) -> bytes from start; ("s", key) -> suffix
        self._kept: OrderedDict[tuple, bytes] = OrderedDict()
        self._kept_bytes = 0
        self._starts: dict[str, set[int]] = {}  # key -> starts of its kept ranges
        self._absent: OrderedDict[str, None] = OrderedDict()
        self._present: OrderedDict[str, None] = OrderedDict()  # keys ``exists`` found
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._pending: dict[str, list[tuple[int, int, asyncio.Future]]] = {}
        self._flushes: set[asyncio.Future] = set()  # running batches (the loop keeps weak refs)

    def _with_store(self, store: Any) -> RemoteReadCache:
        return type(self)(
            store,
            max_value_bytes=self.max_value_bytes,
            max_cached_bytes=self.max_cached_bytes,
            merge_gap=self.merge_gap,
            max_merged_bytes=self.max_merged_bytes,
        )

    def __repr__(self) -> str:
        return f"RemoteReadCache({self._store!r})"

    def __str__(self) -> str:
        return str(self._store)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteReadCache) and self._store == other._store

    __hash__ = None  # type: ignore[assignment]

    # -- pickling: the wrapped store and the bounds travel; what was read is read again -------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "store": self._store,
            "bounds": (
                self.max_value_bytes,
                self.max_cached_bytes,
                self.merge_gap,
                self.max_merged_bytes,
            ),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        value, cached, gap, merged = state["bounds"]
        self.__init__(  # type: ignore[misc]
            state["store"],
            max_value_bytes=value,
            max_cached_bytes=cached,
            merge_gap=gap,
            max_merged_bytes=merged,
        )

    # -- reads ------------------------------------------------------------------------------------
    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """The value of ``key`` (or a byte range of it), or None if absent.

        Parameters
        ----------
        key : str
            Store key (``"zarr.json"``, ``"units/id/c/0"``).
        prototype : BufferPrototype
            Buffer type of the answer.
        byte_range : ByteRequest, optional
            ``RangeByteRequest``, ``OffsetByteRequest`` or ``SuffixByteRequest``; None: whole.

        Returns
        -------
        Buffer or None
        """
        data = await self._read(key, byte_range)
        return None if data is None else prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        """Several reads at once; ranges of one key are merged (see the module docstring).

        Parameters
        ----------
        prototype : BufferPrototype
        key_ranges : iterable of (str, ByteRequest or None)

        Returns
        -------
        list of Buffer or None
            In the order of ``key_ranges``.
        """
        return list(
            await asyncio.gather(*(self.get(key, prototype, rng) for key, rng in key_ranges))
        )

    async def get_ranges(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_concurrency: int | None = None,
        max_gap_bytes: int | None = None,
        max_coalesced_bytes: int | None = None,
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        """Many byte ranges of one key (zarr >= 3.2 reads a shard's chunks this way).

        The ranges not already in memory are merged across gaps of at most ``max_gap_bytes``
        (default ``merge_gap``) into requests of at most ``max_coalesced_bytes`` (default
        ``max_merged_bytes``), fetched concurrently. Yields one batch of ``(index, buffer)``.

        Parameters
        ----------
        key : str
        byte_ranges : sequence of ByteRequest or None
        prototype : BufferPrototype
        max_concurrency : int, optional
            Accepted for zarr's interface; all merged requests of the call run at once.
        max_gap_bytes, max_coalesced_bytes : int, optional
            Merging bounds (bytes) for this call.

        Raises
        ------
        BaseExceptionGroup
            Holding a ``FileNotFoundError`` when ``key`` is absent (as zarr's ``Store`` does).
        """
        gap = self.merge_gap if max_gap_bytes is None else int(max_gap_bytes)
        largest = self.max_merged_bytes if max_coalesced_bytes is None else max_coalesced_bytes
        results: list[bytes | None] = [None] * len(byte_ranges)
        wanted: list[tuple[int, int, int]] = []  # (index, start, stop) not in memory
        others = []
        for i, rng in enumerate(byte_ranges):
            if key not in self._absent and isinstance(rng, RangeByteRequest):
                kept = self._from_memory(key, rng)
                if kept is not None:
                    results[i] = kept
                else:
                    wanted.append((i, rng.start, rng.end))
            else:
                others.append((i, rng))

        async def other(i: int, rng: ByteRequest | None) -> None:
            results[i] = await self._read(key, rng)

        await asyncio.gather(
            self._fetch_ranges(key, wanted, results, gap, int(largest)),
            *(other(i, rng) for i, rng in others),
        )
        if any(r is None for r in results):
            raise BaseExceptionGroup(
                f"{key}: not found", [FileNotFoundError(f"{self._store}: {key} not found")]
            )
        found = [r for r in results if r is not None]
        yield [(i, prototype.buffer.from_bytes(r)) for i, r in enumerate(found)]

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        requests = list(requests)
        values = await asyncio.gather(*(self.get(k, p, r) for k, p, r in requests))
        for (key, _, _), value in zip(requests, values, strict=True):
            yield key, value

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists; a metadata document is fetched (and kept) to find out.

        Parameters
        ----------
        key : str

        Returns
        -------
        bool
        """
        if key in self._absent:
            return False
        if key in self._present or ("v", key) in self._kept:
            return True  # (a key fetched whole but too large to keep is asked again)
        if key.rsplit("/", 1)[-1] in _METADATA_NAMES:
            return await self._read(key, None) is not None
        found = await self._once(("exists", key), lambda: self._fetch_exists(key))
        return bool(found)

    async def getsize(self, key: str) -> int:
        """Size of the value of ``key`` (bytes): from memory, else the wrapped store's answer.

        Raises
        ------
        FileNotFoundError
            ``key`` is absent.
        """
        kept = self._kept.get(("v", key))
        if kept is not None:
            return len(kept)
        if key in self._absent:
            raise FileNotFoundError(f"{self._store}: {key} not found")
        return await self._store.getsize(key)

    # -- writes are refused (the answers kept would go stale) ------------------------------------
    def _refuse(self) -> ReadOnlyError:
        return read_only_store_error(
            f"{self._store}: remote stores are read-only; write a local store and upload it"
        )

    def with_read_only(self, read_only: bool = False) -> RemoteReadCache:
        """A new cache over the same store (nothing kept is shared); only read-only.

        Parameters
        ----------
        read_only : bool
            Must be True.

        Raises
        ------
        ReadOnlyError
            For ``read_only=False`` (also a ``ValueError``).
        """
        if not read_only:
            raise self._refuse()
        # built here, not by zarr's WrapperStore.with_read_only (zarr 3.1.5 has none)
        inner = self._store if self._store.read_only else self._store.with_read_only(True)
        return type(self)(
            inner,
            max_value_bytes=self.max_value_bytes,
            max_cached_bytes=self.max_cached_bytes,
            merge_gap=self.merge_gap,
            max_merged_bytes=self.max_merged_bytes,
        )

    async def set(self, key: str, value: Buffer) -> None:
        raise self._refuse()

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        raise self._refuse()

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        raise self._refuse()

    async def delete(self, key: str) -> None:
        raise self._refuse()

    async def delete_dir(self, prefix: str) -> None:
        raise self._refuse()

    async def clear(self) -> None:
        raise self._refuse()

    @property
    def supports_writes(self) -> bool:
        return False

    @property
    def supports_deletes(self) -> bool:
        return False

    @property
    def read_only(self) -> bool:
        return True

    # -- internals --------------------------------------------------------------------------------
    async def _read(self, key: str, rng: ByteRequest | None) -> bytes | None:
        if key in self._absent:
            self._absent.move_to_end(key)
            return None
        kept = self._from_memory(key, rng)
        if kept is not None:
            return kept
        if rng is None:
            return await self._once(("v", key), lambda: self._fetch_whole(key))
        if not isinstance(rng, (RangeByteRequest, OffsetByteRequest, SuffixByteRequest)):
            raise unexpected_byte_range(rng)
        if isinstance(rng, RangeByteRequest):
            return await self._batched(key, rng.start, rng.end)
        if isinstance(rng, SuffixByteRequest):
            return await self._once(("s", key, rng.suffix), lambda: self._fetch_suffix(key, rng))
        return await self._once(("o", key, rng.offset), lambda: self._fetch(key, rng))

    def _from_memory(self, key: str, rng: ByteRequest | None) -> bytes | None:
        whole = self._touch(("v", key))
        if whole is not None:
            return slice_bytes(whole, rng)
        if isinstance(rng, SuffixByteRequest):
            tail = self._touch(("s", key))
            if tail is not None and len(tail) >= rng.suffix:
                return tail[len(tail) - rng.suffix :] if rng.suffix else b""
            return None
        if isinstance(rng, RangeByteRequest):
            for start in self._starts.get(key, ()):
                block = self._kept.get(("r", key, start))
                if block is not None and start <= rng.start and rng.end <= start + len(block):
                    self._kept.move_to_end(("r", key, start))
                    return block[rng.start - start : rng.end - start]
        return None

    def _touch(self, token: tuple) -> bytes | None:
        value = self._kept.get(token)
        if value is not None:
            self._kept.move_to_end(token)
        return value

    def _keep(self, token: tuple, data: bytes) -> None:
        if len(data) > self.max_value_bytes or len(data) > self.max_cached_bytes:
            return
        old = self._kept.pop(token, None)
        if old is not None:
            self._kept_bytes -= len(old)
        self._kept[token] = data
        self._kept_bytes += len(data)
        if token[0] == "r":
            self._starts.setdefault(token[1], set()).add(token[2])
        while self._kept_bytes > self.max_cached_bytes:
            dropped, value = self._kept.popitem(last=False)
            self._kept_bytes -= len(value)
            if dropped[0] == "r":
                starts = self._starts[dropped[1]]
                starts.discard(dropped[2])
                if not starts:
                    del self._starts[dropped[1]]

    def _note_absent(self, key: str) -> None:
        self._absent[key] = None
        self._present.pop(key, None)
        while len(self._absent) > MAX_ABSENT_KEYS:
            self._absent.popitem(last=False)

    def _note_present(self, key: str) -> None:
        self._present[key] = None
        while len(self._present) > MAX_ABSENT_KEYS:
            self._present.popitem(last=False)

    async def _once(self, token: tuple, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fetch()`` once for concurrent callers with the same ``token``."""
        task = self._inflight.get(token)
        if task is None:
            task = asyncio.ensure_future(fetch())
            self._inflight[token] = task
            task.add_done_callback(lambda t: self._done(token, t))
        return await asyncio.shield(task)

    def _done(self, token: tuple, task: asyncio.Future) -> None:
        if self._inflight.get(token) is task:
            del self._inflight[token]
        if not task.cancelled():
            task.exception()  # retrieved here too: every waiter may have been cancelled

    async def _fetch(self, key: str, rng: ByteRequest | None) -> bytes | None:
        self.fetches += 1
        buf = await self._store.get(key, default_buffer_prototype(), rng)
        if buf is None:
            self._note_absent(key)
            return None
        return buf.to_bytes()

    async def _fetch_whole(self, key: str) -> bytes | None:
        data = await self._fetch(key, None)
        if data is not None:
            self._keep(("v", key), data)
            if key == "zarr.json":
                self._seed_inline(data)
        return data

    async def _fetch_suffix(self, key: str, rng: SuffixByteRequest) -> bytes | None:
        data = await self._fetch(key, rng)
        if data is not None:
            kept = self._kept.get(("s", key))
            if kept is None or len(kept) < len(data):
                self._keep(("s", key), data)
        return data

    async def _fetch_exists(self, key: str) -> bool:
        self.fetches += 1
        found = bool(await self._store.exists(key))
        if found:
            self._note_present(key)
        else:
            self._note_absent(key)
        return found

    async def _batched(self, key: str, start: int, stop: int) -> bytes | None:
        """A range of ``key``, fetched together with the ranges of ``key`` asked for in the
        same turn of the event loop."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        pending = self._pending.setdefault(key, [])
        pending.append((start, stop, future))
        if len(pending) == 1:
            flush = asyncio.ensure_future(self._flush(key))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return await future

    async def _flush(self, key: str) -> None:
        await asyncio.sleep(0)  # let the other reads started with this one join the batch
        batch = self._pending.pop(key, [])
        results: list[bytes | None] = [None] * len(batch)
        wanted = [(i, start, stop) for i, (start, stop, _) in enumerate(batch)]
        try:
            await self._fetch_ranges(key, wanted, results, self.merge_gap, self.max_merged_bytes)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), data in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(data)

    async def _fetch_ranges(
        self,
        key: str,
        wanted: list[tuple[int, int, int]],
        results: list[bytes | None],
        gap: int,
        largest: int,
    ) -> None:
        """Fill ``results[i]`` with bytes ``[start, stop)`` of ``key`` for each wanted range,
        merging neighbours into one request (None everywhere if the key is absent)."""

        if not wanted:
            return
        refs = [ByteRange(key, start, max(stop - start, 0)) for _, start, stop in wanted]
        spans = plan_spans(refs, range(len(refs)), gap, largest)

        async def one(span: Any) -> None:
            block = await self._fetch(key, RangeByteRequest(span.start, span.stop))
            if block is None:
                return
            self._keep(("r", key, span.start), block)
            for member in span.members:
                i, start, stop = wanted[member]
                results[i] = block[start - span.start : stop - span.start]

        await asyncio.gather(*(one(span) for span in spans))

    def _seed_inline(self, document: bytes) -> None:
        """Remember the chunks the root ``zarr.json`` carries in :data:`INLINE_CHUNKS_ATTR`."""
        try:
            meta = json.loads(document)
        except (ValueError, RecursionError):
            return  # zarr reports a broken (or absurdly nested) document itself
        attrs = meta.get("attributes") if isinstance(meta, dict) else None
        inline = attrs.get(INLINE_CHUNKS_ATTR) if isinstance(attrs, dict) else None
        consolidated = meta.get("consolidated_metadata") if isinstance(meta, dict) else None
        nodes = consolidated.get("metadata") if isinstance(consolidated, dict) else None
        if not isinstance(inline, dict) or not isinstance(nodes, dict):
            return
        for key, value in inline.items():
            if not isinstance(key, str) or ("v", key) in self._kept:
                continue
            if not _whole_single_chunk(key, nodes):
                continue  # only the one, complete chunk of an array is taken from the note
            if value is None:
                self._note_absent(key)
            elif isinstance(value, str):
                try:
                    data = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    continue  # not ours to judge: the chunk is fetched as usual
                self._keep(("v", key), data)


def inline_chunk_entries(
    root: str | os.PathLike[str],
    metadata: dict[str, dict],
    *,
    max_chunk_bytes: int = 4096,
    max_total_bytes: int = 256 * 1024,
) -> dict[str, str | None]:
    """The value of :data:`INLINE_CHUNKS_ATTR` for a local store: its single-chunk arrays.

    For each array of ``metadata`` stored as one complete chunk (or shard: chunk shape equal
    to the array's shape) -- 0-d arrays and small 1-D arrays such as ids,
    ``file_create_date`` or cached namespace documents -- the entry is
    the base64 text of the stored chunk file when it is at most ``max_chunk_bytes`` bytes, or
    ``None`` when no chunk file exists (the array reads as its ``fill_value``). Entries stop
    once their JSON text would pass ``max_total_bytes``. The chunk files are not changed: the
    entries copy them, so readers that ignore the attribute read the files.

    Whoever writes a chunk listed here must rebuild the attribute (call this again after the
    write, before the root ``zarr.json`` is consolidated), or :class:`RemoteReadCache` serves
    the old bytes.

    Parameters
    ----------
    root : str or os.PathLike
        Local directory of the store.
    metadata : dict of str to dict
        Node path -> Zarr v3 metadata document (the root's ``consolidated_metadata``
        ``"metadata"`` member); groups are skipped.
    max_chunk_bytes : int
        Largest stored chunk copied (bytes).
    max_total_bytes : int
        Bound of the JSON text of all entries (bytes).

    Returns
    -------
    dict of str to (str or None)
        Chunk key (store-relative, ``"units/id/c/0"``) -> base64 text, or None.

    Raises
    ------
    ValueError
        If a bound is negative, or a metadata document is not valid Zarr v3 array metadata.
    """
    if max_chunk_bytes < 0 or max_total_bytes < 0:
        raise ValueError("inline_chunk_entries: byte bounds must be >= 0")
    base = Path(root)
    entries: dict[str, str | None] = {}
    total = 2  # "{}"
    for path, document in sorted(metadata.items()):
        if not isinstance(document, dict) or document.get("node_type") != "array":
            continue
        first = _first_chunk_key(document)
        if not path or first is None:
            continue  # a grid or key encoding the reader does not map back
        chunk_shape = (document["chunk_grid"].get("configuration") or {}).get("chunk_shape")
        if chunk_shape != document["shape"]:
            continue  # several chunks, or a partial one (an append would rewrite it)
        key = f"{path}/{first}"
        if not _whole_single_chunk(key, metadata):
            continue  # a key encoding the reader does not map back (it would ignore it)
        file = base / key
        try:
            size = file.stat().st_size
        except FileNotFoundError:
            value: str | None = None
        else:
            if size > max_chunk_bytes:
                continue
            value = base64.b64encode(file.read_bytes()).decode("ascii")
        cost = len(json.dumps({key: value})) - 1
        if total + cost > max_total_bytes:
            break
        entries[key] = value
        total += cost
    return entries


def _first_chunk_key(document: dict) -> str | None:
    """The key (relative to the array) of chunk ``(0, ..., 0)`` of a v3 array document, or
    None when its grid or key encoding is not one this reads."""
    shape = document.get("shape")
    grid = document.get("chunk_grid")
    encoding = document.get("chunk_key_encoding")
    if not isinstance(shape, list) or not isinstance(grid, dict) or not isinstance(encoding, dict):
        return None
    if grid.get("name") != "regular":
        return None
    chunk_shape = (grid.get("configuration") or {}).get("chunk_shape")
    if not isinstance(chunk_shape, list) or len(chunk_shape) != len(shape):
        return None
    config = encoding.get("configuration") or {}
    zeros = ["0"] * len(shape)
    if encoding.get("name") == "default":
        sep = config.get("separator", "/")
        return sep.join(["c", *zeros])
    if encoding.get("name") == "v2":
        return config.get("separator", ".").join(zeros) or "0"
    return None


def _whole_single_chunk(key: str, nodes: dict) -> bool:
    """Whether ``key`` is chunk ``(0, ..., 0)`` of an array of ``nodes`` (consolidated
    metadata) whose chunk shape equals its shape: the array's only chunk, complete, which no
    later append rewrites (rows appended go to new chunks)."""
    if not key or key.startswith("/") or key.rsplit("/", 1)[-1] in _METADATA_NAMES:
        return False
    parts = key.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        document = nodes.get("/".join(parts[:cut]))
        if isinstance(document, dict) and document.get("node_type") == "array":
            first = _first_chunk_key(document)
            chunk_shape = document["chunk_grid"]["configuration"]["chunk_shape"] if first else None
            return first == "/".join(parts[cut:]) and chunk_shape == document["shape"]
    return False
