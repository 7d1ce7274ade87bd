"""Where bytes live: turning paths, URLs and stores into zarr stores. Never imports hdmf."""

from .resolve import is_remote_url, open_store, store_exists

__all__ = ["is_remote_url", "open_store", "store_exists"]
