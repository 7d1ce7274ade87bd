"""An h5py-like, read-only view of anything nwbzarr reads: :func:`h5py_view`.

``nwbzarr.h5py_view(path_or_url)`` opens a Zarr v3 store (``*.nwb.zarr``), a legacy hdmf-zarr
v2 store, an HDF5 file (through the virtual Zarr view of :mod:`nwbzarr.virtual`), a reference
JSON (ours, LINDI ``.lindi.json``, kerchunk), a LINDI ``.lindi.tar`` / ``.lindi.d``, locally or
from a URL — with the opener ``NWBZarrIO`` uses — and returns a :class:`File` with h5py's
``File``/``Group``/``Dataset``/``attrs``/reference surface::

    import nwbzarr
    from pynwb import NWBHDF5IO

    with nwbzarr.h5py_view("session.nwb.zarr") as f:
        f["acquisition/ts/data"][:10]
        nwbfile = NWBHDF5IO(file=f, mode="r").read()   # pynwb's HDF5 reader, on a Zarr store

The view's classes subclass h5py's (``isinstance(f, h5py.File)``), so code written for h5py —
hdmf's ``HDF5IO`` among it — runs unchanged; values come back as h5py returns them (see
:mod:`nwbzarr.h5view.values`), links as ``h5py.SoftLink`` / ``h5py.ExternalLink``, references
as :class:`Reference` objects that ``f[ref]`` dereferences. docs/h5py_view.md lists what
differs from h5py on the HDF5 original.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidModeError, ReadOnlyError
from .nodes import AttributeManager, Dataset, File, Group, ObjectID, TextDataset, _Source
from .values import Reference

__all__ = [
    "AttributeManager",
    "Dataset",
    "File",
    "Group",
    "ObjectID",
    "Reference",
    "TextDataset",
    "h5py_view",
]

_H5PY_WRITE_MODES = ("r+", "w", "w-", "x", "a")


def h5py_view(
    path_or_url: str | os.PathLike[str] | Any,
    mode: str = "r",
    *,
    storage_options: dict | None = None,
    cache: Any = None,
) -> File:
    """Open anything nwbzarr reads as a read-only, h5py-like :class:`File`.

    Parameters
    ----------
    path_or_url : str, os.PathLike or zarr store
        A Zarr v3 store directory (``*.nwb.zarr``), a legacy hdmf-zarr v2 store, an HDF5 file
        (``.nwb``), a reference JSON (``.json``: ours, LINDI, kerchunk), a LINDI ``.lindi.tar``
        or ``.lindi.d``; a local path or a URL (``https://``, ``s3://``, ...), or a zarr store
        object.
    mode : {"r"}
        Only ``"r"``: the view never writes.
    storage_options : dict, optional
        fsspec options for a URL (headers, credentials), also used for the files that
        external links open.
    cache : nwbzarr.LocalCache or str, optional
        On-disk cache of remote chunk bytes (HDF5 files and reference JSON read from a URL).

    Returns
    -------
    File
        The root group; close it (or use ``with``) to release the store.

    Raises
    ------
    ReadOnlyError
        ``mode`` is one of h5py's writing modes (``"r+"``, ``"w"``, ``"w-"``, ``"x"``,
        ``"a"``).
    InvalidModeError
        Any other ``mode`` but ``"r"``.
    StoreNotFoundError
        Nothing at ``path_or_url``.
    NotAZarrStoreError, IncompleteStoreError, ReferenceFileError, HDF5IndexError
        The source is not a readable store, file or reference JSON (see
        :class:`nwbzarr.ZarrIO`).
    UntrustedReferenceError
        A reference JSON points outside what the access policy allows.
    """
    if mode in _H5PY_WRITE_MODES:
        raise ReadOnlyError(
            f"{path_or_url}: nwbzarr.h5py_view opens files read-only (mode 'r'), not "
            f"{mode!r}; write with nwbzarr.NWBZarrIO(path, mode='a') instead"
        )
    if mode != "r":
        raise InvalidModeError(
            f"{path_or_url}: mode {mode!r} is not supported by nwbzarr.h5py_view; use 'r'"
        )
    from ..backend.io import ZarrIO

    path = os.fspath(path_or_url) if isinstance(path_or_url, (str, Path)) else path_or_url
    io = ZarrIO(path, mode="r", storage_options=storage_options, cache=cache)
    try:
        filename = path if isinstance(path, str) else f"<{type(path).__name__} {id(path):#x}>"
        local = isinstance(path, str) and "://" not in path
        key = os.path.realpath(path) if local else filename
        options = {"storage_options": storage_options, "cache": cache}
        source = _Source(io, filename, options, key)
        return File(source)
    except BaseException:
        io.close()
        raise
