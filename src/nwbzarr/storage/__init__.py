"""Where bytes live: turning paths, URLs and stores into zarr stores. Never imports hdmf."""

__all__ = [
    "has_zarr_root",
    "is_remote_url",
    "join_location",
    "open_store",
    "remote_errors",
    "require_listing",
    "store_exists",
]


def __getattr__(name: str):
    # Lazy: importing a light storage module (atomic, manifest, policy) must not load zarr,
    # which storage.resolve imports (``nwbzarr --help`` stays light).
    if name in __all__:
        from . import resolve

        return getattr(resolve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
