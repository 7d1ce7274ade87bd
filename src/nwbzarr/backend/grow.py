"""Growing and changing arrays read from a store (append mode, ``"a"``/``"r+"``).

pynwb and hdmf append to a table read from a file through the column's data object:
``append_data`` calls ``zarr.Array.append([value], axis=0)`` on numeric and text views and
``HDMFDataset.append(value)`` on reference and compound views; ``extend_data`` (ragged
columns, ``DynamicTableRegion``) knows only lists, numpy and h5py, so :func:`install_hdmf_hooks`
teaches it the views of :mod:`nwbzarr.backend.lazy`. Every change goes through
:func:`changing`, which refuses read-only stores and sets the store's ``_WRITE_IN_PROGRESS``
marker before the first byte changes (see ``docs/storage.md`` §7).

Values are checked before anything is written: numbers that do not fit the stored integer type
widen the array (``uint8`` -> ``uint16`` ..., rewritten in place), text that does not fit a
fixed-length compound field widens the field, and values that would lose information (a float
into an integer column) raise :class:`nwbzarr.errors.AppendError` naming the dataset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import zarr
from hdmf.container import AbstractContainer

from ..compat import (
    UnstableSpecificationWarning,
    enum_value,
    rebind_array,
    widen_vector_index,
    wrap_hdmf_extend_data,
)
from ..conventions.dtypes import text_value
from ..errors import AppendError, ReadOnlyError, UnsupportedDataError
from ..storage.journal import JournaledStore
from .text import text_array

#: Prefix of the placeholder stored for a reference whose target has no path yet (a container
#: added in this session and not yet written); replaced by the target's path on ``io.write``.
PENDING_PREFIX = "\x00nwbzarr-pending:"


def array_path(array: zarr.Array) -> str:
    """Absolute path of an array inside its store (``/acquisition/ts/data``)."""
    return "/" + array.path.strip("/")


@contextlib.contextmanager
def changing(io: Any, array: zarr.Array) -> Iterator[None]:
    """Guard one change of an array read through ``io``.

    Raises
    ------
    ReadOnlyError
        If ``io`` was opened read-only (``"r"``/``"r-"``), for example an array read from
        another store through an external link.
    AppendError
        If ``io`` is closed.
    """
    where = array_path(array)
    if io is None:  # a view built outside a ZarrIO: plain zarr behaviour, no bookkeeping
        yield
        return
    if not io.is_open():
        raise AppendError(
            f"{io.source}: cannot change {where}; the ZarrIO that read it is closed. Open the "
            "store with mode='a', read it, change it and write it before closing"
        )
    if io.mode in ("r", "r-"):
        raise ReadOnlyError(
            f"{io.source}: cannot change {where}; the store was opened read-only (mode "
            f"{io.mode!r}). Open it with mode='a' or 'r+' to append to it"
        )
    io.writer.begin()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
            yield
    except BaseException:
        io.writer.mark_failed()  # the store may be half changed: keep the marker
        raise
    io.append_session.note_growth(array)


# -- numeric and text arrays ------------------------------------------------------------------
def append_rows(io: Any, array: zarr.Array, data: Any, axis: int = 0) -> tuple[int, ...]:
    """Append ``data`` (rows along ``axis``) to an array read from the store.

    Returns
    -------
    tuple of int
        The new shape.

    Raises
    ------
    AppendError
        For a scalar array, rows of the wrong shape, or values that the stored type cannot
        hold without loss (a float into an integer array, text into a numeric array).
    ReadOnlyError
        If the store was opened read-only.
    """
    where = array_path(array)
    if array.ndim == 0:
        raise AppendError(
            f"{where}: a scalar (0-d) dataset cannot grow; replace it with a new container "
            "in a new store (mode='w') instead"
        )
    text = array.dtype.kind in "OSUT" or str(array.dtype).startswith("StringDType")
    values = text_array(data) if text else np.asarray(data)
    if values.ndim != array.ndim or any(
        v != s for i, (v, s) in enumerate(zip(values.shape, array.shape)) if i != axis
    ):
        raise AppendError(
            f"{where}: cannot append values of shape {values.shape} to an array of shape "
            f"{tuple(array.shape)} along axis {axis}"
        )
    if values.shape[axis] == 0:
        return tuple(array.shape)
    new_dtype = None if text else _fitting_dtype(array.dtype, values, where)
    with changing(io, array):
        if new_dtype is not None:
            rewrite(array, np.asarray(array[...]).astype(new_dtype))
        if not text:
            values = values.astype(array.dtype)
        return tuple(zarr.Array.append(array, values, axis=axis))


def _fitting_dtype(stored: np.dtype, values: np.ndarray, where: str) -> np.dtype | None:
    """None if ``values`` fit ``stored``; a wider integer dtype if they need one."""
    if values.size == 0 or np.can_cast(values.dtype, stored, casting="safe"):
        return None
    if stored.kind in "iu" and values.dtype.kind in "iub":
        lo, hi = int(values.min()), int(values.max())
        if np.iinfo(stored).min <= lo and hi <= np.iinfo(stored).max:
            return None
        wider = np.promote_types(stored, np.min_scalar_type(hi))
        if lo < 0:
            wider = np.promote_types(wider, np.min_scalar_type(lo))
        if wider.kind not in "iu":
            raise AppendError(f"{where}: values {lo}..{hi} do not fit any integer type")
        return wider
    if stored.kind == "f" and values.dtype.kind in "iuf":
        return None  # numpy's same-kind rounding, as h5py does
    if stored.kind == "b" and values.dtype.kind == "b":
        return None
    raise AppendError(
        f"{where}: cannot append {values.dtype} values to a {stored} array without losing "
        "information; convert them to the column's type first"
    )


# -- object references --------------------------------------------------------------------------
def reference_value(io: Any, target: Any, where: str) -> str:
    """The stored form of a reference to ``target``: its path, or a pending placeholder.

    A container built (read from the store, or written by an earlier ``io.write``) resolves to
    its path at once; one added in this session resolves when ``io.write`` builds it.
    """
    if isinstance(target, str) and target.startswith(PENDING_PREFIX):
        return target
    manager = io.manager
    if isinstance(target, AbstractContainer) and manager.get_builder(target) is None:
        source = target.container_source
        if source is not None and os.path.abspath(str(source)) != io.abspath:
            raise UnsupportedDataError(
                f"{where}: refers to {target.name!r} in another file ({source}); object "
                "references must stay inside one file — copy the target into this file first"
            )
        return io.append_session.pending_reference(target)
    return io.writer.reference_path(target, where)


def append_references(io: Any, array: zarr.Array, targets: list) -> None:
    """Append object references (containers or builders) to a reference array."""
    where = array_path(array)
    if array.ndim != 1:
        raise AppendError(f"{where}: only one-dimensional reference arrays can grow")
    values = np.array([reference_value(io, t, where) for t in targets], dtype=object)
    start = array.shape[0]
    with changing(io, array):
        array.append(values, axis=0)
    _note_pending(io, array, start, None, values.tolist())


# -- compound arrays ---------------------------------------------------------------------------
def append_compound(io: Any, array: zarr.Array, rows: list, reference_fields: tuple) -> None:
    """Append rows (tuples, named tuples or ``numpy.void``) to a compound array.

    Reference fields take containers or builders; text fields that are longer than the stored
    fixed length widen the field (the array is rewritten).
    """
    where = array_path(array)
    if array.ndim != 1:
        raise AppendError(f"{where}: only one-dimensional compound arrays can grow")
    names = array.dtype.names
    records = []
    for row in rows:
        values = list(row.tolist() if isinstance(row, np.void) else row)
        if len(values) != len(names):
            raise AppendError(
                f"{where}: a row needs {len(names)} fields ({', '.join(names)}), got {len(values)}"
            )
        for i, name in enumerate(names):
            if name in reference_fields:
                values[i] = reference_value(io, values[i], where)
            elif array.dtype[name].kind in "SUT":
                values[i] = text_value(values[i])
        records.append(tuple(values))
    dtype = widened_compound(array.dtype, records)
    new = np.array(records, dtype=dtype)
    start = array.shape[0]
    with changing(io, array):
        if dtype != array.dtype:
            rewrite(array, np.asarray(array[...]).astype(dtype))
        array.append(new, axis=0)
    for field in reference_fields:
        i = names.index(field)
        _note_pending(io, array, start, field, [r[i] for r in records])


def _note_pending(io: Any, array: zarr.Array, start: int, field: str | None, values: list) -> None:
    """Tell ``io`` where pending placeholders were stored, to fill them in on ``io.write``."""
    for offset, value in enumerate(values):
        if isinstance(value, str) and value.startswith(PENDING_PREFIX):
            io.append_session.pending_sites.append((array, start + offset, field, value))


def widened_compound(dtype: np.dtype, records: list) -> np.dtype:
    """``dtype`` with each fixed-length text field long enough for ``records``."""
    fields = []
    for i, name in enumerate(dtype.names):
        ft = dtype[name]
        if ft.kind == "U":
            need = max([len(str(r[i])) for r in records] + [ft.itemsize // 4, 1])
            ft = np.dtype(f"U{need}")
        fields.append((name, ft))
    return np.dtype(fields)


def set_compound_field(array: zarr.Array, index: int, field: str, value: str) -> None:
    """Store ``value`` in one field of one row, widening the field if needed."""
    record = np.asarray(array[index : index + 1])
    row = list(record[0].tolist())
    row[record.dtype.names.index(field)] = value
    dtype = widened_compound(array.dtype, [tuple(row)])
    if dtype != array.dtype:
        rewrite(array, np.asarray(array[...]).astype(dtype))
    array[index : index + 1] = np.array([tuple(row)], dtype=dtype)


# -- rewriting with a wider dtype -----------------------------------------------------------------
def rewrite(array: zarr.Array, values: np.ndarray) -> None:
    """Replace ``array`` by a same-named array holding ``values`` (a wider dtype).

    Chunks, shards, codecs, attributes and dimension names are kept. Every ``zarr.Array``
    object sharing ``array``'s state (the views HDMF holds) then sees the new array.
    """
    compressors = [_retyped(c, values.dtype) for c in array.compressors]
    kwargs: dict[str, Any] = {}
    if array.shards is not None:
        kwargs["shards"] = array.shards
    names = getattr(array.metadata, "dimension_names", None)
    if names is not None:
        kwargs["dimension_names"] = names
    store = array.store
    keep_old = contextlib.nullcontext()
    encoding = array.metadata.chunk_key_encoding
    if isinstance(store, JournaledStore) and getattr(encoding, "name", None) == "default":
        # an append: the new chunks go to other keys (the other separator) and the old ones
        # stay for readers of the committed root until the next writable open
        other = "." if getattr(encoding, "separator", "/") == "/" else "/"
        kwargs["chunk_key_encoding"] = {"name": "default", "separator": other}
        keep_old = store.retaining(array.path)
    with keep_old:
        new = _create_replacing(array, values, compressors, kwargs)
    if values.size:
        new[...] = values
    rebind_array(array, new)


def _create_replacing(array: zarr.Array, values: np.ndarray, compressors: list, kwargs: dict):
    """A new array at ``array``'s path with ``values``' dtype and ``array``'s other settings."""
    return zarr.create_array(
        array.store,
        name=array.path,
        shape=values.shape,
        dtype=values.dtype,
        chunks=array.chunks,
        compressors=compressors,
        filters=list(array.filters),
        attributes=array.attrs.asdict(),
        overwrite=True,
        **kwargs,
    )


