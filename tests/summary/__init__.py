"""Tests of nwbzarr.summary (this folder mirrors src/nwbzarr/summary/)."""
