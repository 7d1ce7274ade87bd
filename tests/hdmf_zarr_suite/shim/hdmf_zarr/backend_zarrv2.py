"""``hdmf_zarr.backend_zarrv2`` names bound to nwbzarr (test-only)."""

from nwbzarr.errors import UnsafePickleError as UnsafePickleCodecError

from ._missing import legacy_io_names

IncompleteConversionError, ZarrV2IO, is_zarr_v2_file = legacy_io_names(
    "IncompleteConversionError", "ZarrV2IO", "is_zarr_v2_file"
)

__all__ = ["ZarrV2IO", "is_zarr_v2_file", "IncompleteConversionError", "UnsafePickleCodecError"]
