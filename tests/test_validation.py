"""Files written by nwbzarr pass pynwb's validator; JSON attributes keep their spec dtypes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import zarr
from pynwb.ecephys import ElectrodeGroup
from pynwb.icephys import PatchClampSeries
from pynwb.testing.mock.file import mock_NWBFile

import nwbzarr

START = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _file_with_typed_attributes():
    nwbfile = mock_NWBFile(session_start_time=START)
    device = nwbfile.create_device(name="dev")
    electrode = nwbfile.create_icephys_electrode(name="elec", description="d", device=device)
    nwbfile.add_acquisition(
        PatchClampSeries(
            name="pcs",
            data=np.arange(5.0),
            unit="A",
            electrode=electrode,
            rate=10.0,
            gain=1.0,
            sweep_number=np.uint32(7),
            stimulus_description="s",
        )
    )
    group = ElectrodeGroup(
        name="eg",
        description="d",
        location="here",
        device=device,
        position=np.array((1.0, 2.0, 3.0), dtype=[("x", float), ("y", float), ("z", float)]),
    )
    nwbfile.add_electrode_group(group)
    return nwbfile


def test_validator_passes_and_attribute_dtypes_restored(tmp_path):
    path = tmp_path / "typed.nwb.zarr"
    with nwbzarr.NWBZarrIO(path, "w") as io:
        io.write(_file_with_typed_attributes())
    # stored as a plain JSON number: the width lives in the spec, not in the store
    assert zarr.open_group(path, mode="r")["acquisition/pcs"].attrs["sweep_number"] == 7
    with nwbzarr.NWBZarrIO(path, "r") as io:
        nwbfile = io.read()
        sweep = nwbfile.acquisition["pcs"].sweep_number
        assert sweep == 7 and np.asarray(sweep).dtype == np.uint32
        position = nwbfile.electrode_groups["eg"].position
        assert position.shape == () and position.dtype.names == ("x", "y", "z")
        assert tuple(position[()].tolist()) == (1.0, 2.0, 3.0)


VALIDATE = """
import sys, pynwb, nwbzarr
sys.path.insert(0, sys.argv[2])
from test_validation import _file_with_typed_attributes
with nwbzarr.NWBZarrIO(sys.argv[1], "w") as io:
    io.write(_file_with_typed_attributes())
with nwbzarr.NWBZarrIO(sys.argv[1], "r") as io:
    errors = pynwb.validate(io=io)
# discovery by path: pynwb's backend lookup finds the store after 'import nwbzarr'
errors += pynwb.validate(path=sys.argv[1])
errors += pynwb.validate(path=sys.argv[1], use_cached_namespaces=False)
nwbfile = pynwb.read_nwb(sys.argv[1])
assert type(nwbfile.read_io).__name__ == "NWBZarrIO", type(nwbfile.read_io)
assert nwbfile.acquisition["pcs"].sweep_number == 7
print("ERRORS", len(errors))
for e in errors:
    print(e)
"""


def test_pynwb_validate_through_io(tmp_path):
    # a fresh interpreter: other tests register extension namespaces in pynwb's global type
    # map, which would then be cached in the file and change what "core" validation means
    out = subprocess.run(
        [sys.executable, "-c", VALIDATE, str(tmp_path / "v.nwb.zarr"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "ERRORS 0" in out.stdout, out.stdout
