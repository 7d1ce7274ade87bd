"""HDF5 values held in the file's heap -> values of the unified Zarr v3 convention.

Attributes, text, object references and compound rows of an HDF5 file are not stored as
chunks a Zarr codec could decode (they live in the global heap or the object header), so the
HDF5 index (:mod:`nwbzarr.formats.hdf5.index`) reads them through h5py and converts them here:
text to ``str``, references to target paths, compound rows to structured arrays with
fixed-length UTF-32 text fields, and attribute values to the JSON of docs/storage.md §1-§2.

This module never imports hdmf.
"""

from __future__ import annotations

import posixpath
import warnings
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from ...conventions.attributes import REFERENCE_KEY, SPECLOC_ATTR, to_json_value
from ...conventions.dtypes import COMPOUND_MIN_STRING_LENGTH
from ...conventions.references import SAME_FILE, normalize_path
from ...errors import HDF5IndexError

__all__ = [
    "DIMENSION_SCALE_ATTRS",
    "dtype_kind",
    "attribute_values",
    "text_values",
    "reference_values",
    "compound_values",
    "dimension_names",
]

#: HDF5 bookkeeping attributes of dimension scales; expressed as ``dimension_names``.
DIMENSION_SCALE_ATTRS = frozenset({"DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS"})

#: Resolves an HDF5 object or region reference to the absolute path of its target.
PathOf = Callable[[Any, str], str]


def dtype_kind(dtype: np.dtype) -> str:
    """Classify an HDF5 dataset dtype as the index stores it.

    Parameters
    ----------
    dtype : numpy.dtype
        The dataset's dtype as h5py reports it (with h5py's metadata for strings and refs).

    Returns
    -------
    str
        ``"numeric"`` (integers, floats, complex, bool; stored as chunks), ``"text"``,
        ``"reference"``, ``"region"``, ``"compound"``, or ``"other"`` (not mapped).
    """
    ref = h5py.check_ref_dtype(dtype)
    if ref is h5py.RegionReference:
        return "region"
    if ref is not None:
        return "reference"
    if h5py.check_string_dtype(dtype) is not None or dtype.kind in "SU":
        return "text"
    if dtype.names is not None:
        return "compound"
    if dtype.kind in "biufc" and dtype.subdtype is None:
        return "numeric"
    return "other"


def _decode(value: Any, where: str) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as err:
            raise HDF5IndexError(
                f"{where}: text that is not valid UTF-8 cannot be stored as Zarr v3 'string' "
                f"({err}); rewrite the value as UTF-8 text"
            ) from None
    return str(value)


