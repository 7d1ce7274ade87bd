"""Crash-safe, snapshot-isolated changes to an existing local store (append mode).

An append (``mode="a"``/``"r+"`` on a local Zarr store) must never leave a store that does not
open, and readers opening the store while it runs must see the last committed state. The
design (``docs/storage.md`` §7):

* **The root ``zarr.json`` is the commit record.** It holds the consolidated metadata that mode
  ``"r"`` reads, so it alone decides which nodes, shapes and attributes a reader sees. During an
  append, writes of the root ``zarr.json`` are held in memory by :class:`JournaledStore`; the
  new root is written once, atomically (temporary file + ``os.replace``), by
  :meth:`JournaledStore.commit`.
* **Every other key is written atomically**, and before a key that existed is replaced or
  deleted, its file is kept under ``.nwbzarr-journal/backup/<key>`` (a hard link, or a rename
  for a delete: no bytes are copied). A key created by the append is logged before it is
  written. The log and the backups are the undo journal.
* **Readers see the committed bytes.** :func:`committed_path` gives the backup of a key when one
  exists, so a reader (:class:`nwbzarr.storage.inline_reads.InlineReadStore`) opening the store
  during an append reads each replaced file as it was committed; keys the append created lie
  outside the committed metadata and are never asked for.
* **Commit.** The log gets a commit line and the journal a ``commit`` file with the new
  root's SHA-256, the root is written, the journal is removed. A reader takes a backup only
  while the root it opened is not the one the journal commits.
* **Recovery.** A journal left by a killed process is found by the next writable open
  (:func:`recover`): if its commit line names the root now on disk, the append had committed and
  the journal is dropped; otherwise every backup is put back, every created key is removed
  (with the whole directory of a node the append created) and the journal is dropped. A failed
  append in a live process is rolled back the same way (:meth:`JournaledStore.rollback`).

The journal protects against the death of the process (``SIGKILL``, an exception, a crash);
files are not ``fsync``-ed, so after a power loss the file system's own ordering applies.
Only one process may write a store at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from zarr.abc.store import ByteRequest, Store
from zarr.storage import LocalStore, WrapperStore

from ..compat import Buffer, BufferPrototype, WrapperStoreCompat, default_buffer_prototype
from ..errors import AppendError
from .byte_ranges import slice_bytes
from .inline_reads import (
    BACKUP_DIR,
    COMMIT_FILE,
    JOURNAL_DIR,
    ROOT_KEY,
    InlineReadStore,
    committed_path,
    digest,
)
from .resolve import checked_pipeline_installed, restore_checked_pipeline

__all__ = [
    "JOURNAL_DIR",
    "JournaledStore",
    "committed_path",
    "committed_view",
    "has_journal",
    "recover",
    "collect_garbage",
    "atomic_write_bytes",
]

#: Infix of temporary files written next to their final name.
TMP_INFIX = ".nwbzarr-tmp-"
#: Store-level list of keys no committed metadata reaches any more (old chunks of a rewritten
#: array), kept for readers that opened an older root and removed by the next writable open.
GARBAGE_FILE = ".nwbzarr-garbage"
#: Seconds old chunks of a rewritten array are kept for readers of an older root.
GARBAGE_GRACE = 60.0
_LOG = "log"
_GARBAGE = "garbage"


def atomic_write_bytes(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``.

    Parameters
    ----------
    path : str or os.PathLike
        Final file path; its parent directories are created.
    data : bytes-like
        The content.

    Raises
    ------
    OSError
        If the file cannot be written; no temporary file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TMP_INFIX}{uuid.uuid4().hex[:12]}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def committed_view(root: str | os.PathLike[str], checked_pipeline: bool = False) -> Store:
    """The read-only store of the committed content of the local store at ``root``.

    What a :class:`JournaledStore` unpickles as: an
    :class:`~nwbzarr.storage.inline_reads.InlineReadStore` over a read-only ``LocalStore``,
    which reads a key an append has replaced from the journal's backup until it commits.

    Parameters
    ----------
    root : str or os.PathLike
        The store directory.
    checked_pipeline : bool
        Install nwbzarr's checked codec pipeline first (the pickling process had it, see
        :func:`nwbzarr.storage.resolve.checked_pipeline_installed`).

    Returns
    -------
    zarr.abc.store.Store
    """
    restore_checked_pipeline(checked_pipeline)
    return InlineReadStore(LocalStore(os.fspath(root), read_only=True))


def has_journal(root: str | os.PathLike[str]) -> bool:
    """True if the store directory ``root`` holds an append journal (an unfinished append)."""
    return os.path.isdir(os.path.join(root, JOURNAL_DIR))


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{key!r} is not a store key")
    if parts[0].startswith(JOURNAL_DIR):
        raise ValueError(f"{key!r} lies in the append journal")
    return key


def _sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return digest(f.read())
    except FileNotFoundError:
        return None


def _read_log(journal: str) -> tuple[list[str], list[str], str | None]:
    """``(backed_up, created, commit_hash)`` recorded in a journal's log, in order."""
    backed, created, commit = [], [], None
    try:
        with open(os.path.join(journal, _LOG), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return backed, created, commit
    for line in lines:
        op, _, arg = line.partition("\t")
        if op == "G":
            continue
        if op == "B":
            backed.append(arg)
        elif op == "N":
            created.append(arg)
        elif op == "C":
            commit = arg
    return backed, created, commit


def _remove_temporaries(directory: str) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for name in os.listdir(directory):
            if TMP_INFIX in name:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.remove(os.path.join(directory, name))


def _undo(root: str, journal: str, backed: list[str], created: list[str]) -> None:
    """Put back every backup and remove every created key (and new nodes' directories)."""
    for key in created:
        if key in backed:
            continue
        path = os.path.join(root, key)
        parent = os.path.dirname(path)
        if key.endswith("/" + ROOT_KEY) and os.path.isdir(parent):
            shutil.rmtree(parent, ignore_errors=True)  # a node the append created: all of it
        else:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.remove(path)
        _remove_temporaries(parent)
    for key in reversed(backed):
        backup = os.path.join(journal, BACKUP_DIR, key)
        path = os.path.join(root, key)
        if os.path.lexists(backup):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(backup, path)
        _remove_temporaries(os.path.dirname(path))
    for key in created:  # directories the append made, now empty
        _remove_empty_parents(root, key)
    _remove_temporaries(root)


def _remove_empty_parents(root: str, key: str) -> None:
    """Remove the directories above ``key`` that are empty, up to (not including) ``root``."""
    parent = os.path.dirname(os.path.join(root, key))
    while os.path.abspath(parent) != os.path.abspath(root):
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = os.path.dirname(parent)


def recover(root: str | os.PathLike[str]) -> str | None:
    """Finish or undo an append a killed process left in the store directory ``root``.

    Parameters
    ----------
    root : str or os.PathLike
        The store directory.

    Returns
    -------
    str or None
        ``"committed"`` if the append had written its root (the journal is only dropped),
        ``"rolled back"`` if its changes were undone, None if there was no journal.

    Raises
    ------
    OSError
        If a backup cannot be put back (the journal is then kept, so a later open retries).
    """
    root = os.fspath(root)
    journal = os.path.join(root, JOURNAL_DIR)
    if not os.path.isdir(journal):
        return None
    backed, created, commit = _read_log(journal)
    if commit is not None and _sha256_file(os.path.join(root, ROOT_KEY)) == commit:
        outcome = "committed"
        _carry_garbage(root, journal)
    else:
        _undo(root, journal, backed, created)
        outcome = "rolled back"
    shutil.rmtree(journal)
    _remove_temporaries(root)
    return outcome


def _carry_garbage(root: str, journal: str) -> None:
    """Add the keys a committed append left unreachable to the store's garbage list."""
    try:
        with open(os.path.join(journal, _GARBAGE), encoding="utf-8") as f:
            keys = [k for k in f.read().split("\n") if k]
    except FileNotFoundError:
        return
    path = os.path.join(root, GARBAGE_FILE)
    old = ""
    with contextlib.suppress(FileNotFoundError):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    now = f"{time.time():.3f}"
    atomic_write_bytes(path, (old + "".join(f"{now}\t{k}\n" for k in keys)).encode())


def collect_garbage(root: str | os.PathLike[str], grace: float = GARBAGE_GRACE) -> int:
    """Remove the keys earlier appends left unreachable at least ``grace`` seconds ago
    (called by a writable open, after :func:`recover`, before anything is written).

    Parameters
    ----------
    root : str or os.PathLike
        The store directory.
    grace : float
        Seconds a reader of an older root may keep reading the old chunks of an array an
        append rewrote; younger garbage is kept for a later open.

    Returns
    -------
    int
        How many files were removed.
    """
    root = os.fspath(root)
    path = os.path.join(root, GARBAGE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().split("\n") if ln]
    except FileNotFoundError:
        return 0
    removed, kept, now = 0, [], time.time()
    for line in lines:
        stamp, _, key = line.partition("\t")
        try:
            _check_key(key)
            young = now - float(stamp) < grace
        except ValueError:
            continue  # never follow a garbage list out of the store
        if young:
            kept.append(line)
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            os.remove(os.path.join(root, key))
            removed += 1
        _remove_empty_parents(root, key)
    if kept:
        atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode())
    else:
        os.remove(path)
    return removed


