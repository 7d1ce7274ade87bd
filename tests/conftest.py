"""Shared fixtures: the shipped sample file, and the real data files under ../shared/data.

``ECEPHYS_FILE`` (fixture ``ecephys_file``) is the small real NWB file shipped in the repository
(``data/sample_ecephys.nwb``, see ``data/README.md``): always present, tests using it never skip.

Every other real file lives outside the repository, in ``../shared/data`` (resolved from this
file, not from the working directory), or in ``$NWBZARR_SHARED_DATA`` when that is set (pointing
it at a missing directory runs the suite as a fresh clone without shared data would). Tests reach
those files only through this module: the ``shared_data`` fixture, :func:`shared` (a path that
skips the calling test when absent), or the module-level lists (empty when absent, so their
parametrized tests are reported as skipped). Nothing here fails for want of shared data.

It also holds what several test modules share:

* :func:`sweep` (a per-file sweep's pytest params: all but the last file marked ``slow``),
  :func:`hdf5_views` (an HDF5 file beside its reference JSON and converted store) and
  :func:`assert_validates_in_fresh_interpreter`;
* fixtures: ``quiet_warnings`` (warnings ignored while a test runs), ``shared_data`` and
  ``ecephys_file`` (above), ``rich`` (the rich mock NWB file of ``helpers.build_rich_file``
  written once per module: ``(nwbfile, store path)``) and ``server`` (a loopback HTTP server
  with Range support, ``http_server.RangeHTTPServer``, over the directory given by the
  module's own ``served_dir`` fixture, started for each test so its request log starts empty).

Plain helpers that are not fixtures (the rich file's builder, ``write``, ``zattrs``,
``ArrayIterator``) live in ``helpers.py``; the HTTP server in ``http_server.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ECEPHYS_FILE = REPO / "data" / "sample_ecephys.nwb"

SHARED_DATA = Path(
    os.environ.get("NWBZARR_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
NWB_DIR = SHARED_DATA / "nwb"
NWB_FILES = sorted(NWB_DIR.glob("*.nwb")) if NWB_DIR.is_dir() else []


def sweep(files: list[Path]) -> list:
    """``files`` as pytest params for a per-file sweep: the last file (the richest, the ecephys
    session) runs in every pass; the others are marked ``slow`` (CI's version passes skip
    them: they repeat the same code path, and pass 1 runs them all)."""
    return [
        pytest.param(p, id=p.name, marks=() if i == len(files) - 1 else pytest.mark.slow)
        for i, p in enumerate(files)
    ]


def shared(*parts: str | os.PathLike) -> Path:
    """The path ``SHARED_DATA/parts...``; skips the calling test when it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared data not found: {path} (real files kept outside the repository in "
            "../shared/data; set NWBZARR_SHARED_DATA to use another directory)"
        )
    return path


_VALIDATE = """
import sys, pynwb, nwbzarr
sys.path.insert(0, sys.argv[2])
from {module} import {make_file}
with nwbzarr.NWBZarrIO(sys.argv[1], "w") as io:
    io.write({make_file}())
with nwbzarr.NWBZarrIO(sys.argv[1], "r") as io:
    errors = pynwb.validate(io=io)
{checks}
print("ERRORS", len(errors))
for e in errors:
    print(e)
"""


def assert_validates_in_fresh_interpreter(
    path: str | os.PathLike, module: str, make_file: str, checks: str = ""
) -> None:
    """Write ``module.make_file()`` to ``path`` with nwbzarr; pynwb's validator finds no error.

    Runs in a fresh interpreter: other tests register extension namespaces in pynwb's global
    type map, which would then be cached in the file and change what "core" validation means.
    ``checks`` is more code run after ``errors = pynwb.validate(io=io)`` (it may add to
    ``errors``); ``sys.argv[1]`` is the path.
    """
    script = _VALIDATE.format(module=module, make_file=make_file, checks=textwrap.dedent(checks))
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "ERRORS 0" in out.stdout, out.stdout


def hdf5_views(src: Path, tmp_path: Path, *, cli: bool = False) -> dict[str, Path]:
    """A copy of ``src`` in ``tmp_path``, its reference JSON beside it, and a converted store.

    The JSON and the store are made by ``nwbzarr index`` / ``nwbzarr convert`` when ``cli``,
    else by :func:`nwbzarr.index_to_json` / :func:`nwbzarr.convert`. Returns the paths by kind:
    ``"hdf5"``, ``"json"``, ``"store"``.
    """
    import nwbzarr

    local = tmp_path / src.name
    shutil.copy(src, local)
    refs = tmp_path / (src.stem + ".nwb.json")
    store = tmp_path / (src.stem + ".nwb.zarr")
    if cli:
        from click.testing import CliRunner

        from nwbzarr.cli import main

        runner = CliRunner()
        for args in (
            ["index", "-q", str(local), "-o", str(refs)],
            ["convert", "-q", str(local), str(store)],
        ):
            result = runner.invoke(main, args)
            assert result.exit_code == 0, result.output
    else:
        nwbzarr.index_to_json(str(local), str(refs))
        nwbzarr.convert(str(local), str(store), progress=False)
    return {"hdf5": local, "json": refs, "store": store}


@pytest.fixture
def quiet_warnings():
    """Warnings ignored while the test runs (for ``pytest.mark.usefixtures``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture
def shared_data() -> Path:
    """The shared data directory; the test is skipped when it is absent."""
    return shared()


@pytest.fixture
def ecephys_file() -> Path:
    """The real NWB file shipped in the repository (data/sample_ecephys.nwb)."""
    assert ECEPHYS_FILE.is_file(), f"the shipped sample is missing: {ECEPHYS_FILE}"
    return ECEPHYS_FILE


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    """The rich mock file (``helpers.build_rich_file``), written once per module.

    Returns ``(original nwbfile, store path)``.
    """
    from helpers import build_rich_file, write  # pynwb: loaded only by the tests that use it

    nwbfile = build_rich_file()
    path = write(nwbfile, tmp_path_factory.mktemp("rich") / "rich.nwb.zarr")
    return nwbfile, path


@pytest.fixture
def server(served_dir: Path) -> Iterator:
    """A loopback HTTP server with Range support (``http_server.RangeHTTPServer``) over
    ``served_dir``, started for each test (so its request log starts empty).

    ``served_dir`` is the directory to serve: a module using ``server`` defines that fixture.
    """
    from http_server import RangeHTTPServer

    with RangeHTTPServer(served_dir) as srv:
        yield srv
