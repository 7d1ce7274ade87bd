"""Spec dtype rules (conventions/dtypes.py): spec names and numpy dtypes to storage dtypes,
reference dtypes, text values, compound layouts and the dtype names reported on read."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from hdmf.spec import DtypeSpec, RefSpec

from nwbzarr.conventions.dtypes import (
    builder_dtype_name,
    compound_fields,
    compound_numpy_dtype,
    first_element,
    infer_dtype,
    is_reference_dtype,
    is_region_reference_dtype,
    is_text_value,
    numeric_compound_dtype,
    numpy_dtype_for,
    text_value,
)

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("float", np.float32),
        ("float32", np.float32),
        ("double", np.float64),
        ("float64", np.float64),
        ("long", np.int64),
        ("int64", np.int64),
        ("int", np.int32),
        ("int32", np.int32),
        ("short", np.int16),
        ("int16", np.int16),
        ("int8", np.int8),
        ("uint64", np.uint64),
        ("uint", np.uint32),
        ("uint32", np.uint32),
        ("uint16", np.uint16),
        ("uint8", np.uint8),
        ("bool", np.bool_),
    ],
)
def test_numeric_spec_names_are_fixed_width(spec, expected):
    got = numpy_dtype_for(spec)
    assert isinstance(got, np.dtype)
    assert got == np.dtype(expected)


@pytest.mark.parametrize(
    "spec",
    ["text", "utf", "utf8", "utf-8", "ascii", "bytes", "str", "string_", "isodatetime", "datetime"],
)
def test_text_like_spec_names_are_variable_length_utf8(spec):
    assert numpy_dtype_for(spec) is str


@pytest.mark.parametrize(
    ("spec", "sample", "expected"),
    [
        # names that are not storage types ("numeric", numpy-only names): inferred from data
        ("numeric", np.array([1, 2], dtype=np.int16), np.dtype("int16")),
        ("numeric", [1.5, 2.0], np.dtype("float64")),
        ("float16", np.zeros(2, dtype=np.float16), np.dtype("float16")),
        (None, [], np.dtype("float64")),
        (None, [True, False], np.dtype("bool")),
        (None, ["a"], str),
        (None, [b"x"], str),
        (None, [datetime.date(2024, 1, 2)], str),
        # numpy dtypes and Python types
        (np.dtype("S3"), None, str),
        (np.dtype("U2"), None, str),
        (np.dtype("int16"), None, np.dtype("int16")),
        (np.uint8, None, np.dtype("uint8")),
        (str, None, str),
        (bytes, None, str),
        # object dtype: decided by the values
        (np.dtype("O"), ["a", "b"], str),
        (np.dtype("O"), np.array([3, 4], dtype=object), np.dtype("int64")),
    ],
)
def test_dtype_resolved_from_spec_and_sample(spec, sample, expected):
    got = numpy_dtype_for(spec, sample)
    if expected is str:
        assert got is str
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (np.array([1, 2], dtype=np.uint16), np.dtype("uint16")),
        (np.array(["a", "bc"]), str),
        (np.array([b"a"]), str),
        (np.array([1], dtype=object), np.dtype("int64")),
        (np.array(["x"], dtype=object), str),
        ([1.0, 2.0], np.dtype("float64")),
        ([[1, 2], [3, 4]], np.dtype("int64")),
        ([], np.dtype("float64")),
        ([[]], np.dtype("float64")),
        ([np.bool_(False)], np.dtype("bool")),
        ([True], np.dtype("bool")),
        (["x"], str),
        ([datetime.datetime(2024, 1, 2, tzinfo=UTC)], str),
        (7, np.dtype("int64")),
        ("text", str),
    ],
)
def test_infer_dtype(sample, expected):
    got = infer_dtype(sample)
    if expected is str:
        assert got is str
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([[1, 2], [3]], 1),
        ((("a",),), "a"),
        ([np.array([4, 5])], 4),
        (np.array([[6, 7]]), 6),
        ("abc", "abc"),
        (b"ab", b"ab"),
        (5, 5),
        ([], None),
        (((),), None),
        (np.zeros((1, 0)), None),
    ],
)
def test_first_element(data, expected):
    assert first_element(data) == expected


@pytest.mark.parametrize(
    ("dtype", "reference", "region"),
    [
        ("object", True, False),
        ("ref", True, False),
        ("reference", True, False),
        ("region", False, True),
        ("text", False, False),
        ("int32", False, False),
        ({"target_type": "TimeSeries", "reftype": "object"}, True, False),
        ({"target_type": "TimeSeries", "reftype": "region"}, True, True),
        ({"dtype": "object"}, True, False),
        ({"dtype": "int32"}, False, False),
        (RefSpec("TimeSeries", "object"), True, False),
        (None, False, False),
    ],
)
def test_reference_dtypes(dtype, reference, region):
    assert is_reference_dtype(dtype) is reference
    assert is_region_reference_dtype(dtype) is region


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", True),
        (np.str_("a"), True),
        (b"a", True),
        (np.bytes_(b"a"), True),
        (datetime.date(2024, 1, 2), True),
        (datetime.datetime(2024, 1, 2, tzinfo=UTC), True),
        (1, False),
        (1.5, False),
        (np.float64(1.5), False),
        (None, False),
        (["a"], False),
    ],
)
def test_is_text_value(value, expected):
    assert is_text_value(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"abc", "abc"),
        ("é".encode(), "é"),
        (np.bytes_(b"x"), "x"),
        (np.str_("µs"), "µs"),
        (datetime.datetime(2024, 3, 1, 12, 30, tzinfo=UTC), "2024-03-01T12:30:00+00:00"),
        (datetime.datetime(2024, 3, 1, 12, 30), "2024-03-01T12:30:00"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (5, "5"),
    ],
)
def test_text_value(value, expected):
    assert text_value(value) == expected


def test_text_value_refuses_bytes_that_are_not_utf8():
    with pytest.raises(ValueError):
        text_value(b"\xff\xfe")


def test_compound_fields_from_dicts_and_dtype_specs():
    ref = RefSpec("TimeSeries", "object")
    assert compound_fields([{"name": "x", "dtype": "int32"}, {"name": "ts", "dtype": ref}]) == [
        ("x", "int32"),
        ("ts", ref),
    ]
    specs = [DtypeSpec("w", "weight", "float"), DtypeSpec("label", "text label", "text")]
    assert compound_fields(specs) == [("w", "float"), ("label", "text")]
    assert compound_fields([]) == []


TS_REF = RefSpec("TimeSeries", "object")


@pytest.mark.parametrize(
    ("fields", "rows", "expected", "refs"),
    [
        pytest.param(
            [("idx_start", "int32"), ("count", "int32"), ("timeseries", TS_REF)],
            [(0, 5, "/processing/behavior/speed"), (60, 3, "/acquisition/camera")],
            [("idx_start", "<i4"), ("count", "<i4"), ("timeseries", "<U26")],
            ["timeseries"],
            id="timeseries-reference",
        ),
        pytest.param(
            [("x", "uint32"), ("y", "uint32"), ("weight", "float32")],
            [(1, 2, 0.5)],
            [("x", "<u4"), ("y", "<u4"), ("weight", "<f4")],
            [],
            id="pixel-mask",
        ),
        pytest.param(
            [("label", "text"), ("raw", "bytes")],
            [("µs", b"abc"), ("a", b"")],
            [("label", "<U2"), ("raw", "<U3")],
            [],
            id="text-sized-in-characters",
        ),
        pytest.param(
            [("label", "text")], [("",)], [("label", "<U1")], [], id="empty-text-min-length"
        ),
        pytest.param([("label", "text")], None, [("label", "<U1")], [], id="no-rows"),
        pytest.param(
            [("t", "isodatetime")],
            [(datetime.date(2024, 1, 2),)],
            [("t", "<U10")],
            [],
            id="date-as-iso-text",
        ),
        pytest.param(
            [("a", "int8"), ("b", [{"name": "c", "dtype": "float64"}])],
            [(1, (2.0,))],
            [("a", "i1"), ("b", [("c", "<f8")])],
            [],
            id="nested-compound",
        ),
        pytest.param(
            [("n", "numeric")], [(np.int16(3),)], [("n", "<i2")], [], id="numeric-inferred"
        ),
    ],
)
def test_compound_numpy_dtype(fields, rows, expected, refs):
    dtype, ref_fields = compound_numpy_dtype(fields, rows)
    assert dtype == np.dtype(expected)
    assert ref_fields == refs


def test_nested_compound_with_a_reference_is_refused():
    fields = [("a", "int8"), ("b", [{"name": "target", "dtype": TS_REF}])]
    with pytest.raises(ValueError, match="nested compound with reference fields"):
        compound_numpy_dtype(fields, [(1, ("/acquisition/x",))])


@pytest.mark.parametrize(
    ("fields", "stored", "expected"),
    [
        (
            [("x", "uint32"), ("w", "float32")],
            [("a", "<i8"), ("b", "<f8")],
            [("x", "<u4"), ("w", "<f4")],
        ),
        (
            [("flag", "bool"), ("n", "numeric")],
            [("f", "?"), ("n", "<i2")],
            [("flag", "?"), ("n", "<i2")],
        ),
        (
            [("a", "int8"), ("b", [{"name": "c", "dtype": "float64"}])],
            [("a", "<i8"), ("b", [("c", "<f4")])],
            [("a", "i1"), ("b", [("c", "<f8")])],
        ),
        ([("x", "uint32"), ("label", "text")], [("a", "<i8"), ("b", "<U3")], None),
        ([("x", "uint32"), ("n", "int32")], [("a", "<i8"), ("b", "<U3")], None),
        ([("x", "uint32"), ("ts", TS_REF)], [("a", "<i8"), ("b", "<i8")], None),
        ([("x", "uint32")], [("a", "<i8"), ("b", "<i8")], None),
        ([("x", "uint32")], "<i8", None),
        (
            [("a", "int8"), ("b", [{"name": "c", "dtype": "text"}])],
            [("a", "<i8"), ("b", [("c", "<i4")])],
            None,
        ),
    ],
)
def test_numeric_compound_dtype(fields, stored, expected):
    got = numeric_compound_dtype(fields, np.dtype(stored))
    if expected is None:
        assert got is None
    else:
        assert got == np.dtype(expected)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.dtype("int16"), "int16"),
        (np.dtype("uint64"), "uint64"),
        (np.dtype("float32"), "float32"),
        (np.dtype("bool"), "bool"),
        (np.dtype("U5"), "utf"),
        (np.dtype("S2"), "utf"),
        (np.dtype("O"), "utf"),
        (np.dtypes.StringDType(), "utf"),
        (
            np.dtype([("a", "<i4"), ("b", "<U3")]),
            [{"name": "a", "dtype": "int32"}, {"name": "b", "dtype": "utf"}],
        ),
        (
            np.dtype([("a", "<f8"), ("b", [("c", "<u1")])]),
            [
                {"name": "a", "dtype": "float64"},
                {"name": "b", "dtype": [{"name": "c", "dtype": "uint8"}]},
            ],
        ),
    ],
)
def test_builder_dtype_name(dtype, expected):
    assert builder_dtype_name(dtype) == expected
