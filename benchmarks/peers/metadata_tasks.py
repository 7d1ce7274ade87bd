"""One measurement of a metadata-heavy NWB file per process, in either interpreter.

Started by ``metadata_heavy.py`` and ``gb_scale.py`` as ``PYTHON benchmarks/peers/metadata_tasks.py
TASK ...``: with this checkout's interpreter for pynwb HDF5 and nwbzarr, with the peer venv's
for hdmf-zarr 0.13, LINDI and kerchunk (it imports a tool only in that tool's branch). The
file is built by :mod:`metadata_files` (plain pynwb). Prints one JSON line with wall seconds,
CPU seconds (user + system of the process and its waited-for children) and the peak RSS.
The index tasks import nothing but the indexing tool (and the standard library), so their
peak RSS is the tool's.

Tasks::

    write --io IO --n N --trials T --out PATH    build the file, write it with IO
    read --io IO --n N --out PATH                open + read() + data[0] of every series
    index --tool TOOL --src PATH --out PATH      reference JSON of an HDF5 NWB file

IO is ``hdf5`` (pynwb ``NWBHDF5IO``), ``nwbzarr`` (``NWBZarrIO``: a store, or an ``.nwb``
file opened virtually), ``hdmf-zarr`` (``hdmf_zarr.nwb.NWBZarrIO``) or ``lindi`` (read
only: ``LindiH5pyFile.from_hdf5_file`` under ``NWBHDF5IO``). TOOL is ``nwbzarr-cli``
(``nwbzarr index SRC -o OUT --quiet`` as a child process: peak RSS and CPU are the
child's, interpreter start and imports included), ``nwbzarr`` (``index_hdf5`` +
``save_references`` in this process), ``lindi`` (every chunk referenced) or ``kerchunk``
(``SingleHdf5ToZarr(...).translate()`` written as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as sig  # noqa: E402 - stdlib only: the index tasks import nothing else

IOS = ("hdf5", "nwbzarr", "hdmf-zarr", "lindi")
INDEX_TOOLS = ("nwbzarr-cli", "nwbzarr", "lindi", "kerchunk")


def _io_class(io: str):
    """The pynwb-style IO class of ``io`` (imported here, before any clock starts)."""
    if io == "hdf5":
        from pynwb import NWBHDF5IO

        return NWBHDF5IO
    if io == "nwbzarr":
        from nwbzarr import NWBZarrIO

        return NWBZarrIO
    from hdmf_zarr.nwb import NWBZarrIO

    return NWBZarrIO


def write(io: str, n: int, n_trials: int, out: str) -> dict:
    """Build the file (untimed) and write it with ``io``; wall, CPU, RSS, bytes, files."""
    import metadata_files

    io_class = _io_class(io)
    nwbfile = metadata_files.make_nwbfile(n, n_trials=n_trials)
    cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
    with io_class(out, mode="w") as writer:
        writer.write(nwbfile)
    wall, cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
    stored, files = sig.tree_stats(out)
    return {
        "write_s": wall,
        "write_cpu_s": cpu,
        "write_rss_mb": sig.peak_rss_mb(),
        "stored_bytes": stored,
        "files": files,
    }


def _opener(io: str, path: str):
    """``() -> (nwbfile, close)`` for ``io`` (imports done here, untimed)."""
    if io == "lindi":
        import lindi
        from pynwb import NWBHDF5IO

        def open_lindi():
            h5 = lindi.LindiH5pyFile.from_hdf5_file(path)
            reader = NWBHDF5IO(file=h5, mode="r")
            return reader.read(), lambda: (reader.close(), h5.close())

        return open_lindi
    io_class = _io_class(io)

    def open_io():
        reader = io_class(path, mode="r")
        return reader.read(), reader.close

    return open_io


def read(io: str, n: int, path: str) -> dict:
    """Open + ``read()`` + ``data[0]`` of every series (and the trials' start times).

    Raises
    ------
    RuntimeError
        If the file holds another number of series than ``n``.
    """
    import metadata_files

    open_file = _opener(io, path)
    cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
    nwbfile, close = open_file()
    count = metadata_files.read_first_values(nwbfile)
    wall, cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
    close()
    if count != n:
        raise RuntimeError(f"{path}: read {count} series, expected {n}")
    return {"read_s": wall, "read_cpu_s": cpu, "read_rss_mb": sig.peak_rss_mb()}


def _index_kerchunk(src: str, out: str) -> None:
    """kerchunk's reference JSON of ``src`` (default options)."""
    from kerchunk.hdf import SingleHdf5ToZarr

    with open(src, "rb") as f:
        refs = SingleHdf5ToZarr(f, src).translate()
    with open(out, "w") as f:
        json.dump(refs, f)


def index(tool: str, src: str, out: str) -> dict:
    """Write the reference JSON of ``src`` with ``tool``; wall, CPU, peak RSS, JSON bytes."""
    if tool == "nwbzarr-cli":
        proc, wall, cpu, rss = sig.run_cli(["index", src, "-o", out, "--quiet"], out + ".peak")
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-1000:]}
    else:
        import remote_tasks

        if tool == "lindi":
            import lindi  # noqa: F401 - imported before the clock starts

            def run() -> None:
                remote_tasks._index_lindi(src, os.path.abspath(src), out)
        elif tool == "kerchunk":
            import kerchunk.hdf  # noqa: F401

            def run() -> None:
                _index_kerchunk(src, out)
        else:
            import nwbzarr.formats.hdf5.index  # noqa: F401
            import nwbzarr.formats.kerchunk.references  # noqa: F401

            def run() -> None:
                remote_tasks._index_nwbzarr(src, None, out)

        cpu0, t0 = sig.cpu_seconds(), time.perf_counter()
        run()
        wall, cpu = time.perf_counter() - t0, sig.cpu_seconds() - cpu0
        rss = sig.peak_rss_mb()
    return {
        "index_s": wall,
        "index_cpu_s": cpu,
        "index_rss_mb": rss,
        "json_bytes": os.path.getsize(out),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    w = sub.add_parser("write")
    w.add_argument("--io", choices=IOS[:3], required=True)
    w.add_argument("--n", type=int, required=True)
    w.add_argument("--trials", type=int, default=0)
    w.add_argument("--out", required=True)
    r = sub.add_parser("read")
    r.add_argument("--io", choices=IOS, required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--out", required=True)
    x = sub.add_parser("index")
    x.add_argument("--tool", choices=INDEX_TOOLS, required=True)
    x.add_argument("--src", required=True)
    x.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.task == "write":
        result = write(args.io, args.n, args.trials, args.out)
    elif args.task == "read":
        result = read(args.io, args.n, args.out)
    else:
        result = index(args.tool, args.src, args.out)
    sig.emit(result)


if __name__ == "__main__":
    main()
