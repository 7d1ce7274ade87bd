"""Zarr -> HDF5: ``nwbzarr convert STORE OUT.nwb`` on a large gzip'd Zarr NWB store.

Usage::

    python benchmarks/zarr_to_hdf5.py [--gb 1] [--repeat 1] [--codec gzip|blosc]
        [--workdir DIR] [--keep] [--json OUT.json]

Writes, with nwbzarr's ``NWBZarrIO`` (in its own process), a Zarr NWB store holding one int16
``ElectricalSeries`` of ``--gb`` GB (10**9 bytes) of samples (384 channels at 30 kHz, the
signal of ``ephys_signal.py``) stored with ``ZarrDataIO(compressors=[Shuffle(2),
GzipCodec(level=4)])`` (``--codec gzip``: the chunks are copied as stored, re-framed) or
``[BloscCodec("zstd", 3, "shuffle")]`` (``--codec blosc``: values decoded and encoded again
through hdf5plugin), chunks 16384 x 64 in the default shards. Then runs
``nwbzarr convert STORE OUT.nwb --quiet`` ``--repeat`` times, each as the only child of a
fresh measuring process (so ``getrusage(RUSAGE_CHILDREN)`` holds that run alone), and prints
the medians of wall seconds, CPU seconds and peak RSS, the output size against the store's,
whether the HDF5 dataset kept the store's chunk shape and compression (gzip level, shuffle),
and whether 100 random windows read back equal. Target (issue 16): peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as br  # noqa: E402

_MAKE = """
import sys, warnings
sys.path.insert(0, sys.argv[3])
warnings.simplefilter("ignore")
import zarr.codecs.numcodecs as zn
from zarr.codecs import BloscCodec, GzipCodec
import nwbzarr, ephys_signal as sig
n = int(sys.argv[2])
compressors = {
    "gzip": [zn.Shuffle(elementsize=2), GzipCodec(level=4)],
    "blosc": [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")],
}[sys.argv[4]]
data = nwbzarr.ZarrDataIO(sig.EphysIterator(n), compressors=compressors)
with nwbzarr.NWBZarrIO(sys.argv[1], "w") as io:
    io.write(sig.make_nwbfile(data))
"""

# One run, in a process of its own whose only child is the CLI: RUSAGE_CHILDREN is that run.
_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
                  "peak_rss_mb": ru.ru_maxrss * 1024 / 1e6}))
"""

_CHECK = """
import json, sys, warnings
sys.path.insert(0, sys.argv[3])
warnings.simplefilter("ignore")
import h5py, numpy as np, zarr
try:
    import hdf5plugin  # noqa: F401  (reads the Blosc / Zstd filters)
except ImportError:
    pass
import ephys_signal as sig
path = "acquisition/ElectricalSeries/data"
z = zarr.open_array(sys.argv[1] + "/" + path, mode="r")
codecs = [c.to_dict() for c in z.metadata.codecs]
inner = codecs[0]["configuration"] if codecs[0]["name"] == "sharding_indexed" else None
chunks = tuple(inner["chunk_shape"]) if inner else tuple(z.chunks)
names = [c["name"] for c in (inner["codecs"] if inner else codecs)]
inner_codecs = inner["codecs"] if inner else codecs
with h5py.File(sys.argv[2], "r") as f:
    d = f[path]
    if "gzip" in names:
        level = next(c["configuration"]["level"] for c in inner_codecs if c["name"] == "gzip")
        kept = (d.chunks == chunks and d.compression == "gzip" and d.compression_opts == level
                and d.shuffle == ("numcodecs.shuffle" in names))
    else:  # Blosc: hdf5plugin's filter 32001 with the same clevel, shuffle and compressor
        blosc = next(c["configuration"] for c in inner_codecs if c["name"] == "blosc")
        opts = d._filters.get("32001", ())
        kept = (d.chunks == chunks and len(opts) == 7 and opts[4] == blosc["clevel"]
                and opts[5] == {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[blosc["shuffle"]])
    windows = sig.random_slices(z.shape[0])
    equal = all(np.array_equal(d[t0:t1, c0:c1], sig.ephys_block(t0, t1, c0, c1))
                for t0, t1, c0, c1 in windows)
    filters = {k: list(v) if isinstance(v, tuple) else v for k, v in d._filters.items()}
    print(json.dumps({"zarr_chunks": chunks, "zarr_codecs": names, "zarr_shards": z.shards,
                      "hdf5_chunks": d.chunks, "hdf5_filters": filters,
                      "storage_kept": bool(kept), "windows_equal": bool(equal)}))
"""


def _json_line(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def make_store(path: Path, gb: float, codec: str = "gzip") -> int:
    """Write the benchmark store in a child process; return its number of samples."""
    import ephys_signal as sig

    n = int(gb * 1e9 / 2 / sig.N_CHANNELS)
    subprocess.run(
        [sys.executable, "-c", _MAKE, str(path), str(n), str(br.BENCH_DIR), codec],
        check=True,
        env=_env(),
    )
    return n


def _env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(br.REPO / "src"), env.get("PYTHONPATH")) if p
    )
    return env


