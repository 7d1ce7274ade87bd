"""``nwbzarr inspect`` / ``nwbzarr validate`` against nwbinspector and pynwb on the HDF5 original.

Real data: the shipped sample (data/sample_ecephys.nwb) and every file of ../shared/data/nwb
(skipped when absent). Each file is converted to a store (``nwbzarr convert``) and indexed into
a reference JSON (``nwbzarr index``) beside a copy of it; ``nwbzarr inspect`` on both must give
nwbinspector's findings on the HDF5 original (messages compared without file paths; an ERROR
message by check and exception, not by traceback) and its exit status (0). The measured,
documented differences (docs/toolchain.md) are asserted exactly, not skipped:

* a converted store caches the source's own namespaces (``nwbzarr convert`` keeps their
  versions, where pynwb's HDF5 export re-caches its own), so its findings are the original's
  but for the ASCII attributes below;
* a reference JSON is named ``*.nwb.json``, which nwbinspector's ``check_file_extension`` flags;
* a text attribute the HDF5 file stores as fixed-length ASCII (``colnames`` of old files) is
  served as ``str``, which pynwb's validator calls ``utf`` where the schema says ``ascii``.

Tests that need nwbinspector skip without it; the ones checking the message given without it
run either way.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import NWB_FILES, hdf5_views
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.cli import main

HAS_INSPECTOR = importlib.util.find_spec("nwbinspector") is not None
needs_inspector = pytest.mark.skipif(
    not HAS_INSPECTOR, reason='nwbinspector is not installed (pip install "nwbzarr[inspect]")'
)
ASCII_AS_UTF = "incorrect type - expected 'ascii', got 'utf'"

pytestmark = pytest.mark.usefixtures("quiet_warnings")


# -- helpers -------------------------------------------------------------------------------------
def _views(src: Path, tmp_path: Path) -> dict[str, Path]:
    """The HDF5 copy, its reference JSON beside it, the converted store, pynwb's export."""
    views = hdf5_views(src, tmp_path, cli=True)
    export = tmp_path / (src.stem + ".export.nwb")
    with NWBHDF5IO(str(views["hdf5"]), "r") as s, NWBHDF5IO(str(export), "w") as d:
        d.export(src_io=s)
    return {**views, "export": export}


def _key(message: dict) -> tuple:
    """What a JSON-encoded message says, without its file (as nwbzarr.inspection.message_key)."""
    error = message["importance"] == "ERROR"
    return (
        message["importance"],
        message["severity"],
        message["check_function_name"],
        message["object_type"],
        message["object_name"],
        message["location"],
        "" if error else message["message"],
    )


def _encoded(messages) -> list[dict]:
    from nwbinspector import InspectorOutputJSONEncoder

    return json.loads(json.dumps(list(messages), cls=InspectorOutputJSONEncoder))


def _theirs(path: Path, **kwargs) -> collections.Counter:
    """nwbinspector's own findings on an HDF5 file (``inspect_nwbfile``, as its CLI runs it)."""
    from nwbinspector import inspect_nwbfile

    return collections.Counter(_key(m) for m in _encoded(inspect_nwbfile(str(path), **kwargs)))


def _ours(path: Path | str, tmp_path: Path, *options: str) -> tuple[int, collections.Counter, str]:
    """``nwbzarr inspect PATH --json-file-path ...``: exit status, findings, output."""
    name = str(path).rstrip("/").rsplit("/", 1)[-1]
    report = tmp_path / f"report-{name}-{len(list(tmp_path.iterdir()))}.json"
    args = ["inspect", str(path), "--json-file-path", str(report), *options]
    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        return result.exit_code, collections.Counter(), result.output
    messages = json.loads(report.read_text())["messages"]
    assert all(m["file_path"] == str(path) for m in messages)
    return result.exit_code, collections.Counter(_key(m) for m in messages), result.output


def _without_validation(found: collections.Counter) -> collections.Counter:
    return collections.Counter({k: n for k, n in found.items() if k[0] != "PYNWB_VALIDATION"})


