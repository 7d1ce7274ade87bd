"""``hdmf_zarr.zarr_utils`` names bound to nwbzarr (test-only)."""

from nwbzarr.backend.lazy import BuilderZarrReferenceDataset, ContainerZarrReferenceDataset

__all__ = ["ContainerZarrReferenceDataset", "BuilderZarrReferenceDataset"]
