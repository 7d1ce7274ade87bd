"""Tests of nwbzarr.formats.kerchunk (this folder mirrors src/nwbzarr/formats/kerchunk/)."""
