"""Tests of nwbzarr.convert (this folder mirrors src/nwbzarr/convert/)."""
