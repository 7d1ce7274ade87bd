"""Amending an HDF5 file or a reference JSON through a staging store, saving a new JSON.

Real input: the shipped sample data/sample_ecephys.nwb (written by another tool). Every test checks
the original bytes are untouched, the original content reads as pynwb reads it, and the
additions read back exactly.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from conftest import ECEPHYS_FILE
from http_server import RangeHTTPServer
from nwb_compare import (
    SAMPLES,
    add_processing,
    assert_same_as_pynwb_append,
    check_additions,
    read_original,
    sha256_of,
)
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.cli import main as cli
from nwbzarr.errors import AppendError, ReadOnlyError, ReferenceFileError
from nwbzarr.virtual import ByteRange, index_hdf5, index_to_json, load_references
from nwbzarr.virtual.staging import DEFAULT_INLINE_BYTES, StagingStore


@pytest.fixture(autouse=True)
def _allow_sample_dir(monkeypatch):
    # saved JSON name the sample .nwb by absolute path, outside their own directory
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", str(ECEPHYS_FILE.parent))


def test_amend_hdf5_add_containers_and_save(tmp_path):
    before = sha256_of(ECEPHYS_FILE)
    out = tmp_path / "amended.nwb.json"
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a") as io:
        nwbfile = io.read()
        add_processing(nwbfile)
        io.write(nwbfile)
        report = io.save(out)
    assert sha256_of(ECEPHYS_FILE) == before  # never written
    staging = tmp_path / "amended.nwb.staging"
    files = sorted(staging.iterdir())
    assert report["staged_files"] == len(files) >= 1
    for f in files:  # content-addressed
        assert f.name == sha256_of(f)
    assert report["staged_bytes"] == sum(f.stat().st_size for f in files)

    # untouched data keep their original byte ranges; new values are inline or staged
    original = index_hdf5(str(ECEPHYS_FILE)).refs
    amended = load_references(out).refs
    for key, value in original.items():
        if isinstance(value, ByteRange):
            assert amended[key] == value, key
    new_keys = [k for k in amended if k.startswith("processing/amended/")]
    staged = [k for k in new_keys if isinstance(amended[k], ByteRange)]
    assert staged and all(Path(amended[k].url).parent == staging for k in staged)
    small = [k for k in new_keys if "/tiny/data/" in k and not k.endswith("zarr.json")]
    assert small and all(isinstance(amended[k], bytes) for k in small)
    assert all(len(amended[k]) <= DEFAULT_INLINE_BYTES for k in small)
    # staged files are written relative to the JSON, so the pair can move together
    doc = json.loads(out.read_text())
    assert any(t.startswith("amended.nwb.staging/") for t in doc["nwbzarr"]["relative"].values())

    with nwbzarr.NWBZarrIO(str(out), "r") as io:
        got = io.read()
        check_additions(got)
        assert_same_as_pynwb_append(got, tmp_path, add_processing)


def test_amend_reference_json_rows_and_attributes(tmp_path):
    refs_path = tmp_path / "index.nwb.json"
    with pytest.warns(UserWarning, match="outside the JSON's directory"):
        index_to_json(ECEPHYS_FILE, refs_path)
    before = refs_path.read_bytes()
    out = tmp_path / "more.nwb.json"
    with nwbzarr.NWBZarrIO(str(refs_path), mode="r+") as io:
        nwbfile = io.read()
        columns = {c: nwbfile.units[c][0] for c in ("sampling_rate", "unit_x", "unit_y")}
        nwbfile.units.add_unit(
            spike_times=[1.0, 2.0],
            electrodes=[0],
            waveform_mean=nwbfile.units["waveform_mean"][0],
            waveform_sd=nwbfile.units["waveform_sd"][0],
            unit_z=0.5,
            cell_type="amended",
            **columns,
        )
        assert nwbfile.devices["laser"].description is None
        nwbfile.devices["laser"].description = "set while amending"  # an attribute via pynwb
        assert nwbfile.subject.age is None
        nwbfile.subject.age = "P90D"
        io.write(nwbfile)
        io.file["general"].attrs["amended_by"] = "test_amend"  # through plain zarr
        io.save(out)
    assert refs_path.read_bytes() == before  # the original JSON is never modified

    h5io, expected = read_original()
    with h5io, nwbzarr.NWBZarrIO(str(out), "r") as io:
        got = io.read()
        units, original_units = got.units.to_dataframe(), expected.units.to_dataframe()
        assert len(units) == len(original_units) + 1
        for column in ("sampling_rate", "unit_x", "unit_y", "cell_type"):
            assert units[column].iloc[:-1].tolist() == original_units[column].tolist()
        for i in range(len(original_units)):
            np.testing.assert_array_equal(
                units["spike_times"].iloc[i], original_units["spike_times"].iloc[i]
            )
        assert list(units["spike_times"].iloc[-1]) == [1.0, 2.0]
        assert units["cell_type"].iloc[-1] == "amended"
        assert got.devices["laser"].description == "set while amending"
        assert got.subject.age == "P90D"
        assert got.subject.species == expected.subject.species
        assert io.file["general"].attrs["amended_by"] == "test_amend"
    with nwbzarr.NWBZarrIO(str(refs_path), "r") as io:  # the original still reads as before
        assert len(io.read().units) == len(original_units)


def test_save_twice_while_open_and_after_close(tmp_path):
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a") as io:
        nwbfile = io.read()
        nwbfile.create_processing_module("first", "saved first")
        io.write(nwbfile)
        io.save(tmp_path / "one.json")
        add_processing(nwbfile)
        io.write(nwbfile)
    io.save(tmp_path / "two.json")  # after close
    with nwbzarr.NWBZarrIO(str(tmp_path / "one.json"), "r") as one:
        assert sorted(one.read().processing) == ["first"]
    with nwbzarr.NWBZarrIO(str(tmp_path / "two.json"), "r") as two:
        got = two.read()
        assert sorted(got.processing) == ["amended", "first"]
        check_additions(got)
    assert io.staging_store.unsaved_changes == 0


def test_explicit_staging_directory_under_json_is_used_in_place(tmp_path):
    staging = tmp_path / "work"
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a", staging_dir=staging) as io:
        nwbfile = io.read()
        add_processing(nwbfile)
        io.write(nwbfile)
        io.save(tmp_path / "x.json")
    assert not (tmp_path / "x.staging").exists()  # nothing copied: already next to the JSON
    doc = json.loads((tmp_path / "x.json").read_text())
    assert any(t.startswith("work/") for t in doc["nwbzarr"]["relative"].values())
    with nwbzarr.NWBZarrIO(str(tmp_path / "x.json"), "r") as io:
        check_additions(io.read())


def test_materialize_amended_json_to_zarr_and_hdf5(tmp_path):
    out = tmp_path / "amended.nwb.json"
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a") as io:
        nwbfile = io.read()
        add_processing(nwbfile)
        io.write(nwbfile)
        io.save(out)
    runner = CliRunner()
    for target in ("out.nwb.zarr", "out.nwb"):
        result = runner.invoke(cli, ["convert", str(out), str(tmp_path / target), "-q"])
        assert result.exit_code == 0, result.output
    with nwbzarr.NWBZarrIO(str(tmp_path / "out.nwb.zarr"), "r") as zio:
        got = zio.read()
        check_additions(got)
        assert_same_as_pynwb_append(got, tmp_path, add_processing)
    store = zarr.open_group(str(tmp_path / "out.nwb.zarr"), mode="r", zarr_format=3)
    assert "processing/amended/filtered/data" in [p for p, _ in store.members(max_depth=None)]
    with NWBHDF5IO(str(tmp_path / "out.nwb"), "r") as hio:
        check_additions(hio.read())


def test_save_refuses_original_and_non_virtual(tmp_path):
    refs_path = tmp_path / "index.json"
    index_to_json(ECEPHYS_FILE, refs_path, url="https://example.org/x.nwb")
    with nwbzarr.NWBZarrIO(str(refs_path), mode="a") as io:
        with pytest.raises(ReferenceFileError, match="original"):
            io.save(refs_path)
    with nwbzarr.NWBZarrIO(str(tmp_path / "plain.nwb.zarr"), mode="w") as io:
        with pytest.raises(ReadOnlyError, match="save"):
            io.save(tmp_path / "y.json")
    with pytest.raises(TypeError):
        nwbzarr.save_refs(object(), tmp_path / "z.json")


def test_failed_write_is_not_saved(tmp_path):
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a") as io:
        nwbfile = io.read()
        nwbfile.create_processing_module("broken", "write fails")
        io.writer.mark_failed()  # as after an exception inside io.write
        with pytest.raises(AppendError, match="not saved"):
            io.save(tmp_path / "broken.json")
    assert not (tmp_path / "broken.json").exists()


def test_discarding_unsaved_changes_warns(tmp_path):
    io = nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a", staging_dir=tmp_path / "s")
    nwbfile = io.read()
    add_processing(nwbfile)
    io.write(nwbfile)
    io.close()
    assert io.staging_store.unsaved_changes > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del io, nwbfile
        gc.collect()
    assert any("discarded without being saved" in str(w.message) for w in caught)


def test_save_refs_api_and_temporary_staging_removed(tmp_path):
    io = nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="r+")
    nwbfile = io.read()
    add_processing(nwbfile)
    io.write(nwbfile)
    io.close()
    temporary = io.staging_store.directory
    assert os.path.isdir(temporary)
    report = nwbzarr.save_refs(io, tmp_path / "api.json")
    assert report["staged_files"] >= 1
    del io, nwbfile
    gc.collect()
    assert not os.path.exists(temporary)  # the default staging directory is temporary
    with nwbzarr.NWBZarrIO(str(tmp_path / "api.json"), "r") as again:
        check_additions(again.read())


def test_staging_store_listing_and_deletes(tmp_path):
    from nwbzarr.virtual import ReferenceStore

    base = ReferenceStore(index_hdf5(str(ECEPHYS_FILE)))
    store = StagingStore(base, directory=tmp_path / "s")
    root = zarr.open_group(store, mode="r+", zarr_format=3, use_consolidated=False)
    assert "units" in dict(root.members())
    del root["units"]
    root.create_array("extra", data=np.arange(10_000, dtype="int64"), chunks=(5000,))
    names = dict(root.members())
    assert "units" not in names and "extra" in names
    np.testing.assert_array_equal(root["extra"][:], np.arange(10_000))
    assert not any(k.startswith("units/") for k in store.reference_set().refs)
    assert "units/zarr.json" in base.refset.refs  # the base is untouched
    store.mark_saved()


def test_amend_remote_json_and_hdf5_over_http(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "ecephys.nwb").write_bytes(ECEPHYS_FILE.read_bytes())
    with RangeHTTPServer(served) as server:
        index_to_json(
            served / "ecephys.nwb", served / "ecephys.nwb.json", url=server.url("ecephys.nwb")
        )
        for name in ("ecephys.nwb.json", "ecephys.nwb"):
            out = tmp_path / f"from-{name}.json"
            with nwbzarr.NWBZarrIO(server.url(name), mode="a") as io:
                nwbfile = io.read()
                add_processing(nwbfile)
                io.write(nwbfile)
                io.save(out)
            server.clear_log()
            # the saved JSON names the original by its URL: no local-path permission needed
            with nwbzarr.NWBZarrIO(str(out), "r") as io:
                got = io.read()
                check_additions(got)
                assert len(got.units) == 4
                got.units.spike_times.data[:]
            assert any(r.path == "/ecephys.nwb" for r in server.log)  # original bytes, remote
            assert not any(r.method != "GET" for r in server.log)


def test_amend_an_amended_json(tmp_path):
    first = tmp_path / "first.nwb.json"
    with nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a") as io:
        nwbfile = io.read()
        add_processing(nwbfile)
        io.write(nwbfile)
        io.save(first)
    second = tmp_path / "second.nwb.json"
    with nwbzarr.NWBZarrIO(str(first), mode="r+") as io:
        nwbfile = io.read()
        nwbfile.processing["amended"]["sorted_units"].add_unit(spike_times=[9.0])
        io.write(nwbfile)
        io.save(second)
    with nwbzarr.NWBZarrIO(str(second), "r") as io:
        table = io.read().processing["amended"]["sorted_units"]
        assert [list(table["spike_times"][i]) for i in range(3)] == [[0.5, 1.5, 2.5], [0.25], [9.0]]
        np.testing.assert_array_equal(io.read().processing["amended"]["filtered"].data[:], SAMPLES)
    with nwbzarr.NWBZarrIO(str(first), "r") as io:  # the first amendment is unchanged
        assert len(io.read().processing["amended"]["sorted_units"]) == 2
    # the second JSON still names the first's staged files (it is itself an original)
    doc = json.loads(second.read_text())
    assert any(t.startswith("first.nwb.staging/") for t in doc["nwbzarr"]["relative"].values())


def test_default_staging_directory_inside_json_directory_is_still_copied(tmp_path, monkeypatch):
    # the temporary staging directory lies under the JSON's directory (as when saving to /tmp)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    io = nwbzarr.NWBZarrIO(str(ECEPHYS_FILE), mode="a")
    nwbfile = io.read()
    add_processing(nwbfile)
    io.write(nwbfile)
    io.close()
    temporary = io.staging_store.directory
    assert Path(temporary).parent == tmp_path
    io.save(tmp_path / "x.json")
    del io, nwbfile
    gc.collect()
    assert not os.path.exists(temporary)  # removed with the store...
    with nwbzarr.NWBZarrIO(str(tmp_path / "x.json"), "r") as again:  # ...but nothing lost
        check_additions(again.read())
