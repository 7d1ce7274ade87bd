"""LINDI: reference files (``.lindi.json``) and containers (``.lindi.tar``, ``.lindi.d``).

:mod:`.conventions` maps LINDI's annotations (``_SCALAR``, ``_SOFT_LINK``, ``_REFERENCE``,
``_COMPOUND_DTYPE``, ``_EXTERNAL_ARRAY_LINK``) onto this package's convention, :mod:`.store`
holds the translating v3 view and :mod:`.container` recognises and reads the containers
(bounded, checked tar reads). The JSON itself is parsed by
:mod:`nwbzarr.formats.kerchunk.references` (LINDI's layout is kerchunk's)."""
