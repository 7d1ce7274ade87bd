"""Resolve ``str | Path | URL | zarr Store`` into a zarr v3 store.

Local paths become :class:`zarr.storage.LocalStore`. URLs become read-only
:class:`zarr.storage.FsspecStore` objects, with ``storage_options`` passed to fsspec unchanged
(``headers``/``client_kwargs`` for HTTP, ``anon``/``key``/``secret``/``endpoint_url`` for S3,
``token`` for GCS, ...).

What counts as remote
---------------------
A string starting with one of :data:`REMOTE_SCHEMES`: ``http://``, ``https://``, ``s3://``,
``s3a://``, ``gs://``, ``gcs://``, ``az://``, ``abfs://``, ``abfss://`` and ``memory://``.
``memory://`` (fsspec's in-process memory filesystem) is not a network location, but it is not
local disk either and goes through the same fsspec path as a bucket, so it is treated exactly
like one: read-only, :meth:`nwbzarr.ZarrIO.is_remote` true. It is mostly useful in tests (it
lists directories, unlike plain HTTP). Every remote store is read-only: nwbzarr writes local
stores only (write locally, then upload).

Listing
-------
Mode ``"r"`` reads all metadata from the root ``zarr.json`` (consolidated metadata) and never
lists a directory. Mode ``"r-"`` discovers members by listing, which object stores (S3, GCS,
Azure) and ``memory://`` support and plain HTTP does not: a web server either refuses directory
URLs or answers them with an HTML page. :func:`require_listing` turns that into a clear
:class:`~nwbzarr.errors.RemoteListingError` instead of a file that silently reads as empty.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from zarr.abc.store import Store

from ..compat import sync
from ..errors import (
    NotAZarrStoreError,
    NWBZarrError,
    ReadOnlyError,
    RemoteAccessError,
    RemoteListingError,
    StoreNotFoundError,
)
from . import checked_codecs

REMOTE_SCHEMES = (
    "http://",
    "https://",
    "s3://",
    "s3a://",
    "gs://",
    "gcs://",
    "az://",
    "abfs://",
    "abfss://",
    "memory://",
)
"""URL prefixes (lower case) opened through fsspec as read-only remote stores."""

HTTP_SCHEMES = ("http://", "https://")

# Keys whose presence at a store's root makes it a Zarr hierarchy (v3, v2 group, v2 array).
_ROOT_KEYS = ("zarr.json", ".zgroup", ".zarray")


def is_remote_url(path: Any) -> bool:
    """Return True if ``path`` is a URL that nwbzarr opens through fsspec as a remote store.

    Parameters
    ----------
    path : object
        Anything; only strings can be URLs (a :class:`pathlib.Path` is always local).

    Returns
    -------
    bool
        True for strings starting with one of :data:`REMOTE_SCHEMES` (case-insensitive),
        ``memory://`` included (see the module docstring).
    """
    return isinstance(path, str) and path.lower().startswith(REMOTE_SCHEMES)


def is_http_url(path: Any) -> bool:
    """Return True if ``path`` is an ``http://`` or ``https://`` URL (no directory listing)."""
    return isinstance(path, str) and path.lower().startswith(HTTP_SCHEMES)


def store_exists(path: str | Path) -> bool:
    """Return True if a local path exists and is non-empty (a file or a non-empty directory)."""
    p = Path(path)
    if p.is_dir():
        return any(p.iterdir())
    return p.exists()


def join_location(base: str, relative: str) -> str:
    """Resolve a store-relative location (a ``_LINKS`` ``source``) against a store's location.

    Parameters
    ----------
    base : str
        Absolute local path or URL of the store holding the link.
    relative : str
        Location of the other store relative to ``base``, ``/``-separated
        (e.g. ``"../raw.nwb.zarr"``).

    Returns
    -------
    str
        A normalized local path, or for a URL the same scheme and host with the joined,
        normalized path (``http://h/a/x.nwb.zarr`` + ``../y.nwb.zarr`` ->
        ``http://h/a/y.nwb.zarr``; a query string is kept).
    """
    if not is_remote_url(base):
        return os.path.normpath(os.path.join(base, relative))
    parts = urlsplit(base)
    joined = posixpath.normpath(posixpath.join(parts.path or "/", relative))
    if parts.path.startswith("/") and not joined.startswith("/"):
        joined = "/" + joined
    return urlunsplit((parts.scheme, parts.netloc, joined, parts.query, ""))


