"""Tests of nwbzarr.formats (this folder mirrors src/nwbzarr/formats/)."""
