"""HDF5 filter pipeline -> Zarr v3 codecs (nwbzarr.formats.hdf5.filters) and ZarrDataIO from h5py.

The codec mapping is proven on HDF5's own bytes: every stored chunk is read with
``read_direct_chunk`` and written unchanged under its Zarr chunk key; the Zarr array must then
give the same values as h5py.
"""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC

import h5py
import numpy as np
import pytest
import zarr

from nwbzarr.compat import enum_value
from nwbzarr.errors import UnsupportedCodecError
from nwbzarr.virtual import hdf5_codecs

try:
    import hdf5plugin
except ImportError:  # pragma: no cover - optional test dependency
    hdf5plugin = None

pytestmark = pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")

needs_plugin = pytest.mark.skipif(hdf5plugin is None, reason="hdf5plugin not installed")


def _values(dtype: str, shape=(37, 11)) -> np.ndarray:
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).round(1).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return (np.arange(np.prod(shape)).reshape(shape) % 97 - 40).astype(dtype)


def _make(tmp_path, dtype="<i4", shape=(37, 11), chunks=(10, 4), **kwargs) -> h5py.Dataset:
    f = h5py.File(tmp_path / "src.h5", "w")
    return f.create_dataset("data", data=_values(dtype, shape), chunks=chunks, **kwargs)


