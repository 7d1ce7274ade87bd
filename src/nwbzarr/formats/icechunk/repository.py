"""HDF5 reference sets written into an Icechunk repository (``nwbzarr index SRC --icechunk``).

An Icechunk repository is a transactional Zarr v3 store: every commit is a snapshot that stays
readable by its id. :func:`write_icechunk` stores a reference set (what
:func:`~nwbzarr.formats.hdf5.index.index_hdf5` returns) as one commit:

* metadata documents (``zarr.json``) as they are, except that the root's
  ``consolidated_metadata`` is left out (Icechunk keeps node metadata itself and zarr-python
  never reads consolidated metadata from an Icechunk store, so a copy would only go stale);
* every :class:`~nwbzarr.storage.manifest.ByteRange` as a *virtual chunk reference* to the
  HDF5 file (``file://`` URL of its absolute path, with the file's modification time as the
  reference's checksum, so Icechunk refuses to read it once the file has changed);
* inline values (small chunks, text, references, compounds) as ordinary chunks.

Icechunk 1.x reads virtual chunks only from *virtual chunk containers* declared in the
repository configuration (a URL prefix and an object store) and only when the repository is
opened with those containers authorized. One ``file://<directory>/`` container is declared
per directory holding a source file; :func:`open_icechunk_repository` authorizes the
containers that pass an :class:`~nwbzarr.storage.policy.AccessPolicy` (docs/icechunk.md).

``icechunk`` is an optional dependency (extra ``icechunk``), imported on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ...compat import default_buffer_prototype, sync
from ...errors import IcechunkError, IcechunkUnavailableError, StoreExistsError, StoreNotFoundError
from ...storage.manifest import ByteRange, ReferenceSet
from ...storage.policy import AccessPolicy, split_scheme
from ..hdf5.index import index_hdf5

if TYPE_CHECKING:  # pragma: no cover
    import icechunk as _icechunk_module

__all__ = ["index_to_icechunk", "open_icechunk_repository", "write_icechunk"]

_ROOT = "zarr.json"

INLINE_CHUNK_BYTES = 4096
"""``inline_chunk_threshold_bytes`` of a new repository (Icechunk's default is 512): chunks
up to this size are kept inside Icechunk's manifests instead of one object file each."""


def _icechunk() -> Any:
    """Import ``icechunk`` or raise :class:`IcechunkUnavailableError` naming the extra."""
    try:
        import icechunk
    except ImportError as exc:
        raise IcechunkUnavailableError(
            "Icechunk repositories need the optional package 'icechunk' (>= 1.1); install it "
            "with: pip install 'nwbzarr[icechunk]'"
        ) from exc
    return icechunk


def _local_access(ic: Any) -> Any:
    """The credentials value that authorizes a ``file://`` container: Icechunk 2 has an
    explicit ``Credentials.LocalFileSystemAccess``, Icechunk 1.x takes None."""
    access = getattr(getattr(ic, "Credentials", None), "LocalFileSystemAccess", None)
    return access() if access is not None else None


#: Characters a path may hold besides letters, digits and ``_.-~``: Icechunk (1.1, 2.3) does not
#: match a percent-encoded ``file://`` location (a space, ``%``, ``#``, ``?``, non-ASCII) to
#: its container when reading, so such paths are refused rather than written unreadable.
_URL_SAFE = "/!$&'()*+,;=:@"


def _file_url(path: str) -> str:
    """``file://`` URL of an absolute local path (see :data:`_URL_SAFE`)."""
    return "file://" + path


def _check_url_safe(path: str, what: str) -> None:
    if quote(path, safe=_URL_SAFE) != path:
        raise IcechunkError(
            f"{path}: {what} holds characters (spaces, '%', '#', '?', non-ASCII) that "
            "Icechunk's file:// virtual chunk locations do not read back; rename or move it to "
            "a path of letters, digits and -_.~/ only"
        )


def _file_prefix(directory: str) -> str:
    """``file://`` URL prefix (ending in ``/``) of an absolute local directory."""
    return _file_url(directory.rstrip("/") + "/")


def _nonempty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def write_icechunk(
    refset: ReferenceSet,
    repo_dir: str | os.PathLike[str],
    *,
    if_exists: Literal["error", "commit"] = "error",
    branch: str = "main",
    message: str | None = None,
) -> str:
    """Write a reference set into an Icechunk repository on local disk as one commit.

    Parameters
    ----------
    refset : ReferenceSet
        A Zarr v3 reference set whose byte ranges name local files (as
        :func:`~nwbzarr.formats.hdf5.index.index_hdf5` returns for a local path).
    repo_dir : str or os.PathLike
        Directory of the repository. It is created when missing or empty.
    if_exists : {"error", "commit"}, default "error"
        What to do when ``repo_dir`` exists and is not empty: ``"error"`` refuses;
        ``"commit"`` requires an Icechunk repository there and writes the set as a new commit
        on ``branch`` that replaces the branch's whole tree (earlier snapshots keep their
        content; nothing is deleted from disk).
    branch : str, default "main"
        Branch the commit goes to (must exist; a new repository has ``"main"``).
    message : str, optional
        Commit message; default ``"nwbzarr: index of <source>"``.

    Returns
    -------
    str
        The id of the new snapshot (for ``repo.readonly_session(snapshot_id=...)``).

    Raises
    ------
    IcechunkUnavailableError
        If the ``icechunk`` package is not installed.
    StoreExistsError
        If ``repo_dir`` is not empty and ``if_exists`` is ``"error"``, or it is not empty and
        not an Icechunk repository; nothing is written.
    IcechunkError
        If a byte range names a URL or a whole file (only byte ranges of local files can be
        virtual chunks here), the set is not Zarr v3, or Icechunk refuses a key; the message
        names the key. A repository this call created is removed again.
    ValueError
        If ``if_exists`` is not one of the values above.

    Notes
    -----
    Source: Icechunk documentation, "Virtual datasets" (virtual chunk containers,
    ``set_virtual_ref``, ``authorize_virtual_chunk_access``) and "Version control"
    (sessions, commits), https://icechunk.io/.
    """
    if if_exists not in ("error", "commit"):
        raise ValueError(f"if_exists must be 'error' or 'commit', not {if_exists!r}")
    ic = _icechunk()
    path = Path(os.path.abspath(os.fspath(repo_dir)))
    if refset.zarr_format != 3:
        raise IcechunkError(
            f"{path}: only Zarr v3 reference sets can be written to Icechunk (this one is Zarr "
            f"v{refset.zarr_format}); convert the file first with 'nwbzarr convert'"
        )
    sources = _virtual_sources(refset, path)
    prefixes = sorted({_file_prefix(os.path.dirname(src)) for src in sources})
    existing = _nonempty(path)
    existed = path.exists()
    if existing:
        _check_existing(ic, path, if_exists)
    storage = ic.local_filesystem_storage(str(path))
    try:
        if existing:
            repo = _open_for_commit(ic, storage, prefixes)
        else:
            repo = _create(ic, storage, prefixes)
        return _commit(repo, branch, refset, path, sources, message, replace=existing)
    except BaseException:
        if not existing:  # remove only what this call made
            _remove_made(path, existed)
        raise


def _commit(
    repo: Any,
    branch: str,
    refset: ReferenceSet,
    path: Path,
    sources: tuple[str, ...],
    message: str | None,
    replace: bool,
) -> str:
    """Write ``refset`` on ``branch`` (replacing the branch's tree when ``replace``) as one
    commit; return the snapshot id."""
    session = repo.writable_session(branch)
    if replace:
        sync(session.store.clear())  # the new commit holds exactly this set
    _fill(session.store, refset, path, sources)
    label = ", ".join(sources) or "an in-memory reference set"
    return str(
        session.commit(
            message or f"nwbzarr: index of {label}",
            metadata={"nwbzarr": _version(), "sources": list(sources)},
        )
    )


def _check_existing(ic: Any, path: Path, if_exists: str) -> None:
    """Refuse a non-empty ``path`` unless ``if_exists="commit"`` and it holds a repository."""
    if if_exists == "error":
        raise StoreExistsError(
            f"{path}: exists and is not empty; nothing was written. Choose a new directory, "
            "or pass if_exists='commit' (nwbzarr index --new-commit) to add the index as a "
            "new commit of the Icechunk repository there"
        )
    if not path.is_dir() or not ic.Repository.exists(ic.local_filesystem_storage(str(path))):
        raise StoreExistsError(
            f"{path}: exists and is not an Icechunk repository; nothing was written. "
            "Choose a new directory"
        )


def _open_for_commit(ic: Any, storage: Any, prefixes: list[str]) -> Any:
    """An existing repository, with a container declared (and saved) for each new prefix."""
    config = ic.Repository.fetch_config(storage) or ic.RepositoryConfig.default()
    known = set((config.virtual_chunk_containers or {}).keys())
    _declare(ic, config, [p for p in prefixes if p not in known])
    repo = ic.Repository.open(
        storage, config=config, authorize_virtual_chunk_access=_authorize(ic, prefixes)
    )
    if not known.issuperset(prefixes):
        repo.save_config()
    return repo


def _create(ic: Any, storage: Any, prefixes: list[str]) -> Any:
    """A new repository declaring one container per prefix."""
    config = ic.RepositoryConfig.default()
    # values the index inlined (<= 4096 bytes by default) live in the manifests, as
    # they lived in the reference set, rather than one object file each
    config.inline_chunk_threshold_bytes = INLINE_CHUNK_BYTES
    _declare(ic, config, prefixes)
    return ic.Repository.create(
        storage, config=config, authorize_virtual_chunk_access=_authorize(ic, prefixes)
    )


def _remove_made(path: Path, existed: bool) -> None:
    """Undo a failed creation: empty ``path`` again if it existed (empty), else remove it."""
    if existed:
        for child in path.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def index_to_icechunk(
    source: str | os.PathLike[str],
    repo_dir: str | os.PathLike[str],
    *,
    if_exists: Literal["error", "commit"] = "error",
    branch: str = "main",
    message: str | None = None,
    max_chunk_bytes: int | None = None,
) -> str:
    """Index a local HDF5 (``.nwb``) file into an Icechunk repository; no data are copied.

    Parameters
    ----------
    source : str or os.PathLike
        Local path of the HDF5 file. Chunks are referenced by the ``file://`` URL of its
        absolute path: the file must stay where it is, unchanged.
    repo_dir : str or os.PathLike
        Directory of the repository (see :func:`write_icechunk`).
    if_exists : {"error", "commit"}, default "error"
        Behaviour for an existing non-empty ``repo_dir`` (see :func:`write_icechunk`).
    branch : str, default "main"
        Branch to commit to.
    message : str, optional
        Commit message.
    max_chunk_bytes : int, optional
        Largest piece (bytes) a contiguous dataset is cut into; default of
        :func:`~nwbzarr.formats.hdf5.index.index_hdf5`.

    Returns
    -------
    str
        The id of the snapshot written.

    Raises
    ------
    StoreNotFoundError
        If ``source`` does not exist.
    IcechunkError
        If ``source`` is a URL (index a local copy) or Icechunk refuses a key.
    HDF5IndexError, UnsupportedCodecError
        If the file cannot be indexed (names the dataset); nothing is written.
    StoreExistsError, IcechunkUnavailableError
        As for :func:`write_icechunk`.

    Notes
    -----
    Source: Icechunk documentation, "Virtual datasets", https://icechunk.io/.
    """
    refset = index_local(source, max_chunk_bytes=max_chunk_bytes)
    return write_icechunk(refset, repo_dir, if_exists=if_exists, branch=branch, message=message)


def index_local(
    source: str | os.PathLike[str], *, max_chunk_bytes: int | None = None
) -> ReferenceSet:
    """The reference set of a local HDF5 file, refusing URLs and missing files first.

    Parameters
    ----------
    source : str or os.PathLike
        Local path of the HDF5 file.
    max_chunk_bytes : int, optional
        Passed to :func:`~nwbzarr.formats.hdf5.index.index_hdf5`.

    Returns
    -------
    ReferenceSet
        Byte ranges naming the file's absolute path.

    Raises
    ------
    IcechunkError
        If ``source`` is a URL.
    StoreNotFoundError
        If ``source`` is not an existing file.
    """
    text = os.fspath(source)
    if split_scheme(text)[0] is not None:
        raise IcechunkError(
            f"{text}: Icechunk repositories written by nwbzarr reference local files only; "
            "download the file and index the local copy"
        )
    if not os.path.isfile(text):
        raise StoreNotFoundError(f"{text}: no such file; check the path of the HDF5 file")
    kwargs = {} if max_chunk_bytes is None else {"max_chunk_bytes": int(max_chunk_bytes)}
    return index_hdf5(os.path.abspath(text), **kwargs)


def open_icechunk_repository(
    repo_dir: str | os.PathLike[str], *, policy: AccessPolicy | None = None
) -> _icechunk_module.Repository:
    """Open a local Icechunk repository with its ``file://`` virtual chunk containers authorized.

    Parameters
    ----------
    repo_dir : str or os.PathLike
        Directory of the repository.
    policy : AccessPolicy, optional
        Which local directories virtual chunks may be read from. Default
        ``AccessPolicy()``: the directory holding ``repo_dir``, the ``NWBZARR_ALLOWED_ROOTS``
        environment variable's roots, and nothing else (as for a reference JSON,
        docs/storage.md §12). Pass ``AccessPolicy(allow_local=[DIR])`` for a ``.nwb`` kept
        elsewhere.

    Returns
    -------
    icechunk.Repository
        Open sessions on it with ``repo.readonly_session("main")``,
        ``repo.readonly_session(snapshot_id=...)`` or ``repo.writable_session("main")``;
        ``session.store`` is the zarr store ``nwbzarr.NWBZarrIO`` opens.

    Raises
    ------
    StoreNotFoundError
        If ``repo_dir`` is not an existing Icechunk repository.
    UntrustedReferenceError
        If a ``file://`` container of the repository lies outside the local roots ``policy``
        allows; the message names the container and the setting that allows it.
    IcechunkUnavailableError
        If the ``icechunk`` package is not installed.

    Notes
    -----
    Containers with other URL schemes (``s3://``, ``https://``) are not authorized here;
    open such a repository with ``icechunk.Repository.open`` and the credentials they need.
    Source: Icechunk documentation, "Virtual datasets", https://icechunk.io/.
    """
    ic = _icechunk()
    path = os.path.abspath(os.fspath(repo_dir))
    if not os.path.isdir(path):  # icechunk would create the directory
        raise StoreNotFoundError(f"{path}: no such Icechunk repository; check the path")
    storage = ic.local_filesystem_storage(path)
    if not ic.Repository.exists(storage):
        raise StoreNotFoundError(
            f"{path}: not an Icechunk repository; write one with 'nwbzarr index SRC --icechunk DIR'"
        )
    config = ic.Repository.fetch_config(storage)
    prefixes = list(((config.virtual_chunk_containers or {}) if config else {}).keys())
    check = (policy or AccessPolicy()).checker(path)
    local = []
    for prefix in prefixes:
        if split_scheme(prefix)[0] is None:  # file://
            check(f"virtual chunk container {prefix!r}", prefix)
            local.append(prefix)
    return ic.Repository.open(storage, authorize_virtual_chunk_access=_authorize(ic, local))


# -- helpers -----------------------------------------------------------------------------------
def _virtual_sources(refset: ReferenceSet, repo: Path) -> tuple[str, ...]:
    """Absolute local paths named by the set's byte ranges (refusing URLs and whole files)."""
    seen: dict[str, None] = {}
    for key, value in refset.refs.items():
        if not isinstance(value, ByteRange):
            continue
        scheme, local = split_scheme(value.url)
        if scheme is not None or not os.path.isabs(local):
            raise IcechunkError(
                f"{repo}: key {key!r} refers to {value.url!r}; only byte ranges of local files "
                "(absolute paths) can be stored as virtual chunks. Index a local copy without "
                "--url"
            )
        if value.length < 0:
            raise IcechunkError(
                f"{repo}: key {key!r} refers to the whole file {value.url!r}; a virtual chunk "
                "needs an offset and a length"
            )
        if local not in seen:
            _check_url_safe(local, f"the file referenced by {key!r}")
            seen[local] = None
    return tuple(seen)


def _declare(ic: Any, config: Any, prefixes: Iterable[str]) -> None:
    for prefix in prefixes:
        directory = split_scheme(prefix)[1].rstrip("/") or "/"
        config.set_virtual_chunk_container(
            ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(directory))
        )


