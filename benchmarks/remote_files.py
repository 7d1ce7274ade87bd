"""Test files of the remote-read benchmark (``remote.py``): generated once, cached, served.

Files live in a benchmark data directory (``--data-dir``, else ``$NWBZARR_BENCH_DATA``, else
``~/.cache/nwbzarr-bench/remote``) under names that spell out their parameters, so a rerun
with the same options reuses them. Each is written to a temporary name and renamed when
complete: an interrupted run never leaves a file that looks cached.

:func:`start_server` serves them over loopback HTTP with an added latency per request and
:func:`split_log` turns the server's request log into requests and bytes per phase.

Run as a script, it writes one file (the driver calls it as a subprocess)::

    python benchmarks/remote_files.py ephys --out PATH --samples N --chunks 8192,64
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ephys_signal as sig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import http_server  # noqa: E402
from http_server import RangeHTTPServer, Request  # noqa: E402

MARK = "__mark__"
"""First path component of the phase-marker URLs the tasks fetch (404s, logged)."""
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

SERIES_CHUNKS = (8192, 64)
"""Chunk shape (samples, channels) of the large recording (1 MiB of int16)."""
INDEX_CHUNKS = (64, 64)
"""Chunk shape of the many-chunk file used to time index creation (8 KiB of int16, about
6 KB gzip: above `index_hdf5`'s default `inline_bytes`, so chunks are referenced, as in
LINDI's JSON)."""


def default_data_dir() -> Path:
    """``$NWBZARR_BENCH_DATA``, else ``~/.cache/nwbzarr-bench/remote``."""
    env = os.environ.get("NWBZARR_BENCH_DATA")
    return Path(env) if env else Path.home() / ".cache" / "nwbzarr-bench" / "remote"


def samples_for_mb(mb: float) -> int:
    """Samples of a 384-channel int16 recording holding ``mb`` MB (10**6 bytes) of samples."""
    return max(1, int(mb * 1e6 // (sig.N_CHANNELS * 2)))


def samples_for_chunks(n_chunks: int, chunks: tuple[int, int] = INDEX_CHUNKS) -> int:
    """Samples of a recording whose ``(samples, 384)`` dataset has at least ``n_chunks``
    chunks of shape ``chunks``."""
    per_row = -(-sig.N_CHANNELS // chunks[1])
    return -(-n_chunks // per_row) * chunks[0]


def write_ephys_nwb(path: str, n_samples: int, chunks: tuple[int, int]) -> None:
    """Write an NWB file whose ElectricalSeries is chunked and gzip-compressed (level 4).

    Parameters
    ----------
    path : str
        Output ``.nwb`` file; written as ``<stem>.partial.nwb`` then renamed.
    n_samples : int
        Samples of the ``(n_samples, 384)`` int16 recording of :mod:`ephys_signal`.
    chunks : tuple of int
        HDF5 chunk shape (samples, channels).
    """
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO

    if n_samples * sig.N_CHANNELS * 2 <= 64e6:
        data = sig.ephys_block(0, n_samples, 0, sig.N_CHANNELS)
    else:  # generated buffer by buffer
        data = sig.EphysIterator(n_samples)
    nwbfile = sig.make_nwbfile(H5DataIO(data=data, compression="gzip", chunks=tuple(chunks)))
    part = str(Path(path).with_suffix(".partial.nwb"))
    with NWBHDF5IO(part, "w") as io:
        io.write(nwbfile)
    os.replace(part, path)


def cached_ephys_nwb(data_dir: Path, n_samples: int, chunks: tuple[int, int]) -> Path:
    """The cached recording file of these parameters, written first if missing.

    Parameters
    ----------
    data_dir : pathlib.Path
        Benchmark data directory.
    n_samples : int
        Samples of the recording.
    chunks : tuple of int
        Chunk shape (samples, channels).

    Returns
    -------
    pathlib.Path
        The ``.nwb`` file.

    Raises
    ------
    RuntimeError
        The generating subprocess failed (its last stderr lines are in the message).
    """
    path = data_dir / f"ephys_{n_samples}x{sig.N_CHANNELS}_c{chunks[0]}x{chunks[1]}_gzip.nwb"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} ...", file=sys.stderr)
        cmd = [sys.executable, __file__, "ephys", "--out", str(path)]
        cmd += ["--samples", str(n_samples), "--chunks", f"{chunks[0]},{chunks[1]}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"generating {path} failed: {tail}")
    return path


def shared_copies(source_dir: Path, data_dir: Path, limit: int | None = None) -> list[Path]:
    """Copies of the ``.nwb`` files of ``source_dir`` under ``data_dir/shared`` (so one
    server serves everything), made once.

    Parameters
    ----------
    source_dir : pathlib.Path
        Directory of real NWB files (``../shared/data/nwb``); only read.
    data_dir : pathlib.Path
        Benchmark data directory.
    limit : int, optional
        Keep only this many files (the largest first), e.g. for ``--quick``.

    Returns
    -------
    list of pathlib.Path
        The copies, sorted by name; empty if ``source_dir`` does not exist.
    """
    if not source_dir.is_dir():
        return []
    sources = sorted(source_dir.glob("*.nwb"), key=lambda p: -p.stat().st_size)[:limit]
    out_dir = data_dir / "shared"
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for src in sources:
        dst = out_dir / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, str(dst) + ".part")
            os.replace(str(dst) + ".part", dst)
        copies.append(dst)
    return sorted(copies)


@dataclass(frozen=True)
class StreamedRequest(Request):
    """A whole-file ``GET`` (no ``Range``): ``sent`` body bytes, 0 if the client hung up
    before the end (it asked for the headers only; what sat in socket buffers is not
    counted)."""

    sent: int = 0


class _StreamingHandler(http_server._Handler):
    """The test server's handler, except that a ``GET`` without ``Range`` streams the file
    in 64 KiB blocks after its headers and logs its body bytes if the client read them all.

    remfile and LINDI ask for the file's length with such a ``GET`` and hang up after the
    headers; the base handler would read the whole file before answering, which delays
    them and would count the whole file as transferred.
    """

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        target = (self.server.root / url_path.lstrip("/")).resolve()
        inside = self.server.root in target.parents
        if self.headers.get("Range") is not None or not inside or not target.is_file():
            super().do_GET()
            return
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        sent, size = 0, target.stat().st_size
        try:
            self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with open(target, "rb") as f:
                while block := f.read(1 << 16):
                    self.wfile.write(block)
                    sent += len(block)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            complete = sent if sent == size else 0
            self.server.record(StreamedRequest("GET", url_path, None, 200, complete))


def start_server(root: Path, latency: float) -> RangeHTTPServer:
    """Start a :class:`RangeHTTPServer` of ``root`` that streams whole-file ``GET``s.

    Parameters
    ----------
    root : pathlib.Path
        Directory served.
    latency : float
        Seconds slept before answering each request.

    Returns
    -------
    RangeHTTPServer
        Started; use it as a context manager to stop it.
    """
    server = RangeHTTPServer(root, latency=latency)
    server._server.RequestHandlerClass = _StreamingHandler  # our own test helper's internals
    return server.start()


def request_bytes(request: Request, root: Path, sizes: dict[str, int]) -> int:
    """Body bytes the server sent for one logged request.

    Parameters
    ----------
    request : Request or StreamedRequest
        An entry of the server's log.
    root : pathlib.Path
        The served directory (file sizes for ranges such as ``bytes=a-``).
    sizes : dict of str to int
        Cache of file sizes (bytes) by URL path, filled as needed.

    Returns
    -------
    int
        Bytes of the body; 0 for ``HEAD``, errors and abandoned whole-file ``GET``s.
    """
    if isinstance(request, StreamedRequest):
        return request.sent
    if request.method != "GET" or request.status not in (200, 206):
        return 0
    if request.path not in sizes:
        sizes[request.path] = (root / request.path.lstrip("/")).stat().st_size
    size = sizes[request.path]
    if request.status == 200 or request.range is None:
        return size
    first, last = _RANGE.match(request.range.strip()).groups()
    if first == "":
        return min(int(last), size)
    stop = size if last == "" else min(int(last) + 1, size)
    return stop - int(first)


def split_log(log: list[Request], root: Path) -> dict[str, dict]:
    """Count requests and bytes between the phase markers of a task.

    Parameters
    ----------
    log : list of Request
        The server's log, oldest first, covering one task.
    root : pathlib.Path
        The served directory.

    Returns
    -------
    dict
        ``{"<i>/<phase>": {"requests": int, "bytes": int}}`` for each marker
        ``/__mark__/<tool>/<i>/<phase>``, counting the requests since the previous marker
        (markers themselves excluded).
    """
    segments, requests, nbytes, sizes = {}, 0, 0, {}
    prefix = f"/{MARK}/"
    for request in log:
        if request.path.startswith(prefix):
            label = request.path[len(prefix) :].split("/", 1)[1]
            segments[label] = {"requests": requests, "bytes": nbytes}
            requests, nbytes = 0, 0
        else:
            requests += 1
            nbytes += request_bytes(request, root, sizes)
    return segments


def main(argv: list[str] | None = None) -> None:
    """Write one file (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    ephys = sub.add_parser("ephys")
    ephys.add_argument("--out", required=True)
    ephys.add_argument("--samples", type=int, required=True)
    ephys.add_argument("--chunks", default=",".join(map(str, SERIES_CHUNKS)))
    args = parser.parse_args(argv)
    chunks = tuple(int(c) for c in args.chunks.split(","))
    write_ephys_nwb(args.out, args.samples, chunks)


if __name__ == "__main__":
    main()
