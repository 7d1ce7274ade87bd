"""Summary of a remote store (``nwbzarr info URL``): nodes from consolidated metadata.

Remote locations cannot be walked like a directory: nodes come from the root's consolidated
metadata (falling back to the raw metadata documents), and file count and stored bytes from
one listing where the location can list (object stores, ``memory://``); over plain HTTP they
are reported as unknown.
"""

from __future__ import annotations

import json
from typing import Any

from ..compat import default_buffer_prototype, sync
from ..storage.resolve import open_store, remote_errors
from .nodes import (
    V2_ARRAY,
    V2_ATTRS,
    V2_GROUP,
    V3_META,
    NodeInfo,
    StoreSummary,
    build_summary,
    describe_from_documents,
    describe_zarr_node,
    open_root,
    quiet_user_warnings,
)

__all__ = ["summarize_remote"]


def _remote_file_sizes(store: Any) -> dict[str, int] | None:
    """``{key: size in bytes}`` of every object of a listable fsspec store, else None."""
    fs, base = getattr(store, "fs", None), getattr(store, "path", None)
    url = getattr(fs, "protocol", None)
    protocols = (url,) if isinstance(url, str) else tuple(url or ())
    if fs is None or base is None or {"http", "https"} & set(protocols):
        return None  # HTTP has no listing (an HTML index is not a reliable one)
    try:
        found = sync(fs._find(base, detail=True))
    except (FileNotFoundError, NotImplementedError):
        return None
    prefix = base.rstrip("/") + "/"
    sizes: dict[str, int] = {}
    for name, info in found.items():
        name = name.lstrip("/") if not prefix.startswith("/") else name
        key = name[len(prefix) :] if name.startswith(prefix) else name
        if info.get("type", "file") == "file":
            sizes[key] = int(info.get("size") or 0)
    return sizes


def _consolidated_documents(store: Any, zarr_format: int) -> dict[str, dict] | None:
    """``{node path: {document name: document}}`` from a store's consolidated metadata
    (the root ``zarr.json`` for v3, ``.zmetadata`` for v2), root excluded; None without it."""
    key = V3_META if zarr_format == 3 else ".zmetadata"
    raw = sync(store.get(key, prototype=default_buffer_prototype()))
    if raw is None:
        return None
    try:
        document = json.loads(raw.to_bytes())
    except ValueError:
        return None
    out: dict[str, dict] = {}
    if zarr_format == 3:
        consolidated = document.get("consolidated_metadata") or {}
        metadata = consolidated.get("metadata")
        if not isinstance(metadata, dict):
            return None
        for rel, meta in metadata.items():
            out[rel.strip("/")] = {V3_META: meta}
        return out
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for name, meta in metadata.items():
        rel, _, doc_name = name.rpartition("/")
        if rel and doc_name in (V2_GROUP, V2_ARRAY, V2_ATTRS):
            out.setdefault(rel, {})[doc_name] = meta
    return {rel: d for rel, d in out.items() if V2_GROUP in d or V2_ARRAY in d}


def _reference_sizes(store: Any) -> dict[str, int] | None:
    """``{key: size in bytes}`` of a reference store's values (byte-range lengths, inline
    values), without reading anything; None if some size is unknown or it is no such store."""
    refset = getattr(store, "refset", None)
    if refset is None:
        inner = getattr(store, "_store", None)  # a translating view over a reference store
        refset = getattr(inner, "refset", None)
    if refset is None:
        return None
    sizes: dict[str, int] = {}
    for key, value in refset.refs.items():
        length = getattr(value, "length", None)
        if length is None:
            sizes[key] = len(value)
        elif length < 0:
            return None
        else:
            sizes[key] = int(length)
    return sizes


def _source_count(store: Any) -> int:
    """Files a reference store reads from (the HDF5 file, staged files), 0 if unknown."""
    refset = getattr(store, "refset", None) or getattr(
        getattr(store, "_store", None), "refset", None
    )
    if refset is None:
        return 0
    urls = {getattr(v, "url", None) for v in refset.refs.values()}
    return len(urls - {None})


def summarize_remote(
    url: str, storage_options: dict[str, Any] | None, store: Any = None
) -> StoreSummary:
    """Summarize a remote store, or a virtual one (see :func:`nwbzarr.summary.tree.summarize`).

    Parameters
    ----------
    url : str
        URL or path of the store, HDF5 file or reference JSON (named in the summary).
    storage_options : dict or None
        fsspec options for a URL.
    store : zarr store, optional
        The store to summarize (an HDF5 file or reference JSON opened by
        :func:`nwbzarr.virtual.sources.open_virtual_store`); opened from ``url`` when None.
        For a reference store, stored bytes are the byte-range lengths and inline values.

    Returns
    -------
    StoreSummary
        Nodes from the consolidated metadata (or listings); file count and stored bytes from
        one listing, unknown (``sizes_known=False``) where the location cannot list.

    Raises
    ------
    StoreNotFoundError, RemoteAccessError
        If the URL holds no Zarr store or the server refuses access.
    """
    virtual = store is not None
    if store is None:
        store = open_store(url, read_only=True, storage_options=storage_options)
    with remote_errors(url, store):
        root, consolidated = open_root(url, store)
    zarr_format = int(root.metadata.zarr_format)
    nodes, groups = _describe_nodes(url, store, root, zarr_format)
    with remote_errors(url, store):
        sizes = _reference_sizes(store) if virtual else _remote_file_sizes(store)
    return build_summary(
        url,
        zarr_format,
        nodes,
        groups,
        _subtree_bytes(sizes or {}),
        n_files=_source_count(store) if virtual else len(sizes or ()),
        consolidated=consolidated,
        sizes_known=sizes is not None,
    )


def _describe_nodes(
    url: str, store: Any, root: Any, zarr_format: int
) -> tuple[list[NodeInfo], set[str]]:
    """Every node of the store (root first, parents before members) and the group paths:
    from the consolidated metadata, else from zarr-python's listing (not over plain HTTP)."""
    nodes: list[NodeInfo] = [describe_zarr_node("", root, zarr_format)]
    groups: set[str] = {""}
    with remote_errors(url, store):
        docs = _consolidated_documents(store, zarr_format)
    if docs is None:  # no consolidated metadata: zarr-python lists (not over plain HTTP)
        with remote_errors(url, store), quiet_user_warnings():
            members = dict(root.members(max_depth=None))
        docs = {rel: {} for rel in members}
    for rel in sorted(docs, key=lambda p: p.split("/")):
        parent = rel.rpartition("/")[0]
        if parent not in groups:
            continue  # below an array, or below a node that could not be described
        try:
            with quiet_user_warnings():
                node = root[rel]
        except Exception as exc:  # metadata that zarr-python cannot parse
            info = describe_from_documents(
                rel, docs[rel].get, zarr_format, f"{type(exc).__name__}: {exc}"
            )
        else:
            info = describe_zarr_node(rel, node, zarr_format)
        if info.kind == "group":
            groups.add(rel)
        nodes.append(info)
    return nodes, groups


def _subtree_bytes(sizes: dict[str, int]) -> dict[str, int]:
    """Bytes under the root and every directory holding an object, from ``{key: size}``."""
    subtree: dict[str, int] = {}
    for key, size in sizes.items():
        parts = key.split("/")
        for i in range(len(parts)):  # the root and every directory holding the object
            ancestor = "/".join(parts[:i])
            subtree[ancestor] = subtree.get(ancestor, 0) + size
    return subtree
