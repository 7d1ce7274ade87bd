"""Lean reads of local Zarr v3 arrays: cached shard indexes, ``os.pread``, decoding in the caller.

zarr-python reads a window of a sharded array through its async codec pipeline: the shard index
is fetched and decoded again for every read, each chunk costs a worker-thread round trip, and
the decoded chunk is merged into a fresh fill-valued buffer. For an array stored in a local
directory, :class:`LocalChunkReader` does the same read with plain file I/O in the calling
thread:

* the chunks a selection touches are computed from the chunk grid (slices of step 1 and
  integers; anything else is left to zarr-python); a key of one plain ``int`` or ``slice`` per
  dimension takes a short path, the chunk and shard file names are kept per reader;
* each shard's index is read once and kept per array, together with the shard file's identity
  (inode, size, modification and change times), so a shard replaced on disk is re-read (a
  shard modified in the last :data:`RACY_SECONDS` is not cached: a rewrite within the file
  system's timestamp granularity could keep all four); the identity is checked (``fstat`` of
  the opened shard) on every read; the index's crc32c is verified and every entry is checked
  against the file's size (an entry pointing past the end raises
  :class:`~nwbzarr.errors.CorruptChunkError` naming the array and shard);
* the bytes of the chunks of one shard are read with ``os.pread``, adjacent chunks in one read;
* each chunk is decoded with its numcodecs decoder through the size-checking helpers of
  :mod:`nwbzarr.storage.checked_codecs` (a Blosc or zstd header declaring more than the chunk
  holds is refused before anything is allocated, gzip/zlib inflate is bounded) and copied into
  the output (the bound ``max_chunk_bytes`` is looked up once per read, through
  :func:`nwbzarr.limits.value`: setting ``NWBZARR_MAX_CHUNK_BYTES`` takes effect on the next
  read); a missing chunk or shard gives the fill value.

Everything runs in the calling thread: splitting large reads over two threads (the caller and
one worker, decompression and copies release the GIL) was measured on a shared 2-core machine
and cost more CPU (full scan of a 460 MB int16 array, lz4 + bitshuffle: 0.61-0.78 CPU-s against
0.49-0.56) without a shorter wall time (2.0-2.5 s against 1.1-1.4 s), so it is not done.

Supported: a ``LocalStore`` opened read-only, bare or wrapped by
:class:`~nwbzarr.storage.inline_reads.InlineReadStore`; a regular chunk grid; the
``sharding_indexed`` codec (index codecs ``bytes`` + optional ``crc32c``, index at the start or
the end) or unsharded chunks; inner codecs ``bytes`` (either byte order) followed by Blosc, zstd,
gzip or zlib compressors; boolean, integer, float and complex data types; C order. Anything else
(filters, ``transpose``, text or compound data types, other stores, fancy selections, a journal
of a running append, see :mod:`nwbzarr.storage.journal`) is read by zarr-python, which also
raises its own errors for invalid selections. Results equal zarr-python's (dtype, shape, values).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec, ShardingCodec
from zarr.storage import LocalStore

from .. import compat, limits
from ..errors import CorruptChunkError
from . import checked_codecs
from .inline_reads import InlineReadStore
from .journal import has_journal

try:  # zarr-python's own crc32c implementation (a dependency of its crc32c codec)
    import google_crc32c as _crc32c
except ImportError:  # pragma: no cover - zarr-python always brings it
    _crc32c = None

__all__ = ["LocalChunkReader", "reader_for"]

#: Largest single ``pread`` of merged adjacent chunks (bytes); a larger read buffer measured no
#: faster and held more memory (scan of a 460 MB array: peak RSS 178 MB at 32 MiB, 159 at 4).
MAX_MERGED_READ = 4 * 1024 * 1024
#: Gaps between chunks of one shard bridged by a merged read (bytes).
MERGE_GAP = 4096
#: A shard file modified less than this many seconds before its index was read may still be
#: rewritten within the file system's timestamp granularity: its index is not cached.
RACY_SECONDS = 2.0
#: Most ``(store key, path)`` pairs of chunk or shard files a reader keeps (then it starts over).
MAX_CACHED_PATHS = 4096
#: An entry of a shard index marking an empty (never written) chunk.
_EMPTY = np.uint64(2**64 - 1)
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _value(field: Any) -> Any:
    """An enum field's value (zarr < 3.2 uses enums where later versions use strings)."""
    return getattr(field, "value", field)


