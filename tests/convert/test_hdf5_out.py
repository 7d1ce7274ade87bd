"""Zarr -> HDF5 conversion keeps each array's storage, copies it block by block with bounded
memory, and advances the progress bar (nwbzarr.convert.hdf5_out)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest
import zarr
import zarr.codecs.numcodecs as zn
from conftest import NWB_FILES, sweep
from nwb_compare import assert_same_nwbfile
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

import nwbzarr
from nwbzarr.convert import hdf5_out

hdf5plugin = pytest.importorskip("hdf5plugin")

N_ROWS, N_COLS = 20_000, 8


def _values() -> np.ndarray:
    return (np.arange(N_ROWS * N_COLS, dtype=np.int16).reshape(N_ROWS, N_COLS) % 300) - 150


def _store(path, series: dict) -> None:
    """An NWB Zarr store with one TimeSeries per ``name -> ZarrDataIO kwargs``."""
    nwb = NWBFile("d", "id", datetime(2024, 1, 1, tzinfo=UTC))
    for name, kwargs in series.items():
        data = nwbzarr.ZarrDataIO(_values(), **kwargs)
        nwb.add_acquisition(TimeSeries(name=name, data=data, unit="u", rate=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numcodecs codecs outside the Zarr v3 spec
        with nwbzarr.NWBZarrIO(str(path), "w") as io:
            io.write(nwb)


def _convert(src, dst, **kwargs) -> list[str]:
    """Convert; return the messages of the UserWarnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nwbzarr.convert(src, dst, progress=kwargs.pop("progress", False), **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.fixture(scope="module")
def codecs_file(tmp_path_factory):
    """One store with gzip+shuffle (sharded, fill 7), zstd, blosc-lz4 and bz2 series, and the
    HDF5 file converted from it (plus the warnings raised)."""
    tmp = tmp_path_factory.mktemp("codecs")
    src = tmp / "codecs.nwb.zarr"
    _store(
        src,
        {
            "gzip": {
                "chunks": (1000, 4),
                "shards": (4000, 8),
                "compressors": [zn.Shuffle(elementsize=2), GzipCodec(level=5)],
                "fillvalue": 7,
            },
            "zstd": {"chunks": (3000, 8), "compressors": [ZstdCodec(level=5)]},
            "blosc": {
                "chunks": (2500, 8),
                "compressors": [BloscCodec(cname="lz4", clevel=4, shuffle="bitshuffle")],
            },
            "bz2": {"chunks": (3000, 8), "compressors": [zn.BZ2(level=5)]},
        },
    )
    dst = tmp / "codecs.nwb"
    messages = _convert(src, dst)
    return src, dst, messages


def test_gzip_shuffle_chunks_and_fill_value_kept(codecs_file):
    _, dst, _ = codecs_file
    with h5py.File(dst, "r") as f:
        dset = f["acquisition/gzip/data"]
        assert dset.chunks == (1000, 4)  # the inner chunk shape of the sharded array
        assert dset.compression == "gzip" and dset.compression_opts == 5
        assert dset.shuffle
        assert dset.fillvalue == 7
        np.testing.assert_array_equal(dset[...], _values())


def test_zstd_and_blosc_kept_through_hdf5plugin(codecs_file):
    _, dst, _ = codecs_file
    with h5py.File(dst, "r") as f:
        zstd = f["acquisition/zstd/data"]
        assert zstd.chunks == (3000, 8)
        assert zstd._filters == {str(hdf5plugin.ZSTD_ID): (5,)}
        np.testing.assert_array_equal(zstd[...], _values())
        blosc = f["acquisition/blosc/data"]
        assert blosc.chunks == (2500, 8)
        (fid, opts) = next(iter(blosc._filters.items()))
        assert int(fid) == hdf5plugin.BLOSC_ID
        assert opts[4:] == (4, 2, 1)  # clevel, bitshuffle, lz4
        np.testing.assert_array_equal(blosc[...], _values())


def test_codec_without_hdf5_filter_reencoded_with_warning(codecs_file):
    _, dst, messages = codecs_file
    with h5py.File(dst, "r") as f:
        dset = f["acquisition/bz2/data"]
        assert dset.chunks == (3000, 8)
        assert dset.compression == "gzip" and dset.shuffle
        np.testing.assert_array_equal(dset[...], _values())
    (bz2,) = [m for m in messages if "bz2" in m]
    assert "/acquisition/bz2/data" in bz2 and "re-encoded with gzip" in bz2
    assert not [m for m in messages if "zstd" in m or "blosc" in m]


def test_without_hdf5plugin_plugin_codecs_become_gzip(codecs_file, tmp_path, monkeypatch):
    from nwbzarr.formats.hdf5 import filters

    src, _, _ = codecs_file
    monkeypatch.setattr(filters, "load_hdf5_plugins", lambda: False)
    dst = tmp_path / "noplugin.nwb"
    messages = _convert(src, dst)
    with h5py.File(dst, "r") as f:
        for name in ("zstd", "blosc"):
            dset = f[f"acquisition/{name}/data"]
            assert dset.compression == "gzip", name
            assert set(dset._filters) <= {"gzip", "shuffle"}, name
        assert f["acquisition/blosc/data"].shuffle  # the Blosc codec shuffled
    for name in ("zstd", "blosc"):
        (found,) = [m for m in messages if f"/acquisition/{name}/data" in m]
        assert "hdf5plugin" in found


def test_rechunk_uses_gzip(codecs_file, tmp_path):
    src, _, _ = codecs_file
    dst = tmp_path / "rechunk.nwb"
    assert not [m for m in _convert(src, dst, keep_storage=False) if "re-encoded" in m]
    with h5py.File(dst, "r") as f:
        dset = f["acquisition/zstd/data"]
        assert dset.compression == "gzip" and dset.chunks is not None
        np.testing.assert_array_equal(dset[...], _values())


def test_gzip_chunks_copied_as_stored(tmp_path, monkeypatch):
    """Stored gzip chunks (sharded or not, shuffled or not) are re-framed, not re-compressed;
    chunks never stored (all fill value) stay unwritten and read as the fill value."""
    from nwbzarr.convert import hdf5_raw

    values = _values()
    values[3000:9000] = 5  # whole chunks equal to the fill value: zarr does not store them
    src = tmp_path / "raw.nwb.zarr"
    nwb = NWBFile("d", "id", datetime(2024, 1, 1, tzinfo=UTC))
    for name, kwargs in {
        "sharded": {"chunks": (1000, 4), "shards": (4000, 8)},
        "plain": {"chunks": (1500, 8), "shards": None},
    }.items():
        data = nwbzarr.ZarrDataIO(
            values,
            compressors=[zn.Shuffle(elementsize=2), GzipCodec(level=3)],
            fillvalue=5,
            **kwargs,
        )
        nwb.add_acquisition(TimeSeries(name=name, data=data, unit="u", rate=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nwbzarr.NWBZarrIO(str(src), "w") as io:
            io.write(nwb)
    assert not (src / "acquisition/plain/data/c/3/0").exists()  # rows 4500:6000, all 5
    copied = []
    original = hdf5_raw.copy_raw
    monkeypatch.setattr(
        hdf5_raw,
        "copy_raw",
        lambda dset, *a, **k: copied.append(dset.name) or original(dset, *a, **k),
    )
    dst = tmp_path / "raw.nwb"
    _convert(src, dst)
    assert sorted(copied) == ["/acquisition/plain/data", "/acquisition/sharded/data"]
    with h5py.File(dst, "r") as f:
        for name, chunks in (("sharded", (1000, 4)), ("plain", (1500, 8))):
            dset = f[f"acquisition/{name}/data"]
            assert dset.chunks == chunks and dset.compression_opts == 3 and dset.shuffle
            assert dset.fillvalue == 5
            np.testing.assert_array_equal(dset[...], values)
        assert f["acquisition/plain/data"].id.get_storage_size() < 2 * values.nbytes


def test_damaged_gzip_chunk_names_the_file(tmp_path):
    from nwbzarr.errors import CorruptChunkError

    src = tmp_path / "bad.nwb.zarr"
    _store(src, {"x": {"chunks": (5000, 8), "shards": None, "compressors": [GzipCodec()]}})
    chunk = src / "acquisition/x/data/c/1/0"
    stored = bytearray(chunk.read_bytes())
    stored[len(stored) // 2] ^= 0xFF
    chunk.write_bytes(bytes(stored))
    dst = tmp_path / "bad.nwb"
    with pytest.raises(CorruptChunkError, match="acquisition/x/data"):
        _convert(src, dst)
    assert not dst.exists()


class _Bar:
    """Stands in for tqdm: records the total and every update."""

    instances: list[_Bar] = []

    def __init__(self, total=None, **_kwargs) -> None:
        self.total = total
        self.updates: list[int] = []
        _Bar.instances.append(self)

    def update(self, n: int = 1) -> None:
        self.updates.append(n)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_progress_bar_advances_by_bytes_written(codecs_file, tmp_path, monkeypatch):
    import tqdm.auto

    src, _, _ = codecs_file
    monkeypatch.setattr(hdf5_out, "BLOCK_BYTES", 64 * 1024)  # several blocks per array
    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    _Bar.instances.clear()
    _convert(src, tmp_path / "bar.nwb", progress=True)
    (bar,) = _Bar.instances
    assert bar.total == 4 * _values().nbytes
    assert sum(bar.updates) == bar.total
    assert len(bar.updates) > 4


def test_blocks_are_whole_chunks_inside_a_shard():
    assert hdf5_out.block_shape((10_000, 64), (1000, 64), None, 2, target=4 * 2**20) == (
        10_000,
        64,
    )
    # a shard of 4 x 4 chunks, blocks of 2 chunk rows (each row spans the shard's columns)
    block = hdf5_out.block_shape((8000, 64), (1000, 16), (4000, 64), 2, target=256_000)
    assert block == (2000, 64)
    # a block never holds less than one chunk
    assert hdf5_out.block_shape((100, 100), (50, 50), None, 8, target=1) == (50, 50)


def test_sample_round_trip_equal(ecephys_file, tmp_path):
    store, back = tmp_path / "s.nwb.zarr", tmp_path / "back.nwb"
    nwbzarr.convert(ecephys_file, store, progress=False)
    _convert(store, back)
    _assert_equal_files(ecephys_file, back)
    stored = zarr.open_array(store / "units" / "spike_times", mode="r")
    with h5py.File(back, "r") as f:  # kept from the store: Blosc, the store's inner chunks
        dset = f["units/spike_times"]
        assert int(next(iter(dset._filters))) == hdf5plugin.BLOSC_ID
        assert dset.chunks == tuple(stored.chunks)


def _assert_equal_files(src, other) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            NWBHDF5IO(str(src), "r", load_namespaces=True) as a,
            NWBHDF5IO(str(other), "r", load_namespaces=True) as b,
        ):
            assert_same_nwbfile(a.read(), b.read(), src)


@pytest.mark.parametrize("src", sweep(NWB_FILES))
def test_shared_files_round_trip_equal(src, tmp_path):
    store, back = tmp_path / "s.nwb.zarr", tmp_path / "back.nwb"
    nwbzarr.convert(src, store, progress=False)
    _convert(store, back)
    _assert_equal_files(src, back)


_MEASURE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import nwbzarr, nwbzarr.convert.copy, nwbzarr.backend.nwb, pynwb, h5py, hdf5plugin, tqdm.auto

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) * 1024

before = status("VmRSS:")
nwbzarr.convert(sys.argv[1], sys.argv[2], progress=True)
print(json.dumps({"before": before, "peak": status("VmHWM:")}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_bounded_by_blocks_not_array(tmp_path):
    """A 256 MB array converts with far less than its size in memory above the imports.

    The peak is the converting process's own high-water mark (``VmHWM``, reset by ``exec``:
    ``ru_maxrss`` would include the pytest process the child was forked from).
    """
    from hdmf.data_utils import GenericDataChunkIterator

    rows, cols = 2_000_000, 64  # int16: 256 MB

    def pattern(start: int, stop: int) -> np.ndarray:
        flat = np.arange(start, stop, dtype=np.int64)[:, None] * cols + np.arange(cols)
        return (flat % 251).astype(np.int16)

    class Pattern(GenericDataChunkIterator):
        def _get_data(self, selection):
            return pattern(selection[0].start or 0, selection[0].stop)[:, selection[1]]

        def _get_maxshape(self):
            return (rows, cols)

        def _get_dtype(self):
            return np.dtype(np.int16)

    iterator = Pattern(buffer_shape=(125_000, cols), chunk_shape=(31_250, cols))
    src = tmp_path / "big.nwb.zarr"
    nwb = NWBFile("d", "id", datetime(2024, 1, 1, tzinfo=UTC))
    data = nwbzarr.ZarrDataIO(iterator, compressors=[ZstdCodec(level=1)])
    nwb.add_acquisition(TimeSeries(name="x", data=data, unit="u", rate=1.0))
    with nwbzarr.NWBZarrIO(str(src), "w") as io:
        io.write(nwb)
    dst = tmp_path / "big.nwb"
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    nbytes = rows * cols * 2
    assert result["peak"] - result["before"] < 0.5 * nbytes, result
    with h5py.File(dst, "r") as f:
        dset = f["acquisition/x/data"]
        assert dset.shape == (rows, cols)
        assert dset.chunks == zarr.open_array(src / "acquisition/x/data", mode="r").chunks
        assert int(next(iter(dset._filters))) == hdf5plugin.ZSTD_ID
        np.testing.assert_array_equal(dset[-3:], pattern(rows - 3, rows))
