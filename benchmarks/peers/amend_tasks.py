"""One amend-and-save (or read-back) measurement per process, for every tool of ``amend.py``.

The peers (LINDI 0.4.6, pynwb HDF5) run this script in the peer venv; nwbzarr's rows run it
in nwbzarr's interpreter, so every tool goes through the same data and checks. Each task
imports the tool it measures and builds the new data before the clock starts, then prints
one JSON line.

Tasks::

    index --tool {nwbzarr,lindi} --src NWB --out JSON
        the reference JSON of a local HDF5 file (nwbzarr: index_to_json; LINDI: every
        chunk referenced, as remote.py makes it)
    amend --tool TOOL --src PATH --out PATH --add-mb MB [--nwb NWB]
        open PATH, add a processing module "amend" holding the TimeSeries "added" (MB of
        float32, 64 columns, chunks 16384 x 64) and a 100-unit Units table, write, save to
        OUT, close
    read --tool TOOL --path OUT --add-mb MB
        open OUT, read the added TimeSeries fully and check every value, the units and a
        window of the original recording

TOOL: ``nwbzarr-json`` (``NWBZarrIO(our JSON, "a")`` + ``io.save(OUT)``), ``nwbzarr-hdf5``
(``NWBZarrIO(.nwb, "a")`` + ``io.save(OUT)``), ``lindi-json``
(``LindiH5pyFile.from_lindi_file(JSON, mode="r+")`` + ``NWBHDF5IO(file=f, mode="a")`` +
``f.write_lindi_file(OUT)``), ``lindi-tar`` (LINDI's documented amendment: the LINDI JSON
written as ``OUT.lindi.tar``, reopened with ``mode="r+"``, new chunks stored in the tar),
``pynwb-hdf5`` (``NWBHDF5IO(OUT, "a")`` on a copy of the ``.nwb``; the copy is not timed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_runner as br  # noqa: E402
import ephys_signal as sig  # noqa: E402
import numpy as np  # noqa: E402

TOOLS = ("nwbzarr-json", "nwbzarr-hdf5", "lindi-json", "lindi-tar", "pynwb-hdf5")
COLUMNS = 64
"""Columns of the added TimeSeries."""
ADDED_CHUNKS = (16_384, COLUMNS)
"""Chunk shape of the added TimeSeries (4 MiB of float32), given to every tool."""
N_UNITS = 100
SPIKES_PER_UNIT = 50
ADDED_SEED = 20_260_006
CHECK_SAMPLES = 2048
"""Samples x all channels of the original recording read back to check it is intact."""


def added_samples(add_mb: float) -> int:
    """Rows of the added ``(rows, 64)`` float32 TimeSeries holding ``add_mb`` MB (10**6 B)."""
    return max(1, int(add_mb * 1e6 // (COLUMNS * 4)))


def added_data(add_mb: float) -> np.ndarray:
    """The added values: deterministic standard-normal float32, ``(rows, 64)``."""
    rng = np.random.default_rng(ADDED_SEED)
    return rng.standard_normal((added_samples(add_mb), COLUMNS), dtype=np.float32)


def spike_times(unit: int) -> np.ndarray:
    """Spike times (s, float64, increasing) of one unit of the added Units table."""
    return np.arange(SPIKES_PER_UNIT) * 0.05 + unit * 1e-3


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (10**6 bytes): Linux's ``VmHWM``, as
    ``ru_maxrss`` keeps the driver's peak across ``execve`` (see ``ephys_signal.peak_rss_mb``);
    ``ru_maxrss`` (KiB) without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _sha256(path: str) -> str:
    """SHA-256 of a file, or of every file of a directory tree (names and bytes)."""
    digest = hashlib.sha256()
    paths = [Path(path)]
    if Path(path).is_dir():
        paths = sorted(p for p in Path(path).rglob("*") if p.is_file())
    for p in paths:
        digest.update(str(p.relative_to(path) if p != Path(path) else "").encode())
        with open(p, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def _tree_bytes(path: str) -> int:
    """Bytes of a file, or of every file under a directory (0 if missing)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return 0


def _amend_nwbfile(nwbfile, data_io) -> None:
    """Add the processing module with the TimeSeries and the Units table to ``nwbfile``."""
    from pynwb import TimeSeries

    module = nwbfile.create_processing_module("amend", "added by the amend benchmark")
    module.add(TimeSeries(name="added", data=data_io, unit="a.u.", rate=sig.RATE))
    for unit in range(N_UNITS):
        nwbfile.add_unit(spike_times=spike_times(unit))


