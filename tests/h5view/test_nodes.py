"""nwbzarr.h5py_view: h5py's File/Group/Dataset/attrs/reference surface over what nwbzarr reads.

Three views are compared: the HDF5 original through h5py (and pynwb's ``NWBHDF5IO``), the view
of the Zarr store converted from it, and the view of the HDF5 file itself (nwbzarr's virtual
Zarr view). ``NWBHDF5IO(file=view, mode="r").read()`` must give the file pynwb reads from HDF5;
walking the view with ``visititems`` must give h5py's names, shapes, dtypes and attributes
(the differences the formats impose are listed in docs/h5py_view.md and checked here).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE, NWB_FILES, SHARED_DATA, shared
from hdmf.testing import TestCase
from hdmf.utils import StrDataset
from nwb_compare import assert_same_nwbfile
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

import nwbzarr
from nwbzarr import compat, limits
from nwbzarr.errors import (
    InvalidModeError,
    LimitExceededError,
    LinkCycleError,
    ReadOnlyError,
    UntrustedReferenceError,
)
from nwbzarr.h5view import File, Reference, TextDataset

SOURCES = [ECEPHYS_FILE, *NWB_FILES]
SOURCE_IDS = ["sample_ecephys.nwb", *(p.name for p in NWB_FILES)]
LEGACY_DIR = SHARED_DATA / "hdmf_zarr_v2"
LEGACY_STORES = sorted(LEGACY_DIR.glob("*.nwb.zarr")) if LEGACY_DIR.is_dir() else []
LINDI_DIR = SHARED_DATA / "lindi"
LINDI_FILES = sorted(LINDI_DIR.glob("*.lindi.json")) if LINDI_DIR.is_dir() else []
# hdmf-zarr exported the legacy stores with the core 2.11.0 schema, whose Subject has
# age__reference = "birth" where the HDF5 originals (core 2.1.0/2.2.0) have none (the same
# differences tests/formats/hdmf_zarr_v2/test_store.py expects of NWBZarrIO)
LEGACY_DIFFERENCES = {
    "2.2.0_subject_no_age__reference.nwb": ("age__reference", None, "birth"),
    "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb": ("age__reference", None, "birth"),
}

pytestmark = pytest.mark.usefixtures("quiet_warnings")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``converted(src)``: the Zarr v3 store converted from an HDF5 file (once per module)."""
    root = tmp_path_factory.mktemp("converted")
    done: dict[Path, Path] = {}

    def get(src: Path) -> Path:
        if src not in done:
            dst = root / (src.stem + ".nwb.zarr")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nwbzarr.convert(src, dst, progress=False)
            done[src] = dst
        return done[src]

    return get


def _read_through_view(path) -> tuple[File, NWBHDF5IO]:
    view = nwbzarr.h5py_view(path)
    return view, NWBHDF5IO(file=view, mode="r", load_namespaces=True)


def _assert_reads_like_hdf5(src: Path, path, differences=None) -> None:
    with NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io:
        original = h5io.read()
        view, io = _read_through_view(path)
        with io:
            other = io.read()
            if differences:
                field, want_original, want_read = differences
                assert getattr(original.subject, field) == want_original
                assert getattr(other.subject, field) == want_read
                original.subject.fields[field] = want_read
            assert_same_nwbfile(original, other, src)
        assert not view  # NWBHDF5IO.close closed the view


# -- pynwb's HDF5 reader over the view ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("kind", ["store", "hdf5"])
def test_nwbhdf5io_reads_the_view_like_hdf5(src, kind, converted):
    """A converted store, and the HDF5 file through nwbzarr's virtual view, read by pynwb's
    NWBHDF5IO(file=view) equal the HDF5 original read by NWBHDF5IO."""
    _assert_reads_like_hdf5(src, converted(src) if kind == "store" else src)


@pytest.mark.parametrize("store", LEGACY_STORES, ids=[p.name for p in LEGACY_STORES])
def test_nwbhdf5io_reads_legacy_v2_store(store):
    src = shared("nwb", store.name[: -len(".zarr")])
    _assert_reads_like_hdf5(src, store, LEGACY_DIFFERENCES.get(src.name))


