"""``hdmf_zarr.nwb`` names bound to nwbzarr (test-only)."""

from nwbzarr import NWBZarrIO

__all__ = ["NWBZarrIO"]