def _listed(key: str) -> bool:
    """True for a key of the hierarchy, False for the journal's own files."""
    return not key.startswith((JOURNAL_DIR, GARBAGE_FILE)) and TMP_INFIX not in key


class JournaledStore(WrapperStoreCompat, WrapperStore):
    """A local store written through an undo journal; the root ``zarr.json`` held until commit.

    Parameters
    ----------
    store : zarr.storage.LocalStore
        The writable store of an existing, committed Zarr hierarchy. Call :func:`recover` on
        its directory first.

    Notes
    -----
    See the module docstring for the design. Only one process may write through this wrapper:
    a pickled one unpickles as a read-only view of the committed content
    (:func:`committed_view`), and pickling during an append is refused (``AppendError``).
    """

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)
        self._dir = os.fspath(store.root)
        self._journal = os.path.join(self._dir, JOURNAL_DIR)
        self._log: Any = None
        self._held_root: bytes | None = None
        self._backed: set[str] = set()
        self._created: set[str] = set()
        self._retained: list[str] = []
        self.changed = False

    def _with_store(self, store: LocalStore) -> JournaledStore:  # pragma: no cover - zarr API
        return type(self)(store)

    def with_read_only(self, read_only: bool = False) -> JournaledStore:
        """The same store directory, read-only or not (zarr's ``Store.with_read_only``).

        zarr-python >= 3.1.6 gives every ``WrapperStore`` this method; 3.1.5 does not, and
        ``zarr.open_group(store, mode="r")`` needs it on a writable store.

        Parameters
        ----------
        read_only : bool
            Whether the copy refuses writes.
        """
        return type(self)(self._store.with_read_only(read_only))

    # -- pickling (dask workers) ---------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the committed, read-only view of the store (for readers elsewhere).

        A copy in another process must neither write (only one process writes a store) nor
        see an append that may still be rolled back: outside an append the store pickles as
        the reader mode ``"r"`` uses (:class:`~nwbzarr.storage.inline_reads.InlineReadStore`
        over a read-only ``LocalStore``), which reads the committed bytes even while a later
        append runs.

        Returns
        -------
        tuple
            ``(committed_view, (directory, checked_pipeline))``.

        Raises
        ------
        AppendError
            An append is in progress (changes made and not committed, or rolled back).
        """
        if self.changed or self._held_root is not None or self._log is not None or self._retained:
            pending = len(self._backed) + len(self._created) + (self._held_root is not None)
            raise AppendError(
                f"{self._dir}: cannot pickle the store in the middle of an append "
                f"({pending} uncommitted change(s)): a copy elsewhere could neither see nor "
                "undo them. Commit first (io.write(...) then io.close(), or leave the "
                "NWBZarrIO block), then pickle, or open the store read-only (mode 'r') for "
                "the workers"
            )
        return (committed_view, (self._dir, checked_pipeline_installed()))

    @property
    def root(self) -> Path:
        """The store directory."""
        return Path(self._dir)

    # -- journal -------------------------------------------------------------------------------
    def _note(self, op: str, key: str) -> None:
        if self._log is None:
            os.makedirs(os.path.join(self._journal, BACKUP_DIR), exist_ok=True)
            self._log = open(os.path.join(self._journal, _LOG), "a", encoding="utf-8")  # noqa: SIM115
        self._log.write(f"{op}\t{key}\n")
        self._log.flush()  # in the kernel before the data change: survives SIGKILL
        self.changed = True

    def _before_change(self, key: str, deleting: bool) -> bool:
        """Journal ``key`` before it changes; return whether its file exists."""
        path = os.path.join(self._dir, key)
        exists = os.path.isfile(path)
        if key in self._backed or key in self._created:
            return exists
        if exists:
            self._note("B", key)
            backup = os.path.join(self._journal, BACKUP_DIR, key)
            os.makedirs(os.path.dirname(backup), exist_ok=True)
            if deleting:
                os.replace(path, backup)
            else:
                os.link(path, backup)
            self._backed.add(key)
            return not deleting
        self._note("N", key)
        self._created.add(key)
        return False

    def _set_file(self, key: str, data: Any) -> None:
        self._before_change(key, deleting=False)
        atomic_write_bytes(os.path.join(self._dir, key), data)

    @contextlib.contextmanager
    def retaining(self, prefix: str) -> Iterator[None]:
        """Within the block, deletes of committed keys under ``prefix`` (other than its
        ``zarr.json``) keep the files: they are listed as garbage once the append commits,
        so a reader of the previous root still finds them (an array rewritten with another
        chunk key encoding, see :func:`nwbzarr.backend.grow.rewrite`).

        Parameters
        ----------
        prefix : str
            A node path (``units/spike_times_index``).
        """
        self._retained.append(prefix.strip("/") + "/")
        try:
            yield
        finally:
            self._retained.pop()

    def _retain(self, key: str) -> bool:
        if key.endswith("/" + ROOT_KEY) or key in self._created:
            return False
        if not any(key.startswith(p) for p in self._retained):
            return False
        if not os.path.isfile(os.path.join(self._dir, key)):
            return False
        if self._log is None:
            self._note("G", key)  # opens the journal
        with open(os.path.join(self._journal, _GARBAGE), "a", encoding="utf-8") as f:
            f.write(key + "\n")
        return True

    def _delete_file(self, key: str) -> None:
        if self._retain(key):
            return
        if self._before_change(key, deleting=True):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self._dir, key))

    # -- zarr Store API ------------------------------------------------------------------------
    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        if key == ROOT_KEY and self._held_root is not None:
            proto = prototype or default_buffer_prototype()
            return proto.buffer.from_bytes(slice_bytes(self._held_root, byte_range))
        return await self._store.get(key, prototype or default_buffer_prototype(), byte_range)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    async def exists(self, key: str) -> bool:
        if key == ROOT_KEY and self._held_root is not None:
            return True
        return await self._store.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        if key == ROOT_KEY:
            self._held_root = value.to_bytes()
            self.changed = True
            return
        _check_key(key)
        data = value.as_buffer_like()
        await asyncio.to_thread(self._set_file, key, data)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        if not await self.exists(key):
            await self.set(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        for key, value in values:  # each through the journal (zarr's wrapper passes them by)
            await self.set(key, value)

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:  # the held root included
            yield key, await self.get(key, prototype, byte_range)

    async def adopt_file(self, key: str, path: str) -> None:
        """Make the finished file ``path`` the value of ``key``, journaled as :meth:`set` is.

        The key is logged (created) or its committed file kept as a backup (replaced) first,
        exactly as for ``set``; then ``path`` is moved onto the key with ``os.replace``, so a
        rollback or :func:`recover` undoes it like any other write. Used for shards written
        to a temporary file by :class:`nwbzarr.backend.shard_writer.ShardStreamWriter`.

        Parameters
        ----------
        key : str
            Store key (not the root ``zarr.json``, nor in the journal).
        path : str
            A file in the store's directory tree (same file system); it is moved.

        Raises
        ------
        ValueError
            If ``key`` is the root ``zarr.json`` or not a store key, or the store is
            read-only.
        """
        self._check_writable()
        if key == ROOT_KEY:
            raise ValueError("the root zarr.json of a journaled store is written at commit")
        _check_key(key)
        await asyncio.to_thread(self._adopt_file, key, os.fspath(path))

    def _adopt_file(self, key: str, path: str) -> None:
        self._before_change(key, deleting=False)
        target = os.path.join(self._dir, key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(path, target)

    async def delete(self, key: str) -> None:
        self._check_writable()
        if key == ROOT_KEY:
            raise ValueError("the root zarr.json of a journaled store cannot be deleted")
        _check_key(key)
        await asyncio.to_thread(self._delete_file, key)

    async def delete_dir(self, prefix: str) -> None:
        self._check_writable()
        prefix = prefix.rstrip("/")
        keys = [k async for k in self._store.list_prefix(prefix + "/" if prefix else "")]
        for key in keys:
            if key == ROOT_KEY or key.startswith(JOURNAL_DIR):
                continue
            await self.delete(key)

    async def list(self) -> AsyncIterator[str]:
        async for key in self.list_prefix(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        held = self._held_root is not None and ROOT_KEY.startswith(prefix)
        async for key in self._store.list_prefix(prefix):
            if _listed(key):
                held = held and key != ROOT_KEY
                yield key
        if held:  # written at commit, listed from now on
            yield ROOT_KEY

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        held = self._held_root is not None and not prefix.strip("/")
        async for key in self._store.list_dir(prefix):
            if _listed(key):
                held = held and key != ROOT_KEY
                yield key
        if held:
            yield ROOT_KEY

    # -- commit / rollback ---------------------------------------------------------------------
    def commit(self) -> None:
        """Write the held root ``zarr.json`` (the commit point), then drop the journal.

        The log gets a commit line and the journal a :data:`COMMIT_FILE` naming the new root's
        SHA-256; then the root is written; then the journal is removed. A reader that opened
        the new root reads each file itself, one that opened the old root still reads the
        backups until the journal goes. A process killed between these steps leaves a journal
        that :func:`recover` finishes (the root on disk is the one named) or undoes (it is not).

        Raises
        ------
        OSError
            If the root cannot be written; the journal stays, and the next writable open
            rolls the append back.
        """
        if self._held_root is not None:
            journaled = self._log is not None or os.path.isdir(self._journal)
            if journaled:
                named = digest(self._held_root)
                self._note("C", named)
                atomic_write_bytes(os.path.join(self._journal, COMMIT_FILE), named.encode())
            atomic_write_bytes(os.path.join(self._dir, ROOT_KEY), self._held_root)
            self._held_root = None
            if journaled:
                _carry_garbage(self._dir, self._journal)
        self._close_journal(drop=True)

    def rollback(self) -> None:
        """Undo every change of this append; the store is again as it was committed."""
        self._held_root = None
        if self._log is None and not os.path.isdir(self._journal):
            return
        backed, created, _ = _read_log(self._journal)
        _undo(self._dir, self._journal, backed, created)
        self._close_journal(drop=True)

    def _close_journal(self, drop: bool) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if drop and os.path.isdir(self._journal):
            shutil.rmtree(self._journal)
        self._backed.clear()
        self._created.clear()
        self.changed = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JournaledStore) and other._store == self._store

    def __repr__(self) -> str:
        return f"JournaledStore({self._store!r})"

    async def clear(self) -> None:
        """Refused: an append never deletes the root ``zarr.json`` (its commit record).

        Raises
        ------
        ValueError
            Always; ``delete_dir("")`` deletes every other key, journaled.
        """
        raise ValueError(
            f"{self._dir}: a journaled store cannot be emptied: its root zarr.json is the "
            "append's commit record; open the store with mode 'w' to replace it"
        )

    def __hash__(self) -> int:  # pragma: no cover - stores are not hashed by zarr
        return hash(("journaled", self._dir))
