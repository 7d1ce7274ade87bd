"""LINDI 0.4 containers: ``.lindi.tar`` (reference JSON and blobs in one tar) and ``.lindi.d``.

LINDI (``lindi.LindiH5pyFile.write_lindi_file``) writes a reference set three ways: a plain
``.lindi.json``; a ``.lindi.d`` directory holding ``lindi.json`` and the chunks it wrote itself
(``blobs/<key>``); and a ``.lindi.tar`` that holds the same members in one POSIX (ustar) tar:

* member 0, ``.tar_entry.json`` (header at byte 0, 1024 bytes of data at 512, space-padded):
  ``{"index": {"n": ".tar_index.json", "o": <header offset>, "d": <data offset>, "s": <size>}}``;
* ``.tar_index.json``: ``{"files": [{"n", "o", "d", "s"}, ...]}`` for every live member, itself
  and the entry included (members LINDI replaced are renamed ``.trash/...`` and dropped from it);
* ``lindi.json``: the reference JSON (space-padded to leave room for growth);
* ``blobs/...``: chunk bytes, named in ``lindi.json`` as ``["./blobs/<key>", offset, length]``;
* two zero blocks at the end.

References ``"./<member>"`` name a member of the container. For ``.lindi.d`` that is a file
under the directory, which :func:`~nwbzarr.formats.kerchunk.references.load_references`
already resolves (the JSON's own directory) and checks against the access policy. For
``.lindi.tar`` this module reads the entry and the index with bounded range reads, checks every
index record against the tar header it names, and rewrites each ``"./<member>"`` reference
into a byte range of the tar itself, inside the member; the rewritten set then goes through
:func:`~nwbzarr.formats.kerchunk.references.parse_references` and its :class:`AccessPolicy`
like any other.

Every tar is treated as hostile: headers must be ustar with a valid checksum and describe a
regular file; member names must be relative, normalised and free of ``..``; offsets must be
block-aligned, data must follow its header, members must lie inside the file and not overlap;
the entry is at most 64 KiB and the index and ``lindi.json`` at most ``max_json_bytes``; a
reference must lie inside its member. A violation raises
:class:`~nwbzarr.errors.ReferenceFileError` naming the tar and the member.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ... import limits
from ...compat import sync
from ...conventions.bounded_json import loads as bounded_loads
from ...errors import ReferenceFileError, StoreNotFoundError
from ...storage.manifest import ByteRange, ReferenceSet, gc_paused
from ...storage.policy import AccessPolicy
from ...storage.ranges import open_range_reader
from ...storage.resolve import is_remote_url, join_location
from ..kerchunk.references import parse_references, read_reference_bytes

__all__ = [
    "TarMember",
    "TarReader",
    "is_lindi_container",
    "is_lindi_dir",
    "is_lindi_container_url",
    "is_tar_header",
    "load_lindi_container",
    "read_tar_index",
    "resolve_member_refs",
]

BLOCK = 512
ENTRY_NAME = ".tar_entry.json"
INDEX_NAME = ".tar_index.json"
RFS_NAME = "lindi.json"
#: Largest ``.tar_entry.json`` accepted (LINDI writes 1024 bytes).
MAX_ENTRY_BYTES = 64 * 1024

_TEMPLATE_ONLY = re.compile(r"^{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}$")


@dataclass(frozen=True, slots=True)
class TarMember:
    """One member of a tar, as LINDI's index records it.

    Attributes
    ----------
    name : str
        Member name (relative POSIX path, checked by the reader).
    header : int
        Offset of its 512-byte ustar header (bytes from the start of the tar).
    data : int
        Offset of its data (``header + 512``).
    size : int
        Data size (bytes).
    """

    name: str
    header: int
    data: int
    size: int


def is_tar_header(block: bytes) -> bool:
    """True if ``block`` starts a ustar tar archive.

    Parameters
    ----------
    block : bytes
        The first bytes of a file (at least 512 for a True answer).

    Returns
    -------
    bool
        The ustar magic is at byte 257.
    """
    return len(block) >= BLOCK and block[257:262] == b"ustar"


def is_lindi_dir(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a local LINDI ``.lindi.d`` directory.

    Parameters
    ----------
    path : str or os.PathLike
        A local path.

    Returns
    -------
    bool
        ``path`` is a directory holding ``lindi.json`` and no Zarr metadata of its own
        (``zarr.json``, ``.zgroup``).
    """
    p = Path(path)
    return (
        p.is_dir()
        and (p / RFS_NAME).is_file()
        and not (p / "zarr.json").exists()
        and not (p / ".zgroup").exists()
    )


