"""One remote-read measurement per process, for every tool of ``remote.py``.

The peers (h5py + remfile, LINDI) run this script in the peer venv; nwbzarr's rows run it in
nwbzarr's interpreter, so every tool goes through the same timing code. It imports only the
tool it measures (after parsing, before the clock starts) and prints one JSON line.

Tasks::

    read --tool TOOL --urls URL... --mark URL [--window T0 T1]
        for each URL: open + read() the NWBFile, then (with --window) read samples
        [T0, T1) x all channels of acquisition/ElectricalSeries
    index --tool {lindi,nwbzarr} --src PATH... --url URL... --out PATH...
        write the reference JSON of each local HDF5 file, its chunks referring to URL

Requests are counted by the server, not here: after each phase the task fetches
``<mark URL>/<i>/<phase>`` (a 404 the server logs), and the driver splits the server's
request log at these markers. The marker requests happen outside the timed sections.

TOOL of ``read``: ``h5py-remfile`` (``NWBHDF5IO(file=h5py.File(remfile.File(url)))``),
``lindi-hdf5`` (``LindiH5pyFile.from_hdf5_file(url)``), ``lindi-json``
(``LindiH5pyFile.from_lindi_file(url)``), ``nwbzarr-hdf5`` and ``nwbzarr-json``
(``nwbzarr.read_nwb(url)``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import bench_runner as br  # noqa: E402

READ_TOOLS = ("h5py-remfile", "lindi-hdf5", "lindi-json", "nwbzarr-hdf5", "nwbzarr-json")
SERIES = "acquisition/ElectricalSeries/data"
"""Path of the recording's data array in the HDF5 file and in the reference JSONs."""


def _mark(mark_url: str, label: str) -> None:
    """Fetch ``mark_url/label`` so the server's log records a phase boundary (404 expected)."""
    try:
        urllib.request.urlopen(f"{mark_url}/{label}", timeout=30).close()
    except urllib.error.HTTPError:
        pass


def _opener(tool: str):
    """Import ``tool``'s modules and return ``open(url) -> (nwbfile, close)``."""
    if tool.startswith("nwbzarr"):
        import nwbzarr

        def open_nwbzarr(url: str):
            nwbfile = nwbzarr.read_nwb(url)
            return nwbfile, nwbfile.read_io.close

        return open_nwbzarr

    import h5py
    from pynwb import NWBHDF5IO

    if tool == "h5py-remfile":
        import remfile

        def open_remfile(url: str):
            rfile = remfile.File(url)
            h5 = h5py.File(rfile, "r")
            io = NWBHDF5IO(file=h5, mode="r")
            return io.read(), lambda: (io.close(), h5.close(), rfile.close())

        return open_remfile

    import lindi

    def open_lindi(url: str):
        if tool == "lindi-hdf5":
            h5 = lindi.LindiH5pyFile.from_hdf5_file(url)
        else:
            h5 = lindi.LindiH5pyFile.from_lindi_file(url)
        io = NWBHDF5IO(file=h5, mode="r")
        return io.read(), lambda: (io.close(), h5.close())

    return open_lindi


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text[:300]


def read(tool: str, urls: list[str], mark_url: str, window: tuple[int, int] | None) -> dict:
    """Open each URL with ``tool`` (open + ``read()``) and read the window; timings in s.

    Returns
    -------
    dict
        ``files``: one dict per URL with ``open_read_s``, and with a window ``window_s``,
        ``window_shape`` and ``window_sha1`` (of the values as little-endian int16), or
        ``error``.
    """
    import numpy as np

    open_file = _opener(tool)
    files = []
    for i, url in enumerate(urls):
        result: dict = {"url": url}
        nwbfile, close = None, None
        try:
            t0 = time.perf_counter()
            nwbfile, close = open_file(url)
            result["open_read_s"] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - reported per file, the run goes on
            result["error"] = _error_text(exc)
        _mark(mark_url, f"{i}/open")
        if window is not None and nwbfile is not None:
            try:
                data = nwbfile.acquisition["ElectricalSeries"].data
                t0 = time.perf_counter()
                block = np.asarray(data[window[0] : window[1], :])
                result["window_s"] = time.perf_counter() - t0
                result["window_shape"] = list(block.shape)
                raw = np.ascontiguousarray(block, dtype="<i2").tobytes()
                result["window_sha1"] = hashlib.sha1(raw).hexdigest()
            except Exception as exc:  # noqa: BLE001
                result["error"] = _error_text(exc)
            _mark(mark_url, f"{i}/window")
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - closing errors do not change the numbers
                pass
        files.append(result)
    names = ("nwbzarr", "zarr", "pynwb") if tool.startswith("nwbzarr") else ("h5py", "pynwb")
    names += ("remfile",) if tool == "h5py-remfile" else ("lindi",) if "lindi" in tool else ()
    return {"tool": tool, "files": files, "versions": br.installed_versions(names)}


