"""Tests of nwbzarr.virtual (this folder mirrors src/nwbzarr/virtual/)."""