def amend(tool: str, src: str, out: str, add_mb: float, nwb: str | None) -> dict:
    """Open ``src``, add the module and units, write, save to ``out``, close; times in s.

    Parameters
    ----------
    tool : str
        One of :data:`TOOLS`.
    src : str
        Input: our reference JSON (``nwbzarr-json``), the LINDI JSON (``lindi-*``) or the
        ``.nwb`` file (``nwbzarr-hdf5``, ``pynwb-hdf5``; the latter amends a copy at
        ``out``).
    out : str
        Output: a new JSON (+ ``.staging/`` for nwbzarr), ``.lindi.json``, ``.lindi.tar``
        or the amended HDF5 copy.
    add_mb : float
        MB of float32 in the added TimeSeries.
    nwb : str, optional
        The ``.nwb`` the JSON inputs reference (checked unchanged too).

    Returns
    -------
    dict
        ``amend_s``, ``peak_rss_mb``, ``bytes_written`` (and its parts), ``original_unchanged``
        (every input file byte-identical afterwards), ``copy_s`` for ``pynwb-hdf5``.
    """
    data = added_data(add_mb)
    originals = [p for p in (src, nwb) if p and tool != "pynwb-hdf5"]
    before = {p: _sha256(p) for p in originals}
    result: dict = {"tool": tool, "added_bytes": data.nbytes}
    if tool.startswith("nwbzarr"):
        from nwbzarr import NWBZarrIO, ZarrDataIO

        t0 = time.perf_counter()
        io = NWBZarrIO(src, mode="a")
        nwbfile = io.read()
        _amend_nwbfile(nwbfile, ZarrDataIO(data=data, chunks=ADDED_CHUNKS))
        io.write(nwbfile)
        saved = io.save(out)
        io.close()
        result["amend_s"] = time.perf_counter() - t0
        staging = str(Path(out).with_suffix("")) + ".staging"
        result["json_bytes"] = _tree_bytes(out)
        result["staged_bytes"] = _tree_bytes(staging)
        result["staged_files"] = saved.get("staged_files")
        result["bytes_written"] = result["json_bytes"] + result["staged_bytes"]
        names: tuple[str, ...] = ("nwbzarr", "zarr", "pynwb", "hdmf")
    elif tool.startswith("lindi"):
        result |= _amend_lindi(tool, src, out, data)
        names = ("lindi", "zarr", "pynwb", "hdmf")
    else:
        from hdmf.backends.hdf5 import H5DataIO
        from pynwb import NWBHDF5IO

        t0 = time.perf_counter()
        shutil.copyfile(src, out)
        result["copy_s"] = time.perf_counter() - t0
        size0 = os.path.getsize(out)
        t0 = time.perf_counter()
        with NWBHDF5IO(out, "a") as io:
            nwbfile = io.read()
            _amend_nwbfile(nwbfile, H5DataIO(data=data, chunks=ADDED_CHUNKS))
            io.write(nwbfile)
        result["amend_s"] = time.perf_counter() - t0
        result["bytes_written"] = os.path.getsize(out) - size0
        names = ("h5py", "pynwb", "hdmf")
    result["peak_rss_mb"] = _peak_rss_mb()
    result["original_unchanged"] = all(_sha256(p) == h for p, h in before.items())
    result["input_bytes_after"] = {p: _tree_bytes(p) for p in originals}
    result["versions"] = br.installed_versions(names)
    return result


def _amend_lindi(tool: str, src: str, out: str, data: np.ndarray) -> dict:
    """The LINDI rows of :func:`amend` (see the module docstring)."""
    import lindi
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO

    result: dict = {}
    t0 = time.perf_counter()
    if tool == "lindi-json":
        f = lindi.LindiH5pyFile.from_lindi_file(src, mode="r+")
    else:  # LINDI's amendment recipe: a .lindi.tar referencing the original, opened r+
        h = lindi.LindiH5pyFile.from_lindi_file(src)
        h.write_lindi_file(out)
        h.close()
        result["tar_s"] = time.perf_counter() - t0
        f = lindi.LindiH5pyFile.from_lindi_file(out, mode="r+")
    io = NWBHDF5IO(file=f, mode="a")
    nwbfile = io.read()
    _amend_nwbfile(nwbfile, H5DataIO(data=data, chunks=ADDED_CHUNKS))
    # LINDI 0.4.6's create_dataset refuses ``maxshape``, which hdmf sets by default for
    # table columns (Units) so that they can grow later: make none expandable
    io.write(nwbfile, expandable=[])
    if tool == "lindi-json":
        f.write_lindi_file(out)
    io.close()
    f.close()
    result["amend_s"] = time.perf_counter() - t0
    result["bytes_written"] = _tree_bytes(out)
    return result


def _open(tool: str, path: str):
    """Open an amended result with the tool that wrote it: ``(nwbfile, close)``."""
    if tool.startswith("nwbzarr"):
        from nwbzarr import read_nwb

        nwbfile = read_nwb(path)
        return nwbfile, nwbfile.read_io.close
    from pynwb import NWBHDF5IO

    if tool.startswith("lindi"):
        import lindi

        h5 = lindi.LindiH5pyFile.from_lindi_file(path)
        io = NWBHDF5IO(file=h5, mode="r")
        return io.read(), lambda: (io.close(), h5.close())
    io = NWBHDF5IO(path, "r")
    return io.read(), io.close


