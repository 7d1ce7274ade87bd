"""Test files of the remote-read benchmark (``remote.py``), generated once and cached.

Files live in a benchmark data directory (``--data-dir``, else ``$NWBZARR_BENCH_DATA``, else
``~/.cache/nwbzarr-bench/remote``) under names that spell out their parameters, so a rerun
with the same options reuses them. Each is written to a temporary name and renamed when
complete: an interrupted run never leaves a file that looks cached.

Run as a script, it writes one file (the driver calls it as a subprocess)::

    python benchmarks/remote_files.py ephys --out PATH --samples N --chunks 8192,64
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ephys_signal as sig  # noqa: E402

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