def _zarr_from_raw_chunks(dset: h5py.Dataset, tmp_path) -> zarr.Array:
    """A Zarr array whose chunks are HDF5's stored (filtered) chunk bytes, unchanged."""
    codecs = hdf5_codecs(dset)
    root = tmp_path / "out.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.create_array(
            zarr.storage.LocalStore(root),
            name="data",
            shape=dset.shape,
            dtype=dset.dtype,
            chunk_key_encoding={"name": "default", "separator": "/"},
            **codecs.create_array_kwargs(),
        )
    grid = [range(0, n, c) for n, c in zip(dset.shape, dset.chunks)]
    for offset in itertools.product(*grid):
        mask, raw = dset.id.read_direct_chunk(offset)
        assert mask == 0, "no filter may be skipped for this test"
        key = [str(o // c) for o, c in zip(offset, dset.chunks)]
        target = root.joinpath("data", "c", *key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
    return zarr.open_array(zarr.storage.LocalStore(root, read_only=True), path="data")


def _check_raw(dset, tmp_path) -> zarr.Array:
    arr = _zarr_from_raw_chunks(dset, tmp_path)
    got = arr[...]
    np.testing.assert_array_equal(got, dset[...])
    assert got.dtype == dset.dtype.newbyteorder("=") or got.dtype == dset.dtype
    return arr


CASES = {
    "none": ("<i4", {}),
    "gzip": ("<i4", {"compression": "gzip", "compression_opts": 6}),
    "gzip-shuffle": ("<f8", {"compression": "gzip", "compression_opts": 2, "shuffle": True}),
    "shuffle-fletcher32": ("<i2", {"shuffle": True, "fletcher32": True}),
    "gzip-shuffle-fletcher32": (
        "<f4",
        {"compression": "gzip", "shuffle": True, "fletcher32": True},
    ),
    "big-i4-gzip": (">i4", {"compression": "gzip", "compression_opts": 4}),
    "big-f8-gzip-shuffle": (">f8", {"compression": "gzip", "shuffle": True}),
    "uint8-gzip": ("u1", {"compression": "gzip"}),
    "bool-gzip": ("bool", {"compression": "gzip"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_raw_hdf5_chunks_decode(tmp_path, case):
    dtype, kwargs = CASES[case]
    dset = _make(tmp_path, dtype=dtype, **kwargs)
    _check_raw(dset, tmp_path)
    dset.file.close()


def test_codec_details(tmp_path):
    dset = _make(
        tmp_path,
        dtype=">f8",
        compression="gzip",
        compression_opts=7,
        shuffle=True,
        fletcher32=True,
        fillvalue=-1.5,
    )
    exact = hdf5_codecs(dset)
    assert exact.chunks == (10, 4)
    assert exact.fill_value == -1.5
    assert exact.serializer.to_dict()["configuration"]["endian"] == "big"
    names = [c.to_dict()["name"] for c in exact.compressors]
    assert names == ["numcodecs.shuffle", "numcodecs.zlib", "numcodecs.fletcher32"]
    assert exact.compressors[0].to_dict()["configuration"] == {"elementsize": 8}
    assert exact.compressors[1].to_dict()["configuration"] == {"level": 7}
    assert [f[1] for f in exact.hdf5_filters] == ["shuffle", "deflate", "fletcher32"]
    portable = hdf5_codecs(dset, exact=False)
    assert [c.to_dict()["name"] for c in portable.compressors] == ["numcodecs.shuffle", "gzip"]
    assert portable.compressors[1].level == 7
    assert any("fletcher32" in note for note in portable.notes)
    dset.file.close()


def test_contiguous_dataset_has_no_chunks(tmp_path):
    with h5py.File(tmp_path / "c.h5", "w") as f:
        dset = f.create_dataset("x", data=np.arange(5))
        codecs = hdf5_codecs(dset)
        assert codecs.chunks is None and codecs.compressors == ()


def test_lzf_raises(tmp_path):
    dset = _make(tmp_path, compression="lzf")
    with pytest.raises(UnsupportedCodecError, match=r"/data.*lzf.*32000"):
        hdf5_codecs(dset)
    dset.file.close()


def test_scaleoffset_raises(tmp_path):
    dset = _make(tmp_path, scaleoffset=0)
    with pytest.raises(UnsupportedCodecError, match=r"/data.*scaleoffset"):
        hdf5_codecs(dset, path="acquisition/ts/data")
    dset.file.close()


def test_scaleoffset_raises_with_given_path(tmp_path):
    dset = _make(tmp_path, dtype="<f8", scaleoffset=2)
    with pytest.raises(UnsupportedCodecError, match=r"^acquisition/ts/data: .*scaleoffset"):
        hdf5_codecs(dset, path="acquisition/ts/data")
    dset.file.close()


def test_unknown_filter_raises(tmp_path):
    dset = _make(tmp_path)
    plist = [(60000, 0, (), "mystery")]
    import nwbzarr.formats.hdf5.filters as filters

    orig = filters.hdf5_pipeline
    filters.hdf5_pipeline = lambda d: plist
    try:
        with pytest.raises(UnsupportedCodecError, match=r"id 60000.*unknown"):
            hdf5_codecs(dset)
    finally:
        filters.hdf5_pipeline = orig
        dset.file.close()


def test_optional_filter_is_mapped(tmp_path):
    # h5py marks shuffle/fletcher32 mandatory and deflate optional; check the flag is ignored.
    dset = _make(tmp_path, compression="gzip", shuffle=True)
    plist = dset.id.get_create_plist()
    flags = {plist.get_filter(i)[0]: plist.get_filter(i)[1] for i in range(plist.get_nfilters())}
    assert flags[1] & 1  # deflate is optional in h5py's pipeline
    assert len(hdf5_codecs(dset).compressors) == 2
    dset.file.close()


# --- hdf5plugin filters -------------------------------------------------------------------


@needs_plugin
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: hdf5plugin.Zstd(clevel=5), id="zstd"),
        pytest.param(lambda: hdf5plugin.Blosc(cname="lz4", clevel=7, shuffle=1), id="blosc-lz4"),
        pytest.param(lambda: hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=2), id="blosc-zstd"),
        pytest.param(lambda: hdf5plugin.Blosc(cname="zlib", clevel=4, shuffle=0), id="blosc-zlib"),
        pytest.param(lambda: hdf5plugin.Blosc(cname="blosclz", clevel=9), id="blosc-blosclz"),
    ],
)
@pytest.mark.parametrize("dtype", ["<i4", ">f8"])
def test_plugin_raw_chunks_decode(tmp_path, make, dtype):
    # Chunks large and compressible enough that the (optional) plugin filter is applied to
    # every chunk: HDF5 skips an optional filter that does not shrink a chunk (filter mask).
    dset = _make(tmp_path, dtype=dtype, shape=(300, 40), chunks=(64, 16), **make())
    _check_raw(dset, tmp_path)
    dset.file.close()


@needs_plugin
def test_plugin_blosc_settings(tmp_path):
    dset = _make(tmp_path, dtype="<i2", **hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=2))
    (codec,) = hdf5_codecs(dset).compressors
    assert (enum_value(codec.cname), codec.clevel, enum_value(codec.shuffle), codec.typesize) == (
        "zstd",
        3,
        "bitshuffle",
        2,
    )
    dset.file.close()


@needs_plugin
@pytest.mark.parametrize(
    "make, name",
    [
        pytest.param(lambda: hdf5plugin.LZ4(), "lz4", id="lz4"),
        pytest.param(lambda: hdf5plugin.Bitshuffle(cname="lz4"), "bitshuffle", id="bitshuffle"),
        pytest.param(lambda: hdf5plugin.Blosc2(cname="zstd"), "blosc2", id="blosc2"),
        pytest.param(lambda: hdf5plugin.Blosc(cname="snappy"), "blosc", id="blosc-snappy"),
    ],
)
def test_plugin_unsupported_raises(tmp_path, make, name):
    try:
        kwargs = make()
        dset = _make(tmp_path, **kwargs)
    except (ValueError, OSError) as exc:  # e.g. blosc built without snappy
        pytest.skip(f"hdf5plugin cannot write this filter here: {exc}")
    with pytest.raises(UnsupportedCodecError, match=rf"/data.*{name}"):
        hdf5_codecs(dset)
    dset.file.close()


# --- ZarrDataIO.from_h5py_dataset and H5DataIO translation ----------------------------------


def _write_nwb(data, path, name="ts"):
    from datetime import datetime

    from pynwb import TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    from nwbzarr import NWBZarrIO

    nwbfile = mock_NWBFile(session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(TimeSeries(name=name, unit="V", rate=1.0, data=data))
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwbfile)
    return path


def _read_data(path, name="ts"):
    from nwbzarr import NWBZarrIO

    with NWBZarrIO(str(path), mode="r") as io:
        return np.asarray(io.read().acquisition[name].data[...])


def test_is_h5py_dataset(tmp_path):
    from nwbzarr import ZarrDataIO

    dset = _make(tmp_path)
    assert ZarrDataIO.is_h5py_dataset(dset)
    assert not ZarrDataIO.is_h5py_dataset(dset[...])
    assert not ZarrDataIO.is_h5py_dataset(dset.file)
    dset.file.close()


def test_hdf5_to_zarr_filters(tmp_path):
    from nwbzarr import ZarrDataIO

    dset = _make(tmp_path, dtype="<f8", compression="gzip", compression_opts=3, shuffle=True)
    codecs = ZarrDataIO.hdf5_to_zarr_filters(dset)
    assert [c.to_dict() for c in codecs] == [
        {"name": "numcodecs.shuffle", "configuration": {"elementsize": 8}},
        {"name": "gzip", "configuration": {"level": 3}},
    ]
    dset.file.close()


@pytest.mark.parametrize("dtype", ["<i4", ">i4", ">f8", "<f4"])
def test_from_h5py_dataset_roundtrip(tmp_path, dtype):
    from nwbzarr import ZarrDataIO

    dset = _make(
        tmp_path,
        dtype=dtype,
        compression="gzip",
        compression_opts=5,
        shuffle=True,
        fletcher32=True,
        fillvalue=7,
    )
    expected = dset[...]
    dataio = ZarrDataIO.from_h5py_dataset(dset)
    path = _write_nwb(dataio, tmp_path / "ts.nwb.zarr")
    dset.file.close()
    np.testing.assert_array_equal(_read_data(path), expected)
    arr = zarr.open_group(str(path), mode="r")["acquisition/ts/data"]
    assert arr.chunks == (10, 4)
    assert arr.fill_value == 7
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "numcodecs.shuffle", "configuration": {"elementsize": np.dtype(dtype).itemsize}},
        {"name": "gzip", "configuration": {"level": 5}},
    ]
    endian = arr.serializer.to_dict()["configuration"]["endian"]
    assert endian == ("big" if dtype.startswith(">") else "little")