@pytest.mark.parametrize("ref", LINDI_FILES, ids=[p.name for p in LINDI_FILES])
def test_nwbhdf5io_reads_lindi_json(ref, tmp_path):
    """A real LINDI .lindi.json beside the HDF5 file it indexes (its references are relative)."""
    src = shared("nwb", ref.name[: -len(".lindi.json")])
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(ref, tmp_path / ref.name)
    _assert_reads_like_hdf5(src, tmp_path / ref.name)


def test_remote_store_through_the_view(converted, tmp_path):
    from http_server import RangeHTTPServer

    shutil.copytree(converted(ECEPHYS_FILE), tmp_path / "ecephys.nwb.zarr")
    with RangeHTTPServer(tmp_path) as server:
        _assert_reads_like_hdf5(ECEPHYS_FILE, server.url("ecephys.nwb.zarr"))


# -- visititems against h5py on the HDF5 original ----------------------------------------------
def _value(v, f):
    """An attribute value, comparable across h5py and the view."""
    if isinstance(v, h5py.Reference):
        return ("ref", f[v].name)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
        return [_value(x, f) for x in v.tolist()]
    if isinstance(v, np.ndarray):
        return ("array", str(v.dtype), v.tolist())
    if isinstance(v, np.generic):
        return ("scalar", str(v.dtype), v.item())
    return v


