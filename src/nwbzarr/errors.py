"""Exceptions raised by nwbzarr.

Every exception derives from :class:`NWBZarrError` and, where one fits, from the builtin
exception a caller would already catch (``FileNotFoundError``, ``FileExistsError``,
``ValueError``, ``PermissionError``). Messages name the store path or object path involved
and say what to do about it. :class:`UnsupportedOperationError` (also hdmf's
``UnsupportedOperation``) is made on first access, so that importing this module does not
import hdmf.
"""

from __future__ import annotations

__all__ = [
    "NWBZarrError",
    "StoreNotFoundError",
    "StoreExistsError",
    "InvalidModeError",
    "ReadOnlyError",
    "NotAZarrStoreError",
    "NotNWBStoreError",
    "IncompleteStoreError",
    "UnknownNamespaceError",
    "UnsupportedDataError",
    "UnsupportedCodecError",
    "LegacyFormatError",
    "UnsafePickleError",
    "AppendError",
    "RemoteAccessError",
    "RemoteListingError",
    "ChunkIteratorError",
    "ParallelWriteError",
    "ConversionError",
    "HDF5IndexError",
    "ReferenceFileError",
    "UntrustedReferenceError",
    "RemoteReadError",
    "UploadError",
    "LimitExceededError",
    "CorruptChunkError",
    "LinkCycleError",
    "SourceChangedError",
    "MalformedAttributeError",
    "UnsafeDestinationError",
    "MalformedSpecError",
    "InvalidStorageSettingsError",
    "NonUTF8TextError",
]


class NWBZarrError(Exception):
    """Base class of every error nwbzarr raises on purpose."""


class StoreNotFoundError(NWBZarrError, FileNotFoundError):
    """The path or URL to read does not exist."""


class StoreExistsError(NWBZarrError, FileExistsError):
    """The target exists and the mode (``w-``/``x``) forbids replacing it."""


class InvalidModeError(NWBZarrError, ValueError):
    """The I/O mode is not one of ``r``, ``r-``, ``w``, ``w-``, ``x``, ``a``, ``r+``."""


class ReadOnlyError(NWBZarrError, PermissionError):
    """A write was attempted on a store opened read-only."""


class NotAZarrStoreError(NWBZarrError, ValueError):
    """The path exists but holds no Zarr group metadata (``zarr.json`` or ``.zgroup``)."""


class NotNWBStoreError(NWBZarrError, ValueError):
    """The Zarr store opens but is not an HDMF/NWB file (no ``neurodata_type`` on the root)."""


class IncompleteStoreError(NWBZarrError, ValueError):
    """The store was left by a write that did not finish; its contents are not a complete file."""


class UnknownNamespaceError(NWBZarrError, KeyError):
    """A namespace was requested that the store's spec cache does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnsupportedDataError(NWBZarrError, TypeError):
    """A builder holds data that cannot be stored in the Zarr convention (names the object path)."""


class UnsupportedCodecError(NWBZarrError, ValueError):
    """A codec name or HDF5 filter has no Zarr equivalent available on this machine."""


class LegacyFormatError(NWBZarrError, ValueError):
    """A legacy (hdmf-zarr < 0.14, Zarr v2) store holds metadata or chunks that cannot be read
    safely: malformed JSON, an unknown codec or data type, or a reference into another file."""


class UnsafePickleError(LegacyFormatError):
    """A pickled chunk of a legacy store asks for something other than plain data (a global,
    a callable); it is refused without running anything."""


class LinkTargetMismatchError(NWBZarrError, ValueError):
    """A dataset to be written as a link does not match what its container declares."""


class UnsupportedOptionError(NWBZarrError, ValueError):
    """An hdmf-zarr option that zarr v3 / nwbzarr cannot honour was given a value."""


class AppendError(NWBZarrError, ValueError):
    """A dataset read from a store cannot grow or change as asked in append mode (``"a"``,
    ``"r+"``): a scalar, a closed store, a value that does not fit; the message names the
    dataset path and what to do."""


class RemoteAccessError(NWBZarrError, PermissionError):
    """A remote server refused to serve the store (HTTP 401/403, denied credentials); the
    message names the URL and how to pass credentials in ``storage_options``."""


class RemoteListingError(NWBZarrError, ValueError):
    """Mode ``"r-"`` needs directory listings, which the remote location (plain HTTP) does not
    provide; open it with mode ``"r"`` (consolidated metadata)."""


class ChunkIteratorError(NWBZarrError, ValueError):
    """A data chunk iterator yielded a chunk that does not fit its selection or its
    ``maxshape``; the message names the dataset path and the selection."""


class ParallelWriteError(NWBZarrError, RuntimeError):
    """A worker process of ``write(number_of_jobs=...)`` failed; the message names the dataset
    and the region, the original exception is chained, and the store stays marked incomplete."""


class ConversionError(NWBZarrError, RuntimeError):
    """Copying a dataset failed during conversion (e.g. a Dask task); the message names the
    source dataset and rows, and the original error is chained. The destination is removed."""


class HDF5IndexError(NWBZarrError, ValueError):
    """An HDF5 file (or one of its datasets) cannot be indexed as a virtual Zarr store: truncated
    or corrupt file, a layout or datatype the index does not map; the message names the dataset."""


class ReferenceFileError(NWBZarrError, ValueError):
    """A reference JSON (ours, LINDI ``.lindi.json`` or kerchunk) is malformed or of an unknown
    version; the message names the file and the offending key."""


class UntrustedReferenceError(NWBZarrError, PermissionError):
    """A reference JSON or HDF5 external link points at a URL scheme or local path outside what
    the caller allowed; the message names the reference and how to allow it."""


class RemoteReadError(NWBZarrError, OSError):
    """A byte range could not be read after retries (server errors, dropped connections,
    timeouts); the message names the URL, the range and the last error."""


class UploadError(NWBZarrError, OSError):
    """Publishing a reference JSON to object storage failed or cannot start: a local file the
    JSON names is missing or changed, the destination is unreachable or refused the write, or
    its fsspec implementation (``s3fs``) is not installed; the message names the file or URL
    and the fix. The JSON at the destination is left as it was (it is written last)."""


class LimitExceededError(NWBZarrError, ValueError):
    """An input asks for more than a documented limit allows (nesting depth, generated keys,
    template output, pickle size, byte-range length, response body, spec size); the message
    names the file or key, the limit and the environment variable that raises it
    (``docs/security.md``, :mod:`nwbzarr.limits`)."""


class CorruptChunkError(NWBZarrError, ValueError):
    """Stored chunk bytes cannot be decoded, or decode to more or fewer bytes than the array's
    declared chunk shape; the message names the array path and the chunk key."""


class LinkCycleError(NWBZarrError, ValueError):
    """Soft links, external links or HDF5 hard links form a cycle; the message lists the
    cycle's path (``/a -> /b -> /a``)."""


