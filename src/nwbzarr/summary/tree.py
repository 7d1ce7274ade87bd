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
import os
import stat
from typing import Any

from nwbzarr.errors import NotAZarrStoreError, StoreNotFoundError
from nwbzarr.formats.lindi.container import is_lindi_dir
from nwbzarr.storage.resolve import is_remote_url
from nwbzarr.summary.nodes import (
    V2_ARRAY,
    V2_GROUP,
    V3_META,
    NodeInfo,
    StoreSummary,
    build_summary,
    describe_from_documents,
    describe_zarr_node,
    open_root,
)
from nwbzarr.summary.remote import summarize_remote
from nwbzarr.virtual.sources import open_virtual_store, source_kind

__all__ = ["NodeInfo", "StoreSummary", "summarize"]


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
        return _summarize_url(str(path), storage_options)
    fspath = os.path.abspath(os.fspath(path))
    if not os.path.exists(fspath):
        raise StoreNotFoundError(f"Zarr store {fspath!r} does not exist")
    if not os.path.isdir(fspath) or is_lindi_dir(fspath):  # a LINDI .lindi.d: reference JSON
        return _summarize_local_file(fspath, storage_options)
    return _summarize_directory(fspath)


def _summarize_url(url: str, storage_options: dict[str, Any] | None) -> StoreSummary:
    """A remote Zarr store, or (a URL not ending in ``.zarr``) maybe an HDF5 file or a JSON."""
    if not url.rstrip("/").endswith(".zarr"):
        kind = source_kind(url, storage_options)
        if kind != "zarr":
            return _summarize_virtual(url, kind, storage_options)
    return summarize_remote(url, storage_options)


def _summarize_local_file(fspath: str, storage_options: dict[str, Any] | None) -> StoreSummary:
    """A local HDF5 file or reference JSON (or LINDI directory); anything else is refused."""
    try:
        kind = source_kind(fspath)
    except Exception:  # noqa: BLE001 - reported below as what it is not
        kind = None
    if kind in ("hdf5", "references"):
        return _summarize_virtual(fspath, kind, storage_options)
    raise NotAZarrStoreError(
        f"{fspath!r} is neither a Zarr store (a directory holding {V3_META} or "
        f"{V2_GROUP}) nor an HDF5 file or reference JSON"
    )


def _summarize_directory(fspath: str) -> StoreSummary:
    """A local Zarr store: one walk over its directory tree counts files and finds nodes."""
    root, consolidated = open_root(fspath)
    zarr_format = int(root.metadata.zarr_format)
    meta_files = (V2_GROUP, V2_ARRAY) if zarr_format == 2 else (V3_META,)
    direct_bytes: dict[str, int] = {}
    order: list[str] = []
    n_files = 0
    groups: set[str] = {""}
    nodes: list[NodeInfo] = [describe_zarr_node("", root, zarr_format)]
    for dirpath, dirnames, filenames in os.walk(fspath):
        dirnames.sort()  # deterministic, depth-first, name-sorted order
        rel = os.path.relpath(dirpath, fspath).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        order.append(rel)
        count, direct_bytes[rel] = _regular_files(dirpath, filenames)
        n_files += count
        parent = rel.rpartition("/")[0]
        if not rel or parent not in groups or not any(m in filenames for m in meta_files):
            continue  # root (done above), chunk directories, or stray directories
        try:
            node = root[rel]
        except Exception as exc:  # metadata that zarr-python cannot parse
            info = _describe_from_disk(rel, dirpath, zarr_format, f"{type(exc).__name__}: {exc}")
        else:
            info = describe_zarr_node(rel, node, zarr_format)
        if info.kind == "group":
            groups.add(rel)
        nodes.append(info)
    subtree = _subtree_bytes(order, direct_bytes)
    return build_summary(fspath, zarr_format, nodes, groups, subtree, n_files, consolidated)


def _regular_files(dirpath: str, filenames: list[str]) -> tuple[int, int]:
    """Number and total size of the regular files ``filenames`` of ``dirpath``."""
    count = size = 0
    for name in filenames:
        try:
            st = os.stat(os.path.join(dirpath, name))
        except OSError:  # e.g. a dangling symlink
            continue
        if stat.S_ISREG(st.st_mode):
            count += 1
            size += st.st_size
    return count, size


def _subtree_bytes(order: list[str], direct_bytes: dict[str, int]) -> dict[str, int]:
    """Bytes under each directory, from the bytes directly in it (``order``: top-down)."""
    subtree = dict.fromkeys(order, 0)
    for rel in reversed(
        order
    ):  # in reversed top-down order every directory follows its descendants
        subtree[rel] += direct_bytes[rel]
        if rel:
            subtree[rel.rpartition("/")[0]] += subtree[rel]
    return subtree


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}


def _describe_from_disk(rel: str, directory: str, zarr_format: int, reason: str) -> NodeInfo:
    """Describe a node from its JSON metadata documents (zarr-python could not open it)."""

    def doc(name: str) -> dict[str, Any] | None:
        file = os.path.join(directory, name)
        return _read_json(file) if os.path.isfile(file) else None

    return describe_from_documents(rel, doc, zarr_format, reason)


def _summarize_virtual(
    path: str, kind: str, storage_options: dict[str, Any] | None
) -> StoreSummary:
    """Summarize an HDF5 file or reference JSON through its virtual Zarr view: nodes from the
    index's consolidated metadata, stored bytes from its chunk byte ranges."""
    store = open_virtual_store(path, kind, storage_options=storage_options)
    try:
        return summarize_remote(path, storage_options, store=store)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
