"""Zarr v3 metadata documents (``zarr.json``) as plain dicts, in zarr-python's own form.

The writer builds the documents of new groups and small arrays here instead of through
zarr-python's metadata objects, and the consolidated metadata of a new store from those same
dicts. Every function returns exactly what zarr-python (3.1.5 .. 3.4) writes for the same
node: the same keys in the same order, so :func:`encode` gives the same bytes
(``tests/backend/test_write.py`` compares them). Pure rules, no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "SHARDING_CODEC",
    "codec_names_v2",
    "codec_names_v3",
    "short_codec_name",
    "v2_dtype_name",
    "v3_dtype_name",
    "DEFAULT_CHUNK_KEY_ENCODING",
    "array_document",
    "consolidated_root",
    "encode",
    "encode_consolidated",
    "group_document",
]

#: ``chunk_key_encoding`` of arrays zarr-python creates by default (keys ``c/0/1``).
DEFAULT_CHUNK_KEY_ENCODING: dict[str, Any] = {
    "name": "default",
    "configuration": {"separator": "/"},
}

_EMPTY_CONSOLIDATED = {"kind": "inline", "must_understand": False, "metadata": {}}


def array_document(
    shape: Sequence[int],
    data_type: Any,
    chunk_shape: Sequence[int],
    fill_value: Any,
    codecs: Sequence[Mapping[str, Any]],
    attributes: Mapping[str, Any],
    dimension_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``zarr.json`` document of a Zarr v3 array on a regular chunk grid.

    Parameters
    ----------
    shape : sequence of int
        Array shape in elements (``()`` for a scalar).
    data_type : str or dict
        The data type's JSON form (e.g. ``"float64"``, ``"string"``).
    chunk_shape : sequence of int
        Chunk shape in elements (``()`` for a scalar).
    fill_value : Any
        The fill value's JSON form for ``data_type`` (``"NaN"`` for a float NaN, ...).
    codecs : sequence of dict
        The codec chain's JSON form (serializer first), as zarr-python writes it.
    attributes : mapping
        The node's attributes (JSON values).
    dimension_names : sequence of str, optional
        One name per dimension; left out of the document when None.

    Returns
    -------
    dict
        The document, keys in zarr-python's order.
    """
    doc: dict[str, Any] = {
        "shape": [int(s) for s in shape],
        "data_type": data_type,
        "chunk_grid": {
            "name": "regular",
            "configuration": {"chunk_shape": [int(c) for c in chunk_shape]},
        },
        "chunk_key_encoding": {
            "name": DEFAULT_CHUNK_KEY_ENCODING["name"],
            "configuration": dict(DEFAULT_CHUNK_KEY_ENCODING["configuration"]),
        },
        "fill_value": fill_value,
        "codecs": [dict(c) for c in codecs],
        "attributes": dict(attributes),
    }
    if dimension_names is not None:
        doc["dimension_names"] = list(dimension_names)
    doc["zarr_format"] = 3
    doc["node_type"] = "array"
    doc["storage_transformers"] = []
    return doc


