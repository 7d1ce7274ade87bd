"""The HDMF I/O backend over Zarr: the only package that touches ``hdmf.build``."""
