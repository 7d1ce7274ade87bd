"""``hdmf_zarr.nwb_zarrv2`` names bound to nwbzarr (test-only)."""

from ._missing import legacy_io_names

(NWBZarrV2IO,) = legacy_io_names("NWBZarrV2IO")

__all__ = ["NWBZarrV2IO"]
