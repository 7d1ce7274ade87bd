"""ZarrDataIO options (hdmf-zarr 0.14 parity) and HDF5 filters re-encoded when data are copied.

Every write is read back: the arrays' chunks, shards and codecs from the store, the values
through :class:`nwbzarr.NWBZarrIO`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from datetime import UTC, datetime

import h5py
import numcodecs
import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from zarr.codecs import BloscCodec, GzipCodec, TransposeCodec, ZstdCodec

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend.dataio import storage_settings
from nwbzarr.backend.settings import WriteSettings
from nwbzarr.conventions.layout import (
    SHARDS_POLICY,
    SHARDS_REQUIRED,
    chunks_within,
    resolve_shards,
)
from nwbzarr.errors import InvalidStorageSettingsError, UnsupportedCodecError
from nwbzarr.formats.hdf5.filters import hdf5_codecs, load_hdf5_plugins, require_decodable

try:
    import hdf5plugin
except ImportError:  # pragma: no cover - optional test dependency
    hdf5plugin = None

pytestmark = pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")
needs_plugin = pytest.mark.skipif(hdf5plugin is None, reason="hdf5plugin not installed")

START = datetime(2024, 1, 1, tzinfo=UTC)
TRIALS = "intervals/trials"


def _write(tmp_path, data, name="ts") -> zarr.Array:
    """Write ``data`` as an NWB TimeSeries, check the values read back, return the array."""
    expected = np.asarray(data.data[...] if isinstance(data, ZarrDataIO) else data)
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(TimeSeries(name=name, unit="V", rate=1.0, data=data))
    path = tmp_path / f"{name}.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwbfile)
    with NWBZarrIO(str(path), mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition[name].data[...], expected)
    return zarr.open_group(str(path), mode="r")[f"acquisition/{name}/data"]


def _names(codecs) -> list[str]:
    return [c.to_dict()["name"] for c in codecs]


def _values(n=2000, width=8, dtype="i2") -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.normal(size=(n, width)) * 50).astype(dtype)


def _h5(tmp_path, name="data", values=None, **create) -> h5py.Dataset:
    f = h5py.File(tmp_path / "src.h5", "a")
    return f.create_dataset(name, data=_values() if values is None else values, **create)


# -- argument checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [numcodecs.Blosc(cname="zstd", clevel=1), False, True])
def test_deprecated_compressor_other_than_a_zarr_codec_is_refused(value):
    with pytest.raises(TypeError, match="compressors") as err:
        ZarrDataIO(np.arange(10), compressor=value)
    assert isinstance(err.value, InvalidStorageSettingsError)


def test_deprecated_compressor_zarr_codec_still_writes(tmp_path):
    with pytest.warns(DeprecationWarning, match="compressors=\\[codec\\]"):
        data = ZarrDataIO(_values(), compressor=ZstdCodec(level=5))
    arr = _write(tmp_path, data)
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "zstd", "configuration": {"level": 5, "checksum": False}}
    ]
    with pytest.raises(ValueError, match="only"):
        ZarrDataIO(_values(), compressor=ZstdCodec(), compressors=[GzipCodec()])


def test_compressors_false_writes_no_compressor(tmp_path):
    data = ZarrDataIO(_values(), compressors=False)
    assert data.io_settings == {"compressors": None}
    arr = _write(tmp_path, data)
    assert arr.compressors == ()


def test_compressors_true_is_the_policy_codec(tmp_path):
    data = ZarrDataIO(_values(), compressors=True)
    assert data.io_settings == {}
    arr = _write(tmp_path, data)
    assert isinstance(arr.compressors[0], BloscCodec)


def test_single_codec_is_a_list(tmp_path):
    data = ZarrDataIO(_values(), compressors=GzipCodec(level=2))
    assert data.io_settings["compressors"] == [GzipCodec(level=2)]
    assert _names(_write(tmp_path, data).compressors) == ["gzip"]


@pytest.mark.parametrize(
    "kwargs, hint",
    [
        ({"compressors": [numcodecs.Zstd(level=1)]}, "zarr.codecs.numcodecs.Zstd"),
        ({"compressors": [TransposeCodec(order=(1, 0))]}, "belongs in 'filters'"),
        ({"filters": [ZstdCodec()]}, "belongs in 'compressors'"),
        ({"serializer": ZstdCodec()}, "belongs in 'compressors'"),
        ({"compressors": "zstd"}, "BytesBytesCodec"),
        ({"chunks": (10, 0)}, "positive integers"),
        ({"chunks": 10}, "positive integers"),
    ],
)
def test_codec_and_shape_types_are_checked(kwargs, hint):
    with pytest.raises(TypeError, match=hint.replace("[", "\\[")):
        ZarrDataIO(_values(), **kwargs)


def test_shard_values_are_checked():
    with pytest.raises(ValueError, match="dimension 1"):
        ZarrDataIO(_values(), chunks=(10, 3), shards=(50, 8))
    with pytest.raises(ValueError, match="numbers of dimensions"):
        ZarrDataIO(_values(), chunks=(10,), shards=(50, 8))
    with pytest.raises(ValueError, match="'shards' must be a shape or 'auto'"):
        ZarrDataIO(_values(), shards="automatic")
    data = ZarrDataIO(_values(), chunks=[10, 4], shards=[50, 8])
    assert data.io_settings == {"chunks": (10, 4), "shards": (50, 8)}


def test_shards_without_chunks_warn_and_get_dividing_chunks(tmp_path):
    values = _values(n=3000)
    with pytest.warns(UserWarning, match="without chunks"):
        data = ZarrDataIO(values, shards=(1500, 8))
    arr = _write(tmp_path, data)
    assert arr.shards == (1500, 8)
    assert all(s % c == 0 for s, c in zip(arr.shards, arr.chunks))


def test_shards_auto_always_shards(tmp_path):
    small = _write(tmp_path, ZarrDataIO(np.arange(16.0), shards="auto"), name="small")
    assert small.shards == small.chunks == (16,)
    grouped = _write(tmp_path, ZarrDataIO(_values(), chunks=(100, 4), shards="auto"), name="g")
    assert grouped.chunks == (100, 4)
    assert grouped.shards == (2000, 8)
    # not given: the policy, which leaves a one-chunk array unsharded; None: never sharded
    assert _write(tmp_path, ZarrDataIO(np.arange(16.0)), name="policy").shards is None
    unsharded = _write(tmp_path, ZarrDataIO(_values(), chunks=(100, 8), shards=None), name="u")
    assert (unsharded.chunks, unsharded.shards) == ((100, 8), None)


def test_get_io_params_adds_link_data():
    source = zarr.create_array(zarr.storage.MemoryStore(), shape=(100,), chunks=(10,), dtype="i4")
    params = ZarrDataIO(source, link_data=True, chunks=(10,), fillvalue=3).get_io_params()
    assert params == {"chunks": (10,), "fill_value": 3, "link_data": True}


def test_storage_settings_translation():
    data = ZarrDataIO(_values(), chunks=(10, 8), shards="auto", compressors=False, fillvalue=2)
    assert storage_settings(data, "/x") == WriteSettings(
        chunks=(10, 8), shards=SHARDS_REQUIRED, compressors=(), fill_value=2
    )
    assert storage_settings(ZarrDataIO(_values()), "/x") == WriteSettings()


def test_layout_rules():
    assert chunks_within((1000, 10), 4, 400) == (10, 10)
    assert chunks_within((997,), 8, 800) == (997,)  # a prime: one chunk, not 997 tiny ones
    assert resolve_shards(SHARDS_POLICY, (100, 10), (100, 10), 4) is None
    assert resolve_shards(SHARDS_REQUIRED, (100, 10), (100, 10), 4) == (100, 10)
    assert resolve_shards(SHARDS_POLICY, (100, 10), (10, 5), 4, text=True) is None
    assert resolve_shards([20, 10], (100, 10), (10, 5), 4) == (20, 10)
    with pytest.raises(ValueError, match="unknown shard request"):
        resolve_shards("automatic", (10,), (10,), 4)


# -- ZarrDataIO.from_h5py_dataset -----------------------------------------------------------------
def test_from_h5py_dataset_settings(tmp_path):
    dset = _h5(tmp_path, compression="gzip", compression_opts=6, shuffle=True, fillvalue=7,
               chunks=(500, 4))  # fmt: skip
    data = ZarrDataIO.from_h5py_dataset(dset)
    settings = data.io_settings
    assert settings["chunks"] == (500, 4) and settings["fill_value"] == 7
    assert "filters" not in settings
    assert _names(settings["compressors"]) == ["numcodecs.shuffle", "gzip"]
    arr = _write(tmp_path, data)
    assert (arr.chunks, arr.fill_value) == ((500, 4), 7)
    assert _names(arr.compressors) == ["numcodecs.shuffle", "gzip"]
    dset.file.close()


def test_from_h5py_dataset_bytes_fill_value(tmp_path):
    dset = _h5(tmp_path, values=np.array([b"hello", b"world", b"go"]), fillvalue=b"None")
    assert ZarrDataIO.from_h5py_dataset(dset).io_settings["fill_value"] == "None"
    dset.file.close()


def test_from_h5py_dataset_overrides(tmp_path):
    dset = _h5(tmp_path, compression="gzip", shuffle=True, chunks=(500, 8))
    order = [TransposeCodec(order=(1, 0))]
    data = ZarrDataIO.from_h5py_dataset(dset, compressors=False, filters=order)
    assert data.io_settings["compressors"] is None and data.io_settings["filters"] == order
    arr = _write(tmp_path, data)
    assert arr.compressors == () and _names(arr.filters) == ["transpose"]
    dset.file.close()


@pytest.mark.parametrize(
    "create, kept",
    [
        pytest.param({"compression": "lzf"}, [], id="lzf"),
        pytest.param({"compression": "lzf", "shuffle": True}, [], id="shuffle-lzf"),
        pytest.param({"scaleoffset": 0, "compression": "gzip"}, ["gzip"], id="scaleoffset-gzip"),
    ],
)
def test_unmappable_filter_is_reencoded(tmp_path, create, kept):
    dset = _h5(tmp_path, chunks=(500, 8), **create)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ZarrDataIO.from_h5py_dataset(dset)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    messages = [m for m in messages if "Numcodecs" not in m]
    assert len(messages) == 1, messages
    assert messages[0].startswith("/data: HDF5 filter ")
    assert ("lzf" if "lzf" in str(create) else "scaleoffset") in messages[0]
    assert caught[0].filename == __file__  # points at the caller
    arr = _write(tmp_path, data)
    assert arr.chunks == (500, 8)
    if kept:
        assert _names(arr.compressors) == kept
    else:  # the writer's default codec, not a bare shuffle
        assert isinstance(arr.compressors[0], BloscCodec)
    with pytest.warns(UserWarning, match="/data: HDF5 filter"):
        assert len(ZarrDataIO.hdf5_to_zarr_filters(dset)) == len(kept)
    dset.file.close()


def test_exact_codecs_still_refuse(tmp_path):
    dset = _h5(tmp_path, chunks=(500, 8), compression="lzf")
    with pytest.raises(UnsupportedCodecError, match="virtual view .* cannot re-encode"):
        hdf5_codecs(dset)
    with pytest.raises(ValueError, match="unsupported='raise'"):
        hdf5_codecs(dset, exact=True, unsupported="warn")
    codecs = hdf5_codecs(dset, exact=False, unsupported="drop")
    assert codecs.dropped == ((32000, "lzf"),) and codecs.compressors == ()
    dset.file.close()


def test_filter_h5py_cannot_run_is_refused_before_copying(tmp_path):
    dset = _h5(tmp_path, chunks=(500, 8), compression=60000, allow_unknown_filter=True)
    with pytest.raises(UnsupportedCodecError, match=r"/data: HDF5 filter .*id 60000.*h5py"):
        require_decodable(dset)
    with pytest.raises(UnsupportedCodecError, match="id 60000"):
        ZarrDataIO.from_h5py_dataset(dset)
    dset.file.close()


# -- plugin filters (hdf5plugin) ------------------------------------------------------------------
PLUGINS = {
    "lz4": lambda: hdf5plugin.LZ4(),
    "bitshuffle": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
    "blosc2": lambda: hdf5plugin.Blosc2(cname="zstd"),
}


@needs_plugin
@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_filter_from_h5py_dataset(tmp_path, name):
    assert load_hdf5_plugins()
    dset = _h5(tmp_path, chunks=(500, 8), **PLUGINS[name]())
    with pytest.warns(UserWarning, match=f"/data: HDF5 filter '{name}'"):
        data = ZarrDataIO.from_h5py_dataset(dset)
    arr = _write(tmp_path, data)
    assert arr.chunks == (500, 8) and isinstance(arr.compressors[0], BloscCodec)
    dset.file.close()


def _sample_with_filtered_column(path, column: str, **filters):
    """The shipped sample copied to ``path``, its trials ``column`` rewritten chunked with
    ``filters`` (h5py ``create_dataset`` keywords); returns the column's values."""
    shutil.copy(ECEPHYS_FILE, path)
    with h5py.File(path, "a") as f:
        old = f[TRIALS][column]
        values, attrs = old[...], dict(old.attrs)
        del f[TRIALS][column]
        new = f[TRIALS].create_dataset(column, data=values, chunks=(100,), **filters)
        new.attrs.update(attrs)
    return values


