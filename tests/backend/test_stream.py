"""Iterator writes: per-shard buffering, parallel writes (number_of_jobs), errors, memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.data_utils import DataChunk, DataChunkIterator
from helpers import ArrayIterator
from pynwb import NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.errors import IncompleteStoreError, ParallelWriteError

SRC = str(Path(__file__).resolve().parents[2] / "src")


class BrokenIterator(ArrayIterator):
    """Fails on any selection that reaches past row 40."""

    def _get_data(self, selection):
        if selection[0].stop > 40:
            raise OSError("source file went away")
        return super()._get_data(selection)

    @staticmethod
    def _from_dict(state):
        return BrokenIterator(state.pop("array"), **state)


class UnpicklableIterator(ArrayIterator):
    def _to_dict(self):
        raise NotImplementedError


def _nwbfile(**series) -> NWBFile:
    f = NWBFile("iterative write", "id", datetime(2024, 1, 1, tzinfo=UTC))
    for name, data in series.items():
        f.add_acquisition(TimeSeries(name=name, data=data, unit="V", rate=10.0))
    return f


def _write_read(path: Path, nwbfile: NWBFile, **write_kwargs) -> dict:
    with NWBZarrIO(path, mode="w", **write_kwargs.pop("io", {})) as io:
        io.write(nwbfile, **write_kwargs)
    with NWBZarrIO(path, mode="r") as io:
        return {n: ts.data[:] for n, ts in io.read().acquisition.items()}


def _values(shape, dtype="int32") -> np.ndarray:
    return np.arange(np.prod(shape), dtype=dtype).reshape(shape) * 3 - 7


# (data shape, iterator buffer shape, iterator chunk shape, zarr chunks, zarr shards)
MISALIGNED = [
    ((103,), (10,), (5,), (7,), (21,)),  # 1-D; buffer not a multiple of chunk or shard
    ((103, 5), (17, 5), (17, 5), (6, 2), (18, 4)),  # 2-D; shards split the trailing dim
    ((64, 3), (8, 3), (4, 3), (5, 3), None),  # unsharded; chunk does not divide the shape
    ((90, 4), (90, 4), (10, 4), (4, 4), (40, 4)),  # one buffer spanning several shards
]


@pytest.mark.parametrize("shape,buffer,ichunk,chunks,shards", MISALIGNED)
def test_parallel_equals_serial_for_misaligned_layouts(
    tmp_path, shape, buffer, ichunk, chunks, shards
):
    values = _values(shape)

    def series():
        it = ArrayIterator(values, buffer_shape=buffer, chunk_shape=ichunk)
        return ZarrDataIO(it, chunks=chunks, shards=shards)

    serial = _write_read(tmp_path / "serial.nwb.zarr", _nwbfile(ts=series()))
    parallel = _write_read(tmp_path / "par.nwb.zarr", _nwbfile(ts=series()), number_of_jobs=2)
    np.testing.assert_array_equal(serial["ts"], values)
    np.testing.assert_array_equal(parallel["ts"], values)
    assert parallel["ts"].dtype == values.dtype
    a = zarr.open_array(tmp_path / "par.nwb.zarr", path="acquisition/ts/data", mode="r")
    assert a.chunks == chunks and a.shards == shards


def test_parallel_electrical_series_with_default_layout(tmp_path):
    nwbfile = _nwbfile()
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group("shank", "s", "brain", device)
    for _ in range(6):
        nwbfile.add_electrode(group=group, location="brain")
    region = nwbfile.create_electrode_table_region(list(range(6)), "all")
    values = _values((5000, 6), "int16")
    it = ArrayIterator(values, buffer_shape=(333, 6), chunk_shape=(111, 6))
    es = ElectricalSeries(name="es", data=it, electrodes=region, rate=30000.0)
    nwbfile.add_acquisition(es)
    path = tmp_path / "es.nwb.zarr"
    with NWBZarrIO(path, mode="w", chunk_bytes=2**12, shard_bytes=2**14) as io:
        io.write(nwbfile, number_of_jobs=2, max_threads_per_process=1, progress=True)
    with NWBZarrIO(path, mode="r") as io:
        read = io.read().acquisition["es"]
        np.testing.assert_array_equal(read.data[:], values)
        assert read.data.shards is not None  # several shards were written by workers


def test_parallel_write_of_several_datasets_with_spawn(tmp_path):
    a, b = _values((57,)), _values((40, 3), "float64")
    nwbfile = _nwbfile(
        a=ZarrDataIO(ArrayIterator(a, buffer_shape=(9,), chunk_shape=(3,)), chunks=(4,)),
        b=ZarrDataIO(ArrayIterator(b, buffer_shape=(7, 3), chunk_shape=(7, 3)), chunks=(5, 3)),
    )
    out = _write_read(
        tmp_path / "s.nwb.zarr", nwbfile, number_of_jobs=2, multiprocessing_context="spawn"
    )
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)


def test_unpicklable_iterator_is_written_serially_with_a_warning(tmp_path):
    values = _values((30, 2))
    it = UnpicklableIterator(values, buffer_shape=(7, 2), chunk_shape=(7, 2))
    with pytest.warns(UserWarning, match=r"/acquisition/ts/data: .*_to_dict and _from_dict"):
        out = _write_read(tmp_path / "u.nwb.zarr", _nwbfile(ts=it), number_of_jobs=2)
    np.testing.assert_array_equal(out["ts"], values)


def test_memory_store_is_written_serially_with_a_warning():
    values = _values((30,))
    store = zarr.storage.MemoryStore()
    it = ArrayIterator(values, buffer_shape=(7,), chunk_shape=(7,))
    with pytest.warns(UserWarning, match=r"cannot open a MemoryStore by path"):
        with NWBZarrIO(store, mode="w") as io:
            io.write(_nwbfile(ts=it), number_of_jobs=2)
    np.testing.assert_array_equal(zarr.open_array(store, path="acquisition/ts/data")[:], values)


def test_worker_error_names_dataset_and_leaves_store_incomplete(tmp_path):
    values = _values((100,))
    it = BrokenIterator(values, buffer_shape=(10,), chunk_shape=(10,))
    path = tmp_path / "broken.nwb.zarr"
    with pytest.raises(ParallelWriteError, match=r"/acquisition/ts/data: .*source file went away"):
        with NWBZarrIO(path, mode="w") as io:
            io.write(_nwbfile(ts=ZarrDataIO(it, chunks=(10,))), number_of_jobs=2)
    with pytest.raises(IncompleteStoreError):
        NWBZarrIO(path, mode="r").read()


def test_data_chunk_iterator_small_buffers_into_shards(tmp_path):
    values = _values((1000, 3), "float32")
    dci = DataChunkIterator(data=iter(values), maxshape=(None, 3), buffer_size=7)
    data = ZarrDataIO(dci, chunks=(16, 3), shards=(96, 3))
    out = _write_read(tmp_path / "d.nwb.zarr", _nwbfile(ts=data))
    np.testing.assert_array_equal(out["ts"], values)


def test_data_chunk_iterator_along_second_axis(tmp_path):
    values = _values((12, 50))
    dci = DataChunkIterator(data=values, iter_axis=1, buffer_size=3)
    data = ZarrDataIO(dci, chunks=(5, 4), shards=(10, 8))
    out = _write_read(tmp_path / "ax1.nwb.zarr", _nwbfile(ts=data))
    np.testing.assert_array_equal(out["ts"], values)


@pytest.mark.parametrize("n_rows", [0, 1, 95])
def test_data_chunk_iterator_unknown_length(tmp_path, n_rows):
    values = _values((n_rows, 4), "int16")
    dci = DataChunkIterator(
        data=(row for row in values), maxshape=(None, 4), dtype=np.dtype("int16"), buffer_size=6
    )
    out = _write_read(tmp_path / "n.nwb.zarr", _nwbfile(ts=ZarrDataIO(dci, chunks=(8, 4))))
    assert out["ts"].shape == (n_rows, 4)
    np.testing.assert_array_equal(out["ts"], values)


def test_round_robin_iterators_and_text(tmp_path):
    from pynwb.core import ScratchData

    floats = _values((50, 3), "float64") / 3
    words = np.array([f"w{i}" for i in range(23)])
    nwbfile = _nwbfile(a=DataChunkIterator(data=iter(floats), maxshape=(None, 3), buffer_size=4))
    dci = DataChunkIterator(data=iter(words), maxshape=(None,), dtype=words.dtype, buffer_size=5)
    nwbfile.add_scratch(
        ScratchData(name="words", data=ZarrDataIO(dci, chunks=(6,)), description="d")
    )
    path = tmp_path / "rr.nwb.zarr"
    out = _write_read(path, nwbfile, exhaust_dci=False)
    np.testing.assert_array_equal(out["a"], floats)
    with NWBZarrIO(path, mode="r") as io:
        assert list(io.read().scratch["words"].data[:]) == list(words)


class _OutOfOrderIterator(DataChunkIterator):
    """Yields pieces of a known array backwards, with int and open-ended selections."""

    def __init__(self, values):
        self.values = values
        self._pieces = [
            (np.s_[20:], values[20:]),
            (np.s_[7, :], values[7]),
            (np.s_[8:20], values[8:20]),
            (np.s_[0:7], values[0:7]),
        ]
        super().__init__(data=None, maxshape=values.shape, dtype=values.dtype)

    def __next__(self):
        if not self._pieces:
            raise StopIteration
        selection, data = self._pieces.pop(0)
        return DataChunk(data=np.asarray(data), selection=selection)

    def recommended_data_shape(self):
        return self.values.shape


def test_out_of_order_selections(tmp_path):
    values = _values((25, 2))
    data = ZarrDataIO(_OutOfOrderIterator(values), chunks=(3, 2), shards=(9, 2))
    out = _write_read(tmp_path / "o.nwb.zarr", _nwbfile(ts=data))
    np.testing.assert_array_equal(out["ts"], values)


PEAK_SCRIPT = """
import resource, sys, tempfile
from datetime import datetime, timezone
import numpy as np
from hdmf.data_utils import DataChunkIterator
from pynwb import NWBFile, TimeSeries
from nwbzarr import NWBZarrIO, ZarrDataIO

