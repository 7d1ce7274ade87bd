"""Test-only stand-in for the ``hdmf_zarr`` package: its public names bound to nwbzarr's.

``tests/test_hdmf_zarr_suite.py`` puts the parent directory first on ``PYTHONPATH`` when it
runs hdmf-zarr 0.14's own ``tests/unit`` so that every ``import hdmf_zarr`` in that suite
reaches nwbzarr's classes. Nothing here is shipped; names nwbzarr does not provide are
:func:`_missing` objects that raise when used, so the tests needing them fail visibly (and are
listed with a reason in ``tests/hdmf_zarr_suite/not_applicable.txt``).
"""

import nwbzarr

from ._missing import legacy_io_names

IncompleteConversionError, NWBZarrV2IO, ZarrV2IO, is_zarr_v2_file = legacy_io_names(
    "IncompleteConversionError", "NWBZarrV2IO", "ZarrV2IO", "is_zarr_v2_file"
)
ZarrIO = nwbzarr.ZarrIO
NWBZarrIO = nwbzarr.NWBZarrIO
ZarrDataIO = nwbzarr.ZarrDataIO
__version__ = "0.14.0"

__all__ = [
    "ZarrIO",
    "ZarrDataIO",
    "NWBZarrIO",
    "ZarrV2IO",
    "NWBZarrV2IO",
    "is_zarr_v2_file",
    "IncompleteConversionError",
]
