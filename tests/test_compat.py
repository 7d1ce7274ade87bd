"""One test per shim of :mod:`nwbzarr.compat`: each fails by name when upstream changes.

Each test checks the upstream thing a shim relies on (a private module or attribute, a
function signature, a behaviour, an error message) directly, not only through nwbzarr, so a
zarr-python / hdmf / pynwb release that moves it fails here first.
"""

from __future__ import annotations

import inspect
import json
import warnings

import h5py
import numpy as np
import pytest
import zarr
from zarr.storage import MemoryStore

import nwbzarr  # noqa: F401 - registers the pynwb / hdmf hooks
from nwbzarr import compat
from nwbzarr.storage import checked_codecs


def _array(values=None, **kwargs):
    values = np.arange(20, dtype="i4") if values is None else values
    kwargs.setdefault("chunks", (5,))
    a = zarr.create_array(MemoryStore(), shape=values.shape, dtype=values.dtype, **kwargs)
    a[...] = values
    return a


# -- zarr ---------------------------------------------------------------------------------------
def test_buffers_are_zarrs_public_ones():
    import zarr.abc.buffer
    import zarr.buffer

    assert compat.Buffer is zarr.abc.buffer.Buffer
    assert compat.BufferPrototype is zarr.abc.buffer.BufferPrototype
    assert compat.default_buffer_prototype is zarr.buffer.default_buffer_prototype
    proto = compat.default_buffer_prototype()
    assert isinstance(proto, compat.BufferPrototype)
    buf = proto.buffer.from_bytes(b"abc")
    assert isinstance(buf, compat.Buffer) and buf.to_bytes() == b"abc"
    nd = proto.nd_buffer.from_numpy_array(np.empty(2, object))
    assert nd.as_numpy_array().dtype == object


def test_sync_runs_on_zarrs_loop():
    import zarr.core.sync

    assert compat.sync is zarr.core.sync.sync
    assert list(inspect.signature(compat.sync).parameters)[0] == "coro"

    async def answer():
        return 42

    assert compat.sync(answer()) == 42


def test_concurrent_map_uses_zarrs_and_keeps_order():
    assert compat._zarr_concurrent_map is not None, "zarr.core.common.concurrent_map is gone"
    params = inspect.signature(compat._zarr_concurrent_map).parameters
    assert list(params)[:2] == ["items", "func"] and "limit" in params

    async def double(x, y):
        return (x + y) * 2

    assert compat.sync(compat.concurrent_map([(1, 2), (3, 4)], double, limit=1)) == [6, 14]
    assert compat.sync(compat.concurrent_map([(0, 1)], double)) == [2]


def test_group_metadata_saved_alone():
    import importlib.util

    if importlib.util.find_spec("zarr.core.metadata.io") is not None:  # zarr >= 3.1.3
        assert compat._zarr_save_metadata is not None, "zarr.core.metadata.io lost save_metadata"
        params = inspect.signature(compat._zarr_save_metadata).parameters
        assert list(params)[:2] == ["store_path", "metadata"] and "ensure_parents" in params
    assert compat.AsyncGroup is zarr.AsyncGroup
    store = MemoryStore()
    root = zarr.open_group(store, mode="w", zarr_format=3)
    path = root.store_path / "child"
    meta = compat.GroupMetadata(attributes={"a": 1}, zarr_format=3)
    compat.sync(compat.save_metadata(path, meta))
    group = compat.group_from_async(compat.AsyncGroup(metadata=meta, store_path=path))
    assert isinstance(group, zarr.Group) and group.attrs["a"] == 1
    assert zarr.open_group(store, path="child", mode="r").attrs.asdict() == {"a": 1}
    assert sorted(compat.sync(_keys(store))) == ["child/zarr.json", "zarr.json"]


async def _keys(store):
    return [k async for k in store.list()]


@pytest.mark.parametrize(
    "dtype, expected",
    [("<i4", "int32"), ("<f8", "float64"), ("|b1", "bool"), ("|S5", None), ("<M8[ns]", None)],
)
def test_zdtype_from_native(dtype, expected):
    zdtype = compat.zdtype_from_native(np.dtype(dtype))
    assert zdtype.to_native_dtype() == np.dtype(dtype)
    if expected is not None:
        assert zdtype.to_json(zarr_format=3) == expected
    compound = compat.zdtype_from_native(np.dtype([("x", "<i4"), ("y", "<f8")]))
    assert compound.to_native_dtype().names == ("x", "y")


