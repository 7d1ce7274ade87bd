"""hdmf-zarr 0.14's v2 reading API (``ZarrV2IO``, ``NWBZarrV2IO``, ``is_zarr_v2_file``,
``IncompleteConversionError``) on the real legacy stores of ../shared/data/hdmf_zarr_v2.

What is checked: the pickle policy (refused by default, naming the dataset; decoded by the
restricted unpickler with ``allow_pickle=True``; a pickle naming a global refused either way; a
pickled cached spec refused always), read-only modes, ``skipped_entries`` and the conversion's
refusal to drop them, the v3 copy read back against the v2 read, remote reads with
``storage_options``, and v2 layouts through the public API (fill values, compounds).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import warnings
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from conftest import shared
from formats.hdmf_zarr_v2.test_store import (
    LEGACY_DIR,
    LEGACY_STORES,
    PICKLED_ARRAY,
    _Evil,
    _v2_array,
    _write_chunk,
)
from hdmf.testing import TestCase
from http_server import RangeHTTPServer
from zarr.storage import LocalStore

import nwbzarr
from nwbzarr import NWBZarrIO, NWBZarrV2IO, ZarrIO, ZarrV2IO, is_zarr_v2_file
from nwbzarr.errors import (
    IncompleteConversionError,
    InvalidModeError,
    NWBZarrError,
    ReadOnlyError,
    StoreExistsError,
    UnsafeDestinationError,
    UnsafePickleError,
)
from nwbzarr.formats.hdmf_zarr_v2.store import V2TranslatingStore

ECEPHYS = "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.zarr"  # electrodes/group pickled
TIMESERIES = "1.5.1_timeseries_no_unit.nwb.zarr"  # no pickled dataset
DATA = "acquisition/test_timeseries/data"
NAMESPACE = "specifications/hdmf-common/1.10.0/namespace"
TOKEN = {"Authorization": "Bearer v2-token"}


def _copy(name: str, dst: Path) -> Path:
    """A writable copy of a shared legacy store (the shared copy is read-only)."""
    out = dst / name
    shutil.copytree(shared("hdmf_zarr_v2", name), out)
    for root, dirs, files in os.walk(out):
        for item in dirs + files:
            os.chmod(os.path.join(root, item), 0o755 if item in dirs else 0o644)
    os.chmod(out, 0o755)
    return out


@pytest.fixture
def ecephys(tmp_path: Path) -> Path:
    return _copy(ECEPHYS, tmp_path)


@pytest.fixture
def timeseries(tmp_path: Path) -> Path:
    return _copy(TIMESERIES, tmp_path)


def _edit_zarray(store: Path, array: str, **changes) -> None:
    """Change an array's ``.zarray`` and drop ``.zmetadata`` (so the change is what is read)."""
    path = store / array / ".zarray"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    (store / ".zmetadata").unlink(missing_ok=True)


def _assert_same(expected, actual) -> None:
    TestCase().assertContainerEqual(expected, actual, ignore_hdmf_attrs=True)


def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _no_temporaries(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if ".nwbzarr-tmp-" in p.name]


# -- detection -------------------------------------------------------------------------------------


def test_is_zarr_v2_file(tmp_path):
    for store in LEGACY_STORES:
        assert is_zarr_v2_file(store) and is_zarr_v2_file(str(store))
        assert is_zarr_v2_file(LocalStore(store, read_only=True))
    v3 = tmp_path / "v3.nwb.zarr"
    nwbzarr.convert(shared("hdmf_zarr_v2", TIMESERIES), v3, progress=False)
    assert not is_zarr_v2_file(v3)
    (tmp_path / "plain").mkdir()
    for other in (v3, tmp_path / "plain", tmp_path / "missing", "http://127.0.0.1:9/x.zarr"):
        assert not is_zarr_v2_file(other)
    assert nwbzarr.is_zarr_v2_file is is_zarr_v2_file
    assert nwbzarr.IncompleteConversionError is IncompleteConversionError
    assert issubclass(IncompleteConversionError, (NWBZarrError, RuntimeError))


