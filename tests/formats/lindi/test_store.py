"""LINDI (.lindi.json) and plain kerchunk Zarr v2 reference stores read in the v3 convention.

The real LINDI files in ../shared/data/lindi index the HDF5 files of ../shared/data/nwb; they are
read through :class:`LindiTranslatingStore` and compared with pynwb reading the HDF5 original,
and node by node with h5py. Synthetic reference sets (written here) cover what those files do
not contain: external array links, compound datasets with a reference field, NaN attributes,
kerchunk stores without annotations, and malformed annotations.
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import NWB_DIR, SHARED_DATA, shared
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import MemoryStore

import nwbzarr
from nwbzarr.errors import LegacyFormatError, ReadOnlyError, ReferenceFileError
from nwbzarr.formats.lindi.conventions import plan_lindi_array, translate_attributes
from nwbzarr.formats.lindi.store import LindiTranslatingStore
from nwbzarr.storage.policy import AccessPolicy

LINDI_DIR = SHARED_DATA / "lindi"
LINDI_FILES = sorted(LINDI_DIR.glob("*.lindi.json")) if LINDI_DIR.is_dir() else []
ECEPHYS = LINDI_DIR / "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.lindi.json"
HIDDEN = {"_SCALAR", "_SOFT_LINK", "_COMPOUND_DTYPE", "_EXTERNAL_ARRAY_LINK"}


# -- a test-only reference loader (the real one is nwbzarr.formats.kerchunk.references)
def _value_bytes(value, data_dir: Path) -> bytes:
    if isinstance(value, dict):
        return json.dumps(value).encode()
    if isinstance(value, str):
        return base64.b64decode(value[7:]) if value.startswith("base64:") else value.encode()
    with open(data_dir / value[0], "rb") as f:
        if len(value) == 1:
            return f.read()
        f.seek(value[1])
        return f.read(value[2])


def refs_store(refs: dict, data_dir: Path) -> MemoryStore:
    """Zarr v2 keys of a reference set -> MemoryStore (byte ranges read from ``data_dir``)."""
    proto = default_buffer_prototype()
    return MemoryStore(
        {k: proto.buffer.from_bytes(_value_bytes(v, data_dir)) for k, v in refs.items()}
    )


def _lindi(refs: dict, root: Path) -> LindiTranslatingStore:
    """The translating store over a test-loaded reference dict whose files lie under root."""
    return LindiTranslatingStore(refs_store(refs, root), policy=AccessPolicy(allow_local=[root]))


def lindi_store(path: Path) -> LindiTranslatingStore:
    refs = json.loads(shared("lindi", path.name).read_text())["refs"]  # skips when absent
    return LindiTranslatingStore(
        refs_store(refs, NWB_DIR), policy=AccessPolicy(allow_local=[NWB_DIR])
    )


def _hdf5_of(lindi_json: Path) -> Path:
    return NWB_DIR / lindi_json.name[: -len(".lindi.json")]


# -- real LINDI files -------------------------------------------------------------------------
def _objects_by_id(nwbfile) -> dict:
    return {oid: type(obj).__name__ for oid, obj in nwbfile.objects.items()}


CASES = [(p, "r") for p in LINDI_FILES] + [(ECEPHYS, "r-")] * ECEPHYS.is_file()


@pytest.mark.parametrize("src, mode", CASES, ids=[f"{p.name}-{m}" for p, m in CASES])
def test_lindi_reads_like_hdf5(src, mode):
    """Mode "r" reads the inline consolidated metadata, "r-" each node through listings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(_hdf5_of(src)), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with nwbzarr.NWBZarrIO(lindi_store(src), mode) as zio:
                viewed = zio.read()
                assert _objects_by_id(viewed) == _objects_by_id(original)
                TestCase().assertContainerEqual(original, viewed, ignore_hdmf_attrs=True)