width = 1024
pool = np.random.default_rng(0).integers(-2000, 2000, (257, width), dtype=np.int16)


def write(path, rows):  # int16 rows made one at a time: rows * 2 KiB of data
    dci = DataChunkIterator(data=(pool[i % 257] for i in range(rows)), maxshape=(None, width),
                            dtype=np.dtype("int16"), buffer_size=50)
    data = ZarrDataIO(dci, chunks=(512, width), shards=(4096, width))
    f = NWBFile("peak", "peak", datetime(2024, 1, 1, tzinfo=timezone.utc))
    f.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=1.0))
    with NWBZarrIO(path, mode="w") as io:
        io.write(f)


rows = 100_000
with tempfile.TemporaryDirectory() as tmp:
    write(tmp + "/warm.nwb.zarr", 100)  # imports, spec cache, zarr thread pool
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    write(tmp + "/p.nwb.zarr", rows)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with NWBZarrIO(tmp + "/p.nwb.zarr", mode="r") as io:
        data = io.read().acquisition["ts"].data
        assert data.shape == (rows, width)
        assert np.array_equal(data[rows - 3:], pool[[(rows - 3 + k) % 257 for k in range(3)]])
print((after - before) / 1024)
"""


def test_peak_memory_of_streaming_stays_near_one_shard():
    # 200 MB streamed in 100 KB pieces into 8 MiB shards: growth must stay far below the data
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PEAK_SCRIPT)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    growth_mib = float(proc.stdout.strip().splitlines()[-1])
    assert growth_mib < 80, f"peak RSS grew by {growth_mib:.0f} MiB for 200 MB of data"
