"""The hdmf-zarr documented ZarrIO surface on our Zarr v3 stores."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pytest
import zarr
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO, ZarrIO

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="big", data=np.arange(200_000, dtype="int32") % 7, nwbfile=nwbfile)
    mock_TimeSeries(name="tiny", data=np.array([1.5, 2.5]), nwbfile=nwbfile)
    path = tmp_path / "api.nwb.zarr"
    with NWBZarrIO(path, mode="w", chunk_bytes=100_000, shard_bytes=400_000) as io:
        io.write(nwbfile)
    return path


def test_properties_and_open_close(store):
    io = NWBZarrIO(store, mode="r")
    assert io.path == str(store) and io.abspath == os.path.abspath(store)
    assert io.mode == "r" and io.synchronizer is None and io.object_codec_class is None
    assert not io.is_remote() and ZarrIO.can_read(store) and not ZarrIO.can_read(store / "x")
    assert isinstance(io.file, zarr.Group)
    io.close()
    assert io.file is None
    io.open()  # reopen in the same mode
    nwb = io.read()
    builder = io.manager.get_builder(nwb.acquisition["big"])
    assert io.get_builder(io.file["acquisition/big"]) is builder
    assert io.get_builder("/acquisition/big") is builder
    assert io.get_written(builder) and io.get_written(builder, check_on_disk=True)
    assert io.get_builder_exists_on_disk(builder)
    assert io.get_builder_disk_path(builder) == os.path.join(
        os.path.abspath(store), "acquisition/big"
    )
    assert io.get_container(io.file["acquisition/big"]) is nwb.acquisition["big"]
    io.close()


def test_generate_dataset_html_reports_storage(store):
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        page = io.generate_dataset_html(nwb.acquisition["big"].data)
        for text in (
            "Zarr array",
            "int32",
            "(200000,)",
            "Chunk shape",
            "(25000,)",
            "Shard shape",
            "(100000,)",
            "blosc",
            "800.0 kB",
            "Compression ratio",
        ):
            assert text in page, text
        small = io.generate_dataset_html(nwb.acquisition["tiny"].data)
        assert "not sharded" in small and "[1.5 2.5]" in small
        # the container's rich repr goes through it
        assert "Shard shape" in nwb.acquisition["big"]._repr_html_()


def test_generate_dataset_html_escapes_text(tmp_path):
    g = zarr.open_group(tmp_path / "t.zarr", mode="w")
    arr = g.create_array("a", shape=(2,), dtype=str)
    arr[:] = np.array(["<script>x</script>", "b"], dtype=object)
    page = ZarrIO.generate_dataset_html(arr)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_get_type():
    assert ZarrIO.get_type(["a", "b"]) is str
    assert ZarrIO.get_type([b"a"]) is str
    assert ZarrIO.get_type([[1, 2], [3, 4]]) == np.dtype("int64")
    assert ZarrIO.get_type(np.zeros(3, dtype="f4")) == np.dtype("float32")
    assert ZarrIO.get_type([True]) == np.dtype(bool)
    with pytest.raises(TypeError):
        ZarrIO.get_type([object()])


def test_cli_help_and_import_do_not_load_zarr_hdmf_pynwb():
    """`nwbzarr --help` answers without importing the heavy stack; registration still happens
    once pynwb is imported after nwbzarr."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from nwbzarr.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0 and 'convert' in r.output, r.output\n"
        "heavy = [m for m in ('zarr', 'hdmf', 'pynwb') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import pynwb\n"
        "assert getattr(pynwb.read_nwb, '_nwbzarr_wrapped', False)\n"
        "import hdmf.container\n"
        "assert getattr(hdmf.container.extend_data, '_nwbzarr_wrapped', False)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