def group_document(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The ``zarr.json`` document of a Zarr v3 group with ``attributes`` (JSON values).

    Returns
    -------
    dict
        ``{"attributes": ..., "zarr_format": 3, "node_type": "group"}``.
    """
    return {"attributes": dict(attributes), "zarr_format": 3, "node_type": "group"}


def encode(document: Mapping[str, Any], indent: int | None = 2) -> bytes:
    """A document's bytes as zarr-python writes them (``json.dumps``, NaN allowed).

    Parameters
    ----------
    document : mapping
        A ``zarr.json`` document.
    indent : int or None
        zarr's ``json_indent`` setting (2 unless configured otherwise).

    Returns
    -------
    bytes
        UTF-8 JSON.
    """
    return json.dumps(document, indent=indent, allow_nan=True).encode()


def _member_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """One member's entry in the consolidated metadata: a group gains an empty inline
    ``consolidated_metadata`` (before ``node_type``), as zarr-python writes it."""
    if document.get("node_type") != "group":
        return dict(document)
    out = {k: v for k, v in document.items() if k not in ("consolidated_metadata", "node_type")}
    out["consolidated_metadata"] = {**_EMPTY_CONSOLIDATED, "metadata": {}}
    out["node_type"] = "group"
    return out


def _order(path: str) -> tuple[int, str]:
    return path.count("/"), unicodedata.normalize("NFKC", path).casefold()


def consolidated_root(
    root: Mapping[str, Any], members: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The root group's document with the inline consolidated metadata of ``members``.

    Parameters
    ----------
    root : mapping
        The root group's current document (any ``consolidated_metadata`` in it is replaced).
    members : mapping of str to dict
        Every node below the root: path relative to the root (``"a/b"``) -> its document.

    Returns
    -------
    dict
        What ``zarr.consolidate_metadata`` writes as the root ``zarr.json``: members sorted
        by depth, then by case-folded path.
    """
    metadata = {path: _member_document(members[path]) for path in sorted(members, key=_order)}
    out = {k: v for k, v in root.items() if k not in ("consolidated_metadata", "node_type")}
    out.setdefault("attributes", {})
    out.setdefault("zarr_format", 3)
    out["consolidated_metadata"] = {
        "kind": "inline",
        "must_understand": False,
        "metadata": metadata,
    }
    out["node_type"] = "group"
    return out


_PLACEHOLDER = "\x00nwbzarr-member-{}\x00"
_PLACEHOLDER_JSON = re.compile(r'"\\u0000nwbzarr-member-(\d+)\\u0000"')


def encode_consolidated(
    root: Mapping[str, Any],
    members: Mapping[str, Mapping[str, Any]],
    encoded: Mapping[str, bytes],
    indent: int | None = 2,
) -> bytes:
    """The bytes of :func:`consolidated_root` ``(root, members)``, reusing members' own bytes.

    ``json.dumps`` with an indent runs in pure Python, so encoding thousands of members again
    costs more than building them. A member whose entry is its own document (an array) and
    whose ``zarr.json`` bytes are given in ``encoded`` (written by :func:`encode` with the same
    ``indent``) is spliced in, re-indented to its depth; the rest is encoded as usual. The
    result is byte for byte ``encode(consolidated_root(root, members), indent)``.

    Parameters
    ----------
    root : mapping
        The root group's current document.
    members : mapping of str to dict
        Node path -> its document, as for :func:`consolidated_root`.
    encoded : mapping of str to bytes
        Node path -> the bytes of its document as written (``encode(document, indent)``).
    indent : int or None
        zarr's ``json_indent``.

    Returns
    -------
    bytes
        The root ``zarr.json``.
    """
    document = consolidated_root(root, members)
    metadata = document["consolidated_metadata"]["metadata"]
    spliced: list[str] = []
    for path, entry in metadata.items():
        raw = encoded.get(path)
        if raw is None or entry.get("node_type") != "array":
            continue
        metadata[path] = _PLACEHOLDER.format(len(spliced))
        text = raw.decode()
        if indent is not None:
            text = text.replace("\n", "\n" + " " * (3 * indent))  # metadata entries: depth 3
        spliced.append(text)
    if not spliced:
        return encode(document, indent)
    skeleton = json.dumps(document, indent=indent, allow_nan=True)
    return _PLACEHOLDER_JSON.sub(lambda m: spliced[int(m.group(1))], skeleton).encode()


# -- names shown to people (``nwbzarr info``, Jupyter's dataset HTML) ----------------------------
#: The name of Zarr v3's sharding codec in a ``codecs`` list.
SHARDING_CODEC = "sharding_indexed"


def short_codec_name(name: Any) -> str:
    """A codec's name without numcodecs' ``numcodecs.`` prefix (``"numcodecs.shuffle"`` ->
    ``"shuffle"``)."""
    return str(name).removeprefix("numcodecs.")


def codec_names_v3(codecs: Any) -> list[str]:
    """Names of a Zarr v3 codec pipeline in its JSON form, the sharding codec's inner codecs
    after it.

    Parameters
    ----------
    codecs : list of dict or str or codec objects, or None
        The ``codecs`` of a v3 array's ``zarr.json`` (objects are read through ``to_dict()``).

    Returns
    -------
    list of str
        E.g. ``["sharding_indexed", "bytes", "blosc", "crc32c"]``.
    """
    names: list[str] = []
    for codec in codecs or ():
        if isinstance(codec, str):
            names.append(short_codec_name(codec))
            continue
        if not isinstance(codec, dict):  # a codec object: use its JSON form
            codec = codec.to_dict()
        name = codec.get("name", "?")
        names.append(short_codec_name(name))
        if name == SHARDING_CODEC:
            names.extend(codec_names_v3((codec.get("configuration") or {}).get("codecs")))
    return names


def codec_names_v2(filters: Any, compressor: Any) -> list[str]:
    """Names of a Zarr v2 pipeline in its JSON form: the filters' ids, then the compressor's.

    Parameters
    ----------
    filters : list of dict or numcodecs codecs, or None
        The ``filters`` of a ``.zarray`` document.
    compressor : dict or numcodecs codec or None
        Its ``compressor``.

    Returns
    -------
    list of str
    """
    items = [*(filters or ()), *(() if compressor is None else (compressor,))]
    return [
        short_codec_name(item.get("id", "?"))
        if isinstance(item, dict)
        else short_codec_name(getattr(item, "codec_id", type(item).__name__))
        for item in items
    ]


def v2_dtype_name(dtype: Any) -> str:
    """The numpy name of a ``.zarray`` ``dtype`` (a structured dtype as its numpy repr);
    the JSON text itself when numpy cannot read it."""
    try:
        if isinstance(dtype, list):  # structured dtype: [[name, type, (shape)], ...]
            return str(np.dtype([tuple(f) for f in dtype]))
        return np.dtype(dtype).name
    except (TypeError, ValueError):
        return json.dumps(dtype)


def v3_dtype_name(data_type: Any) -> str:
    """The name of a v3 ``data_type`` (a string, or a dict with a ``name``; other JSON as
    text)."""
    if isinstance(data_type, dict):
        return str(data_type.get("name", json.dumps(data_type)))
    return str(data_type)
