"""An h5py-like, read-only view of anything nwbzarr reads: :func:`h5py_view`.

``nwbzarr.h5py_view(path_or_url)`` opens a Zarr v3 store (``*.nwb.zarr``), a legacy hdmf-zarr
v2 store, an HDF5 file (through the virtual Zarr view of :mod:`nwbzarr.virtual`), a reference
JSON (ours, LINDI ``.lindi.json``, kerchunk), a LINDI ``.lindi.tar`` / ``.lindi.d``, locally or
from a URL — with the opener ``NWBZarrIO`` uses — and returns a :class:`File` with h5py's
``File``/``Group``/``Dataset``/``attrs``/reference surface::

    import nwbzarr
    from pynwb import NWBHDF5IO

    with nwbzarr.h5py_view("session.nwb.zarr") as f:
        f["acquisition/ts/data"][:10]
        nwbfile = NWBHDF5IO(file=f, mode="r").read()   # pynwb's HDF5 reader, on a Zarr store

The view's classes subclass h5py's (``isinstance(f, h5py.File)``), so code written for h5py —
hdmf's ``HDF5IO`` among it — runs unchanged; values come back as h5py returns them (see
:mod:`nwbzarr.h5view.values`), links as ``h5py.SoftLink`` / ``h5py.ExternalLink``, references
as :class:`Reference` objects that ``f[ref]`` dereferences. docs/h5py_view.md lists what
differs from h5py on the HDF5 original.

Modules: :mod:`.source` (:func:`h5py_view`, one opened file), :mod:`.groups` (``File``,
``Group``), :mod:`.datasets` (``Dataset``, ``TextDataset``), :mod:`.nodes` (what they share:
``ObjectID``, ``AttributeManager``), :mod:`.values` and :mod:`.selection` (h5py's values and
indexing rules).
"""

from __future__ import annotations

from .datasets import Dataset, TextDataset
from .groups import File, Group
from .nodes import AttributeManager, ObjectID
from .source import h5py_view
from .values import Reference

__all__ = [
    "AttributeManager",
    "Dataset",
    "File",
    "Group",
    "ObjectID",
    "Reference",
    "TextDataset",
    "h5py_view",
]
