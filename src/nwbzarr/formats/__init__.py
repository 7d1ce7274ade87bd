"""Foreign formats nwbzarr reads (and, for Icechunk, writes), one folder each.

Each folder answers every question about its format: its attribute conventions (pure rules),
its store (a read-only Zarr v3 view) and its parsing. Nothing here imports hdmf; the HDMF side
(:mod:`nwbzarr.backend`) reaches these formats through the stores they define.

``hdf5/``
    an HDF5 file indexed as Zarr v3 references (chunk byte ranges), its heap values, the
    HDF5 filter pipeline as Zarr codecs, and its signature.
``hdmf_zarr_v2/``
    stores written by hdmf-zarr < 0.14 (Zarr v2): attributes, chunk decoding, the restricted
    unpickler for legacy object chunks, and the translating v3 view.
``lindi/``
    LINDI reference files (``.lindi.json``) and containers (``.lindi.tar``, ``.lindi.d``):
    attribute annotations and the translating v3 view.
``kerchunk/``
    reference JSON (kerchunk v0/v1, ours, LINDI's) parsed into a
    :class:`~nwbzarr.storage.manifest.ReferenceSet`, templates and ``gen`` bounded.
``icechunk/``
    virtual references written to and read from an Icechunk repository.

What a path or URL holds, and the read-only store that serves it, is decided above these
folders, in :mod:`nwbzarr.virtual.sources` (a table of probes, each asking one format's test).
"""
