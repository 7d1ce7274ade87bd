"""``hdmf_zarr.backend`` names bound to nwbzarr (test-only)."""

from nwbzarr.backend.io import ROOT_NAME, SUPPORTED_ZARR_STORES, ZarrIO

__all__ = ["ZarrIO", "ROOT_NAME", "SUPPORTED_ZARR_STORES"]
