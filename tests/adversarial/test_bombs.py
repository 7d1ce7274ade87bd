"""Small inputs that ask for unbounded memory or CPU are refused quickly (issue 13).

Each bomb is run in a fresh Python under an address-space cap (``run_capped``): a bomb that
is not refused either fails with MemoryError there or takes too long. The bombs of one kind
share a subprocess (interpreter start-up dominates the cost); each is timed on its own and
has its own test. Limits are the defaults of :mod:`nwbzarr.limits`.
"""

from __future__ import annotations

import datetime
import json
import pickle

import numpy as np
import pytest

from nwbzarr import limits
from nwbzarr.errors import LegacyFormatError, LimitExceededError, ReferenceFileError
from nwbzarr.formats.hdmf_zarr_v2.chunks import _decode_objects
from nwbzarr.formats.hdmf_zarr_v2.conventions import parse_json_document
from nwbzarr.formats.hdmf_zarr_v2.safe_pickle import safe_unpickle
from nwbzarr.formats.kerchunk.references import parse_references

from .conftest import run_capped

MEM_MB = 1024
SECONDS = 5.0  # per bomb, in the capped subprocess (measured: < 0.1 s each)

# Runs every bomb named in BOMBS (a dict name -> zero-argument callable) and prints, per bomb,
# the exception class, its message and the time taken.
_RUNNER = """
import json, time, traceback
results = {}
for name, bomb in BOMBS.items():
    t = time.perf_counter()
    try:
        bomb()
        error, message = None, ""
    except BaseException as exc:
        error, message = type(exc).__name__, str(exc)
    results[name] = {"error": error, "message": message, "seconds": time.perf_counter() - t}
print(json.dumps(results))
"""

_PICKLE_BOMBS = """
import io, pickle, warnings
import numpy as np
from nwbzarr.formats.hdmf_zarr_v2.safe_pickle import safe_unpickle

warnings.simplefilter("ignore")

def shared_lists():
    # L60 = [L59, L59], ...: 426 bytes with the memo, 2**60 elements once copied
    nested = []
    for _ in range(60):
        nested = [nested, nested]
    safe_unpickle(pickle.dumps(nested, protocol=2), "bomb/shared/0")

class _Wide:
    pass

class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, _Wide):  # 35 elements of dtype U9999999: 1.4 GB once allocated
            state = (1, (35,), np.dtype("U9999999"), False, ["a"] * 35)
            return (np.core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), state)
        return NotImplemented

def wide_dtype():
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(_Wide())
    safe_unpickle(buf.getvalue(), "bomb/wide/0", (35,))

def deep_lists():
    # 100 000 nested lists: pickle builds them without recursion, copying would recurse
    data = b"\\x80\\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    safe_unpickle(data, "bomb/deep/0")

BOMBS = {"shared_lists": shared_lists, "wide_dtype": wide_dtype, "deep_lists": deep_lists}
"""

_REFS_BOMBS = """
import json, os, tempfile, warnings
from nwbzarr.formats.kerchunk.references import load_references, parse_references

warnings.simplefilter("ignore")

def gen(**entry):
    base = {"key": "k/{{i}}", "url": "https://example.org/x", "dimensions": {"i": {"stop": 1}}}
    base.update(entry)
    return {"version": 1, "refs": {".zgroup": "{}"}, "gen": [base]}

def parse(doc):
    return lambda: parse_references(doc, "https://example.org/refs.json")

def from_file(text):
    def run():
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            load_references(path)
        finally:
            os.unlink(path)
    return run

BOMBS = {
    "string_repeat": parse(gen(key="{{ 'A' * 3000000000 }}")),
    "power": parse(gen(key="{{ 9 ** 199999999 }}")),
    "many_keys": parse(gen(
        url="https://example.org/{{i}}", offset="{{i * 10}}", length="10",
        dimensions={"i": {"stop": 3_000_000}},
    )),
    "keys_product": parse(gen(dimensions={"i": {"stop": 100_000}, "j": {"stop": 100_000}})),
    "huge_stop": parse(gen(dimensions={"i": {"stop": 10**20}})),
    "operations": parse(gen(  # 401 additions for each of 1M keys: too much CPU in all
        offset="{{ " + " + ".join(["i"] * 200) + " }}", length="1",
        dimensions={"i": {"stop": 1_000_000}},
    )),
    "statement_loop": parse(gen(
        key="{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"
    )),
    "format_width": parse(gen(key="{{ '%3000000000d' % i }}")),
    "template_concat": parse({
        "version": 1, "templates": {"u": "A" * 60000},
        "refs": {".zgroup": "{}", "a/0": ["{{u}}" * 10000, 0, 1]},
    }),
    "long_range": parse({
        "version": 1, "refs": {".zgroup": "{}", "a/0": ["https://example.org/x", 0, 2**62]},
    }),
    "deep_json": from_file('{"version": 1, "refs": {".zgroup": ' + "[" * 100_000
                           + "]" * 100_000 + "}}"),
    "deep_metadata_text": parse({
        "version": 1, "refs": {"zarr.json": '{"a": ' + "[" * 900 + "]" * 900 + "}"},
    }),
    "deep_inline": from_file('{"version": 1, "refs": {".zgroup": {"a": ' + "[" * 900
                             + "]" * 900 + "}}}"),
}
"""

