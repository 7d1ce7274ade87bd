"""Shards assembled from HDF5's stored chunk bytes, without decoding and re-encoding values.

When an array keeps an HDF5 dataset's chunk shape and its filters are none, ``deflate`` or
``shuffle`` + ``deflate`` (docs/storage.md §6, "Conversion"), each HDF5 chunk is already a
valid Zarr chunk up to the compressed stream's framing: HDF5 writes a zlib stream, the Zarr v3
``gzip`` codec reads a gzip stream, and both wrap the same raw deflate data. A chunk is
therefore copied by inflating it once (to check it and compute the gzip CRC-32 and length) and
re-framing its deflate data, which costs a fraction of compressing it again. Inflating runs in
a thread pool (zlib releases the GIL).

Shards are written in the Zarr v3 ``sharding_indexed`` layout: the inner chunks back to back,
then the index (``uint64`` offset and length per inner chunk, C order, little-endian; an absent
chunk is ``2**64 - 1`` twice) followed by its CRC-32C. A chunk HDF5 never wrote stays absent
(it reads as the fill value, which the array keeps from the source). A chunk whose filter mask
is not zero (HDF5 skipped a filter for it) is read through h5py and encoded again, never
reframed.
"""

from __future__ import annotations

import math
import struct
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import zarr

from ..compat import default_buffer_prototype, enum_value, hdf5_library_lock, sync
from ..errors import CorruptChunkError
from ..formats.hdf5.filters import DEFLATE, SHUFFLE, hdf5_pipeline

__all__ = ["RawPlan", "raw_plan", "copy_raw_rows"]

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown
_EMPTY = np.iinfo(np.uint64).max


@dataclass(frozen=True)
class RawPlan:
    """How HDF5 chunks of one dataset become chunks of one Zarr array.

    Attributes
    ----------
    chunks : tuple of int
        Chunk shape, the same in both.
    shards : tuple of int or None
        Shard shape of the Zarr array (None: each chunk is its own object).
    deflate_level : int or None
        Gzip level of the array (None: uncompressed).
    shuffle : int or None
        Element size of the byte shuffle (None: no shuffle).
    dtype : numpy.dtype
        The HDF5 dataset's dtype (byte order as stored).
    """

    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    deflate_level: int | None
    shuffle: int | None
    dtype: np.dtype


def raw_plan(array: zarr.Array, dset: Any) -> RawPlan | None:
    """Return a :class:`RawPlan` if ``dset``'s stored chunks can be reused by ``array``.

    Parameters
    ----------
    array : zarr.Array
        The destination, created with the storage settings kept from ``dset``.
    dset : h5py.Dataset
        The source.

    Returns
    -------
    RawPlan or None
        None when the chunk shapes, dtypes or codecs differ from the supported mappings
        (no filter, deflate, shuffle + deflate); the caller then copies decoded values.
    """
    from zarr.codecs import BytesCodec, Crc32cCodec, GzipCodec, ShardingCodec

    if dset.chunks is None or tuple(dset.chunks) != tuple(array.chunks):
        return None
    src = np.dtype(dset.dtype)
    if src.newbyteorder("=") != np.dtype(array.dtype).newbyteorder("="):
        return None
    ids = [fid for fid, _flags, _values, _name in hdf5_pipeline(dset)]
    if ids not in ([], [DEFLATE], [SHUFFLE, DEFLATE]):
        return None
    codecs = list(array.metadata.codecs)
    shards = None
    if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
        sharding = codecs[0]
        index = list(sharding.index_codecs)
        if (
            enum_value(sharding.index_location) != "end"
            or len(index) != 2
            or not isinstance(index[0], BytesCodec)
            or index[0].endian is None
            or enum_value(index[0].endian) != "little"
            or not isinstance(index[1], Crc32cCodec)
        ):
            return None
        shards = tuple(array.shards)
        codecs = list(sharding.codecs)
    if not codecs or not isinstance(codecs[0], BytesCodec):
        return None
    endian = "big" if src.byteorder == ">" else "little"
    if src.itemsize > 1 and (codecs[0].endian is None or enum_value(codecs[0].endian) != endian):
        return None
    rest = codecs[1:]
    shuffle = level = None
    if ids and ids[0] == SHUFFLE:
        if not rest or type(rest[0]).__name__ != "Shuffle":
            return None
        shuffle = int(rest[0].codec_config.get("elementsize", 0))
        if shuffle != src.itemsize:
            return None
        rest = rest[1:]
    if DEFLATE in ids:
        if len(rest) != 1 or not isinstance(rest[0], GzipCodec):
            return None
        level = int(rest[0].level)
    elif rest:
        return None
    return RawPlan(tuple(array.chunks), shards, level, shuffle, src)


