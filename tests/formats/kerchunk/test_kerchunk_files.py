"""Reference JSON written by kerchunk (``kerchunk.hdf.SingleHdf5ToZarr``), both generations.

* kerchunk >= 0.2.8 (zarr 3; 0.2.10 is in the test extra) is run here on the shipped sample
  and, in a slow sweep, on every shared file. It leaves every 0-d string dataset out of its JSON
  (``identifier``, ``session_start_time``, the spec cache...), so no NWB file can be built from
  it: nwbzarr reads what is there through plain zarr and names the missing value when pynwb
  asks for it.
* kerchunk 0.2.7 (zarr 2) cannot be installed beside zarr 3, so its layout is written by
  :func:`kerchunk027_refs` below, which follows what 0.2.7's ``SingleHdf5ToZarr`` does with an
  HDF5 file (json2 object chunks, one-element array attributes written as their element, empty
  bytes attributes as ``" "``, references and soft links dropped; docs/toolchain.md).

What kerchunk drops (links, object references) stays missing: those tests assert it is missing,
not invented.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE, NWB_FILES
from hdmf.build import ConstructError
from nwb_compare import assert_same_nwbfile
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.image import ImageSeries

import nwbzarr
from nwbzarr.errors import ReferenceFileError, UntrustedReferenceError
from nwbzarr.virtual import open_virtual_store

_JSON2 = {
    "allow_nan": True,
    "check_circular": True,
    "encoding": "utf-8",
    "ensure_ascii": True,
    "id": "json2",
    "indent": None,
    "separators": [",", ":"],
    "skipkeys": False,
    "sort_keys": True,
    "strict": True,
}


# -- kerchunk 0.2.7's layout, written by hand ---------------------------------------------------
def _attrs027(obj: h5py.HLObject) -> dict:
    """Attributes as kerchunk 0.2.7's ``_transfer_attrs`` writes them."""
    out = {}
    for name, value in obj.attrs.items():
        if name in ("REFERENCE_LIST", "DIMENSION_LIST", "CLASS", "NAME", "_Netcdf4Dimid"):
            continue
        if isinstance(value, bytes):
            value = value.decode() or " "  # kerchunk: `v.decode("utf-8") or " "`
        elif isinstance(value, (np.ndarray, np.generic)):
            if value.dtype.kind == "O" and any(isinstance(v, h5py.Reference) for v in value.flat):
                continue  # zarr 2 cannot store it: TypeError, skipped
            if value.dtype.kind == "S":
                value = value.astype(str)
            value = value.flatten()[0] if value.size == 1 else value
            value = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
        elif isinstance(value, h5py.Reference):
            continue
        out[name] = value
    return out


def kerchunk027_refs(path: Path) -> dict:
    """A kerchunk-0.2.7-shaped reference document of the HDF5 file at ``path``.

    Datasets are contiguous here (pynwb's default), so each numeric one is one chunk
    ``[url, offset, length]``; text (and reference) datasets are one inline json2 chunk,
    ``[values..., "|O", shape]``, references being ``null``.
    """
    url = str(path)
    refs: dict = {".zgroup": '{"zarr_format":2}'}

    with h5py.File(path, "r") as f:
        refs[".zattrs"] = json.dumps(_attrs027(f))

        def visit(name: str, obj: h5py.HLObject) -> None:
            attrs = _attrs027(obj)
            if isinstance(obj, h5py.Group):
                refs[f"{name}/.zgroup"] = '{"zarr_format":2}'
                refs[f"{name}/.zattrs"] = json.dumps(attrs)
                return
            attrs["_ARRAY_DIMENSIONS"] = [f"phony_dim_{i}" for i in range(obj.ndim)]
            meta = {
                "chunks": list(obj.shape),
                "compressor": None,
                "dtype": obj.dtype.str,
                "fill_value": None,
                "filters": None,
                "order": "C",
                "shape": list(obj.shape),
                "zarr_format": 2,
            }
            if obj.dtype.kind == "O":
                meta.update(dtype="|O", filters=[_JSON2])
                values = [
                    None
                    if isinstance(v, h5py.Reference)
                    else v.decode()
                    if isinstance(v, bytes)
                    else v
                    for v in np.asarray(obj[()], dtype=object).reshape(-1)
                ]
                key = f"{name}/{'.'.join('0' * obj.ndim) or '0'}"
                refs[key] = json.dumps([*values, "|O", list(obj.shape)], separators=(",", ":"))
            else:
                meta["fill_value"] = 0
                offset = obj.id.get_offset()
                if offset is not None and obj.size:
                    key = f"{name}/{'.'.join('0' * obj.ndim) or '0'}"
                    refs[key] = [url, offset, obj.id.get_storage_size()]
            refs[f"{name}/.zarray"] = json.dumps(meta, sort_keys=True)
            refs[f"{name}/.zattrs"] = json.dumps(attrs)

        f.visititems(visit)  # soft links are not visited: kerchunk drops them
    return {"version": 1, "refs": refs}


