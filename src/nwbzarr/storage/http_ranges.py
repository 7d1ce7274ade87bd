"""HTTP(S) range requests for :mod:`nwbzarr.storage.ranges`: one aiohttp session, redirects.

The session is the one fsspec's :class:`~fsspec.implementations.http.HTTPFileSystem` makes
from ``storage_options`` (``client_kwargs`` go to :class:`aiohttp.ClientSession`; other keys
such as ``headers`` or ``auth`` go to every request), so the options that open a remote Zarr
store also open a remote HDF5 file. Requests are made on that session directly so that the
status, ``Content-Range`` and final URL of each answer can be checked.

Redirects
---------
DANDI asset URLs answer ``302`` with a presigned S3 URL that expires. The first request for a
URL follows the redirect (concurrent first requests wait for it rather than all resolving), and
the final URL is kept per original URL, so later ranges go straight to it. When the kept URL
answers ``401``/``403`` (expired signature), it is forgotten and the request is made once more
from the original URL, which resolves afresh.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from ..errors import RemoteAccessError, RemoteReadError, StoreNotFoundError

__all__ = ["HTTPRanges", "TransientError"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying (5xx, 429, dropped connection, timeout, short body)."""


def range_text(offset: int, length: int) -> str:
    """``"bytes a-b"`` as written in messages (``length`` -1: to the end of the file)."""
    return f"bytes {offset}-" + ("" if length < 0 else str(offset + length - 1))


