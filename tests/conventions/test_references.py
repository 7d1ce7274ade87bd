"""Object references and links as JSON values, and path normalisation
(conventions/references.py)."""

from __future__ import annotations

import pytest
from hdmf.build import DatasetBuilder, GroupBuilder

from nwbzarr.conventions.references import (
    SAME_FILE,
    attribute_reference,
    builder_path,
    link_entry,
    normalize_path,
    parse_attribute_reference,
    parse_links,
)
from nwbzarr.errors import MalformedAttributeError


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"),
        (".", "/"),
        ("/", "/"),
        ("//", "/"),
        ("///", "/"),
        ("a", "/a"),
        ("/a", "/a"),
        ("/a/b/", "/a/b"),
        ("a/b/", "/a/b"),
        ("a//b", "/a/b"),
        ("///a///b///", "/a/b"),
        ("/a/./b", "/a/b"),
        ("./a", "/a"),
        ("/a/b/..", "/a"),
        ("/a/../b", "/b"),
        ("/a/b/../../c", "/c"),
        ("../x", "/x"),
        ("/..", "/"),
        ("/../../x", "/x"),
        ("acquisition/ts/data", "/acquisition/ts/data"),
        ("/a b/ü", "/a b/ü"),
    ],
)
def test_normalize_path(path, expected):
    assert normalize_path(path) == expected


def test_same_file_source():
    assert SAME_FILE == "."


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("/general/devices/probe",), {"source": ".", "path": "/general/devices/probe"}),
        (("general/devices/probe/",), {"source": ".", "path": "/general/devices/probe"}),
        (("/a//b", "../a.nwb.zarr"), {"source": "../a.nwb.zarr", "path": "/a/b"}),
        (("",), {"source": ".", "path": "/"}),
    ],
)
def test_attribute_reference(args, expected):
    assert attribute_reference(*args) == {"_REFERENCE": expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"_REFERENCE": {"source": ".", "path": "/a/b"}}, (".", "/a/b")),
        ({"_REFERENCE": {"path": "/a/b"}}, (".", "/a/b")),  # source defaults to the same file
        ({"_REFERENCE": {"source": ".", "path": "a//b/"}}, (".", "/a/b")),
        ({"_REFERENCE": {"source": "../o.nwb.zarr", "path": "/x"}}, ("../o.nwb.zarr", "/x")),
        ({"_REFERENCE": {"source": ".", "path": "/a", "extra": 1}}, (".", "/a")),
    ],
)
def test_parse_attribute_reference(value, expected):
    assert parse_attribute_reference(value) == expected
    assert parse_attribute_reference(value, where="/g: attribute 't'") == expected


@pytest.mark.parametrize(
    "value",
    [None, "/a", 3, ["_REFERENCE"], {"source": ".", "path": "/a"}, {"reference": "/a"}, {}],
)
def test_ordinary_values_are_not_references(value):
    assert parse_attribute_reference(value) is None
    assert parse_attribute_reference(value, where="/g: attribute 't'") is None


@pytest.mark.parametrize(
    "value",
    [
        {"_REFERENCE": {"source": ".", "path": "/a"}, "other": 1},
        {"_REFERENCE": "/a"},
        {"_REFERENCE": None},
        {"_REFERENCE": {"source": "."}},
        {"_REFERENCE": {"source": ".", "path": 5}},
        {"_REFERENCE": {"source": None, "path": "/a"}},
        {"_REFERENCE": {"source": ["."], "path": "/a"}},
    ],
)
def test_malformed_references(value):
    """Ignored as references without ``where``, an error with it."""
    assert parse_attribute_reference(value) is None
    with pytest.raises(MalformedAttributeError, match="/g: attribute 't': a '_REFERENCE' value"):
        parse_attribute_reference(value, where="/g: attribute 't'")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        (
            [{"name": "timestamps", "source": ".", "path": "/acquisition/a/timestamps"}],
            [("timestamps", ".", "/acquisition/a/timestamps")],
        ),
        ([{"name": "data", "path": "acquisition/b/data/"}], [("data", ".", "/acquisition/b/data")]),
        (
            [
                {"name": "d", "source": "../a.nwb.zarr", "path": "/x/../y"},
                {"name": "e", "source": ".", "path": "//z"},
            ],
            [("d", "../a.nwb.zarr", "/y"), ("e", ".", "/z")],
        ),
        ([{"name": "é x", "path": "/p", "extra": True}], [("é x", ".", "/p")]),
    ],
)
def test_parse_links(value, expected):
    assert parse_links(value, "store.zarr:/g") == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"name": "a", "path": "/x"}, "must be a list"),
        ("[]", "must be a list"),
        ([["a", ".", "/x"]], "entry 0"),
        ([{"name": "a", "path": "/x"}, "b"], "entry 1"),
        ([{"name": "a/b", "path": "/x"}], "entry 0"),
        ([{"name": "", "path": "/x"}], "entry 0"),
        ([{"name": ".", "path": "/x"}], "entry 0"),
        ([{"name": "..", "path": "/x"}], "entry 0"),
        ([{"name": 5, "path": "/x"}], "entry 0"),
        ([{"path": "/x"}], "entry 0"),
        ([{"name": "a"}], "entry 0"),
        ([{"name": "a", "path": None}], "entry 0"),
        ([{"name": "a", "path": "/x", "source": 3}], "entry 0"),
    ],
)
def test_malformed_links(value, match):
    with pytest.raises(MalformedAttributeError, match=f"store.zarr:/g: attribute _LINKS .*{match}"):
        parse_links(value, "store.zarr:/g")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("timestamps", "/processing/behavior/Position/position/timestamps"),
            {
                "name": "timestamps",
                "source": ".",
                "path": "/processing/behavior/Position/position/timestamps",
            },
        ),
        (
            ("data", "acquisition/src/data/"),
            {"name": "data", "source": ".", "path": "/acquisition/src/data"},
        ),
        (
            ("data", "/acquisition/src/data", "../a.nwb.zarr"),
            {"name": "data", "source": "../a.nwb.zarr", "path": "/acquisition/src/data"},
        ),
    ],
)
def test_link_entry(args, expected):
    assert link_entry(*args) == expected


def _tree():
    root = GroupBuilder("root")
    acquisition = GroupBuilder("acquisition")
    root.set_group(acquisition)
    ts = GroupBuilder("ts")
    acquisition.set_group(ts)
    data = DatasetBuilder("data", data=[1, 2])
    ts.set_dataset(data)
    return {"root": root, "acquisition": acquisition, "ts": ts, "data": data}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("root", "/"),
        ("acquisition", "/acquisition"),
        ("ts", "/acquisition/ts"),
        ("data", "/acquisition/ts/data"),
    ],
)
def test_builder_path(name, expected):
    assert builder_path(_tree()[name]) == expected


def test_builder_path_of_orphans():
    # a dataset without a parent sits under the root, as HDMF's backends place it
    assert builder_path(DatasetBuilder("x", data=[1])) == "/x"
    # a group without a parent is the root itself
    assert builder_path(GroupBuilder("anything")) == "/"
    # an orphan read as a reference target: its location is its parent's path
    orphan = DatasetBuilder("d", data=[1])
    orphan.location = "/a//b/"
    assert builder_path(orphan) == "/a/b/d"
