"""Conversion never loses or leaks a user's data (issue 13): destination safety, non-NWB input,
atomic replacement under SIGKILL/SIGINT, and one ``Error:`` line per CLI failure."""

from __future__ import annotations

import datetime
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import nwbzarr
from nwbzarr.cli import EXIT_INTERRUPTED, main
from nwbzarr.errors import (
    NotNWBStoreError,
    NWBZarrError,
    StoreExistsError,
    StoreNotFoundError,
    UnsafeDestinationError,
    UnsupportedDataError,
)
from nwbzarr.storage import atomic

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CLI = [sys.executable, "-m", "nwbzarr.cli"]


# -- helpers ---------------------------------------------------------------------------------


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def _assert_one_error(result_text: str, *must: str) -> str:
    """Exactly one ``Error:`` line, no traceback; the line contains every string of ``must``."""
    assert "Traceback" not in result_text, result_text
    lines = _error_lines(result_text)
    assert len(lines) == 1, result_text
    for text in must:
        assert text in lines[0], lines[0]
    return lines[0]


def _siblings(dst: Path) -> list[str]:
    """Temporary siblings of ``dst`` (``.<name>.nwbzarr-...``)."""
    prefix = f".{dst.name}.nwbzarr-"
    return sorted(n for n in os.listdir(dst.parent) if n.startswith(prefix))


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) with its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()
    }