def _retyped(codec: Any, dtype: np.dtype) -> Any:
    """A compressor set up for ``dtype`` (Blosc records the item size and shuffle)."""
    if hasattr(codec, "typesize") and hasattr(codec, "shuffle"):
        shuffle = codec.shuffle
        if dtype.itemsize > 1 and enum_value(shuffle) == "noshuffle":
            shuffle = "shuffle"  # zarr parses the name (an enum in 3.1, a literal in 3.4)
        return dataclasses.replace(codec, typesize=dtype.itemsize, shuffle=shuffle)
    return codec


# -- hdmf hooks ---------------------------------------------------------------------------------
def install_hdmf_hooks() -> None:
    """Let hdmf's ``extend_data`` extend nwbzarr's lazy views (ragged columns, regions).

    hdmf 6's ``hdmf.container.Data.extend`` calls ``hdmf.data_utils.extend_data``, which handles
    lists, numpy arrays and h5py datasets only, so ``units.add_unit(spike_times=[...])`` on a
    table read from Zarr would raise. The function hdmf's ``Data.extend`` looks up is wrapped:
    objects with an ``_nwbzarr_extend`` method extend themselves, everything else goes to
    hdmf's own function. Called on ``import nwbzarr``; calling it again does nothing.
    """
    wrap_hdmf_extend_data("_nwbzarr_extend")


def unlock_vector_indexes(containers: Any) -> None:
    """Let ``VectorIndex`` columns read from a store grow past 255 elements of their target.

    hdmf's ``VectorIndex`` tracks the width of its offsets only for lists and numpy data; for
    data read from a file it assumes ``uint8`` and raises once the target passes 255 elements
    ("cannot adjust precision"). Offsets appended here are checked against the stored dtype by
    :func:`append_rows`, which widens the array when needed, so the index is told to hand out
    ``uint64`` offsets.
    """
    from hdmf.common.table import VectorIndex

    for obj in containers:
        if isinstance(obj, VectorIndex) and isinstance(obj.data, zarr.Array):
            widen_vector_index(obj)


install_hdmf_hooks()  # idempotent; also run by ``import nwbzarr`` once hdmf is imported