def open_store(
    path: str | Path | Store,
    read_only: bool,
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """Return a zarr store for a path, URL or existing store.

    Nothing is read: a missing local directory or URL is only noticed when the store is used.

    Parameters
    ----------
    path : str, pathlib.Path or zarr.abc.store.Store
        Local directory, remote URL (see :func:`is_remote_url`), or a store (returned as is).
    read_only : bool
        Open the store read-only. Must be True for a URL.
    storage_options : dict, optional
        fsspec options for remote URLs, passed unchanged to the filesystem (for HTTP,
        ``{"headers": {...}}`` is sent with every request and ``client_kwargs`` go to
        :class:`aiohttp.ClientSession`). Ignored for local paths and store objects.

    Returns
    -------
    zarr.abc.store.Store
        ``LocalStore`` for a local path, read-only ``FsspecStore`` for a URL.

    Raises
    ------
    ReadOnlyError
        If ``read_only`` is False for a URL: remote stores are read-only.
    ImportError
        If a URL needs an fsspec implementation that is not installed (``s3fs`` for
        ``s3://``, ``gcsfs`` for ``gs://``, ``adlfs`` for ``az://``; fsspec and aiohttp for
        HTTP, extra ``remote``); the message names the package.
    ValueError
        If fsspec rejects the URL or the ``storage_options``.
    """
    if isinstance(path, Store):
        return path
    if is_remote_url(str(path)):
        url = str(path)
        if not read_only:
            raise ReadOnlyError(
                f"{url}: remote stores are read-only; open with mode 'r' (or 'r-'), or write "
                "a local store and upload it"
            )
        try:
            from zarr.storage import FsspecStore
        except ImportError as exc:  # pragma: no cover - zarr always ships it
            raise ImportError(
                f"{url}: remote URLs need fsspec: pip install 'nwbzarr[remote]'"
            ) from exc
        try:
            return FsspecStore.from_url(
                url.rstrip("/"), storage_options=dict(storage_options or {}), read_only=True
            )
        except ImportError as exc:
            raise ImportError(
                f"{url}: fsspec cannot open this URL scheme here: {exc} (HTTP needs "
                "pip install 'nwbzarr[remote]')"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{url}: fsspec refused the URL or storage_options: {exc}") from exc
    from zarr.storage import LocalStore

    return LocalStore(os.fspath(path), read_only=read_only)


# -- pickling: the codec pipeline pickled arrays name ---------------------------------------------
def checked_pipeline_installed() -> bool:
    """True if :mod:`nwbzarr.storage.checked_codecs` has installed its codec pipeline here.

    Zarr arrays opened after the installation carry that pipeline, and pickle it by name
    (``nwbzarr.storage.checked_codecs.CheckedCodecPipeline``), a class made by the installation.
    A store pickles this flag so that unpickling it installs the pipeline first
    (:func:`restore_checked_pipeline`): an array pickles its store before its pipeline, so a
    fresh process (a dask worker) can resolve the name.

    Returns
    -------
    bool
    """
    module = sys.modules.get("nwbzarr.storage.checked_codecs")
    return bool(getattr(module, "_INSTALLED", False))


def restore_checked_pipeline(installed: bool) -> None:
    """Install the checked codec pipeline when the pickling process had it (see above).

    Parameters
    ----------
    installed : bool
        What :func:`checked_pipeline_installed` returned where the store was pickled.
    """
    if installed:
        checked_codecs.install()


def http_status(exc: BaseException) -> int | None:
    """HTTP status carried by an fsspec backend error (aiohttp, gcsfs, botocore), if any.

    Parameters
    ----------
    exc : BaseException
        What an fsspec file system raised.

    Returns
    -------
    int or None
        The status from the error's ``status``, ``code`` or ``status_code`` attribute, or from
        a botocore ``response["ResponseMetadata"]["HTTPStatusCode"]``; None if it carries none.
    """
    for attr in ("status", "code", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)  # botocore.exceptions.ClientError
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def remote_access_error(url: str, exc: BaseException) -> RemoteAccessError | None:
    """Translate a refusal by a remote server into :class:`~nwbzarr.errors.RemoteAccessError`.

    Parameters
    ----------
    url : str
        The store URL, named in the message.
    exc : BaseException
        What fsspec raised.

    Returns
    -------
    RemoteAccessError or None
        For HTTP 401/403 or a :class:`PermissionError`, an error naming the URL, the status and
        how to pass credentials; None for anything else (re-raise ``exc`` unchanged).
    """
    status = http_status(exc)
    if status not in (401, 403) and not isinstance(exc, PermissionError):
        return None
    what = f"HTTP {status}" if status is not None else type(exc).__name__
    return RemoteAccessError(
        f"{url}: the server refused access ({what}: {exc}); pass credentials through "
        "storage_options, e.g. storage_options={'headers': {'Authorization': 'Bearer ...'}} "
        "for HTTP(S), {'key': ..., 'secret': ...} or {'anon': True} for s3://, "
        "{'token': ...} for gs://"
    )


def has_zarr_root(store: Store, keys: tuple[str, ...] = ("zarr.json", ".zgroup")) -> bool:
    """Return True if one of ``keys`` exists in ``store`` (by default a v3 or v2 root group).

    Checks the keys in order and stops at the first found (one request each on a remote
    store). Never raises: a key that cannot be checked counts as absent.
    """
    for key in keys:
        try:
            if sync(store.exists(key)):
                return True
        except Exception:  # an unreadable key is not evidence of a store
            continue
    return False


@contextmanager
def remote_errors(path: Any, store: Store) -> Iterator[None]:
    """Turn fsspec failures while opening a remote store into nwbzarr errors naming the URL.

    Does nothing for local paths and store objects. For a URL, inside the block:

    * HTTP 401/403 (or a ``PermissionError``) becomes
      :class:`~nwbzarr.errors.RemoteAccessError`;
    * :class:`~nwbzarr.errors.NotAZarrStoreError` becomes
      :class:`~nwbzarr.errors.StoreNotFoundError` when the URL has no ``zarr.json``,
      ``.zgroup`` or ``.zarray`` at all (over HTTP a missing store and a non-Zarr location
      cannot be told apart, so both are reported as not found). The extra existence checks run
      only on this failure path.

    Parameters
    ----------
    path : object
        What the caller opened (a URL, a local path, or a store).
    store : zarr.abc.store.Store
        The store :func:`open_store` returned for ``path``.

    Raises
    ------
    RemoteAccessError
        The server refused the request (credentials missing or wrong).
    StoreNotFoundError
        Nothing Zarr-like exists at the URL.
    """
    if not is_remote_url(path):
        yield
        return
    try:
        yield
    except NotAZarrStoreError as exc:
        cause: BaseException | None = exc.__cause__ or exc.__context__
        while cause is not None:  # a refusal hidden behind "cannot open as a Zarr group"
            err = remote_access_error(path, cause)
            if err is not None:
                raise err from cause
            cause = cause.__cause__ or cause.__context__
        if not has_zarr_root(store, _ROOT_KEYS):
            raise StoreNotFoundError(
                f"{path}: no Zarr store at this URL ({path.rstrip('/')}/zarr.json and .zgroup "
                "not found); check the URL (it names the store's root directory)"
            ) from exc
        raise
    except NWBZarrError:
        raise
    except Exception as exc:
        err = remote_access_error(path, exc)
        if err is None:
            raise
        raise err from exc


def require_listing(path: Any, store: Store) -> None:
    """Check that a remote store can list its directories (needed by mode ``"r-"``).

    Lists the store's root once; a Zarr root lists at least its own metadata document. Local
    paths and store objects are not checked.

    Parameters
    ----------
    path : object
        What the caller opened (only URLs are checked).
    store : zarr.abc.store.Store
        The store :func:`open_store` returned for ``path``.

    Raises
    ------
    RemoteListingError
        If the root lists nothing (plain HTTP servers have no directory listing, or answer
        with 404): mode ``"r-"`` would read the file as empty. Use mode ``"r"``.
    RemoteAccessError
        If the server refuses the listing request (credentials).
    """
    if not is_remote_url(path):
        return

    async def _first() -> str | None:
        async for key in store.list_dir(""):
            return key
        return None

    try:
        first = sync(_first())
    except (FileNotFoundError, NotImplementedError):
        first = None
    except Exception as exc:
        err = remote_access_error(path, exc)
        if err is None:
            raise
        raise err from exc
    if first is None:
        kind = "HTTP servers do not list directories" if is_http_url(path) else "no listing"
        raise RemoteListingError(
            f"{path}: mode 'r-' finds a store's members by listing directories, and this "
            f"location cannot be listed ({kind}); open it with mode 'r', which reads every "
            "node's metadata from the consolidated copy in the root zarr.json"
        )
