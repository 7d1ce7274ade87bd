"""Chunk, shard and codec policy for new Zarr v3 arrays (pure rules, no I/O).

Policy (documented in ``docs/storage.md``):

* An array whose uncompressed size is at most ``chunk_bytes`` (default 256 KiB) is one chunk and
  is not sharded: small metadata arrays stay one object each.
* A larger array is cut into chunks of about ``chunk_bytes``. Trailing dimensions are tiled
  first — at most :data:`CHANNELS_PER_CHUNK` (64) columns of a 2-D (time x channel) array, at
  most :data:`PIXELS_PER_CHUNK` (128) along each trailing axis of a 3-D or higher array (time x
  height x width) — and the leading (time) dimension takes the rest, so a window of a few
  channels, one channel's whole trace or one pixel's trace decodes a small part of the array;
  a tile too big for one chunk is halved along its largest trailing axis.
* Chunks are grouped into shards of up to ``shard_bytes`` (default 128 MiB) that span the
  trailing dimensions and a run of the leading dimension, so a 100 GB series is ~400 shard
  objects and a writer can fill one shard from one contiguous block of rows.
* Numeric arrays are compressed with Blosc (lz4, level 5, bit shuffle): lossless and the
  cheapest to encode and decode of the candidates measured for NWB data (benchmarks/README.md:
  on the ephys benchmark 0.55 of the raw bytes, like zstd level 3 with byte shuffle's 0.54, at
  0.3x its encode and 0.6x its decode CPU); text and compound arrays use zarr-python's default
  codecs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import UnsupportedCodecError

MiB = 1024 * 1024
DEFAULT_CHUNK_BYTES = 256 * 1024
DEFAULT_SHARD_BYTES = 128 * MiB
DEFAULT_CODEC = "blosc-lz4"
#: Bytes per element assumed for variable-length text when sizing chunks.
TEXT_ITEMSIZE = 16
#: Most columns per chunk of a 2-D (time x channel) array.
CHANNELS_PER_CHUNK = 64
#: Most elements per chunk along each trailing axis of an array of 3 or more dimensions.
PIXELS_PER_CHUNK = 128
CODEC_NAMES = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", "none")


def choose_chunks(
    shape: Sequence[int], itemsize: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """Return a chunk shape of at most about ``chunk_bytes`` uncompressed bytes.

    The rule is the module's policy: the whole array when it fits, else trailing dimensions
    tiled (64 columns for 2-D, 128 per trailing axis for 3-D and more) and the leading
    dimension cut to fill ``chunk_bytes``.

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
    cap = CHANNELS_PER_CHUNK if len(chunks) == 2 else PIXELS_PER_CHUNK
    chunks[1:] = [min(c, cap) for c in chunks[1:]]
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
    while len(counts) > 1 and math.prod(counts) * chunk_nbytes > shard_bytes:
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


#: Shard request meaning "follow the policy" (:func:`choose_shards`; may leave one-chunk
#: arrays and text unsharded); the writer's default.
SHARDS_POLICY = "auto"
#: Shard request meaning "sharded, shape from the policy": ``ZarrDataIO(shards="auto")``.
SHARDS_REQUIRED = "sharded"


def resolve_shards(
    request: Sequence[int] | str | None,
    shape: Sequence[int],
    chunks: Sequence[int],
    itemsize: int,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    text: bool = False,
) -> tuple[int, ...] | None:
    """Return the shard shape for a shard request, or None for an unsharded array.

    Parameters
    ----------
    request : tuple of int, None, ``"auto"`` or ``"sharded"``
        A shard shape (returned as a tuple), None (no sharding), :data:`SHARDS_POLICY`
        (``"auto"``: :func:`choose_shards`, text unsharded) or :data:`SHARDS_REQUIRED`
        (``"sharded"``: the policy's shape, or one chunk per shard when the policy would leave
        the array unsharded, text included).
    shape, chunks : sequence of int
        Array (or planned layout) and chunk shapes.
    itemsize : int
        Bytes per element.
    shard_bytes : int
        Target uncompressed shard size in bytes.
    text : bool
        Whether the array holds variable-length text.

    Returns
    -------
    tuple of int or None

    Raises
    ------
    ValueError
        If ``request`` is a string other than the two above.
    """
    if request is None:
        return None
    if isinstance(request, str):
        if request not in (SHARDS_POLICY, SHARDS_REQUIRED):
            raise ValueError(f"unknown shard request {request!r}")
        if request == SHARDS_POLICY and text:
            return None
        shards = choose_shards(shape, chunks, itemsize, max(shard_bytes, 0))
        if shards is None and request == SHARDS_REQUIRED and len(chunks) > 0:
            shards = tuple(int(c) for c in chunks)
        return shards
    return tuple(int(s) for s in request)


def chunks_within(
    shards: Sequence[int], itemsize: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """Return a chunk shape of about ``chunk_bytes`` that divides ``shards`` exactly.

    Used when a shard shape is given without a chunk shape: the policy's chunk for an array of
    the shard's shape (:func:`choose_chunks`), each dimension replaced by the divisor of the
    shard's length closest to it (by ratio; the smaller one on a tie).

    Parameters
    ----------
    shards : sequence of int
        The shard shape.
    itemsize : int
        Bytes per element.
    chunk_bytes : int
        Target uncompressed chunk size in bytes.

    Returns
    -------
    tuple of int
    """
    target = choose_chunks(shards, itemsize, chunk_bytes)
    return tuple(_nearest_divisor(max(1, int(s)), int(c)) for s, c in zip(shards, target))


def _nearest_divisor(n: int, target: int) -> int:
    """The divisor of ``n`` nearest to ``target`` by ratio (the smaller one on a tie)."""
    divisors = set()
    i = 1
    while i * i <= n:
        if n % i == 0:
            divisors.update((i, n // i))
        i += 1
    target = max(1, target)
    return min(sorted(divisors), key=lambda d: max(d / target, target / d))


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
        return [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle", typesize=itemsize)]
    if codec == "zstd":
        return [ZstdCodec(level=3)]
    return [GzipCodec(level=4)]
