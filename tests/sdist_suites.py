"""Fetch a package's sdist once per user and extract its ``tests/`` tree safely.

Shared by the suites of other projects that nwbzarr runs through its classes
(``test_pynwb_suite.py``: pynwb's integration suite; ``test_hdmf_zarr_suite.py``: hdmf-zarr's
unit suite). The sdist is downloaded with ``pip download --no-binary <package> --no-deps`` into
a per-user cache, ``$NWBZARR_TEST_CACHE`` or ``$XDG_CACHE_HOME/nwbzarr-tests``
(``~/.cache/nwbzarr-tests``), under a file lock so that xdist workers download it once between
them, and moved into place in one step. Extraction uses tarfile's ``data`` filter where Python
has it (>= 3.11.4) and otherwise checks every member here. When the sdist is neither cached nor
downloadable (no network), the calling test is skipped with the command that fetches it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest


def cache_dir() -> Path:
    """Per-user cache of sdists: ``$NWBZARR_TEST_CACHE``, else ``$XDG_CACHE_HOME/nwbzarr-tests``."""
    if os.environ.get("NWBZARR_TEST_CACHE"):
        return Path(os.environ["NWBZARR_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nwbzarr-tests"


def download_command(package: str, version: str, dest: Path) -> list[str]:
    """The pip command that downloads ``package==version``'s sdist into ``dest``."""
    # --no-binary <package> (not :all:): only the package must come as an sdist; its build
    # backend may be a wheel (with :all: pip would build the build dependencies from source)
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-binary",
        package,
        "--no-deps",
        f"{package}=={version}",
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


def fetch_sdist(package: str, version: str) -> Path:
    """The cached sdist of ``package==version``, downloaded once; skips when it cannot be had.

    Parameters
    ----------
    package : str
        Distribution name on the package index (``pynwb``, ``hdmf-zarr``).
    version : str
        Exact version.

    Returns
    -------
    pathlib.Path
        The ``.tar.gz`` in the cache (:func:`cache_dir`).
    """
    cache = cache_dir()
    stem = f"{package.replace('-', '_')}-{version}"
    target = cache / f"{stem}.tar.gz"
    if _is_sdist(target):
        return target
    command = " ".join(shlex.quote(a) for a in download_command(package, version, cache))
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _locked(cache / f"{stem}.lock"):
            if _is_sdist(target):  # another worker fetched it while this one waited
                return target
            # download into a private directory, then move into place in one step
            with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
                proc = subprocess.run(
                    download_command(package, version, Path(tmp)),
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                got = Path(tmp) / target.name
                if proc.returncode != 0 or not _is_sdist(got):
                    errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln]
                    why = (errors or proc.stderr.strip().splitlines() or ["no sdist written"])[-1]
                    pytest.skip(
                        f"{package} {version} sdist not cached and not downloadable "
                        f"({why.strip()}); fetch it once with: {command}"
                    )
                os.replace(got, target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"{package} {version} sdist not cached ({exc}); fetch it once with: {command}")
    return target


def checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
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


def extract_tests(sdist: Path, dest: Path, use_filter: bool | None = None) -> None:
    """Extract the sdist's ``tests/`` tree into ``dest``, safely on every Python >= 3.11.0."""
    if use_filter is None:
        use_filter = hasattr(tarfile, "data_filter")  # Python >= 3.11.4
    with tarfile.open(sdist) as tar:
        if use_filter:
            members = [m for m in tar.getmembers() if "/tests/" in m.name]
            tar.extractall(dest, members=members, filter="data")
        else:
            for member in checked_members(tar):
                tar.extract(member, dest, set_attrs=False)


def suite_command(root: Path, paths: list[str], *options: str) -> list[str]:
    """The command that runs another project's test ``paths`` under ``root`` in a fresh
    interpreter: this Python's pytest, no cache, no xdist, the project's own ``addopts``
    ignored, ``root`` as rootdir (run it with ``cwd=root``)."""
    return [
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
        *options,
        *paths,
    ]


def pytest_counts(output: str) -> dict[str, int]:
    """``{"passed": n, "failed": n, ...}`` from the last line of a ``pytest -q`` run."""
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", tail)}
