"""zarr byte requests (``RangeByteRequest``, ``OffsetByteRequest``, ``SuffixByteRequest``) applied
to values held in memory or to byte ranges of other files.

The one place nwbzarr's stores turn a ``byte_range`` argument into offsets: every store that
serves values itself (:class:`~nwbzarr.virtual.store.ReferenceStore`, the write-back and journal
wrappers, the translating stores, the remote read cache) slices through :func:`slice_bytes`, so
all of them clamp out-of-range requests and refuse unknown request types the same way, with the
error zarr's store conformance suite expects.
"""

from __future__ import annotations

from typing import TypeVar

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest

from .manifest import ByteRange

__all__ = ["byte_range_bounds", "narrow_byte_range", "slice_bytes", "unexpected_byte_range"]

_Sliceable = TypeVar("_Sliceable")


def unexpected_byte_range(byte_range: object) -> TypeError:
    """The error for a ``byte_range`` that is none of zarr's byte request types.

    Parameters
    ----------
    byte_range : object
        What was passed.

    Returns
    -------
    TypeError
        With zarr's wording (``Unexpected byte_range, got ...``), as zarr's own stores raise it.
    """
    return TypeError(f"Unexpected byte_range, got {byte_range!r}.")


def byte_range_bounds(size: int, byte_range: ByteRequest | None) -> tuple[int, int]:
    """``[start, stop)`` of a value of ``size`` bytes selected by ``byte_range``, clamped to it.

    Parameters
    ----------
    size : int
        Length of the value (bytes).
    byte_range : RangeByteRequest, OffsetByteRequest, SuffixByteRequest or None
        The part asked for; None: all of it.

    Returns
    -------
    tuple of int
        ``0 <= start <= stop <= size``.

    Raises
    ------
    TypeError
        ``byte_range`` is not a zarr byte request (:func:`unexpected_byte_range`).
    """
    if byte_range is None:
        return 0, size
    if isinstance(byte_range, RangeByteRequest):
        start, stop = byte_range.start, byte_range.end
    elif isinstance(byte_range, OffsetByteRequest):
        start, stop = byte_range.offset, size
    elif isinstance(byte_range, SuffixByteRequest):
        start, stop = size - byte_range.suffix, size
    else:
        raise unexpected_byte_range(byte_range)
    start = min(max(start, 0), size)
    return start, min(max(stop, start), size)


def slice_bytes(data: _Sliceable, byte_range: ByteRequest | None) -> _Sliceable:
    """The part of ``data`` a zarr ``byte_range`` asks for (``data`` itself for None).

    Parameters
    ----------
    data : bytes, memoryview or zarr Buffer
        Anything with ``len`` and slicing.
    byte_range : RangeByteRequest, OffsetByteRequest, SuffixByteRequest or None
        The part asked for (clamped to ``data``).

    Returns
    -------
    Same type as ``data``.

    Raises
    ------
    TypeError
        ``byte_range`` is not a zarr byte request.
    """
    if byte_range is None:
        return data
    start, stop = byte_range_bounds(len(data), byte_range)  # type: ignore[arg-type]
    return data[start:stop]  # type: ignore[index]


def narrow_byte_range(
    ref: ByteRange, byte_range: ByteRequest | None
) -> tuple[ByteRange, int | None]:
    """The part of the reference ``ref`` that ``byte_range`` selects, plus a suffix still to cut.

    Parameters
    ----------
    ref : ByteRange
        Where a value's bytes are (length -1: to the end of a file of unknown size).
    byte_range : RangeByteRequest, OffsetByteRequest, SuffixByteRequest or None
        The part of the value asked for.

    Returns
    -------
    tuple of (ByteRange, int or None)
        The byte range to read and, only when ``ref`` has unknown length and a suffix is asked
        for, how many trailing bytes of what is read to keep (None: keep all).

    Raises
    ------
    TypeError
        ``byte_range`` is not a zarr byte request.
    """
    if byte_range is None:
        return ref, None
    if ref.length >= 0:
        start, stop = byte_range_bounds(ref.length, byte_range)
        return ByteRange(ref.url, ref.offset + start, stop - start), None
    if isinstance(byte_range, RangeByteRequest):
        length = max(byte_range.end - byte_range.start, 0)
        return ByteRange(ref.url, ref.offset + byte_range.start, length), None
    if isinstance(byte_range, OffsetByteRequest):
        return ByteRange(ref.url, ref.offset + byte_range.offset, -1), None
    if isinstance(byte_range, SuffixByteRequest):
        return ref, byte_range.suffix
    raise unexpected_byte_range(byte_range)
