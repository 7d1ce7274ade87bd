"""Run pynwb's own integration round-trip suite through nwbzarr.

pynwb ships ``tests/integration`` in its sdist. The test downloads the sdist of the installed
pynwb version (once, into ``~/.cache/nwbzarr`` or ``$NWBZARR_CACHE``), extracts it into a
temporary directory, installs ``pynwb_suite/conftest_pynwb.py`` as the suite's conftest (which
rebinds the mixins' ``NWBHDF5IO`` to :class:`nwbzarr.NWBZarrIO`), and runs it in a subprocess
whose working directory is that temporary directory (the suite writes fixed file names into
the working directory). The suite is split in two halves so ``pytest -n 2`` runs them side by
side. Every test of the suite must pass; pynwb 4.2.0 has 235 (and 3 skipped ros3 tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

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


def _sdist() -> Path:
    version = pynwb.__version__
    cache = Path(os.environ.get("NWBZARR_CACHE", Path.home() / ".cache" / "nwbzarr"))
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"pynwb-{version}.tar.gz"))
    if not found:
        # download into a private directory, then move into place (two workers may race)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-binary",
                    ":all:",
                    "--no-deps",
                    f"pynwb=={version}",
                    "-d",
                    tmp,
                ],
                check=True,
            )
            for got in Path(tmp).glob(f"pynwb-{version}.tar.gz"):
                os.replace(got, cache / got.name)
        found = sorted(cache.glob(f"pynwb-{version}.tar.gz"))
    assert found, f"pip download did not produce pynwb-{version}.tar.gz in {cache}"
    return found[0]


def _extract(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name]
        tar.extractall(dest, members=members, filter="data")
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
