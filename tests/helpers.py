"""Helpers shared by several test modules (import them with ``from helpers import ...``).

* :func:`build_rich_file`: an NWB file built with ``pynwb.testing.mock`` touching most core types
  (ecephys with two electrode groups, units, epochs, images, behavior, links); ``START`` is its
  session start time. The ``rich`` fixture in ``conftest.py`` writes it once per module.
* :func:`write`, :func:`zattrs`, :func:`assert_equal_containers`: write a file with
  ``NWBZarrIO``, read a node's attributes with plain zarr, compare two containers.
* :class:`ArrayIterator`: a ``GenericDataChunkIterator`` over a numpy array that can be pickled
  (``_to_dict`` / ``_from_dict``), so it also works with ``write(number_of_jobs=...)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from hdmf.common import DynamicTableRegion
from hdmf.data_utils import GenericDataChunkIterator
from hdmf.testing import TestCase
from pynwb import NWBFile, TimeSeries
from pynwb.behavior import Position, SpatialSeries
from pynwb.epoch import TimeIntervals
from pynwb.image import ImageSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.ecephys import (
    mock_ElectricalSeries,
    mock_ElectrodeGroup,
    mock_ElectrodesTable,
)
from pynwb.testing.mock.file import mock_NWBFile, mock_Subject

from nwbzarr import NWBZarrIO

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def assert_equal_containers(original, read_back) -> None:
    """Deep comparison of two containers, ignoring object ids and other HDMF attributes."""
    TestCase().assertContainerEqual(original, read_back, ignore_hdmf_attrs=True)


def write(nwbfile: NWBFile, path: Path, **kwargs) -> Path:
    """Write ``nwbfile`` to a new store at ``path`` (``kwargs`` go to NWBZarrIO); return path."""
    with NWBZarrIO(path, mode="w", **kwargs) as io:
        io.write(nwbfile)
    return path


def zattrs(node) -> dict:
    """The attributes of a zarr group or array as a plain dict."""
    return node.attrs.asdict()


def build_rich_file() -> NWBFile:
    """An NWB file touching most core types: ecephys, units, epochs, images, behavior."""
    nwbfile = mock_NWBFile(
        session_description="round trip of mock data",
        identifier="mock-roundtrip-0001",
        session_start_time=START,
        experimenter=["Doe, Jane", "Roe, Rick"],
        keywords=["zarr", "mock"],
        lab="the lab",
    )
    mock_Subject(nwbfile=nwbfile, subject_id="mouse-7")
    add_rich_ecephys(nwbfile)
    speed = add_rich_behavior(nwbfile)
    images = ImageSeries(
        name="camera",
        data=np.arange(4 * 8 * 6, dtype=np.uint8).reshape(4, 8, 6),
        unit="n.a.",
        rate=30.0,
        description="tiny frames",
    )
    nwbfile.add_acquisition(images)
    add_rich_intervals(nwbfile, speed, images)
    return nwbfile


def add_rich_ecephys(nwbfile: NWBFile) -> None:
    """Electrodes in two groups on one device, an ElectricalSeries over three of them, and
    units with ragged spike times and an extra column."""
    # ecephys: two groups so the electrodes table's `group` column refers to different objects
    # a named device: pynwb's mock helpers number default names per process ("Device2", ...)
    device = nwbfile.create_device(name="Device", description="a probe")
    group_a = mock_ElectrodeGroup(name="shank0", device=device, nwbfile=nwbfile)
    group_b = mock_ElectrodeGroup(name="shank1", device=device, nwbfile=nwbfile)
    mock_ElectrodesTable(n_rows=3, group=group_a, nwbfile=nwbfile)
    for _ in range(3):
        nwbfile.electrodes.add_row(location="CA3", group=group_b, group_name=group_b.name)
    region = DynamicTableRegion(
        name="electrodes", data=[1, 3, 4], description="three electrodes", table=nwbfile.electrodes
    )
    ephys = np.arange(40 * 3, dtype=np.int16).reshape(40, 3)
    mock_ElectricalSeries(
        name="ElectricalSeries",
        data=ephys,
        electrodes=region,
        rate=1000.0,
        nwbfile=nwbfile,
        conversion=0.5e-6,
    )

    # units with ragged spike times and an extra column
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    spikes = [[0.1, 0.25, 0.3], [1.5], [2.0, 2.5, 3.0, 3.5, 4.0]]
    for i, st in enumerate(spikes):
        nwbfile.add_unit(spike_times=st, quality=["good", "mua", "good"][i], electrodes=[i])


def add_rich_behavior(nwbfile: NWBFile) -> TimeSeries:
    """A ``behavior`` module: ``speed`` (returned), a Position and a ``heading`` series whose
    timestamps link to the position's."""
    # processing: a plain TimeSeries and a Position with a SpatialSeries
    behavior = nwbfile.create_processing_module(name="behavior", description="behavioral data")
    speed = mock_TimeSeries(
        name="speed", data=np.linspace(0.0, 1.0, 25), unit="m/s", rate=50.0, starting_time=2.0
    )
    behavior.add(speed)
    spatial = SpatialSeries(
        name="position",
        data=np.column_stack([np.linspace(0, 1, 30), np.linspace(1, 0, 30)]),
        timestamps=np.arange(30) / 30.0,
        reference_frame="origin at the arena's lower left corner",
        unit="meters",
        description="x and y",
    )
    behavior.add(Position(name="Position", spatial_series=[spatial]))
    behavior.add(
        TimeSeries(
            name="heading", data=np.linspace(0, np.pi, 30), unit="radians", timestamps=spatial
        )
    )
    return speed


def add_rich_intervals(nwbfile: NWBFile, speed: TimeSeries, images: ImageSeries) -> None:
    """Two epochs referring to ``speed`` and ``images``, and a ``sleep`` TimeIntervals table."""
    # epochs with a `timeseries` column (compound with an object reference field)
    nwbfile.add_epoch(start_time=0.0, stop_time=0.02, tags=["first"], timeseries=[speed])
    nwbfile.add_epoch(
        start_time=2.0, stop_time=2.1, tags=["second", "both"], timeseries=[speed, images]
    )

    # another TimeIntervals table
    intervals = TimeIntervals(name="sleep", description="sleep bouts")
    intervals.add_column(name="stage", description="sleep stage")
    intervals.add_interval(start_time=10.0, stop_time=20.0, stage="REM")
    intervals.add_interval(start_time=30.0, stop_time=45.5, stage="NREM")
    nwbfile.add_time_intervals(intervals)


class ArrayIterator(GenericDataChunkIterator):
    """A GenericDataChunkIterator over a numpy array, picklable the way hdmf asks."""

    def __init__(self, array, **kwargs):
        self._array = np.asarray(array)
        self._kwargs = kwargs
        super().__init__(**kwargs)

    def _get_data(self, selection):
        return self._array[selection]

    def _get_maxshape(self):
        return self._array.shape

    def _get_dtype(self):
        return self._array.dtype

    def _to_dict(self):
        return {"array": self._array, **self._kwargs}

    @staticmethod
    def _from_dict(state):
        return ArrayIterator(state.pop("array"), **state)
