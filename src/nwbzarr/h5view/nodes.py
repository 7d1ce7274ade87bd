"""``File``, ``Group``, ``Dataset`` and ``AttributeManager`` of the h5py-like view.

The classes subclass h5py's (``isinstance(view, h5py.File)`` holds, so hdmf's ``HDF5IO`` and
pynwb's ``NWBHDF5IO`` accept them; see the h5py section of :mod:`nwbzarr.compat`) without an
HDF5 identifier behind them: every public member reads the zarr group that nwbzarr opened.

One :class:`_Source` per opened file holds the zarr root, an index of every node (one
``members()`` call, served from consolidated metadata), the attributes and links parsed on first
use, and the views of other files that external links lead to. Paths resolve as HDF5 resolves
them: soft links (``_LINKS`` entries with source ``"."``) are followed wherever they appear in a
path, external links open the other file through :func:`nwbzarr.h5py_view` after the access
policy checked it (:meth:`nwbzarr.virtual.policy.AccessPolicy.check_link`, as the reader does),
a chain of links that comes back to itself raises :class:`~nwbzarr.errors.LinkCycleError` and
one longer than ``limits.max_link_depth`` raises :class:`~nwbzarr.errors.LimitExceededError`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.utils import StrDataset

from .. import limits
from ..backend.lazy import checked_read
from ..backend.opening import _QuietZarr
from ..compat import h5py_view_bases, wrap_hdf5io_text_datasets
from ..conventions.attributes import LINKS_ATTR, REFERENCE_FIELDS_ATTR
from ..conventions.references import SAME_FILE, parse_links
from ..errors import LinkCycleError, ReadOnlyError
from .selection import parse_selection
from .values import Reference, reference_fields, to_view_values, view_attributes, view_dtype

__all__ = ["AttributeManager", "Dataset", "File", "Group", "ObjectID", "TextDataset"]

_BASES = h5py_view_bases()


def _read_only(what: str, filename: str) -> ReadOnlyError:
    return ReadOnlyError(
        f"{filename}: cannot {what}: nwbzarr.h5py_view is read-only; change the file with "
        "nwbzarr.NWBZarrIO(path, mode='a') (Zarr stores, HDF5 files and reference JSON)"
    )


def _h5py_link(kind: str, value: Any) -> Any:
    """The h5py link object of a link entry: ``h5py.HardLink``, ``SoftLink`` or ``ExternalLink``.

    ``kind`` is ``"hard"``, ``"soft"`` (``value`` the target path) or ``"external"`` (``value``
    the ``(filename, path)`` pair).
    """
    if kind == "hard":
        return h5py.HardLink()
    if kind == "soft":
        return h5py.SoftLink(value)
    return h5py.ExternalLink(value[0], value[1])


def _first_result(func: Any, items: Iterator[tuple[str, Any]]) -> Any:
    """Call ``func(name, item)`` for each pair until one returns non-None (h5py's visit rule)."""
    for name, item in items:
        result = func(name, item)
        if result is not None:
            return result
    return None


def _clean(path: str) -> str:
    """An absolute path without empty or ``.`` components (``..`` is a name, as in HDF5)."""
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


class ObjectID:
    """The identity of a view object, standing in for h5py's ``ObjectID``.

    Two objects reached through different paths (a soft link and its target) have equal
    identifiers, as in h5py; hdmf keys the builders it has read by them.

    Parameters
    ----------
    source : _Source
        The opened file.
    path : str
        The object's real (link-free) absolute path.
    dtype : numpy.dtype, optional
        A dataset's view dtype.
    shape : tuple of int, optional
        A dataset's shape.
    """

    __slots__ = ("_source", "path", "dtype", "shape")

    def __init__(
        self, source: _Source, path: str, dtype: np.dtype | None = None, shape: tuple = ()
    ) -> None:
        self._source = source
        self.path = path
        self.dtype = dtype
        self.shape = tuple(shape)

    @property
    def rank(self) -> int:
        """Number of dimensions (``len(shape)``)."""
        return len(self.shape)

    @property
    def valid(self) -> bool:
        """False once the file is closed."""
        return not self._source.closed

    def __bool__(self) -> bool:
        return self.valid

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObjectID):
            return NotImplemented
        return (self._source.key, self.path) == (other._source.key, other.path)

    def __hash__(self) -> int:
        return hash((self._source.key, self.path))

    def __repr__(self) -> str:
        return f"<nwbzarr ObjectID {self.path!r} in {self._source.filename!r}>"


