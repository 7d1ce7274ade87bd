"""One two-photon imaging measurement per process, in nwbzarr's or a peer venv's interpreter.

Started by ``gb_scale.py``; it imports only the tool it measures (before any clock starts)
and prints one JSON line with wall seconds, CPU seconds (user + system, waited-for children
included) and the peak RSS of the process.

Tasks::

    generate --raw PATH --frames N                         write the raw uint16 movie
    write --tool TOOL --raw PATH --frames N --out PATH     write an NWB file from it
    read --tool TOOL --frames N --out PATH                 open + read(), scan, 100 windows
    pixel --tool TOOL --out PATH                           data[:, row, col] in one call
    frame --tool TOOL --out PATH --index K                 data[K] in one call

TOOL ``hdf5-raw`` / ``hdf5-gzip`` (pynwb ``NWBHDF5IO``, chunked, no filter / gzip 4),
``nwbzarr...`` (``nwbzarr.NWBZarrIO``, default settings) or ``hdmf-zarr...``
(``hdmf_zarr.nwb.NWBZarrIO``, read only, peer venv); reading, any ``hdf5...`` name opens with
``NWBHDF5IO``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ephys_signal as sig  # noqa: E402
import imaging_signal as img  # noqa: E402

SERIES = "TwoPhotonSeries"


def write(tool: str, raw: str, n_frames: int, out: str) -> dict:
    """Write the movie with ``tool``; wall and CPU seconds, bytes, files, peak RSS."""
    iterator = img.ImagingIterator(n_frames, source=raw)
    if tool.startswith("hdf5"):
        from hdmf.backends.hdf5 import H5DataIO
        from pynwb import NWBHDF5IO

        gzip = {"compression": "gzip", "compression_opts": 4} if tool == "hdf5-gzip" else {}
        data = H5DataIO(data=iterator, chunks=iterator.chunk_shape, **gzip)
        io_class = NWBHDF5IO
    elif tool.startswith("nwbzarr"):
        from nwbzarr import NWBZarrIO

        data, io_class = iterator, NWBZarrIO
    else:
        return {"tool": tool, "unsupported": "imaging writes: hdf5-raw, hdf5-gzip, nwbzarr"}
    nwbfile = img.make_nwbfile(data)
    cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
    with io_class(out, "w") as io:
        io.write(nwbfile)
    wall, cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
    stored, files = sig.tree_stats(out)
    return {
        "tool": tool,
        "write_s": wall,
        "write_cpu_s": cpu,
        "raw_bytes": n_frames * img.FRAME_BYTES,
        "stored_bytes": stored,
        "files": files,
        "write_rss_mb": sig.peak_rss_mb(),
    }


def _open_and_read(tool: str, out: str):
    """``() -> (io, nwbfile)`` for ``tool``'s reader (imported here, untimed)."""
    if tool.startswith("hdf5"):
        from pynwb import NWBHDF5IO as io_class
    elif tool.startswith("hdmf-zarr"):
        from hdmf_zarr.nwb import NWBZarrIO as io_class
    else:
        from nwbzarr import NWBZarrIO as io_class

    def open_and_read():
        io = io_class(out, "r")
        return io, io.read()

    return open_and_read


def _digest(array) -> str:
    import numpy as np

    return hashlib.sha1(np.ascontiguousarray(array, dtype="<u2").tobytes()).hexdigest()


def read(tool: str, n_frames: int, out: str) -> dict:
    """Open + ``read()``, a full scan in blocks of 128 frames and 100 windows of 10 frames x
    64 x 64 pixels; wall and CPU seconds of each (hashing excluded), digests, peak RSS."""
    import numpy as np

    open_and_read = _open_and_read(tool, out)
    c0, t0 = sig.cpu_seconds(), time.perf_counter()
    io, nwbfile = open_and_read()
    result = {"open_read_s": time.perf_counter() - t0, "open_read_cpu_s": sig.cpu_seconds() - c0}
    data = nwbfile.acquisition[SERIES].data
    wall = cpu = 0.0
    scan = hashlib.sha1()
    for start in range(0, n_frames, img.BUFFER_FRAMES):
        c0, t0 = sig.cpu_seconds(), time.perf_counter()
        block = np.asarray(data[start : start + img.BUFFER_FRAMES])
        wall += time.perf_counter() - t0
        cpu += sig.cpu_seconds() - c0
        scan.update(np.ascontiguousarray(block, dtype="<u2").tobytes())
    result |= {"scan_s": wall, "scan_cpu_s": cpu, "scan_sha1": scan.hexdigest()}
    wall = cpu = 0.0
    win = hashlib.sha1()
    for a, b, r, c in img.random_windows(n_frames):
        c0, t0 = sig.cpu_seconds(), time.perf_counter()
        block = np.asarray(data[a:b, r : r + 64, c : c + 64])
        wall += time.perf_counter() - t0
        cpu += sig.cpu_seconds() - c0
        win.update(np.ascontiguousarray(block, dtype="<u2").tobytes())
    io.close()
    return {
        "tool": tool,
        **result,
        "slices_s": wall,
        "slices_cpu_s": cpu,
        "slices_sha1": win.hexdigest(),
        "read_rss_mb": sig.peak_rss_mb(),
    }


def one_read(tool: str, out: str, what: str, index: int = 0) -> dict:
    """Open the file, then one ``data[...]`` call: the pixel trace ``data[:, row, col]``
    (``what="pixel"``, keys ``trace_*``) or frame ``data[index]`` (``"frame"``, ``frame_*``);
    wall and CPU seconds of the read alone, digest, peak RSS of the process."""
    import numpy as np

    io, nwbfile = _open_and_read(tool, out)()
    data = nwbfile.acquisition[SERIES].data
    key = "trace" if what == "pixel" else "frame"
    c0, t0 = sig.cpu_seconds(), time.perf_counter()
    if what == "pixel":
        values = np.asarray(data[:, img.PIXEL[0], img.PIXEL[1]])
    else:
        values = np.asarray(data[index])
    wall, cpu = time.perf_counter() - t0, sig.cpu_seconds() - c0
    io.close()
    return {
        "tool": tool,
        f"{key}_s": wall,
        f"{key}_cpu_s": cpu,
        f"{key}_sha1": _digest(values),
        f"{key}_rss_mb": sig.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--raw", required=True)
    gen.add_argument("--frames", type=int, required=True)
    for name in ("write", "read", "pixel", "frame"):
        p = sub.add_parser(name)
        p.add_argument("--tool", required=True)
        p.add_argument("--out", required=True)
        if name in ("write", "read"):
            p.add_argument("--frames", type=int, required=True)
        if name == "write":
            p.add_argument("--raw", required=True)
        if name == "frame":
            p.add_argument("--index", type=int, required=True)
    args = parser.parse_args(argv)
    if args.task == "generate":
        cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
        img.write_raw(args.raw, args.frames)
        result = {
            "generate_s": time.perf_counter() - t0,
            "generate_cpu_s": sig.cpu_seconds() - cpu0,
        }
    elif args.task == "write":
        result = write(args.tool, args.raw, args.frames, args.out)
    elif args.task == "read":
        result = read(args.tool, args.frames, args.out)
    else:
        result = one_read(args.tool, args.out, args.task, getattr(args, "index", 0))
    sig.emit(result)


if __name__ == "__main__":
    main()