def test_enum_value_reads_codec_settings():
    from zarr.codecs import BloscCodec, BytesCodec, ShardingCodec

    assert compat.enum_value(ShardingCodec(chunk_shape=(2,)).index_location) == "end"
    assert compat.enum_value(BytesCodec(endian="big").endian) == "big"
    blosc = BloscCodec(cname="zstd", shuffle="bitshuffle", typesize=4)
    assert (compat.enum_value(blosc.cname), compat.enum_value(blosc.shuffle)) == (
        "zstd",
        "bitshuffle",
    )
    assert compat.enum_value(None) is None and compat.enum_value("x") == "x"
    # a codec rebuilt from a plain name (grow.py) compares equal to one built from the enum
    import dataclasses

    assert compat.enum_value(dataclasses.replace(blosc, shuffle="shuffle").shuffle) == "shuffle"


def test_array_and_group_async_twins():
    a = _array()
    aa = compat.async_array(a)
    assert isinstance(aa, zarr.AsyncArray)
    again = compat.array_from_async(aa)
    assert isinstance(again, zarr.Array) and again[3] == 3

    class Sub(zarr.Array):
        pass

    assert isinstance(compat.array_from_async(aa, Sub), Sub)
    root = zarr.open_group(MemoryStore(), mode="w", zarr_format=3)
    ag = compat.async_group(root)
    assert isinstance(ag, zarr.AsyncGroup)
    assert compat.group_from_async(ag).store_path == root.store_path


def test_rebind_array_swaps_metadata_in_place():
    a = _array()
    b = _array(np.arange(7, dtype="f8"))
    holder = a
    compat.rebind_array(a, b)
    assert holder.dtype == np.dtype("f8") and holder.shape == (7,)
    assert holder[6] == 6.0


def test_read_scalars_concurrently():
    arrays = [zarr.create_array(MemoryStore(), shape=(), dtype="i4") for _ in range(3)]
    for i, a in enumerate(arrays):
        a[()] = i
    values = compat.sync(compat.read_scalars(arrays))
    assert [int(np.asarray(v)) for v in values] == [0, 1, 2]


def test_chunk_decoders_fetch_and_decode():
    a = _array(compressors=[zarr.codecs.GzipCodec()])
    checks = compat.chunk_decoders(a, slice(3, 12))
    assert [key for key, _ in checks] == ["c/0", "c/1", "c/2"]
    assert all(compat.sync(decode()) for _, decode in checks)
    bad = compat.default_buffer_prototype().buffer.from_bytes(b"not gzip")
    compat.sync(a.store.set("c/1", bad))
    with pytest.raises(checked_codecs.DECODE_ERRORS):
        compat.sync(checks[1][1]())
    assert checked_codecs.locate_corrupt_chunk(a, slice(None))[0] == "c/1"
    empty = zarr.create_array(MemoryStore(), shape=(10,), dtype="i4", chunks=(5,))
    assert [compat.sync(d()) for _, d in compat.chunk_decoders(empty, ...)] == [False, False]


def test_compressor_classes_all_found():
    found = {
        (cls.__module__.split(".")[1], cls.__name__): kind
        for cls, kind, _ in compat.compressor_classes()
    }
    assert len(found) == 7, f"zarr moved a compressor or its numcodecs decoder: {found}"
    import zarr.codecs.numcodecs as zn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probes = {name: kw for _, name, _, _, kw in compat._COMPRESSORS}
        for cls, _kind, inner in compat.compressor_classes():
            if inner is not None:
                assert hasattr(inner(cls(**probes[cls.__name__])), "decode"), cls
    assert {cls for cls, _, _ in compat.compressor_classes()} >= {zn.Zstd, zn.GZip, zn.Zlib}


