"""Resolve ``str | Path | URL | zarr Store`` into a zarr v3 store.

Local paths become :class:`zarr.storage.LocalStore`; ``http(s)://``, ``s3://``, ``gs://`` and
other fsspec URLs become :class:`zarr.storage.FsspecStore` (read-only unless the caller asks
otherwise), with ``storage_options`` passed to fsspec unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zarr.abc.store import Store

REMOTE_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://")


def is_remote_url(path: Any) -> bool:
    """Return True if ``path`` is a string URL of a remote scheme fsspec understands."""
    return isinstance(path, str) and path.lower().startswith(REMOTE_SCHEMES)


def store_exists(path: str | Path) -> bool:
    """Return True if a local path exists and is non-empty (a file or a non-empty directory)."""
    p = Path(path)
    if p.is_dir():
        return any(p.iterdir())
    return p.exists()


def open_store(
    path: str | Path | Store,
    read_only: bool,
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """Return a zarr store for a path, URL or existing store.

    Parameters
    ----------
    path : str, pathlib.Path or zarr.abc.store.Store
        Local directory, remote URL, or a store (returned as is).
    read_only : bool
        Open the store read-only.
    storage_options : dict, optional
        fsspec options for remote URLs (credentials, ``anon``, endpoint, ...).

    Returns
    -------
    zarr.abc.store.Store

    Raises
    ------
    ImportError
        If a URL is given and fsspec (extra ``remote``) is not installed.
    """
    if isinstance(path, Store):
        return path
    if is_remote_url(str(path)):
        try:
            from zarr.storage import FsspecStore
        except ImportError as exc:  # pragma: no cover - zarr always ships it
            raise ImportError("remote URLs need fsspec: pip install 'nwbzarr[remote]'") from exc
        return FsspecStore.from_url(
            str(path), storage_options=storage_options or {}, read_only=read_only
        )
    from zarr.storage import LocalStore

    return LocalStore(os.fspath(path), read_only=read_only)
