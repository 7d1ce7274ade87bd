"""Tests of nwbzarr.formats.hdmf_zarr_v2 (this folder mirrors src/nwbzarr/formats/hdmf_zarr_v2/)."""