def is_lindi_container_url(url: str) -> str | None:
    """What a URL's name says it holds.

    Parameters
    ----------
    url : str
        A URL.

    Returns
    -------
    {"tar", "dir"} or None
        ``"tar"`` for a path ending in ``.lindi.tar``, ``"dir"`` for ``.lindi.d`` (a trailing
        ``/`` allowed), None otherwise.
    """
    path = urlsplit(url).path.rstrip("/").lower()
    if path.endswith(".lindi.tar"):
        return "tar"
    if path.endswith(".lindi.d"):
        return "dir"
    return None


def is_lindi_container(path_or_url: str | os.PathLike[str]) -> bool:
    """True for a LINDI ``.lindi.tar`` or ``.lindi.d``.

    Parameters
    ----------
    path_or_url : str or os.PathLike
        Local path or URL.

    Returns
    -------
    bool
        A local file starting with a ustar header, a local ``.lindi.d`` directory
        (:func:`is_lindi_dir`), or a URL whose name ends in ``.lindi.tar`` / ``.lindi.d``.
        Never raises (an unreadable local file is False).
    """
    text = os.fspath(path_or_url)
    if is_remote_url(text):
        return is_lindi_container_url(text) is not None
    p = Path(text)
    if p.is_dir():
        return is_lindi_dir(p)
    try:
        with open(p, "rb") as f:
            return is_tar_header(f.read(BLOCK))
    except OSError:
        return False


# -- tar headers and the index ---------------------------------------------------------------
def _number(field: bytes, what: str) -> int:
    """A tar numeric field: octal text, or base-256 (high bit of the first byte set)."""
    if field and field[0] & 0x80:
        value = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        return value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ReferenceFileError(f"{what}: not a tar number: {field!r}") from None


def _parse_header(block: bytes, where: str, at: int) -> tuple[str, int]:
    """Name and size of the ustar header ``block`` found at byte ``at``.

    Raises
    ------
    ReferenceFileError
        Truncated, not ustar, bad checksum, not a regular file, or a name that is not UTF-8.
    """
    what = f"{where}: tar header at byte {at}"
    if len(block) < BLOCK:
        raise ReferenceFileError(f"{what}: truncated ({len(block)} of {BLOCK} bytes)")
    if not is_tar_header(block):
        raise ReferenceFileError(f"{what}: not a ustar header")
    stored = _number(block[148:156], what)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:BLOCK])
    signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:BLOCK] if b > 127)
    if stored not in (unsigned, signed):
        raise ReferenceFileError(f"{what}: header checksum does not match (damaged tar)")
    if block[156:157] not in (b"0", b"\0"):
        raise ReferenceFileError(
            f"{what}: member type {block[156:157]!r} is not a regular file (links and "
            "directories are refused)"
        )
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0]
    full = prefix + b"/" + name if prefix else name
    try:
        text = full.decode("utf-8")
    except UnicodeDecodeError:
        raise ReferenceFileError(f"{what}: member name is not UTF-8: {full[:80]!r}") from None
    return text, _number(block[124:136], what)


def _check_name(name: Any, where: str) -> str:
    """A member name that stays inside the container (relative, normalised, no ``..``)."""
    if not isinstance(name, str) or not name or len(name) > 4096:
        raise ReferenceFileError(f"{where}: tar member name {str(name)[:80]!r} is not valid")
    if (
        "\0" in name
        or "\\" in name
        or name.startswith("/")
        or posixpath.normpath(name) != name
        or ".." in name.split("/")
    ):
        raise ReferenceFileError(
            f"{where}: tar member name {name[:80]!r} leaves the container (absolute, "
            "'..' or not normalised); refusing the tar"
        )
    return name


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _record(value: Any, where: str) -> TarMember:
    if not isinstance(value, dict) or not all(_count(value.get(k)) for k in ("o", "d", "s")):
        raise ReferenceFileError(
            f"{where}: tar index record {str(value)[:80]!r} must be "
            '{"n": name, "o": offset, "d": offset, "s": size} with counts >= 0'
        )
    name = _check_name(value.get("n"), where)
    member = TarMember(name, value["o"], value["d"], value["s"])
    if member.header % BLOCK or member.data != member.header + BLOCK:
        raise ReferenceFileError(
            f"{where}: tar member {name!r}: header at {member.header} and data at "
            f"{member.data} are not a block-aligned header followed by its data"
        )
    return member


