"""Legacy hdmf-zarr (< 0.14) Zarr v2 stores: read in the v3 convention, migrated, never unpickled.

The real stores in ../shared/data/hdmf_zarr_v2 are compared with their HDF5 originals in
../shared/data/nwb; synthetic v2 arrays (written here with numcodecs) cover the layouts those
stores do not contain (Fortran order, big-endian, fixed-length bytes, compounds, '/' keys).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from conftest import SHARED_DATA, shared
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO
from zarr.storage import LocalStore

import nwbzarr
from nwbzarr.backend.io import ZarrIO
from nwbzarr.convert.copy import detect_format
from nwbzarr.errors import LegacyFormatError, ReadOnlyError, UnsafePickleError
from nwbzarr.formats.hdmf_zarr_v2.conventions import (
    plan_array,
    translate_group_attributes,
    translate_value,
)
from nwbzarr.formats.hdmf_zarr_v2.store import V2TranslatingStore

LEGACY_DIR = SHARED_DATA / "hdmf_zarr_v2"
LEGACY_STORES = sorted(LEGACY_DIR.glob("*.nwb.zarr")) if LEGACY_DIR.is_dir() else []
ECEPHYS = LEGACY_DIR / "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.zarr"
PICKLED_ARRAY = "general/extracellular_ephys/electrodes/group"

# The only differences from the HDF5 originals. hdmf-zarr exported both files with the core
# 2.11.0 schema: it wrote age.reference = "birth" into the 2.2.0 file, and the ecephys file (no
# age at all) reads age__reference = "birth" from that schema's default, where the HDF5
# original caches core 2.1.0, which has no such field.
EXPECTED_DIFFERENCES = {
    "2.2.0_subject_no_age__reference.nwb": ("age__reference", None, "birth"),
    "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb": ("age__reference", None, "birth"),
}


def _hdf5_original(store: Path) -> Path:
    return SHARED_DATA / "nwb" / store.name[: -len(".zarr")]


def _assert_equal_to_original(original, read, stem: str) -> None:
    if stem in EXPECTED_DIFFERENCES:
        field, want_original, want_read = EXPECTED_DIFFERENCES[stem]
        assert getattr(original.subject, field) == want_original
        assert getattr(read.subject, field) == want_read
        original.subject.fields[field] = want_read  # equal in every other respect
    TestCase().assertContainerEqual(original, read, ignore_hdmf_attrs=True)


def _compare_with_hdf5(zarr_path: Path, hdf5_path: Path, mode: str = "r") -> None:
    stem = hdf5_path.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            NWBHDF5IO(str(hdf5_path), "r", load_namespaces=True) as h5io,
            nwbzarr.NWBZarrIO(zarr_path, mode) as zio,
        ):
            _assert_equal_to_original(h5io.read(), zio.read(), stem)


@pytest.fixture
def ecephys_copy(tmp_path: Path) -> Path:
    dst = tmp_path / ECEPHYS.name
    shutil.copytree(shared("hdmf_zarr_v2", ECEPHYS.name), dst)
    for root, dirs, files in os.walk(dst):  # the shared copy is read-only
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)
    os.chmod(dst, 0o755)
    return dst


# -- the real stores ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", LEGACY_STORES, ids=[p.name for p in LEGACY_STORES])
@pytest.mark.parametrize("mode", ["r", "r-"])
def test_reads_equal_to_hdf5(store, mode):
    _compare_with_hdf5(store, _hdf5_original(store), mode)


@pytest.mark.parametrize("store", LEGACY_STORES, ids=[p.name for p in LEGACY_STORES])
def test_read_nwb(store):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = nwbzarr.read_nwb(store)
        with NWBHDF5IO(str(_hdf5_original(store)), "r", load_namespaces=True) as h5io:
            _assert_equal_to_original(h5io.read(), nwbfile, _hdf5_original(store).name)
        nwbfile.get_read_io().close()


@pytest.mark.parametrize("store", LEGACY_STORES, ids=[p.name for p in LEGACY_STORES])
def test_migrates_to_v3(store, tmp_path):
    assert detect_format(store) == "zarr-v2"
    dst = tmp_path / "new.nwb.zarr"
    nwbzarr.convert(store, dst, progress=False)
    assert detect_format(dst) == "zarr"
    root = zarr.open_group(dst, mode="r")  # plain zarr parses the migrated store
    assert root.metadata.zarr_format == 3
    for _, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            assert np.asarray(node[...]).shape == node.shape
    _compare_with_hdf5(dst, _hdf5_original(store))


@pytest.mark.parametrize("store", LEGACY_STORES, ids=[p.name for p in LEGACY_STORES])
def test_plain_zarr_reads_translated_store(store):
    root = zarr.open_group(V2TranslatingStore(LocalStore(store, read_only=True)), mode="r")
    assert root.metadata.zarr_format == 3
    assert root.metadata.consolidated_metadata is not None
    arrays = [n for _, n in root.members(max_depth=None) if isinstance(n, zarr.Array)]
    assert arrays and all(np.asarray(a[...]).shape == a.shape for a in arrays)


def test_can_read_and_spec_cache(ecephys_copy):
    assert ZarrIO.can_read(ecephys_copy)
    assert ZarrIO.get_namespaces(ecephys_copy) == {
        "core": "2.11.0",
        "hdmf-common": "1.10.0",
        "hdmf-experimental": "0.6.0",
    }


def test_translated_conventions(ecephys_copy):
    root = zarr.open_group(V2TranslatingStore(LocalStore(ecephys_copy, read_only=True)), mode="r")
    refs = root[PICKLED_ARRAY]
    assert refs.attrs["_DTYPE"] == "object_reference" and "zarr_dtype" not in refs.attrs
    assert refs[0] == "/general/extracellular_ephys/ADunit_32"
    assert root["general/extracellular_ephys/ADunit_32"].attrs["_LINKS"] == [
        {"name": "device", "source": ".", "path": "/general/devices/ADunit"}
    ]
    assert root["units/electrodes"].attrs["table"] == {
        "_REFERENCE": {"source": ".", "path": "/general/extracellular_ephys/electrodes"}
    }
    assert root["session_start_time"].shape == ()  # zarr_dtype "scalar", shape (1,)
    assert root["file_create_date"].shape == (1,)


# -- safety ---------------------------------------------------------------------------------------


def _write_chunk(store: Path, array: str, payload: bytes) -> None:
    meta = json.loads((store / array / ".zarray").read_text())
    codec = numcodecs.get_codec(meta["compressor"])
    (store / array / "0").write_bytes(codec.encode(payload))


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalBuiltin:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused(ecephys_copy, tmp_path, monkeypatch, kind):
    monkeypatch.setenv("NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE", "1")
    marker = tmp_path / "marker"
    evil = _Evil(marker) if kind == "os.system" else _EvalBuiltin()
    arr = np.empty(32, dtype=object)
    arr[:] = [evil] * 32
    _write_chunk(ecephys_copy, PICKLED_ARRAY, pickle.dumps(arr, protocol=5))
    with pytest.raises(UnsafePickleError, match=PICKLED_ARRAY):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nwbfile = nwbzarr.read_nwb(ecephys_copy)
            nwbfile.electrodes["group"][:]
    with pytest.raises(UnsafePickleError, match=PICKLED_ARRAY):
        nwbzarr.convert(ecephys_copy, tmp_path / "out.nwb.zarr", progress=False)
    assert not marker.exists()
    assert not (tmp_path / "out.nwb.zarr").exists()


def test_plain_builtin_pickle_decodes(ecephys_copy):
    ref = {"source": ".", "path": "/general/extracellular_ephys/ADunit_32", "object_id": None}
    _write_chunk(ecephys_copy, PICKLED_ARRAY, pickle.dumps([dict(ref) for _ in range(32)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nwbzarr.NWBZarrIO(ecephys_copy, "r") as io:
            groups = io.read().electrodes["group"][:]
            assert [g.name for g in groups] == ["ADunit_32"] * 32


def test_reference_into_another_file_is_refused(ecephys_copy):
    ref = {"source": "../other.nwb.zarr", "path": "/general/x"}
    _write_chunk(ecephys_copy, PICKLED_ARRAY, pickle.dumps([ref] * 32))
    root = zarr.open_group(V2TranslatingStore(LocalStore(ecephys_copy, read_only=True)), mode="r")
    with pytest.raises(LegacyFormatError, match="another file"):
        root[PICKLED_ARRAY][...]


@pytest.mark.parametrize("mode", ["a", "r+"])
def test_write_modes_refused(ecephys_copy, mode):
    before = sorted(p.name for p in ecephys_copy.iterdir())
    with pytest.raises(ReadOnlyError, match="nwbzarr convert"):
        nwbzarr.NWBZarrIO(ecephys_copy, mode)
    assert sorted(p.name for p in ecephys_copy.iterdir()) == before


def test_translating_store_refuses_writes(ecephys_copy):
    store = V2TranslatingStore(LocalStore(ecephys_copy, read_only=True))
    root = zarr.open_group(store, mode="r")
    with pytest.raises(ReadOnlyError):
        store.with_read_only(False)
    with pytest.raises(ReadOnlyError, match="read-only"):
        zarr.core.sync.sync(store.set("x", None))
    assert store.with_read_only(True) == store
    assert root.attrs["neurodata_type"] == "NWBFile"


def test_corrupt_zarray_names_the_path(ecephys_copy):
    (ecephys_copy / "units" / "id" / ".zarray").write_text('{"shape": [4], ')
    with pytest.raises(LegacyFormatError, match=r"units/id/\.zarray"):
        nwbzarr.NWBZarrIO(ecephys_copy, "r-").read()
    (ecephys_copy / ".zmetadata").unlink()  # mode "r" without consolidated metadata
    with pytest.raises(LegacyFormatError, match=r"units/id/\.zarray"):
        nwbzarr.NWBZarrIO(ecephys_copy, "r").read()


def test_corrupt_consolidated_metadata_names_the_path(ecephys_copy):
    (ecephys_copy / ".zmetadata").write_text("not json")
    with pytest.raises(LegacyFormatError, match=r"\.zmetadata"):
        nwbzarr.NWBZarrIO(ecephys_copy, "r")


# -- synthetic layouts ---------------------------------------------------------------------------


def _v2_array(
    root: Path,
    name: str,
    data: np.ndarray,
    chunks: tuple,
    zattrs: dict | None = None,
    *,
    order: str = "C",
    separator: str = ".",
    object_codec: dict | None = None,
    compressor: dict | None = None,
    fill_value=0,
) -> None:
    path = root / name
    path.mkdir(parents=True)
    dtype = data.dtype.descr if data.dtype.names else data.dtype.str
    meta = {
        "zarr_format": 2,
        "shape": list(data.shape),
        "chunks": list(chunks),
        "dtype": dtype,
        "order": order,
        "fill_value": fill_value,
        "compressor": compressor,
        "filters": [object_codec] if object_codec else None,
        "dimension_separator": separator,
    }
    (path / ".zarray").write_text(json.dumps(meta))
    (path / ".zattrs").write_text(json.dumps(zattrs or {}))
    comp = numcodecs.get_codec(dict(compressor)) if compressor else None
    for index in np.ndindex(*[-(-s // c) for s, c in zip(data.shape, chunks)]):
        block = (
            np.zeros(chunks, dtype=data.dtype)
            if not data.dtype.hasobject
            else np.full(chunks, "", dtype=object)
        )
        region = tuple(
            slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, data.shape)
        )
        block[tuple(slice(0, r.stop - r.start) for r in region)] = data[region]
        if object_codec and object_codec["id"] == "pickle":
            raw = pickle.dumps(block, protocol=5)
        elif object_codec:
            raw = numcodecs.get_codec(dict(object_codec)).encode(block)
        else:
            raw = block.tobytes(order=order)
        if comp is not None:
            raw = comp.encode(raw)
        chunk_file = path / separator.join(map(str, index))
        chunk_file.parent.mkdir(parents=True, exist_ok=True)
        chunk_file.write_bytes(raw)


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    root = tmp_path / "synthetic.zarr"
    root.mkdir()
    (root / ".zgroup").write_text('{"zarr_format": 2}')
    (root / ".zattrs").write_text(
        json.dumps(
            {
                "zarr_link": [
                    {"name": "ext", "source": "../other.nwb.zarr", "path": "/acquisition/x"}
                ]
            }
        )
    )
    return root


def test_synthetic_numeric_layouts(synthetic):
    f = np.arange(35, dtype=">f8").reshape(5, 7)
    _v2_array(
        synthetic,
        "fortran_be",
        f,
        (2, 3),
        order="F",
        compressor={"id": "zstd", "level": 1},
        separator="/",
        zattrs={"_ARRAY_DIMENSIONS": ["t", "c"]},
    )
    _v2_array(synthetic, "missing", np.arange(10, dtype="<i2"), (4,), fill_value=-1)
    (synthetic / "missing" / "1").unlink()
    _v2_array(synthetic, "scalar", np.array([7], dtype="<u4"), (1,), {"zarr_dtype": "scalar"})
    comp = np.array([(1, 2.5), (3, 4.5), (5, 6.5)], dtype=[("a", ">i4"), ("b", "<f8")])
    _v2_array(synthetic, "plain_compound", comp, (2,))
    root = zarr.open_group(V2TranslatingStore(LocalStore(synthetic, read_only=True)), mode="r")
    assert root.attrs["_LINKS"] == [
        {"name": "ext", "source": "../other.nwb.zarr", "path": "/acquisition/x"}
    ]
    np.testing.assert_array_equal(root["fortran_be"][...], f)
    assert root["fortran_be"].metadata.dimension_names == ("t", "c")
    # served in the v3 convention: the names as dimension_names and as the attribute (§4)
    assert root["fortran_be"].attrs["_ARRAY_DIMENSIONS"] == ["t", "c"]
    np.testing.assert_array_equal(root["missing"][...], [0, 1, 2, 3, -1, -1, -1, -1, 8, 9])
    assert root["scalar"].shape == () and root["scalar"][()] == 7
    got = root["plain_compound"][...]
    assert got.dtype.names == ("a", "b") and got["a"].tolist() == [1, 3, 5]


def test_synthetic_text_and_compound_layouts(synthetic):
    _v2_array(synthetic, "fixed_bytes", np.array([b"ab", b"c", b""], dtype="S2"), (2,))
    _v2_array(synthetic, "unicode", np.array(["x", "yz"], dtype="<U2"), (2,))
    text = np.array(["é", "b", "c"], dtype=object)
    _v2_array(
        synthetic,
        "json_text",
        text,
        (2,),
        object_codec={"id": "json2"},
        compressor={"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1},
    )
    ref = {"source": ".", "path": "/fixed_bytes", "object_id": "x", "source_object_id": "y"}
    rows = np.empty(3, dtype=[("idx", "<i4"), ("name", "O"), ("target", "O")])
    rows[:] = [(0, "first", ref), (1, "second", ref), (2, "", ref)]
    fields = [
        {"name": "idx", "dtype": "int32"},
        {"name": "name", "dtype": "str"},
        {"name": "target", "dtype": "object"},
    ]
    _v2_array(
        synthetic,
        "ref_compound",
        rows,
        (2,),
        {"zarr_dtype": fields},
        object_codec={"id": "pickle", "protocol": 5},
    )
    table = np.array([[0, "a", ref], [1, "bb", ref]], dtype=object)
    _v2_array(
        synthetic,
        "object_rows",
        table,
        (1, 3),
        {"zarr_dtype": fields},
        object_codec={"id": "json2"},
    )
    root = zarr.open_group(V2TranslatingStore(LocalStore(synthetic, read_only=True)), mode="r")
    assert [str(v) for v in root["fixed_bytes"][...]] == ["ab", "c", ""]
    assert [str(v) for v in root["unicode"][...]] == ["x", "yz"]
    assert [str(v) for v in root["json_text"][...]] == ["é", "b", "c"]
    got = root["ref_compound"]
    assert got.attrs["_REFERENCE_FIELDS"] == ["target"]
    assert got[...].tolist() == [
        (0, "first", "/fixed_bytes"),
        (1, "second", "/fixed_bytes"),
        (2, "", "/fixed_bytes"),
    ]
    assert root["object_rows"].shape == (2,)
    assert root["object_rows"][...].tolist() == [
        (0, "a", "/fixed_bytes"),
        (1, "bb", "/fixed_bytes"),
    ]


# -- pure rules -----------------------------------------------------------------------------------


def test_translate_attribute_references():
    legacy = {
        "zarr_dtype": "object",
        "value": {"source": ".", "path": "/a/b", "object_id": "1", "source_object_id": "2"},
    }
    assert translate_value(legacy) == {"_REFERENCE": {"source": ".", "path": "/a/b"}}
    assert (
        translate_value([legacy, legacy]) == [{"_REFERENCE": {"source": ".", "path": "/a/b"}}] * 2
    )
    assert translate_value({"plain": [1, 2]}) == {"plain": [1, 2]}
    attrs = translate_group_attributes(
        {"zarr_link": [{"name": "l", "source": None, "path": "x"}], "a": 1}, "g"
    )
    assert attrs == {"_LINKS": [{"name": "l", "source": ".", "path": "/x"}], "a": 1}


def test_plan_refuses_region_references_and_bad_metadata():
    meta = {
        "zarr_format": 2,
        "shape": [1],
        "chunks": [1],
        "dtype": "|O",
        "order": "C",
        "compressor": None,
        "filters": [{"id": "json2"}],
        "fill_value": 0,
    }
    with pytest.raises(LegacyFormatError, match="region"):
        plan_array(meta, {"zarr_dtype": "region"}, "a")
    with pytest.raises(LegacyFormatError, match="dtype"):
        plan_array({**meta, "dtype": "not-a-dtype"}, {}, "a")
    with pytest.raises(LegacyFormatError, match="shape"):
        plan_array({**meta, "shape": None}, {}, "a")
    plan = plan_array(meta, {"zarr_dtype": "object"}, "a")
    assert plan.kind == "reference" and plan.attributes == {"_DTYPE": "object_reference"}
