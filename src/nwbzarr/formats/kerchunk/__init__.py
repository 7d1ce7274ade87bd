"""Reference JSON (a reference file system): kerchunk v0/v1, ours (kerchunk v1 plus an
``nwbzarr`` block) and LINDI's, read (local, HTTP, fsspec URL), recognised, parsed into a
:class:`~nwbzarr.storage.manifest.ReferenceSet` and written (:mod:`.references`); kerchunk
templates and ``gen`` evaluated within limits (:mod:`.templates`)."""
