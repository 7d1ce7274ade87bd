"""StagingStore: a writable zarr store layered over a read-only reference set.

Amending an HDF5 file or a reference JSON never writes to it. Every ``set`` lands in an
overlay instead:

* metadata documents (``zarr.json``) and values of at most ``inline_bytes`` bytes stay in
  memory and are written inline in the saved JSON;
* larger values (chunks and shards of new or changed arrays) are written once to the
  *staging directory*, as a file named by the SHA-256 of its bytes (content-addressed, so an
  unchanged value written twice is one file), and referenced as ``[file, 0, length]``.

Keys never written keep their original reference (a byte range of the ``.nwb`` file or an
inline value), so a saved amendment is the original references plus the overlay.
:func:`save_staged` writes that as a reference JSON (docs/storage.md §15).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from zarr.abc.store import ByteRequest, Store

from ..compat import (
    Buffer,
    BufferPrototype,
    StoreCompat,
    default_buffer_prototype,
    read_only_store_error,
)
from ..errors import ReadOnlyError, ReferenceFileError
from ..formats.kerchunk.references import METADATA_NAMES, save_references
from ..storage.byte_ranges import narrow_byte_range, slice_bytes
from ..storage.manifest import ByteRange, ReferenceSet
from ..storage.range_spans import pread_range
from ..storage.resolve import checked_pipeline_installed, restore_checked_pipeline
from .store import ReferenceStore

__all__ = ["StagingStore", "save_staged", "staging_directory_for", "DEFAULT_INLINE_BYTES"]

DEFAULT_INLINE_BYTES = 4096
"""Values of at most this many bytes are kept inline in the JSON instead of staged files."""

STAGING_SUFFIX = ".staging"


class StagingStore(StoreCompat, Store):
    """Writable zarr store: writes go to an overlay, reads fall back to a reference set.

    Parameters
    ----------
    base : ReferenceStore
        The original references (an HDF5 file's index or a loaded reference JSON in the
        unified Zarr v3 convention). Never modified.
    directory : str or os.PathLike, optional
        Staging directory for values larger than ``inline_bytes`` (created if missing, never
        emptied by this class). Default: a new temporary directory, removed when the store is
        discarded; :func:`save_staged` copies the files a saved JSON needs next to it.
    inline_bytes : int
        Largest value (bytes) kept inline in memory and in the saved JSON.
    read_only : bool
        Refuse writes (zarr's ``Store.open(..., read_only=True)``): a view of ``base`` and
        ``directory`` that :meth:`with_read_only` turns writable.

    Raises
    ------
    ReadOnlyError
        ``base`` holds Zarr v2 references (LINDI, kerchunk): those are amended after
        converting them (``nwbzarr convert``).

    Notes
    -----
    Discarding a store that has changes never saved by :func:`save_staged` warns
    (``UserWarning``), so a forgotten ``save`` does not lose work silently.

    A pickled store unpickles as a read-only snapshot of its current state (dask workers
    read the amended view; writes and saves stay with the original): see :meth:`__getstate__`.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_partial_writes: bool = False
    supports_listing: bool = True

    def __init__(
        self,
        base: ReferenceStore,
        directory: str | os.PathLike[str] | None = None,
        inline_bytes: int = DEFAULT_INLINE_BYTES,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(read_only=read_only)
        self._snapshot = False
        if base.refset.zarr_format != 3:
            raise ReadOnlyError(
                f"{base.refset.location or 'reference set'}: Zarr v2 references "
                f"({base.refset.dialect}) cannot be amended in place; convert them first "
                "('nwbzarr convert SRC OUT.nwb.zarr') and amend the store"
            )
        self.base = base
        self.inline_bytes = int(inline_bytes)
        self._owns_directory = directory is None
        if directory is None:
            directory = tempfile.mkdtemp(prefix="nwbzarr-staging-")
        self.directory = os.path.abspath(os.fspath(directory))
        self._overlay: dict[str, bytes | ByteRange] = {}
        self._deleted: set[str] = set()
        # shared with the finalizer (which must not hold the store itself)
        self._state = {"changes": 0, "saved_at": 0, "what": _describe(base.refset)}
        self._finalizer = weakref.finalize(
            self, _discard, self._state, self.directory if self._owns_directory else None
        )

    # ------------------------------------------------------------------------- identity

    def __eq__(self, other: object) -> bool:
        """Equal stores serve the same amended view: the same original references, staging
        directory and staged changes (a pickled snapshot equals its original)."""
        return other is self or (
            isinstance(other, StagingStore)
            and other.base == self.base
            and other.directory == self.directory
            and other._overlay == self._overlay
            and other._deleted == self._deleted
        )

    def __hash__(self) -> int:
        return hash((StagingStore, self.directory))

    def __repr__(self) -> str:
        return (
            f"StagingStore({self._state['what']!r}, {len(self._overlay)} staged keys, "
            f"{len(self._deleted)} deleted, directory={self.directory!r})"
        )

    # ------------------------------------------------------------------------- pickling

    def __getstate__(self) -> dict[str, Any]:
        """A read-only snapshot: the original references and the overlay as they are now.

        The unpickled copy (e.g. in a dask worker) reads every value this store serves at the
        time of pickling (inline values from memory, staged files from :attr:`directory`) and
        refuses writes (:class:`~nwbzarr.errors.ReadOnlyError`): staged changes are saved by
        the original store only. It neither owns nor removes the staging directory, so it
        reads staged files for as long as the original store keeps them.

        Returns
        -------
        dict
        """
        return {
            "checked_pipeline": checked_pipeline_installed(),
            "base": self.base,
            "inline_bytes": self.inline_bytes,
            "directory": self.directory,
            "overlay": dict(self._overlay),
            "deleted": set(self._deleted),
            "what": self._state["what"],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Become the read-only snapshot pickled by :meth:`__getstate__`.

        Parameters
        ----------
        state : dict
            What :meth:`__getstate__` returned.
        """
        restore_checked_pipeline(state.get("checked_pipeline", False))
        Store.__init__(self, read_only=True)
        self._snapshot = True
        self.base = state["base"]
        self.inline_bytes = int(state["inline_bytes"])
        self.directory = state["directory"]
        self._owns_directory = False
        self._overlay = state["overlay"]
        self._deleted = state["deleted"]
        self._state = {"changes": 0, "saved_at": 0, "what": state["what"]}
        self._finalizer = None

    def _check_writable(self) -> None:
        if not self.read_only:
            return
        if self._snapshot:
            raise read_only_store_error(
                f"{self._state['what']}: this StagingStore is a read-only snapshot (an "
                "unpickled copy, e.g. in a dask worker); write through the original store in "
                "the process that opened the file, and save it there"
            )
        raise read_only_store_error(
            f"{self._state['what']}: this StagingStore was opened read-only; "
            "with_read_only(False) gives a writable one"
        )

    @property
    def unsaved_changes(self) -> int:
        """Number of writes and deletes since the last :func:`save_staged` (0: all saved)."""
        return self._state["changes"] - self._state["saved_at"]

    @property
    def staged_keys(self) -> list[str]:
        """Keys written since opening (inline or staged files), sorted."""
        return sorted(self._overlay)

    def with_read_only(self, read_only: bool = False) -> Store:
        """A read-only view of the current state, or a writable store.

        Parameters
        ----------
        read_only : bool
            True: a :class:`ReferenceStore` of the current state. False: the store itself
            if writable; for a store opened read-only, a writable one over the same original
            references and staging directory, with the current staged changes.

        Returns
        -------
        zarr.abc.store.Store

        Raises
        ------
        ReadOnlyError
            ``read_only=False`` on an unpickled snapshot (also a ``ValueError``).
        """
        if read_only:
            return ReferenceStore(self.reference_set(), reader=self.base._reader)
        if not self.read_only:
            return self
        if self._snapshot:
            self._check_writable()
        writer = StagingStore(self.base, self.directory, self.inline_bytes)
        writer._overlay = dict(self._overlay)
        writer._deleted = set(self._deleted)
        return writer

    # ------------------------------------------------------------------------- reading

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Return the bytes of ``key`` (staged value first, else the original), or None.

        Raises
        ------
        RemoteReadError
            An original byte range could not be read.
        FileNotFoundError
            A staged file was removed from the staging directory.
        """
        if prototype is None:
            prototype = default_buffer_prototype()
        value = self._overlay.get(key)
        if value is None:
            if key in self._deleted:
                return None
            return await self.base.get(key, prototype, byte_range)
        if isinstance(value, ByteRange):
            ref, _ = narrow_byte_range(value, byte_range)
            data = await asyncio.to_thread(pread_range, ref.url, ref.offset, ref.length, False)
            return prototype.buffer.from_bytes(data)
        return prototype.buffer.from_bytes(slice_bytes(value, byte_range))

    get_partial_values = ReferenceStore.get_partial_values

    async def exists(self, key: str) -> bool:
        """Return True if ``key`` has a value (staged or original, not deleted)."""
        if key in self._overlay:
            return True
        return key not in self._deleted and key in self.base.refset.refs

    async def getsize(self, key: str) -> int:
        """Size of the value of ``key`` in bytes.

        Raises
        ------
        FileNotFoundError
            ``key`` is not in the store.
        """
        value = self._overlay.get(key)
        if value is None:
            if key in self._deleted:
                raise FileNotFoundError(key)
            return await self.base.getsize(key)
        return value.length if isinstance(value, ByteRange) else len(value)

    # ------------------------------------------------------------------------- writing

    async def set(self, key: str, value: Buffer) -> None:
        """Stage ``value`` under ``key``: inline if small or metadata, else a staged file.

        Raises
        ------
        OSError
            The staging directory cannot be written.
        ReadOnlyError
            The store is an unpickled, read-only snapshot.
        """
        self._check_writable()
        data = memoryview(value.as_buffer_like()).cast("B")  # no copy: a shard may be ~100 MB
        if len(data) <= self.inline_bytes or key.rpartition("/")[2] in METADATA_NAMES:
            entry: bytes | ByteRange = bytes(data)
        else:
            entry = await asyncio.to_thread(self._write_blob, data)
        current = self._overlay.get(key)
        if current is None and key not in self._deleted:
            current = self.base.refset.refs.get(key)
        if current == entry:
            return  # the same bytes again (e.g. unchanged consolidated metadata)
        self._overlay[key] = entry
        self._deleted.discard(key)
        self._state["changes"] += 1

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Stage ``value`` unless ``key`` already has a value."""
        if not await self.exists(key):
            await self.set(key, value)

    async def delete(self, key: str) -> None:
        """Remove ``key`` from the amended view (the original file is untouched).

        Raises
        ------
        ReadOnlyError
            The store is an unpickled, read-only snapshot.
        """
        self._check_writable()
        self._overlay.pop(key, None)
        if key in self.base.refset.refs:
            self._deleted.add(key)
        self._state["changes"] += 1

    async def delete_dir(self, prefix: str) -> None:
        """Remove every key under ``prefix`` from the amended view."""
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        for key in [k async for k in self.list_prefix(prefix)]:
            await self.delete(key)

    def _write_blob(self, data: bytes | memoryview) -> ByteRange:
        """Write ``data`` to the staging directory under its SHA-256 (once) and reference it."""
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.directory, digest)
        if not (os.path.isfile(path) and os.path.getsize(path) == len(data)):
            os.makedirs(self.directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{digest}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                _unlink(tmp)
                raise
        return ByteRange(path, 0, len(data))

    # ------------------------------------------------------------------------- listing

    def _live_base_keys(self, prefix: str) -> Iterable[str]:
        keys = self.base._sorted_keys
        for i in range(bisect.bisect_left(keys, prefix), len(keys)):
            key = keys[i]
            if not key.startswith(prefix):
                break
            if key not in self._deleted:
                yield key

    async def list(self) -> AsyncIterator[str]:
        """Yield every key of the amended view."""
        for key in self.base.refset.refs:
            if key not in self._deleted and key not in self._overlay:
                yield key
        for key in list(self._overlay):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Yield every key starting with ``prefix``."""
        staged = sorted(k for k in self._overlay if k.startswith(prefix))
        for key in self._live_base_keys(prefix):
            if key not in self._overlay:
                yield key
        for key in staged:
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Yield the names directly under ``prefix`` (keys and sub-directories)."""
        prefix = prefix.strip("/")
        start = prefix + "/" if prefix else ""
        names: dict[str, None] = {}
        for name in self.base._children.get(prefix, ()):
            full = start + name
            if full in self._deleted and full not in self._overlay:
                continue
            if full in self.base.refset.refs or full in self._overlay:
                names[name] = None
            elif not self._deleted or next(iter(self._live_base_keys(full + "/")), None):
                names[name] = None
        for key in self._overlay:
            if key.startswith(start):
                names[key[len(start) :].split("/", 1)[0]] = None
        for name in names:
            yield name

    # ------------------------------------------------------------------------- result

    def reference_set(self) -> ReferenceSet:
        """The amended view as a reference set: original references plus staged values.

        Returns
        -------
        ReferenceSet
            Zarr v3 keys; staged files appear as byte ranges of files in :attr:`directory`;
            ``location`` is that of the original references.
        """
        refs = {k: v for k, v in self.base.refset.refs.items() if k not in self._deleted}
        refs.update(self._overlay)
        base = self.base.refset
        return ReferenceSet(refs, zarr_format=3, dialect="nwbzarr", location=base.location)

    def mark_saved(self) -> None:
        """Record that every change so far has been saved (silences the discard warning)."""
        self._state["saved_at"] = self._state["changes"]

    def close(self) -> None:
        """Close the original references' reader; staged values stay available for saving."""
        self.base.close()
        super().close()


def _discard(state: dict, owned_directory: str | None) -> None:
    """Finalizer of a StagingStore: warn about unsaved changes, remove a temporary directory."""
    unsaved = state["changes"] - state["saved_at"]
    if unsaved:
        warnings.warn(
            f"{state['what']}: {unsaved} staged change(s) were discarded without being saved; "
            "call io.save(PATH) (or nwbzarr.save_refs) before letting the file object go",
            UserWarning,
            stacklevel=2,
        )
    if owned_directory is not None:
        shutil.rmtree(owned_directory, ignore_errors=True)


def staging_directory_for(path: str | os.PathLike[str]) -> str:
    """Directory that holds the staged files of the reference JSON at ``path``.

    ``amended.nwb.json`` -> ``amended.nwb.staging`` in the same directory.
    """
    path = os.path.abspath(os.fspath(path))
    stem = path[: -len(".json")] if path.lower().endswith(".json") else path
    return stem + STAGING_SUFFIX


def save_staged(
    store: StagingStore,
    path: str | os.PathLike[str],
    *,
    url: str | Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Write the amended view of ``store`` as a reference JSON at ``path``.

    Staged files that do not already lie under the JSON's directory are linked (or copied)
    into the directory named by :func:`staging_directory_for`, so the JSON and its staged
    files can move together and the default access policy admits them.

    Parameters
    ----------
    store : StagingStore
        The amended store.
    path : str or os.PathLike
        JSON file to write (atomically). Must not be the original JSON or HDF5 file.
    url : str or mapping of str to str, optional
        Location to record for the original file(s) (see
        :func:`~nwbzarr.formats.kerchunk.references.save_references`), e.g. the public URL of an
        indexed
        local copy. Staged files are never replaced.

    Returns
    -------
    dict of str to int
        ``staged_files`` (files the JSON names in its staging directory), ``staged_bytes``,
        ``inline_bytes`` (bytes of values held in the JSON) and ``original_refs`` (byte
        ranges of the original files kept as they were).

    Raises
    ------
    ReferenceFileError
        ``path`` is the original file.
    OSError
        The JSON or the staged files cannot be written; a JSON is only written once all the
        staged files it names are in place.
    """
    path = os.path.abspath(os.fspath(path))
    refset = store.reference_set()
    original = refset.location
    sources = {v.url for v in store.base.refset.refs.values() if isinstance(v, ByteRange)}
    if original is not None:
        sources.add(original)
    if any(_same_file(path, s) for s in sources):
        raise ReferenceFileError(
            f"{path}: is the original file; an amendment never modifies it. Save to a new path"
        )
    json_dir = os.path.dirname(path)
    moved = _place_staged_files(store, refset, json_dir, staging_directory_for(path))
    save_references(refset, path, url=url)
    store.mark_saved()
    staged = {v.url for v in refset.refs.values() if isinstance(v, ByteRange) and v.url in moved}
    return {
        "staged_files": len(staged),
        "staged_bytes": sum(os.path.getsize(u) for u in staged),
        "inline_bytes": sum(len(v) for v in refset.refs.values() if isinstance(v, bytes)),
        "original_refs": sum(
            1 for v in refset.refs.values() if isinstance(v, ByteRange) and v.url not in moved
        ),
    }


def _place_staged_files(
    store: StagingStore, refset: ReferenceSet, json_dir: str, target: str
) -> set[str]:
    """Make every staged file the JSON names lie under ``json_dir``; rewrite ``refset``.

    Returns the set of staged file paths as named by the rewritten references.
    """
    staging = store.directory
    # a temporary staging directory is removed with the store: never name files inside it
    under_json = not store._owns_directory and _is_under(staging, json_dir)
    placed: set[str] = set()
    renamed: dict[str, str] = {}
    for key, value in refset.refs.items():
        if not isinstance(value, ByteRange) or os.path.dirname(value.url) != staging:
            continue
        if under_json:
            placed.add(value.url)
            continue
        dest = renamed.get(value.url)
        if dest is None:
            dest = os.path.join(target, os.path.basename(value.url))
            if not (os.path.isfile(dest) and os.path.getsize(dest) == os.path.getsize(value.url)):
                os.makedirs(target, exist_ok=True)
                _link_or_copy(value.url, dest)
            renamed[value.url] = dest
            placed.add(dest)
        refset.refs[key] = ByteRange(dest, value.offset, value.length)
    return placed


def _link_or_copy(src: str, dest: str) -> None:
    tmp = f"{dest}.{os.getpid()}.tmp"
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def _is_under(path: str, directory: str) -> bool:
    try:
        real, top = os.path.realpath(path), os.path.realpath(directory)
        return os.path.commonpath([real, top]) == top
    except ValueError:
        return False


def _same_file(path: str, other: str) -> bool:
    if "://" in other and not other.startswith("file://"):
        return False
    other = other.removeprefix("file://")
    try:
        return os.path.exists(other) and os.path.samefile(path, other)
    except OSError:
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _describe(refset: ReferenceSet) -> str:
    """The original file a reference set stands for (for messages)."""
    if refset.location:
        return refset.location
    urls = refset.sources or tuple(
        dict.fromkeys(v.url for v in refset.refs.values() if isinstance(v, ByteRange))
    )
    return urls[0] if urls else "reference set in memory"
