"""Our reference JSON opened by fsspec's ``ReferenceFileSystem`` from any working directory.

fsspec resolves a relative target against its working directory, not the JSON's, so
:func:`nwbzarr.formats.kerchunk.references.save_references` writes local sources absolute in
``templates`` and
records the JSON-relative location in the ``"nwbzarr"`` block (``relative``), which nwbzarr
reads: the JSON opens in fsspec as-is, and nwbzarr still reads a JSON moved with its data.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import fsspec
import h5py
import numpy as np
import pytest
import zarr

import nwbzarr
from nwbzarr.errors import UntrustedReferenceError
from nwbzarr.formats.kerchunk.references import load_references
from nwbzarr.storage.manifest import ByteRange
from nwbzarr.virtual import open_virtual_store


@pytest.fixture
def indexed(ecephys_file, tmp_path) -> tuple[Path, Path]:
    """The sample copied to ``tmp_path/data`` and its JSON written beside it."""
    data = tmp_path / "data"
    data.mkdir()
    src = data / ecephys_file.name
    shutil.copy(ecephys_file, src)
    out = data / "sample.nwb.json"
    nwbzarr.index_to_json(str(src), str(out))
    return src, out


def _h5_values(path: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iufbSO":
                if obj.dtype.kind in "SO" and obj.ndim == 0:
                    value = obj[()]
                    if isinstance(value, bytes):
                        out[name] = value.decode()
                elif obj.dtype.kind in "iufb":
                    out[name] = obj[()]

        f.visititems(visit)
    return out


def test_written_templates_are_absolute_with_relative_record(indexed):
    src, out = indexed
    document = json.loads(out.read_text())
    assert document["templates"] == {"u0": str(src)}
    assert document["nwbzarr"]["relative"] == {"u0": src.name}


def test_fsspec_opens_our_json_from_another_directory(indexed, tmp_path, monkeypatch):
    src, out = indexed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
    root = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
    values = _h5_values(src)
    numeric = [n for n, v in values.items() if not isinstance(v, str)]
    assert len(numeric) > 20
    for name, expected in values.items():
        got = root[name][()] if not isinstance(expected, str) else str(root[name][()])
        if isinstance(expected, str):
            assert got == expected, name
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
    # the mapper interface reads the same bytes
    mapper = fsspec.filesystem("reference", fo=str(out)).get_mapper()
    assert json.loads(mapper["zarr.json"])["node_type"] == "group"


def test_nwbzarr_reads_the_pair_after_a_move(indexed, tmp_path):
    src, out = indexed
    moved = tmp_path / "moved"
    shutil.copytree(src.parent, moved)
    shutil.rmtree(src.parent)  # the absolute template now names nothing
    refset = load_references(moved / out.name)
    assert refset.sources == (str(moved / src.name),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nwbzarr.NWBZarrIO(str(moved / out.name), "r") as io:
            assert io.read().identifier == "anm00239123_2017-06-27_09-35-49"


def test_old_relative_json_still_reads(indexed):
    src, out = indexed
    document = json.loads(out.read_text())
    document["templates"] = {"u0": src.name}  # as written before: relative, no record
    del document["nwbzarr"]["relative"]
    out.write_text(json.dumps(document))
    refs = load_references(out).refs
    assert {v.url for v in refs.values() if isinstance(v, ByteRange)} == {str(src)}


def test_edited_template_is_followed(indexed, tmp_path):
    src, out = indexed
    other = tmp_path / "data" / "copy.nwb"
    shutil.copy(src, other)
    document = json.loads(out.read_text())
    document["templates"]["u0"] = str(other)  # no longer ends with the recorded relative path
    del document["nwbzarr"]["sources"]
    out.write_text(json.dumps(document))
    assert load_references(out).sources == (str(other),)


def test_relative_record_is_checked_by_the_policy(indexed, tmp_path, monkeypatch):
    monkeypatch.delenv("NWBZARR_ALLOWED_ROOTS", raising=False)
    src, out = indexed
    secret = tmp_path / "secret.nwb"
    secret.write_bytes(src.read_bytes())
    document = json.loads(out.read_text())
    document["templates"]["u0"] = str(tmp_path / "data" / ".." / "secret.nwb")
    document["nwbzarr"]["relative"] = {"u0": "../secret.nwb"}
    out.write_text(json.dumps(document))
    with pytest.raises(UntrustedReferenceError, match="NWBZARR_ALLOWED_ROOTS="):
        open_virtual_store(out)