def _fingerprint(path: Path) -> tuple:
    """Identifier, object ids and the values of every numeric TimeSeries read by read_nwb."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbfile = nwbzarr.read_nwb(path)
        values = {}
        for obj in nwbfile.objects.values():
            data = getattr(obj, "data", None)
            if type(obj).__name__.endswith("Series") and hasattr(data, "shape"):
                arr = np.asarray(data[...])
                if arr.dtype.kind in "iuf":
                    values[obj.name] = (arr.shape, float(arr.astype("f8").sum()))
        return nwbfile.identifier, tuple(sorted(nwbfile.objects)), tuple(sorted(values.items()))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _stale_name(dst: Path, mark: str, pid: int, host: str | None = None) -> Path:
    host = host or atomic._host_tag()
    return dst.with_name(f".{dst.name}.nwbzarr-{mark}-{host}-{pid}-0123abcd{atomic._suffix(dst)}")


@pytest.fixture(scope="module")
def good_store(tmp_path_factory, request) -> Path:
    """A conversion of the ecephys file (read-only template; tests copy it)."""
    from conftest import ECEPHYS_FILE

    if not ECEPHYS_FILE.is_file():
        pytest.skip(f"shared data not found: {ECEPHYS_FILE}")
    out = tmp_path_factory.mktemp("good") / "good.nwb.zarr"
    nwbzarr.convert(ECEPHYS_FILE, out, progress=False)
    return out


@pytest.fixture
def store_copy(good_store, tmp_path) -> Path:
    dst = tmp_path / "out.nwb.zarr"
    shutil.copytree(good_store, dst)
    return dst


# -- 1. destinations that must never be touched ---------------------------------------------


def test_overwrite_refuses_a_plain_directory_unless_forced(ecephys_file, tmp_path):
    victim = tmp_path / "victim_dir"
    victim.mkdir()
    (victim / "thesis.txt").write_text("five years of work")
    runner = CliRunner()
    result = runner.invoke(main, ["convert", "-q", str(ecephys_file), str(victim), "--overwrite"])
    assert result.exit_code != 0
    _assert_one_error(result.output, str(victim), "--force", "not an NWB file")
    assert (victim / "thesis.txt").read_text() == "five years of work"
    assert sorted(os.listdir(tmp_path)) == ["victim_dir"]
    with pytest.raises(UnsafeDestinationError):
        nwbzarr.convert(ecephys_file, victim, overwrite=True, progress=False)

    plain = tmp_path / "notes.nwb.zarr"  # a file with user content under a store-like name
    plain.write_text("notes")
    result = runner.invoke(main, ["convert", "-q", str(ecephys_file), str(plain), "--overwrite"])
    assert result.exit_code != 0 and plain.read_text() == "notes"

    result = runner.invoke(
        main, ["convert", "-q", str(ecephys_file), str(victim), "--overwrite", "--force"]
    )
    assert result.exit_code == 0, result.output
    assert not (victim / "thesis.txt").exists() and (victim / "zarr.json").is_file()
    assert _siblings(victim) == []


def test_destination_equal_to_or_nested_with_source_is_refused(ecephys_file, store_copy):
    before = _tree(store_copy)
    runner = CliRunner()
    local_h5 = store_copy.parent / "x.nwb"
    shutil.copy(ecephys_file, local_h5)
    h5_before = local_h5.read_bytes()
    link = store_copy.parent / "link.nwb.zarr"
    link.symlink_to(store_copy)
    cases = [
        (store_copy, store_copy),  # the same store
        (store_copy, store_copy / "inner.nwb.zarr"),  # inside the source
        (store_copy / "acquisition", store_copy),  # holds the source
        (local_h5, local_h5),  # the same HDF5 file
        (local_h5, store_copy.parent),  # a directory holding the source
        (store_copy, link),  # a symlink to the source
    ]
    for src, dst in cases:
        for extra in (["--overwrite"], ["--overwrite", "--force"]):
            result = runner.invoke(main, ["convert", "-q", str(src), str(dst), *extra])
            assert result.exit_code != 0, (src, dst)
            _assert_one_error(result.output, "source")
        with pytest.raises(UnsafeDestinationError):
            nwbzarr.convert(src, dst, overwrite=True, force=True, progress=False)
    assert _tree(store_copy) == before
    assert local_h5.read_bytes() == h5_before
    assert link.is_symlink()
    assert sorted(os.listdir(store_copy.parent)) == ["link.nwb.zarr", "out.nwb.zarr", "x.nwb"]


def test_failed_overwrite_keeps_the_previous_store(ecephys_file, store_copy, tmp_path):
    before, fingerprint = _tree(store_copy), _fingerprint(store_copy)
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(ecephys_file.read_bytes()[:300_000])
    result = CliRunner().invoke(
        main, ["convert", "-q", str(truncated), str(store_copy), "--overwrite"]
    )
    assert result.exit_code != 0
    _assert_one_error(result.output, "truncated.nwb", "truncated or corrupt")
    with pytest.raises(UnsupportedDataError):
        nwbzarr.convert(truncated, store_copy, overwrite=True, progress=False)

    corrupt = _fletcher32_corrupt(tmp_path / "corrupt.nwb")  # fails in the middle of the copy
    result = CliRunner().invoke(
        main, ["convert", "-q", str(corrupt), str(store_copy), "--overwrite"]
    )
    assert result.exit_code != 0
    _assert_one_error(result.output, "corrupt.nwb", "was left as it was")
    with pytest.raises((OSError, NWBZarrError)):  # h5py's error, or read.py's translation
        nwbzarr.convert(corrupt, store_copy, overwrite=True, progress=False)
    assert _tree(store_copy) == before and _fingerprint(store_copy) == fingerprint
    assert _siblings(store_copy) == []


def _fletcher32_corrupt(path: Path) -> Path:
    """An NWB file whose checksummed dataset has one flipped byte in its fourth chunk."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwb = NWBFile(
        session_description="corrupt",
        identifier="corrupt",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    data = H5DataIO(np.arange(10_000.0), chunks=(1000,), fletcher32=True)
    nwb.add_acquisition(TimeSeries(name="ts", data=data, unit="V", rate=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    with h5py.File(path, "r") as f:
        offset = f["acquisition/ts/data"].id.get_chunk_info(3).byte_offset + 100
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0xFF]))
    return path


def test_overwrite_replaces_an_nwb_hdf5_file_and_an_unfinished_store(good_store, tmp_path):
    back = tmp_path / "back.nwb"
    nwbzarr.convert(good_store, back, progress=False)
    nwbzarr.convert(good_store, back, overwrite=True, progress=False)  # an NWB HDF5 file
    assert h5py.is_hdf5(back)
    with pytest.raises(StoreExistsError):
        nwbzarr.convert(good_store, back, progress=False)
    unfinished = tmp_path / "unfinished.nwb.zarr"
    unfinished.mkdir()
    (unfinished / "zarr.json").write_text(
        '{"zarr_format": 3, "node_type": "group", "attributes": {"_WRITE_IN_PROGRESS": true}}'
    )
    nwbzarr.convert(good_store, unfinished, overwrite=True, progress=False)
    assert _fingerprint(unfinished) == _fingerprint(good_store)


