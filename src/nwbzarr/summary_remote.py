"""Summary of a remote store (``nwbzarr info URL``): nodes from consolidated metadata.

Remote locations cannot be walked like a directory: nodes come from the root's consolidated
metadata (falling back to the raw metadata documents), and file count and stored bytes from
one listing where the location can list (object stores, ``memory://``); over plain HTTP they
are reported as unknown.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from .storage.resolve import open_store, remote_errors
from .summary import (
    _V2_ARRAY,
    _V2_ATTRS,
    _V2_GROUP,
    _V3_META,
    NodeInfo,
    StoreSummary,
    _describe_from_docs,
    _describe_zarr_node,
    _finish,
    _open_root,
)


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
    key = _V3_META if zarr_format == 3 else ".zmetadata"
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
            out[rel.strip("/")] = {_V3_META: meta}
        return out
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for name, meta in metadata.items():
        rel, _, doc_name = name.rpartition("/")
        if rel and doc_name in (_V2_GROUP, _V2_ARRAY, _V2_ATTRS):
            out.setdefault(rel, {})[doc_name] = meta
    return {rel: d for rel, d in out.items() if _V2_GROUP in d or _V2_ARRAY in d}


def summarize_remote(url: str, storage_options: dict[str, Any] | None) -> StoreSummary:
    """Summarize a remote store (see :func:`nwbzarr.summary.summarize`).

    Raises
    ------
    StoreNotFoundError, RemoteAccessError
        If the URL holds no Zarr store or the server refuses access.
    """
    store = open_store(url, read_only=True, storage_options=storage_options)
    with remote_errors(url, store):
        root, consolidated = _open_root(url, store)
    zarr_format = int(root.metadata.zarr_format)
    nodes: list[NodeInfo] = [_describe_zarr_node("", root, zarr_format)]
    groups: set[str] = {""}
    with remote_errors(url, store):
        docs = _consolidated_documents(store, zarr_format)
    if docs is None:  # no consolidated metadata: zarr-python lists (not over plain HTTP)
        with remote_errors(url, store), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            members = dict(root.members(max_depth=None))
        docs = {rel: {} for rel in members}
    for rel in sorted(docs, key=lambda p: p.split("/")):
        parent = rel.rpartition("/")[0]
        if parent not in groups:
            continue  # below an array, or below a node that could not be described
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                node = root[rel]
        except Exception as exc:  # metadata that zarr-python cannot parse
            info = _describe_from_docs(
                rel, docs[rel].get, zarr_format, f"{type(exc).__name__}: {exc}"
            )
        else:
            info = _describe_zarr_node(rel, node, zarr_format)
        if info.kind == "group":
            groups.add(rel)
        nodes.append(info)

    with remote_errors(url, store):
        sizes = _remote_file_sizes(store)
    subtree: dict[str, int] = {}
    if sizes is not None:
        for key, size in sizes.items():
            parts = key.split("/")
            for i in range(len(parts)):  # the root and every directory holding the object
                ancestor = "/".join(parts[:i])
                subtree[ancestor] = subtree.get(ancestor, 0) + size
    return _finish(
        url,
        root,
        zarr_format,
        nodes,
        groups,
        subtree,
        n_files=len(sizes or ()),
        consolidated=consolidated,
        sizes_known=sizes is not None,
    )
