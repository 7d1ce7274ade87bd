"""Reading byte ranges of local and remote files: merged, concurrent, retried, cached.

:func:`open_range_reader` returns a :class:`ByteRangeReader`, the implementation of the
:class:`~nwbzarr.storage.manifest.RangeReader` protocol that the virtual (reference) store reads
chunks through. :func:`nwbzarr.storage.remote_file.open_remote_file` wraps one remote file as a
synchronous, seekable file object over such a reader, so h5py can open an HDF5 file over HTTP(S)
or S3 through the same reader.

How a read is served
--------------------
* Local paths (and ``file://`` URLs): :func:`os.pread` in a worker thread.
* ``http(s)://``: range GETs over one aiohttp session made by fsspec's ``HTTPFileSystem``
  (connections are reused); redirects are resolved once per URL (see
  :mod:`nwbzarr.storage.http_ranges`).
* Other URLs (``s3://``, ``gs://``, ``memory://``, ...): the fsspec async filesystem of the
  protocol, made lazily inside the running event loop (``s3fs``/``gcsfs`` must be installed).

``read`` calls issued in the same event-loop turn (e.g. zarr fetching all chunks of a selection
with ``asyncio.gather``) are collected, sorted per file and merged into spans when the gap
between neighbours is at most ``merge_gap`` bytes and the span stays within
``max_merged_bytes``; the spans are fetched concurrently (at most ``max_concurrency`` at once)
and sliced back to each caller. Server errors (5xx, 429), dropped connections, timeouts and
short bodies are retried ``retries`` times with exponential backoff and jitter; then
:class:`~nwbzarr.errors.RemoteReadError` names the URL, range, attempts and last error. A range
that cannot be read in full is always an error, never fewer bytes.

The event loop
--------------
aiohttp sessions and asyncio primitives belong to one event loop. The reader keeps its sessions
(and request batches, concurrency limit) per loop: used from zarr's own loop
(:func:`zarr.core.sync.sync`), as the virtual store does, it holds one session for its whole
life. Redirect targets and learned file sizes are shared by all loops. Call
:meth:`ByteRangeReader.close` when done.

Pickling
--------
A reader pickles as its configuration: ``storage_options``, the cache (its directory and
bound), the merge, concurrency, retry and timeout settings. Sessions, filesystems, request
batches, semaphores (the per-loop state), redirect targets, learned file sizes and the request
counters are not pickled; an unpickled reader (e.g. in a dask worker) starts as a new one,
opens its sessions in the first loop it reads in, resolves redirects afresh (each hop checked
again) and compares each server's answer with the recorded source sizes again.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import limits
from ..errors import RemoteReadError, StoreNotFoundError
from .cache import LocalCache
from .http_ranges import HTTPRanges, TransientError, range_text
from .manifest import ByteRange
from .range_spans import Span, local_path, plan_spans, pread_range, protocol_of
from .resolve import http_status, remote_access_error

__all__ = ["ByteRangeReader", "open_range_reader"]

_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs"}
_PACKAGES.update({"abfs": "adlfs", "abfss": "adlfs"})


def open_range_reader(
    storage_options: dict[str, Any] | None = None,
    *,
    cache: LocalCache | bool | None = None,
    merge_gap: int = 64 * 1024,
    max_merged_bytes: int = 16 * 2**20,
    max_concurrency: int = 16,
    retries: int = 5,
    backoff: float = 0.1,
    timeout: float | None = None,
) -> ByteRangeReader:
    """A reader of byte ranges of local files and URLs (the ``RangeReader`` protocol).

    Parameters
    ----------
    storage_options : dict, optional
        fsspec options of the remote filesystems, passed unchanged (``headers`` or
        ``client_kwargs`` for HTTP(S), ``anon``/``key``/``secret`` for S3, ``token`` for GCS).
        The same options go to every protocol the reader meets.
    cache : LocalCache or bool, optional
        On-disk cache of remote ranges. None (default): the cache named by the
        ``NWBZARR_CACHE_DIR`` environment variable, if set; False: no cache.
    merge_gap : int
        Largest gap (bytes) between two ranges of one file that are fetched as one span.
    max_merged_bytes : int
        Largest span (bytes) made by merging; a single larger range is fetched as it is.
    max_concurrency : int
        Most requests in flight at once.
    retries : int
        Retries of a failed request (so ``retries + 1`` attempts).
    backoff : float
        Delay (seconds) before the first retry; doubles for each next one, with jitter.
    timeout : float, optional
        Seconds allowed for each request (all its redirects, headers and body); default
        :attr:`nwbzarr.limits.Limits.http_timeout` (``NWBZARR_HTTP_TIMEOUT``, 30 s).

    Returns
    -------
    ByteRangeReader

    Raises
    ------
    ValueError
        If a numeric setting is out of range.
    """
    if isinstance(cache, bool):
        cache = LocalCache.from_env() if cache else None
    elif cache is None:
        cache = LocalCache.from_env()
    return ByteRangeReader(
        storage_options,
        cache=cache,
        merge_gap=merge_gap,
        max_merged_bytes=max_merged_bytes,
        max_concurrency=max_concurrency,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
    )


#: What a pickled reader carries: its constructor's arguments (see "Pickling" above).
_PICKLED_SETTINGS = (
    "storage_options",
    "cache",
    "merge_gap",
    "max_merged_bytes",
    "max_concurrency",
    "retries",
    "backoff",
    "timeout",
)


#: Readers that opened network sessions (closed at interpreter exit if still open).
_SESSION_READERS: weakref.WeakSet[ByteRangeReader] = weakref.WeakSet()
_EXIT_HOOKED = False


def _close_at_exit(reader: ByteRangeReader) -> None:
    """Remember ``reader`` so that its sessions are closed when the interpreter exits."""
    global _EXIT_HOOKED
    _SESSION_READERS.add(reader)
    if not _EXIT_HOOKED:
        # registered after zarr's own exit hook, so it runs first, while zarr's loop still runs
        atexit.register(_close_session_readers)
        _EXIT_HOOKED = True


def _close_session_readers() -> None:
    for reader in list(_SESSION_READERS):
        with contextlib.suppress(Exception):
            reader._close(2.0)


@dataclass
class _LoopState:
    """What the reader holds for one event loop."""

    loop: asyncio.AbstractEventLoop
    semaphore: asyncio.Semaphore
    pending: list[tuple[ByteRange, asyncio.Future[bytes]]] = field(default_factory=list)
    scheduled: bool = False
    filesystems: dict[str, Any] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class ByteRangeReader:
    """Reads :class:`~nwbzarr.storage.manifest.ByteRange` objects; see :func:`open_range_reader`.

    Attributes
    ----------
    requests : int
        Requests made so far (HTTP requests including redirect hops, fsspec calls, local
        ``pread`` calls); cache hits make none.
    bytes_read : int
        Bytes received so far (including the gaps of merged spans).
    cache : LocalCache or None
        The on-disk cache of remote ranges.
    """

    def __init__(
        self,
        storage_options: dict[str, Any] | None = None,
        *,
        cache: LocalCache | None = None,
        merge_gap: int = 64 * 1024,
        max_merged_bytes: int = 16 * 2**20,
        max_concurrency: int = 16,
        retries: int = 5,
        backoff: float = 0.1,
        timeout: float | None = None,
    ) -> None:
        if merge_gap < 0 or max_merged_bytes < 1 or max_concurrency < 1 or retries < 0:
            raise ValueError(
                "open_range_reader: merge_gap and retries must be >= 0, max_merged_bytes and "
                "max_concurrency >= 1"
            )
        if timeout is None:
            timeout = limits.current().http_timeout
        if backoff < 0 or timeout <= 0:
            raise ValueError("open_range_reader: backoff must be >= 0 and timeout > 0 seconds")
        self.storage_options = dict(storage_options or {})
        self.cache = cache
        self.merge_gap = int(merge_gap)
        self.max_merged_bytes = int(max_merged_bytes)
        self.max_concurrency = int(max_concurrency)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self.requests = 0
        self.bytes_read = 0
        self._final_urls: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    def __repr__(self) -> str:
        return (
            f"ByteRangeReader(requests={self.requests}, bytes_read={self.bytes_read}, "
            f"cache={self.cache!r})"
        )

    # -- pickling ---------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The configuration of the reader, never its sessions or event-loop state.

        Returns
        -------
        dict
            The keyword arguments that make an equivalent new reader.
        """
        return {name: getattr(self, name) for name in _PICKLED_SETTINGS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Become a new reader with the pickled configuration (sessions made lazily).

        Parameters
        ----------
        state : dict
            What :meth:`__getstate__` returned.
        """
        self.__init__(**state)  # type: ignore[misc]

    # -- the RangeReader protocol ---------------------------------------------------------------
    async def read(self, ref: ByteRange) -> bytes:
        """Return the bytes of ``ref``; calls made in the same loop turn are merged.

        Parameters
        ----------
        ref : ByteRange
            File (absolute path or URL), offset and length (bytes; -1: to the end).

        Returns
        -------
        bytes
            Exactly ``ref.length`` bytes (or the rest of the file for -1).

        Raises
        ------
        StoreNotFoundError
            The file does not exist (local) or the server answers 404.
        RemoteAccessError
            The server refuses access (401/403), also after resolving a redirect again.
        RemoteReadError
            Out of retries, or the file is shorter than the range.
        ImportError
            The URL needs an fsspec implementation that is not installed (``s3fs``, ...).
        """
        return await self._enqueue(ref)

    async def read_many(self, refs: Sequence[ByteRange]) -> list[bytes]:
        """Return the bytes of every range, in order (merged and fetched concurrently).

        Parameters
        ----------
        refs : sequence of ByteRange

        Returns
        -------
        list of bytes

        Raises
        ------
        StoreNotFoundError, RemoteAccessError, RemoteReadError, ImportError
            As :meth:`read` (the first failure).
        """
        futures = [self._enqueue(ref) for ref in refs]
        return list(await asyncio.gather(*futures))

    # -- lifetime ---------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the network sessions opened in the running event loop."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is None:
            return
        for fs in state.filesystems.values():
            if isinstance(fs, HTTPRanges):
                await fs.close()
            elif getattr(fs, "_s3", None) is not None:
                # an asynchronous s3fs instance leaves closing its client to its owner
                await fs._s3.close()

    def close(self) -> None:
        """Close the network sessions of every event loop the reader was used in.

        Safe from any thread; in a running loop the closing is scheduled (use :meth:`aclose`
        to wait for it). Readers still holding sessions when the interpreter exits (e.g.
        unpickled copies in dask workers, which nobody closes) are closed then.
        """
        self._close(self.timeout)

    def _close(self, timeout: float) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop in list(self._states):
            if loop.is_closed():
                self._states.pop(loop, None)
            elif running is loop:
                state = self._states[loop]
                task = loop.create_task(self.aclose())
                state.tasks.add(task)
                task.add_done_callback(state.tasks.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
            else:
                loop.run_until_complete(self.aclose())

    def __enter__(self) -> ByteRangeReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> ByteRangeReader:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- batching ---------------------------------------------------------------------------------
    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            for old in [other for other in self._states if other.is_closed()]:
                del self._states[old]  # its sessions went with it
            state = _LoopState(loop, asyncio.Semaphore(self.max_concurrency))
            self._states[loop] = state
        return state

    def _enqueue(self, ref: ByteRange) -> asyncio.Future[bytes]:
        state = self._loop_state()
        future: asyncio.Future[bytes] = state.loop.create_future()
        if ref.length == 0:
            future.set_result(b"")
            return future
        state.pending.append((ref, future))
        if not state.scheduled:
            state.scheduled = True
            # two hops: reads issued by tasks that were started in this turn join the batch
            state.loop.call_soon(state.loop.call_soon, self._flush, state)
        return future

    def _flush(self, state: _LoopState) -> None:
        batch, state.pending, state.scheduled = state.pending, [], False
        if batch:
            task = state.loop.create_task(self._serve(state, batch))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)

    async def _serve(
        self, state: _LoopState, batch: list[tuple[ByteRange, asyncio.Future[bytes]]]
    ) -> None:
        try:
            results = await self._fetch_batch(state, [ref for ref, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _fetch_batch(
        self, state: _LoopState, refs: list[ByteRange]
    ) -> list[bytes | BaseException]:
        results: list[bytes | BaseException | None] = [None] * len(refs)
        cache = self.cache
        remote = [i for i, ref in enumerate(refs) if protocol_of(ref.url) is not None]
        if cache is not None and remote:
            found = await asyncio.to_thread(
                lambda: [cache.get(refs[i].url, refs[i].offset, refs[i].length) for i in remote]
            )
            for i, data in zip(remote, found, strict=True):
                results[i] = data
        missing = [i for i, result in enumerate(results) if result is None]
        spans = plan_spans(refs, missing, self.merge_gap, self.max_merged_bytes)
        await asyncio.gather(*(self._serve_span(state, span, refs, results) for span in spans))
        if cache is not None:
            remote_set = set(remote)
            fresh = [i for i in missing if i in remote_set and isinstance(results[i], bytes)]
            if fresh:

                def store() -> None:
                    for i in fresh:
                        ref = refs[i]
                        cache.put(ref.url, ref.offset, ref.length, results[i])  # type: ignore[arg-type]

                await asyncio.to_thread(store)
        return results  # type: ignore[return-value]

    async def _serve_span(
        self,
        state: _LoopState,
        span: Span,
        refs: list[ByteRange],
        results: list[bytes | BaseException | None],
    ) -> None:
        length = -1 if span.stop is None else span.stop - span.start
        try:
            data = await self._fetch(state, span.url, span.start, length)
        except BaseException as exc:  # noqa: BLE001 - handed to the span's callers
            for i in span.members:
                results[i] = exc
            return
        for i in span.members:
            ref = refs[i]
            start = ref.offset - span.start
            results[i] = data[start:] if ref.length < 0 else data[start : start + ref.length]

    # -- fetching one span ------------------------------------------------------------------------
    async def _fetch(
        self, state: _LoopState, url: str, offset: int, length: int, clamp: bool = False
    ) -> bytes:
        """Bytes of one span, retried; ``clamp`` accepts a range running past the file's end."""
        protocol = protocol_of(url)
        if protocol is None:
            data = await asyncio.to_thread(pread_range, local_path(url), offset, length, clamp)
            self._count(1, len(data))
            return data
        last: BaseException | None = None
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                await asyncio.sleep(delay)
            attempts += 1
            try:
                async with state.semaphore:
                    if protocol in ("http", "https"):
                        http = self._http(state)
                        return await http.fetch(url, offset, length, clamp)
                    return await self._fetch_fsspec(state, protocol, url, offset, length, clamp)
            except TransientError as exc:
                last = exc
        raise RemoteReadError(
            f"{url}: could not read {range_text(offset, length)} after {attempts} attempts; "
            f"last error: {last}. Check the network or raise retries/timeout in "
            "open_range_reader"
        ) from last

    def _count(self, requests: int, nbytes: int) -> None:
        self.requests += requests
        self.bytes_read += nbytes

    def _http(self, state: _LoopState) -> HTTPRanges:
        http = state.filesystems.get("http")
        if http is None:
            _close_at_exit(self)
            http = HTTPRanges(
                self.storage_options, self.timeout, self._final_urls, self._sizes, self._count
            )
            state.filesystems["http"] = http
        return http

    def _filesystem(self, state: _LoopState, protocol: str, url: str) -> Any:
        fs = state.filesystems.get(protocol)
        if fs is None:
            import fsspec

            try:
                fs = fsspec.filesystem(
                    protocol, asynchronous=True, skip_instance_cache=True, **self.storage_options
                )
            except ImportError as exc:
                package = _PACKAGES.get(protocol, f"the fsspec implementation of {protocol}://")
                raise ImportError(
                    f"{url}: reading {protocol}:// URLs needs {package}: pip install {package}"
                ) from exc
            _close_at_exit(self)
            state.filesystems[protocol] = fs
        return fs

    async def _fetch_fsspec(
        self, state: _LoopState, protocol: str, url: str, offset: int, length: int, clamp: bool
    ) -> bytes:
        fs = self._filesystem(state, protocol, url)
        end = None if length < 0 else offset + length
        try:
            if getattr(fs, "async_impl", False):
                call = fs._cat_file(url, start=offset, end=end)
            else:
                call = asyncio.to_thread(fs.cat_file, url, start=offset, end=end)
            data = await asyncio.wait_for(call, self.timeout)
        except FileNotFoundError as exc:
            self._count(1, 0)
            raise StoreNotFoundError(f"{url}: not found ({exc}); check the URL") from exc
        except Exception as exc:
            self._count(1, 0)
            denied = remote_access_error(url, exc)
            if denied is not None:
                raise denied from exc
            status = http_status(exc)
            transient = isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError))
            if transient or (status is not None and (status >= 500 or status == 429)):
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            raise RemoteReadError(
                f"{url}: reading {range_text(offset, length)} failed: {exc}"
            ) from exc
        self._count(1, len(data))
        if len(data) < length and not clamp:
            raise RemoteReadError(
                f"{url}: {range_text(offset, length)} returned {len(data)} of {length} bytes; the "
                "file is shorter than the reference (wrong reference or replaced file)"
            )
        if clamp and (length < 0 or len(data) < length):
            self._sizes[url] = offset + len(data)
        return data

    async def _size(self, url: str) -> int | None:
        """The size (bytes) of a file if known without a request, else from a metadata call."""
        if url in self._sizes:
            return self._sizes[url]
        protocol = protocol_of(url)
        if protocol is None:
            return os.path.getsize(local_path(url))
        if protocol in ("http", "https"):
            return None
        fs = self._filesystem(self._loop_state(), protocol, url)
        info = await fs._info(url) if getattr(fs, "async_impl", False) else fs.info(url)
        self._count(1, 0)
        self._sizes[url] = int(info["size"])
        return self._sizes[url]

    async def _probe(self, url: str, length: int) -> tuple[bytes, int]:
        """The first ``length`` bytes of a file (fewer if it is smaller) and its size (bytes)."""
        state = self._loop_state()
        size = await self._size(url)
        if size is not None:
            ref = ByteRange(url, 0, min(length, size))
            return (await self.read(ref) if ref.length else b""), size
        data = await self._fetch(state, url, 0, length, clamp=True)
        size = self._sizes.get(url)
        if size is None:  # no Content-Range total: the short answer, if short, ended the file
            if len(data) < length:
                size = len(data)
            else:
                raise RemoteReadError(f"{url}: the server does not tell the file size")
        if self.cache is not None and len(data) == min(length, size):
            await asyncio.to_thread(self.cache.put, url, 0, len(data), data)
        return data, size
