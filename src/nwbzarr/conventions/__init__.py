"""Pure mapping rules between HDMF builders and Zarr nodes (no I/O).

See ``docs/storage.md`` for the on-disk convention these modules implement.
"""
