"""Chunk, shard and codec policy for new Zarr v3 arrays (pure rules, no I/O).

Policy (documented in ``docs/storage.md``):

* An array whose uncompressed size is at most ``chunk_bytes`` (default 4 MiB) is one chunk and
  is not sharded: small metadata arrays stay one object each.
* A larger array is cut into chunks of about ``chunk_bytes``, splitting the leading (time)
  dimension first and keeping trailing dimensions whole while a single row fits.
* Chunks are grouped into shards of up to ``shard_bytes`` (default 128 MiB) that span the
  trailing dimensions and a run of the leading dimension, so a 100 GB series is ~400 shard
  objects and a writer can fill one shard from one contiguous block of rows.
* Numeric arrays are compressed with Blosc (zstd, level 3, byte shuffle): lossless, fast, and
  multithreaded; text and compound arrays use zarr-python's default codecs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import UnsupportedCodecError

MiB = 1024 * 1024
DEFAULT_CHUNK_BYTES = 4 * MiB
DEFAULT_SHARD_BYTES = 128 * MiB
DEFAULT_CODEC = "blosc-zstd"
CODEC_NAMES = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", "none")


def choose_chunks(
    shape: Sequence[int], itemsize: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """Return a chunk shape of at most about ``chunk_bytes`` uncompressed bytes.

    Parameters
    ----------
    shape : sequence of int
        Array shape; zero-length dimensions are treated as length 1.
    itemsize : int
        Bytes per element (use 16 for variable-length text as an estimate).
    chunk_bytes : int
        Target uncompressed chunk size in bytes.

    Returns
    -------
    tuple of int
        The chunk shape (``()`` for a scalar).
    """
    if len(shape) == 0:
        return ()
    chunks = [max(1, int(s)) for s in shape]
    itemsize = max(1, int(itemsize))
    if math.prod(chunks) * itemsize <= chunk_bytes:
        return tuple(chunks)
    row = math.prod(chunks[1:]) * itemsize
    if row <= chunk_bytes:
        chunks[0] = max(1, min(chunks[0], chunk_bytes // row))
        return tuple(chunks)
    chunks[0] = 1
    # a single leading row is too big: halve the largest trailing dimension until it fits
    while math.prod(chunks) * itemsize > chunk_bytes:
        axis = max(range(1, len(chunks)), key=lambda i: chunks[i])
        if chunks[axis] == 1:
            break
        chunks[axis] = math.ceil(chunks[axis] / 2)
    return tuple(chunks)


def choose_shards(
    shape: Sequence[int],
    chunks: Sequence[int],
    itemsize: int,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> tuple[int, ...] | None:
    """Return a shard shape (a multiple of ``chunks``) or None when sharding is not useful.

    Parameters
    ----------
    shape, chunks : sequence of int
        Array and chunk shapes.
    itemsize : int
        Bytes per element.
    shard_bytes : int
        Target uncompressed shard size in bytes; 0 disables sharding.

    Returns
    -------
    tuple of int or None
        None when the array is one chunk or sharding is disabled.
    """
    if not shape or shard_bytes <= 0:
        return None
    nchunks = [math.ceil(max(1, s) / c) for s, c in zip(shape, chunks)]
    if math.prod(nchunks) <= 1:
        return None
    itemsize = max(1, int(itemsize))
    chunk_nbytes = math.prod(chunks) * itemsize
    # span the trailing dimensions, shrinking them (in chunk units) if that alone is too big
    counts = [1] + nchunks[1:]
    while math.prod(counts) * chunk_nbytes > shard_bytes:
        axis = max(range(1, len(counts)), key=lambda i: counts[i])
        if counts[axis] == 1:
            break
        counts[axis] = math.ceil(counts[axis] / 2)
    per_lead = math.prod(counts) * chunk_nbytes
    counts[0] = max(1, min(nchunks[0], shard_bytes // max(1, per_lead)))
    shards = tuple(c * n for c, n in zip(chunks, counts))
    if tuple(shards) == tuple(chunks):
        return None
    return shards


def compressors_for(codec: str, dtype: np.dtype | type) -> list | str:
    """Return the zarr v3 compressor list for a codec name and a storage dtype.

    Parameters
    ----------
    codec : str
        One of :data:`CODEC_NAMES`.
    dtype : numpy.dtype or type
        The array's storage dtype (``str`` for text).

    Returns
    -------
    list or str
        A list of zarr codecs, or ``"auto"`` (zarr-python's default) for text/compound arrays.

    Raises
    ------
    UnsupportedCodecError
        If ``codec`` is not a known name.
    """
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if codec not in CODEC_NAMES:
        raise UnsupportedCodecError(
            f"unknown codec {codec!r}; choose one of {', '.join(CODEC_NAMES)}"
        )
    numeric = dtype is not str and np.dtype(dtype).kind in "biufcmM"
    if not numeric:
        return "auto"
    if codec == "none":
        return []
    itemsize = np.dtype(dtype).itemsize
    shuffle = "shuffle" if itemsize > 1 else "noshuffle"
    if codec == "blosc-zstd":
        return [BloscCodec(cname="zstd", clevel=3, shuffle=shuffle, typesize=itemsize)]
    if codec == "blosc-lz4":
        return [BloscCodec(cname="lz4", clevel=5, shuffle=shuffle, typesize=itemsize)]
    if codec == "zstd":
        return [ZstdCodec(level=3)]
    return [GzipCodec(level=4)]
