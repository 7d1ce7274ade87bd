"""Time and peak memory of iterator writes: DataChunkIterator streaming, parallel writes.

Usage::

    python benchmarks/iterative_write.py dci [--mb 200] [--rows 100] [--shard-mb 256]
    python benchmarks/iterative_write.py gdci [--mb 200] [--jobs 1]

``dci`` streams ``--mb`` MB of int16 rows (1024 channels) from a generator through a
``DataChunkIterator`` yielding ``--rows`` rows per chunk, into zarr chunks and shards of
``--chunk-rows``/``--shard-rows`` rows (``ZarrDataIO``; default: the layout policy). ``gdci``
writes the same amount from a memory-mapped ``.npy`` file through a ``GenericDataChunkIterator``
with ``number_of_jobs=--jobs``.
Each run happens in this process; run it once per setting. It prints the seconds spent in
``write`` and the growth of peak RSS (``resource.getrusage``, MiB) over the RSS before it.
Public API only (``NWBZarrIO``, pynwb).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from hdmf.data_utils import DataChunkIterator, GenericDataChunkIterator
from pynwb import NWBFile, TimeSeries

from nwbzarr import NWBZarrIO, ZarrDataIO

CHANNELS = 1024


class NpyIterator(GenericDataChunkIterator):
    """Reads buffers from a ``.npy`` file (memory-mapped); pickles as its path."""

    def __init__(self, path: str, **kwargs):
        self._path = str(path)
        self._kwargs = kwargs
        self._array = np.load(self._path, mmap_mode="r")
        super().__init__(**kwargs)

    def _get_data(self, selection):
        return np.asarray(self._array[selection])

    def _get_maxshape(self):
        return self._array.shape

    def _get_dtype(self):
        return self._array.dtype

    def _to_dict(self):
        return {"path": self._path, **self._kwargs}

    @staticmethod
    def _from_dict(state):
        return NpyIterator(**state)


def _rows(n_rows: int):
    # noise-like rows (a pool of 257 random rows) so the codec cannot shrink shards to nothing
    pool = np.random.default_rng(0).integers(-2000, 2000, (257, CHANNELS), dtype=np.int16)
    for i in range(n_rows):
        yield pool[i % 257]


def _nwbfile(data) -> NWBFile:
    f = NWBFile("bench", "bench", datetime(2024, 1, 1, tzinfo=UTC))
    f.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=30000.0))
    return f


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["dci", "gdci"])
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--shard-rows", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--shard-mb", type=float, default=256, help="NWBZarrIO(shard_bytes)")
    args = parser.parse_args()
    n_rows = int(args.mb * 1e6 / (2 * CHANNELS))
    with tempfile.TemporaryDirectory() as tmp:
        if args.kind == "dci":
            data = DataChunkIterator(
                data=_rows(n_rows),
                maxshape=(None, CHANNELS),
                dtype=np.dtype("int16"),
                buffer_size=args.rows,
            )
            kwargs = {}
            if args.chunk_rows:
                shards = (args.shard_rows, CHANNELS) if args.shard_rows else None
                data = ZarrDataIO(data, chunks=(args.chunk_rows, CHANNELS), shards=shards)
        else:
            src = Path(tmp) / "src.npy"
            values = np.lib.format.open_memmap(
                src, mode="w+", dtype=np.int16, shape=(n_rows, CHANNELS)
            )
            for start in range(0, n_rows, 10000):
                stop = min(n_rows, start + 10000)
                values[start:stop] = np.arange(start, stop)[:, None] % 30000
            values.flush()
            del values
            data = NpyIterator(src, buffer_gb=0.02, chunk_mb=4.0)
            kwargs = {"number_of_jobs": args.jobs}
        before = _peak_mib()
        t0 = time.perf_counter()
        dst = Path(tmp) / "out.nwb.zarr"
        with NWBZarrIO(dst, mode="w", shard_bytes=int(args.shard_mb * 2**20)) as io:
            io.write(_nwbfile(data), **kwargs)
        elapsed = time.perf_counter() - t0
        growth = _peak_mib() - before
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with NWBZarrIO(dst, mode="r") as io:
            shape = io.read().acquisition["ts"].data.shape
    print(
        f"{args.kind}: {n_rows * CHANNELS * 2 / 1e6:.0f} MB shape={shape} rows/chunk={args.rows} "
        f"chunk/shard rows={args.chunk_rows}/{args.shard_rows} shard_mb={args.shard_mb} "
        f"jobs={args.jobs}: {elapsed:.2f} s, "
        f"peak RSS growth {growth:.0f} MiB (largest worker peak {workers:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
