"""Shared fixtures: paths of the real data files under ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NWB_DIR = SHARED_DATA / "nwb"
NWB_FILES = sorted(NWB_DIR.glob("*.nwb")) if NWB_DIR.is_dir() else []
ECEPHYS_FILE = NWB_DIR / "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb"


@pytest.fixture
def ecephys_file() -> Path:
    if not ECEPHYS_FILE.is_file():
        pytest.skip(f"shared data not found: {ECEPHYS_FILE}")
    return ECEPHYS_FILE
