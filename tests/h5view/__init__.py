"""Tests of nwbzarr.h5view (this folder mirrors src/nwbzarr/h5view/)."""
