"""HDF5 -> Zarr without copying: chunk indexes and codec mapping. Never imports hdmf."""

from .filters import HDF5Codecs, hdf5_codecs

__all__ = ["HDF5Codecs", "hdf5_codecs"]