# -- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in LEGACY_STORES])
@pytest.mark.parametrize("mode", ["r", "r-"])
def test_reads_as_nwbzarrio(name, mode):
    store = shared("hdmf_zarr_v2", name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            NWBZarrIO(store, "r") as plain,
            NWBZarrV2IO(store, mode, allow_pickle=True) as v2,
        ):
            _assert_same(plain.read(), v2.read())
            assert v2.skipped_entries == [] and v2.allow_pickle
            assert isinstance(v2, NWBZarrIO) and isinstance(v2, ZarrV2IO)


def test_read_nwb_without_pickled_datasets_needs_no_opt_in():
    store = shared("hdmf_zarr_v2", TIMESERIES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = NWBZarrV2IO.read_nwb(store)
        try:
            with NWBZarrIO(store, "r") as plain:
                _assert_same(plain.read(), nwbfile)
            assert nwbfile.acquisition["test_timeseries"].data[:].shape == (1,)
        finally:
            nwbfile.get_read_io().close()


def test_plain_zarrv2io_reads_builders():
    store = shared("hdmf_zarr_v2", ECEPHYS)
    with ZarrV2IO(store, "r", allow_pickle=True) as io:
        builder = io.read_builder()
        refs = builder["general/extracellular_ephys/electrodes/group"].data
        assert len(refs) == 32
        assert refs[0].name == "ADunit_32"  # a reference, resolved to its builder


# -- the pickle policy -----------------------------------------------------------------------------


def test_pickled_dataset_refused_by_default():
    store = shared("hdmf_zarr_v2", ECEPHYS)
    with NWBZarrV2IO(store, "r") as io:  # opening reads no pickled chunk
        assert not io.allow_pickle
        with pytest.raises(UnsafePickleError, match=f"{PICKLED_ARRAY}.*allow_pickle=True"):
            io.read()
        with pytest.raises(UnsafePickleError):  # and again: nothing half-read is kept
            io.read_builder()
    with pytest.raises(UnsafePickleError, match="allow_pickle=True"):
        NWBZarrV2IO.read_nwb(store)


def test_pickled_dataset_decoded_with_allow_pickle():
    store = shared("hdmf_zarr_v2", ECEPHYS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = NWBZarrV2IO.read_nwb(store, allow_pickle=True)
        try:
            groups = nwbfile.electrodes["group"][:]
            assert [g.name for g in groups] == ["ADunit_32"] * 32
            assert groups[0] is nwbfile.electrode_groups["ADunit_32"]
        finally:
            nwbfile.get_read_io().close()


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_hostile_pickle_runs_nothing(ecephys, tmp_path, monkeypatch, allow_pickle):
    """A pickled chunk calling ``os.system`` never runs, with or without ``allow_pickle``."""
    monkeypatch.setenv("NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE", "1")  # has no effect here
    marker = tmp_path / "marker"
    evil = np.empty(32, dtype=object)
    evil[:] = [_Evil(marker)] * 32
    _write_chunk(ecephys, PICKLED_ARRAY, pickle.dumps(evil, protocol=5))
    expected = "system, which could run code" if allow_pickle else "allow_pickle=True"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsafePickleError, match=expected):
            with NWBZarrV2IO(ecephys, "r", allow_pickle=allow_pickle) as io:
                io.read().electrodes["group"][:]
        dest = tmp_path / "out.nwb.zarr"
        with pytest.raises(UnsafePickleError, match=expected):
            NWBZarrV2IO.convert_to_v3(ecephys, dest, allow_pickle=allow_pickle)
    assert not marker.exists()
    assert not dest.exists() and _no_temporaries(tmp_path)


def test_store_refuses_pickled_chunks_before_decoding(ecephys):
    """The store itself refuses (a reader that skips the I/O's checks decodes nothing)."""
    refused = zarr.open_group(
        V2TranslatingStore(LocalStore(ecephys, read_only=True), allow_pickle=False), mode="r"
    )
    with pytest.raises(UnsafePickleError, match=f"{PICKLED_ARRAY}.*allow_pickle=True"):
        refused[PICKLED_ARRAY][...]
    assert refused["units/id"][...].shape == (4,)  # everything else reads
    allowed = zarr.open_group(V2TranslatingStore(LocalStore(ecephys, read_only=True)), mode="r")
    assert allowed[PICKLED_ARRAY][0] == "/general/extracellular_ephys/ADunit_32"


@pytest.mark.parametrize(
    "filters",
    [
        [{"id": "vlen-utf8"}, {"id": "pickle", "protocol": 5}],  # as hdmf-zarr's own test
        [{"id": "pickle", "protocol": 5}],  # pickle as the object codec, a benign chunk
    ],
)
def test_pickled_cached_spec_refused_even_with_allow_pickle(timeseries, filters):
    value = np.empty(1, dtype=object)
    value[0] = '{"namespaces": []}'
    (timeseries / NAMESPACE / "0").write_bytes(pickle.dumps(value, protocol=5))
    _edit_zarray(timeseries, NAMESPACE, compressor=None, filters=filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsafePickleError, match=f"{NAMESPACE}: the cached spec"):
            NWBZarrV2IO(timeseries, "r", allow_pickle=True)
        # the advice in the message works: without the cache, pynwb's own core schema reads it
        with NWBZarrV2IO(timeseries, "r", load_namespaces=False, allow_pickle=True) as io:
            assert io.read().acquisition["test_timeseries"].data.shape == (1,)


# -- modes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ZarrV2IO, NWBZarrV2IO])
def test_write_modes_refused(ecephys, cls):
    before = _listing(ecephys)
    for mode in ("w", "w-", "x", "a", "r+"):
        with pytest.raises(
            ReadOnlyError, match=f"{re.escape(str(ecephys))}.*{cls.__name__}.convert_to_v3"
        ):
            cls(ecephys, mode=mode)
    with pytest.raises(InvalidModeError, match=re.escape(str(ecephys))):
        cls(ecephys, mode="rw")
    with cls(ecephys, "r", allow_pickle=True) as io:
        with pytest.raises(ReadOnlyError, match="export_to_v3"):
            io.export(src_io=io)
        with pytest.raises(ReadOnlyError):
            io.write_builder(io.read_builder())
    assert _listing(ecephys) == before


def test_v3_classes_point_writers_at_the_v2_api(ecephys):
    """NWBZarrIO/ZarrIO read v2 stores transparently; their refusal to write names the way on."""
    with pytest.raises(ReadOnlyError, match=r"NWBZarrV2IO\.convert_to_v3"):
        NWBZarrIO(ecephys, "a")
    with pytest.raises(ReadOnlyError, match=r"ZarrV2IO\.convert_to_v3") as info:
        ZarrIO(ecephys, "r+")
    assert "NWBZarrV2IO" not in str(info.value)


# -- skipped entries and the conversion's refusal --------------------------------------------------


@pytest.mark.parametrize("consolidated", [False, True])
def test_unreadable_entry_is_skipped_and_blocks_conversion(timeseries, tmp_path, consolidated):
    if consolidated:  # edit the entry where mode 'r' reads it: .zmetadata
        doc = json.loads((timeseries / ".zmetadata").read_text())
        doc["metadata"][f"{DATA}/.zarray"]["compressor"] = {"id": "no-such-codec"}
        (timeseries / ".zmetadata").write_text(json.dumps(doc))
    else:
        _edit_zarray(timeseries, DATA, compressor={"id": "no-such-codec"})
    with pytest.warns(UserWarning, match=f"Skipping /{DATA}"):
        with NWBZarrV2IO(timeseries, "r") as io:
            nwbfile = io.read()
            skipped = io.skipped_entries
    assert [path for path, _ in skipped] == [f"/{DATA}"]
    assert "no-such-codec" in skipped[0][1]
    assert nwbfile.identifier  # the rest reads
    dest = tmp_path / "dest.nwb.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(IncompleteConversionError, match=f"/{DATA}.*no-such-codec") as info:
            NWBZarrV2IO.convert_to_v3(source_path=timeseries, dest_path=dest)
    assert isinstance(info.value, RuntimeError)
    assert not dest.exists() and _no_temporaries(tmp_path)
    # NWBZarrIO reads it too, and fails only on the array itself
    with NWBZarrIO(timeseries, "r") as io:
        with pytest.raises(nwbzarr.errors.LegacyFormatError, match="no-such-codec"):
            io.read().acquisition["test_timeseries"].data[:]


def test_malformed_member_metadata_is_skipped(timeseries):
    (timeseries / DATA / ".zarray").write_text('{"shape": [10], ')
    (timeseries / ".zmetadata").unlink()
    with pytest.warns(UserWarning, match="Skipping"):
        with NWBZarrV2IO(timeseries, "r-") as io:
            io.read()
            assert [p for p, _ in io.skipped_entries] == [f"/{DATA}"]
            assert ".zarray: malformed JSON" in io.skipped_entries[0][1]
    with pytest.raises(nwbzarr.errors.LegacyFormatError, match="malformed JSON"):
        NWBZarrIO(timeseries, "r-").read()  # the v3 class stays strict


# -- conversion ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in LEGACY_STORES])
def test_convert_to_v3_reads_back_equal(name, tmp_path):
    store = shared("hdmf_zarr_v2", name)
    dest = tmp_path / "v3.nwb.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        NWBZarrV2IO.convert_to_v3(source_path=store, dest_path=dest, allow_pickle=True)
        assert not is_zarr_v2_file(dest)
        assert zarr.open_group(dest, mode="r").metadata.zarr_format == 3
        with NWBZarrV2IO(store, "r", allow_pickle=True) as v2, NWBZarrIO(dest, "r") as v3:
            _assert_same(v2.read(), v3.read())
    assert _no_temporaries(tmp_path)


def test_export_to_v3_of_an_open_file(tmp_path):
    store = shared("hdmf_zarr_v2", ECEPHYS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrV2IO(store, "r", allow_pickle=True) as v2:
            nwbfile = v2.read()
            v2.export_to_v3(tmp_path / "copy.nwb.zarr")  # the builders as read
            nwbfile.set_modified()
            v2.export_to_v3(path=str(tmp_path / "rebuilt.nwb.zarr"), nwbfile=nwbfile)
            for name in ("copy.nwb.zarr", "rebuilt.nwb.zarr"):
                with NWBZarrIO(tmp_path / name, "r") as v3:
                    again = v3.read()
                    assert again.identifier == nwbfile.identifier
                    groups = again.electrodes["group"][:]
                    assert [g.name for g in groups] == ["ADunit_32"] * 32
                    np.testing.assert_array_equal(
                        again.units["spike_times"][0], nwbfile.units["spike_times"][0]
                    )


def test_conversion_destination_checks(tmp_path):
    source = _copy(TIMESERIES, tmp_path)
    with pytest.raises(UnsafeDestinationError):
        NWBZarrV2IO.convert_to_v3(source, source / "inside.nwb.zarr")
    not_zarr = tmp_path / "notes.txt"
    not_zarr.write_text("keep me")
    with pytest.raises(StoreExistsError, match="not a Zarr store"):
        NWBZarrV2IO.convert_to_v3(source, not_zarr)
    assert not_zarr.read_text() == "keep me"
    old = tmp_path / "old.nwb.zarr"
    ZarrIO.export_io(str(old), src_io=NWBZarrIO(source, "r"))  # an existing v3 store ...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ZarrV2IO.convert_to_v3(source, old)  # ... is replaced (as mode 'w' replaces it)
    with NWBZarrIO(old, "r") as io:
        assert io.read().acquisition["test_timeseries"].data.shape == (1,)
    assert _no_temporaries(tmp_path)


# -- remote ----------------------------------------------------------------------------------------


def test_remote_store_with_storage_options(tmp_path):
    if not LEGACY_STORES:
        pytest.skip(f"shared data not found: {LEGACY_DIR}")
    with RangeHTTPServer(LEGACY_DIR, required_headers=TOKEN) as server:
        url = server.url(ECEPHYS)
        options = {"headers": TOKEN}
        assert is_zarr_v2_file(url, storage_options=options)
        assert not is_zarr_v2_file(url)  # refused without the header: never raises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with NWBZarrV2IO(url, "r", storage_options=options, allow_pickle=True) as io:
                assert io.is_remote()
                nwbfile = io.read()
                with NWBZarrIO(shared("hdmf_zarr_v2", ECEPHYS), "r") as local:
                    _assert_same(local.read(), nwbfile)
            dest = tmp_path / "from_http.nwb.zarr"
            NWBZarrV2IO.convert_to_v3(url, dest, allow_pickle=True, source_storage_options=options)
        with NWBZarrIO(dest, "r") as io:
            assert len(io.read().electrodes) == 32
        with pytest.raises(nwbzarr.errors.RemoteAccessError):
            NWBZarrV2IO(url, "r")


def test_s3_defaults_to_anonymous(monkeypatch):
    """``read_nwb``/``convert_to_v3`` read an ``s3://`` source anonymously unless told
    otherwise (hdmf-zarr's default); the options reach fsspec unchanged."""
    import fsspec

    store = shared("hdmf_zarr_v2", TIMESERIES)
    calls: list[dict] = []

    def fake_url_to_fs(url: str, **kwargs):
        calls.append(kwargs)
        return fsspec.filesystem("file"), str(store)

    monkeypatch.setattr(fsspec, "url_to_fs", fake_url_to_fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = NWBZarrV2IO.read_nwb("s3://bucket/ts.nwb.zarr")
        nwbfile.get_read_io().close()
        assert calls and all(kw.get("anon") is True for kw in calls)
        calls.clear()
        nwbfile = NWBZarrV2IO.read_nwb("s3://bucket/ts.nwb.zarr", storage_options={"key": "k"})
        nwbfile.get_read_io().close()
        assert calls and all(kw.get("key") == "k" and "anon" not in kw for kw in calls)


# -- v2 layouts through the public API -------------------------------------------------------------


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    root = tmp_path / "synthetic.zarr"
    root.mkdir()
    (root / ".zgroup").write_text('{"zarr_format": 2}')
    return root


def _read(root: Path, name: str, **options) -> np.ndarray:
    group = zarr.open_group(
        V2TranslatingStore(LocalStore(root, read_only=True), **options), mode="r"
    )
    return group[name][...]


def test_text_fill_value_and_multichunk_2d(synthetic):
    text = np.array([["00", "01", "02"], ["10", "11", "12"], ["20", "21", "22"]], dtype=object)
    codec = {"id": "vlen-utf8"}
    _v2_array(synthetic, "grid", text, (2, 2), object_codec=codec, fill_value="missing")
    (synthetic / "grid" / "1.1").unlink()  # a missing chunk reads as the declared fill value
    expected = text.copy()
    expected[2, 2] = "missing"
    np.testing.assert_array_equal(_read(synthetic, "grid"), expected)


def test_numeric_fill_value_for_missing_chunks(synthetic):
    data = np.arange(9, dtype="<i4").reshape(3, 3)
    _v2_array(synthetic, "ints", data, (2, 2), fill_value=-1)
    (synthetic / "ints" / "1.1").unlink()
    expected = data.copy()
    expected[2, 2] = -1
    np.testing.assert_array_equal(_read(synthetic, "ints"), expected)


def _pickled_compound(root: Path) -> None:
    """A 6-row compound with a reference field, pickled whole as hdmf-zarr < 0.14 wrote it."""
    path = root / "refs"
    path.mkdir()
    dtype = [("idx_start", "<i4"), ("count", "<i4"), ("timeseries", "O")]
    meta = {
        "zarr_format": 2,
        "shape": [6],
        "chunks": [2],
        "dtype": [["idx_start", "<i4"], ["count", "<i4"], ["timeseries", "|O"]],
        "compressor": None,
        "filters": [{"id": "pickle", "protocol": 5}],
        "fill_value": "gAVLAC4=",
        "order": "C",
    }
    (path / ".zarray").write_text(json.dumps(meta))
    zarr_dtype = [
        {"name": "idx_start", "dtype": "int32"},
        {"name": "count", "dtype": "int32"},
        {"name": "timeseries", "dtype": {"target_type": "TimeSeries", "reftype": "object"}},
    ]
    (path / ".zattrs").write_text(json.dumps({"zarr_dtype": zarr_dtype}))
    for chunk in (0, 1):  # the third chunk is missing
        rows = np.array(
            [(i, 2 * i, {"source": ".", "path": f"/s{i}"}) for i in (2 * chunk, 2 * chunk + 1)],
            dtype=dtype,
        )
        (path / str(chunk)).write_bytes(numcodecs.Pickle(protocol=5).encode(rows))
    (root / "s0").mkdir()
    (root / "s0" / ".zgroup").write_text('{"zarr_format": 2}')


def _consolidate(root: Path) -> None:
    """Write the ``.zmetadata`` zarr v2 would: every metadata document of the hierarchy."""
    docs = {
        p.relative_to(root).as_posix(): json.loads(p.read_text())
        for p in root.rglob(".z*")
        if p.name in (".zgroup", ".zarray", ".zattrs")
    }
    doc = {"zarr_consolidated_format": 1, "metadata": docs}
    (root / ".zmetadata").write_text(json.dumps(doc))


@pytest.mark.parametrize("consolidated", [False, True])
def test_pickled_compound_with_a_reference_field(synthetic, consolidated):
    _pickled_compound(synthetic)
    if consolidated:  # its metadata is then translated (rows decoded) when the root opens
        _consolidate(synthetic)
    rows = _read(synthetic, "refs")
    assert rows.dtype.names == ("idx_start", "count", "timeseries")
    np.testing.assert_array_equal(rows["idx_start"][:4], [0, 1, 2, 3])
    assert rows["timeseries"][3] == "/s3"
    assert tuple(rows[5])[:2] == (0, 0)  # the missing chunk: zeros (and no target)
    with ZarrV2IO(synthetic, "r", allow_pickle=True) as io:
        table = io.read_builder()["refs"].data
        assert table[0][2].name == "s0"  # the reference field resolves to its builder
    with ZarrV2IO(synthetic, "r") as io:  # opening decodes nothing
        with pytest.raises(UnsafePickleError, match="/refs: stored with the pickle codec"):
            io.read_builder()


@pytest.mark.parametrize("where", ["compressor", "filters"])
def test_pickle_codec_refused_wherever_declared(synthetic, where):
    data = np.array(["a"], dtype=object)
    _v2_array(synthetic, "text", data, (1,), object_codec={"id": "vlen-utf8"})
    meta = json.loads((synthetic / "text" / ".zarray").read_text())
    if where == "compressor":
        meta["compressor"] = {"id": "pickle"}
    else:
        meta["filters"].append({"id": "pickle"})
    (synthetic / "text" / ".zarray").write_text(json.dumps(meta))
    with pytest.raises(UnsafePickleError, match="text: stored with the pickle codec"):
        _read(synthetic, "text", allow_pickle=False)
    with ZarrV2IO(synthetic, "r") as io:
        with pytest.raises(UnsafePickleError, match="allow_pickle=True"):
            io.read_builder()