def _ascii_attribute(hdf5: Path, location: str) -> bool:
    """Whether ``location`` (``group/path.attribute``) is a fixed-length ASCII attribute."""
    path, _, name = location.rpartition(".")
    with h5py.File(hdf5, "r") as f:
        if path not in f or name not in f[path].attrs:
            return False
        dtype = f[path].attrs.get_id(name).dtype
        return dtype.kind == "S" or h5py.check_string_dtype(dtype).encoding == "ascii"


def _assert_view_matches(
    ours: collections.Counter, theirs: collections.Counter, hdf5: Path, json_name: bool
) -> None:
    """A reference JSON's (or HDF5 view's) findings: the HDF5 original's, plus the documented
    differences: ``check_file_extension`` on a ``.nwb.json`` name, ASCII attributes as utf."""
    assert not theirs - ours, f"missing: {list((theirs - ours).elements())}"
    for key in (ours - theirs).elements():
        importance, _, check, _, _, location, text = key
        if json_name and check == "check_file_extension":
            assert ".nwb.json" in text, key
        else:
            assert importance == "PYNWB_VALIDATION" and text == ASCII_AS_UTF, key
            assert _ascii_attribute(hdf5, location), key


def _compare_all_views(src: Path, tmp_path: Path) -> dict[str, int]:
    views = _views(src, tmp_path)
    original = _theirs(views["hdf5"])
    exported = _theirs(views["export"])
    status, store, output = _ours(views["store"], tmp_path)
    assert status == 0, output
    assert _without_validation(store) == _without_validation(original)
    # the store caches the source's own namespaces (convert keeps their versions), so its
    # schema validation is the original's too, not that of pynwb's re-cached export
    _assert_view_matches(store, original, views["hdf5"], json_name=False)
    assert exported is not None
    status, refs, output = _ours(views["json"], tmp_path)
    assert status == 0, output
    _assert_view_matches(refs, original, views["hdf5"], json_name=True)
    status, hdf5, output = _ours(views["hdf5"], tmp_path)  # nwbzarr's view of the HDF5 file
    assert status == 0, output
    _assert_view_matches(hdf5, original, views["hdf5"], json_name=False)
    return {
        "hdf5": sum(original.values()),
        "store": sum(store.values()),
        "json": sum(refs.values()),
    }


# -- the same findings as nwbinspector on the HDF5 original --------------------------------------
@needs_inspector
def test_inspect_sample_like_nwbinspector(ecephys_file, tmp_path):
    counts = _compare_all_views(ecephys_file, tmp_path)
    assert counts == {"hdf5": 18, "store": 21, "json": 22}  # docs/toolchain.md


@needs_inspector
@pytest.mark.slow
@pytest.mark.parametrize("src", NWB_FILES, ids=lambda p: p.name)
def test_inspect_shared_files_like_nwbinspector(src, tmp_path):
    _compare_all_views(src, tmp_path)