def test_external_array_link_through_nwbzarrio(tmp_path):
    """A LINDI file whose spike times are an _EXTERNAL_ARRAY_LINK into the HDF5 original."""
    refs = json.loads(shared("lindi", ECEPHYS.name).read_text())["refs"]
    del refs["units/spike_times/0"]
    refs["units/spike_times/.zarray"]["chunks"] = [10000]  # read in 4 chunks through h5py
    refs["units/spike_times/.zattrs"]["_EXTERNAL_ARRAY_LINK"] = {
        "link_type": "hdf5_dataset",
        "url": str(_hdf5_of(ECEPHYS)),
        "name": "/units/spike_times",
    }
    store = LindiTranslatingStore(
        refs_store(refs, NWB_DIR), policy=AccessPolicy(allow_local=[NWB_DIR])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(_hdf5_of(ECEPHYS)), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with nwbzarr.NWBZarrIO(store, "r") as zio:
                viewed = zio.read()
                assert (
                    "_EXTERNAL_ARRAY_LINK"
                    not in zarr.open_array(store, path="units/spike_times", mode="r").attrs
                )
                np.testing.assert_array_equal(
                    viewed.units["spike_times"].target.data[:],
                    original.units["spike_times"].target.data[:],
                )
                TestCase().assertContainerEqual(original, viewed, ignore_hdmf_attrs=True)


def _h5_attr(value, h5file):
    if isinstance(value, h5py.Reference):
        return {"_REFERENCE": {"source": ".", "path": h5file[value].name}}
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_h5_attr(v, h5file) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _h5_values(dset: h5py.Dataset) -> np.ndarray:
    values = dset[()]
    if dset.dtype.kind != "O":
        return np.asarray(values)
    flat = [
        dset.file[v].name
        if isinstance(v, h5py.Reference)
        else v.decode()
        if isinstance(v, bytes)
        else v
        for v in np.asarray(values, dtype=object).reshape(-1)
    ]
    return np.array(flat, dtype=object).reshape(dset.shape)


def test_every_node_matches_hdf5():
    """Every HDF5 dataset, group and attribute of the ecephys file, seen through plain zarr."""
    root = zarr.open_group(lindi_store(ECEPHYS), mode="r")
    counts = {"arrays": 0, "links": 0}
    with h5py.File(_hdf5_of(ECEPHYS), "r") as h5:

        def check(name, link):
            parent, _, leaf = name.rpartition("/")
            if isinstance(link, h5py.SoftLink):
                counts["links"] += 1
                entries = (root[parent] if parent else root).attrs["_LINKS"]
                assert {"name": leaf, "source": ".", "path": link.path} in entries
                assert leaf not in (root[parent] if parent else root)
                return
            obj, node = h5[name], root[name]
            attrs = node.attrs.asdict()
            assert not HIDDEN & set(attrs), name
            dims = attrs.pop("_ARRAY_DIMENSIONS", None)  # the names of storage.md §4
            if isinstance(node, zarr.Array) and node.ndim:
                assert dims == list(node.metadata.dimension_names), name
            for key, value in obj.attrs.items():
                assert attrs[key] == _h5_attr(value, h5), (name, key)
            if isinstance(obj, h5py.Dataset):
                counts["arrays"] += 1
                assert isinstance(node, zarr.Array) and node.shape == obj.shape, name
                values = node[()]
                if obj.dtype.kind == "O":
                    assert node.dtype.kind in "OT", name
                    assert np.asarray(values).tolist() == _h5_values(obj).tolist(), name
                else:
                    np.testing.assert_array_equal(values, obj[()], err_msg=name)

        h5.visititems_links(check)
    assert counts == {"arrays": 70, "links": 2}


def test_node_level_annotations():
    root = zarr.open_group(lindi_store(ECEPHYS), mode="r")
    assert root.attrs[".specloc"] == "specifications"
    # _SCALAR -> 0-d (text and number)
    assert root["general/institution"].shape == ()
    assert root["general/institution"][()] == "Janelia Research Campus"
    assert root["general/optogenetics/left-ALM/excitation_lambda"].shape == ()
    assert root["general/optogenetics/left-ALM/excitation_lambda"][()] == 473.0
    # json2 references -> paths with _DTYPE
    group = root["general/extracellular_ephys/electrodes/group"]
    assert group.attrs["_DTYPE"] == "object_reference"
    assert set(group[:].tolist()) == {"/general/extracellular_ephys/ADunit_32"}
    # attribute references keep source and path only
    assert root["units/electrodes"].attrs["table"] == {
        "_REFERENCE": {"source": ".", "path": "/general/extracellular_ephys/electrodes"}
    }
    # _SOFT_LINK groups -> _LINKS of the parent
    site = root["general/optogenetics/left-ALM"]
    assert site.attrs["_LINKS"] == [
        {"name": "device", "source": ".", "path": "/general/devices/laser"}
    ]
    assert "device" not in site
    meta = root.metadata.consolidated_metadata.flattened_metadata
    assert "general/optogenetics/left-ALM/device" not in meta
    assert "units/spike_times" in meta


def test_view_is_read_only():
    store = lindi_store(ECEPHYS)
    with pytest.raises(ReadOnlyError):
        zarr.open_group(store, mode="r")["units/id"][0] = 5
    with pytest.raises(ReadOnlyError):
        store.with_read_only(False)


# -- synthetic reference sets -----------------------------------------------------------------
def _zarray(shape, chunks, dtype, *, filters=None, compressor=None, fill=0):
    return {
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype,
        "compressor": compressor,
        "fill_value": fill,
        "filters": filters,
        "order": "C",
    }


JSON2 = [{"id": "json2", "allow_nan": True, "encoding": "utf-8"}]
ROOT = {
    ".zgroup": {"zarr_format": 2},
    ".zattrs": {"neurodata_type": "NWBFile", "namespace": "core"},
}


def _json2_chunk(values, shape) -> str:
    return json.dumps([*values, "|O", shape], allow_nan=True)


def test_external_array_link_and_special_floats(tmp_path):
    h5_path = tmp_path / "raw.h5"
    data = np.arange(30, dtype=">i2").reshape(10, 3) * 7 - 50
    with h5py.File(h5_path, "w") as f:
        f.create_dataset("acquisition/es/data", data=data, chunks=(4, 2))
    link = {"link_type": "hdf5_dataset", "url": str(h5_path), "name": "/acquisition/es/data"}
    refs = {
        **ROOT,
        "acquisition/.zgroup": {"zarr_format": 2},
        "acquisition/data/.zarray": _zarray([10, 3], [4, 2], "<i2"),
        "acquisition/data/.zattrs": {
            "_EXTERNAL_ARRAY_LINK": link,
            "_ARRAY_DIMENSIONS": [10, 3],
            "conversion": "NaN",
            "limits": [1.5, "Infinity", "-Infinity"],
        },
    }
    store = LindiTranslatingStore(
        refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
    )
    arr = zarr.open_array(store, path="acquisition/data", mode="r")
    np.testing.assert_array_equal(arr[...], data)
    np.testing.assert_array_equal(arr[3:9, 1], data[3:9, 1])
    attrs = arr.attrs.asdict()
    assert set(attrs) == {"conversion", "limits", "_ARRAY_DIMENSIONS"}
    assert math.isnan(attrs["conversion"])
    assert attrs["limits"] == [1.5, math.inf, -math.inf]
    # LINDI's _ARRAY_DIMENSIONS holds the shape: no candidate names, the fallbacks of §4
    assert arr.metadata.dimension_names == ("data_dim0", "data_dim1")
    assert attrs["_ARRAY_DIMENSIONS"] == ["data_dim0", "data_dim1"]
    store.close()

    refs["acquisition/data/.zattrs"]["_EXTERNAL_ARRAY_LINK"] = {**link, "name": "/missing"}
    store = LindiTranslatingStore(
        refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
    )
    with pytest.raises(ReferenceFileError, match="acquisition/data.*'/missing'"):
        zarr.open_array(store, path="acquisition/data", mode="r")[...]


def test_compound_with_reference_field_and_text(tmp_path):
    ts_ref = {"_REFERENCE": {"source": ".", "path": "/acquisition/ts", "object_id": "x"}}
    rows = [[0, 5, ts_ref, "a"], [5, 3, ts_ref, "longer"]]
    refs = {
        **ROOT,
        "acquisition/.zgroup": {"zarr_format": 2},
        "acquisition/ts/.zgroup": {"zarr_format": 2},
        "intervals/.zgroup": {"zarr_format": 2},
        "intervals/ref/.zarray": _zarray([2], [2], "|O", filters=JSON2, fill=" "),
        "intervals/ref/.zattrs": {
            "_COMPOUND_DTYPE": [
                ["idx_start", "int32"],
                ["count", "int32"],
                ["timeseries", "<REFERENCE>"],
                ["label", "object"],
            ],
        },
        "intervals/ref/0": _json2_chunk(rows, [2]),
        "intervals/names/.zarray": _zarray([3], [2], "|O", filters=JSON2, fill=" "),
        "intervals/names/0": _json2_chunk(["x", "yé"], [2]),
        "intervals/names/1": _json2_chunk(["z", ""], [2]),
        "intervals/code/.zarray": _zarray([1], [1], "<U3", fill=""),
        "intervals/code/.zattrs": {"_SCALAR": True},
        "intervals/code/0": "base64:"
        + base64.b64encode(np.array(["ab"], "<U3").tobytes()).decode(),
    }
    root = zarr.open_group(
        LindiTranslatingStore(
            refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
        ),
        mode="r",
    )
    table = root["intervals/ref"]
    assert table.attrs.asdict() == {
        "_REFERENCE_FIELDS": ["timeseries"],
        "_ARRAY_DIMENSIONS": list(table.metadata.dimension_names),
    }
    assert table.dtype.names == ("idx_start", "count", "timeseries", "label")
    values = table[...]
    assert values["idx_start"].tolist() == [0, 5]
    assert values["count"].tolist() == [5, 3]
    assert values["timeseries"].tolist() == ["/acquisition/ts"] * 2
    assert values["label"].tolist() == ["a", "longer"]
    assert root["intervals/names"][...].tolist() == ["x", "yé", "z"]
    assert root["intervals/code"].shape == ()
    assert root["intervals/code"][()] == "ab"


def test_plain_kerchunk_store(tmp_path):
    """No LINDI annotations: groups and arrays as they are, dimension names kept."""
    values = np.linspace(0.0, 1.0, 12)
    (tmp_path / "blob.bin").write_bytes(b"HEADER" + values.tobytes())
    refs = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {"title": "kerchunk"},
        "grp/.zgroup": {"zarr_format": 2},
        "grp/x/.zarray": _zarray([12], [8], "<f8", fill="NaN"),
        "grp/x/.zattrs": {"_ARRAY_DIMENSIONS": ["time"], "units": "s"},
        "grp/x/0": ["blob.bin", 6, 64],
        "grp/x/1": ["blob.bin", 70, 32],
    }
    root = zarr.open_group(
        LindiTranslatingStore(
            refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
        ),
        mode="r",
    )
    assert root.attrs.asdict() == {"title": "kerchunk"}
    x = root["grp/x"]
    assert x.attrs.asdict() == {"units": "s", "_ARRAY_DIMENSIONS": ["time"]}
    assert x.metadata.dimension_names == ("time",)
    assert math.isnan(x.metadata.fill_value)
    # the last chunk holds 4 values (32 bytes): the rest of it is padding past the shape
    refs["grp/x/1"] = "base64:" + base64.b64encode(values[8:].tobytes() + bytes(32)).decode()
    x = zarr.open_group(
        LindiTranslatingStore(
            refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
        ),
        mode="r",
    )["grp/x"]
    np.testing.assert_array_equal(x[...], values)
    assert sorted(sync(_alist(root.store))) == [
        "grp/x/0",
        "grp/x/1",
        "grp/x/zarr.json",
        "grp/zarr.json",
        "zarr.json",
    ]


