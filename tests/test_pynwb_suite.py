"""Run pynwb's own integration round-trip suite through nwbzarr.

pynwb ships ``tests/integration`` in its sdist. The test fetches the sdist of the installed
pynwb version once (``pip download --no-binary pynwb --no-deps``, about 36 MB) into a per-user
cache, ``$NWBZARR_TEST_CACHE`` or ``$XDG_CACHE_HOME/nwbzarr-tests`` (``~/.cache/nwbzarr-tests``),
under a file lock so that xdist workers download it once between them. It is extracted into a
temporary directory (with tarfile's ``data`` filter where Python has it, >= 3.11.4; otherwise
every member is checked here), ``pynwb_suite/conftest_pynwb.py`` is installed as the suite's
conftest (which rebinds the mixins' ``NWBHDF5IO`` to :class:`nwbzarr.NWBZarrIO`), and the suite
runs in a subprocess whose working directory is that temporary directory (the suite writes fixed
file names into the working directory). The suite is split in two halves so ``pytest -n 2`` runs
them side by side. Every test of the suite must pass; pynwb 4.2.0 has 235 (and 3 skipped ros3
tests). When the sdist is neither cached nor downloadable (no network), the tests are skipped
with the command that fetches it.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pynwb
import pytest

HERE = Path(__file__).parent
SUITE_FILES = (  # pynwb/tests/integration/hdf5, balanced into two halves by run time
    (
        "test_io.py",
        "test_ecephys.py",
        "test_icephys.py",
        "test_nwbfile.py",
        "test_base.py",
        "test_extension.py",
        "test_device.py",
    ),
    (
        "test_ophys.py",
        "test_misc.py",
        "test_image.py",
        "test_behavior.py",
        "test_modular_storage.py",
        "test_scratch.py",
        "test_file_copy.py",
        "test_event.py",
        "test_ogen.py",
        "test_retinotopy.py",
    ),
)


def _cache_dir() -> Path:
    if os.environ.get("NWBZARR_TEST_CACHE"):
        return Path(os.environ["NWBZARR_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nwbzarr-tests"


def _download_command(version: str, dest: Path) -> list[str]:
    # --no-binary pynwb (not :all:): only pynwb must come as an sdist; its build backend may be
    # a wheel (with :all: pip would have to build the build dependencies from source too)
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-binary",
        "pynwb",
        "--no-deps",
        f"pynwb=={version}",
        "-d",
        str(dest),
    ]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``; elsewhere none: the download is still
    moved into place atomically, two processes may just both fetch it)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_sdist(path: Path) -> bool:
    return path.is_file() and tarfile.is_tarfile(path)


def _sdist() -> Path:
    """The cached sdist of the installed pynwb, downloaded once; skips when it cannot be had."""
    version = pynwb.__version__
    cache = _cache_dir()
    target = cache / f"pynwb-{version}.tar.gz"
    if _is_sdist(target):
        return target
    command = " ".join(shlex.quote(a) for a in _download_command(version, cache))
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _locked(cache / f"pynwb-{version}.lock"):
            if _is_sdist(target):  # another worker fetched it while this one waited
                return target
            # download into a private directory, then move into place in one step
            with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
                proc = subprocess.run(
                    _download_command(version, Path(tmp)),
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                got = Path(tmp) / target.name
                if proc.returncode != 0 or not _is_sdist(got):
                    errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln]
                    why = (errors or proc.stderr.strip().splitlines() or ["no sdist written"])[-1]
                    pytest.skip(
                        f"pynwb {version} sdist not cached and not downloadable ({why.strip()}); "
                        f"fetch it once with: {command}"
                    )
                os.replace(got, target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pynwb {version} sdist not cached ({exc}); fetch it once with: {command}")
    return target


def _checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The sdist's ``tests/`` members, each refused unless it stays inside the destination.

    What tarfile's ``data`` filter does, for Pythons without it (< 3.11.4): no absolute or
    drive-qualified name, no ``..``, links only to members inside the archive's tree, regular
    files, directories and links only; modes and owners are not applied (see :func:`_extract`).
    """
    members = []
    for member in tar.getmembers():
        if "/tests/" not in member.name:
            continue
        name = member.name.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise tarfile.TarError(f"unsafe member name in sdist: {member.name!r}")
        if member.issym() or member.islnk():
            link = member.linkname.replace("\\", "/")
            base = posixpath.dirname(name) if member.issym() else ""
            resolved = posixpath.normpath(posixpath.join(base, link))
            if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                raise tarfile.TarError(f"link escaping the sdist: {member.name!r} -> {link!r}")
        elif not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"special file in sdist: {member.name!r}")
        members.append(member)
    return members