def test_from_h5py_dataset_kwargs_override(tmp_path):
    from zarr.codecs import ZstdCodec

    from nwbzarr import ZarrDataIO

    dset = _make(tmp_path, compression="lzf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit codec replaces lzf: nothing to warn about
        dataio = ZarrDataIO.from_h5py_dataset(
            dset, compressors=[ZstdCodec(level=1)], chunks=(37, 11)
        )
    assert dataio.io_settings["chunks"] == (37, 11)
    expected = dset[...]
    path = _write_nwb(dataio, tmp_path / "ts.nwb.zarr")
    dset.file.close()
    np.testing.assert_array_equal(_read_data(path), expected)
    arr = zarr.open_group(str(path), mode="r")["acquisition/ts/data"]
    assert [c.to_dict()["name"] for c in arr.compressors] == ["zstd"]
    with pytest.raises(TypeError, match="h5py.Dataset"):
        ZarrDataIO.from_h5py_dataset(np.arange(3))


def test_h5dataio_gzip_shuffle(tmp_path):
    from hdmf.backends.hdf5 import H5DataIO

    values = np.arange(200, dtype="<i2").reshape(50, 4)
    data = H5DataIO(values, compression="gzip", compression_opts=4, shuffle=True, chunks=(10, 4))
    path = _write_nwb(data, tmp_path / "ts.nwb.zarr")
    np.testing.assert_array_equal(_read_data(path), values)
    arr = zarr.open_group(str(path), mode="r")["acquisition/ts/data"]
    assert arr.chunks == (10, 4)
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "numcodecs.shuffle", "configuration": {"elementsize": 2}},
        {"name": "gzip", "configuration": {"level": 4}},
    ]


@pytest.mark.parametrize("compression", ["lzf", "szip"])
def test_h5dataio_lzf_szip_raise(tmp_path, compression):
    from hdmf.backends.hdf5 import H5DataIO

    from nwbzarr.backend.dataio import storage_settings

    try:
        data = H5DataIO(np.arange(10.0), compression=compression)
    except Exception as exc:  # hdmf refuses szip when HDF5 lacks it
        pytest.skip(f"H5DataIO refuses {compression} here: {exc}")
    with pytest.raises(UnsupportedCodecError, match=rf"acquisition/ts/data.*{compression}"):
        storage_settings(data, "acquisition/ts/data")
    with pytest.raises(UnsupportedCodecError, match=compression):
        _write_nwb(data, tmp_path / "ts.nwb.zarr")


@needs_plugin
def test_h5dataio_plugin_zstd(tmp_path):
    from hdmf.backends.hdf5 import H5DataIO

    values = np.arange(100.0)
    data = H5DataIO(values, allow_plugin_filters=True, chunks=(20,), **hdf5plugin.Zstd(clevel=9))
    path = _write_nwb(data, tmp_path / "ts.nwb.zarr")
    np.testing.assert_array_equal(_read_data(path), values)
    arr = zarr.open_group(str(path), mode="r")["acquisition/ts/data"]
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "zstd", "configuration": {"level": 9, "checksum": False}}
    ]