def convert_once(store: Path, out: Path) -> dict:
    """One ``nwbzarr convert STORE OUT --quiet`` run: wall s, CPU s, peak RSS MB."""
    br.remove(out)
    cmd = [sys.executable, "-m", "nwbzarr.cli", "convert", str(store), str(out), "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=_env()
    )
    if proc.returncode != 0:
        raise SystemExit(f"convert failed: {proc.stderr.strip()[-2000:]}")
    return _json_line(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="GB of int16 samples (10**9 B)")
    parser.add_argument("--repeat", type=int, default=1, help="conversions (medians reported)")
    parser.add_argument(
        "--codec",
        choices=("gzip", "blosc"),
        default="gzip",
        help="store compression: gzip 4 + shuffle (chunks copied as stored) or Blosc-zstd 3 "
        "(nwbzarr's default; values decoded and encoded again by hdf5plugin's Blosc filter)",
    )
    parser.add_argument("--workdir", help="directory for generated files (default: temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", help="also write the raw results to this JSON file")
    args = parser.parse_args()
    with br.WorkDir(args.workdir, args.keep) as work:
        store = work / f"ephys_{args.codec}.nwb.zarr"
        if not store.exists():
            make_store(store, args.gb, args.codec)
        out = work / "ephys.nwb"
        runs = [convert_once(store, out) for _ in range(max(1, args.repeat))]
        proc = subprocess.run(
            [sys.executable, "-c", _CHECK, str(store), str(out), str(br.BENCH_DIR)],
            capture_output=True,
            text=True,
            env=_env(),
            check=True,
        )
        check = _json_line(proc.stdout)
        result = {
            "gb": args.gb,
            "runs": runs,
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "store_bytes": _tree_bytes(store),
            "hdf5_bytes": out.stat().st_size,
            **check,
        }
    rows = [
        ["wall s", br.cell(result, "wall_s")],
        ["CPU s", br.cell(result, "cpu_s")],
        ["peak RSS MB (target < 300)", br.cell(result, "peak_rss_mb", "{:.0f}")],
        ["Zarr store MB", f"{result['store_bytes'] / 1e6:.1f}"],
        ["HDF5 file MB", f"{result['hdf5_bytes'] / 1e6:.1f}"],
        ["chunks", f"{tuple(check['zarr_chunks'])} -> {tuple(check['hdf5_chunks'])}"],
        ["codecs -> filters", f"{check['zarr_codecs']} -> {check['hdf5_filters']}"],
        ["chunks and compression kept", str(check["storage_kept"])],
        ["100 windows equal", str(check["windows_equal"])],
    ]
    print(
        f"\nnwbzarr convert STORE OUT.nwb, {args.gb:g} GB int16, {args.codec} store, "
        f"{len(runs)} run(s), medians\n"
    )
    print(br.markdown_table(["", "value"], rows))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
