"""Amending an HDF5 file or a reference JSON opened by :class:`nwbzarr.ZarrIO` in ``a``/``r+``.

``NWBZarrIO("session.nwb", mode="a")`` (or a reference JSON, local or remote) opens the file's
virtual view through a :class:`~nwbzarr.virtual.staging.StagingStore`: the usual append
machinery (:mod:`nwbzarr.backend.append`) writes into the store's overlay, never into the
original file, and :meth:`nwbzarr.ZarrIO.save` writes the result as a new reference JSON
(docs/storage.md §15).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ..compat import default_buffer_prototype, sync
from ..conventions.attributes import WRITE_IN_PROGRESS_ATTR
from ..errors import AppendError, ReadOnlyError
from ..virtual.staging import StagingStore, save_staged
from ..virtual.store import ReferenceStore


def stage(store: Any, path: Any, directory: str | None) -> StagingStore:
    """Wrap the virtual store of an HDF5 file or reference JSON in a staging store.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The virtual store (closed if refused).
    path : str
        The file's path or URL, named in errors.
    directory : str, optional
        Where large staged values are kept (default: a temporary directory).

    Returns
    -------
    StagingStore

    Raises
    ------
    ReadOnlyError
        A LINDI or kerchunk reference JSON (Zarr v2 keys), which cannot be amended in place.
    """
    if not isinstance(store, ReferenceStore):
        store.close()
        raise ReadOnlyError(
            f"{path}: a LINDI or kerchunk reference JSON (Zarr v2 keys) cannot be "
            "amended in place; convert it ('nwbzarr convert SRC OUT.nwb.zarr') and amend "
            "the store, or amend the HDF5 file it indexes"
        )
    return StagingStore(store, directory=directory)


def save_amendment(
    staging: StagingStore | None,
    source: Any,
    path: str | os.PathLike[str],
    url: str | Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Write a staged amendment as a new reference JSON once its changes are complete.

    The caller (:meth:`nwbzarr.ZarrIO.save`) lands pending changes first.

    Parameters
    ----------
    staging : StagingStore or None
        The staging store of the amended file (None: the file was not opened for amendment).
    source : str
        The file's path, named in errors.
    path : str or os.PathLike
        JSON file to write.
    url : str or mapping of str to str, optional
        Location to record for the original file(s).

    Returns
    -------
    dict of str to int
        As :func:`nwbzarr.virtual.staging.save_staged`.

    Raises
    ------
    ReadOnlyError
        ``staging`` is None.
    AppendError
        The last write did not complete.
    """
    if staging is None:
        raise ReadOnlyError(
            f"{source}: save() writes the amendment of an HDF5 file or reference JSON "
            "opened with mode 'a' or 'r+'; a Zarr store is written in place"
        )
    raw = sync(staging.get("zarr.json", default_buffer_prototype()))
    attrs = json.loads(raw.to_bytes()).get("attributes", {}) if raw is not None else {}
    if WRITE_IN_PROGRESS_ATTR in attrs:
        raise AppendError(f"{source}: the last write did not complete; the amendment is not saved")
    return save_staged(staging, path, url=url)


def save_refs(
    source: Any,
    path: str | os.PathLike[str],
    *,
    url: str | Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Write an amended HDF5 file or reference JSON as a new reference JSON.

    Parameters
    ----------
    source : ZarrIO or StagingStore
        An ``NWBZarrIO``/``ZarrIO`` that opened an HDF5 file or reference JSON with mode
        ``"a"``/``"r+"`` (open or closed), or a staging store.
    path : str or os.PathLike
        JSON file to write; never the original file.
    url : str or mapping of str to str, optional
        Location to record for the original file(s) (see :meth:`nwbzarr.ZarrIO.save`).

    Returns
    -------
    dict of str to int
        ``staged_files``, ``staged_bytes``, ``inline_bytes``, ``original_refs``.

    Raises
    ------
    TypeError
        ``source`` is neither.
    ReadOnlyError, AppendError, ReferenceFileError
        As :meth:`nwbzarr.ZarrIO.save`.
    """
    if isinstance(source, StagingStore):
        return save_staged(source, path, url=url)
    if isinstance(getattr(type(source), "staging_store", None), property):  # a ZarrIO
        return source.save(path, url=url)
    raise TypeError(f"save_refs: expected a ZarrIO or StagingStore, got {type(source).__name__}")
