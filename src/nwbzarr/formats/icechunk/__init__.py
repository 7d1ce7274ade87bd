"""Icechunk repositories (:mod:`.repository`): virtual references of an HDF5 index committed
to a repository as one snapshot, and repositories opened with their ``file://`` virtual chunk
containers authorized by an access policy. ``icechunk`` is an optional dependency."""
