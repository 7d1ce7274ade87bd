"""Tests of nwbzarr.formats.icechunk (this folder mirrors src/nwbzarr/formats/icechunk/)."""