def _index_lindi(src: str, url: str, out: str) -> None:
    """LINDI JSON of ``src`` with every chunk referenced (no external array link)."""
    import lindi
    from lindi.LindiH5ZarrStore.LindiH5ZarrStoreOpts import LindiH5ZarrStoreOpts

    opts = LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None)
    h5 = lindi.LindiH5pyFile.from_hdf5_file(src, url=url, zarr_store_opts=opts)
    h5.write_lindi_file(out)
    h5.close()


def _index_nwbzarr(src: str, url: str, out: str):
    """nwbzarr reference JSON of ``src``; returns the reference set."""
    from nwbzarr.formats.hdf5.index import index_hdf5
    from nwbzarr.formats.kerchunk.references import save_references

    refset = index_hdf5(src, url=url)
    save_references(refset, out)
    return refset


def _chunk_refs_lindi(out: str) -> tuple[int, int]:
    """(chunk references of the series, external array links) in a LINDI JSON."""
    with open(out) as f:
        refs = json.load(f)["refs"]
    chunks = sum(
        1
        for key in refs
        if key.startswith(SERIES + "/") and not key.rsplit("/", 1)[-1].startswith(".z")
    )
    links = sum(
        1 for key, v in refs.items() if key.endswith(".zattrs") and "_EXTERNAL_ARRAY_LINK" in str(v)
    )
    return chunks, links


def index(tool: str, srcs: list[str], urls: list[str], outs: list[str]) -> dict:
    """Write the reference JSON of each file; index + save time (s), JSON bytes, chunk refs."""
    if tool == "lindi":
        import lindi  # noqa: F401 - imported before the clock starts
    else:
        import nwbzarr.formats.hdf5.index  # noqa: F401
        import nwbzarr.formats.kerchunk.references  # noqa: F401
    files = []
    for src, url, out in zip(srcs, urls, outs, strict=True):
        result: dict = {"src": src}
        try:
            t0 = time.perf_counter()
            refset = (_index_lindi if tool == "lindi" else _index_nwbzarr)(src, url, out)
            result["index_s"] = time.perf_counter() - t0
            result["json_bytes"] = os.path.getsize(out)
            if tool == "lindi":
                result["chunk_refs"], result["external_links"] = _chunk_refs_lindi(out)
            else:  # Zarr v3 chunk keys of the series: <array>/c/<i>/<j>
                result["chunk_refs"] = sum(1 for k in refset.refs if k.startswith(SERIES + "/c/"))
        except Exception as exc:  # noqa: BLE001 - reported per file
            result["error"] = _error_text(exc)
        files.append(result)
    names = ("lindi", "h5py") if tool == "lindi" else ("nwbzarr", "zarr", "h5py")
    return {"tool": tool, "files": files, "versions": br.installed_versions(names)}


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    rd = sub.add_parser("read")
    rd.add_argument("--tool", choices=READ_TOOLS, required=True)
    rd.add_argument("--urls", nargs="+", required=True)
    rd.add_argument("--mark", required=True, help="URL prefix of the phase markers")
    rd.add_argument("--window", nargs=2, type=int, metavar=("T0", "T1"))
    ix = sub.add_parser("index")
    ix.add_argument("--tool", choices=("lindi", "nwbzarr"), required=True)
    ix.add_argument("--src", nargs="+", required=True)
    ix.add_argument("--url", nargs="+", required=True)
    ix.add_argument("--out", nargs="+", required=True)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # tools' progress output stays off stdout
        if args.task == "read":
            window = tuple(args.window) if args.window else None
            result = read(args.tool, args.urls, args.mark, window)
        else:
            result = index(args.tool, args.src, args.url, args.out)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
