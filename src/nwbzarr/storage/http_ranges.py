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

Redirects are followed here, not by aiohttp (at most :data:`MAX_REDIRECTS` hops): a hop to
another origin than the previous one is checked with
:func:`nwbzarr.storage.policy.check_url_host` before it is requested (no redirect to a
loopback, link-local or private address unless the user opened that origin or allowed private
hosts), and credentials (``Authorization``, ``Cookie``, ``auth``) are not sent to it.

Limits
------
Every request (all its hops, headers and body) is bounded by ``timeout`` seconds
(:attr:`nwbzarr.limits.Limits.http_timeout` by default). Bodies are read in pieces and never
past what was asked: a ``206`` body longer than the requested range is refused after one byte
too many, a ``200`` that ignores ``Range`` is read only up to the end of the range (refused
when that is more than :data:`IGNORED_RANGE_MAX` or
:attr:`~nwbzarr.limits.Limits.max_range_bytes`), a reference JSON
(:meth:`HTTPRanges.fetch_document`) only up to :attr:`~nwbzarr.limits.Limits.max_json_bytes`.
The file size learned from the first answer is compared with the size recorded by the
reference JSON (:func:`nwbzarr.storage.policy.check_remote_source`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urljoin

from .. import limits
from ..errors import RemoteAccessError, RemoteReadError, StoreNotFoundError
from .policy import check_remote_source, check_url_host, note_remote_source, origin_of

__all__ = ["HTTPRanges", "TransientError", "MAX_REDIRECTS"]

MAX_REDIRECTS = 10
"""Most redirects followed for one request."""

IGNORED_RANGE_MAX = 64 << 20
"""Most bytes read from a ``200`` answer that ignores ``Range`` (the start of the file)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PIECE = 1 << 20

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying (5xx, 429, dropped connection, timeout, short body)."""


class _Answer(NamedTuple):
    status: int
    body: bytes
    content_range: str
    final_url: str
    total: int | None  # file size, when the answer tells it
    etag: str | None


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
    timeout : float or None
        Seconds allowed for each request (every hop, connection, headers and body); None:
        :attr:`nwbzarr.limits.Limits.http_timeout`.
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
        timeout: float | None,
        final_urls: dict[str, str],
        sizes: dict[str, int],
        count: Callable[[int, int], None],
    ) -> None:
        from fsspec.implementations.http import HTTPFileSystem

        options = dict(storage_options)
        options.setdefault("skip_instance_cache", True)
        self.fs = HTTPFileSystem(asynchronous=True, **options)
        self.timeout = float(limits.current().http_timeout if timeout is None else timeout)
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
        if answer.total is not None and url not in self.sizes:
            check_remote_source(url, answer.total, answer.etag)  # once, before the first use
            note_remote_source(url, answer.total, answer.etag)
        return self._check(url, answer, offset, length, clamp)

    # -- internals --------------------------------------------------------------------------------
    async def fetch_document(self, url: str, max_bytes: int, what: str = "document") -> bytes:
        """The whole body of ``url`` (no ``Range``), at most ``max_bytes`` bytes.

        Parameters
        ----------
        url : str
            ``http(s)://`` URL (the user's; redirects from it are checked).
        max_bytes : int
            Largest body accepted (e.g. :attr:`~nwbzarr.limits.Limits.max_json_bytes`).
        what : str
            What is fetched, for messages (``"reference JSON"``).

        Returns
        -------
        bytes

        Raises
        ------
        StoreNotFoundError
            HTTP 404/410.
        RemoteAccessError
            HTTP 401/403.
        LimitExceededError
            The body is longer than ``max_bytes``.
        RemoteReadError
            Another refusal, a dropped connection, or no complete answer within the timeout.
        UntrustedReferenceError
            A redirect to a private address of another origin.
        """
        try:
            answer = await self._get(url, 0, -1, whole=max_bytes)
        except TransientError as exc:
            raise RemoteReadError(f"{url}: could not read the {what}: {exc}") from exc
        if answer.status == 200:
            if len(answer.body) > max_bytes:
                raise limits.exceeded(f"{url}: {what}", "max_json_bytes", f"> {max_bytes} bytes")
            return answer.body
        if answer.status in (404, 410):
            raise StoreNotFoundError(f"{url}: {what} not found (HTTP {answer.status})")
        if answer.status in (401, 403):
            raise RemoteAccessError(
                f"{url}: the server refused access (HTTP {answer.status}) to the {what}; pass "
                "credentials through storage_options, e.g. "
                "storage_options={'headers': {'Authorization': 'Bearer ...'}}"
            )
        raise RemoteReadError(f"{url}: could not read the {what} (HTTP {answer.status})")

    # -- internals --------------------------------------------------------------------------------
    async def _resolve(self, url: str, offset: int, length: int) -> _Answer:
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

    async def _get(self, url: str, offset: int, length: int, whole: int | None = None) -> _Answer:
        """One request (its redirects followed and checked), the body read within limits.

        ``whole``: fetch the whole body without ``Range``, at most ``whole`` + 1 bytes.
        """
        import aiohttp

        session = await self.fs.set_session()
        kwargs = dict(self.fs.kwargs)
        headers = dict(kwargs.pop("headers", None) or {})
        if whole is None:
            end = "" if length < 0 else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{end}"
            headers["Accept-Encoding"] = "identity"  # a compressed body would not match
        deadline = time.monotonic() + self.timeout
        requests = 0
        current = url
        try:
            async with asyncio.timeout(self.timeout):
                for _hop in range(MAX_REDIRECTS + 1):
                    remaining = max(deadline - time.monotonic(), 0.001)
                    timeout = aiohttp.ClientTimeout(total=remaining)
                    requests += 1
                    async with session.get(
                        current, headers=headers, timeout=timeout, allow_redirects=False, **kwargs
                    ) as resp:
                        location = resp.headers.get("Location")
                        if resp.status in _REDIRECTS and location:
                            nxt = urljoin(current, location)
                            if origin_of(nxt) is None:
                                raise RemoteReadError(
                                    f"{url}: redirected to {nxt!r}, which is not an http(s) URL"
                                )
                            if origin_of(nxt) != origin_of(current):
                                check_url_host(nxt, what=f"{url}: a redirect")
                                for name in list(headers):
                                    if name.lower() in ("authorization", "cookie"):
                                        del headers[name]
                                kwargs.pop("auth", None)
                            current = nxt
                            continue
                        answer = await self._read_answer(resp, url, offset, length, whole)
                        self._count(requests, len(answer.body))
                        return answer
                raise RemoteReadError(f"{url}: more than {MAX_REDIRECTS} redirects")
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            self._count(requests, 0)
            if isinstance(exc, TimeoutError):
                raise TransientError(
                    f"no complete answer within {self.timeout:g} s (http_timeout; raise it with "
                    f"{limits.env_name('http_timeout')})"
                ) from exc
            raise TransientError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def _read_answer(
        self, resp: Any, url: str, offset: int, length: int, whole: int | None
    ) -> _Answer:
        """Read the body of a final answer, never more than the request needs."""
        content_range = resp.headers.get("Content-Range", "")
        etag = resp.headers.get("ETag")
        final = str(resp.url)
        declared = _int(resp.headers.get("Content-Length"))
        max_range = limits.current().max_range_bytes
        where = f"{url} ({range_text(offset, length)})"
        status = resp.status
        total: int | None = None
        if status == 206 and whole is None:
            match = _CONTENT_RANGE.match(content_range)
            if match is None:
                raise TransientError(f"HTTP 206 without a usable Content-Range {content_range!r}")
            first, last, size = match.groups()
            total = None if size == "*" else int(size)
            want = length if length >= 0 else int(last) - int(first) + 1
            if want > max_range:
                raise limits.exceeded(where, "max_range_bytes", want)
            body = await _read_at_most(resp, want + 1)
            if len(body) > want:
                resp.close()
                raise RemoteReadError(
                    f"{where}: the server sent a body longer than the {want} bytes requested "
                    f"(Content-Range {content_range!r}); refusing the answer"
                )
            return _Answer(status, body, content_range, final, total, etag)
        if status == 200:
            if whole is not None:
                if declared is not None and declared > whole:
                    resp.close()
                    raise limits.exceeded(f"{url}: document", "max_json_bytes", declared)
                body = await _read_at_most(resp, whole + 1)
                if len(body) > whole:
                    resp.close()
                return _Answer(status, body, "", final, None, etag)
            # the server ignores Range: read the file only up to the end of the range
            cap = min(max_range, IGNORED_RANGE_MAX)
            need = offset + length if length >= 0 else cap
            body = b"" if need > cap else await _read_at_most(resp, need + 1)
            if need > cap or (length < 0 and len(body) > cap):
                resp.close()
                raise RemoteReadError(
                    f"{where}: the server ignores Range (HTTP 200, the whole file); reading "
                    f"{need if length >= 0 else 'more than ' + str(cap)} bytes to serve this "
                    f"range is refused (at most {cap} bytes are read from such an answer). "
                    "Use a server that supports range requests"
                )
            if len(body) <= need:
                total = len(body)  # the body ended: that is the whole file
            else:
                resp.close()
                body = body[:need]
                total = declared
            return _Answer(status, body, "", final, total, etag)
        return _Answer(status, b"", content_range, final, _total(content_range), etag)

    def _check(self, url: str, answer: _Answer, offset: int, length: int, clamp: bool) -> bytes:
        status, body, content_range = answer.status, answer.body, answer.content_range
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
        elif status == 200:  # the server ignored Range: the body is the file's start
            if answer.total is not None:
                self.sizes[url] = answer.total
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


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


async def _read_at_most(resp: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of a response body, read in pieces (the rest is left unread)."""
    parts: list[bytes] = []
    got = 0
    while got < limit:
        part = await resp.content.read(min(_PIECE, limit - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
