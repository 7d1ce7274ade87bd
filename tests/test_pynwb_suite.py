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

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pynwb
import pytest
from sdist_suites import extract_tests, fetch_sdist, pytest_counts, suite_command

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


def _extract(sdist: Path, dest: Path) -> Path:
    extract_tests(sdist, dest)
    root = next(dest.iterdir())
    suite = root / "tests" / "integration" / "hdf5"
    shutil.copy(HERE / "pynwb_suite" / "conftest_pynwb.py", suite / "conftest.py")
    return root


@pytest.fixture(scope="module")
def sdist() -> Path:
    return fetch_sdist("pynwb", pynwb.__version__)


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
        suite_command(root, files),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    counts = pytest_counts(proc.stdout)
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
    extract_tests(sdist, tmp_path / "out", use_filter=use_filter)
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
        extract_tests(sdist, tmp_path / "out", use_filter=False)
    out = tmp_path / "out"
    assert not out.exists() or not any(out.rglob("*"))  # refused before writing anything