def _write_nwb(path: Path) -> None:
    """A small NWB file with what kerchunk 0.2.7 changes: a one-element array attribute
    (``starting_frame``), text scalars and arrays, numeric data and a spec cache."""
    nwbfile = NWBFile(
        session_description="kerchunk quirks",
        identifier="kc-1",
        session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        experimenter=["one", "two"],
    )
    nwbfile.add_acquisition(
        TimeSeries(name="ts", data=np.arange(12.0).reshape(6, 2), rate=10.0, unit="V")
    )
    nwbfile.add_acquisition(
        ImageSeries(
            name="movie",
            external_file=["movie.avi"],
            starting_frame=[0],
            format="external",
            rate=30.0,
            num_samples=5,
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def _nwb_and_json(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "quirks.nwb"
    _write_nwb(src)
    out = tmp_path / "quirks.nwb.json"
    out.write_text(json.dumps(kerchunk027_refs(src)))
    return src, out


def _read_both(src: Path, refs: Path) -> None:
    """``refs`` reads through nwbzarr as pynwb reads ``src``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(src), "r") as h5io, nwbzarr.NWBZarrIO(str(refs), "r") as io:
            assert_same_nwbfile(h5io.read(), io.read(), src)


def test_kerchunk027_layout_reads_like_pynwb(tmp_path):
    src, refs = _nwb_and_json(tmp_path)
    document = json.loads(refs.read_text())["refs"]
    # the quirks are in the document...
    assert json.loads(document["acquisition/movie/external_file/.zattrs"])["starting_frame"] == 0
    assert ".specloc" not in json.loads(document[".zattrs"])  # an object reference: dropped
    assert json.loads(document["identifier/0"]) == ["kc-1", "|O", []]
    # ...and the file reads as the HDF5 original (starting_frame an array again, the spec
    # cache found without .specloc)
    _read_both(src, refs)
    root = zarr.open_group(open_virtual_store(refs), mode="r")
    assert root.attrs[".specloc"] == "specifications"
    frame = root["acquisition/movie/external_file"].attrs["starting_frame"]
    assert frame == 0  # the store shows what the file says; the reader applies the spec
    with nwbzarr.NWBZarrIO(str(refs), "r") as io:
        movie = io.read().acquisition["movie"]
        assert list(movie.starting_frame) == [0]
        assert movie.external_file[:].tolist() == ["movie.avi"]


def test_kerchunk027_values_equal_h5py(tmp_path):
    src, refs = _nwb_and_json(tmp_path)
    root = zarr.open_group(open_virtual_store(refs), mode="r")
    with h5py.File(src, "r") as f:
        np.testing.assert_array_equal(root["acquisition/ts/data"][...], f["acquisition/ts/data"])
        assert root["identifier"][()] == "kc-1"
        assert root["general/experimenter"][...].tolist() == ["one", "two"]
        namespace = root["specifications/core"]
        (version,) = list(namespace.group_keys())
        cached = json.loads(str(namespace[f"{version}/namespace"][()]))
        assert cached["namespaces"][0]["name"] == "core"


def _store_of(tmp_path: Path, refs: dict) -> zarr.Group:
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"version": 1, "refs": refs}))
    return zarr.open_group(open_virtual_store(path), mode="r")


#: the .zarray kerchunk >= 0.2.8 writes for a 0-d string dataset (and no chunk: the value is lost)
SCALAR_TEXT_ZARRAY = {
    "chunks": [],
    "compressor": None,
    "dtype": "|O",
    "fill_value": None,
    "filters": [{"id": "vlen-utf8"}],
    "order": "C",
    "shape": [],
    "zarr_format": 2,
}


def test_kerchunk_attribute_quirks(tmp_path):
    """Empty bytes attributes (written " "), str()-ed references (>= 0.2.8) and a root whose
    spec cache is empty (>= 0.2.8 drops its values, so no .specloc is implied)."""
    scalar = SCALAR_TEXT_ZARRAY
    root = _store_of(
        tmp_path,
        {
            ".zgroup": {"zarr_format": 2},
            ".zattrs": {".specloc": "<HDF5 object reference>", "comments": " ", "x": "a b"},
            "units/.zgroup": {"zarr_format": 2},
            "units/.zattrs": {"target": "<HDF5 object reference>", "colnames": "spike_times"},
            "specifications/.zgroup": {"zarr_format": 2},
            "specifications/core/.zgroup": {"zarr_format": 2},
            "specifications/core/2.7.0/.zgroup": {"zarr_format": 2},
            "specifications/core/2.7.0/namespace/.zarray": scalar,
        },
    )
    assert dict(root.attrs) == {"comments": "", "x": "a b"}  # no .specloc: the cache is empty
    assert dict(root["units"].attrs) == {"colnames": "spike_times"}


def test_kerchunk_dropped_scalar_text_is_named(tmp_path):
    meta = SCALAR_TEXT_ZARRAY
    root = _store_of(
        tmp_path,
        {
            ".zgroup": {"zarr_format": 2},
            "session_start_time/.zarray": meta,
            "identifier/.zarray": meta,
            "identifier/0": "base64:"
            + base64.b64encode(b"\x01\x00\x00\x00\x04\x00\x00\x00kc-1").decode(),
        },
    )
    assert root["identifier"][()] == "kc-1"
    with pytest.raises(ReferenceFileError, match=r"/session_start_time .*nwbzarr index"):
        root["session_start_time"][()]


def test_absolute_local_path_refused_naming_allowed_roots(tmp_path, monkeypatch):
    monkeypatch.delenv("NWBZARR_ALLOWED_ROOTS", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    src = data / "quirks.nwb"
    _write_nwb(src)
    (tmp_path / "json").mkdir()
    refs = tmp_path / "json" / "quirks.nwb.json"
    refs.write_text(json.dumps(kerchunk027_refs(src)))  # absolute paths, as kerchunk writes
    with pytest.raises(UntrustedReferenceError) as info:
        nwbzarr.read_nwb(str(refs))
    message = str(info.value)
    assert f"NWBZARR_ALLOWED_ROOTS={data}" in message and str(src) in message
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", str(data))
    _read_both(src, refs)


# -- kerchunk >= 0.2.8 (zarr 3), run here -------------------------------------------------------
def _kerchunk_json(src: Path, out: Path) -> Path:
    hdf = pytest.importorskip("kerchunk.hdf")
    # translate() waits for zarr's event-loop thread from inside h5py's visititems (holding
    # h5py's lock); a garbage collection there that finalizes an h5py object (a closed
    # NWBHDF5IO of an earlier test) waits for the same lock: a deadlock (docs/toolchain.md §4)
    gc.collect()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kerchunk warns for every dataset it cannot write
            refs = hdf.SingleHdf5ToZarr(str(src)).translate()
    finally:
        gc.enable()
    out.write_text(json.dumps(refs))
    return out


def _numeric_datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iufb":
                out[name] = obj[()]

        f.visititems(visit)
    return out


def _check_kerchunk0210(src: Path, tmp_path: Path) -> None:
    local = tmp_path / src.name
    shutil.copy(src, local)
    refs = _kerchunk_json(local, tmp_path / (src.name + ".json"))
    root = zarr.open_group(open_virtual_store(refs), mode="r")
    for name, values in _numeric_datasets(local).items():
        if name in root:
            np.testing.assert_array_equal(root[name][...], values, err_msg=name)
    assert ".specloc" not in root.attrs  # a str()-ed reference, and the cache has no values
    for node in ("units/spike_times_index", "units/electrodes_index"):
        if node in root:
            assert "target" not in root[node].attrs  # "<HDF5 object reference>" left out
    # every 0-d string is missing (identifier, session_start_time, ...): named, not ""
    with pytest.raises(ReferenceFileError, match=r"kerchunk >= 0\.2\.8.*nwbzarr index"):
        nwbzarr.read_nwb(str(refs))
    with pytest.raises(ReferenceFileError, match="/identifier"):
        root["identifier"][()]


def test_kerchunk0210_sample(ecephys_file, tmp_path):
    _check_kerchunk0210(ecephys_file, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("src", NWB_FILES, ids=[p.name for p in NWB_FILES])
def test_kerchunk0210_shared(src, tmp_path):
    _check_kerchunk0210(src, tmp_path)


# -- the shared files in kerchunk 0.2.7's layout ------------------------------------------------
# kerchunk drops soft links and object references: ElectrodeGroup.device (a link) is required,
# so the two ecephys files cannot be built; every other shared file reads as pynwb reads it.
_NEEDS_LINKS = {ECEPHYS_FILE.name, "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb"}


@pytest.mark.slow
@pytest.mark.parametrize("src", NWB_FILES, ids=[p.name for p in NWB_FILES])
def test_kerchunk027_layout_shared(src, tmp_path):
    local = tmp_path / src.name
    shutil.copy(src, local)
    refs = tmp_path / (src.name + ".json")
    refs.write_text(json.dumps(kerchunk027_refs(local)))
    if src.name in _NEEDS_LINKS:
        with pytest.raises(ConstructError, match="missing argument 'device'"):
            _read_both(local, refs)
        return
    _read_both(local, refs)


def test_kerchunk027_layout_sample_lacks_links(ecephys_file, tmp_path):
    local = tmp_path / ecephys_file.name
    shutil.copy(ecephys_file, local)
    refs = tmp_path / "sample.json"
    refs.write_text(json.dumps(kerchunk027_refs(local)))
    root = zarr.open_group(open_virtual_store(refs), mode="r")
    assert "_LINKS" not in root["general/extracellular_ephys/ADunit_32"].attrs
    assert set(root["general/extracellular_ephys/electrodes/group"][...].tolist()) == {""}
    for name, values in _numeric_datasets(local).items():
        np.testing.assert_array_equal(root[name][...], values, err_msg=name)
    assert os.path.exists(local)
