"""The command line: convert (both directions) and info, on a real NWB file."""

from __future__ import annotations

import warnings

from click.testing import CliRunner
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.cli import main


def test_convert_and_info(ecephys_file, tmp_path):
    runner = CliRunner()
    dst = tmp_path / "ecephys.nwb.zarr"
    result = runner.invoke(main, ["convert", "-q", str(ecephys_file), str(dst)])
    assert result.exit_code == 0, result.output
    assert (dst / "zarr.json").is_file()

    again = runner.invoke(main, ["convert", "-q", str(ecephys_file), str(dst)])
    assert again.exit_code != 0
    assert "already exists" in again.output and "--overwrite" in again.output

    info = runner.invoke(main, ["info", str(dst)])
    assert info.exit_code == 0, info.output
    assert "[NWBFile]" in info.output
    assert "[ElectricalSeries]" in info.output or "[Units]" in info.output
    assert "files on disk" in info.output

    back = tmp_path / "back.nwb"
    result = runner.invoke(main, ["convert", "-q", str(dst), str(back)])
    assert result.exit_code == 0, result.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ecephys_file), "r") as a, NWBHDF5IO(str(back), "r") as b:
            TestCase().assertContainerEqual(a.read(), b.read(), ignore_hdmf_attrs=True)


def test_convert_options_change_layout(ecephys_file, tmp_path):
    runner = CliRunner()
    dst = tmp_path / "gz.nwb.zarr"
    result = runner.invoke(
        main,
        ["convert", "-q", "--codec", "gzip", "--chunk-mb", "0.001", str(ecephys_file), str(dst)],
    )
    assert result.exit_code == 0, result.output
    import zarr

    root = zarr.open_group(dst, mode="r")
    arrays = [a for _, a in root.members(max_depth=None) if isinstance(a, zarr.Array)]
    numeric = [a for a in arrays if a.dtype.kind in "iuf" and a.nbytes > 4096]
    assert numeric, "expected numeric arrays larger than the 1 kB chunk target"
    for a in numeric:
        assert a.chunks != a.shape
        names = [c.to_dict()["name"] for c in a.compressors]
        assert names == ["gzip"]


def test_convert_missing_source_is_clear(tmp_path):
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.nwb"), str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "nope.nwb" in result.output


def test_export_zarr_to_zarr_and_export_io(ecephys_file, tmp_path):
    first = tmp_path / "a.nwb.zarr"
    nwbzarr.convert(ecephys_file, first, progress=False)
    second = tmp_path / "b.nwb.zarr"
    with nwbzarr.NWBZarrIO(first, "r") as src:
        nwbzarr.NWBZarrIO.export_io(str(second), src_io=src, manager=src.manager)
    third = tmp_path / "c.nwb.zarr"
    with nwbzarr.NWBZarrIO(first, "r") as src:
        original = src.read()
        with nwbzarr.NWBZarrIO(third, "w", manager=src.manager) as dst:
            dst.export(src_io=src, nwbfile=original)
    with nwbzarr.NWBZarrIO(first, "r") as a:
        want = a.read()
        for path in (second, third):
            with nwbzarr.NWBZarrIO(path, "r") as b:
                got = b.read()
                assert {k: type(v).__name__ for k, v in got.objects.items()} == {
                    k: type(v).__name__ for k, v in want.objects.items()
                }
                TestCase().assertContainerEqual(want, got, ignore_hdmf_attrs=True)
