"""Placeholders for hdmf-zarr internals nwbzarr does not mirror (test-only)."""


def missing(qualname: str):
    """A class that raises ``NotImplementedError`` naming ``qualname`` when used."""

    class _Missing:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError(f"nwbzarr has no equivalent of {qualname}")

        def __init_subclass__(cls, **kwargs):
            raise NotImplementedError(f"nwbzarr has no equivalent of {qualname}")

        def __class_getitem__(cls, item):
            raise NotImplementedError(f"nwbzarr has no equivalent of {qualname}")

    _Missing.__name__ = _Missing.__qualname__ = qualname.rsplit(".", 1)[-1]
    return _Missing


def legacy_io_names(*names: str) -> tuple:
    """nwbzarr's hdmf-zarr v2 reading API (``nwbzarr.backend.legacy_io``), or placeholders."""
    try:
        from nwbzarr.backend import legacy_io
    except ImportError:
        return tuple(missing(f"hdmf_zarr.{name}") for name in names)
    return tuple(getattr(legacy_io, name) for name in names)