@dataclass(frozen=True)
class _Chain:
    """The decoding of one stored chunk: byte order and compressors (outermost last)."""

    stored_dtype: np.dtype
    compressors: tuple[tuple[str, Any], ...]
    chunk_shape: tuple[int, ...]
    nbytes: int
    #: ``(kind, decoder, slack)`` in decoding order (outermost first): the innermost yields
    #: exactly ``nbytes``, one over another may produce up to ``slack`` bytes more
    steps: tuple[tuple[str, Any, int], ...] = ()


def _compressor_table() -> dict[type, tuple[str, Any]]:
    return {base: (kind, inner) for base, kind, inner in compat.compressor_classes()}


_TABLE: dict[type, tuple[str, Any]] | None = None


def _chain(codecs: Any, dtype: np.dtype, chunk_shape: tuple[int, ...]) -> _Chain | None:
    """The decoding chain of ``codecs`` (``bytes`` + compressors), or None if unsupported."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _compressor_table()
    codecs = tuple(codecs)
    if not codecs or type(codecs[0]) is not BytesCodec:
        return None
    endian = _value(codecs[0].endian)
    if dtype.itemsize > 1:
        if endian not in ("little", "big"):
            return None
        stored = dtype.newbyteorder("<" if endian == "little" else ">")
    else:
        stored = dtype
    compressors = []
    for codec in codecs[1:]:
        found = _TABLE.get(type(codec))
        if found is None:
            return None
        kind, inner = found
        compressors.append((kind, inner(codec) if inner is not None else None))
    nbytes = math.prod(chunk_shape) * dtype.itemsize
    slack = nbytes // 8 + 65536  # as checked_codecs.decoded_bound allows
    steps = tuple(
        (kind, codec, 0 if i == 0 else slack) for i, (kind, codec) in enumerate(compressors)
    )[::-1]
    return _Chain(stored, tuple(compressors), tuple(chunk_shape), nbytes, steps)


def _store_root(store: Any) -> str | None:
    """The directory of a read-only local store (bare or under an InlineReadStore)."""
    if type(store) is InlineReadStore:
        store = store._store
    if type(store) is not LocalStore or not store.read_only:
        return None
    return os.fspath(store.root)


@dataclass
class _Index:
    """A shard's cached index: the file's identity and each chunk's offset and size."""

    identity: tuple[int, int, int, int]
    offsets: np.ndarray  # int64, -1 for an empty chunk
    sizes: np.ndarray  # int64


