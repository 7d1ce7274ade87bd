"""The HDF5 index (nwbzarr.formats.hdf5.index): HDF5 files read as Zarr v3 without copying.

Each reference set is turned into an in-memory Zarr store by reading its byte ranges from the
local file (test-only helper; the real read-only store lives elsewhere), then read with
zarr-python and with nwbzarr's reader, and compared value by value with h5py, pynwb and the
store ``nwbzarr.convert`` writes for the same file.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings

import h5py
import numpy as np
import pytest
import zarr
from conftest import NWB_FILES, sweep
from hdmf.testing import TestCase
from http_server import RangeHTTPServer
from pynwb import NWBHDF5IO
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

import nwbzarr
from nwbzarr.conventions.attributes import INLINE_CHUNKS_ATTR
from nwbzarr.errors import HDF5IndexError, UnsupportedCodecError
from nwbzarr.formats.hdf5.index import index_hdf5
from nwbzarr.storage.manifest import ByteRange, ReferenceSet

pytestmark = [
    pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3"),
    pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part"),
]


def memory_store(refset: ReferenceSet) -> MemoryStore:
    """A read-only MemoryStore holding every key of ``refset`` (byte ranges read from disk)."""
    prototype = default_buffer_prototype()
    data = {}
    handles: dict = {}
    try:
        for key, value in refset.refs.items():
            if isinstance(value, ByteRange):
                fh = handles.get(value.url) or handles.setdefault(value.url, open(value.url, "rb"))
                fh.seek(value.offset)
                value = fh.read(value.length)
                assert len(value) == refset.refs[key].length, key
            data[key] = prototype.buffer.from_bytes(value)
    finally:
        for fh in handles.values():
            fh.close()
    return MemoryStore(data, read_only=True)


def open_index(path, **kwargs) -> zarr.Group:
    return zarr.open_group(memory_store(index_hdf5(path, **kwargs)), mode="r")


def _has_object_ids(path) -> bool:
    with h5py.File(path, "r") as f:
        return "object_id" in f.attrs


def _json(value):
    return json.loads(json.dumps(value))


# -- real NWB files -----------------------------------------------------------------------------
@pytest.mark.parametrize("src", sweep(NWB_FILES))
def test_nwb_file_reads_as_pynwb_and_as_converted(src, tmp_path):
    refset = index_hdf5(src)
    assert refset.zarr_format == 3 and refset.dialect == "hdf5"
    assert refset.sources == (str(src.resolve()),)
    store = memory_store(refset)
    root_doc = json.loads(refset.refs["zarr.json"])
    assert root_doc["consolidated_metadata"]["metadata"]  # opening needs only the JSON
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io,
            nwbzarr.NWBZarrIO(store, "r", load_namespaces=True) as zio,
        ):
            original, virtual = h5io.read(), zio.read()
            if _has_object_ids(src):
                assert set(virtual.objects) == set(original.objects)
            TestCase().assertContainerEqual(original, virtual, ignore_hdmf_attrs=True)
        converted = tmp_path / "c.nwb.zarr"
        nwbzarr.convert(src, converted, progress=False)
    _assert_same_nodes(zarr.open_group(store, mode="r"), zarr.open_group(converted, mode="r"))


def _assert_same_nodes(virtual: zarr.Group, converted: zarr.Group) -> None:
    """Attributes, dtypes, shapes and values of every node outside the spec cache (conversion
    caches pynwb's own namespaces too) are equal. Dimension names: every array of both has one
    per dimension, also as ``_ARRAY_DIMENSIONS``; they are equal where the converted store's
    come from the file (HDF5 dimension scales, tables), not from the spec (docs/storage.md §4)."""

    def nodes(group):
        return {
            k: v for k, v in group.members(max_depth=None) if not k.startswith("specifications")
        }

    a, b = nodes(virtual), nodes(converted)
    assert set(a) == set(b)
    root_attrs = _json(dict(converted.attrs))
    if ".specloc" not in virtual.attrs:  # NWB 1.x files have no spec cache; conversion adds one
        root_attrs.pop(".specloc")
    # the writer's note of small chunks for remote readers (docs/storage.md §2.8): a property of
    # the local store's files, not of the file's content
    assert root_attrs.pop(INLINE_CHUNKS_ATTR) is not None
    assert _json(dict(virtual.attrs)) == root_attrs
    for key in sorted(a):
        x, y = a[key], b[key]
        assert type(x) is type(y), key
        x_attrs, y_attrs = _json(dict(x.attrs)), _json(dict(y.attrs))
        x_dims, y_dims = (
            x_attrs.pop("_ARRAY_DIMENSIONS", None),
            y_attrs.pop("_ARRAY_DIMENSIONS", None),
        )
        assert x_attrs == y_attrs, key
        if isinstance(x, zarr.Array):
            assert (x.dtype, x.shape) == (y.dtype, y.shape), key
            vx, vy = np.asarray(x[...]), np.asarray(y[...])
            assert np.array_equal(vx, vy, equal_nan=vx.dtype.kind == "f"), key
            for array, dims in ((x, x_dims), (y, y_dims)):
                names = array.metadata.dimension_names
                assert (names is None) == (array.ndim == 0), key
                assert dims == (list(names) if names else None), key
            y_names = y.metadata.dimension_names or ()
            if y_names and all(n == "num_rows" or n.endswith("_elements") for n in y_names):
                assert x.metadata.dimension_names == y_names, key  # a table's rows / elements


# -- synthetic files: storage layouts -----------------------------------------------------------
def test_chunked_filters_edge_chunks_and_byte_ranges(tmp_path):
    path = tmp_path / "f.h5"
    rng = np.random.default_rng(1)
    data = rng.integers(-1000, 1000, size=(203, 37)).astype("int32")
    with h5py.File(path, "w") as f:
        f.create_dataset("gz", data=data, chunks=(50, 10), compression="gzip", shuffle=True)
        f.create_dataset("fl", data=data, chunks=(64, 37), fletcher32=True)
        f.create_dataset("be", data=data.astype(">f8"), chunks=(100, 20))
    refset = index_hdf5(path, inline_bytes=0)
    gz_keys = {k for k in refset.refs if k.startswith("gz/c/")}
    assert gz_keys == {f"gz/c/{i}/{j}" for i in range(5) for j in range(4)}
    assert all(isinstance(refset.refs[k], ByteRange) for k in gz_keys)
    root = zarr.open_group(memory_store(refset), mode="r")
    np.testing.assert_array_equal(root["gz"][...], data)
    np.testing.assert_array_equal(root["fl"][...], data)
    assert root["be"].dtype == np.float64
    np.testing.assert_array_equal(root["be"][...], data.astype("f8"))
    codecs = [c["name"] for c in root["gz"].metadata.to_dict()["codecs"]]
    assert codecs == ["bytes", "numcodecs.shuffle", "numcodecs.zlib"]
    assert root["be"].metadata.to_dict()["codecs"][0]["configuration"]["endian"] == "big"


def test_url_recorded_in_chunk_refs(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(10000.0), chunks=(1000,))
    refset = index_hdf5(path, url="https://example.org/f.h5", inline_bytes=0)
    assert refset.sources == ("https://example.org/f.h5",)
    ranges = [v for v in refset.refs.values() if isinstance(v, ByteRange)]
    assert len(ranges) == 10 and {r.url for r in ranges} == {"https://example.org/f.h5"}
    with h5py.File(path, "r") as f:  # an open h5py.File indexes the same way
        assert index_hdf5(f, url="https://example.org/f.h5", inline_bytes=0).refs == refset.refs
    with open(path, "rb") as fh:  # a file object: its name gives the location
        assert index_hdf5(fh).sources == (str(path),)


def test_url_source_indexes_like_local_file(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(20000.0), chunks=(1000,), compression="gzip")
        f.create_dataset("s", data=["a", "b"], dtype=h5py.string_dtype())
    local = index_hdf5(path)
    with RangeHTTPServer(tmp_path) as server:
        remote = index_hdf5(server.url("f.h5"))
        assert remote.sources == (server.url("f.h5"),)
        as_local = {
            k: ByteRange(str(path), v.offset, v.length) if isinstance(v, ByteRange) else v
            for k, v in remote.refs.items()
        }
        assert as_local == local.refs
        assert all(r.method in ("GET", "HEAD") for r in server.log)
        with pytest.raises(HDF5IndexError, match="missing.h5"):
            index_hdf5(server.url("missing.h5"))


def test_contiguous_split_compact_and_inline(tmp_path):
    path = tmp_path / "f.h5"
    big = np.arange(1001 * 7, dtype="<i8").reshape(1001, 7)  # 1001 = 7 * 11 * 13
    prime = np.arange(997 * 3, dtype=">u2").reshape(997, 3)  # no divisor near the target
    with h5py.File(path, "w") as f:
        f.create_dataset("big", data=big)
        f.create_dataset("prime", data=prime)
        f.create_dataset("small", data=np.arange(5, dtype="f4"))
        f.create_dataset("scalar", data=np.float64(2.5))
        space = h5py.h5s.create_simple((6,))
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I16BE, space, plist)
        f["compact"][...] = np.arange(6) - 3
    refset = index_hdf5(path, max_chunk_bytes=4000, inline_bytes=64)
    root = zarr.open_group(memory_store(refset), mode="r")
    # rows of 56 bytes: 71 fit in 4000 bytes; no divisor of 1001 = 7*11*13 lies in [35, 71],
    # so pieces hold 71 rows and the short last piece (7 rows) is inlined
    assert root["big"].chunks == (71, 7)
    big_keys = sorted(
        (k for k in refset.refs if k.startswith("big/c/")), key=lambda k: int(k.split("/")[2])
    )
    assert len(big_keys) == 15
    assert all(
        isinstance(refset.refs[k], ByteRange) and refset.refs[k].length == 71 * 56
        for k in big_keys[:-1]
    )
    assert isinstance(refset.refs["big/c/14/0"], bytes)
    np.testing.assert_array_equal(root["big"][...], big)
    np.testing.assert_array_equal(root["prime"][...], prime)
    assert root["prime"].metadata.to_dict()["codecs"][0]["configuration"]["endian"] == "big"
    np.testing.assert_array_equal(root["small"][...], np.arange(5, dtype="f4"))
    assert isinstance(refset.refs["small/c/0"], bytes)  # 20 bytes <= inline_bytes
    assert root["scalar"].shape == () and root["scalar"][()] == 2.5
    np.testing.assert_array_equal(root["compact"][...], np.arange(6) - 3)


def test_contiguous_divisor_pieces(tmp_path):
    path = tmp_path / "f.h5"
    data = np.arange(1000 * 4, dtype="f8").reshape(1000, 4)
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data)
    refset = index_hdf5(path, max_chunk_bytes=3300, inline_bytes=0)
    root = zarr.open_group(memory_store(refset), mode="r")
    assert root["x"].chunks == (100, 4)  # 103 rows fit; 100 divides 1000
    keys = sorted(k for k in refset.refs if k.startswith("x/c/"))
    assert len(keys) == 10 and all(isinstance(refset.refs[k], ByteRange) for k in keys)
    np.testing.assert_array_equal(root["x"][...], data)


def test_unallocated_chunks_and_fill_values(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", shape=(100, 10), chunks=(10, 10), dtype="i4", fillvalue=-7)
        d[20:30] = 5
        f.create_dataset("never", shape=(50,), dtype="f8", fillvalue=1.5)  # contiguous, unwritten
        f.create_dataset(
            "s", shape=(3,), dtype=h5py.string_dtype(), fillvalue=b"", data=["a", "", "c"]
        )
    refset = index_hdf5(path, inline_bytes=0)
    assert sorted(k for k in refset.refs if k.startswith("x/c/")) == ["x/c/2/0"]
    assert not any(k.startswith("never/c") for k in refset.refs)
    root = zarr.open_group(memory_store(refset), mode="r")
    expected = np.full((100, 10), -7, dtype="i4")
    expected[20:30] = 5
    np.testing.assert_array_equal(root["x"][...], expected)
    np.testing.assert_array_equal(root["never"][...], np.full(50, 1.5))
    assert root["s"][...].tolist() == ["a", "", "c"]


def test_filter_mask_chunk_is_not_misdecoded(tmp_path):
    path = tmp_path / "f.h5"
    data = np.arange(400, dtype="<i4").reshape(40, 10)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", shape=(40, 10), chunks=(20, 10), dtype="<i4", compression="gzip")
        d[:20] = data[:20]
        # the second chunk stored raw with the deflate filter marked as skipped
        d.id.write_direct_chunk((20, 0), data[20:].tobytes(), filter_mask=1)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["x"][...], data)
    refset = index_hdf5(path, inline_bytes=0)
    assert isinstance(refset.refs["x/c/0/0"], ByteRange)
    assert isinstance(refset.refs["x/c/1/0"], bytes)  # re-encoded through zarr
    root = zarr.open_group(memory_store(refset), mode="r")
    np.testing.assert_array_equal(root["x"][...], data)


def test_unsupported_filter_names_dataset(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("grp/lzf", data=np.arange(1000), chunks=(100,), compression="lzf")
    with pytest.raises(UnsupportedCodecError, match="/grp/lzf"):
        index_hdf5(path)


def test_truncated_file_raises_naming_file(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100000.0), chunks=(1000,))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(HDF5IndexError, match="cut.h5"):
        index_hdf5(cut)
    notes = tmp_path / "notes.txt"
    notes.write_text("not hdf5")
    with pytest.raises(HDF5IndexError, match="notes.txt"):
        index_hdf5(notes)


# -- synthetic files: the convention ------------------------------------------------------------
def _convention_file(path):
    with h5py.File(path, "w") as f:
        f.attrs["neurodata_type"] = "Thing"
        target = f.create_dataset("g/target", data=np.arange(3))
        grp = f["g"]
        f.create_dataset("refs", data=[grp.ref, target.ref], dtype=h5py.ref_dtype)
        f.create_dataset("ref0", data=target.ref, dtype=h5py.ref_dtype)
        f["g"].attrs["table"] = target.ref
        f["g"].attrs["many"] = np.array([target.ref, grp.ref], dtype=h5py.ref_dtype)
        f.create_dataset("vlen", data=["alpha", "βeta"], dtype=h5py.string_dtype())
        f.create_dataset("fixed", data=np.array([b"ab", b"cde"], dtype="S3"))
        f.create_dataset("text0", data="scalar text", dtype=h5py.string_dtype())
        cdt = np.dtype(
            [
                ("i", "<i4"),
                ("x", ">f8"),
                ("s", h5py.string_dtype()),
                ("fs", "S4"),
                ("r", h5py.ref_dtype),
            ]
        )
        rows = np.array(
            [(1, 0.5, "one", b"uno", target.ref), (2, -1.0, "three", b"tres", grp.ref)], dtype=cdt
        )
        f.create_dataset("compound", data=rows)
        f["soft"] = h5py.SoftLink("/g/target")
        f["g/hard_again"] = target  # a second hard link
        f["ext"] = h5py.ExternalLink("other.nwb", "/acquisition/ts")
        f.create_dataset("t", data=np.arange(4.0))
        f["t"].make_scale("time")
        data = f.create_dataset("data", data=np.ones((4, 2)))
        data.dims[0].attach_scale(f["t"])
        data.dims[1].label = "channels"


def test_references_text_compound_links_and_scales(tmp_path):
    path = tmp_path / "f.h5"
    _convention_file(path)
    refset = index_hdf5(path)
    root = zarr.open_group(memory_store(refset), mode="r")
    assert root["refs"].attrs["_DTYPE"] == "object_reference"
    # /g/target has a second hard link: the first name in iteration order is the node, the
    # other a link to it, and every reference names the node
    assert set(root["g"].array_keys()) == {"hard_again"}
    assert root["g"].attrs["_LINKS"] == [{"name": "target", "source": ".", "path": "/g/hard_again"}]
    node = "/g/hard_again"
    assert root["refs"][...].tolist() == ["/g", node]
    assert root["ref0"].shape == () and root["ref0"][()] == node
    attrs = root["g"].attrs.asdict()
    assert attrs["table"] == {"_REFERENCE": {"source": ".", "path": node}}
    assert attrs["many"] == [
        {"_REFERENCE": {"source": ".", "path": node}},
        {"_REFERENCE": {"source": ".", "path": "/g"}},
    ]
    assert root["vlen"][...].tolist() == ["alpha", "βeta"]
    assert root["vlen"].metadata.to_dict()["data_type"] == "string"
    assert root["fixed"][...].tolist() == ["ab", "cde"]
    assert root["text0"][()] == "scalar text"
    compound = root["compound"]
    assert compound.attrs["_REFERENCE_FIELDS"] == ["r"]
    assert compound.dtype == np.dtype(
        [("i", "<i4"), ("x", "<f8"), ("s", "<U5"), ("fs", "<U4"), ("r", "<U13")]
    )
    assert compound[...].tolist() == [
        (1, 0.5, "one", "uno", node),
        (2, -1.0, "three", "tres", "/g"),
    ]
    assert root.attrs["_LINKS"] == [
        {"name": "ext", "source": "other.nwb", "path": "/acquisition/ts"},
        {"name": "soft", "source": ".", "path": node},
    ]
    assert root["data"].metadata.dimension_names == ("time", "channels")
    for name in ("data", "t"):
        assert not {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "DIMENSION_LABELS"} & set(
            root[name].attrs
        )


def test_region_reference_warns_and_reads_target(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("d", data=np.arange(10))
        f.create_dataset("reg", data=[d.regionref[2:5]], dtype=h5py.regionref_dtype)
    with pytest.warns(UserWarning, match="/reg.*region"):
        refset = index_hdf5(path)
    root = zarr.open_group(memory_store(refset), mode="r")
    assert root["reg"][...].tolist() == ["/d"]
    assert root["reg"].attrs["_DTYPE"] == "object_reference"


def test_index_10k_chunks_time(tmp_path, capsys):
    """Prints the index time of a 10k-chunk dataset (no assertion on time)."""
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", shape=(10000, 100), chunks=(1, 100), dtype="f8")
        d[...] = np.random.default_rng(0).normal(size=(10000, 100))
    t0 = time.perf_counter()
    refset = index_hdf5(path, inline_bytes=0)
    elapsed = time.perf_counter() - t0
    assert sum(isinstance(v, ByteRange) for v in refset.refs.values()) == 10000
    root = zarr.open_group(memory_store(refset), mode="r")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(root["x"][9990:], f["x"][9990:])
    with capsys.disabled():
        print(f"\nindex_hdf5: 10000 chunks in {elapsed:.3f} s")
    shutil.rmtree(tmp_path, ignore_errors=True)