class HTTPRanges:
    """Range GETs over one fsspec/aiohttp session, with redirect resolution per URL.

    Parameters
    ----------
    storage_options : dict
        Options of :class:`fsspec.implementations.http.HTTPFileSystem` (``headers``,
        ``client_kwargs``, ``auth``, ...).
    timeout : float
        Seconds allowed for each request (connection, headers and body).
    final_urls : dict of str to str
        Original URL -> final URL after redirects; shared with the owning reader.
    sizes : dict of str to int
        URL -> file size (bytes) learned from ``Content-Range``; shared with the owning reader.
    count : callable
        ``count(requests, nbytes)``, called for every request made and bytes received.
    """

    def __init__(
        self,
        storage_options: dict[str, Any],
        timeout: float,
        final_urls: dict[str, str],
        sizes: dict[str, int],
        count: Callable[[int, int], None],
    ) -> None:
        from fsspec.implementations.http import HTTPFileSystem

        options = dict(storage_options)
        options.setdefault("skip_instance_cache", True)
        self.fs = HTTPFileSystem(asynchronous=True, **options)
        self.timeout = timeout
        self.final_urls = final_urls
        self.sizes = sizes
        self._count = count
        self._resolving: dict[str, asyncio.Future[None]] = {}

    async def close(self) -> None:
        """Close the aiohttp session (if one was opened)."""
        session = getattr(self.fs, "_session", None)
        if session is not None and not session.closed:
            await session.close()

    # -- public -----------------------------------------------------------------------------------
    async def fetch(self, url: str, offset: int, length: int, clamp: bool = False) -> bytes:
        """The bytes ``[offset, offset + length)`` of ``url`` (one attempt, no retries).

        Parameters
        ----------
        url : str
            The original ``http(s)://`` URL.
        offset : int
            First byte.
        length : int
            Number of bytes, or -1 for "to the end of the file".
        clamp : bool
            Accept fewer bytes when the range runs past the end of the file (the caller learns
            the size from :attr:`sizes`); otherwise that is an error.

        Returns
        -------
        bytes

        Raises
        ------
        TransientError
            Retryable failure (5xx/429/408, dropped connection, timeout, short body).
        StoreNotFoundError
            HTTP 404/410.
        RemoteAccessError
            HTTP 401/403, also after resolving the redirect again.
        RemoteReadError
            Any other refusal, or a range past the end of the file.
        """
        target = self.final_urls.get(url)
        if target is None and url in self._resolving:
            await asyncio.shield(self._resolving[url])  # another request is following redirects
            target = self.final_urls.get(url)
        if target is None:
            answer = await self._resolve(url, offset, length)
        else:
            answer = await self._get(target, offset, length)
            if answer[0] in (401, 403) and target != url:
                # the presigned URL expired (or was revoked): resolve from the original once more
                self.final_urls.pop(url, None)
                answer = await self._resolve(url, offset, length)
        status, body, content_range, _ = answer
        return self._check(url, status, body, content_range, offset, length, clamp)

    # -- internals --------------------------------------------------------------------------------
    async def _resolve(self, url: str, offset: int, length: int) -> tuple[int, bytes, str, str]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._resolving[url] = waiter
        try:
            answer = await self._get(url, offset, length)
            if answer[0] < 400:
                self.final_urls[url] = answer[3]
            return answer
        finally:
            if self._resolving.get(url) is waiter:
                del self._resolving[url]
            waiter.set_result(None)

    async def _get(self, url: str, offset: int, length: int) -> tuple[int, bytes, str, str]:
        import aiohttp

        session = await self.fs.set_session()
        kwargs = dict(self.fs.kwargs)
        headers = dict(kwargs.pop("headers", None) or {})
        end = "" if length < 0 else str(offset + length - 1)
        headers["Range"] = f"bytes={offset}-{end}"
        headers["Accept-Encoding"] = "identity"  # a compressed body would not match the range
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with session.get(
                url, headers=headers, timeout=timeout, allow_redirects=True, **kwargs
            ) as resp:
                hops = len(resp.history)
                body = await resp.read() if resp.status in (200, 206) else b""
                self._count(1 + hops, len(body))
                return resp.status, body, resp.headers.get("Content-Range", ""), str(resp.url)
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            self._count(1, 0)
            raise TransientError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    def _check(
        self,
        url: str,
        status: int,
        body: bytes,
        content_range: str,
        offset: int,
        length: int,
        clamp: bool,
    ) -> bytes:
        where = f"{url} ({range_text(offset, length)})"
        if status == 206:
            match = _CONTENT_RANGE.match(content_range)
            if match is None:
                raise TransientError(f"HTTP 206 without a usable Content-Range {content_range!r}")
            first, last, total = match.groups()
            if total != "*":
                self.sizes[url] = int(total)
            if int(first) != offset or len(body) != int(last) - int(first) + 1:
                raise TransientError(
                    f"answer covers bytes {first}-{last} with {len(body)} bytes of body"
                )
            data = body
        elif status == 200:  # the server ignored Range: the body is the whole file
            self.sizes[url] = len(body)
            data = body[offset:] if length < 0 else body[offset : offset + length]
        elif status in (404, 410):
            raise StoreNotFoundError(
                f"{url}: not found (HTTP {status}); check the URL (a reference may point at a "
                "file that was moved or deleted)"
            )
        elif status in (401, 403):
            raise RemoteAccessError(
                f"{url}: the server refused access (HTTP {status}) to {range_text(offset, length)}"
                "; pass credentials through storage_options, e.g. "
                "storage_options={'headers': {'Authorization': 'Bearer ...'}}"
            )
        elif status == 416:
            size = _total(content_range)
            if clamp and size is not None and offset >= size:
                self.sizes[url] = size
                return b""
            raise RemoteReadError(
                f"{where}: the range lies past the end of the file (HTTP 416, file size "
                f"{size if size is not None else 'unknown'} bytes); the reference is wrong or "
                "the file was replaced"
            )
        elif status in _RETRY_STATUS or status >= 500:
            raise TransientError(f"HTTP {status}")
        else:
            raise RemoteReadError(f"{where}: unexpected HTTP {status}")
        if length >= 0 and len(data) != length:
            size = self.sizes.get(url)
            ends_at_eof = size is not None and offset + len(data) == size
            if clamp and ends_at_eof:
                return data
            if ends_at_eof:
                raise RemoteReadError(
                    f"{where}: the file has only {size} bytes, the range needs "
                    f"{offset + length}; the reference is wrong or the file was replaced"
                )
            raise TransientError(f"short read: {len(data)} of {length} bytes")
        return data


def _total(content_range: str) -> int | None:
    """The size in ``Content-Range: bytes */size`` (or ``a-b/size``), if given."""
    match = re.match(r"^\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*$", content_range or "")
    return int(match.group(1)) if match else None
