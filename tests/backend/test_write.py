"""Metadata-heavy writes: our own zarr.json documents, chunks encoded without zarr's pipeline,
0-d arrays stored as their fill value, consolidated metadata built from our dicts, and the
typed write settings. Every fast path is compared with what zarr-python itself writes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings

import numpy as np
import pytest
import zarr
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec
from zarr.storage import LocalStore

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend.dataio import storage_settings
from nwbzarr.backend.node_documents import direct_write, scalar_fill_value, zarr_dtype
from nwbzarr.backend.settings import WriteSettings
from nwbzarr.compat import sync
from nwbzarr.conventions.layout import SHARDS_REQUIRED, compressors_for
from nwbzarr.storage.write_back import WriteBackStore

CODECS = ["blosc-lz4", "blosc-zstd", "zstd", "gzip", "none"]
DTYPES = ["f8", "f4", "i8", "i4", "i2", "u1", "i1", "?"]


def _files(root):
    """Every object of a store; a gzip member's header time stamp (bytes 4-8) zeroed."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = data[:4] + b"\0\0\0\0" + data[8:]
            out[str(p.relative_to(root))] = data
    return out


def _pair(tmp_path, name):
    """A new store written through a WriteBackStore (ours) and a plain one (zarr's)."""
    ours = WriteBackStore(LocalStore(str(tmp_path / f"{name}_ours")))
    group = zarr.open_group(ours, mode="w", zarr_format=3)
    theirs = zarr.open_group(LocalStore(str(tmp_path / f"{name}_zarr")), mode="w", zarr_format=3)
    return ours, group, theirs


def _options(shape, dtype, compressors, chunks, fill=None, names=None):
    opts = dict(
        shape=shape,
        dtype=str if dtype is str else zarr_dtype(dtype),
        compressors=compressors,
        attributes={"unit": "V", "list": [1, 2.5, "x"], "nan": float("nan")},
    )
    if shape:
        opts["chunks"], opts["shards"] = chunks, None
    if fill is not None:
        opts["fill_value"] = fill
    if names is not None:
        opts["dimension_names"] = names
    return opts


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_write_matches_zarr_bytes(tmp_path, codec, dtype):
    dt = np.dtype(dtype)
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((10, 7)) * 50).astype(dt)
    values[:4, :4] = 0  # one whole chunk equal to the fill value: not stored by either
    compressors = compressors_for(codec, dt)
    opts = _options(values.shape, dt, compressors, (4, 4), names=["t", "c"])
    ours, group, theirs = _pair(tmp_path, f"{codec}_{dt.name}")
    documents: dict = {}
    out = direct_write(group, "a", dt, opts, values, documents, True)
    assert isinstance(out, zarr.Array)
    theirs.create_array("a", **opts)[...] = values
    sync(ours.flush())
    mine, zarrs = (
        _files(tmp_path / f"{codec}_{dt.name}_ours"),
        _files(tmp_path / f"{codec}_{dt.name}_zarr"),
    )
    mine.pop("zarr.json"), zarrs.pop("zarr.json")
    assert mine == zarrs  # the same documents and chunk objects, byte for byte
    assert "a/c/0/0" not in mine
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / f"{codec}_{dt.name}_ours"), path="a")[...], values
    )
    assert json.dumps(documents["a/zarr.json"][1]) == json.dumps(json.loads(mine["a/zarr.json"]))


@pytest.mark.parametrize(
    "compressors", [[ZstdCodec(level=5)], [GzipCodec(level=1)], [BloscCodec()]]
)
def test_direct_write_user_codecs_match_zarr(tmp_path, compressors):
    values = np.arange(1000, dtype="<i4").reshape(100, 10)
    opts = _options(values.shape, values.dtype, compressors, (30, 10), fill=7)
    ours, group, theirs = _pair(tmp_path, "user")
    direct_write(group, "a", values.dtype, opts, values, {}, False)
    theirs.create_array("a", **opts)[...] = values
    sync(ours.flush())
    mine, zarrs = _files(tmp_path / "user_ours"), _files(tmp_path / "user_zarr")
    assert {k: v for k, v in mine.items() if k != "zarr.json"} == {
        k: v for k, v in zarrs.items() if k != "zarr.json"
    }


