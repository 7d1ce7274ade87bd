"""The reference set shared by the HDF5 chunk index, the reference JSON and the virtual store.

A *reference set* maps every key of a Zarr store (``"zarr.json"``, ``"acquisition/ts/zarr.json"``,
``"acquisition/ts/data/c/0/1"``, or Zarr v2 keys such as ``".zattrs"`` and ``"data/0.1"``) to
either the key's bytes (inline) or a :class:`ByteRange` of another file that holds them. This
is the in-memory form of a reference file system (kerchunk's and LINDI's JSON ``refs``).

This module holds the data model only: no I/O, no hdmf.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .. import limits

__all__ = ["ByteRange", "References", "ReferenceSet", "RangeReader", "gc_paused", "check_range"]

MAX_OFFSET = (1 << 63) - 1
"""Largest file offset a read can name (``off_t``); ``offset + length`` must not pass it."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``[offset, offset + length)`` of the file at ``url``.

    Attributes
    ----------
    url : str
        Absolute local path or absolute URL (``https://``, ``s3://``, ...). Relative locations
        found in a reference JSON are resolved against the JSON's own location before a
        ``ByteRange`` is made.
    offset : int
        First byte, counted from the start of the file (bytes, >= 0).
    length : int
        Number of bytes (>= 0), or -1 for "to the end of the file" (kerchunk's ``[url]`` form).
    """

    url: str
    offset: int
    length: int

    def __post_init__(self) -> None:
        if self.offset < 0 or self.length < -1:
            raise ValueError(
                f"invalid byte range {self.url!r} offset={self.offset} length={self.length}"
            )


def check_range(key: str, offset: int, length: int, where: str, max_length: int) -> None:
    """Refuse a byte range before anything is read or allocated for it.

    Parameters
    ----------
    key : str
        The Zarr key the range serves (named in the message).
    offset, length : int
        The range (``length`` -1: to the end of the file).
    where : str
        The reference JSON, for messages.
    max_length : int
        ``limits.current().max_range_bytes`` (read once by the caller: this runs per key).

    Raises
    ------
    LimitExceededError
        ``length`` over ``max_length``, or ``offset + length`` past the largest file offset.
    """
    if length > max_length or offset + max(length, 0) > MAX_OFFSET:
        raise limits.exceeded(
            f"{where}: reference {key!r} names the byte range offset={offset} length={length}",
            "max_range_bytes",
            length,
        )


#: Zarr key -> inline bytes or a byte range of another file.
References = dict[str, bytes | ByteRange]


@dataclass
class ReferenceSet:
    """A reference set and what is known about where it came from.

    Attributes
    ----------
    refs : dict of str to bytes or ByteRange
        Every key of the store.
    zarr_format : {2, 3}
        Zarr format of the metadata documents among ``refs``.
    dialect : {"nwbzarr", "lindi", "kerchunk", "hdf5"}
        Which convention the metadata follow: ``"nwbzarr"``/``"hdf5"`` are the unified Zarr v3
        convention of docs/storage.md; ``"lindi"`` is LINDI's Zarr v2 annotations
        (``_REFERENCE``, ``_SCALAR``, ``_SOFT_LINK``, ...); ``"kerchunk"`` is plain Zarr v2.
    location : str or None
        Where the reference JSON was read from (absolute path or URL), None for a set built
        in memory (e.g. by the HDF5 index).
    """

    refs: References
    zarr_format: Literal[2, 3] = 3
    dialect: str = "nwbzarr"
    location: str | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)


class RangeReader(Protocol):
    """Reads byte ranges of local or remote files (implemented in ``storage/ranges.py``)."""

    async def read(self, ref: ByteRange) -> bytes:
        """Return the bytes of ``ref``; concurrent calls may be merged into fewer requests."""
        ...

    async def read_many(self, refs: Sequence[ByteRange]) -> list[bytes]:
        """Return the bytes of every range, in order, fetched concurrently."""
        ...


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a reference set is built or parsed.

    Reference sets are many small objects with no reference cycles (one ``ByteRange`` per
    chunk), so collections triggered by their allocation only cost time (measured: indexing
    a 10 000-chunk file 0.14 s -> 0.09 s). The collector is re-enabled on exit if it was on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
