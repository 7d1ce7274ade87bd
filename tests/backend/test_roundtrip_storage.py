"""Storage settings of mock files written through ``NWBZarrIO``: ``ZarrDataIO`` chunks, shards
and codecs, automatic chunking of a large array, data chunk iterators (unknown length, empty,
round robin, generic) and ``H5DataIO`` settings translated to Zarr codecs.
"""

from __future__ import annotations

import numpy as np
import zarr
from hdmf.data_utils import DataChunkIterator
from helpers import START, ArrayIterator, write
from pynwb import TimeSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO, ZarrDataIO


# -- storage settings -----------------------------------------------------------------------------
def test_zarr_dataio_chunks_and_codec(tmp_path):
    data = np.arange(1000 * 8, dtype=np.float32).reshape(1000, 8)
    nwbfile = mock_NWBFile(session_start_time=START)
    wrapped = ZarrDataIO(data, chunks=(100, 8), compressors=[zarr.codecs.ZstdCodec(level=5)])
    unsharded = ZarrDataIO(
        data[:, :3], chunks=(250, 3), shards=None, compressors=[zarr.codecs.ZstdCodec()]
    )
    mock_TimeSeries(name="wrapped", data=wrapped, rate=10.0, nwbfile=nwbfile)
    mock_TimeSeries(name="unsharded", data=unsharded, rate=10.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dataio.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/wrapped/data"]
    assert arr.chunks == (100, 8)
    # default shards="auto": the chunks are grouped into shards (a multiple of the chunks)
    assert arr.shards == (1000, 8)
    assert len(arr.compressors) == 1
    assert isinstance(arr.compressors[0], zarr.codecs.ZstdCodec)
    assert arr.compressors[0].level == 5
    np.testing.assert_array_equal(arr[...], data)

    arr = root["acquisition/unsharded/data"]
    assert arr.chunks == (250, 3)
    assert arr.shards is None
    assert [type(c) for c in arr.compressors] == [zarr.codecs.ZstdCodec]
    assert arr.nchunks_initialized == 4
    np.testing.assert_array_equal(arr[...], data[:, :3])

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        np.testing.assert_array_equal(nwb.acquisition["wrapped"].data[:], data)
        assert nwb.acquisition["wrapped"].data.dtype == np.float32
        np.testing.assert_array_equal(nwb.acquisition["unsharded"].data[:], data[:, :3])


def test_zarr_dataio_explicit_shards(tmp_path):
    data = np.arange(4000, dtype=np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="sharded",
        data=ZarrDataIO(data, chunks=(100,), shards=(1000,)),
        rate=1.0,
        nwbfile=nwbfile,
    )
    path = write(nwbfile, tmp_path / "shards.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/sharded/data"]
    assert arr.chunks == (100,)
    assert arr.shards == (1000,)
    np.testing.assert_array_equal(arr[...], data)


def test_large_array_is_chunked_and_sharded(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(-3000, 3000, size=(3_000_000, 2), dtype=np.int16)  # 12 MB
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="big", data=data, rate=30_000.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "big.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["acquisition/big/data"]
    assert arr.shape == (3_000_000, 2)
    assert arr.dtype == np.int16
    assert arr.chunks[0] < arr.shape[0]
    assert arr.chunks[1] == 2
    assert arr.shards is not None
    assert arr.shards[0] % arr.chunks[0] == 0
    assert arr.shards[0] > arr.chunks[0]
    np.testing.assert_array_equal(arr[...], data)

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        big = nwb.acquisition["big"].data
        assert big.shape == (3_000_000, 2)
        np.testing.assert_array_equal(big[1_234_567:1_234_600], data[1_234_567:1_234_600])
        assert big[2_999_999, 1] == data[2_999_999, 1]


def test_data_chunk_iterator_of_unknown_length(tmp_path):
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((1037, 4)).astype(np.float32)

    def generator():
        yield from rows

    dci = DataChunkIterator(
        data=generator(), maxshape=(None, 4), dtype=np.dtype("float32"), buffer_size=100
    )
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="streamed", data=dci, rate=100.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dci.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["acquisition/streamed/data"]
    assert arr.shape == (1037, 4)
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr[...], rows)

    with NWBZarrIO(path, mode="r") as io:
        ts = io.read().acquisition["streamed"]
        np.testing.assert_array_equal(ts.data[:], rows)


def test_data_chunk_iterator_one_row_at_a_time(tmp_path):
    values = [np.full(4, i, dtype=np.float32) for i in range(10)]
    dci = DataChunkIterator(data=iter(values), maxshape=(None, 4), dtype=np.dtype("float32"))
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="streamed", data=dci, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dci1.nwb.zarr")
    with NWBZarrIO(path, mode="r") as io:
        data = io.read().acquisition["streamed"].data[:]
    np.testing.assert_array_equal(
        data, np.repeat(np.arange(10, dtype=np.float32)[:, None], 4, axis=1)
    )


def test_empty_data_chunk_iterator_writes_zero_rows(tmp_path):
    dci = DataChunkIterator(data=iter([]), maxshape=(None, 4), dtype=np.dtype("float32"))
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="nothing", data=dci, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "empty.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/nothing/data"]
    assert arr.shape == (0, 4)
    assert arr.dtype == np.float32


