"""Conversion between NWB HDF5 files and Zarr v3 stores (orchestration only)."""

from .copy import convert, detect_format

__all__ = ["convert", "detect_format"]
