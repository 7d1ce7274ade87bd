"""Reserved attribute names and the JSON encoding of attribute values
(conventions/attributes.py)."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from nwbzarr.conventions import attributes as attrs
from nwbzarr.conventions.attributes import RESERVED_ATTRS, is_dtype_note, to_json_value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINKS_ATTR", "_LINKS"),
        ("DTYPE_ATTR", "_DTYPE"),
        ("OBJECT_REFERENCE", "object_reference"),
        ("REFERENCE_FIELDS_ATTR", "_REFERENCE_FIELDS"),
        ("REFERENCE_KEY", "_REFERENCE"),
        ("SPECLOC_ATTR", ".specloc"),
        ("WRITE_IN_PROGRESS_ATTR", "_WRITE_IN_PROGRESS"),
        ("ARRAY_DIMENSIONS_ATTR", "_ARRAY_DIMENSIONS"),
        ("INLINE_CHUNKS_ATTR", "_INLINE_CHUNKS"),
        ("DEFAULT_SPEC_LOC", "specifications"),
        ("ROOT_NAME", "root"),
    ],
)
def test_on_disk_names(name, value):
    """The names other readers (hdmf-zarr, docs/storage.md) rely on."""
    assert getattr(attrs, name) == value


@pytest.mark.parametrize(
    ("name", "reserved"),
    [
        ("_LINKS", True),
        ("_INLINE_CHUNKS", True),
        ("_DTYPE", True),
        ("_REFERENCE_FIELDS", True),
        (".specloc", True),
        ("_WRITE_IN_PROGRESS", True),
        ("_ARRAY_DIMENSIONS", True),
        # ordinary attributes, which surface on read
        ("_REFERENCE", False),
        ("neurodata_type", False),
        ("namespace", False),
        ("object_id", False),
        ("description", False),
        ("_links", False),
        ("specloc", False),
    ],
)
def test_reserved_attribute_names(name, reserved):
    assert (name in RESERVED_ATTRS) is reserved


def test_reserved_attribute_names_are_exactly_these():
    assert RESERVED_ATTRS == {
        "_LINKS",
        "_INLINE_CHUNKS",
        "_DTYPE",
        "_REFERENCE_FIELDS",
        ".specloc",
        "_WRITE_IN_PROGRESS",
        "_ARRAY_DIMENSIONS",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("int64", True),
        ("<f8", True),
        ("float32", True),
        ("str", True),
        ("bool", True),
        ("O", True),
        ("object_reference", False),
        ("", False),
        ("i" * 33, False),
        ("not a dtype", False),
        ("TimeSeries", False),
        (5, False),
        (None, False),
        (["int64"], False),
    ],
)
def test_is_dtype_note(value, expected):
    assert is_dtype_note(value) is expected


def _json(value):
    return json.dumps(to_json_value(value, "/x: attribute 'a'"), allow_nan=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Python scalars
        (None, "null"),
        (True, "true"),
        (False, "false"),
        ("a", '"a"'),
        (3, "3"),
        (2.5, "2.5"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (b"abc", '"abc"'),
        ("é".encode(), '"\\u00e9"'),
        (datetime.datetime(2024, 3, 1, 12, 30, tzinfo=datetime.UTC), '"2024-03-01T12:30:00+00:00"'),
        (datetime.date(2024, 1, 2), '"2024-01-02"'),
        # numpy scalars become Python values
        (np.int64(5), "5"),
        (np.int8(-3), "-3"),
        (np.uint64(2**64 - 1), "18446744073709551615"),
        (np.float64(0.1), "0.1"),
        (np.float32(5e-7), "5e-07"),  # the shortest decimal, not 4.999999987376214e-07
        (np.float32(0.1), "0.1"),
        (np.float16(0.1), "0.1"),
        (np.float32("nan"), "NaN"),
        (np.float32("-inf"), "-Infinity"),
        (np.bool_(True), "true"),
        (np.str_("x"), '"x"'),
        (np.bytes_(b"y"), '"y"'),
        (np.datetime64("2024-01-02"), '"2024-01-02"'),
        # arrays
        (np.array(3), "3"),
        (np.array(b"ab"), '"ab"'),  # a 0-d bytes array is text, not [97, 98]
        (np.array([1, 2], dtype=np.int8), "[1, 2]"),
        (np.array([[1, 2], [3, 4]]), "[[1, 2], [3, 4]]"),
        (np.array([0.1, 5e-7], dtype=np.float32), "[0.1, 5e-07]"),
        (np.array([np.nan, np.inf]), "[NaN, Infinity]"),
        (np.array([np.nan], dtype=np.float32), "[NaN]"),
        (np.array(["a", "bc"]), '["a", "bc"]'),
        (np.array([b"a", b"b"]), '["a", "b"]'),
        (np.array(["a", 1], dtype=object), '["a", 1]'),
        (np.array(["2024-01-02"], dtype="datetime64[D]"), '["2024-01-02"]'),
        (np.array([True, False]), "[true, false]"),
        (np.zeros(0), "[]"),
        # containers, nested
        ([1, "a", b"b", np.int8(2)], '[1, "a", "b", 2]'),
        ((1, 2), "[1, 2]"),
        ([[1, [2, b"x"]], []], '[[1, [2, "x"]], []]'),
        ([np.array([1, 2]), np.float32(0.5)], "[[1, 2], 0.5]"),
        (frozenset({3}), "[3]"),
    ],
)
def test_to_json_value(value, expected):
    assert _json(value) == expected


@pytest.mark.parametrize(
    ("value", "expected_type"),
    [(np.int64(5), int), (np.uint8(1), int), (np.float32(0.5), float), (np.bool_(False), bool)],
)
def test_numpy_scalars_become_python_types(value, expected_type):
    assert type(to_json_value(value, "/x")) is expected_type


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]), "compound arrays"),
        ({"a": 1}, "type dict"),
        (object(), "type object"),
        (complex(1, 2), "type complex"),
        ([1, {"a": 1}], "type dict"),
    ],
)
def test_values_without_a_json_form_are_refused(value, match):
    with pytest.raises(TypeError, match=match):
        to_json_value(value, "/x")


def test_invalid_utf8_bytes_are_refused():
    with pytest.raises(UnicodeDecodeError):
        to_json_value(b"\xff", "/x")