class _Source:
    """One opened file: the ``ZarrIO`` that opened it, its node index, links and attributes."""

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
        with _QuietZarr():
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
    def resolve(self, path: str, stack: tuple = ()) -> tuple[_Source, str]:
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
        from ..storage.resolve import is_remote_url, join_location
        from ..virtual.policy import AccessPolicy

        io = self.io
        base = io._store_root()  # the same checks ReadMixin._external_io makes
        own_dir = base
        if getattr(io, "_virtual_kind", None) is None:  # a directory store: its siblings
            own_dir = join_location(base, "..") if is_remote_url(base) else os.path.dirname(base)
        policy = getattr(io, "_access_policy", None) or AccessPolicy()
        target = policy.check_link(str(io.source or self.filename), base, own_dir, where, source)
        found = self.externals.get(target)
        if found is None or found._src.closed:  # HDF5IO.close_linked_files closes them
            from . import h5py_view

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
        access = _clean(name if absolute else posixpath.join(base_name, name))
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


class _Node:
    """Members shared by groups and datasets (h5py's ``HLObject``)."""

    _src: _Source
    _real: str
    _name: str

    def _setup(self, source: _Source, real: str, name: str) -> None:
        self._src = source
        self._real = real
        self._name = name

    @property
    def name(self) -> str:
        """Absolute path through which the object was reached (``"/"`` for the root)."""
        return self._name

    @property
    def file(self) -> File:
        """The :class:`File` this object belongs to."""
        return self._src.file

    @property
    def parent(self) -> Group:
        """The group holding this object (the root's parent is the root)."""
        return self.file[posixpath.dirname(self._name) or "/"]

    @property
    def id(self) -> ObjectID:
        """The object's identity (equal for a soft link and its target)."""
        return self._id

    @property
    def ref(self) -> Reference:
        """An object reference to this object (``file[obj.ref]`` returns it)."""
        return Reference(self._real, self._src.key)

    @property
    def regionref(self) -> Any:
        """Region references are not supported by the view."""
        raise NotImplementedError("nwbzarr.h5py_view has no region references")

    @property
    def attrs(self) -> AttributeManager:
        """The object's attributes (read-only mapping)."""
        self._src.check_open()
        return AttributeManager(self)

    def __bool__(self) -> bool:
        return not self._src.closed

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Node):
            return self._id == other._id
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._id)

    def __getnewargs__(self) -> tuple:
        raise TypeError("h5py view objects cannot be pickled")

    def __getstate__(self) -> Any:
        raise TypeError("h5py view objects cannot be pickled")


