"""What every object of the h5py-like view shares: identity, attributes, read-only refusals.

The view's objects are :class:`~nwbzarr.h5view.groups.Group` / :class:`~nwbzarr.h5view.groups.File`
(:mod:`.groups`) and :class:`~nwbzarr.h5view.datasets.Dataset` (:mod:`.datasets`); they
subclass h5py's (``isinstance(view, h5py.File)`` holds, so hdmf's ``HDF5IO`` and pynwb's
``NWBHDF5IO`` accept them; see the h5py section of :mod:`nwbzarr.compat`) without an HDF5
identifier behind them: every public member reads the zarr group that nwbzarr opened, through
the file's :class:`~nwbzarr.h5view.source.Source` (:mod:`.source`). This module holds their
common base :class:`ViewObject`, :class:`ObjectID` and :class:`AttributeManager`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..compat import h5py_view_bases
from ..errors import ReadOnlyError
from .values import Reference

if TYPE_CHECKING:
    from .groups import File, Group
    from .source import Source

__all__ = [
    "BASES",
    "AttributeManager",
    "ObjectID",
    "ViewObject",
    "clean_path",
    "read_only_error",
]

#: The h5py classes the view's classes subclass (:func:`nwbzarr.compat.h5py_view_bases`).
BASES: dict[str, type] = h5py_view_bases()


def read_only_error(what: str, filename: str) -> ReadOnlyError:
    """The error a refused write raises.

    Parameters
    ----------
    what : str
        What was refused (``"create group 'x'"``).
    filename : str
        The file the view was opened from.

    Returns
    -------
    ReadOnlyError
        Naming the file, what was refused and how to change the file instead.
    """
    return ReadOnlyError(
        f"{filename}: cannot {what}: nwbzarr.h5py_view is read-only; change the file with "
        "nwbzarr.NWBZarrIO(path, mode='a') (Zarr stores, HDF5 files and reference JSON)"
    )


def clean_path(path: str) -> str:
    """An absolute path without empty or ``.`` components (``..`` is a name, as in HDF5).

    Parameters
    ----------
    path : str
        An HDF5 path, absolute or relative.

    Returns
    -------
    str
        ``"/"`` followed by the non-empty, non-``.`` components joined by ``/``.
    """
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


class ObjectID:
    """The identity of a view object, standing in for h5py's ``ObjectID``.

    Two objects reached through different paths (a soft link and its target) have equal
    identifiers, as in h5py; hdmf keys the builders it has read by them.

    Parameters
    ----------
    source : Source
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
        self, source: Source, path: str, dtype: np.dtype | None = None, shape: tuple = ()
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


class ViewObject:
    """Members shared by groups and datasets (h5py's ``HLObject``).

    Subclasses call :meth:`_setup` with the opened file, the object's real (link-free) path
    and the path it was reached through, and set ``_id``.
    """

    _src: Source
    _real: str
    _name: str

    def _setup(self, source: Source, real: str, name: str) -> None:
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
        if isinstance(other, ViewObject):
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

    def __init__(self, node: ViewObject) -> None:
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
        raise read_only_error(
            f"set attribute {name!r} of {self._node.name}", self._node._src.filename
        )

    def __delitem__(self, name: str) -> None:
        raise read_only_error(
            f"delete attribute {name!r} of {self._node.name}", self._node._src.filename
        )

    def create(self, name: str, data: Any, shape: Any = None, dtype: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise read_only_error(f"create attribute {name!r}", self._node._src.filename)

    def modify(self, name: str, value: Any) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise read_only_error(f"modify attribute {name!r}", self._node._src.filename)

    def get_id(self, name: str) -> Any:
        """Refused: attributes have no HDF5 identifier in the view."""
        raise NotImplementedError("attributes of nwbzarr.h5py_view have no HDF5 identifier")

    def __repr__(self) -> str:
        return f"<Attributes of HDF5 object at {self._node.name!r}>"