def test_direct_write_text_matches_zarr(tmp_path):
    values = np.array(["a", "", "ünïcode", "longer text " * 5, "x"], dtype=object)
    opts = _options(values.shape, str, "auto", (2,))
    ours, group, theirs = _pair(tmp_path, "text")
    direct_write(group, "t", str, opts, values, {}, False)
    theirs.create_array("t", **opts)[...] = values
    sync(ours.flush())
    mine, zarrs = _files(tmp_path / "text_ours"), _files(tmp_path / "text_zarr")
    mine.pop("zarr.json"), zarrs.pop("zarr.json")
    assert mine == zarrs


def test_direct_write_refuses_what_it_does_not_encode(tmp_path):
    _, group, _ = _pair(tmp_path, "refuse")
    values = np.arange(10.0)
    sharded = {**_options((10,), values.dtype, [], (5,)), "shards": (10,)}
    assert direct_write(group, "s", values.dtype, sharded, values, {}, True) is False
    nan = _options((10,), values.dtype, [], (5,), fill=float("nan"))
    assert direct_write(group, "n", values.dtype, nan, values, {}, True) is False
    plain = zarr.open_group(LocalStore(str(tmp_path / "plain")), mode="w")
    opts = _options((10,), values.dtype, [], (5,))
    assert direct_write(plain, "p", values.dtype, opts, values, {}, True) is False
    assert not any(k.startswith(("s/", "n/")) for k in group.store_path.store.pending_keys)


SCALARS = [
    (3.25, np.dtype("f8")),
    (-7, np.dtype("i4")),
    (2**40, np.dtype("u8")),
    (True, np.dtype("bool")),
    (False, np.dtype("bool")),
    ("hello ✓", str),
    ("", str),
]


@pytest.mark.parametrize("value,dtype", SCALARS)
def test_scalar_is_its_fill_value_without_chunk(tmp_path, value, dtype):
    fill = scalar_fill_value(np.asarray(value) if dtype is not str else value, dtype, None)
    assert fill is not None
    opts = _options((), dtype, compressors_for("blosc-lz4", dtype), (), fill=fill)
    ours, group, theirs = _pair(tmp_path, "scalar")
    direct_write(group, "s", dtype, opts, None, {}, False)
    made = theirs.create_array(
        "s", **{**opts, "fill_value": None} if dtype is str else {**opts, "fill_value": None}
    )
    made[()] = value
    sync(ours.flush())
    root = tmp_path / "scalar_ours"
    assert not (root / "s" / "c").exists()  # no chunk object
    read = zarr.open_array(str(root), path="s", mode="r")[()]  # as hdmf-zarr reads it
    expected = zarr.open_array(str(tmp_path / "scalar_zarr"), path="s", mode="r")[()]
    assert read == expected == value
    assert type(np.asarray(read)[()]) is type(np.asarray(expected)[()])


@pytest.mark.parametrize(
    "value,dtype",
    [(float("nan"), "f8"), (float("inf"), "f8"), (-0.0, "f8"), (1 + 2j, "c16"), (b"ab", "S2")],
)
def test_scalars_that_keep_their_chunk(value, dtype):
    assert scalar_fill_value(np.asarray(value, dtype=dtype), np.dtype(dtype), None) is None
    assert scalar_fill_value("x" * 5000, str, None) is None
    assert scalar_fill_value(np.asarray(2.0), np.dtype("f8"), 1.0) is None  # user fill
    assert scalar_fill_value(np.asarray(2.0), np.dtype("f8"), 2) == 2.0


def _nwbfile():
    nwb = mock_NWBFile()
    for i in range(6):
        kwargs = dict(name=f"ts{i}", data=np.arange(i, i + 50.0), unit="V", description=f"d{i}")
        if i % 2:
            kwargs["timestamps"] = np.arange(50.0) / 10 + i
        else:
            kwargs.update(rate=10.0, starting_time=float(i) + 0.5)
        nwb.add_acquisition(TimeSeries(**kwargs))
    nwb.add_acquisition(
        TimeSeries(
            name="wrapped",
            data=ZarrDataIO(np.arange(30, dtype="i2"), chunks=(7,), fillvalue=3),
            unit="m",
            rate=1.0,
        )
    )
    return nwb


