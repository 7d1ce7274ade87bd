"""An on-disk cache of remote byte ranges (chunks), shared by threads and processes.

:class:`LocalCache` keeps the bytes of remote :class:`~nwbzarr.virtual.manifest.ByteRange`
reads in a local directory so that a second read of the same chunk costs no request. It is
opt-in: pass ``cache=LocalCache(...)`` to :func:`nwbzarr.storage.ranges.open_range_reader`, or
set the environment variable ``NWBZARR_CACHE_DIR`` (and optionally ``NWBZARR_CACHE_MAX_BYTES``,
1 GiB by default); see :meth:`LocalCache.from_env`.

Layout and safety
-----------------
Each entry is one file ``<directory>/<hh>/<hash>`` named by the SHA-256 of
``(url, offset, length)`` (``hh`` = its first two hex digits). A file starts with a 24-byte
header: the magic ``b"NWZC"``, a format version (1 byte), 3 reserved bytes, the payload length
(8 bytes, little endian) and the payload's CRC-32 (4 bytes, little endian) followed by 4
reserved bytes; then the payload.

* Writes go to a unique temporary file in the same directory, then :func:`os.replace`, so a
  reader sees either no entry or a complete one, even with several processes writing.
* A reader that finds a file of the wrong size, magic, version or checksum drops it and reports
  a miss; a file deleted under a reader (eviction by another process) is a miss. A cache entry
  never produces wrong bytes or an error.
* Eviction is LRU-ish: a hit touches the entry's modification time; when the total size goes
  over ``max_bytes`` the oldest entries are deleted until it is at most ``max_bytes``. Several
  processes may evict at once; deleting an already deleted file is ignored.
* Each process knows the total only from its last scan of the directory, so it also rescans
  (and evicts) after every ``max_bytes / 32`` bytes it has put. With ``n`` processes sharing a
  directory the total therefore stays below ``max_bytes + n * (max_bytes / 32 + largest
  entry)`` bytes at any time. Temporary files left by a killed writer are removed by the first
  eviction an hour later.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

__all__ = ["LocalCache", "DEFAULT_CACHE_MAX_BYTES"]

DEFAULT_CACHE_MAX_BYTES = 2**30
"""Size bound of a cache made from ``NWBZARR_CACHE_DIR`` without ``NWBZARR_CACHE_MAX_BYTES``."""

_MAGIC = b"NWZC"
_VERSION = 1
_HEADER = struct.Struct("<4sB3xQI4x")  # magic, version, payload length, crc32
_TMP_PREFIX = ".tmp-"
_RESCAN_FRACTION = 32  # rescan the directory after max_bytes / this many bytes put
_STALE_TMP_SECONDS = 3600.0  # a temporary file this old belongs to a killed writer


class LocalCache:
    """On-disk cache of byte ranges keyed by ``(url, offset, length)``.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the entries (created if missing). Several processes may share it.
    max_bytes : int
        Upper bound of the total size of the entries (bytes, payload plus 24-byte headers);
        older entries are evicted to stay under it. An entry larger than the bound is not
        stored.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from the cache / not, in this process.

    Raises
    ------
    ValueError
        If ``max_bytes`` is negative.
    """

    def __init__(
        self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"LocalCache max_bytes must be >= 0, got {max_bytes}")
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._total = self._scan_total()
        self._put_since_scan = 0

    def __repr__(self) -> str:
        return f"LocalCache({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- pickling (dask workers): the directory and the bound travel, the lock does not -------
    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # as a new cache over the same directory: counters of this process, total re-scanned
        self.__init__(state["directory"], state["max_bytes"])  # type: ignore[misc]

    @classmethod
    def from_env(cls) -> LocalCache | None:
        """The cache named by ``NWBZARR_CACHE_DIR``, or None when the variable is unset/empty.

        ``NWBZARR_CACHE_MAX_BYTES`` (an integer number of bytes) sets ``max_bytes``; it
        defaults to :data:`DEFAULT_CACHE_MAX_BYTES` (1 GiB).

        Returns
        -------
        LocalCache or None

        Raises
        ------
        ValueError
            If ``NWBZARR_CACHE_MAX_BYTES`` is not an integer.
        """
        directory = os.environ.get("NWBZARR_CACHE_DIR", "").strip()
        if not directory:
            return None
        raw = os.environ.get("NWBZARR_CACHE_MAX_BYTES", "").strip()
        try:
            max_bytes = int(raw) if raw else DEFAULT_CACHE_MAX_BYTES
        except ValueError:
            raise ValueError(
                f"NWBZARR_CACHE_MAX_BYTES must be an integer number of bytes, got {raw!r}"
            ) from None
        return cls(directory, max_bytes)

    # -- keys -------------------------------------------------------------------------------------
    def path_for(self, url: str, offset: int, length: int) -> Path:
        """The file that holds (or would hold) the entry of ``(url, offset, length)``.

        Parameters
        ----------
        url : str
            URL of the remote file (the original URL, not a redirect target).
        offset, length : int
            The range (bytes).

        Returns
        -------
        pathlib.Path
        """
        digest = hashlib.sha256(f"{url}\n{offset}\n{length}".encode()).hexdigest()
        return self.directory / digest[:2] / digest

    # -- lookups ----------------------------------------------------------------------------------
    def get(self, url: str, offset: int, length: int) -> bytes | None:
        """The cached bytes of a range, or None on a miss.

        A missing, truncated or corrupt entry is a miss (a damaged entry is deleted).

        Parameters
        ----------
        url : str
            URL of the remote file.
        offset, length : int
            The range (bytes); ``length`` may be -1 (to the end of the file).

        Returns
        -------
        bytes or None
        """
        path = self.path_for(url, offset, length)
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError:  # absent, or deleted under us by another process
            with self._lock:
                self.misses += 1
            return None
        payload = _decode(blob, length)
        if payload is None:
            self._discard(path)
            with self._lock:
                self.misses += 1
            return None
        try:
            os.utime(path)  # LRU-ish: recently used entries are evicted last
        except OSError:
            pass
        with self._lock:
            self.hits += 1
        return payload

    def put(self, url: str, offset: int, length: int, data: bytes) -> None:
        """Store the bytes of a range (atomically); evict old entries if over ``max_bytes``.

        Failures to write (full disk, permissions) are ignored: the cache is an optimisation.

        Parameters
        ----------
        url : str
            URL of the remote file.
        offset, length : int
            The range (bytes) as requested (``length`` may be -1).
        data : bytes
            The bytes read for that range.
        """
        size = _HEADER.size + len(data)
        if size > self.max_bytes:
            return
        path = self.path_for(url, offset, length)
        header = _HEADER.pack(_MAGIC, _VERSION, len(data), zlib.crc32(data))
        tmp = path.parent / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            self._discard(tmp)
            return
        with self._lock:
            self._total += size
            self._put_since_scan += size
            over = self._total > self.max_bytes
            over = over or self._put_since_scan > self.max_bytes // _RESCAN_FRACTION
        if over:
            self.evict()

    def evict(self) -> int:
        """Delete the least recently used entries until the total is at most ``max_bytes``.

        The directory is scanned (other processes' entries count too). Temporary files older
        than an hour (left by a killed writer) are deleted as well.

        Returns
        -------
        int
            Bytes deleted.
        """
        entries = []
        with self._lock:
            self._put_since_scan = 0
        stale_before = time.time() - _STALE_TMP_SECONDS
        for sub in _scandir(self.directory):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(sub.path):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.startswith(_TMP_PREFIX):
                    if stat.st_mtime < stale_before:
                        self._discard(Path(entry.path))
                    continue
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        freed = 0
        entries.sort()
        for _, size, path in entries:
            if total - freed <= self.max_bytes:
                break
            if self._discard(Path(path)):
                freed += size
        with self._lock:
            self._total = total - freed
        return freed

    def total_bytes(self) -> int:
        """Size of all entries in the directory now (bytes, scanned)."""
        return self._scan_total()

    def clear(self) -> None:
        """Delete every entry."""
        for sub in _scandir(self.directory):
            if sub.is_dir(follow_symlinks=False):
                for entry in _scandir(sub.path):
                    self._discard(Path(entry.path))
        with self._lock:
            self._total = 0

    # -- internals --------------------------------------------------------------------------------
    def _scan_total(self) -> int:
        total = 0
        for sub in _scandir(self.directory):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(sub.path):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
        return total

    @staticmethod
    def _discard(path: Path) -> bool:
        try:
            os.unlink(path)
            return True
        except OSError:
            return False


def _decode(blob: bytes, length: int) -> bytes | None:
    """The payload of an entry file, or None if the file is damaged or of another version."""
    if len(blob) < _HEADER.size:
        return None
    magic, version, size, crc = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size :]
    if magic != _MAGIC or version != _VERSION or size != len(payload):
        return None
    if length >= 0 and size != length:
        return None
    if zlib.crc32(payload) != crc:
        return None
    return payload


def _scandir(path: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []
