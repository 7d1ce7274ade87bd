"""Rules for reading LINDI (and plain kerchunk) Zarr v2 reference stores in the v3 convention.

Pure functions, no I/O. Source format: LINDI's ``docs/special_zarr_annotations.md`` (lindi
0.4), and the Zarr v2 metadata documents that LINDI and kerchunk write. LINDI maps an HDF5 file
onto Zarr v2 keys and marks what Zarr v2 cannot say with attributes of its own; the mapping to
this package's convention (``docs/storage.md`` §13):

* ``_SCALAR: true`` on a shape ``(1,)`` array -> a 0-d array;
* ``_SOFT_LINK: {"path": ...}`` on an (empty) group -> an entry of the parent's ``_LINKS``;
* ``{"_REFERENCE": {"source", "path", "object_id", "source_object_id"}}`` in attributes ->
  ``{"_REFERENCE": {"source", "path"}}``; the same objects as elements of a JSON (``json2``)
  object array -> a ``string`` array of target paths with ``_DTYPE``;
* ``_COMPOUND_DTYPE: [[name, dtype], ...]`` on a JSON object array of rows -> a structured
  array; fields of type ``"<REFERENCE>"`` are listed in ``_REFERENCE_FIELDS``;
* ``_EXTERNAL_ARRAY_LINK: {"link_type": "hdf5_dataset", "url", "name"}`` -> the array's values
  come from that HDF5 dataset (read by the store, not from chunk keys);
* the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` in attributes are floats (LINDI
  refuses them as text when it writes);
* ``_ARRAY_DIMENSIONS`` becomes ``dimension_names`` only when it is a list of names (LINDI
  stores the shape there); the other LINDI attributes are not shown.

Plain kerchunk (``kerchunk.hdf.SingleHdf5ToZarr``) drops what Zarr v2 cannot say instead of
annotating it (docs/toolchain.md, kerchunk section); these rules read what is left:

* the attribute text ``" "`` is read as ``""`` (kerchunk writes an empty bytes attribute as
  one space; ``translate_attributes(..., kerchunk=True)``);
* an attribute whose value is the text ``"<HDF5 object reference>"`` or
  ``"<HDF5 region reference>"`` (kerchunk >= 0.2.8 writes ``str()`` of the reference; 0.2.7
  leaves the attribute out) is left out: the target is not in the file;
* a root without ``.specloc`` whose ``specifications`` group holds ``name/version/namespace``
  datasets (the spec cache every NWB writer makes) gets ``.specloc = "specifications"``
  (:func:`spec_cache_namespace`) when that cache holds its values;
* a 0-d text array with no chunk and no fill value has lost its value (kerchunk >= 0.2.8
  cannot write 0-d strings): reading it raises (:func:`dropped_value_message`).

The array itself is then described with
:func:`nwbzarr.formats.hdmf_zarr_v2.conventions.plan_array` (the rules shared with legacy
hdmf-zarr stores): the LINDI annotations are rewritten as the ``zarr_dtype`` hints that
function understands.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...conventions.attributes import REFERENCE_KEY, SPECLOC_ATTR
from ...conventions.references import SAME_FILE, attribute_reference, normalize_path
from ...errors import LegacyFormatError
from ..hdmf_zarr_v2.conventions import DIMENSIONS_ATTR, LEGACY_DTYPE_ATTR, ArrayPlan, plan_array

SCALAR_ATTR = "_SCALAR"
SOFT_LINK_ATTR = "_SOFT_LINK"
COMPOUND_DTYPE_ATTR = "_COMPOUND_DTYPE"
EXTERNAL_ARRAY_LINK_ATTR = "_EXTERNAL_ARRAY_LINK"
LINDI_REFERENCE_DTYPE = "<REFERENCE>"
HIDDEN_ATTRS = frozenset(
    {SCALAR_ATTR, SOFT_LINK_ATTR, COMPOUND_DTYPE_ATTR, EXTERNAL_ARRAY_LINK_ATTR, DIMENSIONS_ATTR}
)
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
#: what kerchunk >= 0.2.8 writes for an attribute holding an HDF5 reference (``str(ref)``)
KERCHUNK_REFERENCE_TEXTS = frozenset({"<HDF5 object reference>", "<HDF5 region reference>"})
#: what kerchunk writes for an empty bytes attribute (``v.decode() or " "``)
KERCHUNK_EMPTY_TEXT = " "
#: the spec cache group pynwb and hdmf write (its root ``.specloc`` reference kerchunk drops)
SPEC_CACHE_GROUP = "specifications"
_TEXT_FIELD_NAMES = ("object", "|O", "O", "str", "utf", "utf8", "utf-8", "ascii", "text")


#: The special attributes of LINDI (``docs/special_zarr_annotations.md``) as they appear in the
#: JSON text of a ``.zattrs``: any of them marks a Zarr v2 reference set as LINDI's.
LINDI_MARKERS = tuple(
    f'"{name}"'.encode()
    for name in (
        "_REFERENCE",
        SCALAR_ATTR,
        SOFT_LINK_ATTR,
        COMPOUND_DTYPE_ATTR,
        EXTERNAL_ARRAY_LINK_ATTR,
    )
)


def is_lindi_reference_set(
    document: dict, refs: dict[str, Any], location: str | None = None
) -> bool:
    """True if a Zarr v2 reference JSON was written by LINDI (not plain kerchunk).

    Parameters
    ----------
    document : dict
        The decoded reference JSON.
    refs : dict of str to bytes or ByteRange
        Its references, decoded (inline values as bytes).
    location : str, optional
        Where the JSON was read from.

    Returns
    -------
    bool
        The document carries LINDI's ``generationMetadata``, its name ends in ``.lindi.json``,
        or an inline ``.zattrs`` holds one of :data:`LINDI_MARKERS`.
    """
    if "generationMetadata" in document or (location or "").endswith(".lindi.json"):
        return True
    for key, value in refs.items():
        if key.endswith(".zattrs") and isinstance(value, bytes):
            if any(marker in value for marker in LINDI_MARKERS):
                return True
    return False


def is_lindi_reference(value: Any) -> bool:
    """True if ``value`` is a LINDI (or hdmf-zarr) ``{"_REFERENCE": {..., "path"}}`` object.

    Parameters
    ----------
    value : object
        A decoded JSON value (attribute value, element of an object array, compound field).
    """
    return (
        isinstance(value, dict)
        and isinstance(value.get(REFERENCE_KEY), dict)
        and "path" in value[REFERENCE_KEY]
    )


def _reference(value: dict, where: str) -> dict:
    ref = value[REFERENCE_KEY]
    source = ref.get("source")
    if source in (None, "", SAME_FILE, "./"):
        source = SAME_FILE
    if not isinstance(ref["path"], str) or not isinstance(source, str):
        raise LegacyFormatError(f"{where}: malformed _REFERENCE {value!r:.120}")
    return attribute_reference(ref["path"], source.replace("\\", "/"))


def translate_value(value: Any, where: str) -> Any:
    """Translate one LINDI attribute value into this package's convention.

    References keep only ``source`` and ``path``; ``"NaN"``/``"Infinity"``/``"-Infinity"``
    become floats (also inside lists and objects).

    Parameters
    ----------
    value : object
        The decoded JSON value.
    where : str
        The node and attribute, for messages.

    Returns
    -------
    object
        The value in this convention.

    Raises
    ------
    LegacyFormatError
        If a ``_REFERENCE`` object is malformed (names ``where``).
    """
    if isinstance(value, dict):
        if REFERENCE_KEY in value:
            if not is_lindi_reference(value):
                raise LegacyFormatError(f"{where}: malformed _REFERENCE {value!r:.120}")
            return _reference(value, where)
        return {k: translate_value(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [translate_value(v, where) for v in value]
    if isinstance(value, str) and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return value


def translate_attributes(
    attrs: dict, where: str, *, root: bool = False, kerchunk: bool = False
) -> dict:
    """Return a node's LINDI attributes in this convention, LINDI's own annotations left out.

    Parameters
    ----------
    attrs : dict
        The parsed ``.zattrs`` document.
    where : str
        The node's location, for messages.
    root : bool
        True for the root group: a ``.specloc`` reference becomes the group's name.
    kerchunk : bool
        True for a plain kerchunk file: the text ``" "`` is read as ``""`` (kerchunk writes an
        empty bytes attribute as a single space).

    Raises
    ------
    LegacyFormatError
        If a reference is malformed.
    """
    out = {}
    for key, value in attrs.items():
        if key in HIDDEN_ATTRS or _is_dropped_reference(value):
            continue
        if key == SPECLOC_ATTR and root and is_lindi_reference(value):
            path = normalize_path(str(value[REFERENCE_KEY]["path"]))
            out[key] = path.lstrip("/") if path.count("/") == 1 else path
            continue
        if kerchunk and value == KERCHUNK_EMPTY_TEXT:
            value = ""
        out[key] = translate_value(value, f"{where}: attribute {key!r}")
    return out


def _is_dropped_reference(value: Any) -> bool:
    """True for kerchunk's text stand-in of an HDF5 reference (alone or as a list of them)."""
    if isinstance(value, str):
        return value in KERCHUNK_REFERENCE_TEXTS
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v in KERCHUNK_REFERENCE_TEXTS for v in value)
    )