def test_nwb_file_scalars_and_consolidated_metadata_match_zarr(tmp_path):
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(_nwbfile())
    assert not (path / "acquisition" / "ts0" / "starting_time" / "c").exists()
    assert zarr.open_array(str(path), path="acquisition/ts0/starting_time", mode="r")[()] == 0.5
    ours = (path / "zarr.json").read_bytes()
    copy = tmp_path / "copy.nwb.zarr"
    shutil.copytree(path, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(LocalStore(str(copy)))
    assert ours == (copy / "zarr.json").read_bytes()  # zarr's own consolidation, same bytes
    with NWBZarrIO(str(path), mode="r") as io:
        nwb = io.read()
        for i in range(6):
            ts = nwb.acquisition[f"ts{i}"]
            np.testing.assert_array_equal(ts.data[:], np.arange(i, i + 50.0))
            if i % 2 == 0:
                assert ts.starting_time == float(i) + 0.5 and ts.rate == 10.0
            else:
                np.testing.assert_array_equal(ts.timestamps[:], np.arange(50.0) / 10 + i)
        assert nwb.acquisition["wrapped"].data[:].tolist() == list(range(30))
        assert nwb.session_description == mock_NWBFile().session_description
    wrapped = zarr.open_array(str(path), path="acquisition/wrapped/data", mode="r")
    assert (wrapped.chunks, wrapped.fill_value) == ((7,), 3)


def test_append_overwrites_a_scalar_stored_as_fill(tmp_path):
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(_nwbfile())
    with NWBZarrIO(str(path), mode="a") as io:
        io.read()
        io.file["acquisition/ts2/starting_time"][()] = 42.0
        io.write(io.read())
    assert (path / "acquisition" / "ts2" / "starting_time" / "c").exists()
    with NWBZarrIO(str(path), mode="r") as io:
        assert io.read().acquisition["ts2"].starting_time == 42.0
        assert io.read().acquisition["ts4"].starting_time == 4.5


def test_write_settings_typed_and_mapping_view():
    data = ZarrDataIO(np.zeros((20, 8)), chunks=(10, 8), shards="auto", fillvalue=2)
    settings = storage_settings(data, "/x")
    assert settings == data.write_settings
    assert (settings.chunks, settings.shards, settings.fill_value) == ((10, 8), SHARDS_REQUIRED, 2)
    assert settings.get("fillvalue") == settings["fill_value"] == 2  # former dict names
    assert {**settings, "chunks": (5, 8)}["chunks"] == (5, 8)
    assert WriteSettings.coerce({"fillvalue": 1, "shards": None}) == WriteSettings(
        fill_value=1, shards=None
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.chunks = (1, 1)
    with pytest.raises(TypeError, match="unknown storage setting"):
        WriteSettings.coerce({"chunk": (1,)})
    assert ZarrDataIO(np.zeros(3), compressors=False).write_settings.compressors == ()


@pytest.mark.parametrize("indent", [2, None, 4])
def test_spliced_consolidated_bytes_match_plain_encoding(indent):
    from nwbzarr.conventions.zarr_json import (
        array_document,
        consolidated_root,
        encode,
        encode_consolidated,
        group_document,
    )

    codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
    members = {
        "g": group_document({"a": [1, {"b": None}], "nan": float("nan")}),
        "g/x": array_document((3,), "float64", (3,), "NaN", codecs, {"u": "ü"}, ["t"]),
        "G/y": array_document((), "string", (), "text\n", codecs, {}),
        "z": array_document((0, 2), "int8", (1, 2), 0, codecs, {"e": {}, "l": []}),
    }
    root = {"attributes": {"r": 1}, "zarr_format": 3, "node_type": "group"}
    raw = {p: encode(d, indent) for p, d in members.items() if p != "z"}
    expected = encode(consolidated_root(root, members), indent)
    assert encode_consolidated(root, members, raw, indent) == expected
    # depth first, then case-folded path, as zarr sorts them
    assert list(json.loads(expected)["consolidated_metadata"]["metadata"]) == [
        "g",
        "z",
        "g/x",
        "G/y",
    ]
