"""Round trips of more core types built with ``pynwb.testing.mock``: image references, dynamic
table column types, a compound without references, the ophys/icephys/ogen modalities, and
unusual dtypes and attribute values.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from helpers import START, assert_equal_containers, write, zattrs
from pynwb import TimeSeries
from pynwb.image import ImageSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO


# -- more core types ------------------------------------------------------------------------------
def test_images_with_image_references(tmp_path):
    from pynwb.base import ImageReferences, Images
    from pynwb.image import GrayscaleImage, RGBImage

    nwbfile = mock_NWBFile(session_start_time=START)
    gray = GrayscaleImage(
        name="gray", data=np.arange(12, dtype=np.uint8).reshape(3, 4), description="g"
    )
    rgb = RGBImage(name="rgb", data=np.full((3, 4, 3), 7, dtype=np.uint8))
    order = ImageReferences(name="order_of_images", data=[rgb, gray])
    nwbfile.add_acquisition(
        Images(name="imgs", images=[gray, rgb], description="x", order_of_images=order)
    )
    path = write(nwbfile, tmp_path / "images.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/imgs/order_of_images"]
    assert zattrs(arr)["_DTYPE"] == "object_reference"
    assert [str(v) for v in arr[...]] == ["/acquisition/imgs/rgb", "/acquisition/imgs/gray"]
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        imgs = nwb.acquisition["imgs"]
        assert list(imgs.order_of_images[:]) == [imgs["rgb"], imgs["gray"]]
        assert imgs.order_of_images[0] is imgs["rgb"]
        np.testing.assert_array_equal(imgs["gray"].data[:], np.arange(12).reshape(3, 4))


def test_dynamic_table_column_types(tmp_path):
    from hdmf.common import DynamicTable

    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_unit(
        spike_times=[1.0, 2.0],
        obs_intervals=[[0.0, 1.0], [2.0, 3.0]],
        waveform_mean=np.ones((4, 2)),
    )
    nwbfile.add_unit(spike_times=[], obs_intervals=[[0.0, 5.0]], waveform_mean=np.zeros((4, 2)))
    table = DynamicTable(name="table", description="mixed columns")
    table.add_column("flag", "booleans")
    table.add_column("vec", "a 2-d column")
    table.add_column("words", "ragged text", index=True)
    table.add_column("text", "non-ASCII text")
    table.add_row(flag=True, vec=[1.0, 2.0, 3.0], words=["a", "bb"], text="µs – ünï ✓")
    table.add_row(flag=False, vec=[4.0, 5.0, 6.0], words=[], text="")
    nwbfile.create_processing_module("misc", "misc").add(table)
    path = write(nwbfile, tmp_path / "tables.nwb.zarr")

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        t = nwb.processing["misc"]["table"]
        assert list(t["flag"][:]) == [True, False]
        assert t["flag"].data.dtype == np.bool_
        np.testing.assert_array_equal(t["vec"][:], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert [list(w) for w in t["words"][:]] == [["a", "bb"], []]
        assert list(t["text"][:]) == ["µs – ünï ✓", ""]
        assert list(nwb.units["spike_times"][1]) == []
        np.testing.assert_array_equal(nwb.units["obs_intervals"][0], [[0, 1], [2, 3]])
        np.testing.assert_array_equal(nwb.units["waveform_mean"][1], np.zeros((4, 2)))


def test_compound_without_references_pixel_mask(tmp_path):
    from pynwb.testing.mock.ophys import mock_PlaneSegmentation

    nwbfile = mock_NWBFile(session_start_time=START)
    ps = mock_PlaneSegmentation(nwbfile=nwbfile, n_rois=0, name="planes")
    ps.add_roi(pixel_mask=[(1, 2, 0.5), (3, 4, 1.0)])
    ps.add_roi(pixel_mask=[(5, 6, 0.25)])
    path = write(nwbfile, tmp_path / "pixel_mask.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["processing/ophys/planes/pixel_mask"]
    assert arr.dtype.names == ("x", "y", "weight")
    assert "_REFERENCE_FIELDS" not in zattrs(arr)
    np.testing.assert_array_equal(arr[...]["x"], [1, 3, 5])
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        planes = nwb.objects[ps.object_id]
        assert planes["pixel_mask"][0].tolist() == [(1, 2, 0.5), (3, 4, 1.0)]
        assert planes["pixel_mask"][1].tolist() == [(5, 6, 0.25)]


@pytest.mark.parametrize("kind", ["ophys", "icephys", "ogen"])
def test_other_mock_modalities(tmp_path, kind):
    from pynwb.testing.mock import icephys, ogen, ophys

    nwbfile = mock_NWBFile(session_start_time=START)
    if kind == "ophys":
        ps = ophys.mock_PlaneSegmentation(nwbfile=nwbfile, n_rois=5)
        ophys.mock_RoiResponseSeries(nwbfile=nwbfile, plane_segmentation=ps)
        ophys.mock_TwoPhotonSeries(nwbfile=nwbfile, imaging_plane=ps.imaging_plane)
    elif kind == "icephys":
        icephys.mock_IntracellularRecordingsTable(nwbfile=nwbfile)
    else:
        ogen.mock_OptogeneticSeries(nwbfile=nwbfile)
        nwbfile.add_stimulus(mock_TimeSeries(name="stim"))
        nwbfile.add_stimulus_template(mock_TimeSeries(name="template"))
    path = write(nwbfile, tmp_path / f"{kind}.nwb.zarr")
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert sorted(nwb.objects) == sorted(nwbfile.objects)


def test_misc_dtypes_and_attribute_values(tmp_path):
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        ImageSeries(
            name="movie",
            external_file=["a.mp4", "b.mp4"],
            starting_frame=[0, 10],
            format="external",
            rate=30.0,
            unit="n.a.",
            num_samples=20,
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(name="u64", data=np.array([2**63 + 5, 1], dtype=np.uint64), unit="V", rate=1.0)
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="f16",
            data=np.array([1.5, -2.25], dtype=np.float16),
            unit="V",
            rate=1.0,
            resolution=np.nan,
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(name="text", data=np.array(["a", "bc", "é"]), unit="n.a.", rate=1.0)
    )
    path = write(nwbfile, tmp_path / "misc.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    assert root["acquisition/u64/data"].dtype == np.uint64
    assert root["acquisition/f16/data"].dtype == np.float16
    assert [str(v) for v in root["acquisition/movie/external_file"][...]] == ["a.mp4", "b.mp4"]
    assert zattrs(root["acquisition/movie/external_file"])["starting_frame"] == [0, 10]
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert int(nwb.acquisition["u64"].data[0]) == 2**63 + 5
        np.testing.assert_array_equal(
            nwb.acquisition["f16"].data[:], np.array([1.5, -2.25], dtype=np.float16)
        )
        assert np.isnan(nwb.acquisition["f16"].resolution)
        assert list(nwb.acquisition["text"].data[1:3]) == ["bc", "é"]
        assert nwb.acquisition["text"].data[2] == "é"
        assert list(nwb.acquisition["movie"].external_file[:]) == ["a.mp4", "b.mp4"]
        np.testing.assert_array_equal(nwb.acquisition["movie"].starting_frame, [0, 10])
