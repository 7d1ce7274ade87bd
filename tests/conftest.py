"""Shared fixtures: the shipped sample file, and the real data files under ../shared/data.

``ECEPHYS_FILE`` (fixture ``ecephys_file``) is the small real NWB file shipped in the repository
(``data/sample_ecephys.nwb``, see ``data/README.md``): always present, tests using it never skip.

Every other real file lives outside the repository, in ``../shared/data`` (resolved from this
file, not from the working directory), or in ``$NWBZARR_SHARED_DATA`` when that is set (pointing
it at a missing directory runs the suite as a fresh clone without shared data would). Tests reach
those files only through this module: the ``shared_data`` fixture, :func:`shared` (a path that
skips the calling test when absent), or the module-level lists (empty when absent, so their
parametrized tests are reported as skipped). Nothing here fails for want of shared data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ECEPHYS_FILE = REPO / "data" / "sample_ecephys.nwb"

SHARED_DATA = Path(
    os.environ.get("NWBZARR_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
NWB_DIR = SHARED_DATA / "nwb"
NWB_FILES = sorted(NWB_DIR.glob("*.nwb")) if NWB_DIR.is_dir() else []


def shared(*parts: str | os.PathLike) -> Path:
    """The path ``SHARED_DATA/parts...``; skips the calling test when it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared data not found: {path} (real files kept outside the repository in "
            "../shared/data; set NWBZARR_SHARED_DATA to use another directory)"
        )
    return path


@pytest.fixture
def shared_data() -> Path:
    """The shared data directory; the test is skipped when it is absent."""
    return shared()


@pytest.fixture
def ecephys_file() -> Path:
    """The real NWB file shipped in the repository (data/sample_ecephys.nwb)."""
    assert ECEPHYS_FILE.is_file(), f"the shipped sample is missing: {ECEPHYS_FILE}"
    return ECEPHYS_FILE
