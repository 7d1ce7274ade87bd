"""Storage-level summary of a Zarr store (a local directory, or a URL).

This module answers "what is in this store and how is it laid out on disk" without
interpreting NWB semantics: it counts groups, arrays and files, reports each array's
shape, dtype, chunking, sharding and codecs, and compares the bytes on disk with the
uncompressed size of the data. It reads only Zarr metadata and file sizes, never chunk
contents, so it is cheap even for large stores.

It imports only :mod:`zarr`, :mod:`numpy` and the standard library (no hdmf or pynwb), so
it also works on stores that the NWB layer cannot open.

Zarr format 3 stores are supported, and Zarr format 2 stores as far as zarr-python
can open their root group. Nodes whose metadata zarr-python refuses to parse (for
example variable-length string arrays written by hdmf-zarr with ``"fill_value": 0``)
are described from their JSON metadata documents instead, and
:attr:`NodeInfo.note` says so.

Byte counts
-----------
``stored_bytes``
    Sum of the apparent sizes (``st_size``) of regular files on disk, metadata documents
    included. This is not the number of allocated file-system blocks. For a URL, the sizes
    the remote filesystem lists; unknown (0, with ``sizes_known=False``) over plain HTTP.
``raw_bytes``
    Uncompressed size of the array data: ``prod(shape) * itemsize``. Arrays with a
    variable-length data type (variable-length strings or bytes, numpy object arrays)
    have no fixed item size and count as **0**: their size cannot be known without
    reading every chunk.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr

from nwbzarr.errors import NotAZarrStoreError, StoreNotFoundError
from nwbzarr.storage.resolve import is_remote_url

__all__ = ["NodeInfo", "StoreSummary", "summarize"]

_V2_GROUP = ".zgroup"
_V2_ARRAY = ".zarray"
_V2_ATTRS = ".zattrs"
_V3_META = "zarr.json"
_SHARDING = "sharding_indexed"


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
        return _ratio(self.raw_bytes, self.stored_bytes)


# --------------------------------------------------------------------------- helpers


def _ratio(raw: int, stored: int) -> float | None:
    if raw <= 0 or stored <= 0:
        return None
    return raw / stored


def _short_codec_name(name: Any) -> str:
    name = str(name)
    return name.removeprefix("numcodecs.")


def _codec_names_v3(codecs: Any) -> list[str]:
    """Names of a v3 codec pipeline given in its JSON form (list of dicts or strings)."""
    names: list[str] = []
    for codec in codecs or ():
        if isinstance(codec, str):
            names.append(_short_codec_name(codec))
            continue
        if not isinstance(codec, dict):  # a codec object: use its JSON form
            codec = codec.to_dict()
        name = codec.get("name", "?")
        names.append(_short_codec_name(name))
        if name == _SHARDING:
            names.extend(_codec_names_v3((codec.get("configuration") or {}).get("codecs")))
    return names


def _codec_names_v2(filters: Any, compressor: Any) -> list[str]:
    """Names of a v2 pipeline given in its JSON form: filter ids, then the compressor id."""
    items = list(filters or ())
    if compressor is not None:
        items.append(compressor)
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            names.append(_short_codec_name(item.get("id", "?")))
        else:  # a numcodecs object
            names.append(_short_codec_name(getattr(item, "codec_id", type(item).__name__)))
    return names


def _v2_dtype_name(dtype: Any) -> str:
    try:
        if isinstance(dtype, list):  # structured dtype: [[name, type, (shape)], ...]
            return str(np.dtype([tuple(f) for f in dtype]))
        return np.dtype(dtype).name
    except (TypeError, ValueError):
        return json.dumps(dtype)


def _v3_dtype_name(data_type: Any) -> str:
    if isinstance(data_type, dict):
        return str(data_type.get("name", json.dumps(data_type)))
    return str(data_type)


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


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}


def _tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(v) for v in value)


# ------------------------------------------------------------------ node description


def _describe_zarr_node(rel: str, node: zarr.Group | zarr.Array, zarr_format: int) -> NodeInfo:
    """Describe a node that zarr-python opened."""
    neurodata_type = _neurodata_type(node.attrs)
    if isinstance(node, zarr.Group):
        return NodeInfo(path=rel, kind="group", neurodata_type=neurodata_type)

    meta = node.metadata.to_dict()
    if zarr_format == 2:
        dtype = _v2_dtype_name(meta.get("dtype"))
        codecs = _codec_names_v2(meta.get("filters"), meta.get("compressor"))
    else:
        dtype = _v3_dtype_name(meta.get("data_type"))
        codecs = _codec_names_v3(meta.get("codecs"))
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


def _describe_from_disk(rel: str, directory: str, zarr_format: int, reason: str) -> NodeInfo:
    """Describe a node from its JSON metadata documents (zarr-python could not open it)."""

    def doc(name: str) -> dict[str, Any] | None:
        file = os.path.join(directory, name)
        return _read_json(file) if os.path.isfile(file) else None

    return _describe_from_docs(rel, doc, zarr_format, reason)


def _describe_from_docs(
    rel: str, doc: Callable[[str], dict[str, Any] | None], zarr_format: int, reason: str
) -> NodeInfo:
    """Describe a node from its JSON metadata documents, given by name (``zarr.json``,
    ``.zarray``, ``.zattrs``; None when absent)."""
    note = f"described from its metadata file: zarr-python could not open it ({reason})"
    if zarr_format == 2:
        attrs = doc(_V2_ATTRS) or {}
        if doc(_V2_ARRAY) is None:
            return NodeInfo(rel, "group", _neurodata_type(attrs), note=note)
        meta = doc(_V2_ARRAY) or {}
        shape = _tuple(meta.get("shape"))
        itemsize = _itemsize(meta.get("dtype"))
        raw = 0 if shape is None or itemsize is None else math.prod(shape) * itemsize
        return NodeInfo(
            path=rel,
            kind="array",
            neurodata_type=_neurodata_type(attrs),
            shape=shape,
            dtype=_v2_dtype_name(meta.get("dtype")),
            chunks=_tuple(meta.get("chunks")),
            shards=None,
            codecs=_codec_names_v2(meta.get("filters"), meta.get("compressor")),
            raw_bytes=raw,
            note=note,
        )

    meta = doc(_V3_META) or {}
    attrs = meta.get("attributes") or {}
    if meta.get("node_type") != "array":
        return NodeInfo(rel, "group", _neurodata_type(attrs), note=note)
    shape = _tuple(meta.get("shape"))
    grid = meta.get("chunk_grid") or {}
    chunks = _tuple((grid.get("configuration") or {}).get("chunk_shape"))
    shards = None
    codecs = meta.get("codecs") or []
    # Follow (possibly nested) sharding codecs down to the innermost chunk shape.
    while len(codecs) == 1 and isinstance(codecs[0], dict) and codecs[0].get("name") == _SHARDING:
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
        dtype=_v3_dtype_name(data_type),
        chunks=chunks,
        shards=shards,
        codecs=_codec_names_v3(meta.get("codecs")),
        raw_bytes=raw,
        note=note,
    )


# ------------------------------------------------------------------------ opening


def _open_root(path: str, store: Any = None) -> tuple[zarr.Group, bool]:
    """Open the root group read-only; return it and whether consolidated metadata is used.

    ``store`` (a zarr store for ``path``) is opened instead of ``path`` when given.
    """

    def attempt(use_consolidated: bool | None) -> zarr.Group:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # consolidated-metadata notices
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
                f"({_V3_META} or {_V2_GROUP})"
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


# ------------------------------------------------------------------------ public API


def summarize(
    path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> StoreSummary:
    """Summarize the storage layout of a Zarr store, HDF5 file or reference JSON (path or URL).

    Opens the store read-only (through its consolidated metadata if it has some and
    zarr-python can parse it, otherwise node by node), visits every group and array,
    and measures the files on disk. Chunk data is never read.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of a local Zarr store whose root is a group (Zarr format 3, or
        format 2 if zarr-python can open its root group), or a URL
        (``https://``, ``s3://``, ``memory://``, ...; see
        :func:`nwbzarr.storage.resolve.is_remote_url`) of such a store. An HDF5 file or a
        reference JSON (local or remote) is summarized through its virtual Zarr view
        (:func:`nwbzarr.virtual.sources.open_virtual_store`): file count 0, stored bytes the
        chunk byte ranges and inline values.
    storage_options : dict, optional
        fsspec options for a URL (credentials, HTTP headers); ignored for local paths.

    Returns
    -------
    StoreSummary
        Counts, byte totals (bytes) and one :class:`NodeInfo` per group and array.

    Raises
    ------
    StoreNotFoundError
        If `path` does not exist (a :class:`FileNotFoundError`).
    NotAZarrStoreError
        If `path` exists but is not a directory holding a Zarr group (for instance a
        plain directory, a regular file, or a Zarr array).
    RemoteAccessError
        If the server of a URL refuses access (HTTP 401/403).

    Notes
    -----
    Nodes are discovered by walking the directory tree: a sub-directory of a group is
    a member if it holds a metadata document (``zarr.json`` for format 3, ``.zgroup``
    or ``.zarray`` for format 2). Each member is then opened through zarr-python; if
    that fails, it is described from its metadata document and
    :attr:`NodeInfo.note` records why.

    A URL is summarized from its metadata alone: nodes come from the consolidated metadata
    (or, where the location lists, from listings), and file counts and stored bytes from one
    recursive listing of the store. Plain HTTP cannot list, so for an HTTP store they are
    unknown (:attr:`StoreSummary.sizes_known` is False) and the store must have consolidated
    metadata for its nodes to be found.
    """
    if is_remote_url(path):
        from .summary_remote import summarize_remote

        if not str(path).rstrip("/").endswith(".zarr"):  # maybe an HDF5 file or a JSON
            from .virtual.sources import source_kind

            kind = source_kind(str(path), storage_options)
            if kind != "zarr":
                return _summarize_virtual(str(path), kind, storage_options)
        return summarize_remote(str(path), storage_options)
    fspath = os.path.abspath(os.fspath(path))
    if not os.path.exists(fspath):
        raise StoreNotFoundError(f"Zarr store {fspath!r} does not exist")
    from .virtual.lindi_tar import is_lindi_dir

    if not os.path.isdir(fspath) or is_lindi_dir(fspath):  # a LINDI .lindi.d: reference JSON
        from .virtual.sources import source_kind

        try:
            kind = source_kind(fspath)
        except Exception:  # noqa: BLE001 - reported below as what it is not
            kind = None
        if kind in ("hdf5", "references"):
            return _summarize_virtual(fspath, kind, storage_options)
        raise NotAZarrStoreError(
            f"{fspath!r} is neither a Zarr store (a directory holding {_V3_META} or "
            f"{_V2_GROUP}) nor an HDF5 file or reference JSON"
        )
    root, consolidated = _open_root(fspath)
    zarr_format = int(root.metadata.zarr_format)
    meta_files = (_V2_GROUP, _V2_ARRAY) if zarr_format == 2 else (_V3_META,)

    # One walk over the tree: per-directory file counts and sizes, plus node discovery.
    direct_bytes: dict[str, int] = {}
    order: list[str] = []
    n_files = 0
    groups: set[str] = {""}
    nodes: list[NodeInfo] = [_describe_zarr_node("", root, zarr_format)]
    for dirpath, dirnames, filenames in os.walk(fspath):
        dirnames.sort()  # deterministic, depth-first, name-sorted order
        rel = os.path.relpath(dirpath, fspath).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        order.append(rel)
        size = 0
        for name in filenames:
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:  # e.g. a dangling symlink
                continue
            if stat.S_ISREG(st.st_mode):
                n_files += 1
                size += st.st_size
        direct_bytes[rel] = size

        parent = rel.rpartition("/")[0]
        if not rel or parent not in groups or not any(m in filenames for m in meta_files):
            continue  # root (done above), chunk directories, or stray directories
        try:
            node = root[rel]
        except Exception as exc:  # metadata that zarr-python cannot parse
            info = _describe_from_disk(rel, dirpath, zarr_format, f"{type(exc).__name__}: {exc}")
        else:
            info = _describe_zarr_node(rel, node, zarr_format)
        if info.kind == "group":
            groups.add(rel)
        nodes.append(info)

    # Subtree sizes: in reversed top-down order every directory follows its descendants.
    subtree = dict.fromkeys(order, 0)
    for rel in reversed(order):
        subtree[rel] += direct_bytes[rel]
        if rel:
            subtree[rel.rpartition("/")[0]] += subtree[rel]
    return _finish(fspath, root, zarr_format, nodes, groups, subtree, n_files, consolidated)


def _summarize_virtual(
    path: str, kind: str, storage_options: dict[str, Any] | None
) -> StoreSummary:
    """Summarize an HDF5 file or reference JSON through its virtual Zarr view: nodes from the
    index's consolidated metadata, stored bytes from its chunk byte ranges."""
    from .summary_remote import summarize_remote
    from .virtual.sources import open_virtual_store

    store = open_virtual_store(path, kind, storage_options=storage_options)
    try:
        return summarize_remote(path, storage_options, store=store)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _finish(
    path: str,
    root: zarr.Group,
    zarr_format: int,
    nodes: list[NodeInfo],
    groups: set[str],
    subtree: dict[str, int],
    n_files: int,
    consolidated: bool,
    sizes_known: bool = True,
) -> StoreSummary:
    """Fill in per-node stored bytes and group raw bytes, and build the summary."""
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
