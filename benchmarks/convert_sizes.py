"""Convert every shared NWB file to Zarr v3 and print sizes, object counts and times.

Usage: ``python benchmarks/convert_sizes.py [NWB_DIR]`` (default ``../shared/data/nwb``).
Public API only; prints one row per file and a total row. Ratios are Zarr / HDF5.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nwbzarr
from nwbzarr.summary.tree import summarize


def main(nwb_dir: Path) -> None:
    files = sorted(nwb_dir.glob("*.nwb"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in files:
            dst = Path(tmp) / (src.stem + ".nwb.zarr")
            t0 = time.perf_counter()
            nwbzarr.convert(src, dst, progress=False)
            elapsed = time.perf_counter() - t0
            s = summarize(dst)
            rows.append(
                (src.name, src.stat().st_size, s.stored_bytes, s.n_files, s.n_arrays, elapsed)
            )
    header = (
        f"{'file':<58} {'HDF5 B':>9} {'Zarr B':>9} {'ratio':>6} "
        f"{'files':>6} {'arrays':>6} {'sec':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, h5, zb, nfiles, narrays, sec in rows:
        print(f"{name:<58} {h5:>9} {zb:>9} {zb / h5:>6.2f} {nfiles:>6} {narrays:>6} {sec:>6.2f}")
    th = sum(r[1] for r in rows)
    tz = sum(r[2] for r in rows)
    print("-" * len(header))
    print(
        f"{'total (' + str(len(rows)) + ' files)':<58} {th:>9} {tz:>9} {tz / th:>6.2f} "
        f"{sum(r[3] for r in rows):>6} {sum(r[4] for r in rows):>6} {sum(r[5] for r in rows):>6.2f}"
    )


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "nwb"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
