"""Opening the h5py-like view: :func:`h5py_view` and the :class:`Source` of one opened file.

One :class:`Source` per opened file holds the zarr root, an index of every node (one
``members()`` call, served from consolidated metadata), the attributes and links parsed on first
use, and the views of other files that external links lead to. Paths resolve as HDF5 resolves
them: soft links (``_LINKS`` entries with source ``"."``) are followed wherever they appear in a
path, external links open the other file through :func:`h5py_view` after the access
policy checked it (:meth:`nwbzarr.storage.policy.AccessPolicy.check_link`, as the reader does),
a chain of links that comes back to itself raises :class:`~nwbzarr.errors.LinkCycleError` and
one longer than ``limits.max_link_depth`` raises :class:`~nwbzarr.errors.LimitExceededError`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import zarr

from .. import limits
from ..backend.io import ZarrIO
from ..compat import quiet_zarr_warnings
from ..conventions.attributes import LINKS_ATTR
from ..conventions.references import SAME_FILE, parse_links
from ..errors import InvalidModeError, LinkCycleError, ReadOnlyError
from .datasets import Dataset
from .groups import File, Group
from .nodes import clean_path
from .values import Reference, view_attributes, view_dtype

__all__ = ["Source", "h5py_view"]


_H5PY_WRITE_MODES = ("r+", "w", "w-", "x", "a")


def h5py_view(
    path_or_url: str | os.PathLike[str] | Any,
    mode: str = "r",
    *,
    storage_options: dict | None = None,
    cache: Any = None,
) -> File:
    """Open anything nwbzarr reads as a read-only, h5py-like :class:`File`.

    Parameters
    ----------
    path_or_url : str, os.PathLike or zarr store
        A Zarr v3 store directory (``*.nwb.zarr``), a legacy hdmf-zarr v2 store, an HDF5 file
        (``.nwb``), a reference JSON (``.json``: ours, LINDI, kerchunk), a LINDI ``.lindi.tar``
        or ``.lindi.d``; a local path or a URL (``https://``, ``s3://``, ...), or a zarr store
        object.
    mode : {"r"}
        Only ``"r"``: the view never writes.
    storage_options : dict, optional
        fsspec options for a URL (headers, credentials), also used for the files that
        external links open.
    cache : nwbzarr.LocalCache or str, optional
        On-disk cache of remote chunk bytes (HDF5 files and reference JSON read from a URL).

    Returns
    -------
    File
        The root group; close it (or use ``with``) to release the store.

    Raises
    ------
    ReadOnlyError
        ``mode`` is one of h5py's writing modes (``"r+"``, ``"w"``, ``"w-"``, ``"x"``,
        ``"a"``).
    InvalidModeError
        Any other ``mode`` but ``"r"``.
    StoreNotFoundError
        Nothing at ``path_or_url``.
    NotAZarrStoreError, IncompleteStoreError, ReferenceFileError, HDF5IndexError
        The source is not a readable store, file or reference JSON (see
        :class:`nwbzarr.ZarrIO`).
    UntrustedReferenceError
        A reference JSON points outside what the access policy allows.
    """
    if mode in _H5PY_WRITE_MODES:
        raise ReadOnlyError(
            f"{path_or_url}: nwbzarr.h5py_view opens files read-only (mode 'r'), not "
            f"{mode!r}; write with nwbzarr.NWBZarrIO(path, mode='a') instead"
        )
    if mode != "r":
        raise InvalidModeError(
            f"{path_or_url}: mode {mode!r} is not supported by nwbzarr.h5py_view; use 'r'"
        )
    path = os.fspath(path_or_url) if isinstance(path_or_url, (str, Path)) else path_or_url
    io = ZarrIO(path, mode="r", storage_options=storage_options, cache=cache)
    try:
        filename = path if isinstance(path, str) else f"<{type(path).__name__} {id(path):#x}>"
        local = isinstance(path, str) and "://" not in path
        key = os.path.realpath(path) if local else filename
        options = {"storage_options": storage_options, "cache": cache}
        source = Source(io, filename, options, key)
        return File(source)
    except BaseException:
        io.close()
        raise


class Source:
    """One opened file: the ``ZarrIO`` that opened it, its node index, links and attributes.

    Parameters
    ----------
    io : ZarrIO
        The reader that opened the file (closed with the view).
    filename : str
        The path or URL it was opened from (named in messages).
    options : dict
        ``storage_options`` and ``cache``, for the files external links open.
    key : str, optional
        Identity of the file in references and object ids (default: ``filename``).
    """

    def __init__(self, io: Any, filename: str, options: dict, key: str | None = None) -> None:
        self.io = io
        self.filename = filename
        self.key = key or filename
        self.options = options  # storage_options / cache, for the files external links open
        self.closed = False
        self.file: File | None = None
        self.externals: dict[str, File] = {}
        root = io.file
        self.nodes: dict[str, Any] = {"/": root}
        self.children: dict[str, list[str]] = {"/": []}
        with quiet_zarr_warnings():
            members = list(root.members(max_depth=None))
        for rel, node in members:
            path = "/" + rel
            self.nodes[path] = node
            parent, _, name = path.rpartition("/")
            self.children.setdefault(parent or "/", []).append(name)
            if isinstance(node, zarr.Group):
                self.children.setdefault(path, [])
        for names in self.children.values():
            names.sort()
        self._raw: dict[str, dict] = {}
        self._attrs: dict[str, dict] = {}
        self._links: dict[str, dict[str, tuple[str, str]]] = {}
        self._dtypes: dict[str, np.dtype] = {}

    # -- state ------------------------------------------------------------------------------
    def check_open(self) -> None:
        if self.closed:
            raise ValueError(f"{self.filename}: the h5py view is closed (invalid object)")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            for ext in self.externals.values():
                ext.close()
        finally:
            self.externals = {}
            self.io.close()

    # -- per-node metadata (parsed on first use) --------------------------------------------
    def raw_attrs(self, path: str) -> dict:
        raw = self._raw.get(path)
        if raw is None:
            raw = self._raw[path] = self.nodes[path].attrs.asdict()
        return raw

    def attrs(self, path: str) -> dict:
        out = self._attrs.get(path)
        if out is None:
            out = view_attributes(self.raw_attrs(path), self.make_ref, f"{self.filename}: {path}")
            self._attrs[path] = out
        return out

    def links(self, path: str) -> dict[str, tuple[str, str]]:
        """Soft and external links of the group at real path ``path``: name -> (source, path)."""
        out = self._links.get(path)
        if out is None:
            entries = parse_links(self.raw_attrs(path).get(LINKS_ATTR), f"{self.filename}: {path}")
            out = {name: (source, target) for name, source, target in entries}
            self._links[path] = out
        return out

    def entries(self, path: str) -> dict[str, tuple[str, Any]]:
        """Every link of a group by name (sorted): ``("hard", child path)``, ``("soft",
        target)`` or ``("external", (file, target))``; a node wins over a link of its name."""
        found: dict[str, tuple[str, Any]] = {}
        for name in self.children.get(path, ()):
            found[name] = ("hard", posixpath.join(path, name))
        for name, (source, target) in self.links(path).items():
            if name not in found:
                kind = "soft" if source == SAME_FILE else "external"
                found[name] = (kind, target if kind == "soft" else (source, target))
        return dict(sorted(found.items()))

    def view_dtype(self, path: str) -> np.dtype:
        dtype = self._dtypes.get(path)
        if dtype is None:
            dtype = self._dtypes[path] = view_dtype(self.nodes[path].dtype, self.raw_attrs(path))
        return dtype

    def make_ref(self, path: str) -> Reference:
        return Reference(path, self.key)

    # -- paths ------------------------------------------------------------------------------
    def resolve(self, path: str, stack: tuple = ()) -> tuple[Source, str]:
        """The file and real path of the object at ``path`` (absolute), links followed.

        Raises
        ------
        KeyError
            Nothing at ``path`` (a missing name, a dangling link, a name under a dataset).
        LinkCycleError
            Links that lead back to themselves.
        LimitExceededError
            A chain longer than ``limits.max_link_depth``.
        UntrustedReferenceError
            An external link the access policy refuses.
        """
        self.check_open()
        parts = [p for p in path.split("/") if p and p != "."]
        current = "/"
        for i, name in enumerate(parts):
            child = posixpath.join(current, name)
            if not isinstance(self.nodes[current], zarr.Group):
                raise KeyError(f"{self.filename}: no object {path!r}: {current!r} is a dataset")
            if child in self.nodes:
                current = child
                continue
            link = self.links(current).get(name)
            if link is None:
                raise KeyError(
                    f"{self.filename}: no object {path!r} ({name!r} not found in {current!r})"
                )
            source, target, key = link[0], link[1], (self.key, child)
            if key in stack:
                chain = [p for _, p in stack[stack.index(key) :]] + [child]
                raise LinkCycleError(
                    f"{self.filename}: {path}: links form a cycle: {' -> '.join(chain)}; "
                    "remove or retarget one of these links"
                )
            if len(stack) >= limits.current().max_link_depth:
                raise limits.exceeded(
                    f"{self.filename}: {path}: a chain of {len(stack) + 1} links",
                    "max_link_depth",
                    len(stack) + 1,
                )
            if source == SAME_FILE:
                owner, real = self.resolve(target, (*stack, key))
            else:
                other = self.external(source, child)
                owner, real = other._src.resolve(target, (*stack, key))
            rest = "/".join(parts[i + 1 :])
            if not rest:
                return owner, real
            return owner.resolve(posixpath.join(real, rest), stack)
        return self, current

    def external(self, source: str, where: str) -> File:
        """The view of the file an external link at ``where`` names (policy-checked, cached)."""
        io = self.io  # the same checks the reader's links make
        target = io.linked_sources.check(source, where, store=str(io.source or self.filename))
        found = self.externals.get(target)
        if found is None or found._src.closed:  # HDF5IO.close_linked_files closes them
            found = self.externals[target] = h5py_view(target, **self.options)
        return found

    def node(self, real: str, name: str) -> Group | Dataset:
        """The view object of the node at real path ``real``, named ``name``."""
        if isinstance(self.nodes[real], zarr.Array):
            return Dataset(self, real, name)
        return Group(self, real, name)

    def lookup(self, base_real: str, base_name: str, name: Any) -> Group | Dataset:
        """``group[name]`` for a group at ``base_real`` (named ``base_name``)."""
        if isinstance(name, Reference):
            return self.deref(name)
        if isinstance(name, h5py.Reference):
            raise ValueError("Invalid HDF5 object reference (not one of an nwbzarr h5py view)")
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        if not isinstance(name, str):
            raise TypeError(f"Accessing a group is done with bytes or str, not {type(name)}")
        if not name:
            raise ValueError("Empty path name")
        absolute = name.startswith("/")
        owner, real = self.resolve(name if absolute else posixpath.join(base_real, name))
        access = clean_path(name if absolute else posixpath.join(base_name, name))
        return owner.node(real, access if owner is self else real)

    def deref(self, ref: Reference) -> Group | Dataset:
        """The object an object reference names.

        Raises
        ------
        ValueError
            A null reference.
        KeyError
            A reference to a path that does not exist.
        """
        self.check_open()
        if not ref:
            raise ValueError("Invalid HDF5 object reference (null reference)")
        try:
            owner, real = self.resolve(ref.path)
        except KeyError:
            raise KeyError(
                f"{self.filename}: an object reference points at {ref.path!r}, which does not "
                "exist in the file"
            ) from None
        return owner.node(real, ref.path if owner is self else real)

    def walk(self, real: str) -> Iterator[str]:
        """Paths relative to ``real`` of every node below it, pre-order in name order."""
        stack = [(real, "")]
        while stack:
            path, rel = stack.pop()
            for name in reversed(self.children.get(path, ())):
                stack.append((posixpath.join(path, name), f"{rel}/{name}" if rel else name))
            if rel:
                yield rel

    def walk_links(self, real: str) -> Iterator[tuple[str, str, Any]]:
        """Every link below ``real`` (not followed): ``(relative name, kind, value)``."""
        stack: list[tuple[str, str, str, Any]] = [("", "hard", real, None)]
        while stack:
            rel, kind, value, _ = stack.pop()
            if kind == "hard":
                entries = list(self.entries(value).items()) if value in self.children else []
                for name, (k, v) in reversed(entries):
                    stack.append((f"{rel}/{name}" if rel else name, k, v, None))
            if rel:
                yield rel, kind, value
