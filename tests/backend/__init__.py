"""Tests of nwbzarr.backend (this folder mirrors src/nwbzarr/backend/)."""
