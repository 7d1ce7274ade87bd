"""Zarr -> HDF5 without re-compressing: stored gzip chunks re-framed as HDF5 deflate chunks.

When a local Zarr v3 array's chunk codecs are ``bytes`` (little-endian or one-byte values),
optionally ``numcodecs.shuffle`` with the element size, then optionally ``gzip``, and the
HDF5 dataset was created with the same chunk shape, shuffle and deflate level, each stored
Zarr chunk is already an HDF5 chunk up to the compressed stream's framing: the Zarr ``gzip``
codec writes a gzip stream, HDF5's deflate filter reads a zlib stream, and both wrap the same
raw deflate data. A chunk is therefore copied by inflating it once (to check its length and
compute the zlib Adler-32) and re-framing its deflate data, written with
``write_direct_chunk``: a fraction of the cost of compressing it again. Inflating runs in a
small thread pool (zlib releases the GIL); at most a few chunks are in memory at once.

Shards are read in the Zarr v3 ``sharding_indexed`` layout (index of ``uint64`` offset and
length per inner chunk, C order, little-endian, then its CRC-32C, at the end or the start of
the shard); a chunk absent from the store or the index stays unwritten in HDF5, which reads
it as the fill value the dataset keeps. Anything else (remote or translated stores, other
codecs, a dataset hdmf created differently) is copied through values by the caller.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptChunkError

__all__ = ["RawChunks", "raw_chunks", "copy_raw"]

_EMPTY = 2**64 - 1
_ZLIB_HEADER = b"\x78\x9c"  # deflate, 32 KiB window, default level: (0x789c % 31) == 0
_WORKERS = 2


@dataclass(frozen=True)
class RawChunks:
    """Where the stored chunks of one Zarr array are and how they map to HDF5 chunks.

    Attributes
    ----------
    root : pathlib.Path
        The array's directory.
    chunks : tuple of int
        Chunk shape (inner chunk shape of a sharded array), the HDF5 chunk shape.
    shards : tuple of int or None
        Shard shape (None: each chunk is its own file).
    index_at_end : bool
        Where a shard's index lies.
    shuffle : bool
        Whether the chunks are byte-shuffled (HDF5 shuffle).
    level : int or None
        Gzip level (None: uncompressed).
    encode_key : callable
        Chunk (or shard) grid coordinates -> key relative to ``root``.
    """

    root: Path
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    index_at_end: bool
    shuffle: bool
    level: int | None
    encode_key: Callable[[tuple[int, ...]], str]


def _plain_codecs(codecs: list[dict], itemsize: int) -> tuple[bool, int | None] | None:
    """``(shuffle, gzip level)`` if ``codecs`` are bytes [+ shuffle] [+ gzip], else None."""
    if not codecs or codecs[0].get("name") != "bytes":
        return None
    endian = (codecs[0].get("configuration") or {}).get("endian")
    if itemsize > 1 and endian != "little":
        return None
    rest = codecs[1:]
    shuffle = False
    if rest and rest[0].get("name") == "numcodecs.shuffle":
        size = (rest[0].get("configuration") or {}).get("elementsize")
        if size != itemsize:
            return None
        shuffle, rest = True, rest[1:]
    level = None
    if rest and rest[0].get("name") == "gzip":
        level, rest = int((rest[0].get("configuration") or {}).get("level", 5)), rest[1:]
    if rest:
        return None
    return shuffle, level


def raw_chunks(array: Any) -> RawChunks | None:
    """A :class:`RawChunks` if ``array``'s stored chunks can be written to HDF5 as they are.

    Parameters
    ----------
    array : zarr.Array
        A numeric Zarr v3 array in a local directory store.

    Returns
    -------
    RawChunks or None
        None for a store that is not a plain local directory, a dtype that is not
        little-endian, or codecs other than bytes [+ numcodecs.shuffle] [+ gzip].
    """
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "biuf" or (dtype.itemsize > 1 and dtype.byteorder == ">"):
        return None
    root = getattr(array.store, "root", None)
    if root is None:
        return None
    root = Path(root) / array.path
    if not (root / "zarr.json").is_file():
        return None  # translated (legacy v2) or virtual layout: keys are not files here
    metadata = array.metadata
    encode = getattr(metadata, "encode_chunk_key", None)
    codecs = getattr(metadata, "codecs", None)
    if encode is None or codecs is None:
        return None
    dicts = [c.to_dict() for c in codecs]
    chunks = tuple(int(c) for c in array.chunks)
    shards = None
    at_end = True
    if len(dicts) == 1 and dicts[0].get("name") == "sharding_indexed":
        config = dicts[0].get("configuration") or {}
        index = [c if isinstance(c, dict) else c.to_dict() for c in config.get("index_codecs", ())]
        if [c.get("name") for c in index] != ["bytes", "crc32c"]:
            return None
        if (index[0].get("configuration") or {}).get("endian", "little") != "little":
            return None
        at_end = str(config.get("index_location", "end")).split(".")[-1].lower() == "end"
        shards = tuple(int(s) for s in array.shards)  # the stored grid (chunks: the inner)
        chunks = tuple(int(c) for c in config.get("chunk_shape", ()))
        dicts = [c if isinstance(c, dict) else c.to_dict() for c in config.get("codecs", ())]
        if len(chunks) != len(shards) or any(s % c for s, c in zip(shards, chunks, strict=True)):
            return None
    plain = _plain_codecs(dicts, dtype.itemsize)
    if plain is None:
        return None
    return RawChunks(root, chunks, shards, at_end, plain[0], plain[1], encode)


def matches(dset: Any, plan: RawChunks, dtype: np.dtype) -> bool:
    """Whether the HDF5 dataset hdmf created stores chunks exactly as ``plan`` has them."""
    if dset.chunks != plan.chunks or np.dtype(dset.dtype) != dtype.newbyteorder("<"):
        return False
    expected = (1 if plan.shuffle else 0) + (1 if plan.level is not None else 0)
    if len(dset._filters) != expected or bool(dset.shuffle) != plan.shuffle:
        return False
    if plan.level is None:
        return dset.compression is None
    return dset.compression == "gzip" and dset.compression_opts == plan.level


def _shard_chunks(
    path: Path, plan: RawChunks, per_shard: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], bytes]]:
    """(inner chunk grid position within the shard, stored bytes) of one shard file."""
    count = math.prod(per_shard)
    size = count * 16 + 4
    with open(path, "rb") as f:
        f.seek(0, 2)
        total = f.tell()
        if total < size:
            raise CorruptChunkError(f"{path}: shard of {total} bytes is shorter than its index")
        f.seek(total - size if plan.index_at_end else 0)
        raw = f.read(size)
        index = np.frombuffer(raw[:-4], dtype="<u8").reshape(count, 2)
        _check_crc32c(raw[:-4], raw[-4:], path)
        for flat in range(count):
            offset, nbytes = int(index[flat, 0]), int(index[flat, 1])
            if offset == _EMPTY and nbytes == _EMPTY:
                continue
            if offset + nbytes > total:
                raise CorruptChunkError(f"{path}: inner chunk {flat} lies past the shard's end")
            f.seek(offset)
            yield tuple(int(i) for i in np.unravel_index(flat, per_shard)), f.read(nbytes)


def _check_crc32c(data: bytes, stored: bytes, path: Path) -> None:
    """Check the shard index checksum (CRC-32C, little-endian), as zarr does when reading."""
    try:
        from google_crc32c import value as crc32c  # what zarr's crc32c codec uses
    except ImportError:  # pragma: no cover  (a dependency of zarr)
        return
    if struct.pack("<I", crc32c(data)) != stored:
        raise CorruptChunkError(f"{path}: shard index checksum mismatch; the store is damaged")


def _gzip_to_zlib(stored: bytes, nbytes: int, where: str) -> bytes:
    """Re-frame one gzip member as a zlib stream (same deflate data), checking its length."""
    if len(stored) < 18 or stored[:3] != b"\x1f\x8b\x08":
        raise CorruptChunkError(f"{where}: chunk is not a gzip stream")
    flags = stored[3]
    pos = 10
    if flags & 4:  # FEXTRA
        pos += 2 + int.from_bytes(stored[pos : pos + 2], "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            pos = stored.index(b"\x00", pos) + 1
    if flags & 2:  # FHCRC
        pos += 2
    inflater = zlib.decompressobj(-15)
    try:
        values = inflater.decompress(stored[pos:])
    except zlib.error as exc:
        raise CorruptChunkError(f"{where}: gzip chunk does not inflate ({exc})") from exc
    trailer = inflater.unused_data
    if not inflater.eof or len(trailer) != 8 or len(values) != nbytes:
        raise CorruptChunkError(
            f"{where}: gzip chunk holds {len(values)} bytes, expected {nbytes} in one member"
        )
    if struct.unpack("<I", trailer[:4])[0] != zlib.crc32(values):
        raise CorruptChunkError(f"{where}: gzip chunk CRC-32 mismatch; the store is damaged")
    deflate = stored[pos : len(stored) - 8]
    return _ZLIB_HEADER + deflate + struct.pack(">I", zlib.adler32(values))


def _stored_chunks(
    plan: RawChunks, shape: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], bytes]]:
    """(chunk grid position in the array, stored bytes) of every stored chunk, in order."""
    grid = tuple(math.ceil(s / c) for s, c in zip(shape, plan.chunks, strict=True))
    if plan.shards is None:
        for pos in product(*(range(n) for n in grid)):
            path = plan.root / plan.encode_key(pos)
            if path.is_file():
                yield pos, path.read_bytes()
        return
    per_shard = tuple(s // c for s, c in zip(plan.shards, plan.chunks, strict=True))
    outer = tuple(math.ceil(s / c) for s, c in zip(shape, plan.shards, strict=True))
    for spos in product(*(range(n) for n in outer)):
        path = plan.root / plan.encode_key(spos)
        if not path.is_file():
            continue
        for inner, data in _shard_chunks(path, plan, per_shard):
            pos = tuple(s * k + i for s, k, i in zip(spos, per_shard, inner, strict=True))
            if all(p < n for p, n in zip(pos, grid, strict=True)):
                yield pos, data


def copy_raw(
    dset: Any,
    plan: RawChunks,
    shape: tuple[int, ...],
    itemsize: int,
    progress: Callable[[int], Any] | None = None,
) -> None:
    """Write every stored chunk of the Zarr array of ``plan`` into ``dset`` as it is stored.

    Parameters
    ----------
    dset : h5py.Dataset
        The destination, created with :func:`matches` true.
    plan : RawChunks
        From :func:`raw_chunks`.
    shape : tuple of int
        The array's shape.
    itemsize : int
        Bytes per element.
    progress : callable, optional
        Receives the bytes of values (within the array's bounds) of each chunk written,
        absent chunks included, so the bar reaches the array's size.

    Raises
    ------
    CorruptChunkError
        If a stored chunk or shard index is damaged (the message names the file).
    """
    nbytes = math.prod(plan.chunks) * itemsize
    where = str(plan.root)

    def clipped(pos: tuple[int, ...]) -> int:
        sizes = [min(c, s - p * c) for p, c, s in zip(pos, plan.chunks, shape, strict=True)]
        return math.prod(sizes) * itemsize

    def encode(item: tuple[tuple[int, ...], bytes]) -> tuple[tuple[int, ...], bytes]:
        pos, data = item
        if plan.level is None:
            if len(data) != nbytes:
                raise CorruptChunkError(f"{where}: chunk {pos} holds {len(data)} bytes")
            return pos, data
        return pos, _gzip_to_zlib(data, nbytes, f"{where} chunk {pos}")

    written = 0
    with ThreadPoolExecutor(_WORKERS) as pool:
        pending: list = []
        for item in _stored_chunks(plan, shape):
            pending.append(pool.submit(encode, item))
            if len(pending) >= 2 * _WORKERS:
                written += _write(dset, pending.pop(0).result(), plan, clipped, progress)
        for future in pending:
            written += _write(dset, future.result(), plan, clipped, progress)
    rest = math.prod(shape) * itemsize - written
    if progress is not None and rest > 0:
        progress(rest)  # chunks never stored: read as the fill value


def _write(dset: Any, item: tuple, plan: RawChunks, clipped: Callable, progress: Any) -> int:
    pos, data = item
    offset = tuple(p * c for p, c in zip(pos, plan.chunks, strict=True))
    dset.id.write_direct_chunk(offset, data, filter_mask=0)
    done = clipped(pos)
    if progress is not None:
        progress(done)
    return done
