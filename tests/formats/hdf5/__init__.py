"""Tests of nwbzarr.formats.hdf5 (this folder mirrors src/nwbzarr/formats/hdf5/)."""