class SourceChangedError(NWBZarrError, OSError):
    """A file or URL named by a reference JSON no longer has the size (or ETag/mtime) recorded
    when the JSON was written, so its byte ranges cannot be trusted; re-index the source."""


class MalformedAttributeError(NWBZarrError, ValueError):
    """A reserved attribute (``_DTYPE``, ``_LINKS``, ``_REFERENCE``, ...) holds a value of the
    wrong type or shape; the message names the node path, the attribute and what it must be."""


class UnsafeDestinationError(NWBZarrError, PermissionError):
    """A write would replace or remove something the user did not name for replacement: the
    destination is the source, lies inside it (or holds it), or is not an NWB file or store;
    nothing was touched."""


class MalformedSpecError(NWBZarrError, ValueError):
    """A namespace or spec source cached in a file (``/specifications/<ns>/<version>/<source>``)
    is not valid JSON or not shaped like an HDMF namespace/spec; the message names the store,
    the namespace and the source, and says to open the file with ``load_namespaces=False``."""


class NonUTF8TextError(UnsupportedDataError, ValueError):
    """Text data holds bytes that are not valid UTF-8, which a Zarr v3 ``string`` array
    cannot store; the message names the dataset and how to store it instead."""


def _unsupported_operation_error() -> type:
    """:class:`UnsupportedOperationError`, made on first use so that importing this module
    does not import hdmf (``nwbzarr --help`` loads neither hdmf nor zarr)."""
    from hdmf.backends.errors import UnsupportedOperation

    class UnsupportedOperationError(NWBZarrError, UnsupportedOperation):
        """An I/O operation this file or mode does not allow (e.g. ``export`` into a store
        not opened with mode ``'w'``); also an ``hdmf.backends.errors.UnsupportedOperation``
        (a ``ValueError``), which is what HDMF and hdmf-zarr raise there."""

    UnsupportedOperationError.__module__ = __name__
    return UnsupportedOperationError


_LAZY = {"UnsupportedOperationError": _unsupported_operation_error}


def __getattr__(name: str) -> type:
    make = _LAZY.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = make()
    globals()[name] = cls
    return cls


class InvalidStorageSettingsError(NWBZarrError, TypeError, ValueError):
    """A :class:`~nwbzarr.ZarrDataIO` storage setting has the wrong type (a numcodecs codec or
    a bool where Zarr v3 codecs are needed, the removed ``compressor`` spelling) or an
    inconsistent value (shards not a multiple of the chunks); the message names the setting and
    what to pass instead. It is both a ``TypeError`` and a ``ValueError``, as callers of
    hdmf-zarr's ``ZarrDataIO`` catch one or the other."""


class IncompleteConversionError(NWBZarrError, RuntimeError):
    """A legacy hdmf-zarr (Zarr v2) store was to be converted to Zarr v3
    (``ZarrV2IO.convert_to_v3`` / ``export_to_v3``), but some of its entries could not be read
    (``skipped_entries``), so the new store would silently lack them; the message lists each
    entry with its reason, and nothing was written."""


__all__ += ["IncompleteConversionError"]


class UnsupportedLayoutError(UnsupportedDataError, NotImplementedError):
    """A dataset's layout has no form that hdmf-zarr 0.14 reads back, such as a 0-d
    (scalar) compound with an object-reference field; the message names the dataset and
    what to store instead. Also a ``NotImplementedError``, which hdmf-zarr raises there."""


__all__ += ["UnsupportedLayoutError"]


class IcechunkError(NWBZarrError, RuntimeError):
    """Writing an HDF5 file's reference set into an Icechunk repository failed or cannot start
    (a byte range that is not a local file, a repository that cannot be opened, icechunk
    refusing a key); the message names the repository, the key or file, and what to do."""


class IcechunkUnavailableError(NWBZarrError, ImportError):
    """The optional ``icechunk`` package is not installed (``pip install 'nwbzarr[icechunk]'``)."""


__all__ += ["IcechunkError", "IcechunkUnavailableError"]