def read(tool: str, path: str, add_mb: float) -> dict:
    """Open ``path``, read the added TimeSeries fully and check everything; times in s.

    Parameters
    ----------
    tool : str
        The tool that wrote ``path`` (one of :data:`TOOLS`); it also reads it.
    path : str
        The amended result (JSON, ``.lindi.json``, ``.lindi.tar`` or ``.nwb``).
    add_mb : float
        MB of float32 the amendment added (regenerated here to compare).

    Returns
    -------
    dict
        ``open_read_s`` (open + ``read()``), ``series_s`` (the whole added series),
        ``peak_rss_mb``.

    Raises
    ------
    AssertionError
        A value read back differs from what was written (added series, units, original
        recording window).
    """
    if tool.startswith("nwbzarr"):
        import nwbzarr  # noqa: F401 - imported before the clock starts
    elif tool.startswith("lindi"):
        import lindi  # noqa: F401
    import pynwb  # noqa: F401

    expected = added_data(add_mb)
    t0 = time.perf_counter()
    nwbfile, close = _open(tool, path)
    open_s = time.perf_counter() - t0
    series = nwbfile.processing["amend"]["added"]
    t0 = time.perf_counter()
    values = np.asarray(series.data[:])
    series_s = time.perf_counter() - t0
    assert values.dtype == expected.dtype, f"added series dtype {values.dtype}"
    assert np.array_equal(values, expected), "added series: values differ from those written"
    units = nwbfile.units
    assert len(units) == N_UNITS, f"{len(units)} units, expected {N_UNITS}"
    for unit in (0, N_UNITS // 2, N_UNITS - 1):
        got = np.asarray(units["spike_times"][unit])
        assert np.array_equal(got, spike_times(unit)), f"unit {unit}: spike times differ"
    original = nwbfile.acquisition["ElectricalSeries"].data
    n = min(CHECK_SAMPLES, original.shape[0])
    window = np.asarray(original[:n, :])
    assert np.array_equal(window, sig.ephys_block(0, n, 0, sig.N_CHANNELS).astype(np.int16)), (
        "original recording: values differ"
    )
    close()
    return {
        "tool": tool,
        "open_read_s": open_s,
        "series_s": series_s,
        "series_shape": list(values.shape),
        "peak_rss_mb": _peak_rss_mb(),
    }


def index(tool: str, src: str, out: str) -> dict:
    """Write the reference JSON of ``src``; index + save time (s) and JSON bytes.

    Parameters
    ----------
    tool : {"nwbzarr", "lindi"}
        Whose JSON: ``index_to_json`` or LINDI with every chunk referenced (absolute path of
        ``src`` as its URL).
    src : str
        Local HDF5 ``.nwb`` file.
    out : str
        JSON to write.

    Returns
    -------
    dict
        ``index_s`` (s) and ``json_bytes``.
    """
    if tool == "lindi":
        import lindi
        from lindi.LindiH5ZarrStore.LindiH5ZarrStoreOpts import LindiH5ZarrStoreOpts

        t0 = time.perf_counter()
        opts = LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None)
        h5 = lindi.LindiH5pyFile.from_hdf5_file(src, url=src, zarr_store_opts=opts)
        h5.write_lindi_file(out)
        h5.close()
    else:
        from nwbzarr import index_to_json

        t0 = time.perf_counter()
        index_to_json(src, out)
    return {"tool": tool, "index_s": time.perf_counter() - t0, "json_bytes": _tree_bytes(out)}


def main(argv: list[str] | None = None) -> None:
    """Parse the task arguments, run the task, print its JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    ix = sub.add_parser("index")
    ix.add_argument("--tool", choices=("lindi", "nwbzarr"), required=True)
    ix.add_argument("--src", required=True)
    ix.add_argument("--out", required=True)
    am = sub.add_parser("amend")
    am.add_argument("--tool", choices=TOOLS, required=True)
    am.add_argument("--src", required=True)
    am.add_argument("--out", required=True)
    am.add_argument("--add-mb", type=float, required=True)
    am.add_argument("--nwb", help="the .nwb file a JSON input references")
    rd = sub.add_parser("read")
    rd.add_argument("--tool", choices=TOOLS, required=True)
    rd.add_argument("--path", required=True)
    rd.add_argument("--add-mb", type=float, required=True)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # tools' own prints stay off stdout
        if args.task == "index":
            result = index(args.tool, args.src, args.out)
        elif args.task == "amend":
            result = amend(args.tool, args.src, args.out, args.add_mb, args.nwb)
        else:
            result = read(args.tool, args.path, args.add_mb)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