class AttributeManager(Mapping):
    """Read-only attributes of a view object, as ``h5py.AttributeManager`` reads them.

    Text comes back as ``str`` (lists of text as ``object`` arrays of ``str``), numbers as
    numpy scalars or arrays, object references as :class:`~nwbzarr.h5view.values.Reference`.

    Parameters
    ----------
    node : Group or Dataset
        The object whose attributes these are.
    """

    def __init__(self, node: _Node) -> None:
        self._node = node

    def _values(self) -> dict:
        self._node._src.check_open()
        return self._node._src.attrs(self._node._real)

    def __getitem__(self, name: str) -> Any:
        values = self._values()
        try:
            return values[name]
        except KeyError:
            raise KeyError(f"Can't open attribute (can't locate attribute: {name!r})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values()))

    def __len__(self) -> int:
        return len(self._values())

    def __contains__(self, name: object) -> bool:
        return name in self._values()

    def __setitem__(self, name: str, value: Any) -> None:
        raise _read_only(f"set attribute {name!r} of {self._node.name}", self._node._src.filename)

    def __delitem__(self, name: str) -> None:
        raise _read_only(
            f"delete attribute {name!r} of {self._node.name}", self._node._src.filename
        )

    def create(self, name: str, data: Any, shape: Any = None, dtype: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise _read_only(f"create attribute {name!r}", self._node._src.filename)

    def modify(self, name: str, value: Any) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise _read_only(f"modify attribute {name!r}", self._node._src.filename)

    def get_id(self, name: str) -> Any:
        """Refused: attributes have no HDF5 identifier in the view."""
        raise NotImplementedError("attributes of nwbzarr.h5py_view have no HDF5 identifier")

    def __repr__(self) -> str:
        return f"<Attributes of HDF5 object at {self._node.name!r}>"


class Group(_Node, _BASES["Group"]):
    """A group of an h5py-like view (an ``h5py.Group``; read-only).

    Names and iteration follow h5py: members in name order, soft and external links
    included (as their targets; ``get(name, getlink=True)`` returns the ``h5py.SoftLink`` /
    ``h5py.ExternalLink`` / ``h5py.HardLink`` itself), paths absolute or relative, ``group[ref]``
    for object references.

    Parameters
    ----------
    source : _Source
        The opened file.
    real : str
        The group's real absolute path.
    name : str
        The path it was reached through.
    """

    def __init__(self, source: _Source, real: str, name: str) -> None:
        self._setup(source, real, name)
        self._id = ObjectID(source, real)

    # -- mapping ----------------------------------------------------------------------------
    def _entries(self) -> dict[str, tuple[str, Any]]:
        self._src.check_open()
        return self._src.entries(self._real)

    def __getitem__(self, name: Any) -> Group | Dataset:
        """The object at ``name`` (a path relative to this group or absolute, or a reference).

        Raises
        ------
        KeyError
            Nothing there (missing, dangling link, reference to a missing path).
        LinkCycleError
            The path runs into a cycle of links.
        UntrustedReferenceError
            An external link on the path is refused by the access policy.
        """
        return self._src.lookup(self._real, self._name, name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries()))

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, name: object) -> bool:
        """True if a link of that name exists at the end of the path (even dangling, as h5py)."""
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        if not isinstance(name, str) or not name:
            return False
        return self._link_entry(name) is not None

    def __reversed__(self) -> Iterator[str]:
        return iter(reversed(list(self._entries())))

    def keys(self) -> KeysView:
        """Names of the members (links of every kind), in name order."""
        return KeysView(self)

    def values(self) -> ValuesView:
        """The member objects (links followed), in name order."""
        return ValuesView(self)

    def items(self) -> ItemsView:
        """``(name, object)`` pairs, in name order."""
        return ItemsView(self)

    def _link_entry(self, name: str) -> tuple[_Source, str, tuple[str, Any]] | None:
        """(file, real parent path, entry) of the last link of a path; None if absent."""
        path = name if name.startswith("/") else posixpath.join(self._real, name)
        parent, _, last = _clean(path).rpartition("/")
        if not last:
            return (self._src, "/", ("hard", "/"))
        try:
            owner, real_parent = self._src.resolve(parent or "/")
        except KeyError:
            return None
        if real_parent not in owner.children:
            return None  # a dataset
        entry = owner.entries(real_parent).get(last)
        return None if entry is None else (owner, real_parent, entry)

    def get(
        self, name: Any, default: Any = None, getclass: bool = False, getlink: bool = False
    ) -> Any:
        """The member at ``name``, or ``default`` if there is none (h5py's ``Group.get``).

        Parameters
        ----------
        name : str or Reference
            Path (relative or absolute) or object reference.
        default : Any
            Returned when nothing is at ``name``.
        getclass : bool
            Return the class (``h5py.Group``/``h5py.Dataset``, or the link class with
            ``getlink``) instead of the object.
        getlink : bool
            Return the link itself: ``h5py.HardLink()``, ``h5py.SoftLink(path)`` or
            ``h5py.ExternalLink(filename, path)``.

        Raises
        ------
        LinkCycleError
            The path runs into a cycle of links (h5py raises RuntimeError there).
        """
        if not getlink:
            try:
                obj = self[name]
            except KeyError:
                return default
            if getclass:
                return h5py.Dataset if isinstance(obj, Dataset) else h5py.Group
            return obj
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        found = self._link_entry(name)
        if found is None:
            return default
        link = _h5py_link(*found[2])
        return type(link) if getclass else link

    # -- walking ----------------------------------------------------------------------------
    def visit(self, func: Any) -> Any:
        """Call ``func(name)`` for every object below this group (see :meth:`visititems`).

        Parameters
        ----------
        func : callable
            ``func(name) -> None`` to go on, anything else to stop.

        Returns
        -------
        Any
            The first non-None value ``func`` returned, else None.
        """
        return self.visititems(lambda name, obj: func(name))

    def visititems(self, func: Any) -> Any:
        """Call ``func(name, obj)`` for every object below this group, as h5py does.

        Objects are visited pre-order in name order, each reached by its own (hard) path;
        soft and external links are not followed, so a link cycle cannot make it loop.

        Parameters
        ----------
        func : callable
            ``func(name, obj) -> None`` to go on, anything else to stop; ``name`` is relative
            to this group, ``obj`` a :class:`Group` or :class:`Dataset`.

        Returns
        -------
        Any
            The first non-None value ``func`` returned, else None.
        """
        self._src.check_open()
        rels = list(self._src.walk(self._real))

        def node(rel: str) -> Group | Dataset:
            return self._src.node(posixpath.join(self._real, rel), posixpath.join(self._name, rel))

        return _first_result(func, ((rel, node(rel)) for rel in rels))

    def visit_links(self, func: Any) -> Any:
        """Call ``func(name)`` for every link below this group (see :meth:`visititems_links`).

        Parameters
        ----------
        func : callable
            ``func(name) -> None`` to go on, anything else to stop.

        Returns
        -------
        Any
            The first non-None value ``func`` returned, else None.
        """
        return self.visititems_links(lambda name, link: func(name))

    def visititems_links(self, func: Any) -> Any:
        """Call ``func(name, link)`` for every link below this group (h5py >= 3.11's method).

        Parameters
        ----------
        func : callable
            ``func(name, link) -> None`` to go on, anything else to stop; ``link`` is an
            ``h5py.HardLink``, ``h5py.SoftLink`` or ``h5py.ExternalLink`` (soft and external
            links are reported, not followed).

        Returns
        -------
        Any
            The first non-None value ``func`` returned, else None.
        """
        self._src.check_open()
        links = list(self._src.walk_links(self._real))
        return _first_result(func, ((rel, _h5py_link(kind, value)) for rel, kind, value in links))

    # -- refused writes ---------------------------------------------------------------------
    def _refuse(self, what: str) -> Any:
        raise _read_only(f"{what} in {self._name}", self._src.filename)

    def __setitem__(self, name: str, obj: Any) -> None:
        self._refuse(f"create {name!r}")

    def __delitem__(self, name: str) -> None:
        self._refuse(f"delete {name!r}")

    def create_group(self, name: str, track_order: Any = None) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create group {name!r}")

    def require_group(self, name: str) -> Any:
        """The group at ``name`` if it exists; creating one is refused (ReadOnlyError)."""
        if name in self:
            obj = self[name]
            if isinstance(obj, Group):
                return obj
            raise TypeError(f"Incompatible object ({type(obj).__name__}) already exists")
        return self._refuse(f"create group {name!r}")

    def create_dataset(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create dataset {name!r}")

    def require_dataset(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create dataset {name!r}")

    def create_dataset_like(self, name: str, other: Any, **kwargs: Any) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create dataset {name!r}")

    def create_virtual_dataset(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create dataset {name!r}")

    def build_virtual_dataset(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        return self._refuse(f"create dataset {name!r}")

    def move(self, source: str, dest: str) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        self._refuse(f"move {source!r}")

    def copy(self, source: Any, dest: Any, *args: Any, **kwargs: Any) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        self._refuse(f"copy {source!r}")

    def __repr__(self) -> str:
        if self._src.closed:
            return "<Closed HDF5 group>"
        return f'<HDF5 group "{self._name}" ({len(self)} members)>'


class Dataset(_Node, _BASES["Dataset"]):
    """A dataset of an h5py-like view (an ``h5py.Dataset``; read-only, read lazily).

    Reads follow h5py: ``dset[()]`` is the whole dataset (a numpy scalar, ``bytes`` or
    :class:`~nwbzarr.h5view.values.Reference` for a scalar dataset), integers, slices with a
    positive step, one increasing index list or boolean array per selection, a boolean mask
    of the dataset's shape, compound field names. Variable-length text reads as ``bytes``
    (``asstr()`` decodes), object references as ``Reference`` objects.

    Parameters
    ----------
    source : _Source
        The opened file.
    real : str
        The dataset's real absolute path.
    name : str
        The path it was reached through.
    """

    def __init__(self, source: _Source, real: str, name: str) -> None:
        self._setup(source, real, name)
        self._array = source.nodes[real]
        self._view_dtype = source.view_dtype(real)
        self._ref_fields = (
            reference_fields(source.raw_attrs(real))
            if REFERENCE_FIELDS_ATTR in source.raw_attrs(real)
            else ()
        )
        self._id = ObjectID(source, real, self._view_dtype, tuple(self._array.shape))

    # -- metadata ---------------------------------------------------------------------------
    @property
    def zarr_array(self) -> zarr.Array:
        """The zarr array behind the dataset (lazy)."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape (tuple of int; ``()`` for a scalar dataset)."""
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype:
        """Element type as h5py reports it: ``h5py.string_dtype()`` for text,
        ``h5py.ref_dtype`` for object references, numpy dtypes otherwise."""
        return self._view_dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._array.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self._array.shape))

    @property
    def nbytes(self) -> int:
        """Bytes the elements take in memory (``size * dtype.itemsize``)."""
        return self.size * self._view_dtype.itemsize

    @property
    def maxshape(self) -> tuple[int, ...]:
        """The shape (zarr arrays record no maximum; h5py shows ``None`` for unlimited axes)."""
        return self.shape

    @property
    def chunks(self) -> tuple[int, ...] | None:
        """The chunk shape (the inner chunks of a sharded array); None for a scalar and for
        an array stored as one chunk (what HDF5 calls contiguous)."""
        if not self.shape:
            return None
        chunks = tuple(int(c) for c in self._array.chunks)
        if chunks == self.shape and self._array.shards is None:
            return None
        return chunks

    def _codec_names(self) -> list[str]:
        codecs = [*self._array.filters, *self._array.compressors]
        return [type(c).__name__.lower() for c in codecs]

    def _gzip(self) -> Any:
        for codec in [*self._array.filters, *self._array.compressors]:
            if type(codec).__name__.lower() in ("gzipcodec", "gzip", "zlib"):
                return codec
        return None

    @property
    def compression(self) -> str | None:
        """``"gzip"`` when the data are deflate-compressed, else None (as h5py for filters
        other than gzip, lzf and szip)."""
        if self._gzip() is not None:
            return "gzip"
        if any("lzf" in n for n in self._codec_names()):
            return "lzf"
        return None

    @property
    def compression_opts(self) -> int | None:
        """The gzip level, or None."""
        codec = self._gzip()
        level = getattr(codec, "level", None) if codec is not None else None
        if level is None and codec is not None:
            level = getattr(codec, "codec_config", {}).get("level")
        return None if level is None else int(level)

    @property
    def shuffle(self) -> bool:
        """True if the byte-shuffle filter is applied."""
        return any(n == "shuffle" for n in self._codec_names())

    @property
    def fletcher32(self) -> bool:
        """True if a Fletcher-32 checksum is applied."""
        return any("fletcher32" in n for n in self._codec_names())

    @property
    def scaleoffset(self) -> None:
        """Always None (no scale-offset filter in the view)."""
        return None

    @property
    def fillvalue(self) -> Any:
        """The fill value of unwritten elements (``b""`` for text)."""
        value = self._array.fill_value
        if self._view_dtype.kind == "O" or self._view_dtype.names:
            if self._view_dtype.names:
                return np.zeros((), dtype=self._view_dtype)[()]
            return b"" if not h5py.check_dtype(ref=self._view_dtype) else Reference(None)
        return np.asarray(value, dtype=self._view_dtype)[()]

    @property
    def external(self) -> None:
        """Always None (no HDF5 external storage)."""
        return None

    @property
    def is_virtual(self) -> bool:
        """Always False (no HDF5 virtual dataset)."""
        return False

    @property
    def is_scale(self) -> bool:
        """Always False (dimension scales are not part of the view)."""
        return False

    @property
    def dims(self) -> Any:
        """Not supported: HDF5 dimension scales have no place in the view."""
        raise NotImplementedError(
            "nwbzarr.h5py_view has no HDF5 dimension scales; the zarr array's "
            "dimension_names are in dataset.zarr_array.metadata.dimension_names"
        )

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("Attempt to take len() of scalar dataset")
        return self.shape[0]

    def len(self) -> int:
        """Length of the first axis (as ``len()``)."""
        return len(self)

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise TypeError("Can't iterate over a scalar dataset")
        for i in range(self.shape[0]):
            yield self[i]

    def __getitem__(self, args: Any, new_dtype: Any = None) -> Any:
        """Read a selection (see the class docstring for h5py's rules).

        Returns
        -------
        numpy.ndarray or scalar
            Values as h5py returns them.

        Raises
        ------
        IndexError, TypeError, ValueError
            A selection h5py refuses (out of range, a second or unsorted index list, a step
            < 1, a field the dtype lacks).
        CorruptChunkError
            A stored chunk cannot be decoded (names the array and the chunk).
        """
        self._src.check_open()
        array = self._array
        sel = parse_selection(args, self.shape, array.dtype.names)
        if sel.kind == "orthogonal":
            read = array.oindex.__getitem__
        elif sel.kind == "mask":
            read = array.vindex.__getitem__
        else:
            read = array.__getitem__
        key = () if sel.kind == "scalar" else sel.key
        with _QuietZarr():
            raw = checked_read(array, key, self._src.io, read=read)
        out = to_view_values(
            raw, array.dtype, self._view_dtype, self._src.make_ref, self._ref_fields
        )
        if sel.fields:
            out = out[sel.fields[0]] if len(sel.fields) == 1 else out[list(sel.fields)]
        if sel.kind == "scalar" and len(sel.key) == 1:  # dset[...] of a scalar: a 0-d array
            holder = np.empty((), dtype=object if self._view_dtype.kind == "O" else out.dtype)
            holder[()] = out
            out = holder
        if new_dtype is not None:
            out = np.asarray(out).astype(new_dtype)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy is False:
            raise ValueError("reading an h5py view dataset always copies (copy=False given)")
        out = np.asarray(self[()])
        return out if dtype is None else out.astype(dtype)

    def read_direct(self, dest: np.ndarray, source_sel: Any = None, dest_sel: Any = None) -> None:
        """Read ``self[source_sel]`` into ``dest[dest_sel]``.

        Parameters
        ----------
        dest : numpy.ndarray
            Written in place; its shape must take the selection.
        source_sel, dest_sel : selection, optional
            Default: everything.
        """
        values = self[source_sel if source_sel is not None else ()]
        dest[dest_sel if dest_sel is not None else ...] = values

    def astype(self, dtype: Any) -> _AstypeView:
        """A view that reads this dataset converted to ``dtype`` (``dset.astype('f4')[:10]``).

        Parameters
        ----------
        dtype : numpy dtype-like
            The dtype reads are converted to.

        Returns
        -------
        object
            Indexable like the dataset; ``len()`` and ``np.asarray`` work on it.
        """
        return _AstypeView(self, np.dtype(dtype))

    def asstr(self, encoding: str | None = None, errors: str = "strict") -> _AsStrView:
        """A view that reads text as ``str`` (``dset.asstr()[()]``).

        Raises
        ------
        TypeError
            The dataset does not hold text.
        """
        if h5py.check_string_dtype(self._view_dtype) is None:
            raise TypeError(
                f"dset.asstr() can only be used on datasets with an HDF5 string "
                f"datatype, not {self._view_dtype}"
            )
        return _AsStrView(self, encoding or "utf-8", errors)

    def fields(self, names: str | list[str]) -> _FieldsView:
        """A view that reads only the given compound fields (``dset.fields('a')[:]``).

        Parameters
        ----------
        names : str or list of str
            Field names of the compound dtype.

        Returns
        -------
        object
            Indexable like the dataset.
        """
        return _FieldsView(self, [names] if isinstance(names, str) else list(names))

    def iter_chunks(self, sel: Any = None) -> Iterator[tuple[slice, ...]]:
        """The selection of each chunk of the dataset, in C order (as h5py).

        Parameters
        ----------
        sel : slice or tuple of slices, optional
            Only the parts of chunks inside it (default: the whole dataset).

        Yields
        ------
        tuple of slice
            One slice per axis.

        Raises
        ------
        TypeError
            A scalar dataset.
        """
        if not self.shape:
            raise TypeError("Chunked datasets only; this dataset is scalar")
        sel = tuple(sel) if isinstance(sel, tuple) else (sel,) if sel is not None else ()
        sel = sel + (slice(None),) * (len(self.shape) - len(sel))
        ranges = [s.indices(n)[:2] for s, n in zip(sel, self.shape)]
        chunks = self.chunks or self.shape
        starts = [
            range(lo - lo % c, hi, c) if hi > lo else [] for (lo, hi), c in zip(ranges, chunks)
        ]
        for corner in np.ndindex(*[len(s) for s in starts]):
            yield tuple(
                slice(max(starts[d][i], ranges[d][0]), min(starts[d][i] + chunks[d], ranges[d][1]))
                for d, i in enumerate(corner)
            )

    def refresh(self) -> None:
        """Nothing to do (the view does not change)."""

    def flush(self) -> None:
        """Nothing to do (the view is read-only)."""

    # -- refused writes ---------------------------------------------------------------------
    def __setitem__(self, args: Any, val: Any) -> None:
        raise _read_only(f"write to {self._name}", self._src.filename)

    def write_direct(self, source: Any, source_sel: Any = None, dest_sel: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise _read_only(f"write to {self._name}", self._src.filename)

    def resize(self, size: Any, axis: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise _read_only(f"resize {self._name}", self._src.filename)

    def make_scale(self, name: str = "") -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise _read_only(f"make {self._name} a dimension scale", self._src.filename)

    def __repr__(self) -> str:
        if self._src.closed:
            return "<Closed HDF5 dataset>"
        base = posixpath.basename(self._name) or "/"
        return f'<HDF5 dataset "{base}": shape {self.shape}, type "{self._view_dtype.str}">'


class TextDataset(Dataset, StrDataset):
    """What hdmf's ``HDF5IO`` keeps for a variable-length text dataset of the view.

    hdmf wraps h5py's text datasets in ``hdmf.utils.StrDataset``; this is that class for the
    view (``isinstance`` checks against both hold): indexing decodes to ``str`` (object arrays
    of ``str``), ``np.asarray`` gives ``bytes`` as ``StrDataset`` over h5py does, every other
    member is the view dataset's.

    Parameters
    ----------
    dset : Dataset
        The view's text dataset.
    encoding : str, optional
        Text encoding (default UTF-8).
    errors : str
        How decoding errors are handled (``str.decode``'s ``errors``).
    """

    def __init__(self, dset: Dataset, encoding: str | None = None, errors: str = "strict") -> None:
        self.dset = dset  # first: StrDataset.__getattr__ reads it
        self.encoding = encoding or "utf-8"
        self.errors = errors
        Dataset.__init__(self, dset._src, dset._real, dset._name)

    def _decode(self, value: Any) -> Any:
        return value.decode(self.encoding, self.errors) if isinstance(value, bytes) else value

    def __getitem__(self, args: Any, new_dtype: Any = None) -> Any:
        values = Dataset.__getitem__(self, args, new_dtype)
        if isinstance(values, np.ndarray) and values.dtype.kind == "O":
            out = np.empty(values.shape, dtype=object)
            out.ravel()[:] = [self._decode(v) for v in values.ravel().tolist()]
            return out
        return self._decode(values)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(Dataset.__getitem__(self, ()))
        return out if dtype is None else out.astype(dtype)

    def __len__(self) -> int:
        return Dataset.__len__(self)

    def __repr__(self) -> str:
        return f"<StrDataset for {Dataset.__repr__(self)[1:-1]}>"


def _is_view_dataset(h5obj: Any) -> bool:
    return isinstance(h5obj, Dataset) and not isinstance(h5obj, TextDataset)


def _text_dataset(h5obj: Dataset) -> Any:
    """hdmf's ``_check_str_dtype`` for a view dataset: text in a TextDataset."""
    dtype = h5obj.dtype
    if dtype.kind == "O" and (dtype.metadata or {}).get("vlen") is str:
        return TextDataset(h5obj)
    return h5obj


wrap_hdf5io_text_datasets(_is_view_dataset, _text_dataset)


class _AstypeView:
    """``dset.astype(dtype)``: reads converted to ``dtype``."""

    def __init__(self, dset: Dataset, dtype: np.dtype) -> None:
        self._dset, self._dtype = dset, dtype

    def __getitem__(self, args: Any) -> Any:
        return np.asarray(self._dset[args]).astype(self._dtype)

    def __len__(self) -> int:
        return len(self._dset)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[()]
        return out if dtype is None else out.astype(dtype)


class _AsStrView:
    """``dset.asstr()``: text read as ``str``."""

    def __init__(self, dset: Dataset, encoding: str, errors: str) -> None:
        self._dset, self._encoding, self._errors = dset, encoding, errors

    def _decode(self, value: Any) -> Any:
        return value.decode(self._encoding, self._errors) if isinstance(value, bytes) else value

    def __getitem__(self, args: Any) -> Any:
        values = self._dset[args]
        if isinstance(values, np.ndarray):
            out = np.empty(values.shape, dtype=object)
            out.ravel()[:] = [self._decode(v) for v in values.ravel().tolist()]
            return out
        return self._decode(values)

    def __len__(self) -> int:
        return len(self._dset)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[()], dtype=object)
        return out if dtype is None else out.astype(dtype)


class _FieldsView:
    """``dset.fields(names)``: reads of some compound fields."""

    def __init__(self, dset: Dataset, names: list[str]) -> None:
        self._dset, self._names = dset, names

    def __getitem__(self, args: Any) -> Any:
        items = args if isinstance(args, tuple) else (args,)
        return self._dset[(*self._names, *items)]

    def __len__(self) -> int:
        return len(self._dset)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[()])
        return out if dtype is None else out.astype(dtype)


class File(Group, _BASES["File"]):
    """The root of an h5py-like view (an ``h5py.File``, mode ``"r"``); build it with
    :func:`nwbzarr.h5py_view`.

    Parameters
    ----------
    source : _Source
        The opened file.
    """

    def __init__(self, source: _Source) -> None:
        Group.__init__(self, source, "/", "/")
        source.file = self

    @property
    def filename(self) -> str:
        """The path or URL the view was opened from."""
        return self._src.filename

    @property
    def mode(self) -> str:
        """Always ``"r"``."""
        return "r"

    @property
    def driver(self) -> str:
        """``"nwbzarr"`` (the bytes are read through zarr, not an HDF5 driver)."""
        return "nwbzarr"

    @property
    def libver(self) -> tuple[str, str]:
        """h5py's default library version bounds (not meaningful for the view)."""
        return ("earliest", "latest")

    @property
    def userblock_size(self) -> int:
        """Always 0."""
        return 0

    @property
    def meta_block_size(self) -> int:
        """Always 0."""
        return 0

    @property
    def swmr_mode(self) -> bool:
        """Always False."""
        return False

    @property
    def zarr_group(self) -> zarr.Group:
        """The root zarr group the view reads (unified Zarr v3 convention)."""
        return self._src.nodes["/"]

    @property
    def file(self) -> File:
        """The file itself."""
        return self

    def close(self) -> None:
        """Close the view, the files external links opened and the stores behind them."""
        self._src.close()

    def flush(self) -> None:
        """Nothing to do (the view is read-only)."""

    def __enter__(self) -> File:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._src.closed:
            return "<Closed HDF5 file>"
        return f'<HDF5 file "{os.path.basename(self.filename.rstrip("/"))}" (mode r)>'