def _authorize(ic: Any, prefixes: Iterable[str]) -> Any:
    access = {prefix: _local_access(ic) for prefix in prefixes}
    return ic.containers_credentials(access) if access else None


def _checksums(sources: Iterable[str]) -> dict[str, datetime]:
    """Per file: a time after its last modification (Icechunk refuses a virtual chunk whose
    object was modified after its checksum time). Whole seconds, rounded up."""
    out = {}
    for src in sources:
        mtime = os.stat(src).st_mtime
        out[src] = datetime.fromtimestamp(int(mtime) + 1, tz=UTC)
    return out


def _fill(store: Any, refset: ReferenceSet, repo: Path, sources: tuple[str, ...]) -> None:
    """Metadata first (parents before children), then inline chunks, then virtual refs."""
    make = default_buffer_prototype().buffer.from_bytes
    checksums = _checksums(sources)  # before anything is written
    meta = sorted(
        (k for k in refset.refs if k == _ROOT or k.endswith("/" + _ROOT)),
        key=lambda k: (k.count("/"), k),
    )
    if _ROOT not in refset.refs:
        raise IcechunkError(f"{repo}: the reference set has no root zarr.json; nothing written")
    documents = set(meta)
    inline = [
        (k, v)
        for k, v in refset.refs.items()
        if isinstance(v, (bytes, bytearray, memoryview)) and k not in documents
    ]

    async def put_all() -> None:
        for key in meta:
            value = refset.refs[key]
            if isinstance(value, ByteRange):
                raise IcechunkError(f"{repo}: metadata document {key!r} is a byte range")
            if key == _ROOT:
                value = _without_consolidated(bytes(value))
            await store.set(key, make(bytes(value)))
        await asyncio.gather(*(store.set(k, make(bytes(v))) for k, v in inline))

    try:
        sync(put_all())
        for key, value in refset.refs.items():
            if isinstance(value, ByteRange):
                store.set_virtual_ref(
                    key,
                    _file_url(value.url),
                    offset=value.offset,
                    length=value.length,
                    checksum=checksums[value.url],
                )
    except IcechunkError:
        raise
    except Exception as exc:
        if type(exc).__name__ != "IcechunkError" and not isinstance(exc, ValueError):
            raise
        raise IcechunkError(
            f"{repo}: Icechunk refused the reference set ({exc}); nothing was committed"
        ) from exc


def _without_consolidated(document: bytes) -> bytes:
    meta = json.loads(document)
    if isinstance(meta, dict) and "consolidated_metadata" in meta:
        meta.pop("consolidated_metadata")
        return json.dumps(meta, separators=(",", ":")).encode()
    return document


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nwbzarr")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"
