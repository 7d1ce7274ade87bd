"""Tests of nwbzarr.storage (this folder mirrors src/nwbzarr/storage/)."""
