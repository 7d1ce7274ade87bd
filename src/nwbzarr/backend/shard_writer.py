"""Streaming writes of sharded arrays: each inner chunk is encoded once, as soon as it is whole.

Writing a chunk iterator through zarr-python costs a shard-shaped staging buffer, a merge of
every inner chunk into a fresh fill-filled chunk, a thread hop per chunk and a concatenated
shard; peak memory is about three shards. :class:`ShardStreamWriter` writes the same standard
``sharding_indexed`` files with memory bounded by the chunks in flight:

* a yielded piece's inner chunks that it covers whole are encoded straight from it (copied
  once, into a contiguous array, by the encoding thread); only chunks a piece covers in part
  are copied into a chunk-shaped buffer (filled with the fill value), encoded once whole;
* encoded chunks are appended to their shard's temporary file (next to the shard's key, named
  with :data:`~nwbzarr.storage.journal.TMP_INFIX` so listings and recovery ignore and remove it)
  in the order zarr-python writes them (Morton order by default); chunks that arrive early wait
  in memory (compressed) up to :data:`MAX_HELD_BYTES` per writer, beyond which they are written
  as they come and the shard is re-packed in order when it is finished;
* once every chunk of a shard is in (or at :meth:`ShardStreamWriter.finish`), the shard index
  (``bytes`` little endian + ``crc32c``, at the end; absent chunks ``2**64-1``) is appended and
  the file becomes the shard's key through the store stack (:func:`adopt_file`), so an append's
  journal records it as it does for ``set`` and a write-back store forgets older values.

The output is byte for byte what zarr-python writes for the same data (same chunk encodings,
chunks equal to the fill value left out unless the array's ``write_empty_chunks`` is set,
edge chunks padded with the fill value, same chunk order and index). Only the configurations
:func:`shard_layout` accepts use this path; anything else is written by
:class:`nwbzarr.backend.stream.RegionBuffer` through zarr.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import math
import os
import struct
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.storage import LocalStore

from .. import compat
from ..compat import sync
from ..storage.journal import TMP_INFIX, JournaledStore
from ..storage.write_back import WriteBackStore

Box = tuple[tuple[int, int], ...]

#: Threads encoding chunks (0: encode in the calling thread). Measured on 115 MB of int16
#: ephys (2 cores, loaded): with (2048, 64) chunks 2 threads took 0.36 s wall against 0.54 s
#: (blosc lz4 bitshuffle) and 0.99 s against 1.33 s (blosc zstd 3) at the same CPU seconds
#: (within 5 %); with (16384, 64) chunks about the same wall, and 4 chunks more in flight.
ENCODE_THREADS = 2
#: Smallest inner chunk (bytes) encoded in a thread; smaller ones cost less than the hop.
MIN_THREADED_CHUNK_BYTES = 64 * 2**10
#: Chunks submitted for encoding and not yet written, per writer and thread.
IN_FLIGHT_PER_THREAD = 2
#: Encoded chunks (bytes) a writer keeps in memory waiting for their turn in a shard's order.
MAX_HELD_BYTES = 32 * 2**20
#: Partly covered chunks (bytes, uncompressed) a writer keeps; beyond it the oldest is encoded
#: as it is (and decoded again if a later piece reaches it).
MIN_STAGED_BYTES = 64 * 2**20
#: Index entry of an absent chunk (offset and length).
EMPTY_ENTRY = 2**64 - 1

_NUMERIC_KINDS = "biuf"


# -- configuration ----------------------------------------
@dataclass(frozen=True)
class ShardLayout:
    """What the writer needs to know of a sharded array, read from its metadata.

    Attributes
    ----------
    shard_shape : tuple of int
        Shape of a shard (the array's chunk grid).
    chunk_shape : tuple of int
        Shape of an inner chunk.
    dtype : numpy.dtype
        Native-order dtype of the values.
    stored_dtype : numpy.dtype
        dtype with the byte order of the ``bytes`` codec (the encoded layout).
    fill_value : numpy.generic
        The array's fill value (pads edge chunks; chunks equal to it are left out).
    compressor : numcodecs.abc.Codec or None
        The inner chunks' bytes-to-bytes codec.
    write_empty_chunks : bool
        Whether chunks equal to the fill value are stored.
    order : tuple of tuple of int
        Inner chunk coordinates (within a shard) in the order zarr-python stores them.
    """

    shard_shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    dtype: np.dtype
    stored_dtype: np.dtype
    fill_value: Any
    compressor: Any
    write_empty_chunks: bool
    order: tuple[tuple[int, ...], ...]

    @property
    def chunks_per_shard(self) -> tuple[int, ...]:
        """Inner chunks along each axis of a shard."""
        return tuple(s // c for s, c in zip(self.shard_shape, self.chunk_shape))


def morton_order(shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Coordinates of a grid of ``shape`` sorted by their compressed Morton code.

    Bits of the coordinates are interleaved from the lowest up, axis by axis, each axis taking
    part only while it has bits left (``(n - 1).bit_length()`` bits for ``n`` cells): the order
    in which zarr-python lays out the inner chunks of a shard.

    Parameters
    ----------
    shape : tuple of int
        Cells along each axis (all > 0).

    Returns
    -------
    tuple of tuple of int
        Every coordinate of the grid, once.
    """
    if not shape:
        return ((),)
    coords = np.indices(shape).reshape(len(shape), -1).astype(np.int64)
    bits = [(n - 1).bit_length() for n in shape]
    code = np.zeros(coords.shape[1], dtype=np.int64)
    out_bit = 0
    for bit in range(max(bits, default=0)):
        for axis, nbits in enumerate(bits):
            if bit < nbits:
                code |= ((coords[axis] >> bit) & 1) << out_bit
                out_bit += 1
    ranked = coords[:, np.argsort(code, kind="stable")]
    return tuple(tuple(int(v) for v in col) for col in ranked.T)


def _write_order(shape: tuple[int, ...], name: str) -> tuple[tuple[int, ...], ...] | None:
    if name == "morton":
        return morton_order(shape)
    if name in ("lexicographic", "unordered"):
        return tuple(itertools.product(*(range(n) for n in shape)))
    if name == "colexicographic":
        rev = itertools.product(*(range(n) for n in reversed(shape)))
        return tuple(tuple(reversed(c)) for c in rev)
    return None


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _compressor(codec: Any) -> Any:
    """The numcodecs codec doing what a zarr v3 bytes-to-bytes codec does, or None."""
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if type(codec) is BloscCodec:
        from numcodecs import Blosc

        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[_name(codec.shuffle)]
        config = {
            "cname": _name(codec.cname),
            "clevel": int(codec.clevel),
            "shuffle": shuffle,
            "blocksize": int(codec.blocksize),
        }
        if "typesize" in inspect.signature(Blosc.__init__).parameters:
            config["typesize"] = int(codec.typesize)  # as zarr-python does (numcodecs >= 0.16)
        return Blosc(**config)
    if type(codec) is ZstdCodec:
        from numcodecs import Zstd

        return Zstd(level=int(codec.level), checksum=bool(codec.checksum))
    if type(codec) is GzipCodec:
        from numcodecs import GZip

        return GZip(level=int(codec.level))
    raise LookupError(type(codec).__name__)


def shard_layout(array: zarr.Array) -> ShardLayout | None:
    """Return the layout of ``array`` if :class:`ShardStreamWriter` can write it, else None.

    Accepted: a Zarr v3 array with a numeric dtype (bool, integers, floats) whose only codec is
    ``sharding_indexed`` with the index at the end, index codecs ``bytes`` (little endian) +
    ``crc32c``, and inner codecs ``bytes`` followed by at most one of Blosc, Zstd or Gzip, on
    a writable local store (a ``LocalStore``, possibly under a
    :class:`~nwbzarr.storage.write_back.WriteBackStore` or
    :class:`~nwbzarr.storage.journal.JournaledStore`).

    Parameters
    ----------
    array : zarr.Array
        A new, empty array.

    Returns
    -------
    ShardLayout or None
    """
    from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec

    meta = array.metadata
    if getattr(meta, "zarr_format", None) != 3 or local_root(array.store_path.store) is None:
        return None
    dtype = np.dtype(array.dtype) if isinstance(array.dtype, np.dtype) else None
    if dtype is None or dtype.kind not in _NUMERIC_KINDS or dtype.itemsize not in (1, 2, 4, 8):
        return None
    if not array.shape:
        return None
    if len(meta.codecs) != 1 or type(meta.codecs[0]) is not ShardingCodec:
        return None
    if getattr(meta, "storage_transformers", ()):
        return None
    sharding = meta.codecs[0]
    index = sharding.index_codecs
    if _name(sharding.index_location) != "end" or len(index) != 2:
        return None
    if type(index[0]) is not BytesCodec or _name(index[0].endian) != "little":
        return None
    if type(index[1]) is not Crc32cCodec:
        return None
    inner = sharding.codecs
    if not 1 <= len(inner) <= 2 or type(inner[0]) is not BytesCodec:
        return None
    try:
        compressor = _compressor(inner[1]) if len(inner) == 2 else None
    except LookupError:
        return None
    endian = inner[0].endian
    stored = dtype
    if dtype.itemsize > 1 and endian is not None:
        stored = dtype.newbyteorder("<" if _name(endian) == "little" else ">")
    shard_shape = tuple(int(s) for s in array.shards)
    chunk_shape = tuple(int(c) for c in sharding.chunk_shape)
    if any(c <= 0 or s % c for s, c in zip(shard_shape, chunk_shape)):
        return None
    cps = tuple(s // c for s, c in zip(shard_shape, chunk_shape))
    order = _write_order(cps, _name(getattr(sharding, "subchunk_write_order", "morton")))
    if order is None:
        return None
    config = compat.array_config(array)
    if config is None:
        return None
    return ShardLayout(
        shard_shape=shard_shape,
        chunk_shape=chunk_shape,
        dtype=dtype.newbyteorder("="),
        stored_dtype=stored,
        fill_value=np.asarray(array.fill_value, dtype=dtype)[()],
        compressor=compressor,
        write_empty_chunks=bool(config.write_empty_chunks),
        order=order,
    )


# -- store integration ----------------------------------------
def local_root(store: Any) -> str | None:
    """The directory of the writable ``LocalStore`` under nwbzarr's write wrappers, or None.

    Parameters
    ----------
    store : zarr.abc.store.Store
        A ``LocalStore``, or a :class:`~nwbzarr.storage.write_back.WriteBackStore` /
        :class:`~nwbzarr.storage.journal.JournaledStore` over one (nested in any order).

    Returns
    -------
    str or None
        None for any other store, or a read-only one.
    """
    while isinstance(store, (WriteBackStore, JournaledStore)):
        if store.read_only:
            return None
        store = store._store
    if type(store) is not LocalStore or store.read_only:
        return None
    return os.fspath(store.root)


async def adopt_file(store: Any, key: str, path: str) -> None:
    """Make the finished file ``path`` the value of ``key`` in ``store`` (moves the file).

    Parameters
    ----------
    store : zarr.abc.store.Store
        A store accepted by :func:`local_root`; wrappers with an ``adopt_file`` method take
        part (journal, forgotten pending values), a bare ``LocalStore`` gets ``os.replace``.
    key : str
        The store key (``acquisition/ts/data/c/0/0``).
    path : str
        A file on the store's file system, e.g. a temporary sibling of the key's file.
    """
    if hasattr(store, "adopt_file"):
        await store.adopt_file(key, path)
        return
    if not isinstance(store, LocalStore):
        raise TypeError(f"{type(store).__name__} cannot adopt files")
    replace_into(os.fspath(store.root), key, path)


def replace_into(root: str, key: str, path: str) -> None:
    """Move ``path`` to ``root/key`` atomically (``os.replace``), making parent directories.

    Parameters
    ----------
    root : str
        Store directory.
    key : str
        Store key.
    path : str
        Source file (same file system).
    """
    final = os.path.join(root, key)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.replace(path, final)


# -- the writer ----------------------------------------
class _Chunk:
    """An inner chunk partly covered: its buffer and how many of its values are set."""

    __slots__ = ("values", "covered")

    def __init__(self, values: np.ndarray, covered: int) -> None:
        self.values = values
        self.covered = covered


class _Shard:
    """One shard being written: its temporary file, index entries and held chunks."""

    def __init__(self, root: str, key: str, expected: int) -> None:
        self.key = key
        directory = os.path.dirname(os.path.join(root, key))
        name = os.path.basename(key)
        self.tmp = os.path.join(directory, f".{name}{TMP_INFIX}{uuid.uuid4().hex[:12]}")
        self.file: Any = None
        self.pos = 0
        self.entries: dict[tuple[int, ...], tuple[int, int]] = {}
        self.held: dict[tuple[int, ...], bytes] = {}
        self.settled: set[tuple[int, ...]] = set()  # complete chunks (stored or empty)
        self.expected = expected
        self.next = 0
        self.last_rank = -1
        self.canonical = True  # chunks in the file are in write order with no dead bytes

    def write(self, local: tuple[int, ...], data: bytes, rank: int) -> None:
        if self.file is None:
            os.makedirs(os.path.dirname(self.tmp), exist_ok=True)
            self.file = open(self.tmp, "wb")  # noqa: SIM115 - closed by finalize/abort
        if rank < self.last_rank:
            self.canonical = False
        self.last_rank = max(self.last_rank, rank)
        self.file.write(data)
        self.entries[local] = (self.pos, len(data))
        self.pos += len(data)

    def take(self, local: tuple[int, ...]) -> bytes | None:
        """Remove and return the encoded bytes of ``local`` (None if it has none)."""
        self.settled.discard(local)
        data = self.held.pop(local, None)
        if data is not None:
            return data
        entry = self.entries.pop(local, None)
        if entry is None:
            return None
        self.canonical = False  # its bytes stay in the file, unreferenced: re-pack at the end
        self.file.flush()
        with open(self.tmp, "rb") as f:
            return os.pread(f.fileno(), entry[1], entry[0])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp)


class ShardStreamWriter:
    """Write a new sharded array from pieces, encoding each inner chunk once it is whole.

    Parameters
    ----------
    array : zarr.Array
        The array (created empty; its shape may grow along unlimited dimensions, which the
        caller resizes, e.g. :class:`nwbzarr.backend.stream.RegionBuffer`).
    layout : ShardLayout
        From :func:`shard_layout` (None there means this writer cannot be used).
    limit : tuple of (int or None)
        Largest extent of each axis (the iterator's ``maxshape``); None for unlimited axes.
    threads : int
        Threads encoding chunks; 0 encodes in the calling thread.

    Notes
    -----
    Pieces may come in any order and may overlap (a later piece overwrites an earlier one,
    re-encoding the chunks it reaches). A piece reaching a shard already finished is written
    through zarr (read-modify-write, correct but slower). Call :meth:`finish` once, or
    :meth:`abort` to drop what was not finished.
    """

    def __init__(
        self,
        array: zarr.Array,
        layout: ShardLayout,
        limit: tuple[int | None, ...],
        threads: int = ENCODE_THREADS,
    ) -> None:
        root = local_root(array.store_path.store)
        if root is None:
            raise TypeError(f"/{array.path}: not on a writable local store")
        self.array = array
        self.layout = layout
        self.root = root
        self.limit = tuple(limit)
        self.prefix = f"{array.store_path.path}/" if array.store_path.path else ""
        self.rank = {c: i for i, c in enumerate(layout.order)}
        self.cps = layout.chunks_per_shard
        self.chunk_size = math.prod(layout.chunk_shape)
        self.chunk_bytes = self.chunk_size * layout.dtype.itemsize
        self.shards: dict[tuple[int, ...], _Shard] = {}
        self.finished: set[tuple[int, ...]] = set()
        self.partial: dict[tuple[int, ...], _Chunk] = {}
        self.staged_bytes = 0
        self.max_staged = max(MIN_STAGED_BYTES, 4 * self.chunk_bytes)
        self.evicted: dict[tuple[int, ...], int] = {}  # chunk -> values covered when evicted
        self.held_bytes = 0
        self.threads = int(threads) if self.chunk_bytes >= MIN_THREADED_CHUNK_BYTES else 0
        self.pool = _acquire_pool(self.threads) if self.threads > 0 else None
        self.in_flight: collections.deque = collections.deque()
        self.max_in_flight = max(1, self.threads) * IN_FLIGHT_PER_THREAD
        fill = layout.fill_value
        self._fill_nan = layout.dtype.kind == "f" and bool(np.isnan(fill))
        self._fill_bits = np.asarray(fill, dtype=layout.dtype).view(_uint(layout.dtype))[()]

    # -- public -----------------------------------------------------------------------------------
    def add(self, box: Box, values: np.ndarray) -> None:
        """Take one piece of the array.

        Parameters
        ----------
        box : tuple of (int, int)
            ``(start, stop)`` per axis, within ``limit``.
        values : numpy.ndarray
            Values of the box, shape ``stop - start`` per axis, dtype castable to the array's.
            Not referenced after this call returns (an iterator may reuse its buffer).
        """
        values = np.asarray(values)
        copied: list[threading.Event] = []
        chunk_shape = self.layout.chunk_shape
        ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(box, chunk_shape)]
        # in each shard's write order: chunks then reach their file at once instead of
        # waiting, compressed, in memory for the ones before them
        for gcoords in sorted(itertools.product(*ranges), key=self._write_rank):
            cbox = tuple((g * c, (g + 1) * c) for g, c in zip(gcoords, chunk_shape))
            inter = tuple((max(a, c), min(b, d)) for (a, b), (c, d) in zip(box, cbox))
            if any(a >= b for a, b in inter):
                continue
            piece = values[tuple(slice(a - s, b - s) for (a, b), (s, _) in zip(inter, box))]
            scoords = tuple(g // n for g, n in zip(gcoords, self.cps))
            if scoords in self.finished:
                self._write_direct(inter, piece)
                continue
            shard = self._shard(scoords)
            local = tuple(g % n for g, n in zip(gcoords, self.cps))
            if any(item[1] == scoords and item[2] == local for item in self.in_flight):
                self._drain(0)  # a piece reaching a chunk being encoded: let it land first
                if scoords in self.finished:
                    self._write_direct(inter, piece)
                    continue
            revisit = local in shard.settled or local in shard.entries or local in shard.held
            if inter == cbox and gcoords not in self.partial and not revisit:
                event = threading.Event() if self.pool is not None else None
                if event is not None:
                    copied.append(event)
                self._submit(shard, scoords, local, piece, event, complete=True)
                continue
            chunk = self.partial.get(gcoords)
            if chunk is None:
                chunk = self._open_chunk(shard, local, gcoords, cbox)
                self.partial[gcoords] = chunk
                self.staged_bytes += self.chunk_bytes
            local_sel = tuple(slice(a - s, b - s) for (a, b), (s, _) in zip(inter, cbox))
            chunk.values[local_sel] = piece
            chunk.covered += math.prod(b - a for a, b in inter)
            if chunk.covered >= self._needed(cbox):
                del self.partial[gcoords]
                self.staged_bytes -= self.chunk_bytes
                self._submit(shard, scoords, local, chunk.values, None, complete=True)
        while self.staged_bytes > self.max_staged and self.partial:
            self._evict(next(iter(self.partial)))
        for event in copied:  # the piece's memory is the caller's again once copied
            event.wait()

    def finish(self) -> None:
        """Encode the chunks still partly filled (padded with the fill value), write every
        shard's index and move the shards into place. The caller resizes the array."""
        try:
            for gcoords in list(self.partial):
                chunk = self.partial.pop(gcoords)
                scoords = tuple(g // n for g, n in zip(gcoords, self.cps))
                local = tuple(g % n for g, n in zip(gcoords, self.cps))
                self._submit(self.shards[scoords], scoords, local, chunk.values, None, True)
            self.staged_bytes = 0
            self._drain(0)
            for scoords in list(self.shards):
                self._finalize(scoords)
        except BaseException:
            self.abort()
            raise
        self._stop_pool()

    def abort(self) -> None:
        """Drop every shard not yet finished (their temporary files are removed)."""
        with contextlib.suppress(Exception):
            self._drain(0)
        self._stop_pool()
        for shard in self.shards.values():
            shard.discard()
        self.shards.clear()
        self.partial.clear()

    # -- chunks ------------------------------------------------------------------------------------
    def _write_rank(self, gcoords: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """Sort key of an inner chunk: its shard, then its place in the shard's order."""
        scoords = tuple(g // n for g, n in zip(gcoords, self.cps))
        return scoords, self.rank[tuple(g % n for g, n in zip(gcoords, self.cps))]

    def _needed(self, cbox: Box) -> int:
        """Values of a chunk that lie within the limit (what makes it complete)."""
        n = 1
        for (a, b), lim in zip(cbox, self.limit):
            n *= (b if lim is None else min(b, lim)) - a
        return n

    def _shard(self, scoords: tuple[int, ...]) -> _Shard:
        shard = self.shards.get(scoords)
        if shard is None:
            key = self.prefix + self.array.metadata.encode_chunk_key(scoords)
            shard = _Shard(self.root, key, self._expected(scoords))
            self.shards[scoords] = shard
        return shard

    def _expected(self, scoords: tuple[int, ...]) -> int:
        """Inner chunks of a shard within the limit (all of them along unlimited axes)."""
        n = 1
        for s, per, c, lim in zip(scoords, self.cps, self.layout.chunk_shape, self.limit):
            if lim is None:
                n *= per
            else:
                n *= max(0, min(per, -(-(lim - s * per * c) // c)))
        return n

    def _open_chunk(
        self, shard: _Shard, local: tuple[int, ...], gcoords: tuple[int, ...], cbox: Box
    ) -> _Chunk:
        """A staging buffer for an inner chunk: its stored values and coverage if it has
        some (a piece reaching a chunk already encoded, or evicted), else the fill value."""
        covered = self._needed(cbox) if local in shard.settled else self.evicted.pop(gcoords, 0)
        data = shard.take(local)
        if data is not None:
            return _Chunk(self._decode(data), covered)
        values = np.empty(self.layout.chunk_shape, dtype=self.layout.dtype)
        values[...] = self.layout.fill_value
        return _Chunk(values, covered)

    def _evict(self, gcoords: tuple[int, ...]) -> None:
        """Encode a partly covered chunk as it is, to bound memory (stored unsettled)."""
        chunk = self.partial.pop(gcoords)
        self.staged_bytes -= self.chunk_bytes
        self.evicted[gcoords] = chunk.covered
        scoords = tuple(g // n for g, n in zip(gcoords, self.cps))
        local = tuple(g % n for g, n in zip(gcoords, self.cps))
        self._submit(self.shards[scoords], scoords, local, chunk.values, None, complete=False)
        self._drain(0)

    def _is_fill(self, values: np.ndarray) -> bool:
        """Whether a chunk equals the fill value everywhere, as zarr-python decides it."""
        if self._fill_nan:
            return bool(np.isnan(values).all())
        flat = values.reshape(-1).view(_uint(values.dtype))
        if flat[0] != self._fill_bits or flat[-1] != self._fill_bits:
            return False
        if values.dtype.kind == "f" and self.layout.fill_value != 0:
            return bool((values == self.layout.fill_value).all())
        return bool((flat == self._fill_bits).all())

    def _encode(self, source: list, copied: threading.Event | None) -> bytes | None:
        """Encoded bytes of the chunk in ``source`` (a one-item list, emptied once copied so
        that no reference to the caller's piece outlives the copy), or None for a chunk left
        out (equal to the fill value)."""
        try:  # a piece's view is copied (its owner may reuse it); a private buffer is not
            values = source.pop()
            if copied is not None:
                data = np.array(values, dtype=self.layout.dtype, order="C", copy=True)
            else:
                data = np.ascontiguousarray(values, dtype=self.layout.dtype)
            del values
        finally:
            if copied is not None:
                copied.set()
        if not self.layout.write_empty_chunks and self._is_fill(data):
            return None
        if self.layout.stored_dtype != data.dtype:
            data = data.astype(self.layout.stored_dtype)
        raw = data.reshape(-1).view(np.uint8)
        compressor = self.layout.compressor
        if compressor is None:
            return raw.tobytes()
        return bytes(compressor.encode(raw))

    def _decode(self, data: bytes) -> np.ndarray:
        compressor = self.layout.compressor
        raw = compressor.decode(data) if compressor is not None else data
        stored = np.frombuffer(raw, dtype=self.layout.stored_dtype).reshape(self.layout.chunk_shape)
        return stored.astype(self.layout.dtype, copy=True)

    def _submit(
        self,
        shard: _Shard,
        scoords: tuple[int, ...],
        local: tuple[int, ...],
        values: np.ndarray,
        copied: threading.Event | None,
        complete: bool,
    ) -> None:
        if self.pool is None:
            self._place(shard, scoords, local, self._encode([values], None), complete)
            return
        future = self.pool.submit(self._encode, [values], copied)
        self.in_flight.append((shard, scoords, local, future, complete))
        self._drain(self.max_in_flight)

    def _drain(self, keep: int) -> None:
        """Place encoded chunks (in submission order) until at most ``keep`` are in flight."""
        while len(self.in_flight) > keep:
            shard, scoords, local, future, complete = self.in_flight.popleft()
            self._place(shard, scoords, local, future.result(), complete)

    # -- shards ------------------------------------------------------------------------------------
    def _place(
        self,
        shard: _Shard,
        scoords: tuple[int, ...],
        local: tuple[int, ...],
        data: bytes | None,
        complete: bool,
    ) -> None:
        older = shard.held.pop(local, None)  # an earlier version of a rewritten chunk
        if older is not None:
            self.held_bytes -= len(older)
        if data is not None:
            shard.held[local] = data
            self.held_bytes += len(data)
        if complete:
            shard.settled.add(local)
        self._advance(shard)
        if self.held_bytes > MAX_HELD_BYTES:
            for other in self.shards.values():
                self._write_held(other)
        if len(shard.settled) >= shard.expected and not self._shard_busy(scoords):
            self._finalize(scoords)

    def _shard_busy(self, scoords: tuple[int, ...]) -> bool:
        """Whether chunks of the shard are still staged or being encoded."""
        for gcoords in self.partial:
            if tuple(g // n for g, n in zip(gcoords, self.cps)) == scoords:
                return True
        return any(item[1] == scoords for item in self.in_flight)

    def _advance(self, shard: _Shard) -> None:
        """Write the held chunks that are next in the shard's order."""
        order = self.layout.order
        while shard.next < len(order) and order[shard.next] in shard.settled:
            local = order[shard.next]
            data = shard.held.pop(local, None)
            if data is not None:
                self.held_bytes -= len(data)
                shard.write(local, data, shard.next)
            shard.next += 1

    def _write_held(self, shard: _Shard) -> None:
        """Write every chunk a shard holds (in its order), out of turn to free memory."""
        for local in sorted(shard.held, key=self.rank.__getitem__):
            data = shard.held.pop(local)
            self.held_bytes -= len(data)
            shard.write(local, data, self.rank[local])

    def _finalize(self, scoords: tuple[int, ...]) -> None:
        """Write the shard's index and move its file into place (no file if it is empty)."""
        shard = self.shards.pop(scoords)
        try:
            self._write_held(shard)
            if not shard.entries:
                shard.discard()
                self.finished.add(scoords)
                return
            if not shard.canonical:
                self._repack(shard)
            index = np.full(self.cps + (2,), EMPTY_ENTRY, dtype="<u8")
            for local, (offset, nbytes) in shard.entries.items():
                index[local] = (offset, nbytes)
            index_bytes = index.tobytes()
            shard.file.write(index_bytes)
            shard.file.write(struct.pack("<I", google_crc32c.value(index_bytes)))
            shard.close()
            sync(adopt_file(self.array.store_path.store, shard.key, shard.tmp))
        except BaseException:
            shard.discard()
            raise
        self.finished.add(scoords)

    def _repack(self, shard: _Shard) -> None:
        """Rewrite a shard's chunks in its order, without dead bytes (into a new temp file)."""
        shard.file.flush()
        old_path, old_entries = shard.tmp, shard.entries
        shard.close()
        directory = os.path.dirname(old_path)
        shard.tmp = os.path.join(
            directory, f".{os.path.basename(shard.key)}{TMP_INFIX}{uuid.uuid4().hex[:12]}"
        )
        shard.entries, shard.pos, shard.last_rank, shard.canonical = {}, 0, -1, True
        with open(old_path, "rb") as old:
            for local in sorted(old_entries, key=self.rank.__getitem__):
                offset, nbytes = old_entries[local]
                shard.write(local, os.pread(old.fileno(), nbytes, offset), self.rank[local])
        os.remove(old_path)

    def _write_direct(self, box: Box, values: np.ndarray) -> None:
        """Write into a shard already finished, through zarr (read-modify-write)."""
        shape = tuple(max(s, b) for s, (_, b) in zip(self.array.shape, box))
        if shape != tuple(self.array.shape):
            self.array.resize(shape)
        self.array[tuple(slice(a, b) for a, b in box)] = values

    def _stop_pool(self) -> None:
        if self.pool is not None:
            self.pool = None
            _release_pool()


_POOL_LOCK = threading.Lock()
_POOL: list = [None, 0]  # the encoding pool shared by the writers open at once, their count


def _acquire_pool(threads: int) -> ThreadPoolExecutor:
    """The shared encoding pool (made by the first writer that needs it)."""
    with _POOL_LOCK:
        if _POOL[0] is None:
            _POOL[0] = ThreadPoolExecutor(threads, thread_name_prefix="nwbzarr-encode")
        _POOL[1] += 1
        return _POOL[0]


def _release_pool() -> None:
    """Shut the shared pool down when its last writer is done (no idle threads are left,
    e.g. for worker processes forked later)."""
    with _POOL_LOCK:
        _POOL[1] -= 1
        if _POOL[1] == 0 and _POOL[0] is not None:
            pool, _POOL[0] = _POOL[0], None
            pool.shutdown(wait=True)


def _uint(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}") if dtype.itemsize in (1, 2, 4, 8) else np.dtype("V")


def stream_writer(
    array: zarr.Array, limit: tuple[int | None, ...], dtype: Any, threads: int | None = None
) -> ShardStreamWriter | None:
    """A :class:`ShardStreamWriter` for ``array`` if its configuration is supported.

    Parameters
    ----------
    array : zarr.Array
        A new sharded array.
    limit : tuple of (int or None)
        The iterator's ``maxshape`` (None: unlimited axis).
    dtype : numpy.dtype or type
        The storage dtype the caller converts values to (``str`` is never streamed).
    threads : int, optional
        Encoding threads (default :data:`ENCODE_THREADS`).

    Returns
    -------
    ShardStreamWriter or None
        None when :func:`shard_layout` refuses the array or ``dtype`` differs from its dtype.
    """
    if dtype is str or not getattr(array, "shards", None):
        return None
    layout = shard_layout(array)
    if layout is None or np.dtype(dtype) != layout.dtype:
        return None
    return ShardStreamWriter(array, layout, limit, ENCODE_THREADS if threads is None else threads)


__all__ = [
    "ENCODE_THREADS",
    "ShardLayout",
    "ShardStreamWriter",
    "adopt_file",
    "local_root",
    "morton_order",
    "replace_into",
    "shard_layout",
    "stream_writer",
]