def spec_cache_namespace(docs: dict[str, Any]) -> str | None:
    """Return the path of a cached ``namespace`` array under ``specifications``, or None.

    kerchunk leaves out the root's ``.specloc`` attribute (an HDF5 object reference), so a
    reader would not find the cached namespaces (extensions among them). The cache has a
    fixed shape (``specifications/<namespace>/<version>/namespace``), which is looked for; the
    caller checks that the array holds a value before naming the group in ``.specloc``.

    Parameters
    ----------
    docs : dict
        Every Zarr v2 metadata document of the store, by key (``"a/b/.zarray"``).

    Returns
    -------
    str or None
        The array's path (``"specifications/core/2.5.0/namespace"``).
    """
    prefix = SPEC_CACHE_GROUP + "/"
    for key in sorted(docs):
        parts = key.split("/")
        if key.startswith(prefix) and len(parts) == 5 and parts[3:] == ["namespace", ".zarray"]:
            return "/".join(parts[:4])
    return None


def dropped_value_message(store: str, path: str) -> str:
    """The message for a 0-d text array whose value the reference file does not hold.

    Parameters
    ----------
    store : str
        The store, for the message.
    path : str
        The array's path in the store.
    """
    return (
        f"{store}: /{path} is a scalar text dataset whose value the reference file does not "
        "hold (no chunk, no fill value): kerchunk >= 0.2.8 (zarr 3) leaves every 0-d string "
        "out of its JSON. Index the HDF5 file with `nwbzarr index FILE.nwb` instead (or with "
        "kerchunk 0.2.7 and zarr < 3), or open the .nwb file itself"
    )


