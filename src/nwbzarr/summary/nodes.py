"""The records of a store summary and how a node is described (below :mod:`.tree` and
:mod:`.remote`, which both build summaries from them).

:class:`NodeInfo` and :class:`StoreSummary` are what :func:`nwbzarr.summary.tree.summarize`
returns. A node is described from what zarr-python opened (:func:`describe_zarr_node`) or, when
zarr-python refuses its metadata, from its JSON metadata documents
(:func:`describe_from_documents`); :func:`open_root` opens a store's root group read-only and
:func:`build_summary` adds up the byte counts. Imports only :mod:`zarr`, :mod:`numpy` and the
standard library.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr

from ..conventions.zarr_json import (
    SHARDING_CODEC,
    codec_names_v2,
    codec_names_v3,
    v2_dtype_name,
    v3_dtype_name,
)
from ..errors import NotAZarrStoreError

__all__ = [
    "V2_ARRAY",
    "V2_ATTRS",
    "V2_GROUP",
    "V3_META",
    "NodeInfo",
    "StoreSummary",
    "build_summary",
    "byte_ratio",
    "describe_from_documents",
    "describe_zarr_node",
    "open_root",
    "quiet_user_warnings",
]

#: Name of a Zarr v2 group's metadata document.
V2_GROUP = ".zgroup"
#: Name of a Zarr v2 array's metadata document.
V2_ARRAY = ".zarray"
#: Name of a Zarr v2 node's attributes document.
V2_ATTRS = ".zattrs"
#: Name of a Zarr v3 node's metadata document (attributes included).
V3_META = "zarr.json"


@contextlib.contextmanager
def quiet_user_warnings() -> Iterator[None]:
    """Ignore every :class:`UserWarning` inside the ``with`` block.

    Broader than :func:`nwbzarr.compat.quiet_zarr_warnings` on purpose: ``nwbzarr info``
    describes stores of any origin, and zarr-python's notices about them (consolidated
    metadata, unrecognized objects, ...) are not what the summary reports.

    Yields
    ------
    None
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@dataclass
class NodeInfo:
    """Storage facts about one group or array of a Zarr store.

    Attributes
    ----------
    path : str
        Path of the node inside the store, ``"/"``-separated, without a leading slash.
        The root group has the path ``""``.
    kind : str
        ``"group"`` or ``"array"``.
    neurodata_type : str or None
        Value of the node's ``neurodata_type`` attribute, or None if it has none.
    shape : tuple of int or None
        Array shape (``()`` for a 0-d array); None for groups.
    dtype : str or None
        Data type name: the Zarr v3 ``data_type`` name (e.g. ``"int16"``, ``"string"``)
        or, for Zarr v2, the numpy name of the ``dtype`` field (e.g. ``"int64"``,
        ``"object"``); None for groups.
    chunks : tuple of int or None
        Shape of the (inner) chunks, i.e. the unit of compression. For a sharded array
        this is the chunk shape inside a shard. None for groups, or if the chunk grid
        is not regular.
    shards : tuple of int or None
        Shape of a shard (the unit of storage, one file per shard), or None if the
        array is not sharded; always None for groups and Zarr v2 arrays.
    codecs : list of str
        Short codec names in encoding order. Zarr v3: the ``name`` of each codec of the
        pipeline; for a sharded array ``"sharding_indexed"`` followed by the names of
        the codecs inside the shard (e.g. ``["sharding_indexed", "bytes", "blosc"]``).
        Zarr v2: the filter ids followed by the compressor id (e.g.
        ``["vlen-utf8", "blosc"]``). A ``"numcodecs."`` prefix is dropped. Empty for
        groups.
    raw_bytes : int
        Uncompressed size of the array data, in bytes (0 for variable-length data
        types). For a group: the sum over all arrays below it.
    stored_bytes : int
        Bytes of regular files on disk under the node's directory (metadata documents
        included). For a group this includes everything below it.
    note : str or None
        Set when zarr-python could not open the node and its facts were read from the
        JSON metadata document on disk instead; says why.
    """

    path: str
    kind: str
    neurodata_type: str | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    codecs: list[str] = field(default_factory=list)
    raw_bytes: int = 0
    stored_bytes: int = 0
    note: str | None = None

    @property
    def name(self) -> str:
        """Last component of :attr:`path` (``""`` for the root group)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def depth(self) -> int:
        """Nesting depth: 0 for the root group, 1 for its direct members, and so on."""
        return 0 if not self.path else self.path.count("/") + 1


@dataclass
class StoreSummary:
    """Storage-level summary of a whole Zarr store, as returned by :func:`summarize`.

    Attributes
    ----------
    path : str
        Absolute path of the store directory.
    zarr_format : int
        Zarr format of the root group (2 or 3).
    n_groups : int
        Number of groups, the root group included.
    n_arrays : int
        Number of arrays.
    n_files : int
        Number of regular files under the store directory, counted on disk (metadata
        documents, chunks, shards and any other file).
    stored_bytes : int
        Total size in bytes of those files.
    raw_bytes : int
        Sum of the uncompressed sizes of all arrays, in bytes; arrays with a
        variable-length data type count 0.
    nodes : list of NodeInfo
        Every group and array, root first, in depth-first order with members sorted by
        name (a parent always precedes its members).
    consolidated : bool
        True if the store was opened through its consolidated metadata.
    sizes_known : bool
        False when the store's objects could not be listed (a store served over plain HTTP):
        then ``n_files``, ``stored_bytes`` and every ``NodeInfo.stored_bytes`` are 0 and mean
        "unknown".
    """

    path: str
    zarr_format: int
    n_groups: int
    n_arrays: int
    n_files: int
    stored_bytes: int
    raw_bytes: int
    nodes: list[NodeInfo] = field(default_factory=list)
    consolidated: bool = False
    sizes_known: bool = True

    @property
    def compression_ratio(self) -> float | None:
        """``raw_bytes / stored_bytes``, or None if either is 0."""
        return byte_ratio(self.raw_bytes, self.stored_bytes)


# --------------------------------------------------------------------------- helpers


def byte_ratio(raw: int, stored: int) -> float | None:
    """Compression ratio ``raw / stored``.

    Parameters
    ----------
    raw : int
        Uncompressed bytes.
    stored : int
        Bytes on disk.

    Returns
    -------
    float or None
        The ratio, or None if either count is 0 (or negative).
    """
    if raw <= 0 or stored <= 0:
        return None
    return raw / stored


def _itemsize(dtype: Any) -> int | None:
    """Fixed item size in bytes of a dtype given as JSON, or None if variable/unknown."""
    try:
        if isinstance(dtype, list):
            dtype = [tuple(f) for f in dtype]
        np_dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        return None
    if np_dtype.kind in "OT":
        return None
    return int(np_dtype.itemsize)


def _neurodata_type(attrs: Any) -> str | None:
    try:
        value = attrs.get("neurodata_type")
    except AttributeError:
        return None
    return None if value is None else str(value)


def _tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(v) for v in value)


# ------------------------------------------------------------------ node description


def describe_zarr_node(rel: str, node: zarr.Group | zarr.Array, zarr_format: int) -> NodeInfo:
    """Describe a node that zarr-python opened.

    Parameters
    ----------
    rel : str
        The node's path in the store (``""`` for the root).
    node : zarr.Group or zarr.Array
        The opened node.
    zarr_format : int
        2 or 3: how to read the node's metadata.

    Returns
    -------
    NodeInfo
        Its storage facts; ``stored_bytes`` 0 (and ``raw_bytes`` 0 for a group) until
        :func:`build_summary` fills them in.
    """
    neurodata_type = _neurodata_type(node.attrs)
    if isinstance(node, zarr.Group):
        return NodeInfo(path=rel, kind="group", neurodata_type=neurodata_type)

    meta = node.metadata.to_dict()
    if zarr_format == 2:
        dtype = v2_dtype_name(meta.get("dtype"))
        codecs = codec_names_v2(meta.get("filters"), meta.get("compressor"))
    else:
        dtype = v3_dtype_name(meta.get("data_type"))
        codecs = codec_names_v3(meta.get("codecs"))
    try:
        chunks: tuple[int, ...] | None = _tuple(node.chunks)
    except (NotImplementedError, TypeError, ValueError):  # non-regular chunk grid
        chunks = None
    try:
        shards = _tuple(node.shards)
    except (NotImplementedError, TypeError, ValueError):
        shards = None
    # Variable-length types (numpy object or StringDType) have no meaningful nbytes:
    # zarr reports the size of the in-memory pointers/descriptors instead.
    raw = 0 if node.dtype.kind in "OT" else int(node.nbytes)  # nbytes is a float for 0-d
    return NodeInfo(
        path=rel,
        kind="array",
        neurodata_type=neurodata_type,
        shape=_tuple(node.shape),
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        codecs=codecs,
        raw_bytes=raw,
    )


def describe_from_documents(
    rel: str, doc: Callable[[str], dict[str, Any] | None], zarr_format: int, reason: str
) -> NodeInfo:
    """Describe a node from its JSON metadata documents (zarr-python could not open it).

    Parameters
    ----------
    rel : str
        The node's path in the store.
    doc : callable
        ``doc(name)``: the parsed document of that name (``zarr.json``, ``.zarray``,
        ``.zattrs``), None when the node has none.
    zarr_format : int
        2 or 3.
    reason : str
        Why zarr-python failed, quoted in :attr:`NodeInfo.note`.

    Returns
    -------
    NodeInfo
        Its storage facts, ``note`` set.
    """
    note = f"described from its metadata file: zarr-python could not open it ({reason})"
    if zarr_format == 2:
        return _describe_v2_documents(rel, doc, note)
    return _describe_v3_documents(rel, doc(V3_META) or {}, note)


def _describe_v2_documents(
    rel: str, doc: Callable[[str], dict[str, Any] | None], note: str
) -> NodeInfo:
    """:func:`describe_from_documents` for Zarr v2 (``.zarray`` / ``.zattrs``)."""
    attrs = doc(V2_ATTRS) or {}
    if doc(V2_ARRAY) is None:
        return NodeInfo(rel, "group", _neurodata_type(attrs), note=note)
    meta = doc(V2_ARRAY) or {}
    shape = _tuple(meta.get("shape"))
    itemsize = _itemsize(meta.get("dtype"))
    raw = 0 if shape is None or itemsize is None else math.prod(shape) * itemsize
    return NodeInfo(
        path=rel,
        kind="array",
        neurodata_type=_neurodata_type(attrs),
        shape=shape,
        dtype=v2_dtype_name(meta.get("dtype")),
        chunks=_tuple(meta.get("chunks")),
        shards=None,
        codecs=codec_names_v2(meta.get("filters"), meta.get("compressor")),
        raw_bytes=raw,
        note=note,
    )


def _describe_v3_documents(rel: str, meta: dict[str, Any], note: str) -> NodeInfo:
    """:func:`describe_from_documents` for Zarr v3 (the node's ``zarr.json``, ``meta``)."""
    attrs = meta.get("attributes") or {}
    if meta.get("node_type") != "array":
        return NodeInfo(rel, "group", _neurodata_type(attrs), note=note)
    shape = _tuple(meta.get("shape"))
    grid = meta.get("chunk_grid") or {}
    chunks = _tuple((grid.get("configuration") or {}).get("chunk_shape"))
    shards = None
    codecs = meta.get("codecs") or []
    # Follow (possibly nested) sharding codecs down to the innermost chunk shape.
    while (
        len(codecs) == 1 and isinstance(codecs[0], dict) and codecs[0].get("name") == SHARDING_CODEC
    ):
        config = codecs[0].get("configuration") or {}
        if shards is None:
            shards = chunks
        chunks = _tuple(config.get("chunk_shape"))
        codecs = config.get("codecs") or []
    data_type = meta.get("data_type")
    itemsize = _itemsize(data_type) if isinstance(data_type, str) else None
    raw = 0 if shape is None or itemsize is None else math.prod(shape) * itemsize
    return NodeInfo(
        path=rel,
        kind="array",
        neurodata_type=_neurodata_type(attrs),
        shape=shape,
        dtype=v3_dtype_name(data_type),
        chunks=chunks,
        shards=shards,
        codecs=codec_names_v3(meta.get("codecs")),
        raw_bytes=raw,
        note=note,
    )


# ------------------------------------------------------------------------ opening


def open_root(path: str, store: Any = None) -> tuple[zarr.Group, bool]:
    """Open the root group read-only, through its consolidated metadata if zarr can parse it.

    Parameters
    ----------
    path : str
        Path or URL of the store (opened when ``store`` is None, named in messages).
    store : zarr store, optional
        A store for ``path``, opened instead of ``path``.

    Returns
    -------
    tuple of (zarr.Group, bool)
        The root group, and whether consolidated metadata is used.

    Raises
    ------
    NotAZarrStoreError
        The root is an array, holds no group metadata, or cannot be opened as a group.
    """

    def attempt(use_consolidated: bool | None) -> zarr.Group:
        try:
            with quiet_user_warnings():  # consolidated-metadata notices
                return zarr.open_group(
                    path if store is None else store, mode="r", use_consolidated=use_consolidated
                )
        except zarr.errors.ContainsArrayError as exc:
            raise NotAZarrStoreError(
                f"{path!r} is a Zarr array, not a Zarr group; summarize the store that contains it"
            ) from exc
        except (zarr.errors.GroupNotFoundError, FileNotFoundError) as exc:
            raise NotAZarrStoreError(
                f"{path!r} is not a Zarr store: it holds no Zarr group metadata "
                f"({V3_META} or {V2_GROUP})"
            ) from exc

    try:
        root = attempt(None)  # consolidated metadata if present
    except NotAZarrStoreError:
        raise
    except Exception:  # e.g. consolidated metadata that zarr-python cannot parse
        try:
            return attempt(False), False
        except NotAZarrStoreError:
            raise
        except Exception as exc:
            raise NotAZarrStoreError(
                f"{path!r} could not be opened as a Zarr group: {type(exc).__name__}: {exc}"
            ) from exc
    return root, root.metadata.consolidated_metadata is not None


def build_summary(
    path: str,
    zarr_format: int,
    nodes: list[NodeInfo],
    groups: set[str],
    subtree: dict[str, int],
    n_files: int,
    consolidated: bool,
    sizes_known: bool = True,
) -> StoreSummary:
    """Fill in per-node stored bytes and group raw bytes, and build the summary.

    Parameters
    ----------
    path : str
        The store, as the summary names it.
    zarr_format : int
        2 or 3.
    nodes : list of NodeInfo
        Every node, root first; their ``stored_bytes`` and groups' ``raw_bytes`` are set here.
    groups : set of str
        Paths of the groups among ``nodes``.
    subtree : dict of str to int
        Bytes stored under each node path (``""``: the whole store); missing paths count 0.
    n_files : int
        Files (objects) of the store.
    consolidated : bool
        Whether the root was opened through consolidated metadata.
    sizes_known : bool
        False when the store could not be listed (stored bytes then mean "unknown").

    Returns
    -------
    StoreSummary
    """
    group_raw = dict.fromkeys(groups, 0)
    for info in nodes:
        info.stored_bytes = subtree.get(info.path, 0)
        if info.kind == "array":
            parts = info.path.split("/")
            for i in range(len(parts)):
                ancestor = "/".join(parts[:i])
                if ancestor in group_raw:
                    group_raw[ancestor] += info.raw_bytes
    for info in nodes:
        if info.kind == "group":
            info.raw_bytes = group_raw[info.path]

    n_arrays = sum(1 for info in nodes if info.kind == "array")
    return StoreSummary(
        path=path,
        zarr_format=zarr_format,
        n_groups=len(nodes) - n_arrays,
        n_arrays=n_arrays,
        n_files=n_files,
        stored_bytes=subtree.get("", 0),
        raw_bytes=group_raw[""],
        nodes=nodes,
        consolidated=consolidated,
        sizes_known=sizes_known,
    )
