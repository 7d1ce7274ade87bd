"""Run hdmf-zarr 0.14's own unit suite through nwbzarr's classes.

hdmf-zarr 0.14 is the Zarr v3 reference backend for NWB; users and tools are written against
its API. Its sdist ships ``tests/unit``. This module fetches that sdist once
(:mod:`sdist_suites`), extracts ``tests/``, and runs the suite in a subprocess with
``tests/hdmf_zarr_suite/shim`` first on ``PYTHONPATH``: a test-only ``hdmf_zarr`` package whose
public names (``ZarrIO``, ``NWBZarrIO``, ``ZarrDataIO``, the v2 readers, and what the suite
imports from ``hdmf_zarr.utils``/``backend``/``nwb``) are nwbzarr's. hdmf-zarr itself is not
installed.

Tests that check hdmf-zarr's private internals or need the network are excluded, each with its
reason, in ``tests/hdmf_zarr_suite/not_applicable.txt`` (one ``fnmatch`` pattern of test ids
per line). The rest are applicable: at least :data:`MIN_PASS_RATIO` of them must pass, and every
one that fails must be listed, with its reason, in ``known_differences.txt`` (deliberate
differences, message wording, later issues), so that any new failure is a regression.

hdmf-zarr 0.14 needs Python >= 3.12 and zarr >= 3.4, so elsewhere the test is skipped; CI runs
it in its Python 3.13 pass (``.ci/run``).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import zarr
from sdist_suites import extract_tests, fetch_sdist, suite_command

HERE = Path(__file__).parent / "hdmf_zarr_suite"
VERSION = "0.14.0"
#: Share of the applicable tests that must pass (issue 15: >= 90 %).
MIN_PASS_RATIO = 0.90
#: The suite's modules, in two halves of similar run time, run side by side.
HALVES = (
    ("test_zarrio.py",),
    (
        "test_compression_info.py",
        "test_fsspec_streaming.py",
        "test_io_convert.py",
        "test_nwbzarrio.py",
        "test_parallel_write.py",
        "test_zarrdataio.py",
        "test_zarrv2_backward_compat.py",
        "test_zindi_interop.py",
    ),
)


def _zarr_at_least(major: int, minor: int) -> bool:
    parts = zarr.__version__.split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 12) or not _zarr_at_least(3, 4),
    reason="hdmf-zarr 0.14's suite needs Python >= 3.12 and zarr >= 3.4",
)


def not_applicable() -> dict[str, str]:
    """``{pattern: reason}`` of the tests excluded (``not_applicable.txt``)."""
    return _patterns("not_applicable.txt")


def known_differences() -> dict[str, str]:
    """``{pattern: reason}`` of the applicable tests expected to fail."""
    return _patterns("known_differences.txt")


def _patterns(name: str) -> dict[str, str]:
    """``{pattern: reason}`` from ``pattern  # reason`` lines of a file in ``HERE``."""
    out = {}
    for line in (HERE / name).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        assert reason.strip(), f"no reason given for {pattern.strip()!r}"
        out[pattern.strip()] = reason.strip()
    return out


def _outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed|failed|skipped}`` from a JUnit XML report (subtests folded in)."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        module, _, cls = case.get("classname", "").partition(".unit.")
        test_file, _, rest = cls.partition(".")
        test_id = f"{test_file}.py::" + (f"{rest}::" if rest else "") + case.get("name", "")
        kinds = {child.tag for child in case}
        state = (
            "failed"
            if kinds & {"failure", "error"}
            else "skipped"
            if "skipped" in kinds
            else "passed"
        )
        if out.get(test_id) != "failed":  # a failed call or teardown wins
            out[test_id] = state
    return out


@pytest.fixture(scope="module")
def suite_root(tmp_path_factory) -> Path:
    sdist = fetch_sdist("hdmf-zarr", VERSION)
    dest = tmp_path_factory.mktemp("hdmf_zarr_suite")
    extract_tests(sdist, dest)
    return next(dest.iterdir())


def _start(root: Path, files: tuple[str, ...], junit: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE / "shim"), str(root)]))
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.Popen(
        suite_command(root, [f"tests/unit/{name}" for name in files], f"--junitxml={junit}"),
        cwd=root,  # the suite writes fixed file names into its working directory
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_suite_modules_are_covered(suite_root: Path) -> None:
    present = {p.name for p in (suite_root / "tests/unit").glob("test_*.py")}
    assert present == set(HALVES[0]) | set(HALVES[1])


def test_pattern_lists_are_well_formed() -> None:
    excluded, known = not_applicable(), known_differences()
    for patterns in (excluded, known):
        assert patterns and all("::" in p for p in patterns)
    assert all(r.split(":")[0] in ("private", "network") for r in excluded.values())
    assert all(r.split(":")[0] in ("design", "wording", "later") for r in known.values())
    assert not set(excluded) & set(known)


def test_hdmf_zarr_unit_suite(suite_root: Path, tmp_path: Path) -> None:
    """At least 90 % of the applicable tests pass through nwbzarr, and every applicable test
    that fails is a listed known difference. The two halves run side by side, each in its own
    copy of the suite (it writes into its working directory)."""
    procs, junits = [], []
    for half, files in enumerate(HALVES):
        root = tmp_path / f"half{half}"
        shutil.copytree(suite_root / "tests", root / "tests")
        junits.append(tmp_path / f"junit{half}.xml")
        procs.append(_start(root, files, junits[-1]))
    outputs = [proc.communicate(timeout=1500)[0] for proc in procs]
    outcomes: dict[str, str] = {}
    for junit, output in zip(junits, outputs):
        assert junit.is_file(), output[-4000:]
        outcomes.update(_outcomes(junit))
    skip, known = not_applicable(), known_differences()
    counts: Counter = Counter()
    per_module: dict[str, Counter] = {}
    unexpected = []
    for test_id, state in sorted(outcomes.items()):
        excluded = any(fnmatch.fnmatchcase(test_id, p) for p in skip)
        kind = "not applicable" if excluded else state
        counts[kind] += 1
        per_module.setdefault(test_id.split("::")[0], Counter())[kind] += 1
        if kind == "failed" and not any(fnmatch.fnmatchcase(test_id, p) for p in known):
            unexpected.append(test_id)
    stale = [p for p in (*skip, *known) if not any(fnmatch.fnmatchcase(t, p) for t in outcomes)]
    assert not stale, f"pattern lists name tests that do not exist: {stale}"
    table = "\n".join(f"  {m}: {dict(c)}" for m, c in sorted(per_module.items()))
    print(f"hdmf-zarr {VERSION} suite through nwbzarr: {dict(counts)}\n{table}")
    applicable = counts["passed"] + counts["failed"]
    assert applicable > 0, outputs[0][-4000:]
    assert not unexpected, "failing, and not in known_differences.txt:\n" + "\n".join(unexpected)
    ratio = counts["passed"] / applicable
    assert ratio >= MIN_PASS_RATIO, f"{counts['passed']}/{applicable} applicable pass ({ratio:.1%})"
