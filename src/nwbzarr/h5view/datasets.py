"""Datasets of the h5py-like view: :class:`Dataset` (an ``h5py.Dataset``, read lazily) and
:class:`TextDataset` (what hdmf's ``HDF5IO`` keeps for a text dataset), with the
``astype`` / ``asstr`` / ``fields`` views."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import zarr
from hdmf.utils import StrDataset

from ..backend.lazy import checked_read
from ..compat import quiet_zarr_warnings, wrap_hdf5io_text_datasets
from ..conventions.attributes import REFERENCE_FIELDS_ATTR
from .nodes import BASES, ObjectID, ViewObject, read_only_error
from .selection import parse_selection
from .values import Reference, reference_fields, to_view_values

if TYPE_CHECKING:
    from .source import Source

__all__ = ["Dataset", "TextDataset"]


class Dataset(ViewObject, BASES["Dataset"]):
    """A dataset of an h5py-like view (an ``h5py.Dataset``; read-only, read lazily).

    Reads follow h5py: ``dset[()]`` is the whole dataset (a numpy scalar, ``bytes`` or
    :class:`~nwbzarr.h5view.values.Reference` for a scalar dataset), integers, slices with a
    positive step, one increasing index list or boolean array per selection, a boolean mask
    of the dataset's shape, compound field names. Variable-length text reads as ``bytes``
    (``asstr()`` decodes), object references as ``Reference`` objects.

    Parameters
    ----------
    source : Source
        The opened file.
    real : str
        The dataset's real absolute path.
    name : str
        The path it was reached through.
    """

    def __init__(self, source: Source, real: str, name: str) -> None:
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
        with quiet_zarr_warnings():
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
        raise read_only_error(f"write to {self._name}", self._src.filename)

    def write_direct(self, source: Any, source_sel: Any = None, dest_sel: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise read_only_error(f"write to {self._name}", self._src.filename)

    def resize(self, size: Any, axis: Any = None) -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise read_only_error(f"resize {self._name}", self._src.filename)

    def make_scale(self, name: str = "") -> None:
        """Refused: the view is read-only (raises ReadOnlyError)."""
        raise read_only_error(f"make {self._name} a dimension scale", self._src.filename)

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