# -- 2. input that is not NWB; HDF5 -> .nwb -------------------------------------------------


def test_non_nwb_sources_are_refused_before_writing(tmp_path):
    import zarr

    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["values"] = np.arange(10)
    group = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    group.create_array("values", data=np.arange(10))
    for src in (plain, tmp_path / "plain.zarr"):
        dst = tmp_path / "out.nwb.zarr"
        with pytest.raises(NotNWBStoreError, match=re.escape(str(src))):
            nwbzarr.convert(src, dst, progress=False)
        result = CliRunner().invoke(main, ["convert", "-q", str(src), str(dst)])
        assert result.exit_code != 0
        _assert_one_error(result.output, str(src), "not an NWB file")
        assert not os.path.lexists(dst) and _siblings(dst) == []


def test_hdf5_to_nwb_writes_an_hdf5_file_keeping_layout(ecephys_file, tmp_path):
    from hdmf.testing import TestCase
    from pynwb import NWBHDF5IO

    out = tmp_path / "out.nwb"
    result = CliRunner().invoke(main, ["convert", "-q", str(ecephys_file), str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and h5py.is_hdf5(out)

    def layout(path):
        found = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("specifications"):
                found[name] = (obj.chunks, obj.compression, obj.shuffle, obj.fletcher32)

        with h5py.File(path, "r") as f:
            f.visititems(visit)
        return found

    assert layout(out) == layout(ecephys_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ecephys_file), "r") as a, NWBHDF5IO(str(out), "r") as b:
            original, copy = a.read(), b.read()
            assert sorted(original.objects) == sorted(copy.objects)
            TestCase().assertContainerEqual(original, copy, ignore_hdmf_attrs=True)
    assert _siblings(out) == []


# -- 3. mode 'a' on a missing file-like name ------------------------------------------------


@pytest.mark.parametrize("name", ["missing.json", "missing.nwb", "missing.h5", "missing.HDF5"])
def test_append_to_a_missing_file_creates_nothing(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(StoreNotFoundError, match="mode 'a'"):
        nwbzarr.NWBZarrIO(str(path), mode="a").read()
    assert os.listdir(tmp_path) == []


# -- 4. one Error line for OS / h5py errors, --debug, Ctrl-C --------------------------------


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write into (root ignores modes: use /sys)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    probe = ro / "probe"
    try:
        probe.mkdir()
    except PermissionError:
        return ro
    probe.rmdir()
    for candidate in (Path("/sys"), Path("/proc/sys")):
        try:
            (candidate / "nwbzarr-probe").mkdir()
        except OSError:
            return candidate
        (candidate / "nwbzarr-probe").rmdir()  # pragma: no cover
    pytest.skip("no read-only directory available")  # pragma: no cover


def test_read_only_destination_is_one_error_line(ecephys_file, tmp_path):
    ro = _read_only_dir(tmp_path)
    cases = [
        ["convert", "-q", str(ecephys_file), str(ro / "out.nwb.zarr")],
        ["convert", "-q", str(ecephys_file), str(ro / "sub" / "out.nwb")],
        ["index", "-q", str(ecephys_file), "-o", str(ro / "out.json")],
    ]
    for args in cases:  # real PermissionErrors from the filesystem
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        _assert_one_error(result.output, str(ro), "cannot write there")
        assert not os.path.lexists(ro / "out.nwb.zarr") and not os.path.lexists(ro / "sub")
    debug = subprocess.run([*CLI, "--debug", *cases[0]], capture_output=True, text=True)
    assert (
        debug.returncode == 1 and "Traceback" in debug.stderr and "PermissionError" in debug.stderr
    )


def _wrapped_interrupt() -> SystemError:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("<cyfunction FastRLock.__exit__> returned a result") from interrupt
    except SystemError as exc:
        return exc


def test_os_errors_during_conversion_are_one_line(ecephys_file, store_copy, monkeypatch):
    from nwbzarr.convert import copy as copy_mod

    before = _tree(store_copy)
    real_export = copy_mod._export
    raised: list[BaseException] = []

    def failing(exc, write=True):
        def export(out, read_io, bar, client, copies):
            if write:
                real_export(out, read_io, bar, client, copies)  # the temp is written
            raised.append(exc)
            raise exc

        return export

    runner = CliRunner()
    args = ["convert", "-q", str(ecephys_file), str(store_copy), "--overwrite"]
    cases = [
        (OSError(errno.ENOSPC, "No space left on device"), 1, ["no space left", "left as it"]),
        (PermissionError(errno.EACCES, "Permission denied", str(store_copy)), 1, ["cannot write"]),
        (FileNotFoundError(errno.ENOENT, "gone", str(ecephys_file)), 1, ["no such file"]),
        (RuntimeError("boom"), 1, ["unexpected RuntimeError", "--debug"]),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, ["interrupted", "left as it was"]),
        # Ctrl-C inside a C extension's callback (h5py's FastRLock.__exit__ on Python 3.13)
        # surfaces as a SystemError caused by the interrupt: still an interrupt, exit 130
        (_wrapped_interrupt(), EXIT_INTERRUPTED, ["interrupted", "left as it was"]),
    ]
    for i, (exc, code, words) in enumerate(cases):
        monkeypatch.setattr(copy_mod, "_export", failing(exc, write=i in (0, 4, 5)))
        result = runner.invoke(main, args)
        assert result.exit_code == code, (exc, result.output)
        _assert_one_error(result.output, *words)
        assert _tree(store_copy) == before and _siblings(store_copy) == []
    monkeypatch.setattr(copy_mod, "_export", failing(OSError(errno.ENOSPC, "full"), False))
    result = runner.invoke(main, ["--debug", *args])
    assert isinstance(result.exception, OSError)  # --debug lets the traceback through
    monkeypatch.setattr(copy_mod, "_export", real_export)
    usage = runner.invoke(main, ["convert", "--no-such-flag"])
    assert usage.exit_code == 2 and "No such option" in usage.output  # click's own, unchanged


def test_sigint_mid_conversion_exits_130_and_cleans_up(tmp_path, store_copy, big_source):
    # the conversion takes about half a second: a loaded machine may finish it before the
    # signal lands, so each attempt converts over its own copy until one is interrupted
    for attempt in range(5):
        target = tmp_path / f"attempt{attempt}" / store_copy.name
        shutil.copytree(store_copy, target)
        before = _tree(target)
        proc = subprocess.Popen(
            [*CLI, "convert", "-q", str(big_source), str(target), "--overwrite"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if not _wait_for(proc, lambda t=target: _temp_files(t) >= 1, timeout=60):
            proc.communicate(timeout=60)
            assert proc.returncode == 0  # finished before its temporary was seen: try again
            continue
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue  # finished first: try again
        assert proc.returncode == EXIT_INTERRUPTED, err
        _assert_one_error(err, "interrupted", "left as it was")
        assert _tree(target) == before and _siblings(target) == []
        return
    pytest.fail("every conversion finished before SIGINT arrived")


# -- SIGKILL at many moments ----------------------------------------------------------------


@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """An NWB file of 41 series (7 MB, ~250 files once converted) whose conversion takes about
    half a second."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    path = tmp_path_factory.mktemp("big") / "big.nwb"
    nwb = NWBFile(
        session_description="kill test",
        identifier="kill-test-new",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    rng = np.random.default_rng(0)
    for i in range(1):
        data = rng.integers(-2000, 2000, size=(200_000, 16)).astype("int16")
        wrapped = H5DataIO(data, chunks=(20_000, 16), compression="gzip", compression_opts=1)
        nwb.add_acquisition(TimeSeries(name=f"big{i}", data=wrapped, unit="V", rate=1000.0))
    for i in range(40):
        series = TimeSeries(
            name=f"small{i:02d}", data=np.arange(2000.0) + i, unit="V", timestamps=np.arange(2000.0)
        )
        nwb.add_acquisition(series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return path


def _temp_files(dst: Path) -> int:
    """Files under the temporary siblings of ``dst`` (0 when none)."""
    total = 0
    for name in _siblings(dst):
        path = dst.parent / name
        total += sum(len(files) for _, _, files in os.walk(path)) if path.is_dir() else 1
    return total


def _armed_cli(args: list[str]) -> subprocess.Popen:
    """A process that has imported the CLI and runs ``nwbzarr ARGS`` once it reads a line.

    The next run's imports then overlap the current run, which keeps the SIGKILL test short;
    what is killed is still the real command (``nwbzarr.cli.main``) in its own process.
    """
    code = (
        "import sys, nwbzarr.cli, nwbzarr.convert, pynwb\n"
        "if sys.stdin.readline().strip() != 'go':\n"
        "    sys.exit(0)\n"
        f"sys.argv = ['nwbzarr', *{args!r}]\n"
        "nwbzarr.cli.main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_for(proc: subprocess.Popen, ready, timeout: float) -> bool:
    """Poll ``ready()`` until it is true (True) or ``proc`` ends or time runs out (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            if ready():
                return True
        except OSError:  # a sibling vanished while being listed
            pass
        time.sleep(0.01)
    return False


# ~15 s of kill cycles: pure file operations, not version-specific, so CI runs it in pass 1
# only (the other conversion-safety tests run in every pass)
@pytest.mark.slow
def test_sigkill_at_many_moments_never_loses_the_destination(
    good_store, store_copy, big_source, tmp_path
):
    """kill -9 a real ``convert --overwrite`` at 11 moments; DST always reads back whole.

    The moments are spread over the run: when the temporary sibling appears, when it holds 1
    file and 10%...98% of the files of a finished conversion (measured first), and right after
    the new store was swapped in (the old one is being removed).
    """
    args = ["convert", "-q", str(big_source), str(store_copy), "--overwrite"]
    scratch = tmp_path / "measure" / "scratch.nwb.zarr"
    nwbzarr.convert(big_source, scratch, progress=False)
    n_files = sum(len(files) for _, _, files in os.walk(scratch))
    shutil.rmtree(scratch.parent)

    old = _fingerprint(store_copy)
    dst_ino = os.stat(store_copy).st_ino

    def files_at(fraction):
        return lambda: _temp_files(store_copy) >= max(1, int(fraction * n_files))

    fractions = (0, 0.1, 0.2, 0.33, 0.45, 0.55, 0.7, 0.85, 0.98)
    moments = [("temp sibling appears", lambda: bool(_siblings(store_copy)))]
    moments += [(f"temp holds {f:.0%} of the files (>= 1)", files_at(f)) for f in fractions]
    moments += [("new store swapped in", lambda: os.stat(store_copy).st_ino != dst_ino)]
    outcomes = []
    new = None
    following = _armed_cli(args)
    try:
        for i, (label, ready) in enumerate(moments):
            proc, t_start = following, time.monotonic()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            following = _armed_cli(args) if i + 1 < len(moments) else None
            hit = _wait_for(proc, ready, timeout=60)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            got = _fingerprint(store_copy)  # must read back, whole, as before or as after
            if got != old:
                new = new or got
                assert got[0] == "kill-test-new" and got == new, label
            took = round(time.monotonic() - t_start, 2)
            state = "new" if got != old else "old"
            outcomes.append((label, hit, state, len(_siblings(store_copy)), took))
            if got != old:  # put the previous conversion back for the next moment
                shutil.rmtree(store_copy)
                shutil.copytree(good_store, store_copy)
                dst_ino = os.stat(store_copy).st_ino
    finally:
        if following is not None:  # an assertion failed: end the armed process we started
            following.kill()
            following.wait()
    print(f"{n_files} files", *outcomes, sep="\n")
    assert sum(hit for _, hit, *_ in outcomes) >= 10, outcomes  # killed mid-run >= 10 times
    # the siblings the killed runs left are removed by the next conversion, which succeeds
    assert any(left for *_, left, _ in outcomes)
    nwbzarr.convert(big_source, store_copy, overwrite=True, progress=False)
    assert _siblings(store_copy) == []
    assert _fingerprint(store_copy)[0] == "kill-test-new"


# -- stale temporaries ------------------------------------------------------------------------


def test_only_provably_stale_siblings_are_removed(ecephys_file, tmp_path):
    dst = tmp_path / "out.nwb.zarr"
    dead = _dead_pid()
    stale_tmp = _stale_name(dst, "tmp", dead)
    stale_tmp.mkdir()
    (stale_tmp / "zarr.json").write_text("{}")
    live = _stale_name(dst, "tmp", os.getppid())  # a running process: in use
    live.mkdir()
    other_host = _stale_name(dst, "tmp", dead, host="elsewhere")
    other_host.mkdir()
    unrelated = tmp_path / f".{dst.name}.nwbzarr-tmp-notes"
    unrelated.write_text("mine")
    other_dst = _stale_name(tmp_path / "other.nwb.zarr", "tmp", dead)
    other_dst.mkdir()
    nwbzarr.convert(ecephys_file, dst, progress=False)
    left = set(os.listdir(tmp_path))
    assert stale_tmp.name not in left
    assert {live.name, other_host.name, unrelated.name, other_dst.name, dst.name} <= left


def test_stale_old_sibling_is_restored_when_destination_is_missing(good_store, tmp_path):
    """A kill between the fallback's two renames leaves DST under its -old- name: restored."""
    dst = tmp_path / "out.nwb.zarr"
    old = _stale_name(dst, "old", _dead_pid())
    shutil.copytree(good_store, old)
    assert atomic.clean_stale_siblings(dst) == [old]
    assert _fingerprint(dst) == _fingerprint(good_store) and not old.exists()


def test_fallback_without_rename_exchange(ecephys_file, good_store, tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_renameat2", lambda *a: False)
    dst = tmp_path / "out.nwb.zarr"
    nwbzarr.convert(good_store, dst, progress=False)
    nwbzarr.convert(ecephys_file, dst, overwrite=True, progress=False)
    back = tmp_path / "back.nwb"
    nwbzarr.convert(dst, back, progress=False)
    nwbzarr.convert(dst, back, overwrite=True, progress=False)
    assert _fingerprint(dst) == _fingerprint(good_store)
    assert sorted(os.listdir(tmp_path)) == ["back.nwb", "out.nwb.zarr"]

    real_rename = os.rename
    calls = []

    def second_rename_fails(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError(errno.EIO, "simulated", str(b))
        return real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", second_rename_fails)
    before = _tree(dst)
    with pytest.raises(OSError, match="simulated"):
        nwbzarr.convert(ecephys_file, dst, overwrite=True, progress=False)
    assert _tree(dst) == before and _siblings(dst) == []


# -- nwbzarr index ----------------------------------------------------------------------------


def test_index_never_replaces_the_source_or_user_files(ecephys_file, tmp_path):
    src = tmp_path / "x.nwb"
    shutil.copy(ecephys_file, src)
    data = src.read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    runner = CliRunner()
    for out in (src, notes, tmp_path):  # a directory: click's own usage error
        result = runner.invoke(main, ["index", "-q", str(src), "-o", str(out)])
        assert result.exit_code != 0, out
        _assert_one_error(result.output, str(out))
        with pytest.raises((UnsafeDestinationError, IsADirectoryError)):
            nwbzarr.virtual.index_to_json(src, out)
    assert src.read_bytes() == data and notes.read_text() == "mine"

    good = tmp_path / "x.nwb.json"
    result = runner.invoke(main, ["index", "-q", str(src), "-o", str(good)])
    assert result.exit_code == 0, result.output
    before = good.read_bytes()
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(data[:300_000])
    result = runner.invoke(main, ["index", "-q", str(truncated), "-o", str(good)])
    assert result.exit_code != 0
    _assert_one_error(result.output, "truncated.nwb")
    assert good.read_bytes() == before  # the previous JSON stays (written atomically)
    result = runner.invoke(main, ["index", "-q", str(src), "-o", str(good)])  # replaced: fine
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "truncated.nwb", "x.nwb", "x.nwb.json"]


def test_real_write_error_mid_conversion_keeps_the_destination(store_copy, big_source):
    """A file size limit (RLIMIT_FSIZE) makes a real write fail with EFBIG mid-conversion."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    before = _tree(store_copy)
    done = subprocess.run(
        [*CLI, "convert", "-q", str(big_source), str(store_copy), "--overwrite"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    _assert_one_error(done.stderr, "File too large", str(store_copy), "left as it was")
    assert _tree(store_copy) == before and _siblings(store_copy) == []


def test_mode_a_read_of_a_missing_store_leaves_nothing(tmp_path):
    from nwbzarr import NWBZarrIO
    from nwbzarr.errors import StoreNotFoundError

    path = tmp_path / "new.nwb.zarr"
    with pytest.raises(StoreNotFoundError, match="no NWB file to read"):
        with NWBZarrIO(str(path), mode="a") as io:
            io.read()
    assert not path.exists()
    # writing a new file through mode 'a' still works
    from pynwb.testing.mock.file import mock_NWBFile

    with NWBZarrIO(str(path), mode="a") as io:
        io.write(mock_NWBFile())
    with NWBZarrIO(str(path), mode="r") as io:
        assert io.read().identifier
