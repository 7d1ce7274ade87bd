"""conftest.py installed into pynwb's own integration suite to run it through nwbzarr.

``tests/test_pynwb_suite.py`` extracts ``tests/integration`` from the pynwb sdist of the
installed version and drops this file in as ``tests/integration/hdf5/conftest.py``. It

- rebinds ``pynwb.testing.testh5io.NWBHDF5IO`` (the name pynwb's round-trip mixins call) to
  :class:`nwbzarr.NWBZarrIO`, so every mixin-based test writes, reads and validates a Zarr v3
  store;
- makes ``remove_test_file`` remove store directories;
- gives the few tests that inspect the written file with ``h5py.File`` (``test_image``,
  ``test_misc``) :func:`nwbzarr.h5py_view` for read-only opens, so those on-disk checks (dtype
  of ``num_samples``, attributes of waveform columns) run against the Zarr store through
  h5py's surface; an open for writing (only of an HDF5 file there) goes to h5py.

``pynwb.validate(path=...)`` finds our stores through ``nwbzarr``'s registration with pynwb.
"""

import os
import shutil
import types

import h5py
import pynwb.testing.testh5io as testh5io
import pytest

import nwbzarr


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


testh5io.NWBHDF5IO = nwbzarr.NWBZarrIO
testh5io.remove_test_file = _remove


def _h5py_file(path, mode="r", **kwargs):
    """``h5py.File`` as the suite's on-disk checks call it.

    Read-only opens go through :func:`nwbzarr.h5py_view`, which reads the Zarr store the mixins
    wrote (and HDF5 files alike) with h5py's surface. The one open for writing in these modules
    (``test_misc``'s ``TestUnitsMismatchedWaveformUnit`` changes an attribute of a file pynwb's
    own ``NWBHDF5IO`` wrote, an HDF5 file) goes to h5py itself.
    """
    if mode == "r":
        return nwbzarr.h5py_view(os.fspath(path))
    return h5py.File(path, mode, **kwargs)


_h5py_with_view = types.SimpleNamespace(
    **{k: getattr(h5py, k) for k in dir(h5py) if not k.startswith("__")}
)
_h5py_with_view.File = _h5py_file


@pytest.fixture(autouse=True)
def _store_aware_h5py(request, monkeypatch):
    module = request.module
    if getattr(module, "h5py", None) is h5py and module.__name__.rsplit(".", 1)[-1] in (
        "test_image",
        "test_misc",
    ):
        monkeypatch.setattr(module, "h5py", _h5py_with_view)
    yield
