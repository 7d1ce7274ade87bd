"""``nwbzarr info``: a store's tree described without hdmf (:mod:`.tree`), over remote stores
with few requests (:mod:`.remote`), and printed as text or HTML (:mod:`.text`); the records and
node descriptions both build on are in :mod:`.nodes`.

Public entry points: :func:`summarize` (a :class:`StoreSummary` of a store, HDF5 file or
reference JSON), :func:`format_summary` and :func:`format_bytes`.
"""

from .nodes import NodeInfo, StoreSummary
from .text import format_bytes, format_summary
from .tree import summarize

__all__ = ["NodeInfo", "StoreSummary", "format_bytes", "format_summary", "summarize"]