def text_values(dset: h5py.Dataset, where: str) -> np.ndarray:
    """Read a text dataset (variable or fixed length) as an object array of ``str``.

    Parameters
    ----------
    dset : h5py.Dataset
        A dataset whose :func:`dtype_kind` is ``"text"``.
    where : str
        Dataset path for error messages.

    Returns
    -------
    numpy.ndarray
        Object array of ``str`` with the dataset's shape (0-d for a scalar).

    Raises
    ------
    HDF5IndexError
        If a value is not valid UTF-8.
    """
    raw = np.asarray(dset[()])
    out = np.empty(raw.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, value in enumerate(raw.reshape(-1)):
        flat_out[i] = _decode(value, where)
    return out


def reference_values(dset: h5py.Dataset, where: str, path_of: PathOf) -> np.ndarray:
    """Read an object (or region) reference dataset as an object array of target paths.

    A null reference becomes ``""``. Region references are read as references to the region's
    dataset, with one ``UserWarning`` naming the dataset (docs/storage.md §11).

    Parameters
    ----------
    dset : h5py.Dataset
        A dataset whose :func:`dtype_kind` is ``"reference"`` or ``"region"``.
    where : str
        Dataset path, for the warning and errors.
    path_of : callable
        ``path_of(ref, where) -> str``, the absolute path of a reference's target.

    Returns
    -------
    numpy.ndarray
        Object array of ``str`` with the dataset's shape.
    """
    if dtype_kind(dset.dtype) == "region":
        _warn_region(where)
    raw = np.asarray(dset[()], dtype=object)
    out = np.empty(raw.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, ref in enumerate(raw.reshape(-1)):
        flat_out[i] = path_of(ref, where) if ref else ""
    return out


def _warn_region(where: str) -> None:
    warnings.warn(
        f"{where}: HDF5 region references are read as object references to the region's "
        "dataset (the selection is not kept; Zarr has no region references)",
        UserWarning,
        stacklevel=4,
    )


def compound_values(
    dset: h5py.Dataset, where: str, path_of: PathOf
) -> tuple[np.ndarray, list[str]]:
    """Read a compound dataset as a structured array in the convention's layout (§2.4, §3).

    Numeric fields keep their type in native byte order; text fields and reference fields
    become fixed-length UTF-32 (``<U n``) sized to their longest value (at least 1 character);
    references hold target paths.

    Parameters
    ----------
    dset : h5py.Dataset
        A dataset whose :func:`dtype_kind` is ``"compound"``.
    where : str
        Dataset path for messages.
    path_of : callable
        ``path_of(ref, where) -> str``.

    Returns
    -------
    (numpy.ndarray, list of str)
        The structured values (dataset shape) and the names of reference fields.

    Raises
    ------
    HDF5IndexError
        If a field has a type the convention cannot hold (nested compound, vlen sequence...).
    """
    raw = np.asarray(dset[()])
    columns: dict[str, np.ndarray] = {}
    parts = []
    ref_fields = []
    for name in raw.dtype.names:
        fdt = raw.dtype.fields[name][0]
        kind = dtype_kind(dset.dtype.fields[name][0])
        column = raw[name]
        if kind in ("reference", "region", "text"):
            if kind == "region":
                _warn_region(where)
            if kind == "text":
                values = [_decode(v, f"{where}.{name}") for v in column.reshape(-1)]
            else:
                ref_fields.append(name)
                values = [path_of(r, where) if r else "" for r in column.reshape(-1)]
            longest = max((len(v) for v in values), default=0)
            fdt = np.dtype(f"<U{max(longest, COMPOUND_MIN_STRING_LENGTH)}")
            column = np.array(values, dtype=fdt).reshape(column.shape)
        elif kind == "numeric":
            fdt = fdt.newbyteorder("<") if fdt.byteorder == ">" else fdt
        else:
            raise HDF5IndexError(
                f"{where}: compound field {name!r} of HDF5 type {fdt} has no Zarr v3 "
                "structured equivalent in this convention"
            )
        columns[name] = column
        parts.append((name, fdt))
    out = np.empty(raw.shape, dtype=np.dtype(parts))
    for name, column in columns.items():
        out[name] = column
    return out, ref_fields


def attribute_values(obj: Any, where: str, path_of: PathOf, is_root: bool = False) -> dict:
    """Read the attributes of an HDF5 group or dataset as JSON values of the convention.

    References become ``{"_REFERENCE": {"source": ".", "path": ...}}`` (lists of them for
    arrays of references), text becomes ``str``; HDF5 dimension-scale bookkeeping
    (``DIMENSION_LIST``, ``REFERENCE_LIST``, ``DIMENSION_LABELS``, and ``CLASS``/``NAME`` on a
    scale) is left out, as conversion does. On the root, a ``.specloc`` reference becomes the
    bare group name the writer stores.

    Parameters
    ----------
    obj : h5py.Group or h5py.Dataset
        The object whose attributes are read.
    where : str
        Object path for messages.
    path_of : callable
        ``path_of(ref, where) -> str``.
    is_root : bool
        Whether ``obj`` is the root group.

    Returns
    -------
    dict
        Attribute name -> JSON value.

    Raises
    ------
    HDF5IndexError
        If an attribute cannot be read or has no JSON form (compound attributes, text that is
        not UTF-8).
    """
    names = list(obj.attrs)
    scale = False
    if "CLASS" in names:
        try:
            scale = _decode(obj.attrs["CLASS"], where) == "DIMENSION_SCALE"
        except (HDF5IndexError, OSError, TypeError):
            scale = False
    out = {}
    for name in names:
        if name in DIMENSION_SCALE_ATTRS or (scale and name in ("CLASS", "NAME")):
            continue
        at = f"{where}@{name}"
        try:
            value = obj.attrs[name]
        except (OSError, TypeError, ValueError) as err:
            raise HDF5IndexError(f"{at}: the attribute cannot be read through h5py: {err}") from err
        out[name] = _attribute_json(value, at, path_of)
    if is_root and isinstance(out.get(SPECLOC_ATTR), dict):
        target = out[SPECLOC_ATTR][REFERENCE_KEY]["path"]
        if posixpath.dirname(target) == "/":
            out[SPECLOC_ATTR] = target.lstrip("/")
    return out


def _attribute_json(value: Any, where: str, path_of: PathOf) -> Any:
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, h5py.h5r.Reference) or isinstance(value, h5py.RegionReference):
        return _reference_json(value, where, path_of)
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        flat = value.reshape(-1)
        if flat.size and all(
            isinstance(v, (h5py.h5r.Reference, h5py.RegionReference)) for v in flat
        ):
            return [_reference_json(v, where, path_of) for v in flat]
        return [_attribute_json(v, where, path_of) for v in value.tolist()]
    if isinstance(value, np.ndarray) and value.dtype.kind == "V":
        raise HDF5IndexError(f"{where}: compound attributes have no JSON form in this convention")
    try:
        return to_json_value(value, where)
    except UnicodeDecodeError as err:
        raise HDF5IndexError(f"{where}: attribute text is not valid UTF-8 ({err})") from None
    except TypeError as err:
        raise HDF5IndexError(str(err)) from None


def _reference_json(ref: Any, where: str, path_of: PathOf) -> dict | None:
    if not ref:
        return None
    if isinstance(ref, h5py.RegionReference):
        _warn_region(where)
    return {REFERENCE_KEY: {"source": SAME_FILE, "path": normalize_path(path_of(ref, where))}}


def dimension_names(dset: h5py.Dataset) -> list[str | None] | None:
    """Names of a dataset's dimensions from HDF5 dimension labels or attached scales.

    A dimension's label wins; otherwise the ``NAME`` of its first attached scale, else that
    scale's base name (HDF5 Dimension Scale specification), as conversion does
    (``backend/dimensions.py``).

    Parameters
    ----------
    dset : h5py.Dataset
        Any dataset with at least one dimension.

    Returns
    -------
    list of (str or None), or None
        One entry per dimension, or None when no dimension has a label or a scale.
    """
    if "DIMENSION_LIST" not in dset.attrs and "DIMENSION_LABELS" not in dset.attrs:
        return None
    names: list[str | None] = []
    try:
        for dim in dset.dims:
            name = dim.label or None
            if name is None and len(dim) > 0:
                scale_names = [n for n in dim.keys() if n]
                name = scale_names[0] if scale_names else posixpath.basename(dim[0].name or "")
                name = name or None
            names.append(name)
    except (RuntimeError, ValueError, KeyError, OSError):
        return None
    return names if any(n is not None for n in names) else None