@needs_plugin
@pytest.mark.parametrize("name", ["lz4", "bitshuffle"])
def test_plugin_filter_conversion_and_virtual_view(tmp_path, name):
    src = tmp_path / f"{name}.nwb"
    values = _sample_with_filtered_column(src, "photo_stim_power", **PLUGINS[name]())
    dst = tmp_path / "out.nwb.zarr"
    with pytest.warns(UserWarning, match=f"/{TRIALS}/photo_stim_power.*{name}"):
        nwbzarr.convert(src, dst, progress=False)
    arr = zarr.open_group(str(dst), mode="r")[f"{TRIALS}/photo_stim_power"]
    assert arr.chunks == (100,) and isinstance(arr.compressors[0], BloscCodec)
    np.testing.assert_array_equal(arr[...], values)
    with NWBZarrIO(str(dst), "r") as io:
        np.testing.assert_array_equal(io.read().trials["photo_stim_power"].data[:], values)
    # the no-copy view cannot re-encode: it refuses, naming the dataset and the way out
    with pytest.raises(UnsupportedCodecError, match=f"photo_stim_power.*{name}.*nwbzarr convert"):
        nwbzarr.read_nwb(str(src))


@needs_plugin
def test_cli_convert_loads_hdf5plugin_itself(tmp_path):
    """A fresh process that never imported hdf5plugin decodes a zstd dataset (mapped codec)."""
    path = tmp_path / "zstd.nwb"
    values = _sample_with_filtered_column(path, "start_time", **hdf5plugin.Zstd(clevel=4))
    dst = tmp_path / "zstd.nwb.zarr"
    cmd = [sys.executable, "-m", "nwbzarr.cli", "convert", "-q", str(path), str(dst)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr
    arr = zarr.open_group(str(dst), mode="r")[f"{TRIALS}/start_time"]
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "zstd", "configuration": {"level": 4, "checksum": False}}
    ]
    np.testing.assert_array_equal(arr[...], values)