def soft_link_target(attrs: dict, where: str) -> str | None:
    """Return the target path of a ``_SOFT_LINK`` group, or None if ``attrs`` has none.

    Parameters
    ----------
    attrs : dict
        The group's parsed ``.zattrs``.
    where : str
        The ``.zattrs`` key, for messages.

    Raises
    ------
    LegacyFormatError
        If ``_SOFT_LINK`` is not an object with a string ``path``.
    """
    if SOFT_LINK_ATTR not in attrs:
        return None
    value = attrs[SOFT_LINK_ATTR]
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or not value["path"]:
        raise LegacyFormatError(
            f"{where}: malformed {SOFT_LINK_ATTR} {value!r:.120} (expected {{'path': '/...'}})"
        )
    return normalize_path(value["path"])


def external_array_link(attrs: dict, where: str) -> tuple[str, str] | None:
    """Return ``(url, dataset name)`` of an ``_EXTERNAL_ARRAY_LINK``, or None if absent.

    Parameters
    ----------
    attrs : dict
        The array's parsed ``.zattrs``.
    where : str
        The ``.zattrs`` key, for messages.

    Raises
    ------
    LegacyFormatError
        If the link is not ``{"link_type": "hdf5_dataset", "url": str, "name": str}``.
    """
    if EXTERNAL_ARRAY_LINK_ATTR not in attrs:
        return None
    link = attrs[EXTERNAL_ARRAY_LINK_ATTR]
    if (
        not isinstance(link, dict)
        or link.get("link_type") != "hdf5_dataset"
        or not isinstance(link.get("url"), str)
        or not link["url"]
        or not isinstance(link.get("name"), str)
        or not link["name"]
    ):
        raise LegacyFormatError(
            f"{where}: malformed {EXTERNAL_ARRAY_LINK_ATTR} {link!r:.160} (expected "
            "{'link_type': 'hdf5_dataset', 'url': ..., 'name': ...})"
        )
    return link["url"], link["name"]


