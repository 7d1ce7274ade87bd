"""conftest.py installed into pynwb's own integration suite to run it through nwbzarr.

``tests/test_pynwb_suite.py`` extracts ``tests/integration`` from the pynwb sdist of the
installed version and drops this file in as ``tests/integration/hdf5/conftest.py``. It

- rebinds ``pynwb.testing.testh5io.NWBHDF5IO`` (the name pynwb's round-trip mixins call) to
  :class:`nwbzarr.NWBZarrIO`, so every mixin-based test writes, reads and validates a Zarr v3
  store;
- makes ``remove_test_file`` remove store directories;
- gives the few tests that inspect the written file with ``h5py.File`` a view of the store with
  the same ``[...]``/``.attrs``/``.dtype`` surface (a :class:`zarr.Group` opened without
  consolidated metadata, refreshed on close when opened for writing), so those on-disk checks
  (dtype of ``num_samples``, attributes of waveform columns) run against the Zarr store.

``pynwb.validate(path=...)`` finds our stores through ``nwbzarr``'s registration with pynwb.
"""

import os
import shutil
import types

import h5py
import pynwb.testing.testh5io as testh5io
import pytest
import zarr

import nwbzarr


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


testh5io.NWBHDF5IO = nwbzarr.NWBZarrIO
testh5io.remove_test_file = _remove


class _StoreAsH5File:
    """Context manager returning a store's root group where a test opens ``h5py.File``."""

    def __init__(self, path, mode="r", **kwargs):
        self._path = os.fspath(path)
        self._mode = mode
        if nwbzarr.ZarrIO.can_read(self._path):
            self._group = zarr.open_group(
                self._path, mode="r" if mode == "r" else "r+", use_consolidated=False
            )
            self._h5 = None
        else:
            self._group = None
            self._h5 = h5py.File(path, mode, **kwargs)

    def __enter__(self):
        return self._group if self._group is not None else self._h5.__enter__()

    def __exit__(self, *exc):
        self.close()

    def __getitem__(self, key):
        return (self._group if self._group is not None else self._h5)[key]

    def close(self):
        if self._h5 is not None:
            self._h5.close()
        elif self._mode != "r":
            zarr.consolidate_metadata(self._path)


_h5py_view = types.SimpleNamespace(
    **{k: getattr(h5py, k) for k in dir(h5py) if not k.startswith("__")}
)
_h5py_view.File = _StoreAsH5File


@pytest.fixture(autouse=True)
def _store_aware_h5py(request, monkeypatch):
    module = request.module
    if getattr(module, "h5py", None) is h5py and module.__name__.rsplit(".", 1)[-1] in (
        "test_image",
        "test_misc",
    ):
        monkeypatch.setattr(module, "h5py", _h5py_view)
    yield
