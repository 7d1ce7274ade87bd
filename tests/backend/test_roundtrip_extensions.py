"""Extension namespaces through ``NWBZarrIO``: registered globally, read from the store's cached
spec only, and given with the ``extensions=`` argument.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.build import BuildManager
from helpers import START, assert_equal_containers, write, zattrs
from pynwb import get_type_map
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO


# -- extensions -----------------------------------------------------------------------------------
def _make_extension(outdir: Path, ns_name: str, type_name: str) -> Path:
    from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder

    builder = NWBNamespaceBuilder(
        doc="round trip test extension",
        name=ns_name,
        version="0.1.0",
        author="nwbzarr tests",
        contact="tests@example.org",
    )
    builder.include_type("LabMetaData", namespace="core")
    spec = NWBGroupSpec(
        neurodata_type_def=type_name,
        neurodata_type_inc="LabMetaData",
        doc="lab metadata with a few attributes",
        attributes=[
            NWBAttributeSpec(name="rig", doc="rig name", dtype="text"),
            NWBAttributeSpec(name="gain", doc="amplifier gain", dtype="float64"),
            NWBAttributeSpec(name="channels", doc="channel ids", dtype="int32", shape=(None,)),
        ],
        datasets=[
            NWBDatasetSpec(
                name="calibration", doc="calibration table", dtype="float32", shape=(None,)
            ),
        ],
    )
    source = f"{ns_name}.extensions.yaml"
    builder.add_spec(source, spec)
    builder.export(f"{ns_name}.namespace.yaml", outdir=str(outdir))
    return outdir / f"{ns_name}.namespace.yaml"


def _unique_names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"ndx-rt-{tag}", f"RoundTripLabMeta{tag}"


def test_extension_global_namespace_roundtrip(tmp_path):
    import pynwb

    ns_name, type_name = _unique_names()
    ns_path = _make_extension(tmp_path, ns_name, type_name)
    pynwb.load_namespaces(str(ns_path))
    cls = pynwb.get_class(type_name, ns_name)

    nwbfile = mock_NWBFile(session_start_time=START)
    meta = cls(name="rig_meta", rig="rig-A", gain=12.5, channels=[3, 1, 4], calibration=[0.5, 0.25])
    nwbfile.add_lab_meta_data(meta)
    path = write(nwbfile, tmp_path / "ext.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    assert ns_name in root["specifications"]
    group = root["general/rig_meta"]
    assert zattrs(group)["neurodata_type"] == type_name
    assert zattrs(group)["namespace"] == ns_name

    with NWBZarrIO(path, mode="r", load_namespaces=True) as io:
        nwb = io.read()
        got = nwb.lab_meta_data["rig_meta"]
        assert type(got).__name__ == type_name
        assert got.rig == "rig-A"
        assert got.gain == 12.5
        assert list(got.channels) == [3, 1, 4]
        np.testing.assert_allclose(got.calibration[:], [0.5, 0.25])
        assert_equal_containers(nwbfile, nwb)


def test_extension_read_from_cached_spec_only(tmp_path):
    """The extension is never registered globally: reading relies on the store's cached spec."""
    ns_name, type_name = _unique_names()
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    ns_path = _make_extension(ext_dir, ns_name, type_name)
    type_map = get_type_map()  # a deep copy: loading into it leaves pynwb's global map alone
    type_map.load_namespaces(str(ns_path))
    cls = type_map.get_dt_container_cls(type_name, ns_name)

    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_lab_meta_data(
        cls(name="rig_meta", rig="rig-B", gain=-3.0, channels=[7], calibration=[1.0, 2.0, 3.0])
    )
    path = tmp_path / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w", manager=BuildManager(type_map)) as io:
        io.write(nwbfile)
    for f in ext_dir.iterdir():  # the YAML files are gone: only the cached spec remains
        f.unlink()

    assert ns_name not in get_type_map().namespace_catalog.namespaces
    assert NWBZarrIO.get_namespaces(path)[ns_name] == "0.1.0"
    with NWBZarrIO(path, mode="r", load_namespaces=True) as io:
        nwb = io.read()
        got = nwb.lab_meta_data["rig_meta"]
        assert type(got).__name__ == type_name
        assert got.rig == "rig-B"
        assert got.gain == -3.0
        assert list(got.channels) == [7]
        np.testing.assert_allclose(got.calibration[:], [1.0, 2.0, 3.0])
    # the premise: without the cached namespaces the extension is unknown and cannot be read
    with NWBZarrIO(path, mode="r", load_namespaces=False) as io:
        with pytest.raises(KeyError, match=ns_name):
            io.read()


def test_extensions_argument(tmp_path):
    """``extensions=`` loads YAML namespaces into the I/O's own type map for writing and reading."""
    ns_name, type_name = _unique_names()
    ns_path = _make_extension(tmp_path, ns_name, type_name)
    path = tmp_path / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w", extensions=str(ns_path)) as io:
        # the class must come from the type map that builds the file
        cls = io.manager.type_map.get_dt_container_cls(type_name, ns_name)
        nwbfile = mock_NWBFile(session_start_time=START)
        nwbfile.add_lab_meta_data(
            cls(name="m", rig="r", gain=1.0, channels=[1, 2], calibration=[1.0])
        )
        io.write(nwbfile)
    assert zattrs(zarr.open_group(path, mode="r")["general/m"])["neurodata_type"] == type_name
    with NWBZarrIO(path, mode="r", load_namespaces=False, extensions=str(ns_path)) as io:
        got = io.read().lab_meta_data["m"]
        assert type(got).__name__ == type_name
        assert (got.rig, got.gain, list(got.channels)) == ("r", 1.0, [1, 2])
