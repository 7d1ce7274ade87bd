"""Zarr v3 ``zarr.json`` documents as plain dicts (conventions/zarr_json.py).

``tests/backend/test_write.py`` checks these against zarr-python's own bytes and the spliced
consolidated encoding; these tables pin the documents' shape, key order and JSON text.
"""

from __future__ import annotations

import json

import pytest

from nwbzarr.conventions import zarr_json
from nwbzarr.conventions.zarr_json import (
    DEFAULT_CHUNK_KEY_ENCODING,
    array_document,
    consolidated_root,
    encode,
    group_document,
)

BYTES = [{"name": "bytes", "configuration": {"endian": "little"}}]
ARRAY_KEYS = [
    "shape",
    "data_type",
    "chunk_grid",
    "chunk_key_encoding",
    "fill_value",
    "codecs",
    "attributes",
    "zarr_format",
    "node_type",
    "storage_transformers",
]


def test_group_document():
    doc = group_document({"neurodata_type": "NWBFile", "n": [1, 2]})
    assert doc == {
        "attributes": {"neurodata_type": "NWBFile", "n": [1, 2]},
        "zarr_format": 3,
        "node_type": "group",
    }
    assert list(doc) == ["attributes", "zarr_format", "node_type"]


def test_array_document():
    doc = array_document((10, 3), "int16", (5, 3), 0, BYTES, {"unit": "V"})
    assert doc == {
        "shape": [10, 3],
        "data_type": "int16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [5, 3]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": BYTES,
        "attributes": {"unit": "V"},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }
    assert list(doc) == ARRAY_KEYS


@pytest.mark.parametrize(
    ("names", "keys"),
    [
        (None, ARRAY_KEYS),
        (["time", "channel"], [*ARRAY_KEYS[:7], "dimension_names", *ARRAY_KEYS[7:]]),
    ],
)
def test_dimension_names_follow_the_attributes(names, keys):
    doc = array_document((2, 2), "float64", (2, 2), 0.0, BYTES, {}, names)
    assert list(doc) == keys
    if names is not None:
        assert doc["dimension_names"] == ["time", "channel"]


def test_documents_do_not_share_the_callers_objects():
    attributes = {"a": 1}
    codecs = [{"name": "bytes"}]
    doc = array_document((1,), "int8", (1,), 0, codecs, attributes)
    doc["attributes"]["b"] = 2
    doc["codecs"][0]["extra"] = True
    doc["chunk_key_encoding"]["configuration"]["separator"] = "."
    assert attributes == {"a": 1}
    assert codecs == [{"name": "bytes"}]
    assert DEFAULT_CHUNK_KEY_ENCODING == {"name": "default", "configuration": {"separator": "/"}}


@pytest.mark.parametrize(
    ("fill_value", "expected"),
    [
        (float("nan"), b'"fill_value":NaN'),  # the bare token, as zarr-python writes it
        ("NaN", b'"fill_value":"NaN"'),  # zarr v3's JSON form for a float NaN
        (float("inf"), b'"fill_value":Infinity'),
        ("-Infinity", b'"fill_value":"-Infinity"'),
        (0, b'"fill_value":0'),
        (False, b'"fill_value":false'),
        ("", b'"fill_value":""'),
        (None, b'"fill_value":null'),
    ],
)
def test_fill_values_in_the_encoded_document(fill_value, expected):
    doc = array_document((2,), "float64", (2,), fill_value, BYTES, {})
    assert expected in encode(doc, indent=None).replace(b": ", b":")


@pytest.mark.parametrize(
    ("indent", "expected"),
    [
        (None, b'{"attributes": {"u": "\\u00fc"}, "zarr_format": 3, "node_type": "group"}'),
        (
            2,
            b'{\n  "attributes": {\n    "u": "\\u00fc"\n  },\n'
            b'  "zarr_format": 3,\n  "node_type": "group"\n}',
        ),
    ],
)
def test_encode(indent, expected):
    assert encode(group_document({"u": "ü"}), indent=indent) == expected


