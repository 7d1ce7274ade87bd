"""nwbzarr: a Zarr v3 home for NWB data.

Public API: :class:`ZarrIO`, :class:`NWBZarrIO`, :class:`ZarrDataIO`, :func:`read_nwb`,
:func:`convert`, and the exceptions in :mod:`nwbzarr.errors`.
"""

from .backend.dataio import ZarrDataIO
from .backend.grow import install_hdmf_hooks
from .backend.io import ZarrIO
from .backend.nwb import NWBZarrIO, read_nwb, register_with_pynwb
from .convert import convert
from .errors import NWBZarrError

__all__ = [
    "ZarrIO",
    "NWBZarrIO",
    "ZarrDataIO",
    "read_nwb",
    "register_with_pynwb",
    "convert",
    "NWBZarrError",
]
__version__ = "0.1.0"

register_with_pynwb()
install_hdmf_hooks()
