"""Files written by nwbzarr pass pynwb's validator; JSON attributes keep their spec dtypes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import zarr
from conftest import assert_validates_in_fresh_interpreter
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


def test_pynwb_validate_through_io(tmp_path):
    checks = """
    # discovery by path: pynwb's backend lookup finds the store after 'import nwbzarr'
    errors += pynwb.validate(path=sys.argv[1])
    errors += pynwb.validate(path=sys.argv[1], use_cached_namespaces=False)
    nwbfile = pynwb.read_nwb(sys.argv[1])
    assert type(nwbfile.read_io).__name__ == "NWBZarrIO", type(nwbfile.read_io)
    assert nwbfile.acquisition["pcs"].sweep_number == 7
    """
    assert_validates_in_fresh_interpreter(
        tmp_path / "v.nwb.zarr", "backend.test_validation", "_file_with_typed_attributes", checks
    )
