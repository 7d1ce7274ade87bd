"""Decompressors that refuse to inflate a chunk beyond its array's declared chunk shape.

zarr-python decodes a chunk with whatever size the stored bytes claim: a 32 KB zstd frame whose
header declares 1 GiB allocates 1 GiB, and so does a Blosc header, while gzip/zlib inflate
without any bound. Stored bytes are untrusted input, so inside zarr's codec pipeline (the
array's metadata keeps zarr's own codec classes) the compressors are replaced by subclasses that
check the size first:

* **zstd** (``zstd``, ``numcodecs.zstd``): the frame header's content size is read before
  decompressing; a frame without one is decoded into a buffer of exactly the chunk's size.
* **Blosc** (``blosc``, ``numcodecs.blosc``): the header's uncompressed size is checked.
* **gzip / zlib** (``gzip``, ``numcodecs.gzip``, ``numcodecs.zlib``): inflated with a bounded
  ``zlib.decompressobj`` (``max_length``), so no more than the bound is ever produced.

The bound is the chunk's byte size (shape x item size) plus 1/8 and 64 KiB of slack (a
compressor may sit on top of another one), and never more than ``limits.max_chunk_bytes``; for
variable-length data (text) it is ``max_chunk_bytes``. A chunk over the bound raises
:class:`~nwbzarr.errors.CorruptChunkError`; the array path and chunk key are added by
:func:`locate_corrupt_chunk`, which the lazy views call when a read fails.

Every use of zarr internals (codec classes, the pipeline registry, chunk specs) goes through
:mod:`nwbzarr.compat` and is feature-checked: on a zarr-python without them :func:`install`
does nothing and reads behave as plain zarr-python.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import numpy as np

from .. import compat, limits
from ..errors import CorruptChunkError

__all__ = [
    "install",
    "decoded_bound",
    "zstd_content_size",
    "zstd_decode",
    "blosc_decode",
    "inflate",
    "locate_corrupt_chunk",
    "DECODE_ERRORS",
]

#: Exceptions a decompressor or deserializer raises on bytes it cannot decode.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    CorruptChunkError,
    RuntimeError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    zlib.error,
    OSError,  # gzip.BadGzipFile
)

_ZSTD_MAGIC = 0xFD2FB528
_INSTALLED = False


def decoded_bound(chunk_spec: Any) -> tuple[int, int | None]:
    """The most bytes a compressor of a chunk may produce, and the chunk's exact byte size.

    Parameters
    ----------
    chunk_spec : zarr.core.array_spec.ArraySpec
        The spec zarr passes to a codec (shape and data type of the decoded chunk).

    Returns
    -------
    tuple
        ``(bound, exact)``: ``exact`` is shape x item size, or None for variable-length data.
    """
    most = limits.current().max_chunk_bytes
    try:
        itemsize = chunk_spec.dtype.to_native_dtype().itemsize
        kind = chunk_spec.dtype.to_native_dtype().kind
        exact = math.prod(chunk_spec.shape) * itemsize if kind not in "OT" and itemsize else None
    except (AttributeError, TypeError, ValueError):
        exact = None
    if exact is None:
        return most, None
    return min(most, exact + exact // 8 + 65536), exact


def _too_big(what: str, size: int | None, bound: int, exact: int | None) -> CorruptChunkError:
    shape = f"the chunk holds {exact} bytes" if exact is not None else "no chunk shape bound"
    said = f"declares {size} decoded bytes" if size is not None else "inflates to"
    return CorruptChunkError(
        f"{what} {said}, more than the {bound} allowed ({shape}; "
        f"limit max_chunk_bytes={limits.current().max_chunk_bytes}, "
        f"{limits.env_name('max_chunk_bytes')})"
    )


def _as_bytes(chunk_bytes: Any) -> bytes | memoryview:
    data = chunk_bytes.as_numpy_array() if hasattr(chunk_bytes, "as_numpy_array") else chunk_bytes
    return memoryview(np.ascontiguousarray(data)).cast("B")


def zstd_content_size(data: bytes | memoryview) -> int | None:
    """The decoded size a zstd frame header declares, or None if it declares none.

    Raises
    ------
    CorruptChunkError
        If the bytes do not start with a zstd frame header.
    """
    if len(data) < 5 or struct.unpack_from("<I", data, 0)[0] != _ZSTD_MAGIC:
        raise CorruptChunkError("the bytes are not a zstd frame (bad magic number)")
    fhd = data[4]
    fcs_flag, single = fhd >> 6, (fhd >> 5) & 1
    dict_size = (0, 1, 2, 4)[fhd & 3]
    pos = 5 + (0 if single else 1) + dict_size
    fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if fcs_len == 0:
        return None
    if len(data) < pos + fcs_len:
        raise CorruptChunkError("the zstd frame header is truncated")
    raw = bytes(data[pos : pos + fcs_len])
    size = int.from_bytes(raw, "little")
    return size + 256 if fcs_len == 2 else size


def zstd_decode(codec: Any, data: Any, bound: int, exact: int | None = None) -> np.ndarray:
    """Decode a zstd frame with numcodecs ``codec``, refusing more than ``bound`` bytes.

    Parameters
    ----------
    codec : numcodecs.zstd.Zstd
        The decoder.
    data : bytes-like
        The stored frame.
    bound : int
        Most decoded bytes accepted.
    exact : int, optional
        The decoded size when known (a frame that declares no size is decoded into exactly
        this many bytes; without it such a frame is refused).

    Raises
    ------
    CorruptChunkError
        Not a zstd frame, or it declares (or holds) more than ``bound`` bytes.
    """
    size = zstd_content_size(data)
    if size is not None and size > bound:
        raise _too_big("the zstd frame header", size, bound, exact)
    if size is None:
        if exact is None:
            raise CorruptChunkError(
                "the zstd frame declares no content size and the chunk has no fixed byte size "
                "to decode it into"
            )
        out = np.empty(exact, dtype="u1")
        codec.decode(data, out=out)
        return out
    return np.frombuffer(codec.decode(data), dtype="u1")


def blosc_decode(codec: Any, data: Any, bound: int, exact: int | None = None) -> np.ndarray:
    """Decode a Blosc buffer with numcodecs ``codec`` if its header declares <= ``bound`` bytes.

    Raises
    ------
    CorruptChunkError
        The header is truncated, declares more than ``bound`` decoded bytes, or more
        compressed bytes than are stored.
    """
    if len(data) < 16:
        raise CorruptChunkError(f"the Blosc header is truncated ({len(data)} bytes)")
    nbytes, _blocksize, cbytes = struct.unpack_from("<III", data, 4)
    if nbytes > bound:
        raise _too_big("the Blosc header", nbytes, bound, exact)
    if cbytes > len(data):
        raise CorruptChunkError(
            f"the Blosc header declares {cbytes} compressed bytes, but {len(data)} are stored"
        )
    return np.frombuffer(codec.decode(data), dtype="u1")


def inflate(data: Any, bound: int, wbits: int = 15, exact: int | None = None) -> np.ndarray:
    """Inflate zlib (``wbits`` 15) or gzip (31; several members) data, never past ``bound``.

    Raises
    ------
    CorruptChunkError
        The stream inflates to more than ``bound`` bytes, or is truncated.
    zlib.error
        The bytes are not a deflate stream.
    """
    what = "gzip" if wbits == 31 else "zlib"
    pieces: list[bytes] = []
    size = 0
    rest: Any = data
    while True:
        d = zlib.decompressobj(wbits)
        piece = d.decompress(rest, bound + 1 - size)
        size += len(piece)
        pieces.append(piece)
        if size > bound or d.unconsumed_tail:
            raise _too_big(f"the {what} stream", None, bound, exact)
        if not d.eof:
            raise CorruptChunkError(f"the {what} stream is truncated")
        rest = d.unused_data
        if wbits != 31 or not rest.strip(b"\0"):  # gzip: a further member may follow
            break
    out = pieces[0] if len(pieces) == 1 else b"".join(pieces)  # one member: no copy
    return np.frombuffer(out, dtype="u1")


def _zstd_decode(codec: Any, data: memoryview, chunk_spec: Any) -> np.ndarray:
    return zstd_decode(codec, data, *decoded_bound(chunk_spec))


def _blosc_decode(codec: Any, data: memoryview, chunk_spec: Any) -> np.ndarray:
    return blosc_decode(codec, data, *decoded_bound(chunk_spec))


def _inflate(data: memoryview, chunk_spec: Any, wbits: int) -> np.ndarray:
    bound, exact = decoded_bound(chunk_spec)
    return inflate(data, bound, wbits, exact)


def _checked(base: type, decode: Any) -> type:
    """A subclass of codec class ``base`` whose chunk decoding goes through ``decode``."""

    def decode_sync(codec: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        out = decode(codec, _as_bytes(chunk_bytes), chunk_spec)
        return chunk_spec.prototype.buffer.from_array_like(out)

    name = "Checked" + base.__name__
    cls = compat.checked_codec_class(base, decode_sync, __name__, name)
    globals()[name] = cls  # importable by name: arrays (and their pipelines) pickle
    return cls


def _decoder(kind: str, inner: Any) -> Any:
    """``decode(codec, data, chunk_spec)`` for a compressor ``kind`` (see compat)."""
    if kind == "zstd":
        return lambda c, d, s: _zstd_decode(inner(c), d, s)
    if kind == "blosc":
        return lambda c, d, s: _blosc_decode(inner(c), d, s)
    wbits = 31 if kind == "gzip" else 15
    return lambda c, d, s: _inflate(d, s, wbits)


def _codec_table() -> dict[type, type]:
    """Codec class -> its checked subclass, for the compressor classes this zarr-python has.

    A class is left out (decoded as zarr does) when it lacks the numcodecs decoder attribute
    the check calls (see :func:`nwbzarr.compat.compressor_classes`).
    """
    return {
        base: _checked(base, _decoder(kind, inner))
        for base, kind, inner in compat.compressor_classes()
    }


def _as_checked(codec: Any, table: dict[type, type]) -> Any:
    """``codec`` with its class swapped for the checked subclass (same fields and state)."""
    checked = table.get(type(codec))
    return codec if checked is None else compat.with_codec_class(codec, checked)


def install() -> None:
    """Make zarr-python decode zstd, Blosc, gzip and zlib chunks with size checks.

    Registers a codec pipeline (zarr's own, with the checked decompressors) and selects it in
    ``zarr.config`` (``codec_pipeline.path``; process-wide, for arrays opened after the call).
    Only the pipeline's own copies of the compressors are swapped: an array's metadata (and so
    ``array.compressors``, equality of codecs, what is written) keeps zarr's classes.
    Idempotent; does nothing on a zarr-python without these hooks, or when another pipeline
    than zarr's default was configured.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    table = _codec_table()
    name = "CheckedCodecPipeline"
    cls = compat.install_codec_pipeline(
        lambda codecs: [_as_checked(c, table) for c in codecs], __name__, name
    )
    if cls is None:
        return
    globals()[name] = cls  # importable by the name zarr's config holds
    _INSTALLED = True


def locate_corrupt_chunk(array: Any, selection: Any, limit: int = 4096) -> tuple[str, str] | None:
    """Find the stored chunk of ``array[selection]`` that does not decode.

    Each chunk (or shard) the selection touches is fetched and decoded alone; the first whose
    decoding fails is returned. Called after a read failed, so a healthy read costs nothing.

    Parameters
    ----------
    array : zarr.Array
        The array whose read failed.
    selection : Any
        The selection that was read (basic indexing).
    limit : int
        Most chunks tried.

    Returns
    -------
    tuple or None
        ``(chunk key, reason)``, or None if every chunk decodes (the failure was elsewhere) or
        the chunks cannot be enumerated on this zarr-python.
    """
    try:
        checks = compat.chunk_decoders(array, selection, limit)
    except Exception:  # noqa: BLE001 - any failure: no location, the caller re-raises
        return None

    async def first_bad() -> tuple[str, str] | None:
        for key, decode in checks:
            try:
                await decode()
            except DECODE_ERRORS as err:
                return key, f"{type(err).__name__}: {err}"
        return None

    try:
        return compat.sync(first_bad())
    except Exception:  # noqa: BLE001 - the store failed too: let the caller's error stand
        return None


def __getattr__(name: str) -> Any:
    """Install the pipeline on first lookup of its class (e.g. by ``pickle`` in a Dask worker).

    A zarr array pickled in a process where :func:`install` ran names
    ``nwbzarr.storage.checked_codecs.CheckedCodecPipeline``; a fresh process importing this
    module has not created that class yet, so it is created on demand.
    """
    if name.startswith("Checked") and not _INSTALLED:
        install()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
