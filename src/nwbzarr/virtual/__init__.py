"""HDF5 -> Zarr without copying: chunk indexes, reference JSON and the stores that serve them.

Never imports hdmf. This package holds the format-independent pieces (:mod:`.store`,
:mod:`.staging`, :mod:`.sources`, :mod:`.publish`) and re-exports, for one import place, the
format-specific ones, which live in :mod:`nwbzarr.formats` (one folder per format). The
pieces, in the order data flow through them:

* :func:`index_hdf5` (:mod:`nwbzarr.formats.hdf5.index`) walks an HDF5 file (local path or
  URL) and returns a :class:`ReferenceSet` (:mod:`nwbzarr.storage.manifest`): Zarr v3 metadata
  in the unified convention plus one byte range per HDF5 chunk (docs/storage.md §11);
* :func:`save_references` / :func:`load_references` (:mod:`nwbzarr.formats.kerchunk.references`)
  write and read it as JSON (ours, LINDI ``.lindi.json``, kerchunk v0/v1; §12–13), checked
  against an :class:`AccessPolicy` (:mod:`nwbzarr.storage.policy`);
* :class:`ReferenceStore` (:mod:`.store`) serves a reference set as a read-only zarr store, and
  :class:`LindiTranslatingStore` (:mod:`nwbzarr.formats.lindi.store`) presents Zarr v2
  (LINDI/kerchunk) sets in the v3 convention;
* :func:`open_virtual_store` (:mod:`.sources`) does all of it for a path or URL (what
  ``NWBZarrIO`` calls), and :func:`index_to_json` is ``nwbzarr index``;
* :class:`StagingStore` (:mod:`.staging`) layers writes over a :class:`ReferenceStore`
  (amending a file without modifying it) and :func:`save_staged` writes the amendment as a new
  JSON (§15);
* :func:`index_to_icechunk` / :func:`write_icechunk` (:mod:`nwbzarr.formats.icechunk.repository`)
  store a reference set in an Icechunk repository as one commit (virtual chunk references to
  the HDF5 file) and :func:`open_icechunk_repository` opens one with its ``file://``
  containers authorized (docs/icechunk.md; the optional ``icechunk`` package is imported on
  first use);
* :func:`upload_references` (:mod:`.publish`) publishes a JSON and the local files it names to
  object storage (content-addressed objects, the JSON last; §16).
"""

from ..formats.hdf5.filters import HDF5Codecs, hdf5_codecs
from ..formats.hdf5.index import index_hdf5
from ..formats.icechunk.repository import (
    index_to_icechunk,
    open_icechunk_repository,
    write_icechunk,
)
from ..formats.kerchunk.references import load_references, parse_references, save_references
from ..formats.lindi.store import LindiTranslatingStore
from ..storage.manifest import ByteRange, ReferenceSet
from ..storage.policy import AccessPolicy
from .publish import UploadReport, upload_references
from .sources import index_to_json, open_virtual_store, source_kind
from .staging import StagingStore, save_staged
from .store import ReferenceStore

__all__ = [
    "AccessPolicy",
    "ByteRange",
    "HDF5Codecs",
    "LindiTranslatingStore",
    "ReferenceSet",
    "ReferenceStore",
    "hdf5_codecs",
    "index_hdf5",
    "index_to_icechunk",
    "index_to_json",
    "load_references",
    "open_icechunk_repository",
    "open_virtual_store",
    "parse_references",
    "save_references",
    "save_staged",
    "source_kind",
    "StagingStore",
    "UploadReport",
    "upload_references",
    "write_icechunk",
]