_NAMESPACE_BOMB = """
import warnings
from nwbzarr import NWBZarrIO

warnings.simplefilter("ignore")

def open_store():
    with NWBZarrIO(STORE, mode="r") as io:
        io.read()

BOMBS = {"cached_namespace": open_store}
"""


def _run(code: str) -> dict:
    proc, result = run_capped(code + _RUNNER, mem_mb=MEM_MB, timeout=60)
    assert proc.returncode == 0 and isinstance(result, dict), proc.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def pickle_results() -> dict:
    """Outcome of every pickle bomb (one capped subprocess)."""
    return _run(_PICKLE_BOMBS)


@pytest.fixture(scope="module")
def refs_results() -> dict:
    """Outcome of every reference-JSON bomb (one capped subprocess)."""
    return _run(_REFS_BOMBS)


def _assert_refused(result: dict, field: str, where: str) -> None:
    assert result["error"] == "LimitExceededError", result
    assert result["seconds"] < SECONDS, result
    message = result["message"]
    assert where in message and field in message and limits.env_name(field) in message


# ------------------------------------------------------------------------- pickled chunks


def test_pickle_shared_references(pickle_results):
    """A pickle naming one list twice per level, 60 levels (2**60 elements): refused."""
    _assert_refused(pickle_results["shared_lists"], "max_pickle_bytes", "bomb/shared/0")


def test_pickle_wide_text_dtype(pickle_results):
    """35 elements of dtype ``U9999999`` (1.4 GB) in a 274-byte pickle: refused."""
    _assert_refused(pickle_results["wide_dtype"], "max_pickle_bytes", "bomb/wide/0")


def test_pickle_deep_nesting(pickle_results):
    """100 000 nested lists: refused by depth, not by a RecursionError."""
    _assert_refused(pickle_results["deep_lists"], "max_json_depth", "bomb/deep/0")


def test_pickle_count_must_match_declared_chunk_shape():
    """A pickled array of another element count than the declared chunk is corrupt."""
    data = pickle.dumps(np.array(["a", "b", "c"], dtype=object))
    with pytest.raises(LegacyFormatError, match="3 elements, the chunk shape"):
        _decode_objects({"id": "pickle"}, data, "arr/0", (2,))
    assert _decode_objects({"id": "pickle"}, data, "arr/0", (3,)).tolist() == ["a", "b", "c"]


def test_pickle_limit_reaches_the_caller():
    """The limit error is not rewrapped by the legacy chunk decoder."""
    with limits.override(max_pickle_bytes=1000):
        data = pickle.dumps(np.array(["x" * 2000], dtype=object))
        with pytest.raises(LimitExceededError, match="NWBZARR_MAX_PICKLE_BYTES"):
            _decode_objects({"id": "pickle"}, data, "arr/0", (1,))
    assert safe_unpickle(data, "arr/0").tolist() == ["x" * 2000]


# ----------------------------------------------------------------- reference JSON / gen


@pytest.mark.parametrize(
    "bomb, field",
    [
        ("string_repeat", "max_template_bytes"),
        ("power", "max_template_int_bits"),
        ("format_width", "max_template_bytes"),
        ("template_concat", "max_template_bytes"),
        ("many_keys", "max_generated_refs"),
        ("keys_product", "max_generated_refs"),
        ("huge_stop", "max_generated_refs"),
        ("operations", "max_generated_refs"),
        ("long_range", "max_range_bytes"),
        ("deep_json", "max_json_depth"),
        ("deep_inline", "max_json_depth"),
        ("deep_metadata_text", "max_json_depth"),
    ],
)
def test_reference_json_bomb(refs_results, bomb, field):
    """Templates, gen sizes, byte ranges and nesting over their limits: refused at load."""
    result = refs_results[bomb]
    _assert_refused(result, field, "refs.json" if "deep" not in bomb else ".json")
    if bomb == "long_range":
        assert "'a/0'" in result["message"]


def test_gen_statements_are_refused(refs_results):
    """``{% for %}`` loops (and every other statement) are never run."""
    result = refs_results["statement_loop"]
    assert result["error"] == "ReferenceFileError" and result["seconds"] < SECONDS, result
    assert "statement" in result["message"]


