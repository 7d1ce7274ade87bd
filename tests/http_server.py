"""A loopback HTTP server for tests of remote (read-only) stores.

:class:`RangeHTTPServer` serves one local directory on ``127.0.0.1`` at an ephemeral port from
a background thread, the way a static web server or an object store's public endpoint would:

* ``GET`` and ``HEAD`` only (anything else gets 405);
* HTTP ranges (``Range: bytes=a-b``, ``bytes=a-``, ``bytes=-n``): ``206 Partial Content`` with
  ``Content-Range``, ``416`` when unsatisfiable; every file response carries
  ``Accept-Ranges: bytes`` and ``Content-Length``;
* ``404`` for missing files and for paths outside the served directory;
* directories: ``404`` by default, like an object store (there is no listing over plain
  HTTP); with ``listing=True`` an HTML index of links, like ``python -m http.server``;
* optional required headers (e.g. ``{"Authorization": "Bearer x"}``): a request without them
  gets ``401``, so a test can prove that ``storage_options`` reach fsspec;
* a request log (:attr:`RangeHTTPServer.log`) of ``(method, path, range, status)``, so tests can
  count requests, and the most ``GET`` requests served at once
  (:attr:`RangeHTTPServer.max_in_flight`);
* an optional added latency per request (``latency`` seconds), for benchmarks that stand in for
  a distant server. Only the requested range is read from disk, so large files serve fast;
* fault injection (:meth:`RangeHTTPServer.add_fault`): the next matching requests answer with
  an error status, drop the connection before the response or in the middle of the body, or
  answer late; faulted requests are logged with their status (0 for a dropped connection);
* presigned-URL redirects like DANDI's: ``/redirect/<path>`` answers ``302`` to
  ``/signed/<token>/<path>`` with a fresh token; :meth:`RangeHTTPServer.expire_tokens` makes
  every token issued so far answer ``403``, as an expired S3 signature does.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Request", "Fault", "RangeHTTPServer"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Request:
    """One request as the server saw it.

    Attributes
    ----------
    method : str
        ``"GET"``, ``"HEAD"``, ...
    path : str
        URL path, percent-decoded, without the query string (e.g. ``"/x.nwb.zarr/zarr.json"``).
    range : str or None
        The ``Range`` header as sent, or None.
    status : int
        HTTP status code of the response.
    """

    method: str
    path: str
    range: str | None
    status: int


@dataclass
class Fault:
    """A fault served instead of (or around) the normal answer of matching requests.

    Attributes
    ----------
    kind : {"status", "drop_before", "drop_mid", "slow"}
        ``"status"``: answer ``status`` with a short body; ``"drop_before"``: close the
        connection without answering; ``"drop_mid"``: send the headers and half of the body,
        then close; ``"slow"``: sleep ``delay`` seconds, then answer normally.
    count : int
        How many matching requests get the fault (then it is used up).
    status : int
        Status code for ``"status"`` faults.
    delay : float
        Seconds slept by ``"slow"`` faults.
    path : str
        Only requests whose URL path starts with this prefix match ("" = all).
    """

    kind: str
    count: int = 1
    status: int = 503
    delay: float = 0.0
    path: str = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as aiohttp expects
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log replaces stderr noise

    # -- dispatch ---------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.server.in_flight(+1)
        try:
            self._serve(body=True)
        finally:
            self.server.in_flight(-1)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _refuse(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only server\n")

    do_PUT = do_POST = do_DELETE = do_PATCH = _refuse  # noqa: N815

    # -- helpers ----------------------------------------------------------------------------------
    def _record(self, status: int) -> None:
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.server.record(Request(self.command, url_path, self.headers.get("Range"), status))

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        send_body: bool = True,
    ) -> None:
        self._record(int(status))
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            if getattr(self, "_half_body", False):
                self.wfile.write(body[: len(body) // 2])
                self._half_body = False
                self._drop_quietly()
                return
            self.wfile.write(body)

    def _drop_quietly(self) -> None:
        """Close the connection now, whatever was sent."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drop(self) -> None:
        """Close the connection without answering (the client sees it closed)."""
        self._record(0)
        self._drop_quietly()

    def _serve(self, body: bool) -> None:
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        self._half_body = False
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fault = self.server.take_fault(url_path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "status":
                self._reply(fault.status, b"injected fault\n", send_body=body)
                return
            elif fault.kind == "drop_before":
                self._drop()
                return
            elif fault.kind == "drop_mid":
                self._half_body = True
        for key, value in self.server.required_headers.items():
            if self.headers.get(key) != value:
                self._reply(HTTPStatus.UNAUTHORIZED, b"missing credentials\n", send_body=body)
                return
        if url_path.startswith("/redirect/"):
            rest = url_path[len("/redirect/") :]
            token = self.server.new_token()
            location = urllib.parse.quote(f"/signed/{token}/{rest}", safe="/+")
            self._reply(HTTPStatus.FOUND, b"", {"Location": location}, body)
            return
        if url_path.startswith("/signed/"):
            token, _, rest = url_path[len("/signed/") :].partition("/")
            if not self.server.token_valid(token):
                self._reply(HTTPStatus.FORBIDDEN, b"signature expired\n", send_body=body)
                return
            url_path = "/" + rest
        target = (self.server.root / url_path.lstrip("/")).resolve()
        if target != self.server.root and self.server.root not in target.parents:
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", send_body=body)
            return
        if target.is_dir():
            if not self.server.listing:
                self._reply(HTTPStatus.NOT_FOUND, b"not found\n", send_body=body)
                return
            self._serve_index(target, url_path, body)
            return
        if not target.is_file():
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", send_body=body)
            return
        size = target.stat().st_size
        base = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        spec = self.headers.get("Range")
        if spec is None:
            data = target.read_bytes() if body else b""
            self._reply(HTTPStatus.OK, data, {**base, "Content-Length": str(size)}, body)
            return
        span = _parse_range(spec, size)
        if span is None:
            self._reply(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                b"",
                {**base, "Content-Range": f"bytes */{size}"},
                body,
            )
            return
        start, stop = span
        part = b""
        if body:
            with open(target, "rb") as f:
                f.seek(start)
                part = f.read(stop - start)
        headers = {
            **base,
            "Content-Range": f"bytes {start}-{stop - 1}/{size}",
            "Content-Length": str(stop - start),
        }
        self._reply(HTTPStatus.PARTIAL_CONTENT, part, headers, body)

    def _serve_index(self, directory: Path, url_path: str, body: bool) -> None:
        base = url_path if url_path.endswith("/") else url_path + "/"
        links = []
        for entry in sorted(os.listdir(directory)):
            name = entry + ("/" if (directory / entry).is_dir() else "")
            href = urllib.parse.quote(base + name, safe="/+")
            links.append(f'<a href="{href}">{html.escape(name)}</a><br>')
        page = ("<html><body>\n" + "\n".join(links) + "\n</body></html>\n").encode()
        self._reply(HTTPStatus.OK, page, {"Content-Type": "text/html; charset=utf-8"}, body)


def _parse_range(spec: str, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` (stop exclusive) of a single ``bytes=`` range, or None if unsatisfiable.

    Multi-range requests are not supported and count as unsatisfiable.
    """
    match = _RANGE.match(spec.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            return None
        return max(size - n, 0), size
    start = int(first)
    stop = size if last == "" else min(int(last) + 1, size)
    if start >= size or stop <= start:
        return None
    return start, stop


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, root: Path, required_headers: dict[str, str], listing: bool, latency: float
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.root = root
        self.required_headers = dict(required_headers)
        self.listing = listing
        self.log: list[Request] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._valid_from = 1
        self._issued = 0
        self._in_flight = 0
        self.max_in_flight = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client closing a keep-alive connection is not an error worth a traceback
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def in_flight(self, change: int) -> None:
        with self._lock:
            self._in_flight += change
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def take_fault(self, url_path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and url_path.startswith(fault.path):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return Fault(fault.kind, 1, fault.status, fault.delay, fault.path)
        return None

    def new_token(self) -> str:
        with self._lock:
            self._issued = next(self._tokens)
            return f"t{self._issued}"

    def token_valid(self, token: str) -> bool:
        with self._lock:
            number = token[1:]
            return token.startswith("t") and number.isdigit() and int(number) >= self._valid_from

    def expire_tokens(self) -> None:
        with self._lock:
            self._valid_from = self._issued + 1


class RangeHTTPServer:
    """Serve a directory over HTTP on ``127.0.0.1`` (ephemeral port) from a daemon thread.

    Parameters
    ----------
    root : str or pathlib.Path
        Directory to serve (only read).
    required_headers : dict of str to str, optional
        Headers every request must carry with exactly these values; others get ``401``.
    listing : bool
        Answer directory URLs with an HTML index (True) or ``404`` (False, the default, like
        an object store).
    latency : float
        Seconds slept before answering each request (0 by default), to stand in for a
        distant server in benchmarks.

    Examples
    --------
    >>> with RangeHTTPServer(tmp_path) as server:  # doctest: +SKIP
    ...     url = server.url("x.nwb.zarr")
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        required_headers: dict[str, str] | None = None,
        listing: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.root = Path(root).resolve()
        self._server = _Server(self.root, required_headers or {}, listing, latency)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, relative: str = "") -> str:
        """The URL of a path relative to the served directory."""
        return f"{self.base_url}/{urllib.parse.quote(relative.lstrip('/'), safe='/+')}"

    @property
    def log(self) -> list[Request]:
        """A copy of the requests served so far, oldest first."""
        with self._server._lock:
            return list(self._server.log)

    def clear_log(self) -> None:
        """Forget the requests served so far (and reset :attr:`max_in_flight`)."""
        with self._server._lock:
            self._server.log.clear()
            self._server.max_in_flight = 0

    @property
    def max_in_flight(self) -> int:
        """Most ``GET`` requests served at the same time since the log was last cleared."""
        with self._server._lock:
            return self._server.max_in_flight

    def add_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        status: int = 503,
        delay: float = 0.0,
        path: str = "",
    ) -> None:
        """Make the next ``count`` requests under ``path`` fail; see :class:`Fault`.

        Faults are used in the order they were added.
        """
        if kind not in ("status", "drop_before", "drop_mid", "slow"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._server._lock:
            self._server.faults.append(Fault(kind, count, status, delay, path))

    def clear_faults(self) -> None:
        """Forget the faults not used yet."""
        with self._server._lock:
            self._server.faults.clear()

    def expire_tokens(self) -> None:
        """Make every ``/signed/<token>/`` URL issued so far answer ``403``."""
        self._server.expire_tokens()

    def start(self) -> RangeHTTPServer:
        """Start serving in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
                name="RangeHTTPServer",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> RangeHTTPServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