@needs_inspector
def test_exit_status_and_report_like_nwbinspectors_cli(ecephys_file, tmp_path):
    cli = Path(sys.executable).with_name("nwbinspector")
    if not cli.is_file():
        pytest.skip(f"no nwbinspector command beside {sys.executable}")
    views = _views(ecephys_file, tmp_path)
    theirs_json = tmp_path / "theirs.json"
    # schema validation aside (ASCII attributes, docs/toolchain.md), the store's report is
    # the original's: same findings, same counts block, same exit status
    done = subprocess.run(
        [str(cli), str(views["hdf5"]), "--skip-validate", "--json-file-path", str(theirs_json)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    status, ours, output = _ours(views["store"], tmp_path, "--skip-validate")
    assert (status, done.returncode) == (0, 0), done.stderr
    theirs = collections.Counter(_key(m) for m in json.loads(theirs_json.read_text())["messages"])
    assert ours == theirs

    def summary(text: str) -> list[str]:  # the counts block of the report
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("Scanned"))
        return lines[start : lines.index("*" * 50, start)]

    assert summary(output) == summary(done.stdout)
    assert "NWBInspector Report Summary" in output and "0  ERROR" in output


@needs_inspector
def test_options_like_nwbinspector(ecephys_file, tmp_path):
    from nwbinspector import Importance, load_config

    views = _views(ecephys_file, tmp_path)
    store, hdf5 = views["store"], views["hdf5"]
    cases = [
        (["--threshold", "CRITICAL"], {"importance_threshold": Importance.CRITICAL}),
        (["--config", "dandi"], {"config": load_config(filepath_or_keyword="dandi")}),
        (
            ["--select", "check_subject_age,check_units_resolution_is_set"],
            {"select": ["check_subject_age", "check_units_resolution_is_set"]},
        ),
        (
            ["--ignore", "check_description,check_subject_age"],
            {"ignore": ["check_description", "check_subject_age"]},
        ),
        (["--skip-validate"], {"skip_validate": True}),
    ]
    for options, kwargs in cases:
        status, ours, output = _ours(store, tmp_path, *options)
        assert status == 0, output
        _assert_view_matches(ours, _theirs(hdf5, **kwargs), hdf5, json_name=False)
    status, ours, _ = _ours(store, tmp_path, "--threshold", "CRITICAL", "--skip-validate")
    assert {k[0] for k in ours} == {"CRITICAL", "ERROR"}


@needs_inspector
def test_report_files_and_overwrite(ecephys_file, tmp_path):
    views = _views(ecephys_file, tmp_path)
    report, text = tmp_path / "r.json", tmp_path / "r.txt"
    runner = CliRunner()
    args = ["inspect", str(views["store"]), "--json-file-path", str(report)]
    args += ["--report-file-path", str(text), "--levels", "importance", "--detailed"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    document = json.loads(report.read_text())
    assert set(document) == {"header", "messages"}
    assert set(document["header"]) == {"Timestamp", "Platform", "NWBInspector_version"}
    lines = text.read_text().splitlines()
    assert lines[1] == "NWBInspector Report Summary" and lines[-1] == ""
    assert all(line in first.output for line in lines if line.strip())
    before = report.read_bytes()
    again = runner.invoke(main, args)  # both exist: refused before anything is inspected
    assert again.exit_code == 1
    assert again.output.count("Error:") == 1 and "--overwrite" in again.output
    assert report.read_bytes() == before
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0


@needs_inspector
def test_bad_options_are_one_error_line(ecephys_file, tmp_path):
    views = _views(ecephys_file, tmp_path)
    runner = CliRunner()
    for options, words in (
        (["--levels", "importance,colour"], "colour"),
        (["--config", str(tmp_path / "missing.yaml")], "configuration"),
        (["--modules", "no_such_module_xyz"], "no_such_module_xyz"),
        (["--reverse", "maybe"], "boolean"),
    ):
        result = runner.invoke(main, ["inspect", str(views["store"]), *options])
        assert result.exit_code in (1, 2), (options, result.output)
        assert words in result.output and "Traceback" not in result.output, options


@needs_inspector
def test_unreadable_file_is_an_error_not_a_hidden_finding(ecephys_file, tmp_path):
    from nwbinspector import inspect_nwbfile

    views = _views(ecephys_file, tmp_path)
    broken = tmp_path / "broken.nwb.json"
    broken.write_text(views["json"].read_text()[:5000])  # truncated
    hidden = list(inspect_nwbfile(str(broken), skip_validate=True))
    assert [m.importance.name for m in hidden] == ["ERROR"]  # nwbinspector: one message, exit 0
    result = CliRunner().invoke(main, ["inspect", str(broken)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and str(broken) in lines[0]


@needs_inspector
def test_inspect_urls_like_local_files(ecephys_file, tmp_path):
    """Stores, HDF5 files and reference JSON over HTTP (``--header`` reaches the server)."""
    from http_server import RangeHTTPServer

    views = _views(ecephys_file, tmp_path)
    served = tmp_path / "served"
    served.mkdir()
    shutil.copytree(views["store"], served / views["store"].name)
    shutil.copy(views["hdf5"], served / views["hdf5"].name)
    header = {"Authorization": "Bearer inspect"}
    with RangeHTTPServer(served, required_headers=header) as server:
        refs = served / views["json"].name
        nwbzarr.index_to_json(str(views["hdf5"]), str(refs), url=server.url(views["hdf5"].name))
        for kind in ("store", "hdf5", "json"):
            url = server.url(views[kind].name)
            status, remote, output = _ours(
                url, tmp_path, "--header", "Authorization: Bearer inspect"
            )
            assert status == 0, output
            _, local, _ = _ours(views[kind], tmp_path)
            assert remote == local, kind
        refused = CliRunner().invoke(main, ["inspect", server.url(views["store"].name)])
        assert refused.exit_code == 1 and refused.output.startswith("Error:")


# -- the uint64 index fix, on real data ----------------------------------------------------------
def test_unsigned_index_arrays_read_like_h5py(ecephys_file, tmp_path):
    views = _views(ecephys_file, tmp_path)
    with h5py.File(ecephys_file, "r") as f:
        expected = f["units/spike_times"]
        picks = np.array([0, 2, 5, 7], dtype="uint64")
        for kind in ("store", "json", "hdf5"):
            nwbfile = nwbzarr.read_nwb(str(views[kind]))
            data = nwbfile.units["spike_times"].target.data
            for index in (picks, picks.astype("uint8"), list(picks), (picks,)):
                np.testing.assert_array_equal(data[index], expected[picks], err_msg=kind)
            with pytest.raises(TypeError, match="integer dtypes") as ours:
                data[picks.astype(float)]
            with pytest.raises(TypeError) as theirs:
                expected[picks.astype(float)]
            assert str(ours.value) == str(theirs.value)  # the ERROR finding nwbinspector reports
            with pytest.raises(IndexError):
                data[np.array([2**63 + 1], dtype="uint64")]
            nwbfile.read_io.close()


@needs_inspector
def test_units_duration_check_runs_on_pynwb_written_units(tmp_path):
    """Files pynwb writes today index spike_times with uint8: nwbinspector's duration check
    then reads ``spike_times[uint64 array]``, which zarr-python < 3.4 refused."""
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()
    for start in (0.0, 10.0, 20.0):
        nwbfile.add_unit(spike_times=[start + 0.5, start + 1.5, start + 3.0])
    src = tmp_path / "units.nwb"
    with NWBHDF5IO(str(src), "w") as io:
        io.write(nwbfile)
    with h5py.File(src, "r") as f:
        assert f["units/spike_times_index"].dtype.kind == "u"
    store = tmp_path / "units.nwb.zarr"
    nwbzarr.convert(str(src), str(store), progress=False)
    theirs = _theirs(src, select=["check_units_table_duration"])
    assert not theirs  # runs cleanly on HDF5
    for path in (store, src):
        status, ours, output = _ours(path, tmp_path, "--select", "check_units_table_duration")
        assert status == 0, output
        assert _without_validation(ours) == theirs, path


@needs_inspector
def test_messages_locate_objects_held_as_zarr_arrays(tmp_path):
    """nwbinspector locates an object from its dataset fields; zarr arrays count too (shim)."""
    from nwbinspector import _registration

    from nwbzarr import compat

    assert compat.nwbinspector_locates_zarr_arrays() is True
    assert compat.nwbinspector_locates_zarr_arrays() is True  # idempotent
    import zarr

    assert zarr.Array in _registration._DATASET_TYPES and _registration._HAS_HDMF_ZARR
    assert _registration._parse_location.__code__.co_names.count("zarr")  # what it reads
    from pynwb.testing.mock.base import mock_TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()
    nwbfile.add_acquisition(mock_TimeSeries(name="series", description="no description"))
    src = tmp_path / "series.nwb"
    with NWBHDF5IO(str(src), "w") as io:
        io.write(nwbfile)
    store = tmp_path / "series.nwb.zarr"
    nwbzarr.convert(str(src), str(store), progress=False)
    theirs = _theirs(src, select=["check_description"])
    status, ours, _ = _ours(store, tmp_path, "--select", "check_description", "--skip-validate")
    assert ours == _without_validation(theirs)
    assert {k[5] for k in ours} == {"/acquisition/series"}


# -- nwbzarr validate -----------------------------------------------------------------------------
def _pynwb_validate(path: Path) -> tuple[int, list[str]]:
    import pynwb

    errors = sorted(str(e) for e in pynwb.validate(path=str(path)))
    return (1 if errors else 0), errors


def _validate_errors(output: str) -> list[str]:
    lines = output.splitlines()
    if " - found the following errors:" not in lines:
        return []
    start = lines.index(" - found the following errors:") + 1
    return sorted(line for line in lines[start:] if "(" in line and "):" in line)


def test_validate_like_pynwb(ecephys_file, tmp_path):
    views = _views(ecephys_file, tmp_path)
    runner = CliRunner()
    # a store: pynwb's own validate(path=) on it; against the HDF5 original, the same errors
    # but for text attributes HDF5 stored as fixed-length ASCII (docs/toolchain.md)
    result = runner.invoke(main, ["validate", str(views["store"]), "--skip-inspect"])
    ours = _validate_errors(result.output)
    assert (result.exit_code, ours) == _pynwb_validate(views["store"])
    _, original = _pynwb_validate(views["hdf5"])
    assert [e for e in original if e not in ours] == []
    assert all(e.endswith(ASCII_AS_UTF) for e in ours if e not in original)
    assert f"Validating {views['store']} against cached namespace information" in result.output
    json_out = tmp_path / "validation.json"
    result = runner.invoke(
        main,
        ["validate", str(views["json"]), "--skip-inspect", "--json-output-path", str(json_out)],
    )
    document = json.loads(json_out.read_text())
    assert document["exitcode"] == result.exit_code == 1
    assert sorted(document["errors"]) == _validate_errors(result.output)
    listed = runner.invoke(main, ["validate", str(views["json"]), "--list-namespaces"])
    assert (listed.exit_code, listed.output.split()) == (0, ["core"])
    wrong = runner.invoke(main, ["validate", str(views["store"]), "--ns", "nope"])
    assert wrong.exit_code == 1 and wrong.output.startswith("Error:")
    assert len(wrong.output.splitlines()) == 1 and "'nope'" in wrong.output


@pytest.mark.slow
@pytest.mark.parametrize("src", NWB_FILES, ids=lambda p: p.name)
def test_validate_reference_json_like_pynwb_on_hdf5(src, tmp_path):
    local = tmp_path / src.name
    shutil.copy(src, local)
    refs = tmp_path / (src.stem + ".nwb.json")
    nwbzarr.index_to_json(str(local), str(refs))
    result = CliRunner().invoke(main, ["validate", str(refs), "--skip-inspect"])
    status, theirs = _pynwb_validate(local)
    ours = _validate_errors(result.output)
    extra = [e for e in ours if e not in theirs]
    assert [e for e in theirs if e not in ours] == []
    assert all(e.endswith(ASCII_AS_UTF) for e in extra), extra  # docs/toolchain.md
    assert result.exit_code == (1 if ours else 0)
    if not extra:
        assert result.exit_code == status


@needs_inspector
def test_validate_then_inspects(ecephys_file, tmp_path):
    views = _views(ecephys_file, tmp_path)
    result = CliRunner().invoke(main, ["validate", str(views["store"])])
    assert result.exit_code == 1  # the store has schema errors (as the original has)
    assert "NWBInspector Report Summary" in result.output
    assert "PYNWB_VALIDATION" not in result.output.split("NWBInspector Report Summary")[1]


# -- without nwbinspector --------------------------------------------------------------------------
def test_without_nwbinspector(ecephys_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nwbinspector", None)  # import nwbinspector -> ImportError
    store = tmp_path / "s.nwb.zarr"
    nwbzarr.convert(str(ecephys_file), str(store), progress=False)
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(store)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error:") and 'pip install "nwbzarr[inspect]"' in lines[0]
    result = runner.invoke(main, ["validate", str(store)])
    assert result.exit_code == 1  # schema validation needs only pynwb
    assert " - found the following errors:" in result.output
    skipped = "best-practice checks skipped: nwbinspector is not installed"
    assert f'{skipped} (pip install "nwbzarr[inspect]")' in result.output
    from nwbzarr.inspection import import_nwbinspector

    with pytest.raises(ImportError, match=r"nwbzarr\[inspect\]"):
        import_nwbinspector()