def test_data_chunk_iterators_round_robin(tmp_path):
    """``exhaust_dci=False`` drains iterators in turn; each array gets exactly its values."""
    floats = np.arange(30.0).reshape(10, 3)
    ints = np.arange(16, dtype=np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="x",
        data=DataChunkIterator(data=iter(floats), maxshape=(None, 3), buffer_size=3),
        rate=1.0,
        nwbfile=nwbfile,
    )
    mock_TimeSeries(
        name="y",
        data=DataChunkIterator(data=iter(ints), maxshape=(None,), buffer_size=5),
        rate=1.0,
        nwbfile=nwbfile,
    )
    path = tmp_path / "rr.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile, exhaust_dci=False)
    root = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(root["acquisition/x/data"][...], floats)
    np.testing.assert_array_equal(root["acquisition/y/data"][...], ints)
    assert root["acquisition/y/data"].dtype == np.int32


def test_zarr_dataio_wrapping_an_iterator_and_empty_data(tmp_path):
    values = np.arange(40, dtype=np.int16).reshape(10, 4)
    dci = DataChunkIterator(data=iter(values), maxshape=(None, 4), buffer_size=4)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="it",
        data=ZarrDataIO(dci, chunks=(4, 4), compressors=[zarr.codecs.ZstdCodec()]),
        rate=1.0,
        nwbfile=nwbfile,
    )
    empty = ZarrDataIO(
        data=None, shape=(5, 3), dtype=np.dtype("float32"), fillvalue=np.float32(1.5)
    )
    mock_TimeSeries(name="empty", data=empty, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dataio_iter.nwb.zarr")
    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/it/data"]
    assert arr.chunks == (4, 4)
    assert arr.dtype == np.int16
    assert [type(c) for c in arr.compressors] == [zarr.codecs.ZstdCodec]
    np.testing.assert_array_equal(arr[...], values)
    arr = root["acquisition/empty/data"]
    assert (arr.shape, arr.dtype) == ((5, 3), np.float32)
    np.testing.assert_array_equal(arr[...], np.full((5, 3), 1.5, dtype=np.float32))


def test_generic_data_chunk_iterator(tmp_path):
    values = np.random.default_rng(0).integers(0, 1000, size=(5000, 7)).astype(np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    it = ArrayIterator(values, chunk_shape=(1000, 7), buffer_shape=(2000, 7))
    mock_TimeSeries(name="g", data=it, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "generic.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/g/data"]
    assert arr.chunks == (1000, 7)
    assert arr.dtype == np.int32
    np.testing.assert_array_equal(arr[...], values)


def test_h5dataio_settings_are_translated(tmp_path):
    from hdmf.backends.hdf5 import H5DataIO

    values = np.arange(100.0)
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        TimeSeries(
            name="shuffled",
            unit="V",
            rate=1.0,
            data=H5DataIO(
                values, compression="gzip", compression_opts=6, chunks=(10,), shuffle=True
            ),
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="gzip", unit="V", rate=1.0, data=H5DataIO(values, compression="gzip", chunks=(25,))
        )
    )
    path = write(nwbfile, tmp_path / "h5dataio.nwb.zarr")
    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/shuffled/data"]
    assert arr.chunks == (10,)
    # HDF5 shuffle + gzip: a Shuffle codec then one Gzip compressor (never zlib inside Blosc).
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "numcodecs.shuffle", "configuration": {"elementsize": 8}},
        {"name": "gzip", "configuration": {"level": 6}},
    ]
    np.testing.assert_array_equal(arr[...], values)
    arr = root["acquisition/gzip/data"]
    assert arr.chunks == (25,)
    assert [type(c) for c in arr.compressors] == [zarr.codecs.GzipCodec]
    np.testing.assert_array_equal(arr[...], values)
