"""How an HDF5 file is recognised: its superblock signature and the names HDF5 files carry.

Used by :mod:`nwbzarr.virtual.sources` to tell an HDF5 file from a reference JSON or a Zarr
store. Source: HDF5 File Format Specification, §II.A (the superblock): the signature is at
byte 0, or at 512, 1024, 2048, ... when the file starts with a user block.

This module never imports hdmf; h5py only when a local file must be searched past byte 0.
"""

from __future__ import annotations

import os

__all__ = ["HDF5_SIGNATURE", "HDF5_SUFFIXES", "has_hdf5_signature", "is_hdf5_file"]

#: The eight bytes that open an HDF5 superblock (HDF5 File Format Specification, §II.A).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Name endings of HDF5 files (NWB files are ``.nwb``), compared in lower case.
HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5", ".hdf")


def has_hdf5_signature(head: bytes) -> bool:
    """True if ``head`` (a file's first bytes) starts with the HDF5 superblock signature.

    Parameters
    ----------
    head : bytes
        The first bytes of a file (8 are enough).

    Returns
    -------
    bool
    """
    return head.startswith(HDF5_SIGNATURE)


def is_hdf5_file(path: str | os.PathLike[str]) -> bool:
    """True if the local file ``path`` is an HDF5 file, with or without a user block.

    Parameters
    ----------
    path : str or os.PathLike
        A local file.

    Returns
    -------
    bool
        What ``h5py.is_hdf5`` answers: it also finds a superblock after a user block.
    """
    import h5py  # only here: telling a JSON or a tar from HDF5 needs no h5py

    return bool(h5py.is_hdf5(os.fspath(path)))
