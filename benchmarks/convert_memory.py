"""Time and peak memory of converting a large chunked, gzip-compressed HDF5 NWB file.

Usage: ``python benchmarks/convert_memory.py [FILE] [--seconds N] [--rechunk]``.

Makes ``FILE`` (default ``/tmp/nwbzarr_bench/ecephys_gzip.nwb``) if it does not exist: one
``ElectricalSeries`` of int16 samples, 384 channels at 30 kHz (``N`` seconds, default 20, so
about 460 MB uncompressed), noise plus sinusoids, stored with
``H5DataIO(chunks=(8192, 64), compression="gzip", compression_opts=4, shuffle=True)``.
Then converts it to Zarr in a fresh Python process (public API only) and prints the wall time,
the throughput in MB/s of uncompressed data, and the process's peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the whole process, imports included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC
from pathlib import Path

RATE = 30_000.0
CHANNELS = 384

_CHILD = """
import json, resource, sys, time
import nwbzarr
t0 = time.perf_counter()
nwbzarr.convert(sys.argv[1], sys.argv[2], progress=False, keep_storage=sys.argv[3] == "keep")
elapsed = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mib": peak_kib / 1024}))
"""


def make_file(path: Path, seconds: float) -> int:
    """Write the benchmark file; return its uncompressed data size in bytes."""
    from datetime import datetime

    import numpy as np
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    n = int(seconds * RATE)
    rng = np.random.default_rng(0)
    t = np.arange(n, dtype=np.float32) / RATE
    data = np.empty((n, CHANNELS), dtype=np.int16)
    for c in range(CHANNELS):
        wave = 800 * np.sin(2 * np.pi * (5 + c % 7) * t) + 200 * np.sin(2 * np.pi * 180 * t + c)
        data[:, c] = (wave + rng.normal(0, 40, n)).astype(np.int16)
    nwb = NWBFile("bench", "bench", datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", "shank", "brain", device)
    for _ in range(CHANNELS):
        nwb.add_electrode(group=group, location="brain")
    region = nwb.create_electrode_table_region(list(range(CHANNELS)), "all")
    wrapped = H5DataIO(
        data, chunks=(8192, 64), compression="gzip", compression_opts=4, shuffle=True
    )
    nwb.add_acquisition(
        ElectricalSeries(name="raw", data=wrapped, electrodes=region, rate=RATE, conversion=1e-6)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return data.nbytes


def measure(src: Path, keep: bool) -> dict:
    """Convert ``src`` in a child process; return seconds and peak MiB."""
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "out.nwb.zarr"
        mode = "keep" if keep else "rechunk"
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(src), str(dst), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["zarr_bytes"] = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default="/tmp/nwbzarr_bench/ecephys_gzip.nwb")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rechunk", action="store_true", help="convert with keep_storage=False")
    parser.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    src = Path(args.file)
    if args.make_only:
        make_file(src, args.seconds)
        return
    if not src.exists():
        # in another process: Linux keeps ru_maxrss across fork + exec, so a child forked
        # from a process holding the generated samples would report their memory as its own
        cmd = [sys.executable, __file__, str(src), "--seconds", str(args.seconds), "--make-only"]
        subprocess.run(cmd, check=True)
    import h5py

    with h5py.File(src, "r") as f:
        nbytes = f["acquisition/raw/data"].nbytes
    r = measure(src, keep=not args.rechunk)
    print(f"source: {src} ({src.stat().st_size / 1e6:.1f} MB on disk, {nbytes / 1e6:.1f} MB data)")
    print(
        f"{'keep_storage' if not args.rechunk else 'rechunk':<13} time {r['seconds']:.2f} s  "
        f"{nbytes / 1e6 / r['seconds']:.1f} MB/s  peak RSS {r['peak_mib']:.0f} MiB  "
        f"zarr {r['zarr_bytes'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
