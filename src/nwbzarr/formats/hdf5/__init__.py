"""HDF5 seen as Zarr without copying: the chunk index (:mod:`.index`), heap values
(:mod:`.values`: attributes, text, references, compounds), the filter pipeline mapped to Zarr
v3 codecs (:mod:`.filters`, a pure rule also used by the backend for copies) and how an HDF5
file is recognised (:mod:`.signature`: superblock signature, file name endings)."""