def copy_raw_rows(
    array: zarr.Array, dset: Any, plan: RawPlan, start: int, stop: int, pool: Executor
) -> int:
    """Write the shards (or chunks) of ``array`` covering leading rows ``[start, stop)``.

    Parameters
    ----------
    array : zarr.Array
        Destination array (its metadata already written).
    dset : h5py.Dataset
        Source dataset.
    plan : RawPlan
        From :func:`raw_plan`.
    start, stop : int
        Leading-row range; ``start`` is a multiple of the shard (or chunk) length and ``stop``
        one too, or the array length.
    pool : concurrent.futures.Executor
        Threads that inflate and re-frame chunks.

    Returns
    -------
    int
        Uncompressed bytes covered (for progress bars).

    Raises
    ------
    ValueError
        If a stored chunk is not a complete zlib stream of the expected length (a corrupt
        source); the message names the dataset and chunk.
    """
    outer = plan.shards or plan.chunks
    grid = [math.ceil(s / o) for s, o in zip(array.shape, outer)]
    lead = range(start // outer[0], math.ceil(stop / outer[0]))
    for coords in product(lead, *[range(g) for g in grid[1:]]):
        if plan.shards is None:
            offset = tuple(c * n for c, n in zip(coords, plan.chunks))
            encoded = pool.submit(_encode_chunk, dset, plan, offset).result()
            _put(array, coords, [encoded] if encoded is not None else [])
        else:
            _put(array, coords, _shard_parts(array, dset, plan, coords, pool))
    rows = min(stop, array.shape[0]) - start
    return rows * math.prod(array.shape[1:]) * plan.dtype.itemsize


def _shard_parts(
    array: zarr.Array, dset: Any, plan: RawPlan, coords: tuple, pool: Executor
) -> list[bytes]:
    per_shard = [s // c for s, c in zip(plan.shards, plan.chunks)]
    nchunks = [math.ceil(s / c) for s, c in zip(array.shape, plan.chunks)]
    jobs = []
    for inner in product(*[range(n) for n in per_shard]):
        chunk = tuple(c * p + i for c, p, i in zip(coords, per_shard, inner))
        if any(c >= n for c, n in zip(chunk, nchunks)):
            jobs.append(None)
            continue
        offset = tuple(c * n for c, n in zip(chunk, plan.chunks))
        jobs.append(pool.submit(_encode_chunk, dset, plan, offset))
    index = np.full((len(jobs), 2), _EMPTY, dtype="<u8")
    parts: list[bytes] = []
    position = 0
    for i, job in enumerate(jobs):
        encoded = job.result() if job is not None else None
        if encoded is None:
            continue
        index[i] = (position, len(encoded))
        position += len(encoded)
        parts.append(encoded)
    if not parts:
        return []
    import google_crc32c

    index_bytes = index.tobytes()
    parts.append(index_bytes + struct.pack("<I", google_crc32c.value(index_bytes)))
    return parts


def _put(array: zarr.Array, coords: tuple, parts: list[bytes]) -> None:
    """Store one shard or chunk object; nothing when it holds no chunk (fill value)."""

    key = array.metadata.chunk_key_encoding.encode_chunk_key(coords)
    key = f"{array.path}/{key}" if array.path else key
    if not parts:
        return  # nothing stored: reads as the fill value
    buffer = default_buffer_prototype().buffer.from_bytes(b"".join(parts))
    sync(array.store.set(key, buffer))


def _encode_chunk(dset: Any, plan: RawPlan, offset: tuple) -> bytes | None:
    """The Zarr bytes of the HDF5 chunk at ``offset`` (element coordinates), None if absent."""

    with hdf5_library_lock():  # HDF5 is not thread-safe; this runs in worker threads
        info = dset.id.get_chunk_info_by_coord(offset)
        if info.byte_offset is None:
            return None
        mask, raw = dset.id.read_direct_chunk(offset)
    nbytes = math.prod(plan.chunks) * plan.dtype.itemsize
    if mask != 0:
        return _encode_values(dset, plan, offset)
    if plan.deflate_level is None:
        if len(raw) != nbytes:
            raise CorruptChunkError(
                f"{dset.name}: HDF5 chunk at {offset} holds {len(raw)} bytes, not {nbytes}"
            )
        return raw
    return _zlib_to_gzip(raw, nbytes, dset.name, offset)


def _zlib_to_gzip(raw: bytes, nbytes: int, name: str, offset: tuple) -> bytes:
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, nbytes + 1)  # bounded: never more than the chunk
    except zlib.error as exc:
        raise CorruptChunkError(
            f"{name}: HDF5 chunk at {offset} is not a valid deflate stream: {exc}"
        ) from None
    if not inflater.eof or inflater.unused_data or len(data) != nbytes or raw[1] & 0x20:
        raise CorruptChunkError(
            f"{name}: chunk at {offset} is not one complete zlib stream of {nbytes} bytes"
        )
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return b"".join((_GZIP_HEADER, memoryview(raw)[2:-4], trailer))


def _encode_values(dset: Any, plan: RawPlan, offset: tuple) -> bytes:
    """Encode a chunk from its values (read through h5py), for chunks with skipped filters."""
    from numcodecs import GZip, Shuffle

    region = tuple(slice(o, min(o + c, s)) for o, c, s in zip(offset, plan.chunks, dset.shape))
    full = np.full(plan.chunks, dset.fillvalue, dtype=plan.dtype)
    full[tuple(slice(0, r.stop - r.start) for r in region)] = dset[region]
    encoded = full.tobytes()
    if plan.shuffle is not None:
        encoded = Shuffle(elementsize=plan.shuffle).encode(encoded)
    if plan.deflate_level is not None:
        encoded = GZip(level=plan.deflate_level).encode(encoded)
    return bytes(encoded)
