"""Groups of the h5py-like view: :class:`Group` (an ``h5py.Group``) and its root,
:class:`File` (an ``h5py.File``, mode ``"r"``)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any

import h5py
import zarr

from .datasets import Dataset
from .nodes import BASES, ObjectID, ViewObject, clean_path, read_only_error

if TYPE_CHECKING:
    from .source import Source

__all__ = ["File", "Group"]


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


class Group(ViewObject, BASES["Group"]):
    """A group of an h5py-like view (an ``h5py.Group``; read-only).

    Names and iteration follow h5py: members in name order, soft and external links
    included (as their targets; ``get(name, getlink=True)`` returns the ``h5py.SoftLink`` /
    ``h5py.ExternalLink`` / ``h5py.HardLink`` itself), paths absolute or relative, ``group[ref]``
    for object references.

    Parameters
    ----------
    source : Source
        The opened file.
    real : str
        The group's real absolute path.
    name : str
        The path it was reached through.
    """

    def __init__(self, source: Source, real: str, name: str) -> None:
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

    def _link_entry(self, name: str) -> tuple[Source, str, tuple[str, Any]] | None:
        """(file, real parent path, entry) of the last link of a path; None if absent."""
        path = name if name.startswith("/") else posixpath.join(self._real, name)
        parent, _, last = clean_path(path).rpartition("/")
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
        raise read_only_error(f"{what} in {self._name}", self._src.filename)

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


class File(Group, BASES["File"]):
    """The root of an h5py-like view (an ``h5py.File``, mode ``"r"``); build it with
    :func:`nwbzarr.h5py_view`.

    Parameters
    ----------
    source : Source
        The opened file.
    """

    def __init__(self, source: Source) -> None:
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
