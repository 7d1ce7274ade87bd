"""One benchmark measurement per process, run in nwbzarr's interpreter (pynwb HDF5 and nwbzarr).

The drivers (``ephys_write_read.py``, ``convert_big.py``) start this script once per task so
that the peak RSS it reports belongs to that task alone. It prints one JSON line.

Tasks::

    generate --raw PATH --samples N                       write the raw int16 recording
    write --tool TOOL --raw PATH --samples N --out PATH   write an NWB file from the raw file
    read --tool TOOL --samples N --out PATH               open, scan and window-read it
    channel --tool TOOL --out PATH [--channel K]          open, read data[:, K] in one call
    convert-cli --src PATH --dst PATH                     ``nwbzarr convert SRC DST --quiet``

TOOL is one of ``hdf5-raw``, ``hdf5-gzip`` (gzip 4), ``hdf5-gzip-shuffle`` (gzip 4 +
shuffle), ``nwbzarr`` and ``nwbzarr-j2`` (``write(number_of_jobs=2)``).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ephys_signal as sig  # noqa: E402

TOOLS = ("hdf5-raw", "hdf5-gzip", "hdf5-gzip-shuffle", "nwbzarr", "nwbzarr-j2")


def _hdf5_data(tool: str, iterator: sig.EphysIterator):
    from hdmf.backends.hdf5 import H5DataIO

    if tool == "hdf5-raw":
        return H5DataIO(data=iterator, chunks=iterator.chunk_shape)
    return H5DataIO(
        data=iterator,
        compression="gzip",
        compression_opts=4,
        shuffle=tool == "hdf5-gzip-shuffle",
        chunks=iterator.chunk_shape,
    )


def write(tool: str, raw: str, n_samples: int, out: str) -> dict:
    """Write the recording with ``tool``; returns timing, size and peak RSS."""
    iterator = sig.EphysIterator(n_samples, source=raw)
    if tool.startswith("hdf5"):
        from pynwb import NWBHDF5IO

        nwbfile = sig.make_nwbfile(_hdf5_data(tool, iterator))
        children_before = sig.children_peak_rss_mb()
        cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
        with NWBHDF5IO(out, "w") as io:
            io.write(nwbfile)
    else:
        import nwbzarr

        nwbfile = sig.make_nwbfile(iterator)
        kwargs = {"number_of_jobs": 2} if tool == "nwbzarr-j2" else {}
        # write(**kwargs) passes unknown names on to HDMF, which may ignore them: only a
        # declared parameter counts as support
        if kwargs and "number_of_jobs" not in inspect.signature(nwbzarr.NWBZarrIO.write).parameters:
            return {"tool": tool, "unsupported": "write() has no number_of_jobs parameter"}
        children_before = sig.children_peak_rss_mb()
        cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
        with nwbzarr.NWBZarrIO(out, "w") as io:
            io.write(nwbfile, **kwargs)
    write_s, write_cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
    stored, files = sig.tree_stats(out)
    return {
        "tool": tool,
        "write_s": write_s,
        "write_cpu_s": write_cpu,
        "raw_bytes": n_samples * sig.N_CHANNELS * 2,
        "stored_bytes": stored,
        "files": files,
        "write_rss_mb": sig.peak_rss_mb(),
        "write_workers_rss_mb": sig.workers_peak_rss_mb(children_before),
    }


def _open_and_read(tool: str, out: str):
    """``() -> (io, nwbfile)`` for ``tool``'s reader; the imports happen here, before any
    clock starts (only opening and ``read()`` are timed)."""
    from pynwb import NWBHDF5IO

    import nwbzarr

    opener = NWBHDF5IO if tool.startswith("hdf5") else nwbzarr.NWBZarrIO

    def open_and_read():
        io = opener(out, "r")
        return io, io.read()

    return open_and_read


def read(tool: str, n_samples: int, out: str) -> dict:
    """Open ``out`` with ``tool``'s reader and measure reads (:func:`sig.measure_reads`)."""
    open_and_read = _open_and_read(tool, out)
    slices = sig.random_slices(n_samples)
    return {"tool": tool, **sig.measure_reads(open_and_read, n_samples, slices)}


def channel(tool: str, out: str, k: int) -> dict:
    """Open ``out`` and read channel ``k``'s whole trace (:func:`sig.measure_channel`)."""
    return {"tool": tool, **sig.measure_channel(_open_and_read(tool, out), k)}


def convert_cli(src: str, dst: str) -> dict:
    """Run ``nwbzarr convert SRC DST --quiet`` as a child process; time, CPU, its peak RSS."""
    proc, elapsed, cpu, peak = sig.run_cli(["convert", src, dst, "--quiet"], dst + ".peak")
    if proc.returncode != 0:
        return {"tool": "nwbzarr", "error": proc.stderr.strip()[-2000:]}
    stored, files = sig.tree_stats(dst)
    return {
        "tool": "nwbzarr",
        "convert_s": elapsed,
        "convert_cpu_s": cpu,
        "stored_bytes": stored,
        "files": files,
        "convert_rss_mb": peak,
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--raw", required=True)
    gen.add_argument("--samples", type=int, required=True)
    for name in ("write", "read"):
        p = sub.add_parser(name)
        p.add_argument("--tool", choices=TOOLS, required=True)
        p.add_argument("--samples", type=int, required=True)
        p.add_argument("--out", required=True)
        if name == "write":
            p.add_argument("--raw", required=True)
    ch = sub.add_parser("channel")
    ch.add_argument("--tool", choices=TOOLS, required=True)
    ch.add_argument("--out", required=True)
    ch.add_argument("--channel", type=int, default=sig.TRACE_CHANNEL)
    conv = sub.add_parser("convert-cli")
    conv.add_argument("--src", required=True)
    conv.add_argument("--dst", required=True)
    args = parser.parse_args(argv)
    if args.task == "generate":
        t0 = time.perf_counter()
        sig.write_raw(args.raw, args.samples)
        result = {"generate_s": time.perf_counter() - t0, "bytes": os.path.getsize(args.raw)}
    elif args.task == "write":
        result = write(args.tool, args.raw, args.samples, args.out)
    elif args.task == "read":
        result = read(args.tool, args.samples, args.out)
    elif args.task == "channel":
        result = channel(args.tool, args.out, args.channel)
    else:
        result = convert_cli(args.src, args.dst)
    sig.emit(result)


if __name__ == "__main__":
    main()
