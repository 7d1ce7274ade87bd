"""Lazy views over Zarr arrays handed to HDMF as builder data.

Text arrays come back as ``str`` objects (zarr-python returns numpy ``StringDType``), reference
arrays resolve target paths to builders or containers on access, and compound arrays return
structured numpy arrays (``numpy.void`` rows), as h5py does, with reference fields resolved.
The resolving views follow HDMF's ``ReferenceResolver`` protocol: the builder-returning view
inverts into the container-returning one when HDMF constructs containers
(``hdmf.build.ObjectMapper``).

Every read goes through :func:`checked_read`: a chunk that does not decode (random bytes,
truncated deflate, a zstd/Blosc header declaring more than the chunk holds, see
:mod:`nwbzarr.storage.checked_codecs`) raises :class:`~nwbzarr.errors.CorruptChunkError` naming
the array path and the chunk key, instead of a bare zarr, numcodecs or zlib error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr
from hdmf.query import BuilderResolver, ContainerResolver, HDMFDataset

from ..compat import array_from_async, async_array
from ..conventions.dtypes import builder_dtype_name
from ..errors import CorruptChunkError, NWBZarrError
from ..storage import checked_codecs, local_chunks
from . import grow

checked_codecs.install()

#: Errors of the store layer (not of the bytes): passed on unchanged by :func:`checked_read`.
_IO_ERRORS = (FileNotFoundError, PermissionError, ConnectionError, TimeoutError)


def checked_read(array: zarr.Array, key: Any, io: Any = None, read: Any = None) -> Any:
    """Return ``array[key]``; a chunk that cannot be decoded raises CorruptChunkError.

    Parameters
    ----------
    array : zarr.Array
        The array read.
    key : Any
        The selection.
    io : ZarrIO, optional
        The I/O object that opened the array (its ``source`` goes into the message).
    read : callable, optional
        What reads ``key`` (default ``array.__getitem__``); a subclass passes its parent's.

    Raises
    ------
    CorruptChunkError
        The stored bytes of a chunk do not decode, or decode to more than the chunk's shape
        holds; the message names the array path and the chunk key.
    """
    try:
        return (read or array.__getitem__)(key)
    except checked_codecs.DECODE_ERRORS as err:
        if (
            isinstance(err, _IO_ERRORS)
            or (isinstance(err, NWBZarrError) and not isinstance(err, CorruptChunkError))
            or getattr(err, "_nwbzarr_located", False)  # raised by an inner checked_read
        ):
            raise
        found = checked_codecs.locate_corrupt_chunk(array, key)
        if found is None and not isinstance(err, CorruptChunkError):
            raise  # every chunk decodes: a bad selection or another failure, not the bytes
        where = f"{getattr(io, 'source', None) or array.store_path.store}: /{array.path}"
        chunk, reason = found if found is not None else ("(not located)", str(err))
        located = CorruptChunkError(
            f"{where}: stored chunk {chunk!r} cannot be decoded ({reason}); the store is "
            "damaged, re-convert or re-download it"
        )
        located._nwbzarr_located = True
        raise located from err


def _as_text(values: Any) -> Any:
    """Return zarr text output as ``str`` scalars or object arrays of ``str``."""
    if isinstance(values, np.ndarray):
        if values.ndim == 0:
            return str(values[()])
        return values.astype(object)
    return str(values) if not isinstance(values, str) else values


# -- index normalisation (issue 15): integer index arrays of any width, as h5py takes them --
_INTP_MAX = np.iinfo(np.intp).max


def _index_item(item: Any) -> Any:
    """One selection item with unsigned integer index arrays cast to ``intp``.

    zarr-python < 3.4 refuses ``uint64`` index arrays (``IndexError: arrays used as indices
    must be of integer (or boolean) type``), which h5py and numpy accept; float index arrays
    raise h5py's ``TypeError``, so code written for h5py sees the error it expects.
    """
    if isinstance(item, list) and item and not isinstance(item[0], (slice, list)):
        array = np.asarray(item)
        return _index_item(array) if array.dtype.kind in "uf" else item
    if not isinstance(item, np.ndarray):
        return item
    if item.dtype.kind == "f":
        raise TypeError("Indexing arrays must have integer dtypes")
    if item.dtype.kind != "u":
        return item
    if item.size and int(item.max()) > _INTP_MAX:
        raise IndexError(f"index {int(item.max())} is out of bounds")
    return item.astype(np.intp)


def _h5py_like_key(key: Any) -> Any:
    """``key`` with each index array normalised by :func:`_index_item`."""
    if isinstance(key, tuple):
        return tuple(_index_item(item) for item in key)
    return _index_item(key)


class ZarrArrayView(zarr.Array):
    """A ``zarr.Array`` that indexes like an ``h5py.Dataset``.

    zarr-python 3 returns 0-d arrays for integer indexing (array-API style) and has no
    ``len()``; HDMF code written against h5py expects numpy scalars and ``len``. This subclass
    adds both and is otherwise the same lazily read ``zarr.Array`` (``isinstance`` holds, so
    hdmf, dask and xarray treat it as one).

    Build it with :meth:`wrap` from an open array. In append mode (``"a"``, ``"r+"``) it grows
    through :meth:`append` and hdmf's ``extend_data`` (see :mod:`nwbzarr.backend.grow`).
    """

    #: The ZarrIO that read the array (None for a view built elsewhere).
    _nwbzarr_io = None
    #: The lean local reader of this array (:mod:`nwbzarr.storage.local_chunks`), made on
    #: first read.
    _nwbzarr_reader = None

    @classmethod
    def wrap(cls, array: zarr.Array, io: Any = None) -> ZarrArrayView:
        """Return a view of an open ``zarr.Array`` (no I/O), read through ``io``."""
        view = array_from_async(async_array(array), cls)
        view._nwbzarr_io = io
        return view

    def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Append rows along ``axis`` (what hdmf's ``append_data`` calls) and store them.

        Returns
        -------
        tuple of int
            The new shape.

        Raises
        ------
        AppendError
            Scalar array, rows of the wrong shape, or values the stored type cannot hold.
        ReadOnlyError
            The store was opened read-only.
        """
        return grow.append_rows(self._nwbzarr_io, self, data, axis)

    def _nwbzarr_extend(self, values: Any) -> ZarrArrayView:
        grow.append_rows(self._nwbzarr_io, self, values, 0)
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        with grow.changing(self._nwbzarr_io, self):
            super().__setitem__(key, value)

    def _convert(self, values: Any) -> Any:
        if isinstance(values, np.ndarray) and values.ndim == 0:
            return values[()]
        return values

    def _read(self, key: Any) -> Any:
        """``key`` read by the lean local reader when it handles it, else by zarr-python."""
        reader = self._nwbzarr_reader = local_chunks.reader_for(self, self._nwbzarr_reader)
        try:
            values = reader.read(key)
        except CorruptChunkError as err:
            err._nwbzarr_located = True  # names the store, array and chunk key already
            raise
        return zarr.Array.__getitem__(self, key) if values is None else values

    def __getitem__(self, key: Any) -> Any:
        key = _h5py_like_key(key)
        return self._convert(checked_read(self, key, self._nwbzarr_io, self._read))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[...])  # the lean local reader when it applies
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype: Any) -> np.ndarray:
        """Read the whole array and return it cast to ``dtype`` (numpy, in memory)."""
        return np.asarray(self[...]).astype(dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return iter(self[...])


class ZarrTextDataset(ZarrArrayView):
    """A text ``zarr.Array`` whose indexing returns ``str`` or object arrays of ``str``.

    zarr-python returns numpy ``StringDType`` arrays; HDMF and pandas code expects ``str``
    objects, as h5py gives for variable-length UTF-8.
    """

    def _convert(self, values: Any) -> Any:
        return _as_text(values)

    @property
    def dtype(self) -> np.dtype:
        """``object``: elements are ``str``, as h5py reports variable-length text."""
        return np.dtype(object)


class _ZarrReferenceDataset(HDMFDataset):
    """Array of object references stored as target path strings."""

    def __init__(self, dataset: Any, io: Any) -> None:
        super().__init__(dataset=dataset)
        self.io = io

    def invert(self) -> Any:
        return self.get_inverse_class()(self.dataset, self.io)

    def _target(self, path: str) -> Any:
        if path.startswith(grow.PENDING_PREFIX):
            return self.io.pending_object(path, isinstance(self, BuilderResolver))
        return self.get_object(path)

    def __getitem__(self, key: Any) -> Any:
        paths = checked_read(self.dataset, key, self.io)
        if isinstance(paths, np.ndarray) and paths.ndim > 0:
            return [self._target(str(p)) for p in paths.ravel()]
        return self._target(str(paths[()] if isinstance(paths, np.ndarray) else paths))

    def __iter__(self):
        for p in checked_read(self.dataset, ..., self.io):
            yield self._target(str(p))

    def append(self, arg: Any) -> None:
        """Append one reference (a container or builder) and store it (append mode).

        Raises
        ------
        AppendError, ReadOnlyError, UnsupportedDataError
            See :func:`nwbzarr.backend.grow.append_references`.
        """
        grow.append_references(self.io, self.dataset, [arg])

    def _nwbzarr_extend(self, args: Any) -> Any:
        grow.append_references(self.io, self.dataset, list(args))
        return self

    def __len__(self) -> int:
        return self.dataset.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    @property
    def dtype(self) -> str:
        return "object"


class BuilderZarrReferenceDataset(_ZarrReferenceDataset, BuilderResolver):
    """Reference array resolving to builders."""

    def get_object(self, path: str) -> Any:
        return self.io.get_builder_at(path)

    @classmethod
    def get_inverse_class(cls) -> type:
        return ContainerZarrReferenceDataset


class ContainerZarrReferenceDataset(_ZarrReferenceDataset, ContainerResolver):
    """Reference array resolving to containers."""

    def get_object(self, path: str) -> Any:
        return self.io.get_container_at(path)

    @classmethod
    def get_inverse_class(cls) -> type:
        return BuilderZarrReferenceDataset


class _ZarrTableDataset(HDMFDataset):
    """Compound (structured) array read as numpy structured values, as h5py reads them.

    Indexing returns a structured ``numpy.ndarray`` (a ``numpy.void`` for one row), so
    ``data[:]["x"]`` selects a field and numeric fields keep their stored type (``float32``
    stays ``float32``). Reference fields hold the resolved builder or container in an
    ``object`` field; fixed-length byte-string fields hold decoded ``str`` in an ``object``
    field. A table without either returns zarr's values as they are (no per-row work).
    """

    def __init__(self, dataset: Any, io: Any, reference_fields: list[str] | tuple = ()) -> None:
        super().__init__(dataset=dataset)
        self.io = io
        self.reference_fields = tuple(reference_fields)
        stored = dataset.dtype
        self._bytes_fields = tuple(
            n for n in stored.names if stored[n].kind == "S" and n not in self.reference_fields
        )
        self._value_dtype = np.dtype(
            [
                (n, object if n in self.reference_fields or n in self._bytes_fields else stored[n])
                for n in stored.names
            ]
        )

    def invert(self) -> Any:
        return self.get_inverse_class()(self.dataset, self.io, self.reference_fields)

    def _values(self, values: Any) -> Any:
        """Stored records -> what indexing returns (a ``numpy.void`` for a 0-d selection)."""
        values = np.asarray(values)
        if self.reference_fields or self._bytes_fields:
            out = np.empty(values.shape, dtype=self._value_dtype)
            for name in values.dtype.names:
                column = values[name]
                if name in self.reference_fields:
                    out[name] = self._targets(column)
                elif name in self._bytes_fields:
                    out[name] = np.char.decode(column, "utf-8")
                else:
                    out[name] = column
            values = out
        return values[()] if values.ndim == 0 else values

    def _targets(self, paths: np.ndarray) -> np.ndarray:
        """An ``object`` array of the objects the stored paths name (each path resolved once)."""
        flat = paths.reshape(-1)
        found: dict[str, Any] = {}
        out = np.empty(flat.shape, dtype=object)
        for i, value in enumerate(flat):
            path = str(value)
            if path not in found:
                if path.startswith(grow.PENDING_PREFIX):
                    found[path] = self.io.pending_object(path, isinstance(self, BuilderResolver))
                else:
                    found[path] = self.get_object(path)
            out[i] = found[path]
        return out.reshape(paths.shape)

    def append(self, arg: Any) -> None:
        """Append one row (tuple; containers in reference fields) and store it (append mode).

        Raises
        ------
        AppendError, ReadOnlyError, UnsupportedDataError
            See :func:`nwbzarr.backend.grow.append_compound`.
        """
        grow.append_compound(self.io, self.dataset, [arg], self.reference_fields)

    def _nwbzarr_extend(self, rows: Any) -> Any:
        grow.append_compound(self.io, self.dataset, list(rows), self.reference_fields)
        return self

    def __getitem__(self, key: Any) -> Any:
        values = checked_read(self.dataset, key, self.io)
        return self._values(values)

    def __iter__(self):
        yield from self._values(checked_read(self.dataset, ..., self.io))

    def __len__(self) -> int:
        return self.dataset.shape[0]

    def resolve(self, manager: Any) -> np.ndarray:
        return self[0 : len(self)]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    @property
    def field_dtypes(self) -> list:
        """Field dtype names in order (``object`` for reference fields), as HDMF expects in a
        builder's compound ``dtype``; a nested compound field gives a nested list."""
        return [
            "object" if n in self.reference_fields else builder_dtype_name(self.dataset.dtype[n])
            for n in self.dataset.dtype.names
        ]

    @property
    def dtype(self) -> list:
        """:attr:`field_dtypes`, as hdmf's HDF5 table of references reports its dtype."""
        return self.field_dtypes


class ZarrCompoundDataset(_ZarrTableDataset):
    """Compound array without reference fields: reads as an ``h5py.Dataset`` of it would.

    Its ``dtype`` is the numpy structured dtype of the values indexing returns (for
    ``PlaneSegmentation.pixel_mask``: ``[('x', '<u4'), ('y', '<u4'), ('weight', '<f4')]``);
    appends widen fixed-length text fields (:func:`nwbzarr.backend.grow.append_compound`).
    """

    @property
    def dtype(self) -> np.dtype:
        """The structured numpy dtype of the values read."""
        return self._value_dtype


class BuilderZarrTableDataset(_ZarrTableDataset, BuilderResolver):
    """Compound array whose reference fields resolve to builders."""

    def get_object(self, path: str) -> Any:
        return self.io.get_builder_at(path)

    @classmethod
    def get_inverse_class(cls) -> type:
        return ContainerZarrTableDataset


class ContainerZarrTableDataset(_ZarrTableDataset, ContainerResolver):
    """Compound array whose reference fields resolve to containers."""

    def get_object(self, path: str) -> Any:
        return self.io.get_container_at(path)

    @classmethod
    def get_inverse_class(cls) -> type:
        return BuilderZarrTableDataset