def _walk(f) -> dict:
    out = {"/": ("group", None, None, {k: _value(v, f) for k, v in f.attrs.items()})}

    def visit(name, obj):
        attrs = {k: _value(v, f) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = ("dataset", obj.shape, obj.dtype, attrs)
        else:
            out[name] = ("group", None, None, attrs)

    f.visititems(visit)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("kind", ["store", "hdf5"])
def test_visititems_matches_h5py(src, kind, converted):
    """Names, shapes, dtypes (text as variable-length strings, references as h5py.ref_dtype) and
    attributes equal h5py's; the documented differences: fixed-length byte-string attribute
    arrays come back as arrays of str (the view's attributes are JSON), and a converted store
    caches the namespaces of the pynwb that converted it under /specifications."""
    with h5py.File(src, "r") as h5:
        want = _walk(h5)
    with nwbzarr.h5py_view(converted(src) if kind == "store" else src) as view:
        got = _walk(view)
        assert isinstance(view, h5py.File)
    if kind == "store":  # the spec cache is the converter's: compare everything else
        assert "specifications" in got
        want = {k: v for k, v in want.items() if not k.startswith("specifications")}
        got = {k: v for k, v in got.items() if not k.startswith("specifications")}
        if ".specloc" not in want["/"][3]:  # NWB 1.x originals have no spec cache
            got["/"][3].pop(".specloc")
    assert sorted(got) == sorted(want)
    for name, (kind_, shape, dtype, attrs) in want.items():
        assert got[name][:3] == (kind_, shape, dtype), name
        assert got[name][3] == attrs, name


# -- the surface, against h5py on the same HDF5 file -------------------------------------------
@pytest.fixture
def synthetic(tmp_path) -> Path:
    """An HDF5 file of every kind of dataset and attribute the view maps (written by h5py)."""
    path = tmp_path / "synthetic.h5"
    with h5py.File(path, "w") as f:
        f["num"] = np.arange(60, dtype="i2").reshape(6, 10)
        f.create_dataset(
            "gz",
            data=np.arange(1000.0),
            chunks=(100,),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        f["scalar"] = 3.5
        f["text"] = np.array(["a", "bb", "ccc"], dtype=h5py.string_dtype())
        f["stext"] = "hello"
        f["flags"] = np.array([True, False, True])
        f.create_group("g")["x"] = [1, 2, 3]
        f["refs"] = np.array([f["g"].ref, f["num"].ref], dtype=h5py.ref_dtype)
        f["sref"] = f["g"].ref
        cdt = np.dtype([("a", "i4"), ("b", "f8"), ("r", h5py.ref_dtype)])
        f["cmp"] = np.array([(1, 2.0, f["g"].ref), (3, 4.0, f["num"].ref)], dtype=cdt)
        f["soft"] = h5py.SoftLink("/g")
        f.attrs.update(s="txt", i=7, f=2.5, arr=[1, 2, 3], ref=f["g"].ref)
        f.attrs["sl"] = np.array(["a", "b"], dtype=h5py.string_dtype())
        f["g"].attrs["b"] = True
    return path


SELECTIONS = [
    (), Ellipsis, 0, -1, 5, slice(1, 4), slice(None, None, 2), (slice(None), 2), [0, 2, 4],
    (1, [1, 3]), (slice(0, 6, 2), slice(1, 9, 3)), np.array([True, False] * 3), [], [3, 1],
    [1, 1], slice(None, None, -1), 1000, (0, 0, 0), ([0, 1], [0, 1]), "a", ("a", 0),
]  # fmt: skip


def _comparable(values, f, name):
    if name == "refs":
        return [f[r].name for r in np.asarray(values).ravel()]
    if name == "cmp" and np.asarray(values).dtype.names:
        values = np.asarray(values)
        return values[["a", "b"]].tolist(), [f[r].name for r in values["r"].ravel()]
    return values


@pytest.mark.parametrize("name", ["num", "gz", "text", "flags", "refs", "cmp"])
def test_selections_as_h5py(synthetic, name):
    """Each selection gives h5py's result (type, dtype, values) or h5py's error type."""
    with h5py.File(synthetic, "r") as h5, nwbzarr.h5py_view(synthetic) as view:
        for sel in SELECTIONS:
            try:
                want = h5[name][sel]
            except Exception as exc:  # noqa: BLE001 - the error type is what is compared
                with pytest.raises(type(exc)):
                    view[name][sel]
                continue
            got = view[name][sel]
            assert isinstance(got, type(want)), (name, sel)  # Reference: an h5py.Reference
            assert np.asarray(got).dtype == np.asarray(want).dtype, (name, sel)
            a, b = _comparable(got, view, name), _comparable(want, h5, name)
            if isinstance(a, tuple):  # compound records: (numbers, reference targets)
                assert a == b, (name, sel)
            else:
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(sel))


def test_dataset_properties_as_h5py(synthetic):
    names = ["num", "gz", "text", "flags", "refs", "cmp", "scalar", "stext", "sref"]
    props = ["shape", "dtype", "ndim", "size", "nbytes", "chunks", "compression"]
    props += ["compression_opts", "shuffle", "fletcher32", "maxshape", "fillvalue", "name"]
    with h5py.File(synthetic, "r") as h5, nwbzarr.h5py_view(synthetic) as view:
        for name in names:
            a, b = h5[name], view[name]
            assert isinstance(b, h5py.Dataset)
            for prop in props:
                if prop == "fillvalue" and name in ("refs", "sref", "cmp"):
                    continue  # h5py's null reference is not comparable
                assert getattr(b, prop) == getattr(a, prop), (name, prop)
            if a.shape:
                assert len(b) == len(a) == b.len()
                assert [np.asarray(x).tolist() for x in b][:1] or True
            else:
                with pytest.raises(TypeError):
                    len(b)
            assert b.parent == view and b.file == view and b.attrs.keys() == a.attrs.keys()
        # scalars: () a numpy scalar / bytes / reference, ... a 0-d array, as h5py
        for name in ("scalar", "stext"):
            assert type(view[name][()]) is type(h5[name][()])
            assert view[name][()] == h5[name][()]
            assert view[name][...].shape == () and view[name][...].dtype == h5[name][...].dtype
        assert view[view["sref"][()]].name == "/g"
        mask = h5["num"][()] % 7 == 0  # a mask of the dataset's shape: a 1-D result
        np.testing.assert_array_equal(view["num"][mask], h5["num"][mask])
        np.testing.assert_array_equal(np.asarray(view["text"]), np.asarray(h5["text"]))
        np.testing.assert_array_equal(np.asarray(view["num"]), h5["num"][()])
        assert view["text"].asstr()[1] == h5["text"].asstr()[1] == "bb"
        np.testing.assert_array_equal(view["gz"].astype("f4")[:3], h5["gz"].astype("f4")[:3])
        assert view["cmp"].fields("a")[:].tolist() == h5["cmp"].fields("a")[:].tolist()
        out = np.zeros(10)
        view["gz"].read_direct(out, np.s_[0:10])
        np.testing.assert_array_equal(out, np.arange(10.0))
        assert list(view["gz"].iter_chunks())[:2] == [(slice(0, 100),), (slice(100, 200),)]
        assert repr(view["num"]) == repr(h5["num"])


def test_groups_links_and_attributes_as_h5py(synthetic):
    with h5py.File(synthetic, "r") as h5, nwbzarr.h5py_view(synthetic) as view:
        assert list(view) == list(h5) and list(view.keys()) == list(h5.keys())
        assert len(view) == len(h5) and "g/x" in view and "nope" not in view
        assert isinstance(view["g"], h5py.Group) and view["soft"] == view["g"]
        assert view["soft"].name == h5["soft"].name == "/soft"
        assert view["soft/x"].name == "/soft/x" and view["/g"]["x"].parent.name == "/g"
        assert isinstance(view.get("soft", getlink=True), h5py.SoftLink)
        assert view.get("soft", getlink=True).path == "/g"
        assert isinstance(view.get("g", getlink=True), h5py.HardLink)
        assert view.get("soft", getclass=True, getlink=True) is h5py.SoftLink
        assert view.get("g", getclass=True) is h5py.Group
        assert view.get("num", getclass=True) is h5py.Dataset
        assert view.get("nope") is None and view.get("nope", 5) == 5
        for getter in (lambda f: f.visit, lambda f: f.visit_links):
            seen_h5, seen_view = [], []
            getter(h5)(seen_h5.append)
            getter(view)(seen_view.append)
            assert seen_view == seen_h5
        assert view.visititems(lambda n, o: n if n == "g/x" else None) == "g/x"
        attrs = dict(view.attrs)
        for key, value in h5.attrs.items():
            if isinstance(value, h5py.Reference):
                assert isinstance(attrs[key], Reference) and view[attrs[key]].name == h5[value].name
            else:
                assert type(attrs[key]) is type(value), key
                np.testing.assert_array_equal(attrs[key], value)
        assert type(view["g"].attrs["b"]) is type(h5["g"].attrs["b"])
        with pytest.raises(KeyError):
            view["nope"]
        with pytest.raises(KeyError):
            view["num/x"]  # a dataset has no members
        with pytest.raises(KeyError):
            view.attrs["nope"]


def test_references_dereference_and_compare(synthetic):
    with nwbzarr.h5py_view(synthetic) as view:
        refs = view["refs"][:]
        assert all(isinstance(r, h5py.Reference) for r in refs)
        assert [view[r].name for r in refs] == ["/g", "/num"]
        assert view["g"][refs[1]].name == "/num"  # any group dereferences, as h5py
        assert view["g"].ref == refs[0] and view["soft"].ref == refs[0]
        assert view["soft"].id == view["g"].id and hash(view["soft"]) == hash(view["g"])
        assert h5py.check_dtype(ref=view["refs"].dtype) is h5py.Reference
        assert h5py.check_string_dtype(view["text"].dtype).encoding == "utf-8"
        with pytest.raises(ValueError):
            view[Reference(None)]  # a null reference, as h5py


# -- hdmf's StrDataset and the compat shim -----------------------------------------------------
def test_compat_hdf5io_text_shim_is_installed():
    """hdmf.backends.hdf5.HDF5IO._check_str_dtype exists and is wrapped, and h5py's classes
    can be subclassed (compat.h5py_view_bases)."""
    from hdmf.backends.hdf5.h5tools import HDF5IO

    assert getattr(HDF5IO._check_str_dtype, "_nwbzarr_wrapped", False)
    assert compat.wrap_hdf5io_text_datasets(lambda o: False, lambda o: o)  # idempotent
    original = HDF5IO._check_str_dtype._nwbzarr_original
    assert list(__import__("inspect").signature(original).parameters) == ["self", "h5obj"]
    assert set(compat.h5py_view_bases().values()) == {
        h5py.File,
        h5py.Group,
        h5py.Dataset,
        h5py.Reference,
    }


def test_text_datasets_in_nwbhdf5io(converted):
    """HDF5IO keeps the view's text datasets as TextDataset (an hdmf StrDataset): indexing
    gives str, np.asarray gives bytes, as StrDataset over h5py does."""
    view, io = _read_through_view(converted(ECEPHYS_FILE))
    with io, h5py.File(ECEPHYS_FILE, "r") as h5:
        nwbfile = io.read()
        got = nwbfile.electrodes["location"].data
        want = StrDataset(h5["general/extracellular_ephys/electrodes/location"], None)
        assert isinstance(got, TextDataset) and isinstance(got, StrDataset)
        assert isinstance(got, h5py.Dataset)
        assert got[:3].tolist() == want[:3].tolist() and isinstance(got[0], str)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert got.shape == want.shape and got.dtype == want.dtype and len(got) == len(want)
        assert list(got)[:2] == list(want)[:2]


# -- modes, closing ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["r+", "w", "w-", "x", "a"])
def test_write_modes_refused(converted, mode):
    with pytest.raises(ReadOnlyError, match="read-only"):
        nwbzarr.h5py_view(converted(ECEPHYS_FILE), mode)


def test_invalid_mode_and_writes_refused(converted):
    with pytest.raises(InvalidModeError):
        nwbzarr.h5py_view(converted(ECEPHYS_FILE), "q")
    with nwbzarr.h5py_view(converted(ECEPHYS_FILE)) as view:
        for write in (
            lambda: view.create_group("x"),
            lambda: view.create_dataset("x", data=[1]),
            lambda: view.attrs.__setitem__("x", 1),
            lambda: view["units/id"].__setitem__(0, 1),
            lambda: view["units/id"].resize((10,)),
            lambda: view.__delitem__("units"),
        ):
            with pytest.raises(ReadOnlyError):
                write()
        assert view.mode == "r" and view.filename.endswith(".nwb.zarr")
        assert view.zarr_group.metadata.zarr_format == 3
    assert not view and repr(view) == "<Closed HDF5 file>"
    with pytest.raises(ValueError, match="closed"):
        view["units"]


def test_exported_lazily():
    import nwbzarr.h5view

    assert nwbzarr.h5py_view is nwbzarr.h5view.h5py_view
    assert "h5py_view" in nwbzarr.__all__


# -- links, external files, hostile input ------------------------------------------------------
def _store(path: Path, links: dict, arrays: dict | None = None) -> Path:
    """A small Zarr v3 store with ``_LINKS`` (group path -> entries) and reference arrays."""
    root = zarr.open_group(path, mode="w", zarr_format=3)
    root.create_group("a").create_array("x", data=np.arange(3))
    for name, values in (arrays or {}).items():
        arr = root.create_array(
            name, shape=(len(values),), dtype=str, attributes={"_DTYPE": "object_reference"}
        )
        arr[:] = values
    for group, entries in links.items():
        root[group].attrs["_LINKS"] = [{"name": n, "source": s, "path": p} for n, s, p in entries]
    zarr.consolidate_metadata(path)
    return path


def test_cyclic_soft_links(tmp_path):
    path = _store(
        tmp_path / "cycle.zarr",
        {
            "/": [("loop1", ".", "/loop2"), ("loop2", ".", "/loop1"), ("self", ".", "/self")],
            "a": [("up", ".", "/a"), ("dangling", ".", "/nothing")],
        },
    )
    with h5py.File(tmp_path / "cycle.h5", "w") as h5:  # the same in HDF5, for comparison
        h5.create_group("a")["x"] = np.arange(3)
        h5["loop1"], h5["loop2"] = h5py.SoftLink("/loop2"), h5py.SoftLink("/loop1")
        h5["a/up"], h5["a/dangling"] = h5py.SoftLink("/a"), h5py.SoftLink("/nothing")
    with nwbzarr.h5py_view(path) as view, h5py.File(tmp_path / "cycle.h5", "r") as h5:
        for name in ("loop1", "self"):
            with pytest.raises(LinkCycleError, match="cycle"):
                view[name]
        with pytest.raises(RuntimeError):
            h5["loop1"]  # h5py: "too many links"
        assert "loop1" in view and "loop1" in h5  # the link exists, as in h5py
        # a group containing itself through a link is legal: paths through it resolve ...
        assert view["a/up/up/up/x"].name == "/a/up/up/up/x" and view["a/up"] == view["a"]
        assert h5["a/up/up/up/x"].name == "/a/up/up/up/x"
        # ... and visititems does not follow soft links, so it ends
        seen = []
        view.visit(seen.append)
        assert seen == ["a", "a/x"]
        assert "a/dangling" in view and view.get("a/dangling") is None
        with pytest.raises(KeyError):
            view["a/dangling"]
        links = []
        view.visititems_links(lambda n, link: links.append((n, type(link).__name__)))
        h5_links = []
        h5.visititems_links(lambda n, link: h5_links.append((n, type(link).__name__)))
        assert [x for x in links if x[0] != "self"] == h5_links


def test_long_link_chain_is_bounded(tmp_path):
    chain = [(f"l{i}", ".", f"/l{i + 1}") for i in range(10)] + [("l10", ".", "/a")]
    with nwbzarr.h5py_view(_store(tmp_path / "chain.zarr", {"/": chain})) as view:
        assert view["l0/x"].name == "/l0/x"
        with limits.override(max_link_depth=5), pytest.raises(LimitExceededError):
            view["l0"]


def test_reference_to_a_missing_path(tmp_path):
    path = _store(tmp_path / "refs.zarr", {}, {"refs": ["/a/x", "/missing/path"]})
    with nwbzarr.h5py_view(path) as view:
        good, bad = view["refs"][:]
        assert view[good].name == "/a/x"
        with pytest.raises(KeyError, match="/missing/path"):
            view[bad]


def test_dangling_reference_in_nwb_store(converted, tmp_path):
    """NWBHDF5IO over the view reports a reference to a missing object by its path."""
    dst = tmp_path / "broken.nwb.zarr"
    shutil.copytree(converted(ECEPHYS_FILE), dst)
    group = zarr.open_array(dst / "general/extracellular_ephys/electrodes/group", mode="r+")
    group[0] = "/general/extracellular_ephys/no_such_group"
    view, io = _read_through_view(dst)
    with io, pytest.raises(Exception, match="no_such_group"):
        io.read().electrodes.to_dataframe()


@pytest.fixture
def linked_pair(tmp_path) -> Path:
    """``a.nwb.zarr`` and ``b.nwb.zarr``; b's ``acquisition/linked/data`` is an external link
    into a (a ``_LINKS`` entry with source ``../a.nwb.zarr``)."""
    source = mock_NWBFile()
    mock_TimeSeries(name="src", data=np.arange(10.0), rate=1.0, nwbfile=source)
    with nwbzarr.NWBZarrIO(tmp_path / "a.nwb.zarr", mode="w") as io:
        io.write(source)
    with nwbzarr.NWBZarrIO(tmp_path / "a.nwb.zarr", mode="r") as src_io:
        data = src_io.read().acquisition["src"].data
        nwbfile = mock_NWBFile()
        nwbfile.add_acquisition(TimeSeries(name="linked", data=data, unit="volts", rate=1.0))
        with nwbzarr.NWBZarrIO(tmp_path / "b.nwb.zarr", mode="w") as io:
            io.write(nwbfile)
    return tmp_path


def test_external_links(linked_pair):
    b = linked_pair / "b.nwb.zarr"
    with nwbzarr.h5py_view(b) as view:
        link = view["acquisition/linked"].get("data", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        assert (link.filename, link.path) == ("../a.nwb.zarr", "/acquisition/src/data")
        data = view["acquisition/linked/data"]
        assert data.file.filename == str(linked_pair / "a.nwb.zarr")
        assert data.name == "/acquisition/src/data" and data[:3].tolist() == [0.0, 1.0, 2.0]
    with NWBHDF5IO(file=nwbzarr.h5py_view(b), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.acquisition["linked"].data[:].tolist() == list(np.arange(10.0))
        with nwbzarr.NWBZarrIO(b, mode="r") as zio:
            TestCase().assertContainerEqual(zio.read(), nwbfile, ignore_hdmf_attrs=True)


def test_external_link_outside_allowed_roots_refused(linked_pair, tmp_path):
    b = linked_pair / "b.nwb.zarr"
    group = zarr.open_group(b / "acquisition/linked", mode="r+")
    group.attrs["_LINKS"] = [{"name": "data", "source": "/etc", "path": "/passwd"}]
    zarr.consolidate_metadata(b)
    with nwbzarr.h5py_view(b) as view:
        with pytest.raises(UntrustedReferenceError):
            view["acquisition/linked/data"]
