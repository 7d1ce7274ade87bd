"""Tests of nwbzarr.formats.lindi (this folder mirrors src/nwbzarr/formats/lindi/)."""
