"""Stores written by hdmf-zarr < 0.14 (Zarr v2), read through a v3 view.

:mod:`.conventions` maps their attributes and dtypes onto this package's convention,
:mod:`.chunks` decodes their chunks (numcodecs codecs, legacy object codecs),
:mod:`.safe_pickle` is the restricted unpickler for pickled object chunks, and :mod:`.store`
holds :class:`~nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore`. The HDMFIO classes for
the v2 API (``ZarrV2IO``) live with the backend, in :mod:`nwbzarr.backend.legacy_io`."""
