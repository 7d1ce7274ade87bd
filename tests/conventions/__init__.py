"""Tests of nwbzarr.conventions (this folder mirrors src/nwbzarr/conventions/)."""
