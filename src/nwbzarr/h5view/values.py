"""Values as h5py hands them out: dtypes, text, object references, attributes.

Pure conversions, no I/O. A store in the unified convention (docs/storage.md) holds text as
variable-length UTF-8, object references as target path strings (arrays with
``_DTYPE = "object_reference"``, compound fields named in ``_REFERENCE_FIELDS``, attribute values
``{"_REFERENCE": {...}}``) and attributes as JSON. h5py 3 returns:

* variable-length text read from a **dataset** as ``bytes`` (object arrays of ``bytes``), with
  the dtype ``h5py.string_dtype("utf-8")``; from an **attribute** as ``str`` (object arrays of
  ``str``);
* object references as :class:`h5py.Reference` objects (dtype ``h5py.ref_dtype``), which
  ``file[ref]`` dereferences;
* numbers as numpy scalars and arrays.

:class:`Reference` is an ``h5py.Reference`` holding the target path (``isinstance`` checks in
hdmf hold); the other functions map zarr values and JSON attributes to those forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from ..compat import h5py_view_bases
from ..conventions.attributes import (
    DTYPE_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    RESERVED_ATTRS,
    SPECLOC_ATTR,
)
from ..conventions.references import normalize_path, parse_attribute_reference

__all__ = [
    "Reference",
    "STR_DTYPE",
    "REF_DTYPE",
    "view_dtype",
    "reference_fields",
    "to_view_values",
    "to_view_attribute",
    "view_attributes",
]

#: Variable-length UTF-8 text, as h5py reports it (``object`` with metadata ``vlen=str``).
STR_DTYPE = h5py.string_dtype("utf-8")
#: Object references, as h5py reports them (``object`` with metadata ``ref=h5py.Reference``).
REF_DTYPE = h5py.ref_dtype

_TEXT_KINDS = "OTU"


class Reference(h5py_view_bases()["Reference"]):
    """An object reference of an h5py-like view: an ``h5py.Reference`` naming a path.

    ``view[ref]`` (any group or the file of the view the reference came from) returns the
    object at :attr:`path`. Equal references name the same path in the same view.

    Parameters
    ----------
    path : str or None
        Absolute path of the target inside its file; None (or ``""``) for a null reference,
        which is falsy as in h5py.
    file_key : str, optional
        Identity of the file the reference belongs to (the view's filename).
    """

    def __init__(self, path: str | None, file_key: str | None = None) -> None:
        self.path = normalize_path(path) if path else None
        self.file_key = file_key

    def __bool__(self) -> bool:
        return self.path is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        return (self.path, self.file_key) == (other.path, other.file_key)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((Reference, self.path, self.file_key))

    def __repr__(self) -> str:
        if self.path is None:
            return "<HDF5 object reference (null)>"
        return f"<HDF5 object reference to {self.path!r}>"

    def __reduce__(self) -> tuple:
        return (Reference, (self.path, self.file_key))


def reference_fields(attrs: dict) -> tuple[str, ...]:
    """Names of a compound array's reference fields (its ``_REFERENCE_FIELDS``)."""
    value = attrs.get(REFERENCE_FIELDS_ATTR) or ()
    return tuple(v for v in value if isinstance(v, str))


def view_dtype(dtype: np.dtype, attrs: dict) -> np.dtype:
    """The dtype h5py would report for a zarr array of this dtype and attributes.

    Parameters
    ----------
    dtype : numpy.dtype
        The zarr array's dtype (``StringDType``/``object``/``U`` text, numbers, structured).
    attrs : dict
        The array's raw attributes (``_DTYPE``, ``_REFERENCE_FIELDS`` are read).

    Returns
    -------
    numpy.dtype
        ``h5py.ref_dtype`` for reference arrays, ``h5py.string_dtype()`` for text, a structured
        dtype with those two in place of reference and text fields, otherwise ``dtype``.
    """
    if attrs.get(DTYPE_ATTR) == OBJECT_REFERENCE:
        return REF_DTYPE
    if dtype.names:
        refs = set(reference_fields(attrs))
        fields = []
        for name in dtype.names:
            sub = dtype[name]
            if name in refs:
                fields.append((name, REF_DTYPE))
            elif sub.kind in _TEXT_KINDS:
                fields.append((name, STR_DTYPE))
            else:
                fields.append((name, sub))
        return np.dtype(fields)
    if dtype.kind in _TEXT_KINDS:
        return STR_DTYPE
    return dtype


def _encode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    return str(value).encode("utf-8")


def _map_objects(values: np.ndarray, func: Callable[[Any], Any]) -> np.ndarray:
    flat = [func(v) for v in values.ravel().tolist()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(values.shape)


def to_view_values(
    values: Any,
    dtype: np.dtype,
    out_dtype: np.dtype,
    make_ref: Callable[[str], Reference],
    ref_fields: tuple[str, ...] = (),
) -> Any:
    """Turn values read from a zarr array into what h5py returns for the same read.

    Parameters
    ----------
    values : numpy.ndarray or scalar
        The zarr result (0-d arrays for scalar reads).
    dtype : numpy.dtype
        The zarr array's dtype.
    out_dtype : numpy.dtype
        The view dtype (:func:`view_dtype`).
    make_ref : callable
        ``make_ref(path) -> Reference`` for a target path.
    ref_fields : tuple of str
        Reference fields of a compound dtype.

    Returns
    -------
    numpy.ndarray or scalar
        Text as ``bytes`` (object arrays of ``bytes``), references as :class:`Reference`,
        compound records with those fields converted; a scalar read (0-d) as a numpy scalar,
        ``bytes`` or :class:`Reference`.
    """
    arr = np.asarray(values)
    scalar = arr.ndim == 0
    if out_dtype is REF_DTYPE or (out_dtype.kind == "O" and h5py.check_dtype(ref=out_dtype)):
        out = _map_objects(arr, lambda v: make_ref(str(v) if v is not None else ""))
    elif out_dtype.kind == "O":
        out = _map_objects(arr, _encode)
    elif out_dtype.names and out_dtype != dtype:
        out = np.empty(arr.shape, dtype=out_dtype)
        for name in out_dtype.names:
            column = arr[name]
            if name in ref_fields:
                out[name] = _map_objects(column, lambda v: make_ref(str(v)))
            elif out_dtype[name].kind == "O":
                out[name] = _map_objects(column, _encode)
            else:
                out[name] = column
    else:
        out = arr
    if scalar:
        return out[()]
    return out


def to_view_attribute(value: Any, make_ref: Callable[[str], Reference], where: str) -> Any:
    """A JSON attribute value as h5py returns the HDF5 attribute.

    Parameters
    ----------
    value : Any
        The JSON value (str, bool, int, float, None, list, dict).
    make_ref : callable
        ``make_ref(path) -> Reference``.
    where : str
        Node and attribute name, for the error of a malformed ``_REFERENCE``.

    Returns
    -------
    Any
        ``str`` for text; numpy scalars for numbers and booleans (``int64``/``float64``: JSON
        keeps no width); numpy arrays for lists (``object`` arrays of ``str`` for text lists,
        of :class:`Reference` for reference lists); a :class:`Reference` for
        ``{"_REFERENCE": ...}``; other JSON objects unchanged.

    Raises
    ------
    MalformedAttributeError
        A value that uses the ``_REFERENCE`` key but is malformed.
    """
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value) if -(2**63) <= value < 2**63 else np.uint64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, dict):
        ref = parse_attribute_reference(value, where)
        if ref is not None:
            return make_ref(ref[1])
        return value
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            refs = [parse_attribute_reference(v, where) for v in value]
            if all(r is not None for r in refs):
                out = np.empty(len(refs), dtype=object)
                out[:] = [make_ref(r[1]) for r in refs]
                return out
            return value
        if value and all(isinstance(v, str) for v in value):
            out = np.empty(len(value), dtype=object)
            out[:] = value
            return out
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged nesting: not an HDF5 attribute shape
            return value
        if arr.dtype.kind in "biufU" or (arr.size == 0 and arr.dtype.kind == "f"):
            return arr.astype(object) if arr.dtype.kind == "U" else arr
        return value
    return value


def view_attributes(raw: dict, make_ref: Callable[[str], Reference], where: str) -> dict:
    """All attributes of a node as h5py shows them, by name.

    The convention's reserved attributes (``_LINKS``, ``_DTYPE``, ``_REFERENCE_FIELDS``, ...)
    are hidden, except ``.specloc``, which HDF5 files hold as an object reference to the spec
    cache and which is returned as one.

    Parameters
    ----------
    raw : dict
        The node's JSON attributes.
    make_ref : callable
        ``make_ref(path) -> Reference``.
    where : str
        The node's path (with the file), for error messages.

    Returns
    -------
    dict
        Name -> value (see :func:`to_view_attribute`), in name order.
    """
    out = {}
    for key in sorted(raw):
        value = raw[key]
        if key == SPECLOC_ATTR:
            ref = parse_attribute_reference(value)
            out[key] = make_ref(ref[1] if ref is not None else str(value))
            continue
        if key in RESERVED_ATTRS:
            continue
        out[key] = to_view_attribute(value, make_ref, f"{where}: attribute {key!r}")
    return out
