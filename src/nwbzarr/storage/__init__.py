"""Where bytes live: turning paths, URLs and stores into zarr stores. Never imports hdmf."""

from .resolve import (
    has_zarr_root,
    is_remote_url,
    join_location,
    open_store,
    remote_errors,
    require_listing,
    store_exists,
)

__all__ = [
    "has_zarr_root",
    "is_remote_url",
    "join_location",
    "open_store",
    "remote_errors",
    "require_listing",
    "store_exists",
]