class LocalChunkReader:
    """Reads basic selections of one local Zarr v3 array without zarr-python's pipeline.

    Build it with :func:`reader_for`. A reader belongs to one array and one version of its
    metadata (:meth:`matches`); it keeps the indexes of the shards it has read.

    Parameters
    ----------
    array : zarr.Array
        The array (its store must be supported, see the module docstring).
    root : str
        The store's directory.
    chain : _Chain
        How a stored (inner) chunk decodes.
    shard_shape : tuple of int or None
        The shard shape of a sharded array (None: every chunk is its own file).
    index : tuple or None
        ``(location, crc)`` of the shard index (``"start"``/``"end"``, whether a crc32c follows).
    """

    def __init__(
        self,
        array: zarr.Array,
        root: str,
        chain: _Chain,
        shard_shape: tuple[int, ...] | None,
        index: tuple[str, bool] | None,
    ) -> None:
        meta = array.metadata
        self._metadata = meta
        self._store = array.store_path.store
        self.root = root
        self.array_path = array.store_path.path
        self._prefix = self.array_path + "/" if self.array_path else ""
        self.shape = tuple(meta.shape)
        self.dtype = meta.data_type.to_native_dtype()
        self._fill = np.asarray(meta.fill_value, dtype=self.dtype)
        self._chain = chain
        self.chunk_shape = chain.chunk_shape
        self._shard_shape = shard_shape
        if shard_shape is not None:
            self._per_shard = tuple(s // c for s, c in zip(shard_shape, self.chunk_shape))
            self._n_per_shard = math.prod(self._per_shard)
            location, crc = index
            self._index_at_end = location == "end"
            self._index_crc = crc
            self._index_nbytes = 16 * self._n_per_shard + (4 if crc else 0)
            # C-order position of an inner chunk in its shard: sum of local index x stride
            self._strides = tuple(
                math.prod(self._per_shard[d + 1 :]) for d in range(len(self._per_shard))
            )
        self._indexes: dict[str, _Index] = {}
        self._files: dict[tuple[int, ...], tuple[str, str]] = {}
        self._most = limits.value("max_chunk_bytes")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_indexes"] = {}  # a copy elsewhere reads the indexes again
        return state

    def matches(self, array: zarr.Array) -> bool:
        """True if this reader was built for ``array``'s current metadata and store."""
        return array.metadata is self._metadata and array.store_path.store is self._store

    # -- selections ----------------------------------------------------------------------------
    def _selection(self, key: Any) -> list[tuple[int, int, bool]] | None:
        """``(start, stop, is_integer)`` per dimension, or None to let zarr-python read it."""
        shape = self.shape
        if type(key) is tuple and len(key) == len(shape):  # the common case, checked cheaply
            out = []
            for item, length in zip(key, shape):
                if type(item) is slice and item.step is None:
                    start, stop = item.start, item.stop
                    if (start is None or type(start) is int) and (
                        stop is None or type(stop) is int
                    ):
                        start, stop, _step = item.indices(length)
                        out.append((start, stop if stop > start else start, False))
                        continue
                elif type(item) is int:
                    i = item + length if item < 0 else item
                    if not 0 <= i < length:
                        return None  # zarr-python raises its BoundsCheckError
                    out.append((i, i + 1, True))
                    continue
                return self._general_selection(key)
            return out
        return self._general_selection(key)

    def _general_selection(self, key: Any) -> list[tuple[int, int, bool]] | None:
        """:meth:`_selection` for any key: Ellipsis, implied dimensions, numpy integers."""
        items = key if isinstance(key, tuple) else (key,)
        ndim = len(self.shape)
        n_ellipsis = sum(1 for k in items if k is Ellipsis)
        if n_ellipsis > 1:
            return None
        if n_ellipsis:
            at = next(i for i, k in enumerate(items) if k is Ellipsis)
            fill = ndim - (len(items) - 1)
            if fill < 0:
                return None
            items = items[:at] + (slice(None),) * fill + items[at + 1 :]
        if len(items) > ndim:
            return None
        items = items + (slice(None),) * (ndim - len(items))
        out = []
        for item, length in zip(items, self.shape):
            if isinstance(item, slice):
                if item.step is not None and not _is_int(item.step):
                    return None
                if (item.start is not None and not _is_int(item.start)) or (
                    item.stop is not None and not _is_int(item.stop)
                ):
                    return None
                start, stop, step = item.indices(length)
                if step != 1:
                    return None
                out.append((start, max(start, stop), False))
            elif _is_int(item):
                i = int(item)
                if i < 0:
                    i += length
                if not 0 <= i < length:
                    return None  # zarr-python raises its BoundsCheckError
                out.append((i, i + 1, True))
            else:
                return None
        return out

    def read(self, key: Any) -> np.ndarray | None:
        """``array[key]`` as zarr-python returns it, or None if zarr-python must read it.

        Parameters
        ----------
        key : Any
            A basic selection: integers, slices of step 1 (or None), one Ellipsis.

        Returns
        -------
        numpy.ndarray or None
            The values (dtype and shape as zarr-python gives, 0-d for all-integer keys), or
            None for a selection, store state or chunk this reader does not handle.

        Raises
        ------
        CorruptChunkError
            A shard index fails its checksum or points outside its file, or a chunk does not
            decode to exactly the chunk's size; the message names the store, array and key.
        OSError
            A chunk file exists but cannot be read.
        """
        sel = self._selection(key)
        if sel is None or has_journal(self.root):
            return None
        out = np.empty([stop - start for start, stop, is_int in sel if not is_int], self.dtype)
        # once per read, from its own environment variable only: the bound of any chunk
        self._most = limits.value("max_chunk_bytes")
        if out.size:
            if self._shard_shape is None:
                self._read_chunks(sel, out)
            else:
                self._read_shards(sel, out)
        if has_journal(self.root):
            return None  # an append began meanwhile: read the committed bytes through zarr
        return out

    def _pieces(self, sel: list[tuple[int, int, bool]]) -> list[list[tuple[int, Any, Any]]]:
        """Per dimension: ``(chunk index, selection in the chunk, selection in the output)``
        (None for an integer's dimension, which the output drops)."""
        dims = []
        for (start, stop, is_int), size in zip(sel, self.chunk_shape):
            pieces = []
            for c in range(start // size, (stop - 1) // size + 1):
                base = c * size
                lo = start if start > base else base
                hi = stop if stop < base + size else base + size
                if is_int:
                    pieces.append((c, lo - base, None))
                else:
                    pieces.append((c, slice(lo - base, hi - base), slice(lo - start, hi - start)))
            dims.append(pieces)
        return dims

    @staticmethod
    def _targets(parts: tuple) -> tuple[tuple, tuple]:
        """The selections in the chunk and in the output of one combination of pieces."""
        inner = tuple(p[1] for p in parts)
        outer = tuple(p[2] for p in parts if p[2] is not None)
        return inner, outer

    def _corrupt(self, key: str, reason: str, linear: int | None = None) -> CorruptChunkError:
        """The error for stored chunk (or shard) ``key``, named relative to the array;
        ``linear`` is the C-order position of a shard's inner chunk in the shard."""
        chunk = key[len(self._prefix) :] if key.startswith(self._prefix) else key
        where = f"{self.root}: /{self.array_path}: stored chunk {chunk!r}"
        if linear is not None and self._shard_shape is not None:
            local = tuple(int(c) for c in np.unravel_index(linear, self._per_shard))
            where += f" (inner chunk {local})"
        return CorruptChunkError(
            f"{where} cannot be decoded ({reason}); the store is damaged, re-convert or "
            "re-download it"
        )

    def _file(self, coords: tuple[int, ...]) -> tuple[str, str]:
        """``(store key, file path)`` of the chunk or shard at grid position ``coords``."""
        found = self._files.get(coords)
        if found is None:
            key = self._prefix + self._metadata.encode_chunk_key(coords)
            found = (key, os.path.join(self.root, key))
            if len(self._files) >= MAX_CACHED_PATHS:
                self._files.clear()
            self._files[coords] = found
        return found

    # -- unsharded -----------------------------------------------------------------------------
    def _read_chunks(self, sel: list[tuple[int, int, bool]], out: np.ndarray) -> None:
        for parts in itertools.product(*self._pieces(sel)):
            inner, outer = self._targets(parts)
            key, path = self._file(tuple(p[0] for p in parts))
            try:
                with open(path, "rb", buffering=0) as f:
                    data = f.read()
            except _MISSING:
                out[outer] = self._fill
                continue
            out[outer] = self._decode(key, data)[inner]

    # -- sharded -------------------------------------------------------------------------------
    def _shard_pieces(self, sel: list[tuple[int, int, bool]]) -> list[list[tuple[int, list]]]:
        """Per dimension: ``(shard index, [(the chunk's term of its C-order position in the
        shard, selection in the chunk, selection in the output), ...])`` in shard order."""
        dims = []
        for pieces, p, stride in zip(self._pieces(sel), self._per_shard, self._strides):
            groups: list[tuple[int, list]] = []
            last = -1
            for c, inner, outer in pieces:  # ascending chunks: a shard's chunks are adjacent
                shard = c // p
                if shard != last:
                    groups.append((shard, []))
                    last = shard
                groups[-1][1].append(((c - shard * p) * stride, inner, outer))
            dims.append(groups)
        return dims

    def _read_shards(self, sel: list[tuple[int, int, bool]], out: np.ndarray) -> None:
        drop = any(is_int for _start, _stop, is_int in sel)  # integer dimensions leave out
        for per_dim in itertools.product(*self._shard_pieces(sel)):
            shard, pieces = zip(*per_dim)
            key, path = self._file(shard)
            chunks = []
            for parts in itertools.product(*pieces):
                terms, inner, outer = zip(*parts)
                if drop:
                    outer = tuple(o for o in outer if o is not None)
                chunks.append((sum(terms), inner, outer))
            try:
                fd = os.open(path, os.O_RDONLY)
            except _MISSING:
                for _linear, _inner, outer in chunks:
                    out[outer] = self._fill
                continue
            try:
                self._read_shard(fd, key, chunks, out)
            finally:
                os.close(fd)

    def _shard_index(self, fd: int, key: str) -> _Index:
        """The index of the open shard ``key`` (cached while the file stays the same)."""
        st = os.fstat(fd)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._indexes.get(key)
        if cached is not None and cached.identity == identity:
            return cached
        size = st.st_size
        n = self._index_nbytes
        if size < n:
            raise self._corrupt(key, f"the shard holds {size} bytes, less than its {n}-byte index")
        raw = os.pread(fd, n, size - n if self._index_at_end else 0)
        if len(raw) != n:
            raise self._corrupt(key, "the shard index is truncated")
        if self._index_crc:
            stored = int.from_bytes(raw[-4:], "little")
            if _crc32c.value(raw[:-4]) != stored:
                raise self._corrupt(key, "the shard index fails its crc32c checksum")
        entries = np.frombuffer(raw, dtype="<u8", count=2 * self._n_per_shard).reshape(-1, 2)
        empty = (entries[:, 0] == _EMPTY) & (entries[:, 1] == _EMPTY)
        offsets, sizes = entries[:, 0], entries[:, 1]
        usize = np.uint64(size)
        beyond = ~empty & ((offsets > usize) | (sizes > usize - np.minimum(offsets, usize)))
        if beyond.any():
            i = int(np.flatnonzero(beyond)[0])
            inner = np.unravel_index(i, self._per_shard)
            raise self._corrupt(
                key,
                f"its index gives inner chunk {tuple(int(x) for x in inner)} bytes "
                f"{int(offsets[i])}..{int(offsets[i]) + int(sizes[i])}, beyond the "
                f"{size}-byte file",
            )
        index = _Index(
            identity,
            np.where(empty, -1, offsets.astype(np.int64, casting="unsafe")),
            np.where(empty, 0, sizes.astype(np.int64, casting="unsafe")),
        )
        if time.time() - st.st_mtime_ns / 1e9 >= RACY_SECONDS:
            self._indexes[key] = index  # an older file: a rewrite changes mtime or ctime
        return index

    def _read_shard(self, fd: int, key: str, chunks: list, out: np.ndarray) -> None:
        """Read and decode the ``(linear, inner, outer)`` chunks of the open shard ``key``."""
        index = self._shard_index(fd, key)
        offsets, sizes = index.offsets, index.sizes
        present = []
        for linear, inner, outer in chunks:
            offset = offsets.item(linear)
            if offset < 0:
                out[outer] = self._fill
            else:
                present.append((offset, sizes.item(linear), linear, inner, outer))
        if len(present) == 1:  # a window inside one chunk: no merging to plan
            offset, nbytes, linear, inner, outer = present[0]
            data = os.pread(fd, nbytes, offset)
            if len(data) != nbytes:
                raise self._corrupt(key, "the shard file is shorter than its index says")
            out[outer] = self._decode(key, data, linear)[inner]
            return
        present.sort(key=_first)
        i = 0
        while i < len(present):
            start = present[i][0]
            stop = start + present[i][1]
            j = i + 1
            while j < len(present):
                offset, nbytes = present[j][0], present[j][1]
                if (
                    offset - stop > MERGE_GAP
                    or max(stop, offset + nbytes) - start > MAX_MERGED_READ
                ):
                    break
                stop = max(stop, offset + nbytes)
                j += 1
            data = os.pread(fd, stop - start, start)
            if len(data) != stop - start:
                raise self._corrupt(key, "the shard file is shorter than its index says")
            view = memoryview(data) if j > i + 1 else data
            for offset, nbytes, linear, inner, outer in present[i:j]:
                chunk = view[offset - start : offset - start + nbytes] if j > i + 1 else view
                out[outer] = self._decode(key, chunk, linear)[inner]
            i = j

    # -- decoding ------------------------------------------------------------------------------
    def _decode(self, key: str, data: Any, linear: int | None = None) -> np.ndarray:
        """One stored chunk's bytes -> the chunk (stored byte order, chunk shape).

        ``key`` is the chunk's store key (of its shard, with ``linear`` the inner chunk's
        C-order position in it).
        """
        chain = self._chain
        exact = chain.nbytes
        most = self._most
        try:
            for kind, codec, slack in chain.steps:
                # the innermost compressor yields exactly the chunk; one under another may
                # carry the slack of checked_codecs.decoded_bound
                bound = exact + slack if exact + slack < most else most
                if kind == "blosc":
                    data = checked_codecs.blosc_decode(codec, data, bound, exact)
                elif kind == "zstd":
                    data = checked_codecs.zstd_decode(codec, data, bound, exact)
                else:
                    wbits = 31 if kind == "gzip" else 15
                    data = checked_codecs.inflate(data, bound, wbits, exact)
        except CorruptChunkError as err:
            raise self._corrupt(key, str(err), linear) from err
        except checked_codecs.DECODE_ERRORS as err:
            raise self._corrupt(key, f"{type(err).__name__}: {err}", linear) from err
        if len(data) != exact:
            reason = f"it decodes to {len(data)} bytes, the chunk holds {exact}"
            raise self._corrupt(key, reason, linear)
        return np.frombuffer(data, dtype=chain.stored_dtype).reshape(chain.chunk_shape)


def _first(item: tuple) -> Any:
    return item[0]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _build(array: zarr.Array) -> LocalChunkReader | None:
    meta = array.metadata
    if getattr(meta, "zarr_format", None) != 3 or getattr(meta, "storage_transformers", ()):
        return None
    root = _store_root(array.store_path.store)
    if root is None:
        return None
    config = compat.array_config(array)
    if config is None or _value(config.order) != "C":
        return None
    if getattr(config, "read_missing_chunks", True) is not True:
        return None
    grid = compat.regular_chunk_shape(meta)
    if grid is None:
        return None
    try:
        dtype = meta.data_type.to_native_dtype()
    except (AttributeError, TypeError, ValueError):
        return None
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or dtype.fields:
        return None
    if dtype.subdtype is not None or not dtype.itemsize:
        return None
    codecs = tuple(meta.codecs)
    grid = tuple(int(n) for n in grid)
    if len(codecs) == 1 and type(codecs[0]) is ShardingCodec:
        sharding = codecs[0]
        inner_shape = tuple(int(n) for n in sharding.chunk_shape)
        if len(inner_shape) != len(grid) or any(c <= 0 or s % c for s, c in zip(grid, inner_shape)):
            return None
        index_codecs = tuple(sharding.index_codecs)
        if not index_codecs or type(index_codecs[0]) is not BytesCodec:
            return None
        if _value(index_codecs[0].endian) != "little":
            return None
        crc = len(index_codecs) == 2 and type(index_codecs[1]).__name__ == "Crc32cCodec"
        if len(index_codecs) > 2 or (len(index_codecs) == 2 and not crc):
            return None
        if crc and _crc32c is None:
            return None
        location = _value(sharding.index_location)
        if location not in ("start", "end"):
            return None
        chain = _chain(sharding.codecs, dtype, inner_shape)
        if chain is None:
            return None
        return LocalChunkReader(array, root, chain, grid, (location, crc))
    chain = _chain(codecs, dtype, grid)
    if chain is None:
        return None
    return LocalChunkReader(array, root, chain, None, None)


class _Unsupported:
    """Marks an array (one version of its metadata) that zarr-python reads."""

    def __init__(self, array: zarr.Array) -> None:
        self._metadata = array.metadata
        self._store = array.store_path.store

    def matches(self, array: zarr.Array) -> bool:
        return array.metadata is self._metadata and array.store_path.store is self._store

    def read(self, key: Any) -> None:
        return None


def reader_for(array: zarr.Array, previous: Any = None) -> LocalChunkReader | _Unsupported:
    """The lean reader of ``array``, reusing ``previous`` while it still matches.

    Parameters
    ----------
    array : zarr.Array
        An open array.
    previous : LocalChunkReader or None
        What an earlier call returned for the same array (its shard indexes are kept).

    Returns
    -------
    LocalChunkReader or object
        An object with ``read(key) -> numpy.ndarray | None``; its ``read`` always returns None
        (zarr-python reads) when the array's store or codecs are not supported.
    """
    if previous is not None and previous.matches(array):
        return previous
    try:
        reader = _build(array)
    except (AttributeError, TypeError, ValueError):  # another zarr-python layout: use zarr
        reader = None
    return reader if reader is not None else _Unsupported(array)