def _extract_tests(sdist: Path, dest: Path, use_filter: bool | None = None) -> None:
    """Extract the sdist's ``tests/`` tree into ``dest``, safely on every Python >= 3.11.0."""
    if use_filter is None:
        use_filter = hasattr(tarfile, "data_filter")  # Python >= 3.11.4
    with tarfile.open(sdist) as tar:
        if use_filter:
            members = [m for m in tar.getmembers() if "/tests/" in m.name]
            tar.extractall(dest, members=members, filter="data")
        else:
            for member in _checked_members(tar):
                tar.extract(member, dest, set_attrs=False)


def _extract(sdist: Path, dest: Path) -> Path:
    _extract_tests(sdist, dest)
    root = next(dest.iterdir())
    suite = root / "tests" / "integration" / "hdf5"
    shutil.copy(HERE / "pynwb_suite" / "conftest_pynwb.py", suite / "conftest.py")
    return root


def _counts(output: str) -> dict[str, int]:
    tail = output.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", tail)}


@pytest.fixture(scope="module")
def sdist() -> Path:
    return _sdist()


def test_suite_files_are_covered(sdist: Path, tmp_path: Path) -> None:
    """The two halves list every test module of the installed pynwb's suite."""
    root = _extract(sdist, tmp_path)
    present = {p.name for p in (root / "tests/integration/hdf5").glob("test_*.py")}
    assert present == set(SUITE_FILES[0]) | set(SUITE_FILES[1])


@pytest.mark.parametrize(
    "half", [pytest.param(i, marks=pytest.mark.xdist_group(f"pynwb{i}")) for i in (0, 1)]
)
def test_pynwb_integration_suite(sdist: Path, tmp_path: Path, half: int) -> None:
    """Every test in this half of pynwb's integration suite passes through NWBZarrIO."""
    root = _extract(sdist, tmp_path)
    files = [f"tests/integration/hdf5/{name}" for name in SUITE_FILES[half]]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-o",
            "addopts=",
            "--rootdir",
            str(root),
            *files,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    counts = _counts(proc.stdout)
    assert proc.returncode == 0 and counts.get("failed", 0) == 0, proc.stdout[-8000:]
    assert counts.get("passed", 0) > 0, proc.stdout[-2000:]


# -- the portable extraction, on a hand-made archive -----------------------------------------------
def _tar(path: Path, entries: list[tuple[str, str | None]]) -> Path:
    """A .tar.gz of (name, linkname) entries: a regular file when linkname is None."""
    with tarfile.open(path, "w:gz") as tar:
        for name, linkname in entries:
            info = tarfile.TarInfo(name)
            if linkname is None:
                data = b"x = 1\n"
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE
                info.linkname = linkname
                tar.addfile(info)
    return path


@pytest.mark.parametrize(
    "use_filter", [False, True] if hasattr(tarfile, "data_filter") else [False]
)
def test_extract_keeps_tests_only(tmp_path: Path, use_filter: bool) -> None:
    sdist = _tar(
        tmp_path / "p.tar.gz",
        [("p-1/tests/a/test_x.py", None), ("p-1/src/p.py", None), ("p-1/tests/b", "a/test_x.py")],
    )
    _extract_tests(sdist, tmp_path / "out", use_filter=use_filter)
    assert (tmp_path / "out/p-1/tests/a/test_x.py").read_text() == "x = 1\n"
    assert (tmp_path / "out/p-1/tests/b").is_symlink()
    assert not (tmp_path / "out/p-1/src").exists()


@pytest.mark.parametrize(
    "entry",
    [
        ("/abs/tests/x.py", None),
        ("p-1/tests/../../x.py", None),
        ("p-1/tests/up", "../../../etc/passwd"),
        ("p-1/tests/abs", "/etc/passwd"),
    ],
)
def test_portable_extract_refuses_escapes(tmp_path: Path, entry: tuple[str, str | None]) -> None:
    sdist = _tar(tmp_path / "bad.tar.gz", [entry])
    with pytest.raises(tarfile.TarError):
        _extract_tests(sdist, tmp_path / "out", use_filter=False)
    out = tmp_path / "out"
    assert not out.exists() or not any(out.rglob("*"))  # refused before writing anything
