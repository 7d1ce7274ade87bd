"""pynwb's own entry points after ``import nwbzarr``: read_nwb / validate on reference JSON and
stores, and NWBHDF5IO.export from an NWBZarrIO with its default arguments.

Real data: the shipped sample (data/sample_ecephys.nwb), every HDF5 file of ../shared/data/nwb
and the LINDI files of ../shared/data/lindi (skipped when absent). The shims these rely on
(:func:`nwbzarr.compat.copy_data_on_hdf5_export`, the routing in
:func:`nwbzarr.backend.nwb.register_with_pynwb`) are tested here by name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pynwb
import pytest
from conftest import NWB_FILES, SHARED_DATA, hdf5_views, shared
from hdmf.backends.errors import UnsupportedOperation
from hdmf.backends.hdf5.h5tools import HDF5IO
from nwb_compare import assert_same_nwbfile
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr import compat
from nwbzarr.inspection import validate_nwb

LINDI_FILES = sorted((SHARED_DATA / "lindi").glob("*.lindi.json"))

pytestmark = pytest.mark.usefixtures("quiet_warnings")


def _errors(errors) -> list[str]:
    return sorted(str(e) for e in errors)


# -- pynwb.read_nwb / pynwb.validate route reference JSON and stores to nwbzarr ------------------
def test_read_nwb_opens_reference_json_and_stores(ecephys_file, tmp_path):
    views = hdf5_views(ecephys_file, tmp_path)
    with NWBHDF5IO(str(ecephys_file), "r") as io:
        original = io.read()
        for kind in ("json", "store"):
            nwbfile = pynwb.read_nwb(views[kind])  # a Path, as pynwb's docval accepts
            assert type(nwbfile.read_io) is nwbzarr.NWBZarrIO, kind
            assert_same_nwbfile(original, nwbfile, ecephys_file)
            nwbfile.read_io.close()
    hdf5 = pynwb.read_nwb(str(views["hdf5"]))  # HDF5 stays with pynwb
    assert type(hdf5.read_io) is NWBHDF5IO
    hdf5.read_io.close()


def test_validate_path_on_reference_json_is_nwbzarrs_validation(ecephys_file, tmp_path):
    views = hdf5_views(ecephys_file, tmp_path)
    for kind in ("json", "store"):
        by_pynwb = pynwb.validate(path=str(views[kind]))
        assert _errors(by_pynwb) == _errors(validate_nwb(views[kind]).errors), kind
    # the JSON is validated against the namespaces cached in the HDF5 file, as the HDF5 is
    assert {e.location for e in pynwb.validate(path=str(views["hdf5"]))} <= {
        e.location for e in pynwb.validate(path=str(views["json"]))
    }


@pytest.mark.parametrize("src", LINDI_FILES, ids=lambda p: p.name)
def test_read_nwb_and_validate_open_lindi_json(src, tmp_path):
    hdf5 = shared("nwb", src.name[: -len(".lindi.json")])
    # some LINDI files name the HDF5 file beside them for their larger chunks
    shutil.copy(hdf5, tmp_path / hdf5.name)
    lindi = tmp_path / src.name
    shutil.copy(src, lindi)
    nwbfile = pynwb.read_nwb(str(lindi))
    assert type(nwbfile.read_io) is nwbzarr.NWBZarrIO
    with NWBHDF5IO(str(hdf5), "r") as io:
        assert_same_nwbfile(io.read(), nwbfile, hdf5)
    nwbfile.read_io.close()
    assert _errors(pynwb.validate(path=str(lindi))) == _errors(validate_nwb(lindi).errors)


def test_backend_discovery_of_urls_needs_no_request():
    get_backend = pynwb._get_backend
    for url in (
        "https://example.org/session.nwb.json",
        "https://example.org/session.lindi.json?version=2",
        "s3://bucket/session.nwb.zarr/",
        "https://api.dandiarchive.org/zarr/0123/",
    ):
        assert get_backend(url) is nwbzarr.NWBZarrIO, url
    assert get_backend("https://example.org/session.nwb", method="ros3") is NWBHDF5IO


def test_local_non_nwb_json_is_left_to_pynwb(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a reference file")
    with pytest.raises(ValueError, match="Could not find an IO"):
        pynwb._get_backend(str(text))


# -- NWBHDF5IO.export(src_io=NWBZarrIO(...)) with the default arguments -------------------------
def _pynwb_copy(src: Path, tmp_path: Path) -> Path:
    """pynwb's own copying export of an HDF5 file (HDF5 -> HDF5, ``link_data=False``).

    A copying export rebuilds every builder from the containers, so pynwb writes what its
    current schema adds (``Subject.age__reference = "birth"`` where the source has none): the
    reference an export from nwbzarr, which always copies, is compared with.
    """
    out = tmp_path / f"pynwb-copy-{src.name}"
    if not out.exists():
        with NWBHDF5IO(str(src), "r") as s, NWBHDF5IO(str(out), "w") as d:
            d.export(src_io=s, write_args={"link_data": False})
    return out


def _export_and_compare(src: Path, views: dict[str, Path], kind: str, tmp_path: Path) -> Path:
    out = tmp_path / f"exported-{kind}.nwb"
    with nwbzarr.NWBZarrIO(str(views[kind]), "r") as zio, NWBHDF5IO(str(out), "w") as hio:
        hio.export(src_io=zio)  # write_args default: link_data=True in hdmf
    with NWBHDF5IO(str(_pynwb_copy(src, tmp_path)), "r") as a, NWBHDF5IO(str(out), "r") as b:
        assert_same_nwbfile(a.read(), b.read(), src)
    return out


def test_hdf5_export_from_nwbzarr_with_default_arguments(ecephys_file, tmp_path):
    views = hdf5_views(ecephys_file, tmp_path)
    for kind in ("store", "json", "hdf5"):
        _export_and_compare(ecephys_file, views, kind, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("src", NWB_FILES, ids=lambda p: p.name)
def test_hdf5_export_from_converted_shared_files(src, tmp_path):
    views = hdf5_views(src, tmp_path)
    _export_and_compare(src, views, "store", tmp_path)


def test_hdf5_export_forms_and_explicit_link_data(ecephys_file, tmp_path):
    views = hdf5_views(ecephys_file, tmp_path)
    store = str(views["store"])
    with nwbzarr.NWBZarrIO(store, "r") as zio:
        nwbfile = zio.read()
        with NWBHDF5IO(str(tmp_path / "a.nwb"), "w") as hio:
            hio.export(zio, nwbfile=nwbfile)  # positional src_io, pynwb's nwbfile=
        NWBHDF5IO.export_io(path=str(tmp_path / "b.nwb"), src_io=zio)  # the class method
        with NWBHDF5IO(str(tmp_path / "c.nwb"), "w") as hio:
            with pytest.raises(UnsupportedOperation, match="link_data=True"):
                hio.export(src_io=zio, write_args={"link_data": True})  # asked for: refused
    with NWBHDF5IO(str(_pynwb_copy(ecephys_file, tmp_path)), "r") as a:
        original = a.read()
        for name in ("a.nwb", "b.nwb"):
            with NWBHDF5IO(str(tmp_path / name), "r") as b:
                assert_same_nwbfile(original, b.read(), ecephys_file)


def test_exported_data_equal_the_original(ecephys_file, tmp_path):
    """Beyond pynwb's copy: every dataset of the original is in the export, value for value."""
    import h5py
    import numpy as np

    views = hdf5_views(ecephys_file, tmp_path)
    out = _export_and_compare(ecephys_file, views, "store", tmp_path)
    with h5py.File(ecephys_file, "r") as a, h5py.File(out, "r") as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            if name.startswith("specifications/"):
                continue  # the export caches pynwb's own namespaces (as pynwb's export does)
            left, right = a[name], b[name]
            if left.dtype.kind == "O" or left.dtype.kind == "S" or left.dtype.names:
                continue  # references and text: compared as containers above
            np.testing.assert_array_equal(left[()], right[()], err_msg=name)
        assert len(names) > 50


