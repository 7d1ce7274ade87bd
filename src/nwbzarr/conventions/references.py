"""Object references and soft/external links as JSON values.

Convention (unified Zarr v3 HDMF layout): a reference in an attribute is
``{"_REFERENCE": {"source": ".", "path": "/target"}}``; a reference inside a dataset is the
plain target path string (the dataset carries ``_DTYPE = "object_reference"``); a link is an
entry ``{"name", "source", "path"}`` of the parent group's ``_LINKS`` list, where ``source`` is
``"."`` for the same store or a path relative to this store's root for another store.
"""

from __future__ import annotations

import posixpath
from typing import Any

from .attributes import REFERENCE_KEY

SAME_FILE = "."


def builder_path(builder: Any) -> str:
    """Return the absolute path of a builder inside its file (``"/"`` for the root).

    Parameters
    ----------
    builder : hdmf.build.Builder
        A group, dataset or link builder. The ``parent`` chain is walked; a builder without a
        parent is the file's root group.

    Returns
    -------
    str
        Absolute POSIX path such as ``"/acquisition/ts/data"``.
    """
    if builder.parent is None and getattr(builder, "location", None) not in (None, "", "/"):
        # an orphan read directly as a reference target: its location is its parent's path
        return normalize_path(posixpath.join(builder.location, builder.name))
    names = []
    curr = builder
    while curr.parent is not None:
        names.append(curr.name)
        curr = curr.parent
    return "/" + "/".join(reversed(names))


def normalize_path(path: str) -> str:
    """Return ``path`` as an absolute, normalised POSIX path (``""`` and ``"."`` become ``"/"``)."""
    path = posixpath.normpath("/" + path.strip("/"))
    return "/" if path in ("/", "//") else path


def attribute_reference(path: str, source: str = SAME_FILE) -> dict:
    """Return the JSON value stored for an object reference held in an attribute."""
    return {REFERENCE_KEY: {"source": source, "path": normalize_path(path)}}


def parse_attribute_reference(value: Any) -> tuple[str, str] | None:
    """Return ``(source, path)`` if ``value`` is an attribute reference, else ``None``."""
    if isinstance(value, dict) and set(value) == {REFERENCE_KEY}:
        ref = value[REFERENCE_KEY]
        if isinstance(ref, dict) and "path" in ref:
            return str(ref.get("source", SAME_FILE)), normalize_path(str(ref["path"]))
    return None


def link_entry(name: str, path: str, source: str = SAME_FILE) -> dict:
    """Return one ``_LINKS`` entry."""
    return {"name": name, "source": source, "path": normalize_path(path)}
