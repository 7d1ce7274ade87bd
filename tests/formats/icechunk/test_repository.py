"""Icechunk export of an HDF5 file's reference set, reading it back, and amending it as a new
commit (nwbzarr.formats.icechunk.repository, ``nwbzarr index SRC --icechunk REPO``;
docs/icechunk.md)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings

import numpy as np
import pytest

icechunk = pytest.importorskip("icechunk")

from click.testing import CliRunner  # noqa: E402
from nwb_compare import (  # noqa: E402
    add_processing,
    assert_same_as_pynwb_append,
    assert_same_nwbfile,
    check_additions,
)
from pynwb import NWBHDF5IO  # noqa: E402

import nwbzarr  # noqa: E402
from nwbzarr.cli import main  # noqa: E402
from nwbzarr.compat import default_buffer_prototype, sync  # noqa: E402
from nwbzarr.errors import (  # noqa: E402
    IcechunkError,
    IcechunkUnavailableError,
    IncompleteStoreError,
    StoreExistsError,
    StoreNotFoundError,
    UntrustedReferenceError,
)
from nwbzarr.virtual import (  # noqa: E402
    AccessPolicy,
    index_to_icechunk,
    open_icechunk_repository,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _root_document(session) -> dict:
    raw = sync(session.store.get("zarr.json", default_buffer_prototype()))
    return json.loads(raw.to_bytes())


def _read(session):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return nwbzarr.read_nwb(session.store)


@pytest.fixture
def source(ecephys_file, tmp_path):
    """A copy of the sample beside the repositories (the default policy allows it)."""
    copy = tmp_path / "session.nwb"
    shutil.copyfile(ecephys_file, copy)
    return copy


def test_index_read_amend_two_snapshots(source, tmp_path):
    repo_dir = tmp_path / "session.icechunk"
    start = time.perf_counter()
    first = index_to_icechunk(source, repo_dir, message="index the sample")
    elapsed = time.perf_counter() - start
    assert elapsed < 10
    repo = open_icechunk_repository(repo_dir)
    assert [s.message for s in repo.ancestry(snapshot_id=first)][0] == "index the sample"
    # chunks stay in the .nwb: the repository holds metadata and small values only
    stored = sum(p.stat().st_size for p in repo_dir.rglob("*") if p.is_file())
    assert stored < source.stat().st_size

    session = repo.readonly_session(snapshot_id=first)
    root = _root_document(session)
    assert "consolidated_metadata" not in root  # Icechunk keeps node metadata itself
    nwbfile = _read(session)
    with NWBHDF5IO(str(source), "r") as h5:
        assert_same_nwbfile(h5.read(), nwbfile, source)
    nwbfile.read_io.close()

    writable = repo.writable_session("main")
    with nwbzarr.NWBZarrIO(writable.store, mode="a") as io:
        amended = io.read()
        add_processing(amended)
        io.write(amended)
    second = writable.commit("add a processing module")
    assert second != first

    old = _read(repo.readonly_session(snapshot_id=first))
    assert "amended" not in old.processing
    old.read_io.close()
    new_session = repo.readonly_session(snapshot_id=second)
    root = _root_document(new_session)
    assert "consolidated_metadata" not in root
    assert "_WRITE_IN_PROGRESS" not in root["attributes"]
    new = _read(new_session)
    check_additions(new)
    assert_same_as_pynwb_append(new, tmp_path, add_processing)
    new.read_io.close()
    with nwbzarr.NWBZarrIO(repo.readonly_session("main").store, "r") as io:
        assert "amended" in io.read().processing


def test_cli_index_then_new_commit(source, tmp_path):
    repo_dir = tmp_path / "cli.icechunk"
    runner = CliRunner()
    result = runner.invoke(main, ["index", str(source), "--icechunk", str(repo_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("committed ")
    first = result.output.split()[1]

    again = runner.invoke(main, ["index", str(source), "--icechunk", str(repo_dir)])
    assert again.exit_code == 1
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert "not empty" in lines[0] and "--new-commit" in lines[0]

    result = runner.invoke(
        main,
        ["index", "-q", str(source), "--icechunk", str(repo_dir), "--new-commit", "-m", "again"],
    )
    assert result.exit_code == 0, result.output
    repo = open_icechunk_repository(repo_dir)
    history = list(repo.ancestry(branch="main"))
    assert history[0].message == "again" and history[1].id == first
    with nwbzarr.NWBZarrIO(repo.readonly_session(snapshot_id=first).store, "r") as io:
        assert io.read().identifier

    usage = runner.invoke(main, ["index", str(source)])
    assert usage.exit_code == 2 and "--icechunk" in usage.output


def test_refuses_a_directory_that_is_not_empty(source, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("user data")
    for if_exists in ("error", "commit"):
        with pytest.raises(StoreExistsError, match="nothing was written"):
            index_to_icechunk(source, target, if_exists=if_exists)
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "user data"


def test_missing_or_remote_source_writes_nothing(tmp_path):
    repo_dir = tmp_path / "repo"
    with pytest.raises(StoreNotFoundError, match="no such file"):
        index_to_icechunk(tmp_path / "missing.nwb", repo_dir)
    with pytest.raises(IcechunkError, match="local files only"):
        index_to_icechunk("https://example.org/x.nwb", repo_dir)
    assert not repo_dir.exists()
    result = CliRunner().invoke(
        main, ["index", str(tmp_path / "missing.nwb"), "--icechunk", str(repo_dir)]
    )
    assert result.exit_code == 1 and result.output.startswith("Error:")
    assert "missing.nwb" in result.output and not repo_dir.exists()
    with pytest.raises(StoreNotFoundError):
        open_icechunk_repository(repo_dir)
    assert not repo_dir.exists()


def test_container_outside_allowed_roots_is_refused(source, tmp_path, monkeypatch):
    repo_dir = tmp_path / "deep" / "repo"
    index_to_icechunk(source, repo_dir)
    monkeypatch.delenv("NWBZARR_ALLOWED_ROOTS", raising=False)
    with pytest.raises(UntrustedReferenceError):
        open_icechunk_repository(repo_dir)  # the .nwb is not beside the repository
    repo = open_icechunk_repository(repo_dir, policy=AccessPolicy(allow_local=[tmp_path]))
    _read(repo.readonly_session("main")).read_io.close()


def test_changed_source_is_not_read(source, tmp_path):
    repo_dir = tmp_path / "repo"
    index_to_icechunk(source, repo_dir)
    later = time.time() + 60
    os.utime(source, (later, later))
    nwbfile = _read(open_icechunk_repository(repo_dir).readonly_session("main"))
    with pytest.raises(Exception, match="checksum"):
        nwbfile.units["spike_times"].target.data[:]
    nwbfile.read_io.close()


def test_path_icechunk_cannot_read_back_is_refused(source, tmp_path):
    spaced = tmp_path / "with space.nwb"
    shutil.copyfile(source, spaced)
    with pytest.raises(IcechunkError, match="rename or move"):
        index_to_icechunk(spaced, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_failed_amendment_is_refused_after_commit(source, tmp_path):
    """A write that fails half way leaves the in-progress marker in the session: committed
    anyway, the snapshot is refused by readers instead of showing half an amendment."""
    from hdmf.data_utils import DataChunkIterator
    from pynwb import TimeSeries

    def rows():
        yield np.zeros(4)
        raise RuntimeError("boom")

    repo_dir = tmp_path / "repo"
    good = index_to_icechunk(source, repo_dir)
    repo = open_icechunk_repository(repo_dir)
    writable = repo.writable_session("main")
    with pytest.raises(RuntimeError, match="boom"):
        with nwbzarr.NWBZarrIO(writable.store, mode="a") as io:
            nwbfile = io.read()
            module = nwbfile.create_processing_module("broken", "a write that fails")
            module.add(TimeSeries(name="ts", data=DataChunkIterator(rows()), rate=1.0, unit="V"))
            io.write(nwbfile)
    writable.commit("half an amendment")
    with pytest.raises(IncompleteStoreError):
        nwbzarr.read_nwb(repo.readonly_session("main").store)
    _read(repo.readonly_session(snapshot_id=good)).read_io.close()  # the old one still reads


def test_missing_icechunk_is_named(source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "icechunk", None)
    with pytest.raises(IcechunkUnavailableError, match=r"nwbzarr\[icechunk\]"):
        index_to_icechunk(source, tmp_path / "repo")
    result = CliRunner().invoke(main, ["index", str(source), "--icechunk", str(tmp_path / "r")])
    assert result.exit_code == 1 and "pip install" in result.output


def test_export_into_a_new_session(ecephys_file, tmp_path):
    """Mode 'w' on a session's store writes a self-contained copy (ordinary chunks)."""
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "copy")))
    session = repo.writable_session("main")
    with NWBHDF5IO(str(ecephys_file), "r") as h5:
        with nwbzarr.NWBZarrIO(session.store, "w") as io:
            io.export(src_io=h5)
    snapshot = session.commit("export")
    nwbfile = _read(repo.readonly_session(snapshot_id=snapshot))
    with NWBHDF5IO(str(ecephys_file), "r") as h5:
        assert_same_nwbfile(h5.read(), nwbfile, ecephys_file)
    nwbfile.read_io.close()