def test_consolidated_root_orders_members_by_depth_then_case_folded_path():
    members = {
        "b/c": group_document({}),
        "B": group_document({}),
        "a/z": array_document((1,), "int8", (1,), 0, BYTES, {}),
        "a": group_document({}),
        "Straße": group_document({}),
        "strasse/x": group_document({}),
    }
    root = {"attributes": {"r": 1}, "zarr_format": 3, "node_type": "group"}
    out = consolidated_root(root, members)
    assert list(out["consolidated_metadata"]["metadata"]) == [
        "a",
        "B",
        "Straße",
        "a/z",
        "b/c",
        "strasse/x",
    ]
    assert list(out) == ["attributes", "zarr_format", "consolidated_metadata", "node_type"]
    assert out["attributes"] == {"r": 1}
    assert out["consolidated_metadata"]["kind"] == "inline"
    assert out["consolidated_metadata"]["must_understand"] is False


def test_consolidated_members():
    """A group member gains an empty consolidated_metadata before node_type; arrays are as
    they are."""
    array = array_document((1,), "int8", (1,), 0, BYTES, {})
    out = consolidated_root({}, {"g": group_document({"x": 1}), "g/a": array})
    assert out["consolidated_metadata"]["metadata"] == {
        "g": {
            "attributes": {"x": 1},
            "zarr_format": 3,
            "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": {}},
            "node_type": "group",
        },
        "g/a": array,
    }
    assert list(out["consolidated_metadata"]["metadata"]["g"])[-1] == "node_type"


def test_consolidated_root_replaces_old_metadata_and_fills_defaults():
    stale = {"kind": "inline", "must_understand": False, "metadata": {"old": {}}}
    out = consolidated_root({"consolidated_metadata": stale, "node_type": "group"}, {})
    assert out == {
        "attributes": {},
        "zarr_format": 3,
        "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": {}},
        "node_type": "group",
    }
    assert json.loads(encode(out)) == out


@pytest.mark.parametrize(
    ("codecs", "expected"),
    [
        (None, []),
        (["bytes"], ["bytes"]),
        (
            [
                {
                    "name": "sharding_indexed",
                    "configuration": {
                        "codecs": [{"name": "bytes"}, {"name": "blosc"}],
                        "index_codecs": [{"name": "bytes"}, {"name": "crc32c"}],
                    },
                }
            ],
            ["sharding_indexed", "bytes", "blosc"],
        ),
        ([{"name": "numcodecs.shuffle"}, {"name": "zstd"}], ["shuffle", "zstd"]),
        ([{"configuration": {}}], ["?"]),
    ],
)
def test_codec_names_v3(codecs, expected):
    assert zarr_json.codec_names_v3(codecs) == expected


@pytest.mark.parametrize(
    ("filters", "compressor", "expected"),
    [
        (None, None, []),
        ([{"id": "shuffle"}], {"id": "zlib", "level": 4}, ["shuffle", "zlib"]),
        (None, {"id": "blosc"}, ["blosc"]),
        ([{}], None, ["?"]),
    ],
)
def test_codec_names_v2(filters, compressor, expected):
    assert zarr_json.codec_names_v2(filters, compressor) == expected


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("<i2", "int16"),
        ("|b1", "bool"),
        ([["x", "<f4"], ["y", "<i8"]], "[('x', '<f4'), ('y', '<i8')]"),
        ("not-a-dtype", '"not-a-dtype"'),
    ],
)
def test_v2_dtype_name(dtype, expected):
    assert zarr_json.v2_dtype_name(dtype) == expected


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [("int16", "int16"), ({"name": "fixed_length_utf32"}, "fixed_length_utf32"), ({}, "{}")],
)
def test_v3_dtype_name(data_type, expected):
    assert zarr_json.v3_dtype_name(data_type) == expected
