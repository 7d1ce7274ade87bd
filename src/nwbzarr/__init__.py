"""nwbzarr: a Zarr v3 home for NWB data.

Public API: :class:`ZarrIO`, :class:`NWBZarrIO`, :class:`ZarrDataIO`, :func:`read_nwb`,
:func:`convert`, :func:`index_hdf5`, :func:`save_refs`, :func:`upload_references`,
:func:`save_references`, :func:`load_references`, :class:`LocalCache`, and the exceptions in
:mod:`nwbzarr.errors`. HDF5 files and reference JSON are read without copying, amended and
published through :mod:`nwbzarr.virtual`.
"""

from .backend.amend import save_refs
from .backend.dataio import ZarrDataIO
from .backend.grow import install_hdmf_hooks
from .backend.io import ZarrIO
from .backend.nwb import NWBZarrIO, read_nwb, register_with_pynwb
from .convert import convert
from .errors import NWBZarrError
from .storage.cache import LocalCache
from .virtual import (
    index_hdf5,
    index_to_json,
    load_references,
    save_references,
    upload_references,
)

__all__ = [
    "ZarrIO",
    "NWBZarrIO",
    "ZarrDataIO",
    "read_nwb",
    "register_with_pynwb",
    "convert",
    "index_hdf5",
    "index_to_json",
    "save_references",
    "save_refs",
    "upload_references",
    "load_references",
    "LocalCache",
    "NWBZarrError",
]
__version__ = "0.1.0"

register_with_pynwb()
install_hdmf_hooks()
