"""Planning and local reading of byte-range requests for :mod:`nwbzarr.storage.ranges`.

:func:`plan_spans` groups the ranges of one batch into requests (per file, sorted, merged across
small gaps); :func:`pread_range` reads a range of a local file with :func:`os.pread`, after
checking the opened descriptor against the access policy's record of the path
(:func:`nwbzarr.storage.policy.verify_opened`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import RemoteAccessError, RemoteReadError, StoreNotFoundError
from .http_ranges import range_text
from .manifest import ByteRange
from .policy import verify_opened

__all__ = ["Span", "plan_spans", "protocol_of", "local_path", "pread_range"]


@dataclass
class Span:
    """One request: bytes ``[start, stop)`` of a file, serving some of a batch's ranges.

    Attributes
    ----------
    url : str
        The file (path or URL).
    start : int
        First byte of the request.
    stop : int or None
        End (exclusive) of the request, or None for "to the end of the file".
    members : list of int
        Indices (into the batch) of the ranges the request covers.
    """

    url: str
    start: int
    stop: int | None
    members: list[int]


def plan_spans(
    refs: Sequence[ByteRange], indices: Sequence[int], merge_gap: int, max_merged_bytes: int
) -> list[Span]:
    """Group ranges into requests: per file, sorted, merged across gaps of <= ``merge_gap``.

    Parameters
    ----------
    refs : sequence of ByteRange
        The ranges.
    indices : sequence of int
        Which of ``refs`` to plan for.
    merge_gap : int
        Largest gap (bytes) bridged by a merge.
    max_merged_bytes : int
        Largest merged span (bytes).

    Returns
    -------
    list of Span
        Each with the indices of the ranges it covers. Ranges to the end of the file
        (length -1) get a span of their own.
    """
    by_url: dict[str, list[int]] = {}
    for i in indices:
        by_url.setdefault(refs[i].url, []).append(i)
    spans: list[Span] = []
    for url, members in by_url.items():
        current: Span | None = None
        for i in sorted(members, key=lambda j: (refs[j].offset, refs[j].length)):
            ref = refs[i]
            if ref.length < 0:
                spans.append(Span(url, ref.offset, None, [i]))
                continue
            stop = ref.offset + ref.length
            if (
                current is not None
                and current.stop is not None
                and ref.offset <= current.stop + merge_gap
                and max(current.stop, stop) - current.start <= max_merged_bytes
            ):
                current.stop = max(current.stop, stop)
                current.members.append(i)
                continue
            current = Span(url, ref.offset, stop, [i])
            spans.append(current)
    return spans


def protocol_of(url: str) -> str | None:
    """The URL scheme of ``url`` (lower case), or None for a local path or ``file://`` URL.

    Parameters
    ----------
    url : str
        Absolute path or URL.

    Returns
    -------
    str or None
    """
    head, sep, _ = url.partition("://")
    if not sep or "/" in head or head.lower() == "file":
        return None
    return head.lower()


def local_path(url: str) -> str:
    """The local path named by ``url`` (a path, or a ``file://`` URL).

    Parameters
    ----------
    url : str

    Returns
    -------
    str
    """
    return url[len("file://") :] if url.lower().startswith("file://") else url


def pread_range(path: str, offset: int, length: int, clamp: bool) -> bytes:
    """Bytes ``[offset, offset + length)`` of a local file, read with :func:`os.pread`.

    Parameters
    ----------
    path : str
        Local file.
    offset : int
        First byte.
    length : int
        Number of bytes, or -1 for "to the end of the file".
    clamp : bool
        Return fewer bytes when the range runs past the end instead of raising.

    Returns
    -------
    bytes

    Raises
    ------
    StoreNotFoundError
        The file does not exist.
    RemoteAccessError
        The file cannot be opened for lack of permission.
    RemoteReadError
        The range runs past the end of the file (and ``clamp`` is False).
    UntrustedReferenceError
        The path now opens another file than the one the access policy checked, outside the
        allowed roots.
    SourceChangedError
        The file was replaced, or its size differs from the one its reference JSON recorded.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise StoreNotFoundError(f"{path}: file not found (named by a byte range)") from exc
    except PermissionError as exc:
        raise RemoteAccessError(f"{path}: permission denied reading the file") from exc
    try:
        # the file opened must be the one the access policy checked (no symbolic link swapped
        # in since), with the size its reference JSON recorded
        st = verify_opened(path, fd)
        if length < 0:
            length = max(st.st_size - offset, 0)
        parts = []
        got = 0
        while got < length:
            part = os.pread(fd, length - got, offset + got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    finally:
        os.close(fd)
    data = parts[0] if len(parts) == 1 else b"".join(parts)  # no copy for one part
    if len(data) != length and not clamp:
        raise RemoteReadError(
            f"{path}: {range_text(offset, length)} runs past the end of the file "
            f"({offset + len(data)} bytes); the file is truncated or the reference is wrong"
        )
    return data
