"""Three views of every real NWB file agree: pynwb's HDF5 read, the virtual store over the HDF5
file, and the store reloaded from its reference JSON — locally and over HTTP.

Also: LINDI reference files read as NWB, ``nwbzarr index`` and ``nwbzarr convert`` from a URL
or a JSON, and the request budget of opening a reference JSON over HTTP.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ECEPHYS_FILE, NWB_FILES, SHARED_DATA, sweep
from http_server import RangeHTTPServer
from nwb_compare import assert_same_nodes, assert_same_nwbfile, zarr_nodes
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.cli import main as cli
from nwbzarr.errors import ReadOnlyError, UntrustedReferenceError
from nwbzarr.virtual.sources import index_to_json, open_virtual_store, source_kind

LINDI_DIR = SHARED_DATA / "lindi"
LINDI_FILES = sorted(LINDI_DIR.glob("*.lindi.json")) if LINDI_DIR.is_dir() else []


# -- three views, every shared file ----------------------------------------------------------------
@pytest.mark.parametrize("src", sweep(NWB_FILES))
def test_three_views_agree(src, tmp_path):
    refs_path = tmp_path / (src.stem + ".nwb.json")
    link = tmp_path / src.name  # the JSON refers to its file relative to its own directory
    shutil.copy(src, link)
    index_to_json(link, refs_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with nwbzarr.NWBZarrIO(str(src), "r") as direct_io:
                assert_same_nwbfile(original, direct_io.read(), src)
            with nwbzarr.NWBZarrIO(str(refs_path), "r") as json_io:
                assert_same_nwbfile(original, json_io.read(), src)
    direct = zarr_nodes(open_virtual_store(src))
    reloaded = zarr_nodes(open_virtual_store(refs_path))
    assert_same_nodes(direct, reloaded)


def test_source_kinds(tmp_path):
    assert source_kind(ECEPHYS_FILE) == "hdf5"
    refs_path = tmp_path / "x.json"
    index_to_json(ECEPHYS_FILE, refs_path, url="https://example.org/x.nwb")
    assert source_kind(refs_path) == "references"
    assert source_kind(tmp_path) == "zarr"
    assert source_kind("https://example.org/a.nwb") == "hdf5"
    assert source_kind("https://example.org/a.lindi.json") == "references"
    assert source_kind("https://example.org/a.nwb.zarr") == "zarr"


def test_lindi_json_cannot_be_amended_in_place():
    if not LINDI_FILES:
        pytest.skip("no LINDI files in shared data")
    for mode in ("a", "r+"):
        with pytest.raises(ReadOnlyError, match="convert"):
            nwbzarr.NWBZarrIO(str(LINDI_FILES[0]), mode)
    before = ECEPHYS_FILE.stat().st_mtime_ns
    nwbzarr.read_nwb(str(ECEPHYS_FILE)).read_io.close()
    assert ECEPHYS_FILE.stat().st_mtime_ns == before


# -- LINDI files written by lindi 0.4.6 ------------------------------------------------------------
@pytest.mark.parametrize("lindi_file", LINDI_FILES, ids=[p.name for p in LINDI_FILES])
def test_lindi_reference_files_read_as_nwb(lindi_file, tmp_path):
    name = lindi_file.name.removesuffix(".lindi.json")
    src = SHARED_DATA / "nwb" / name
    shutil.copy(lindi_file, tmp_path / lindi_file.name)
    shutil.copy(src, tmp_path / name)  # lindi's refs name the HDF5 file relative to the JSON
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io:
            with nwbzarr.NWBZarrIO(str(tmp_path / lindi_file.name), "r") as io:
                assert_same_nwbfile(h5io.read(), io.read(), src)


# -- command line ----------------------------------------------------------------------------------
def test_cli_index_then_read(tmp_path):
    link = tmp_path / ECEPHYS_FILE.name
    shutil.copy(ECEPHYS_FILE, link)
    out = tmp_path / "ecephys.nwb.json"
    result = CliRunner().invoke(cli, ["index", str(link), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "chunk references" in result.output
    document = json.loads(out.read_text())
    assert document["version"] == 1 and "refs" in document
    urls = {v[0] for v in document["refs"].values() if isinstance(v, list)}
    relative = document["nwbzarr"].get("relative", {})
    urls = {relative.get(u.strip("{}"), u) for u in urls}
    assert urls == {ECEPHYS_FILE.name}  # relative to the JSON's directory (for our reader)
    nwbfile = nwbzarr.read_nwb(str(out))
    try:
        assert nwbfile.units.spike_times.data.shape == (34057,)
    finally:
        nwbfile.read_io.close()


def test_index_outside_json_directory_warns_and_policy_refuses(tmp_path):
    out = tmp_path / "x.nwb.json"
    with pytest.warns(UserWarning, match="NWBZARR_ALLOWED_ROOTS"):
        index_to_json(ECEPHYS_FILE, out)
    with pytest.raises(UntrustedReferenceError, match="outside the allowed local roots"):
        nwbzarr.NWBZarrIO(str(out), "r")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NWBZARR_ALLOWED_ROOTS", str(ECEPHYS_FILE.parent))
        with nwbzarr.NWBZarrIO(str(out), "r") as io:
            assert io.read().units.spike_times.data.shape == (34057,)


def test_cli_index_missing_source(tmp_path):
    result = CliRunner().invoke(cli, ["index", str(tmp_path / "nope.nwb"), "-o", "x.json"])
    assert result.exit_code != 0
    assert "nope.nwb" in result.output and "no such file" in result.output


# -- over HTTP -------------------------------------------------------------------------------------
@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    """What the ``server`` fixture (conftest) serves: the shipped sample and its reference JSON
    (``ecephys.nwb``, ``ecephys.nwb.json``)."""
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(ECEPHYS_FILE, root / "ecephys.nwb")
    index_to_json(root / "ecephys.nwb", root / "ecephys.nwb.json")
    return root


@pytest.fixture
def ecephys_over_http(served_dir: Path, server: RangeHTTPServer) -> tuple[Path, RangeHTTPServer]:
    """``(directory, server)``: the shipped sample and its reference JSON over HTTP."""
    return served_dir, server


def test_http_json_open_and_read_in_two_requests(ecephys_over_http):
    root, server = ecephys_over_http
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nwbzarr.NWBZarrIO(server.url("ecephys.nwb.json"), "r") as io:
            nwbfile = io.read()
            assert len(server.log) == 1, server.log  # the JSON, once
            server.clear_log()
            spikes = nwbfile.units.spike_times.data[:100]
        with NWBHDF5IO(str(ECEPHYS_FILE), "r") as h5io:
            np.testing.assert_array_equal(spikes, h5io.read().units.spike_times.data[:100])
    assert 1 <= len(server.log) <= 2  # the chunk (its refs point at the served HDF5 file)
    assert all(r.path == "/ecephys.nwb" for r in server.log)


def test_http_hdf5_direct_equals_local(ecephys_over_http):
    root, server = ecephys_over_http
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ECEPHYS_FILE), "r", load_namespaces=True) as h5io:
            with nwbzarr.NWBZarrIO(server.url("ecephys.nwb"), "r") as io:
                assert_same_nwbfile(h5io.read(), io.read(), ECEPHYS_FILE)
    assert all(r.method in ("GET", "HEAD") for r in server.log)


def test_convert_from_url_and_from_json(ecephys_over_http, tmp_path):
    root, server = ecephys_over_http
    from_url = nwbzarr.convert(server.url("ecephys.nwb"), tmp_path / "a.nwb.zarr", progress=False)
    from_json = nwbzarr.convert(root / "ecephys.nwb.json", tmp_path / "b.nwb.zarr", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ECEPHYS_FILE), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            for out in (from_url, from_json):
                assert (out / "zarr.json").is_file()
                with nwbzarr.NWBZarrIO(out, "r") as io:
                    assert_same_nwbfile(original, io.read(), ECEPHYS_FILE)


def test_http_chunk_cache_serves_second_read(ecephys_over_http, tmp_path):
    root, server = ecephys_over_http
    cache = nwbzarr.LocalCache(tmp_path / "cache", 2**24)
    values = []
    for _ in range(2):
        server.clear_log()
        nwbfile = nwbzarr.read_nwb(server.url("ecephys.nwb.json"), cache=cache)
        try:
            values.append(nwbfile.units.spike_times.data[:])
        finally:
            nwbfile.read_io.close()
        chunk_requests = [r for r in server.log if r.path == "/ecephys.nwb"]
        assert len(chunk_requests) == (1 if len(values) == 1 else 0), server.log
    np.testing.assert_array_equal(values[0], values[1])
    assert values[0].shape == (34057,)
