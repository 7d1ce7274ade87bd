"""Amending an HDF5 file or a reference JSON (``AmendMixin`` of :class:`nwbzarr.ZarrIO`).

``NWBZarrIO("session.nwb", mode="a")`` (or a reference JSON, local or remote) opens the file's
virtual view through a :class:`~nwbzarr.virtual.staging.StagingStore`: the usual append
machinery (:mod:`nwbzarr.backend.append`) writes into the store's overlay, never into the
original file, and :meth:`AmendMixin.save` writes the result as a new reference JSON
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


class AmendMixin:
    """``save`` and the staging store behind ``a``/``r+`` on an HDF5 file or reference JSON."""

    _staging: StagingStore | None = None
    _staging_dir: str | None = None

    def _stage(self, store: Any) -> StagingStore:
        """Wrap the virtual store of an HDF5 file or reference JSON in a staging store."""
        if not isinstance(store, ReferenceStore):
            store.close()
            raise ReadOnlyError(
                f"{self._path}: a LINDI or kerchunk reference JSON (Zarr v2 keys) cannot be "
                "amended in place; convert it ('nwbzarr convert SRC OUT.nwb.zarr') and amend "
                "the store, or amend the HDF5 file it indexes"
            )
        self._staging = StagingStore(store, directory=self._staging_dir)
        return self._staging

    @property
    def staging_store(self) -> StagingStore | None:
        """The staging store of an amended HDF5 file or reference JSON (None otherwise).

        It stays available after ``close()`` so that :meth:`save` can still be called.
        """
        return self._staging

    def save(
        self, path: str | os.PathLike[str], *, url: str | Mapping[str, str] | None = None
    ) -> dict[str, int]:
        """Write the amended file as a new reference JSON; the original is never modified.

        Can be called while the file is open (changes written so far are saved; more may
        follow and be saved again) or after ``close()``.

        Parameters
        ----------
        path : str or os.PathLike
            JSON file to write. New and changed values larger than 4096 bytes are staged
            files; those not already under the JSON's directory are placed in
            ``<path without .json>.staging/`` next to it.
        url : str or mapping of str to str, optional
            Location to record for the original file(s) instead of where they were read from
            (see :func:`nwbzarr.virtual.refs.save_references`).

        Returns
        -------
        dict of str to int
            ``staged_files``, ``staged_bytes``, ``inline_bytes``, ``original_refs`` (see
            :func:`nwbzarr.virtual.staging.save_staged`).

        Raises
        ------
        ReadOnlyError
            The file was not opened as an amendable HDF5 file or reference JSON (mode
            ``a``/``r+``).
        AppendError
            A write failed or references point at containers never written: nothing is
            saved, since the result would not be a complete file.
        ReferenceFileError
            ``path`` is the original file.
        """
        if self._staging is None:
            raise ReadOnlyError(
                f"{self._path}: save() writes the amendment of an HDF5 file or reference JSON "
                "opened with mode 'a' or 'r+'; a Zarr store is written in place"
            )
        if self._root is not None:
            pending = self._finish_changes()
            self._writing = False  # the next change marks the store again
            if pending is not None:
                raise pending
            if self._write_failed:
                raise AppendError(f"{self._path}: a write failed; the amendment is not saved")
        raw = sync(self._staging.get("zarr.json", default_buffer_prototype()))
        attrs = json.loads(raw.to_bytes()).get("attributes", {}) if raw is not None else {}
        if WRITE_IN_PROGRESS_ATTR in attrs:
            raise AppendError(
                f"{self._path}: the last write did not complete; the amendment is not saved"
            )
        return save_staged(self._staging, path, url=url)


def save_refs(
    source: AmendMixin | StagingStore,
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
        Location to record for the original file(s) (see :meth:`AmendMixin.save`).

    Returns
    -------
    dict of str to int
        ``staged_files``, ``staged_bytes``, ``inline_bytes``, ``original_refs``.

    Raises
    ------
    TypeError
        ``source`` is neither.
    ReadOnlyError, AppendError, ReferenceFileError
        As :meth:`AmendMixin.save`.
    """
    if isinstance(source, StagingStore):
        return save_staged(source, path, url=url)
    if isinstance(source, AmendMixin):
        return source.save(path, url=url)
    raise TypeError(f"save_refs: expected a ZarrIO or StagingStore, got {type(source).__name__}")