def test_checked_codec_class_decodes_through_ours():
    import gzip
    import types

    from zarr.codecs import GzipCodec

    calls = []

    def decode_sync(codec, chunk_bytes, chunk_spec):
        calls.append(codec.level)
        return chunk_spec.prototype.buffer.from_bytes(gzip.decompress(chunk_bytes.to_bytes()))

    assert inspect.iscoroutinefunction(GzipCodec._decode_single)
    assert list(inspect.signature(GzipCodec._decode_single).parameters) == [
        "self",
        "chunk_bytes",
        "chunk_spec",
    ]
    cls = compat.checked_codec_class(GzipCodec, decode_sync, __name__, "CheckedForTest")
    assert issubclass(cls, GzipCodec) and cls.__qualname__ == "CheckedForTest"
    assert hasattr(cls, "_decode_sync") == hasattr(GzipCodec, "_decode_sync")
    twin = compat.with_codec_class(GzipCodec(level=3), cls)
    assert type(twin) is cls and twin.level == 3
    a = _array(compressors=[GzipCodec(level=3)])
    raw = compat.sync(a.store.get("c/0", compat.default_buffer_prototype()))
    spec = types.SimpleNamespace(prototype=compat.default_buffer_prototype())
    out = compat.sync(twin._decode_single(raw, spec))
    assert calls == [3] and len(out.to_bytes()) == 20


def test_codec_pipeline_installed_and_default_still_zarrs():
    defaults = [d["codec_pipeline"] for d in zarr.config.defaults if "codec_pipeline" in d]
    assert defaults and defaults[0]["path"] == compat.DEFAULT_CODEC_PIPELINE
    from zarr.core.codec_pipeline import BatchedCodecPipeline

    params = inspect.signature(BatchedCodecPipeline.from_codecs).parameters
    assert list(params) == ["codecs", "batch_size"], params
    checked_codecs.install()
    path = zarr.config.get("codec_pipeline.path")
    assert path == "nwbzarr.storage.checked_codecs.CheckedCodecPipeline"
    from zarr.registry import get_pipeline_class

    assert issubclass(get_pipeline_class(), BatchedCodecPipeline)
    a = _array(compressors=[zarr.codecs.ZstdCodec()])
    pipeline = compat.async_array(a).codec_pipeline
    assert type(pipeline).__name__ == "CheckedCodecPipeline"
    assert any(type(c).__name__ == "CheckedZstdCodec" for c in pipeline)
    assert type(a.compressors[0]) is zarr.codecs.ZstdCodec  # metadata keeps zarr's class
    assert list(a[...]) == list(range(20))


def test_consolidated_metadata_error_text():
    store = MemoryStore()
    zarr.open_group(store, mode="w", zarr_format=3)
    proto = compat.default_buffer_prototype()
    doc = json.loads(compat.sync(store.get("zarr.json", proto)).to_bytes())
    doc["consolidated_metadata"] = {"kind": "bogus", "must_understand": False, "metadata": {}}
    compat.sync(store.set("zarr.json", proto.buffer.from_bytes(json.dumps(doc).encode())))
    with pytest.raises(ValueError) as info:
        zarr.open_group(store, mode="r", zarr_format=3)
    assert compat.is_consolidated_metadata_error(info.value)
    assert zarr.open_group(store, mode="r", zarr_format=3, use_consolidated=False) is not None
    assert not compat.is_consolidated_metadata_error(ValueError("other"))