class TarReader:
    """Bounded reads of one tar (local path or URL) through nwbzarr's range reader.

    Parameters
    ----------
    location : str
        Absolute path or URL of the tar.
    storage_options : dict or None
        fsspec options for a URL.

    Attributes
    ----------
    location : str
        As given (named in every message).
    size : int or None
        Size of a local tar (bytes); None for a URL (reads past the end then fail short).
    """

    def __init__(self, location: str, storage_options: dict | None) -> None:
        self.location = location
        self.size: int | None = None if is_remote_url(location) else os.path.getsize(location)
        self._reader = open_range_reader(storage_options, cache=False)

    def read(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``.

        Parameters
        ----------
        offset, length : int
            The byte range.
        what : str
            What is read (for messages).

        Returns
        -------
        bytes

        Raises
        ------
        ReferenceFileError
            The range ends past the end of a local tar, cannot be read, or comes back short.
        """
        if self.size is not None and offset + length > self.size:
            raise ReferenceFileError(
                f"{self.location}: {what} ends at byte {offset + length}, past the end of the "
                f"file ({self.size} bytes): the tar is truncated or damaged"
            )
        try:
            data = sync(self._reader.read(ByteRange(self.location, offset, length)))
        except (OSError, ValueError) as exc:
            if isinstance(exc, ReferenceFileError):
                raise
            raise ReferenceFileError(f"{self.location}: cannot read {what}: {exc}") from exc
        if len(data) != length:
            raise ReferenceFileError(
                f"{self.location}: {what}: {len(data)} of {length} bytes (truncated tar)"
            )
        return data

    def close(self) -> None:
        """Close the range reader."""
        self._reader.close()


def _check_member_header(tar: TarReader, member: TarMember) -> None:
    block = tar.read(member.header, BLOCK, f"the header of tar member {member.name!r}")
    name, size = _parse_header(block, tar.location, member.header)
    if (name, size) != (member.name, member.size):
        raise ReferenceFileError(
            f"{tar.location}: the tar index says member {member.name!r} ({member.size} bytes) "
            f"is at byte {member.header}, but the header there is {name[:80]!r} ({size} bytes)"
        )


def read_tar_index(tar: TarReader) -> dict[str, TarMember]:
    """Read and check a LINDI tar's entry and index; return its members by name.

    Parameters
    ----------
    tar : TarReader
        Bounded reads of the tar (local path or URL).

    Returns
    -------
    dict of str to TarMember
        Every member the index lists, by name (the entry and the index included).

    Raises
    ------
    ReferenceFileError
        Not a LINDI tar, or a malformed, inconsistent or out-of-bounds entry, index or header.
    LimitExceededError
        The index is larger than ``max_json_bytes``.
    """
    index, entry_size = _read_entry(tar)
    members = _read_index(tar, index)
    where = tar.location
    if members.get(INDEX_NAME) != index:
        raise ReferenceFileError(f"{where}: {INDEX_NAME} does not list itself as {ENTRY_NAME} says")
    if members.get(ENTRY_NAME) != TarMember(ENTRY_NAME, 0, BLOCK, entry_size):
        raise ReferenceFileError(f"{where}: {INDEX_NAME} does not list {ENTRY_NAME} at byte 0")
    _check_spans(tar, members)
    return members


def _read_entry(tar: TarReader) -> tuple[TarMember, int]:
    """The index record of the tar's first member, ``.tar_entry.json``, and that entry's size."""
    where = tar.location
    first = tar.read(0, BLOCK, "the first tar header")
    name, size = _parse_header(first, where, 0)
    if name != ENTRY_NAME:
        raise ReferenceFileError(
            f"{where}: a tar whose first member is {name[:80]!r}, not {ENTRY_NAME!r}: not a "
            "LINDI .lindi.tar (LINDI >= 0.4 writes that entry first)"
        )
    if size > MAX_ENTRY_BYTES:
        raise ReferenceFileError(f"{where}: {ENTRY_NAME} of {size} bytes (at most 64 KiB)")
    entry = bounded_loads(
        tar.read(BLOCK, size, ENTRY_NAME), f"{where}: {ENTRY_NAME}", ReferenceFileError, max_depth=4
    )
    index_info = entry.get("index") if isinstance(entry, dict) else None
    index = _record(index_info, f"{where}: {ENTRY_NAME}")
    if index.name != INDEX_NAME:
        raise ReferenceFileError(f"{where}: {ENTRY_NAME} names {index.name!r}, not {INDEX_NAME!r}")
    return index, size


def _read_index(tar: TarReader, index: TarMember) -> dict[str, TarMember]:
    """The records of ``.tar_index.json`` (its header checked first), by name, none twice."""
    where = tar.location
    max_json = limits.current().max_json_bytes
    if index.size > max_json:
        raise limits.exceeded(f"{where}: {INDEX_NAME}", "max_json_bytes", index.size)
    _check_member_header(tar, index)
    document = bounded_loads(
        tar.read(index.data, index.size, INDEX_NAME),
        f"{where}: {INDEX_NAME}",
        ReferenceFileError,
        max_depth=4,
    )
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise ReferenceFileError(f'{where}: {INDEX_NAME} must be {{"files": [...]}}')
    members: dict[str, TarMember] = {}
    for value in files:
        member = _record(value, f"{where}: {INDEX_NAME}")
        if member.name in members:
            raise ReferenceFileError(f"{where}: {INDEX_NAME} lists {member.name!r} twice")
        members[member.name] = member
    return members


def _check_spans(tar: TarReader, members: dict[str, TarMember]) -> None:
    """Members must not overlap and the last must end inside a local tar."""
    where = tar.location
    spans = sorted(members.values(), key=lambda m: m.header)
    for a, b in zip(spans, spans[1:]):
        if a.data + a.size > b.header:
            raise ReferenceFileError(
                f"{where}: tar members {a.name!r} and {b.name!r} overlap (damaged or hostile tar)"
            )
    last = spans[-1]
    if tar.size is not None and last.data + last.size > tar.size:
        raise ReferenceFileError(
            f"{where}: tar member {last.name!r} ends at byte {last.data + last.size}, past the "
            f"end of the file ({tar.size} bytes): the tar is truncated"
        )


def _relative_refs(refs: dict, templates: Any) -> Iterator[tuple[str, list, str]]:
    """The references of ``refs`` whose URL (a template expanded) is ``"./<name>"``.

    Yields ``(key, value, url)``: ``value`` is the reference list itself (``[url]`` or
    ``[url, offset, length]``), ``url`` its expanded URL; other entries are passed over.
    """
    templates = templates if isinstance(templates, dict) else {}
    for key, value in refs.items():
        if not (isinstance(value, list) and len(value) in (1, 3) and isinstance(value[0], str)):
            continue
        url = value[0]
        m = _TEMPLATE_ONLY.match(url)
        if m and isinstance(templates.get(m.group(1)), str):
            url = templates[m.group(1)]
        if url.startswith("./"):
            yield key, value, url


def resolve_member_refs(
    document: dict, members: dict[str, TarMember], location: str, where: str
) -> int:
    """Rewrite ``"./<member>"`` references of a LINDI reference JSON into ranges of the tar.

    Parameters
    ----------
    document : dict
        The decoded ``lindi.json`` (changed in place).
    members : dict of str to TarMember
        The tar's members (:func:`read_tar_index`).
    location : str
        Absolute path or URL of the tar (the new target of those references).
    where : str
        For messages.

    Returns
    -------
    int
        How many references were rewritten.

    Raises
    ------
    ReferenceFileError
        A reference to a member the tar does not have, or reaching past its member.
    """
    refs = document.get("refs") if isinstance(document, dict) else None
    if not isinstance(refs, dict):
        return 0
    rewritten = 0
    for key, value, url in _relative_refs(refs, document.get("templates")):
        name = url[2:]
        member = members.get(name)
        if member is None or name in (ENTRY_NAME, INDEX_NAME):
            raise ReferenceFileError(
                f"{where}: reference {key!r} names {url[:120]!r}, which is not a member of the tar"
            )
        if len(value) == 1:
            refs[key] = [location, member.data, member.size]
        else:
            offset, length = value[1], value[2]
            if not (_count(offset) and _count(length)) or offset + length > member.size:
                raise ReferenceFileError(
                    f"{where}: reference {key!r} reads bytes {offset!r}..+{length!r} of tar "
                    f"member {name!r}, which holds {member.size} bytes"
                )
            refs[key] = [location, member.data + offset, length]
        rewritten += 1
    return rewritten


def load_lindi_container(
    path_or_url: str | os.PathLike[str],
    *,
    storage_options: dict | None = None,
    policy: AccessPolicy | None = None,
) -> ReferenceSet:
    """Read a LINDI ``.lindi.tar`` or ``.lindi.d`` as a checked reference set.

    Parameters
    ----------
    path_or_url : str or os.PathLike
        Local path or URL of the tar, or of the directory.
    storage_options : dict, optional
        fsspec options for a URL.
    policy : AccessPolicy, optional
        What the references may point at (default ``AccessPolicy()``: files under the
        container's own directory and the URLs allowed by default).

    Returns
    -------
    ReferenceSet
        LINDI's Zarr v2 reference set; ranges of the tar's own members point into the tar.

    Raises
    ------
    StoreNotFoundError
        Nothing at ``path_or_url`` (or no ``lindi.json`` in the directory).
    ReferenceFileError
        Not a LINDI container, or a malformed, truncated or hostile one (names the member).
    UntrustedReferenceError
        A reference outside what ``policy`` allows.
    LimitExceededError
        Over a limit of :mod:`nwbzarr.limits` (``max_json_bytes``, ``max_json_depth``, ...).
    """
    text = os.fspath(path_or_url)
    remote = is_remote_url(text)
    if (remote and is_lindi_container_url(text) == "dir") or (not remote and Path(text).is_dir()):
        return _load_lindi_dir(text, remote, storage_options, policy)
    if not remote:
        if not Path(text).is_file():
            raise StoreNotFoundError(f"{text}: no such file")
        text = os.path.abspath(text)
    tar = TarReader(text, storage_options)
    try:
        members = read_tar_index(tar)
        rfs = members.get(RFS_NAME)
        if rfs is None:
            raise ReferenceFileError(f"{text}: the LINDI tar holds no {RFS_NAME}")
        if rfs.size > limits.current().max_json_bytes:
            raise limits.exceeded(f"{text}: {RFS_NAME}", "max_json_bytes", rfs.size)
        _check_member_header(tar, rfs)
        data = tar.read(rfs.data, rfs.size, RFS_NAME)
    finally:
        tar.close()
    where = f"{text}: {RFS_NAME}"
    with gc_paused():
        document = bounded_loads(data, where, ReferenceFileError)
        resolve_member_refs(document, members, text, where)
        return parse_references(document, text, policy)


def _load_lindi_dir(
    text: str, remote: bool, storage_options: dict | None, policy: AccessPolicy | None
) -> ReferenceSet:
    """A ``.lindi.d``: its ``lindi.json``, with ``"./<name>"`` references made absolute paths
    (or URLs) under the directory, checked like the members of a tar; the directory stands
    where a ``.lindi.json`` would (its parent directory is the reference set's own)."""
    if not remote:
        text = os.path.abspath(text)
        if not (Path(text) / RFS_NAME).is_file():
            raise StoreNotFoundError(f"{text}: a directory without {RFS_NAME}: not a .lindi.d")
    base = text.rstrip("/")
    location, data = read_reference_bytes(base + "/" + RFS_NAME, storage_options)
    if len(data) > limits.current().max_json_bytes:
        raise limits.exceeded(f"{location}: reference JSON", "max_json_bytes", len(data))
    with gc_paused():
        document = bounded_loads(data, location, ReferenceFileError)
        refs = document.get("refs") if isinstance(document, dict) else None
        if isinstance(refs, dict):
            for key, value, url in _relative_refs(refs, document.get("templates")):
                name = _check_name(url[2:], f"{location}: reference {key!r}")
                value[0] = join_location(base, name)
        return parse_references(document, base, policy)