def _compound_fields(spec: Any, sample: Any, where: str) -> list[dict]:
    """``_COMPOUND_DTYPE`` -> the ``zarr_dtype`` field list of :func:`plan_array`."""
    if not isinstance(spec, list) or not spec:
        raise LegacyFormatError(f"{where}: malformed {COMPOUND_DTYPE_ATTR} {spec!r:.120}")
    fields = []
    for i, item in enumerate(spec):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], str)
        ):
            raise LegacyFormatError(
                f"{where}: malformed {COMPOUND_DTYPE_ATTR} field {item!r:.80} "
                "(expected [name, dtype])"
            )
        name, dtype = item
        is_ref = dtype == LINDI_REFERENCE_DTYPE or (
            isinstance(sample, list) and i < len(sample) and is_lindi_reference(sample[i])
        )
        if is_ref:
            fields.append({"name": name, "dtype": "object"})
            continue
        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            kind = "U" if dtype in _TEXT_FIELD_NAMES else ""
        if kind in "biuf" and kind:
            fields.append({"name": name, "dtype": str(np.dtype(dtype))})
        elif kind in "OSU" and kind:
            fields.append({"name": name, "dtype": "str"})
        else:
            raise LegacyFormatError(
                f"{where}: unsupported field type {dtype!r} of field {name!r} in "
                f"{COMPOUND_DTYPE_ATTR}"
            )
    return fields


def plan_lindi_array(
    zarray: dict, zattrs: dict, path: str, sample: Any = None, *, kerchunk: bool = False
) -> ArrayPlan:
    """Describe how a LINDI (or kerchunk) v2 array appears in this convention.

    Parameters
    ----------
    zarray : dict
        The parsed ``.zarray`` document.
    zattrs : dict
        The parsed ``.zattrs`` document (``{}`` if absent).
    path : str
        The array's path in the store, for messages.
    sample : object, optional
        For object arrays: the first element of the first chunk (decoded), which tells text
        from references; None if unknown.
    kerchunk : bool
        True for a plain kerchunk file (see :func:`translate_attributes`).

    Returns
    -------
    ArrayPlan
        As :func:`nwbzarr.formats.hdmf_zarr_v2.conventions.plan_array` returns it, with the
        attributes in this convention and a 0-d shape for ``_SCALAR`` arrays.

    Raises
    ------
    LegacyFormatError
        If an annotation is malformed or the array cannot be presented.
    """
    where = f"{path}/.zattrs"
    hints: dict = {}
    if COMPOUND_DTYPE_ATTR in zattrs:
        hints[LEGACY_DTYPE_ATTR] = _compound_fields(zattrs[COMPOUND_DTYPE_ATTR], sample, where)
    elif is_lindi_reference(sample):
        hints[LEGACY_DTYPE_ATTR] = "object"
    dims = zattrs.get(DIMENSIONS_ATTR)
    if isinstance(dims, list) and dims and all(isinstance(d, str) for d in dims):
        hints[DIMENSIONS_ATTR] = dims  # kerchunk / xarray names; LINDI stores the shape
    scalar = zattrs.get(SCALAR_ATTR, False)
    if scalar not in (True, False):
        raise LegacyFormatError(f"{where}: malformed {SCALAR_ATTR} {scalar!r} (expected true)")
    plan = plan_array(zarray, hints, path)
    attributes = translate_attributes(zattrs, where, kerchunk=kerchunk)
    plan.attributes = {**attributes, **plan.attributes}
    if scalar:
        if plan.v2_shape != (1,):
            raise LegacyFormatError(
                f"{where}: {SCALAR_ATTR} on an array of shape {list(plan.v2_shape)} (expected [1])"
            )
        plan.shape, plan.chunks, plan.dimension_names = (), (), None
    return plan