def test_gen_subset_still_renders():
    """Arithmetic, filters and conditionals of real kerchunk templates keep working."""
    doc = {
        "version": 1,
        "templates": {"u": "https://example.org/f.nc"},
        "gen": [
            {
                "key": "x/{{ '%02d' % i }}.{{ j | string }}",
                "url": "{{u}}",
                "offset": "{{ (i + 1) * 1000 + (j if j > 0 else 7) }}",
                "length": "{{ 2 ** 4 }}",
                "dimensions": {"i": {"start": 1, "stop": 3}, "j": [0, 5]},
            }
        ],
        "refs": {".zgroup": "{}"},
    }
    refs = parse_references(doc, "https://example.org/refs.json").refs
    assert refs["x/01.0"].offset == 2007 and refs["x/02.5"].offset == 3005
    assert refs["x/01.5"].length == 16 and len(refs) == 5


@pytest.mark.parametrize(
    "template",
    ["{{ ''.join(['a'] * 3) }}", "{{ range(10) | list }}", "{{ 'a' | center(10**9) }}"],
)
def test_gen_calls_and_unknown_filters_are_refused(template):
    """Calls, attribute access and filters outside the subset are refused, not run."""
    doc = {
        "version": 1,
        "gen": [{"key": template, "url": "https://e/x", "dimensions": {"i": [1]}}],
        "refs": {".zgroup": "{}"},
    }
    with pytest.raises(ReferenceFileError, match=r"gen\[0\] is malformed"):
        parse_references(doc, "https://example.org/refs.json")


def test_legacy_json_document_depth():
    """Legacy v2 / LINDI metadata documents: nesting over max_json_depth is refused."""
    deep = b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}"
    with pytest.raises(LimitExceededError, match="NWBZARR_MAX_JSON_DEPTH"):
        parse_json_document(deep, "store/.zattrs")
    too_deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(LimitExceededError, match="store/.zattrs"):
        parse_json_document(too_deep, "store/.zattrs")


# ---------------------------------------------------------------------- cached namespaces


def test_cached_namespace_bomb(tmp_path):
    """A 6 MB cached spec source of 200 000 type definitions: refused before hdmf sees it."""
    import zarr
    from pynwb import NWBFile

    from nwbzarr import NWBZarrIO

    store = tmp_path / "bomb.nwb.zarr"
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    with NWBZarrIO(store, mode="w") as io:
        io.write(NWBFile(session_description="s", identifier="i", session_start_time=start))
    root = zarr.open_group(store, mode="r+")
    version = root["specifications"].require_group("bomb").require_group("0.1.0")
    namespace = {
        "name": "bomb",
        "version": "0.1.0",
        "doc": "d",
        "author": ["a"],
        "contact": ["c"],
        "schema": [{"namespace": "core"}, {"source": "bomb.extensions"}],
    }
    version.create_array("namespace", shape=(), dtype=str)[()] = json.dumps(
        {"namespaces": [namespace]}
    )
    groups = [{"neurodata_type_def": f"T{i}"} for i in range(200_000)]
    version.create_array("bomb.extensions", shape=(), dtype=str)[()] = json.dumps(
        {"groups": groups}
    )
    zarr.consolidate_metadata(store)
    results = _run(f"STORE = {str(store)!r}\n" + _NAMESPACE_BOMB)
    _assert_refused(results["cached_namespace"], "max_spec_items", "bomb/0.1.0/bomb.extensions")
    assert "load_namespaces=False" in results["cached_namespace"]["message"]


def test_legacy_v2_zstd_bomb_is_refused_before_decompressing():
    """A legacy hdmf-zarr chunk whose zstd frame declares far more than its chunk shape."""
    import numcodecs
    import numpy as np

    from nwbzarr.errors import CorruptChunkError
    from nwbzarr.formats.hdmf_zarr_v2.chunks import decode_v2_chunk
    from nwbzarr.formats.hdmf_zarr_v2.conventions import ArrayPlan

    bomb = numcodecs.Zstd(level=19).encode(np.zeros(64 << 20, dtype="u1"))  # 64 MiB of zeros
    assert len(bomb) < 1 << 16
    plan = ArrayPlan.__new__(ArrayPlan)
    fields = {
        "path": "/acquisition/ts/data",
        "v2_chunks": (16,),
        "v2_dtype": np.dtype("<f8"),
        "compressor": {"id": "zstd", "level": 19},
        "filters": [],
    }
    for name, value in fields.items():
        object.__setattr__(plan, name, value)
    with pytest.raises(CorruptChunkError, match="acquisition/ts/data/0"):
        decode_v2_chunk(bomb, plan, "0")