def test_hdf5_filter_error_text(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", data=np.arange(1000.0), chunks=(100,), compression="gzip")
        d.id.write_direct_chunk((0,), b"\x78\x9c not deflate")
    with h5py.File(path, "r") as f, pytest.raises(OSError) as info:
        f["x"][:10]
    assert compat.is_hdf5_filter_error(info.value), str(info.value)
    assert not compat.is_hdf5_filter_error(OSError("disk on fire"))


# -- hdmf ---------------------------------------------------------------------------------------
def test_hdmf_extend_data_wrapped():
    import hdmf.container
    import hdmf.data_utils

    assert "extend_data" in hdmf.container.Data.extend.__code__.co_names
    assert compat.wrap_hdmf_extend_data()
    wrapper = hdmf.container.extend_data
    assert wrapper._nwbzarr_wrapped and wrapper._nwbzarr_original is hdmf.data_utils.extend_data
    assert list(inspect.signature(hdmf.data_utils.extend_data).parameters) == ["data", "arg"]

    class Grows(list):
        def _nwbzarr_extend(self, arg):
            self.append(("ours", list(arg)))
            return self

    data = hdmf.container.Data(name="d", data=Grows())
    data.extend([1, 2])
    assert list(data.data) == [("ours", [1, 2])]
    plain = hdmf.container.Data(name="p", data=[0])
    plain.extend([1])
    assert plain.data == [0, 1]
    assert compat.wrap_hdmf_extend_data() and hdmf.container.extend_data is wrapper


def test_vector_index_widened():
    from hdmf.common.table import VectorData, VectorIndex

    target = VectorData(name="x", description="d", data=[])
    index = VectorIndex(name="x_index", data=[], target=target)
    assert hasattr(index, "_VectorIndex__uint") and hasattr(index, "_VectorIndex__maxval")
    assert compat.widen_vector_index(index)
    assert index._VectorIndex__uint is np.uint64
    index.add_vector(list(range(300)))  # past 255 elements: no precision adjustment needed
    assert list(index.data) == [300]
    assert not compat.widen_vector_index(object())


def test_dataio_declared_shape_and_dtype():
    from hdmf.data_utils import DataIO

    dataio = DataIO(shape=(3, 4), dtype=np.int32)
    assert not dataio.valid
    shape, dtype = compat.dataio_declared(dataio)
    assert tuple(shape) == (3, 4) and np.dtype(dtype) == np.dtype("int32")
    assert compat.dataio_declared(DataIO(data=[1, 2])) == (None, None)


# -- pynwb --------------------------------------------------------------------------------------
def test_pynwb_entry_points_wrapped(tmp_path):
    import pynwb

    from nwbzarr import NWBZarrIO

    assert compat.wrap_pynwb_entry_points(lambda p: False, NWBZarrIO) == [
        "_get_backend",
        "read_nwb",
    ]
    get_backend = pynwb._get_backend
    original = get_backend.__wrapped__
    names = [a["name"] for a in getattr(original, "__docval__", {}).get("args", [])]
    if names:
        assert names[:2] == ["path", "method"], names
    else:
        assert list(inspect.signature(original).parameters)[:2] == ["path", "method"]
    assert pynwb.read_nwb.__wrapped__ is not None

    from datetime import UTC, datetime

    nwbfile = pynwb.NWBFile("d", "id-compat", datetime(2024, 1, 1, tzinfo=UTC))
    store = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(store, mode="w") as io:
        io.write(nwbfile)
    assert pynwb._get_backend(str(store)) is NWBZarrIO
    assert pynwb.read_nwb(store).identifier == "id-compat"
    h5 = tmp_path / "f.nwb"
    with pynwb.NWBHDF5IO(h5, "w") as io:
        io.write(pynwb.NWBFile("d", "id-h5", datetime(2024, 1, 1, tzinfo=UTC)))
    assert pynwb._get_backend(str(h5)) is pynwb.NWBHDF5IO


def test_hdf5io_file_is_the_open_h5py_file(tmp_path):
    from datetime import UTC, datetime

    import pynwb

    path = tmp_path / "f.nwb"
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(pynwb.NWBFile("d", "id-file", datetime(2024, 1, 1, tzinfo=UTC)))
    with pynwb.NWBHDF5IO(path, "r") as io:
        f = compat.hdf5io_file(io)
        assert isinstance(f, h5py.File) and f.id.valid and "identifier" in f


def test_hdf5_library_lock_is_h5pys_reentrant_lock(tmp_path):
    import concurrent.futures

    import h5py

    from nwbzarr.compat import hdf5_library_lock

    lock = hdf5_library_lock()
    assert lock is hdf5_library_lock()
    with lock, lock:  # reentrant: h5py calls inside the lock take it again
        with h5py.File(tmp_path / "x.h5", "w") as f:
            d = f.create_dataset("d", data=list(range(100)), chunks=(10,), compression="gzip")
            offsets = [(i,) for i in range(0, 100, 10)]

    with h5py.File(tmp_path / "x.h5", "r") as f:
        d = f["d"]

        def raw(offset):
            with hdf5_library_lock():
                return d.id.read_direct_chunk(offset)[1]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            chunks = list(pool.map(raw, offsets * 20))
        assert len({bytes(c) for c in chunks}) == 10
