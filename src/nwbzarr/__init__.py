"""nwbzarr: a Zarr v3 home for NWB data.

Public API: :class:`ZarrIO`, :class:`NWBZarrIO`, :class:`ZarrDataIO`, :func:`read_nwb`,
:func:`convert`, :func:`index_hdf5`, :func:`save_refs`, :func:`upload_references`,
:func:`save_references`, :func:`load_references`, :class:`LocalCache`, and the exceptions in
:mod:`nwbzarr.errors`. HDF5 files and reference JSON are read without copying, amended and
published through :mod:`nwbzarr.virtual`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .convert import convert  # eager: the subpackage of the same name would shadow it
from .errors import NWBZarrError
from .import_hooks import after_import

#: Public name -> module holding it; imported on first use, so that ``import nwbzarr`` (and
#: ``nwbzarr --help``) does not load zarr, hdmf and pynwb.
_EXPORTS = {
    "ZarrIO": ".backend.io",
    "NWBZarrIO": ".backend.nwb",
    "ZarrDataIO": ".backend.dataio",
    "read_nwb": ".backend.nwb",
    "register_with_pynwb": ".backend.nwb",
    "index_hdf5": ".virtual",
    "index_to_json": ".virtual",
    "save_references": ".virtual",
    "save_refs": ".backend.amend",
    "upload_references": ".virtual",
    "load_references": ".virtual",
    "LocalCache": ".storage.cache",
    "h5py_view": ".h5view",
    "ZarrV2IO": ".backend.legacy_io",
    "NWBZarrV2IO": ".backend.legacy_io",
    "is_zarr_v2_file": ".backend.legacy_io",
    "IncompleteConversionError": ".errors",
}

__all__ = [*_EXPORTS, "convert", "NWBZarrError"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nwbzarr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


def _nwbzarr_importing() -> bool:
    """True while a module of this package is still executing (an import in progress)."""
    return any(
        getattr(getattr(m, "__spec__", None), "_initializing", False)
        for n, m in list(sys.modules.items())
        if n.startswith("nwbzarr.")
    )


def _register_with_pynwb() -> None:
    if not _nwbzarr_importing():  # else backend/nwb.py registers itself when it is loaded
        importlib.import_module(".backend.nwb", __name__).register_with_pynwb()


def _install_hdmf_hooks() -> None:
    if not _nwbzarr_importing():  # else backend/grow.py installs them when it is loaded
        importlib.import_module(".backend.grow", __name__).install_hdmf_hooks()


# pynwb.read_nwb / pynwb.validate open nwbzarr stores, and hdmf grows their arrays, as soon as
# pynwb or hdmf is imported (at once if it already is)
after_import("pynwb", _register_with_pynwb)
after_import("hdmf", _install_hdmf_hooks)