async def _alist(store):
    return [key async for key in store.list()]


MALFORMED = {
    "soft-link": ("grp/.zattrs", {"_SOFT_LINK": "/elsewhere"}, "grp/.zattrs.*_SOFT_LINK"),
    "compound": ("grp/a/.zattrs", {"_COMPOUND_DTYPE": "int32"}, "grp/a/.zattrs.*_COMPOUND_DTYPE"),
    "compound-field": (
        "grp/a/.zattrs",
        {"_COMPOUND_DTYPE": [["x", "complex-thing"]]},
        "grp/a/.zattrs.*'complex-thing'",
    ),
    "scalar-shape": ("grp/a/.zattrs", {"_SCALAR": True}, "grp/a/.zattrs.*_SCALAR.*\\[3\\]"),
    "external-link": (
        "grp/a/.zattrs",
        {"_EXTERNAL_ARRAY_LINK": {"link_type": "hdf5_dataset", "name": "/x"}},
        "grp/a/.zattrs.*_EXTERNAL_ARRAY_LINK",
    ),
    "reference": ("grp/.zattrs", {"target": {"_REFERENCE": {"src": "."}}}, "grp/.zattrs.*target"),
    "json": ("grp/a/.zarray", "{not json", "grp/a/.zarray.*malformed JSON"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_annotations_name_the_key(case, tmp_path):
    key, value, message = MALFORMED[case]
    refs = {
        **ROOT,
        "grp/.zgroup": {"zarr_format": 2},
        "grp/a/.zarray": _zarray([3], [3], "<i4"),
        key: value,
    }
    store = LindiTranslatingStore(
        refs_store(refs, tmp_path), policy=AccessPolicy(allow_local=[tmp_path])
    )
    with pytest.raises(LegacyFormatError, match=message):
        root = zarr.open_group(store, mode="r")
        node = root["grp"]
        node.attrs.asdict()
        node["a"]


def test_rules_without_io():
    """conventions.lindi on its own: attribute values and array plans."""
    ref = {"_REFERENCE": {"source": ".", "path": "/a/b", "object_id": "1", "source_object_id": "2"}}
    attrs = translate_attributes(
        {".specloc": ref, "r": [ref, ref], "x": ["NaN", 1], "_SCALAR": True, "s": "text"},
        "where",
        root=True,
    )
    plain = {"_REFERENCE": {"source": ".", "path": "/a/b"}}
    assert attrs[".specloc"] == "/a/b"  # not a top-level group: kept as an absolute path
    assert attrs["r"] == [plain, plain]
    assert math.isnan(attrs["x"][0]) and attrs["x"][1] == 1
    assert set(attrs) == {".specloc", "r", "x", "s"}
    zarray = _zarray([1], [1], "|O", filters=JSON2)
    plan = plan_lindi_array(zarray, {"_SCALAR": True, "doc": "d"}, "p", sample=ref)
    assert (plan.kind, plan.shape, plan.attributes) == (
        "reference",
        (),
        {"doc": "d", "_DTYPE": "object_reference"},
    )
    plan = plan_lindi_array(zarray, {}, "p", sample="text")
    assert (plan.kind, plan.shape, plan.attributes) == ("text", (1,), {})
