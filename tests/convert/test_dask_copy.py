"""Conversion with array data copied as Dask tasks on a local process cluster."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import nwbzarr
from convert.test_copy import TRIALS, _arrays, _assert_kept, chunked_real  # noqa: F401
from nwbzarr.cli import main
from nwbzarr.errors import ConversionError

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _assert_numeric_equal(src, dst) -> int:
    """Every numeric array of ``dst`` equals the dataset at the same path in ``src``."""
    n = 0
    with h5py.File(src, "r") as f:
        for path, array in _arrays(dst).items():
            if path in f and array.dtype.kind in "biuf" and f[path].dtype.kind in "biuf":
                np.testing.assert_array_equal(array[...], f[path][...], err_msg=path)
                n += 1
    return n


def test_dask_convert_values_layout_failure_and_cli(chunked_real, tmp_path):  # noqa: F811
    out, again = tmp_path / "d.nwb.zarr", tmp_path / "e.nwb.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            nwbzarr.convert(
                chunked_real, out, progress=False, shard_mb=0.002, dask_scheduler=client
            )
        keys = [str(t["key"]) for t in stream.data]
        assert sum(k.startswith("nwbzarr-copy-") for k in keys) >= 30  # one per shard row
        assert _assert_numeric_equal(chunked_real, out) >= 30
        arrays = _arrays(out)
        with h5py.File(chunked_real, "r") as f:
            for name in ("start_time", "stop_time", "is_good", "pole_in_time"):
                _assert_kept(f[TRIALS][name], arrays[f"{TRIALS}/{name}"])
        with nwbzarr.NWBZarrIO(out, "r") as io:
            trials = io.read().trials
            np.testing.assert_array_equal(
                trials["stop_time"].data[:], arrays[f"{TRIALS}/stop_time"][...]
            )
        # Zarr -> Zarr through the cluster, from the CLI by scheduler address, quietly
        result = CliRunner().invoke(
            main,
            ["convert", "-q", "--dask-scheduler", cluster.scheduler_address, str(out), str(again)],
        )
        assert result.exit_code == 0, result.output
        assert result.output == ""
        copied = _arrays(again)
        for path, array in arrays.items():
            if array.dtype.kind in "biuf":
                assert copied[path].chunks == array.chunks, path
                np.testing.assert_array_equal(copied[path][...], array[...], err_msg=path)

        # a chunk that is not a valid deflate stream fails its task: clear error, no store
        with h5py.File(chunked_real, "a") as f:
            f[TRIALS]["stop_time"].id.write_direct_chunk((100,), b"not zlib" * 10)
        bad = tmp_path / "bad.nwb.zarr"
        with pytest.raises(ConversionError, match=f"{TRIALS}/stop_time.*rows 0:200"):
            nwbzarr.convert(
                chunked_real, bad, progress=False, shard_mb=0.002, dask_scheduler=client
            )
        assert not bad.exists()
    assert isinstance(zarr.open_group(again, mode="r"), zarr.Group)