def test_hdf5_to_hdf5_export_is_unchanged(ecephys_file, tmp_path):
    out = tmp_path / "copy.nwb"
    with NWBHDF5IO(str(ecephys_file), "r") as src, NWBHDF5IO(str(out), "w") as dst:
        dst.export(src_io=src)  # links kept: the wrapper leaves HDF5 sources alone
    with NWBHDF5IO(str(ecephys_file), "r") as a, NWBHDF5IO(str(out), "r") as b:
        assert_same_nwbfile(a.read(), b.read(), ecephys_file)


# -- the shim itself -----------------------------------------------------------------------------
def test_copy_data_on_hdf5_export_shim():
    export = HDF5IO.__dict__["export"]
    assert getattr(export, "_nwbzarr_wrapped", False), "register_with_pynwb installs it"
    original = export._nwbzarr_original
    # the upstream behaviour it relies on: HDF5IO.export's docval parameters, in this order
    names = [arg["name"] for arg in original.__docval__["args"]]
    assert names[: len(compat._EXPORT_PARAMETERS)] == list(compat._EXPORT_PARAMETERS)
    assert compat.copy_data_on_hdf5_export(lambda io: False) is True  # idempotent
    assert HDF5IO.__dict__["export"] is export
    # pynwb's NWBHDF5IO.export still goes through HDF5IO.export
    assert "export" in NWBHDF5IO.__dict__ and NWBHDF5IO.__mro__[1] is HDF5IO
