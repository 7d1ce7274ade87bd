"""Reference JSON files: reading ours, LINDI's and kerchunk's; writing ours.

A reference JSON maps every key of a Zarr store to the key's bytes (inline) or to a byte range
of another file (see :mod:`nwbzarr.storage.manifest`). Three layouts are read:

* **nwbzarr** (what :func:`save_references` writes; docs/storage.md section 12): kerchunk's
  version 1 layout plus an ``"nwbzarr"`` block, Zarr v3 keys, ``templates`` naming each source
  file once::

      {"version": 1,
       "nwbzarr": {"format_version": 1, "zarr_format": 3, "dialect": "hdf5",
                   "generator": "nwbzarr 0.1.0"},
       "templates": {"u0": "/home/me/data.nwb"},
       "refs": {"zarr.json": "{...}", "acquisition/ts/data/c/0": ["{{u0}}", 4096, 8000]}}

  A local source is written absolute in ``templates`` (fsspec resolves relative paths against
  its working directory), and, when it lies under the JSON's directory, also relative to it
  in the block (``"relative": {"u0": "data.nwb"}``); this reader prefers the relative form
  while the template still ends with it, so a JSON moved together with its data keeps
  reading. JSON written before (relative templates) reads as it always did.

* **LINDI** ``.lindi.json``: ``{"version": 1, "refs": {...}}`` (or no ``version``), Zarr v2 keys
  whose ``.zattrs``/``.zarray``/``.zgroup`` are JSON objects, LINDI's special attributes;
  ``generationMetadata`` is ignored.
* **kerchunk** version 0 (the whole document is the ``refs`` mapping) and version 1
  (``templates`` substituted into ``{{name}}``, ``gen`` entries expanded, then ``refs``).

Reference values: a string (inline text), ``"base64:..."`` (inline bytes), a JSON object
(an inline metadata document), ``[url]`` (a whole file) or ``[url, offset, length]``.
Relative URLs and paths are resolved against the JSON's own location, then every target is
checked against an :class:`~nwbzarr.storage.policy.AccessPolicy`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ... import limits
from ...compat import sync
from ...conventions.bounded_json import check_nesting
from ...conventions.bounded_json import loads as bounded_loads
from ...errors import ReferenceFileError, StoreNotFoundError
from ...storage.http_ranges import HTTPRanges
from ...storage.manifest import ByteRange, References, ReferenceSet, check_range, gc_paused
from ...storage.policy import (
    AccessPolicy,
    SourceRecord,
    expect_source,
    expected_source,
    learned_source,
    split_scheme,
    trust_origin,
)
from ...storage.resolve import is_remote_url, join_location, remote_access_error
from ..lindi.conventions import is_lindi_reference_set
from .templates import compile_template, expand_gen

__all__ = [
    "AccessPolicy",
    "FORMAT_VERSION",
    "REFERENCE_JSON_SUFFIXES",
    "is_reference_json_head",
    "load_references",
    "parse_references",
    "read_reference_bytes",
    "save_references",
]

FORMAT_VERSION = 1
"""Version of the ``"nwbzarr"`` block written by :func:`save_references`."""

METADATA_NAMES = frozenset(("zarr.json", ".zattrs", ".zarray", ".zgroup", ".zmetadata"))
"""Last key components of Zarr metadata documents (kept as readable JSON text)."""

REFERENCE_JSON_SUFFIXES = (".json",)
"""Name endings of reference JSON files (``.json``, ``.lindi.json``), compared in lower case."""


def is_reference_json_head(head: bytes) -> bool:
    """True if a file's first bytes look like a reference JSON: a JSON object.

    Parameters
    ----------
    head : bytes
        The first bytes of a file.

    Returns
    -------
    bool
        The first byte that is not blank is ``{``. Whether the object is a reference file is
        decided when it is parsed (:func:`parse_references`).
    """
    return head.lstrip()[:1] == b"{"


_TEMPLATE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")


def parse_references(
    document: Any, location: str | None = None, policy: AccessPolicy | None = None
) -> ReferenceSet:
    """Turn a decoded reference JSON into a checked :class:`ReferenceSet` (no I/O).

    Parameters
    ----------
    document : dict
        The decoded JSON (any layout described in the module docstring).
    location : str or None, optional
        Absolute path or URL the JSON was read from: relative targets are resolved against its
        directory, and a local JSON may reference files under that directory. None for a
        document that has no location (relative targets are then an error).
    policy : AccessPolicy, optional
        What targets are allowed; default ``AccessPolicy()``.

    Returns
    -------
    ReferenceSet
        Inline values as bytes, byte ranges as :class:`ByteRange` with absolute targets;
        ``zarr_format`` detected from the keys, ``dialect`` one of ``"nwbzarr"``, ``"lindi"``,
        ``"kerchunk"``; ``sources`` the distinct targets in order of first use.

    Raises
    ------
    ReferenceFileError
        Not a JSON object, unknown version, a malformed value or template (names the key).
    UntrustedReferenceError
        A target outside what ``policy`` allows (names the key and how to allow it).
    LimitExceededError
        Over a limit of :mod:`nwbzarr.limits`: nesting (``max_json_depth``), a byte range
        (``max_range_bytes``), a template (``max_template_bytes``), the keys a ``gen`` section
        makes (``max_generated_refs``; counted before anything is expanded).
    """
    where = location or "reference JSON"
    if not isinstance(document, dict):
        raise ReferenceFileError(f"{where}: expected a JSON object, got {type(document).__name__}")
    block = document.get("nwbzarr")
    if block is not None:
        _check_block(block, where)
    raw, templates, gens = _sections(document, block, where)
    targets = _Targets(location, templates, policy or AccessPolicy())
    refs: References = {}
    for key, value in raw.items():
        refs[key] = _decode(key, value, targets, where)
    if gens:  # kerchunk gen entries, expanded at bounded cost (templates.py)
        for key, value in expand_gen(gens, templates, where):
            refs[key] = _decode(key, value, targets, where)
    if block is not None:
        _expect_sources(block, templates, targets, where)
    zarr_format = _zarr_format(refs, where)
    dialect = _dialect(document, block, zarr_format, refs, location)
    return ReferenceSet(
        refs=refs,
        zarr_format=zarr_format,
        dialect=dialect,
        location=location,
        sources=tuple(targets.sources),
    )


def _sections(document: dict, block: Any, where: str) -> tuple[dict, dict[str, str], list]:
    """The ``refs``, ``templates`` and ``gen`` sections of a reference JSON of version 0 or 1.

    Templates are checked (strings within ``max_template_bytes``) and, for an nwbzarr block,
    given its JSON-relative locations (:func:`_moved_templates`).
    """
    version = document.get("version")
    if version is None and not isinstance(document.get("refs"), dict):
        return document, {}, []  # kerchunk version 0: the document is the refs
    if version not in (None, 1):
        raise ReferenceFileError(
            f"{where}: unknown reference file version {version!r} (this nwbzarr reads "
            "kerchunk/LINDI version 0 and 1)"
        )
    raw = document.get("refs", {})
    templates = document.get("templates", {})
    gens = document.get("gen", [])
    if not isinstance(raw, dict):
        raise ReferenceFileError(f"{where}: 'refs' must be a JSON object")
    templates = {} if templates is None else templates
    gens = [] if gens is None else gens
    if not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
        raise ReferenceFileError(f"{where}: 'templates' must map names to strings")
    if not isinstance(gens, list):
        raise ReferenceFileError(f"{where}: 'gen' must be a list")
    _check_bounds(document, templates, where)
    if block is not None:
        templates = _moved_templates(templates, block, where)
    return raw, templates, gens


def _dialect(
    document: dict, block: Any, zarr_format: int, refs: References, location: str | None
) -> str:
    """Which convention the metadata follow: the nwbzarr block's, else guessed from the keys."""
    if block is not None:
        return str(block.get("dialect", "nwbzarr"))
    if zarr_format == 3:
        return "nwbzarr"  # the unified Zarr v3 convention (also written by zindi)
    if is_lindi_reference_set(document, refs, location):
        return "lindi"
    return "kerchunk"


def load_references(
    path_or_url: str | Path,
    *,
    storage_options: dict[str, Any] | None = None,
    policy: AccessPolicy | None = None,
) -> ReferenceSet:
    """Read a reference JSON (nwbzarr, LINDI or kerchunk) from local disk or a URL.

    Parameters
    ----------
    path_or_url : str or pathlib.Path
        Local path, ``file://`` URL or remote URL (``https://``, ``s3://``, ...).
    storage_options : dict, optional
        fsspec options for a remote URL (credentials, headers); ignored for local paths.
    policy : AccessPolicy, optional
        What the references may point at; default ``AccessPolicy()`` (see
        :mod:`nwbzarr.storage.policy`).

    Returns
    -------
    ReferenceSet
        See :func:`parse_references`; ``location`` is the absolute path or the URL.

    Raises
    ------
    StoreNotFoundError
        The file or URL does not exist.
    RemoteAccessError
        The server refused access (HTTP 401/403).
    ReferenceFileError
        The file is not valid JSON or not a reference file (names the file and key).
    UntrustedReferenceError
        A reference points outside what ``policy`` allows.
    LimitExceededError
        The file is larger than ``max_json_bytes``, nests deeper than ``max_json_depth``, or is
        over another limit (see :func:`parse_references`).
    """
    location, data = read_reference_bytes(path_or_url, storage_options)
    if len(data) > limits.current().max_json_bytes:
        raise limits.exceeded(f"{location}: reference JSON", "max_json_bytes", len(data))
    with gc_paused():  # many small objects and no cycles: collections only cost time
        # nesting: Python's limit here, max_json_depth on the parts that may nest (below)
        document = bounded_loads(data, location, ReferenceFileError)
        return parse_references(document, location, policy)


def save_references(
    refset: ReferenceSet, path: str | Path, *, url: str | Mapping[str, str] | None = None
) -> None:
    """Write ``refset`` as an nwbzarr reference JSON (atomically: temporary file, rename).

    Parameters
    ----------
    refset : ReferenceSet
        What to write; inline metadata documents are written as JSON text, other inline
        bytes as text when they are printable UTF-8, else as ``"base64:..."``.
    path : str or pathlib.Path
        Local file to write (replaced if it exists).
    url : str or mapping of str to str, optional
        Location to record instead of the source file's own: a string when the byte ranges
        name one source (e.g. the public URL of a local ``.nwb`` that was indexed), or a
        mapping ``{source: url}``. Sources not replaced are written as absolute paths in
        ``templates`` (so fsspec's ``ReferenceFileSystem`` opens the JSON from any working
        directory); those under the JSON's directory are also recorded relative to it in
        ``nwbzarr.relative``, which nwbzarr reads, so the pair can move together.

    Notes
    -----
    The ``"nwbzarr"`` block records each source's size (and mtime; ETag when known) under
    ``"sources"``; a reader refuses a source whose size changed
    (:class:`~nwbzarr.errors.SourceChangedError`).

    Raises
    ------
    ReferenceFileError
        ``url`` is a string but the byte ranges name several sources, or a byte range reads
        from an offset to the end of its file (kerchunk's layout cannot express it).
    OSError
        The file cannot be written; no partial file is left behind.
    """
    path = os.path.abspath(os.fspath(path))
    sources = list(dict.fromkeys(v.url for v in refset.refs.values() if isinstance(v, ByteRange)))
    replace = _replacements(path, sources, url)
    names = {src: f"u{i}" for i, src in enumerate(sources)}
    header = _header(refset, path, sources, names, replace)
    lines = [json.dumps(header)[:-1] + ', "refs": {']
    items = list(refset.refs.items())
    with gc_paused():
        for i, (key, value) in enumerate(items):
            sep = "," if i < len(items) - 1 else ""
            entry = json.dumps(_encode(key, value, names, path))
            lines.append(f"{json.dumps(key)}: {entry}{sep}")
    lines.append("}}\n")
    _write_atomic(path, "\n".join(lines).encode("utf-8"))


# ----------------------------------------------------------------------------------- reading


def read_reference_bytes(
    path_or_url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> tuple[str, bytes]:
    """Read the bytes of a reference JSON (or another small document) from disk or a URL.

    Parameters
    ----------
    path_or_url : str or os.PathLike
        Local path, ``file://`` URL or remote URL (``https://``, ``s3://``, ...).
    storage_options : dict, optional
        fsspec options for a remote URL; ignored for local paths.

    Returns
    -------
    tuple of (str, bytes)
        The location (absolute path, or the URL as given) and the file's bytes. Over HTTP(S)
        the body is bounded by ``max_json_bytes``; other sources are read whole and the caller
        checks their size.

    Raises
    ------
    StoreNotFoundError
        The file or URL does not exist.
    RemoteAccessError
        The server refused access (HTTP 401/403).
    ReferenceFileError
        A local directory, or a scheme this reader does not fetch.
    """
    raw = os.fspath(path_or_url)
    scheme, local = split_scheme(raw)
    if scheme in ("http", "https"):
        return raw, _fetch_http(raw, storage_options)
    if scheme is not None and is_remote_url(raw):
        from fsspec.core import url_to_fs

        try:
            fs, path = url_to_fs(raw, **(storage_options or {}))
            return raw, fs.cat_file(path)  # one GET (opening a file would send a HEAD first)
        except FileNotFoundError as exc:
            raise StoreNotFoundError(f"{raw}: reference JSON not found") from exc
        except Exception as exc:
            denied = remote_access_error(raw, exc)
            if denied is not None:
                raise denied from exc
            raise
    if scheme is not None:
        raise ReferenceFileError(f"{raw}: cannot read a reference JSON over {scheme}://")
    location = os.path.abspath(local)
    try:
        with open(location, "rb") as f:
            return location, f.read()
    except FileNotFoundError as exc:
        raise StoreNotFoundError(f"{location}: reference JSON not found") from exc
    except IsADirectoryError as exc:
        raise ReferenceFileError(f"{location}: is a directory, not a reference JSON") from exc


def _fetch_http(url: str, storage_options: dict[str, Any] | None) -> bytes:
    """A reference JSON over HTTP(S): one GET within http_timeout and max_json_bytes."""
    trust_origin(url)  # the user opened it: its references may name the same host

    async def fetch() -> bytes:
        http = HTTPRanges(storage_options or {}, None, {}, {}, lambda requests, nbytes: None)
        try:
            return await http.fetch_document(url, limits.current().max_json_bytes, "reference JSON")
        finally:
            await http.close()

    return sync(fetch())


class _Targets:
    """Resolves byte-range targets (templates, relative locations) and checks each once."""

    def __init__(self, location: str | None, templates: dict[str, str], policy: AccessPolicy):
        self.location = location
        self.templates = templates
        self.check = policy.checker(location)
        self.resolved: dict[str, str] = {}
        self.sources: dict[str, None] = {}
        self._base: str | None = _parent(location) if location else None
        lim = limits.current()
        self.max_range = lim.max_range_bytes
        self.max_depth = lim.max_json_depth
        self.max_chars = lim.max_template_bytes

    def __call__(self, key: str, url: Any, where: str) -> str:
        if not isinstance(url, str) or not url:
            raise ReferenceFileError(
                f"{where}: reference {key!r} has target {url!r:.80}; expected a URL or path"
            )
        target = self.resolved.get(url)
        if target is None:
            target = self._resolve(key, url, where)
            self.check(key, target)
            self.resolved[url] = target
            self.sources[target] = None
        return target

    def _substitute(self, key: str, url: str, where: str) -> str:
        """``{{name}}`` replaced by its template (output bounded by max_template_bytes)."""
        pieces, size, pos = [], 0, 0
        for m in _TEMPLATE.finditer(url):
            try:
                value = self.templates[m.group(1)]
            except KeyError:
                raise ReferenceFileError(
                    f"{where}: reference {key!r} uses the undefined template {m.group(1)!r}"
                ) from None
            pieces += (url[pos : m.start()], value)
            size += m.start() - pos + len(value)
            pos = m.end()
            if size > self.max_chars:
                break
        pieces.append(url[pos:])
        size += len(url) - pos
        if size > self.max_chars:
            raise limits.exceeded(
                f"{where}: reference {key!r}: its URL template renders", "max_template_bytes", size
            )
        out = "".join(pieces)
        if "{{" in out:  # a kerchunk expression beyond {{name}}: evaluated at bounded cost
            out = compile_template(out, f"{where}: reference {key!r} URL")(self.templates)
        return out

    def _resolve(self, key: str, url: str, where: str) -> str:
        if "{{" in url:
            url = self._substitute(key, url, where)
        scheme, path = split_scheme(url)
        if scheme is not None:
            return url
        if os.path.isabs(path):
            return os.path.normpath(path)
        if self._base is None:
            raise ReferenceFileError(
                f"{where}: reference {key!r} names the relative location {url!r}, but the "
                "reference set has no location to resolve it against"
            )
        return join_location(self._base, path)


def _parent(location: str) -> str:
    """Directory of a JSON location (path or URL; a URL loses its query string)."""
    scheme, path = split_scheme(location)
    if scheme is None:
        return os.path.dirname(os.path.abspath(path))
    parts = urlsplit(location)
    return urlunsplit((parts.scheme, parts.netloc, posixpath.dirname(parts.path), "", ""))


def _decode(key: str, value: Any, targets: _Targets, where: str) -> bytes | ByteRange:
    """One JSON reference value -> inline bytes or an absolute, checked ByteRange."""
    if not key:
        raise ReferenceFileError(f"{where}: empty key")
    if isinstance(value, str):
        if value.startswith("base64:"):
            try:
                return base64.b64decode(value[7:], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ReferenceFileError(
                    f"{where}: reference {key!r} holds invalid base64 ({exc})"
                ) from None
        if (
            value.count("[") + value.count("{") > targets.max_depth
            and key.rpartition("/")[2] in METADATA_NAMES
        ):  # metadata text zarr will parse: its nesting checked once, here
            label = f"{where}: reference {key!r}"
            check_nesting(bounded_loads(value, label, ReferenceFileError), label)
        return value.encode("utf-8")
    if isinstance(value, dict):
        check_nesting(value, f"{where}: reference {key!r}")
        return json.dumps(value, separators=(",", ":")).encode("utf-8")
    if isinstance(value, list) and len(value) == 1:
        return ByteRange(targets(key, value[0], where), 0, -1)
    if isinstance(value, list) and len(value) == 3:
        offset, length = value[1], value[2]
        if _is_count(offset) and _is_count(length):
            check_range(key, offset, length, where, targets.max_range)
            return ByteRange(targets(key, value[0], where), offset, length)
    raise ReferenceFileError(
        f"{where}: reference {key!r} has an invalid value {str(value)[:80]!r}; expected a "
        "string, 'base64:...', a JSON object, [url] or [url, offset, length] with "
        "offset, length >= 0"
    )


def _is_count(x: Any) -> bool:
    return type(x) is int and x >= 0  # not bool (a subclass of int)


def _check_bounds(document: dict, templates: dict[str, str], where: str) -> None:
    """Template lengths and the nesting of everything but ``refs`` (checked per value)."""
    max_chars = limits.current().max_template_bytes
    for name, value in templates.items():
        if len(value) > max_chars:
            raise limits.exceeded(f"{where}: template {name!r}", "max_template_bytes", len(value))
    for name, value in document.items():
        if name != "refs" and isinstance(value, (dict, list)):
            check_nesting(value, f"{where}: {name!r}")


def _zarr_format(refs: References, where: str) -> int:
    v2 = False
    for key in refs:
        name = key.rpartition("/")[2]
        if name == "zarr.json":
            return 3
        if name in (".zgroup", ".zarray", ".zattrs"):
            v2 = True
    if v2:
        return 2
    raise ReferenceFileError(
        f"{where}: holds no Zarr metadata (no zarr.json, .zgroup or .zarray key); "
        "not a reference file of a Zarr store"
    )


def _expect_sources(block: dict, templates: dict, targets: _Targets, where: str) -> None:
    """Hand the source records of an nwbzarr block (size, ETag, mtime) to the access policy."""
    records = block.get("sources")
    if records is None:
        return
    if not isinstance(records, dict):
        raise ReferenceFileError(f"{where}: 'nwbzarr.sources' must be a JSON object")
    for name, record in records.items():
        if name not in templates or not isinstance(record, dict):
            continue
        size, etag, mtime = record.get("size"), record.get("etag"), record.get("mtime")
        if not (size is None or _is_count(size)):
            raise ReferenceFileError(f"{where}: nwbzarr.sources[{name!r}].size must be >= 0")
        target = targets._resolve(name, templates[name], where)
        if target not in targets.sources:
            continue  # not used by any reference
        expect_source(
            target,
            SourceRecord(
                size=size,
                etag=etag if isinstance(etag, str) else None,
                mtime=mtime if isinstance(mtime, (int, float)) else None,
                json=targets.location,
            ),
        )


def _source_record(source: str) -> dict | None:
    """Size and mtime of a local source (what a reader checks it against), or None."""
    scheme, path = split_scheme(source)
    if scheme is None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return {"size": st.st_size, "mtime": st.st_mtime}
    # what the server told when the source was read (indexed), else what a loaded JSON said
    known = learned_source(source) or expected_source(source)
    if known is None or known.size is None:
        return None
    out: dict[str, Any] = {"size": known.size}
    if known.etag:
        out["etag"] = known.etag
    return out


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise ReferenceFileError(f"{where}: the 'nwbzarr' entry must be a JSON object")
    version = block.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ReferenceFileError(f"{where}: invalid nwbzarr format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ReferenceFileError(
            f"{where}: written by a newer nwbzarr (reference format {version}, this version "
            f"reads up to {FORMAT_VERSION}); upgrade nwbzarr"
        )


# ----------------------------------------------------------------------------------- writing


def _replacements(
    path: str, sources: list[str], url: str | Mapping[str, str] | None
) -> dict[str, str]:
    """``save_references``' ``url`` as a mapping ``{source: location to record}``."""
    if not isinstance(url, str):
        return dict(url or {})
    if len(sources) > 1:
        raise ReferenceFileError(
            f"{path}: url={url!r} is ambiguous, the references name {len(sources)} "
            f"sources ({', '.join(sources)}); pass a mapping {{source: url}}"
        )
    return dict.fromkeys(sources, url)


def _header(
    refset: ReferenceSet,
    path: str,
    sources: list[str],
    names: dict[str, str],
    replace: dict[str, str],
) -> dict[str, Any]:
    """Everything of an nwbzarr reference JSON before ``refs``: version, block, templates."""
    json_dir = os.path.dirname(path)
    templates = {names[src]: replace.get(src) or _written_location(src) for src in sources}
    relative = {  # read against the JSON's directory by nwbzarr, so the pair can move
        names[src]: rel
        for src in sources
        if not replace.get(src) and (rel := _relative_location(src, json_dir)) is not None
    }
    header: dict[str, Any] = {
        "version": 1,
        "nwbzarr": {
            "format_version": FORMAT_VERSION,
            "zarr_format": refset.zarr_format,
            "dialect": refset.dialect,
            "generator": f"nwbzarr {_version()}",
        },
        "templates": templates,
    }
    if relative:
        header["nwbzarr"]["relative"] = relative
    records = {names[src]: rec for src in sources if (rec := _source_record(src))}
    if records:  # checked by the reader before it reads a source (SourceChangedError)
        header["nwbzarr"]["sources"] = records
    return header


def _encode(key: str, value: bytes | ByteRange, names: dict[str, str], path: str) -> Any:
    """One reference -> its JSON value in the nwbzarr layout."""
    if isinstance(value, ByteRange):
        url = "{{" + names[value.url] + "}}"
        if value.length == -1:
            if value.offset:
                raise ReferenceFileError(
                    f"{path}: reference {key!r} reads {value.url!r} from offset {value.offset} "
                    "to the end of the file, which a reference JSON cannot express; give its "
                    "length"
                )
            return [url]
        return [url, value.offset, value.length]
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ReferenceFileError(f"{path}: reference {key!r} is a {type(value).__name__}")
    data = bytes(value)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    metadata = key.rpartition("/")[2] in METADATA_NAMES
    if text is not None and not text.startswith("base64:") and (metadata or _printable(text)):
        return text
    return "base64:" + base64.b64encode(data).decode("ascii")


def _printable(text: str) -> bool:
    return text.isprintable() or text.translate(_WHITESPACE).isprintable()


_WHITESPACE = str.maketrans("", "", "\n\r\t")


def _written_location(source: str) -> str:
    """Source location as written in ``templates``: a URL as is, a local file absolute.

    fsspec's ``ReferenceFileSystem`` resolves a relative path against its working directory,
    not the JSON's, so a template that fsspec (and kerchunk, zindi) can open from anywhere is
    absolute; the JSON-relative form goes into the ``"nwbzarr"`` block
    (:func:`_relative_location`).
    """
    scheme, path = split_scheme(source)
    if scheme is not None or not os.path.isabs(path):
        return source
    return os.path.normpath(path)


def _relative_location(source: str, json_dir: str) -> str | None:
    """``source`` relative to the JSON's directory (``/``-separated) when under it, else None."""
    scheme, path = split_scheme(source)
    if scheme is not None or not os.path.isabs(path):
        return None
    path = os.path.normpath(path)
    try:
        under = os.path.commonpath([path, json_dir]) == json_dir
    except ValueError:
        under = False
    if not under or path == json_dir:
        return None
    return os.path.relpath(path, json_dir).replace(os.sep, "/")


def _moved_templates(templates: dict[str, str], block: Any, where: str) -> dict[str, str]:
    """Templates with the JSON-relative locations of an nwbzarr block put in (see below).

    ``save_references`` writes a local source under the JSON's directory twice: absolute in
    ``templates`` (for fsspec) and relative in ``nwbzarr.relative``. nwbzarr reads the relative
    form, resolved against wherever the JSON is now, so the JSON and its data can move
    together. It does so only while the template still ends with that relative path (the
    same file at its old place); a template changed since (another file, a URL) is followed.
    The result is checked by the access policy like any other target.
    """
    relative = block.get("relative") if isinstance(block, dict) else None
    if relative is None:
        return templates
    if not isinstance(relative, dict) or not all(isinstance(v, str) for v in relative.values()):
        raise ReferenceFileError(f"{where}: 'nwbzarr.relative' must map names to strings")
    out = dict(templates)
    for name, rel in relative.items():
        template = templates.get(name)
        if not rel or template is None or split_scheme(template)[0] is not None:
            continue
        if template.replace(os.sep, "/").endswith("/" + rel.lstrip("/")):
            out[name] = rel
    return out


def _write_atomic(path: str, data: bytes) -> None:
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a reference JSON is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nwbzarr")
    except Exception:  # not installed (running from a source tree)
        return "unknown"
