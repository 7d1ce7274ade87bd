"""A remote file as a synchronous, seekable file object (for ``h5py.File(fileobj)``).

:func:`open_remote_file` reads through a :class:`~nwbzarr.storage.ranges.ByteRangeReader`, so
it shares its redirects, retries, request merging and on-disk cache. Reads are made in whole
blocks of ``block_size`` bytes, kept in a small LRU of ``max_blocks`` blocks: h5py reads the
superblock, object headers and B-trees in many small pieces that mostly fall in a few blocks.
The file size comes from the ``Content-Range`` of the first answer (no separate ``HEAD``).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any

from ..compat import sync
from .manifest import ByteRange
from .ranges import ByteRangeReader, open_range_reader

__all__ = ["RemoteFile", "open_remote_file", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 256 * 1024
"""Bytes per request of :func:`open_remote_file` (the unit of its block cache)."""


def open_remote_file(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_blocks: int = 128,
    reader: ByteRangeReader | None = None,
) -> RemoteFile:
    """Open a local or remote file read-only as a seekable binary file object.

    Parameters
    ----------
    url : str
        ``http(s)://``, ``s3://``, ... URL or local path.
    storage_options : dict, optional
        fsspec options (credentials, headers); used only when ``reader`` is None.
    block_size : int
        Bytes fetched per block (the unit of reading and of the block cache).
    max_blocks : int
        Blocks kept in memory (LRU); memory bound is ``block_size * max_blocks`` bytes.
    reader : ByteRangeReader, optional
        Reader to fetch through (shares its session, redirects and cache). By default a new
        one from :func:`~nwbzarr.storage.ranges.open_range_reader`, closed with the file.

    Returns
    -------
    RemoteFile
        Has ``read``, ``readinto``, ``seek``, ``tell``; ``size`` (bytes); ``requests`` (made
        through the reader since opening).

    Raises
    ------
    StoreNotFoundError, RemoteAccessError, RemoteReadError
        As :meth:`~nwbzarr.storage.ranges.ByteRangeReader.read`, for the first block.
    ValueError
        If ``block_size`` or ``max_blocks`` is < 1.

    Examples
    --------
    >>> with open_remote_file("https://example.org/x.nwb") as f:  # doctest: +SKIP
    ...     h5py.File(f, "r")
    """
    if block_size < 1 or max_blocks < 1:
        raise ValueError("open_remote_file: block_size and max_blocks must be >= 1")
    owns = reader is None
    if reader is None:
        reader = open_range_reader(storage_options)
    try:
        return RemoteFile(url, reader, block_size, max_blocks, owns_reader=owns)
    except BaseException:
        if owns:
            reader.close()
        raise


class RemoteFile(io.RawIOBase):
    """Read-only seekable view of one file read in blocks; see :func:`open_remote_file`.

    Parameters
    ----------
    url : str
        The file.
    reader : ByteRangeReader
        Fetches the blocks.
    block_size : int
        Bytes per block.
    max_blocks : int
        Blocks kept in memory.
    owns_reader : bool
        Close ``reader`` when the file is closed.
    """

    def __init__(
        self,
        url: str,
        reader: ByteRangeReader,
        block_size: int,
        max_blocks: int,
        owns_reader: bool = False,
    ) -> None:
        super().__init__()
        self.url = url
        self.name = url
        self.block_size = int(block_size)
        self.max_blocks = int(max_blocks)
        self._reader = reader
        self._owns_reader = owns_reader
        self._start_requests = reader.requests
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        first, self.size = _run(reader._probe(url, self.block_size))
        if first:
            self._blocks[0] = first

    def __repr__(self) -> str:
        # h5py names a file opened from a file object by its repr: make that the URL, so
        # builders read through h5py/hdmf carry the URL as their source
        return self.url

    # -- pickling -------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The file's URL, block settings, size and position, and the reader's configuration.

        Cached blocks are not pickled; the unpickled file owns its copy of the reader (a new
        one: sessions made on first read, closed with the file).

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            The file is closed.
        """
        if self.closed:
            raise ValueError(f"cannot pickle the closed remote file {self.url}")
        return {
            "url": self.url,
            "reader": self._reader,
            "block_size": self.block_size,
            "max_blocks": self.max_blocks,
            "size": self.size,
            "pos": self._pos,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Reopen the file from what :meth:`__getstate__` returned (no request is made).

        Parameters
        ----------
        state : dict
        """
        io.RawIOBase.__init__(self)
        self.url = self.name = state["url"]
        self.block_size = int(state["block_size"])
        self.max_blocks = int(state["max_blocks"])
        self._reader = state["reader"]
        self._owns_reader = True
        self._start_requests = self._reader.requests
        self._blocks = OrderedDict()
        self._pos = int(state["pos"])
        self.size = int(state["size"])

    @property
    def requests(self) -> int:
        """Requests the reader made since this file was opened (all users of the reader)."""
        return self._reader.requests - self._start_requests

    # -- io.RawIOBase -----------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(f"{self.url}: negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        start = self._pos
        stop = min(start + len(view), self.size)
        if stop <= start:
            return 0
        first, last = start // self.block_size, (stop - 1) // self.block_size
        blocks = self._get_blocks(range(first, last + 1))
        written = 0
        for index in range(first, last + 1):
            block = blocks[index]
            base = index * self.block_size
            lo = max(start, base) - base
            hi = min(stop, base + len(block)) - base
            view[written : written + hi - lo] = block[lo:hi]
            written += hi - lo
        self._pos = start + written
        return written

    def close(self) -> None:
        if not self.closed:
            self._blocks.clear()
            if self._owns_reader:
                self._reader.close()
        super().close()

    # -- internals --------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed remote file {self.url}")

    def _get_blocks(self, indices: range) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        missing = []
        for index in indices:
            block = self._blocks.get(index)
            if block is None:
                missing.append(index)
            else:
                self._blocks.move_to_end(index)
                found[index] = block
        if missing:
            refs = [
                ByteRange(
                    self.url,
                    i * self.block_size,
                    min(self.block_size, self.size - i * self.block_size),
                )
                for i in missing
            ]
            for index, data in zip(missing, _run(self._reader.read_many(refs)), strict=True):
                found[index] = data
                self._blocks[index] = data
            while len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)
        return found


def _run(coro: Any) -> Any:
    """Run a coroutine on zarr's event loop (where the reader keeps its session)."""
    return sync(coro)
