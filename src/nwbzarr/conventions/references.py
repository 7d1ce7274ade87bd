"""Object references and soft/external links as JSON values.

Convention (unified Zarr v3 HDMF layout): a reference in an attribute is
``{"_REFERENCE": {"source": ".", "path": "/target"}}``; a reference inside a dataset is the
plain target path string (the dataset carries ``_DTYPE = "object_reference"``); a link is an
entry ``{"name", "source", "path"}`` of the parent group's ``_LINKS`` list, where ``source`` is
``"."`` for the same store or a path relative to this store's root for another store.
"""

from __future__ import annotations

import posixpath
import reprlib
from typing import Any

from ..errors import MalformedAttributeError
from .attributes import LINKS_ATTR, REFERENCE_KEY

SAME_FILE = "."


def builder_path(builder: Any) -> str:
    """Return the absolute path of a builder inside its file (``"/"`` for the root).

    Parameters
    ----------
    builder : hdmf.build.Builder
        A group, dataset or link builder. The ``parent`` chain is walked; a group without a
        parent is the file's root group. A dataset without a parent (and without a
        ``location``) sits directly under the root, as HDMF's backends place it
        (``write_dataset(io.file, DatasetBuilder("x", ...))`` writes ``/x``).

    Returns
    -------
    str
        Absolute POSIX path such as ``"/acquisition/ts/data"``.
    """
    if builder.parent is None and getattr(builder, "location", None) not in (None, "", "/"):
        # an orphan read directly as a reference target: its location is its parent's path
        return normalize_path(posixpath.join(builder.location, builder.name))
    if builder.parent is None and _is_dataset_builder(builder):
        return normalize_path(builder.name)
    names = []
    curr = builder
    while curr.parent is not None:
        names.append(curr.name)
        curr = curr.parent
    return "/" + "/".join(reversed(names))


def _is_dataset_builder(builder: Any) -> bool:
    """A ``DatasetBuilder`` (it holds ``data``; a group holds ``groups``), without hdmf."""
    return hasattr(builder, "data") and not hasattr(builder, "groups")


def normalize_path(path: str) -> str:
    """Return ``path`` as an absolute, normalised POSIX path (``""`` and ``"."`` become ``"/"``)."""
    path = posixpath.normpath("/" + path.strip("/"))
    return "/" if path in ("/", "//") else path


def attribute_reference(path: str, source: str = SAME_FILE) -> dict:
    """Return the JSON value stored for an object reference held in an attribute."""
    return {REFERENCE_KEY: {"source": source, "path": normalize_path(path)}}


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 4


def _short(value: Any) -> str:
    """A short repr of an untrusted value, for error messages."""
    return _REPR.repr(value)


def parse_attribute_reference(value: Any, where: str | None = None) -> tuple[str, str] | None:
    """Return ``(source, path)`` if ``value`` is an attribute reference, else ``None``.

    Parameters
    ----------
    value : Any
        A JSON attribute value.
    where : str, optional
        Node path and attribute name (``"/a/b: attribute 'x'"``). When given, a value that
        uses the ``_REFERENCE`` key but is not ``{"_REFERENCE": {"source": str, "path": str}}``
        raises instead of being taken for an ordinary value.

    Raises
    ------
    MalformedAttributeError
        ``where`` is given and ``value`` is a malformed reference.
    """
    if not (isinstance(value, dict) and REFERENCE_KEY in value):
        return None
    ref = value[REFERENCE_KEY]
    if (
        set(value) == {REFERENCE_KEY}
        and isinstance(ref, dict)
        and isinstance(ref.get("path"), str)
        and isinstance(ref.get("source", SAME_FILE), str)
    ):
        return ref.get("source", SAME_FILE), normalize_path(ref["path"])
    if where is None:
        return None
    raise MalformedAttributeError(
        f"{where}: a {REFERENCE_KEY!r} value must be "
        f'{{"{REFERENCE_KEY}": {{"source": "<text>", "path": "<absolute path>"}}}} and nothing '
        f"else, not {_short(value)}"
    )


def parse_links(value: Any, where: str) -> list[tuple[str, str, str]]:
    """Validate a group's ``_LINKS`` attribute and return its ``(name, source, path)`` triples.

    Parameters
    ----------
    value : Any
        The attribute's JSON value (``None`` for no links).
    where : str
        The group's path (with the store), for error messages.

    Raises
    ------
    MalformedAttributeError
        ``value`` is not a list of objects whose ``name`` (a name without ``/``), ``path`` and
        optional ``source`` are text.
    """
    if value is None:
        return []
    must = (
        'a list of {"name": "<name>", "source": "<store>", "path": "<absolute path>"} '
        "objects with text values"
    )
    if not isinstance(value, list):
        raise MalformedAttributeError(
            f"{where}: attribute {LINKS_ATTR} must be {must}, not {_short(value)}"
        )
    out = []
    for i, entry in enumerate(value):
        ok = isinstance(entry, dict)
        name = entry.get("name") if ok else None
        path = entry.get("path") if ok else None
        source = entry.get("source", SAME_FILE) if ok else None
        if not (
            isinstance(name, str)
            and name
            and "/" not in name
            and name not in (".", "..")
            and isinstance(path, str)
            and isinstance(source, str)
        ):
            raise MalformedAttributeError(
                f"{where}: attribute {LINKS_ATTR} must be {must}; entry {i} is {_short(entry)}"
            )
        out.append((name, source, normalize_path(path)))
    return out


def link_entry(name: str, path: str, source: str = SAME_FILE) -> dict:
    """Return one ``_LINKS`` entry."""
    return {"name": name, "source": source, "path": normalize_path(path)}
