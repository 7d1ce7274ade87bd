"""One hdmf-zarr measurement per process; runs in a peer venv.

Started by the drivers as ``PEER_PYTHON benchmarks/peers/hdmf_zarr_tasks.py TASK ...`` with
the interpreter of either peer venv: hdmf-zarr 0.13 (Zarr v2, ``../peers-venv``) or
hdmf-zarr 0.14 (Zarr v3, Python 3.13, ``../peers314-venv``). It imports hdmf_zarr and pynwb
from that interpreter and never nwbzarr; the versions it ran with are part of its result.
Prints one JSON line.

Tasks::

    write --tool TOOL --raw PATH --samples N --out PATH   NWBZarrIO(out, "w").write(...)
    read --tool TOOL --samples N --out PATH               open, scan and window-read
    channel --tool TOOL --out PATH [--channel K]          open, read data[:, K] in one call
    export --src PATH --dst PATH                          HDF5 NWB -> hdmf-zarr store

TOOL names the column (``hdmf-zarr``, ``hdmf-zarr-0.14``, ...); a name ending in ``-j2``
writes with ``number_of_jobs=2``, any other with the default settings.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ephys_signal as sig  # noqa: E402

TOOLS = ("hdmf-zarr", "hdmf-zarr-j2", "hdmf-zarr-0.14", "hdmf-zarr-0.14-j2")


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("hdmf-zarr", "zarr", "hdmf", "pynwb", "numcodecs")}


def write(tool: str, raw: str, n_samples: int, out: str) -> dict:
    """Write the recording with hdmf-zarr; returns timing, size and peak RSS."""
    from hdmf_zarr.nwb import NWBZarrIO

    nwbfile = sig.make_nwbfile(sig.EphysIterator(n_samples, source=raw))
    kwargs = {"number_of_jobs": 2} if tool.endswith("-j2") else {}
    children_before = sig.children_peak_rss_mb()
    cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
    with NWBZarrIO(out, "w") as io:
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
        "versions": _versions(),
    }


def _open_and_read(out: str):
    """``() -> (io, nwbfile)`` opening ``out`` with hdmf-zarr (imported here, untimed)."""
    from hdmf_zarr.nwb import NWBZarrIO

    def open_and_read():
        io = NWBZarrIO(out, "r")
        return io, io.read()

    return open_and_read


def read(tool: str, n_samples: int, out: str) -> dict:
    """Open ``out`` with hdmf-zarr and measure reads (:func:`ephys_signal.measure_reads`)."""
    slices = sig.random_slices(n_samples)
    return {"tool": tool, **sig.measure_reads(_open_and_read(out), n_samples, slices)}


def channel(tool: str, out: str, k: int) -> dict:
    """Open ``out`` and read channel ``k``'s whole trace (:func:`ephys_signal.measure_channel`)."""
    return {"tool": tool, **sig.measure_channel(_open_and_read(out), k)}


def export(src: str, dst: str) -> dict:
    """Export an HDF5 NWB file to an hdmf-zarr store (data copied, not linked)."""
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
    with NWBHDF5IO(src, "r") as src_io, NWBZarrIO(dst, "w") as io:
        io.export(src_io=src_io, write_args=dict(link_data=False))
    elapsed, cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
    stored, files = sig.tree_stats(dst)
    return {
        "tool": "hdmf-zarr",
        "convert_s": elapsed,
        "convert_cpu_s": cpu,
        "stored_bytes": stored,
        "files": files,
        "convert_rss_mb": sig.peak_rss_mb(),
        "versions": _versions(),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
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
    exp = sub.add_parser("export")
    exp.add_argument("--src", required=True)
    exp.add_argument("--dst", required=True)
    args = parser.parse_args(argv)
    if args.task == "write":
        result = write(args.tool, args.raw, args.samples, args.out)
    elif args.task == "read":
        result = read(args.tool, args.samples, args.out)
    elif args.task == "channel":
        result = channel(args.tool, args.out, args.channel)
    else:
        result = export(args.src, args.dst)
    sig.emit(result)


if __name__ == "__main__":
    main()
