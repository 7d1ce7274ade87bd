"""nwbinspector's best-practice checks and pynwb's schema validation on what nwbzarr reads.

``nwbinspector PATH`` and ``nwbinspector.inspect_nwbfile(PATH)`` choose their reader from the
path: a ``.nwb.zarr`` store needs ``hdmf_zarr``, and a reference JSON fails to read (reported as
one ERROR message, exit status 0). :func:`inspect_nwb` opens PATH with :class:`nwbzarr.NWBZarrIO`
instead — a Zarr store, an HDF5 file or a reference JSON (ours, LINDI, kerchunk), local or a
URL — and runs on it what ``nwbinspector.inspect_nwbfile`` runs:

1. pynwb's schema validation (:func:`validate_nwb`): ``pynwb.validate(io=...)`` on our I/O,
   against the namespaces cached in the file, as ``pynwb.validate(path=...)`` validates an
   HDF5 file; each error becomes an ``InspectorMessage`` of importance ``PYNWB_VALIDATION``;
2. ``nwbinspector.inspect_nwbfile_object`` on the file read by ``nwbzarr.read_nwb``.

Only nwbinspector's public API is used (``inspect_nwbfile_object``, ``load_config``,
``validate_config``, ``format_messages``, ``save_report``, ``InspectorMessage``,
``Importance``, ``InspectorOutputJSONEncoder``), plus one feature-checked shim
(:func:`nwbzarr.compat.nwbinspector_locates_zarr_arrays`) so messages carry the location they
have on the HDF5 original. nwbinspector is optional (extra ``inspect``); without it
:func:`import_nwbinspector` raises an ``ImportError`` naming the extra. Schema validation needs
only pynwb. ``nwbzarr inspect`` and ``nwbzarr validate`` (:mod:`nwbzarr.cli`) are thin wrappers.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import UnsupportedOptionError

__all__ = [
    "INSTALL_HINT",
    "IMPORTANCE_THRESHOLDS",
    "ValidationReport",
    "import_nwbinspector",
    "default_config",
    "load_inspector_config",
    "cached_namespaces",
    "validate_nwb",
    "validation_messages",
    "inspect_nwb",
    "message_key",
    "format_report",
    "json_report",
    "save_json_report",
]

#: What to run to get nwbinspector with a version nwbzarr is tested with.
INSTALL_HINT = 'pip install "nwbzarr[inspect]"'

#: ``--threshold`` values, lowest first (nwbinspector's ``Importance`` names a check can have).
IMPORTANCE_THRESHOLDS = ("BEST_PRACTICE_SUGGESTION", "BEST_PRACTICE_VIOLATION", "CRITICAL")

#: Warnings nwbinspector silences while it reads a file (``inspect_nwbfile``): cached namespaces
#: that pynwb's own version shadows are the rule for files written by older pynwb.
_QUIET_WARNINGS = ("No cached namespaces found in .*", "Ignoring cached namespace .*")


def import_nwbinspector() -> ModuleType:
    """Import nwbinspector, teaching it to locate objects whose data are zarr arrays.

    Returns
    -------
    module
        The ``nwbinspector`` package.

    Raises
    ------
    ImportError
        nwbinspector is not installed; the message says to ``pip install "nwbzarr[inspect]"``.
    """
    try:
        import nwbinspector
    except ImportError as exc:
        raise ImportError(
            f"the best-practice checks need nwbinspector, which is not installed: {INSTALL_HINT}"
        ) from exc
    from .compat import nwbinspector_locates_zarr_arrays

    nwbinspector_locates_zarr_arrays()
    return nwbinspector


def default_config(path: str | os.PathLike[str]) -> str | None:
    """The configuration nwbinspector's CLI applies to ``path`` when none is given.

    ``nwbinspector https://...`` inspects with the ``"dandi"`` configuration (a URL is taken to
    be a DANDI asset); everything else with none.

    Parameters
    ----------
    path : str or os.PathLike
        What is inspected.

    Returns
    -------
    str or None
        ``"dandi"`` for an ``https://`` URL, else None.
    """
    return "dandi" if os.fspath(path).startswith("https://") else None


def load_inspector_config(config: str | os.PathLike[str] | dict | None) -> dict | None:
    """Load and check an nwbinspector configuration (``--config``).

    Parameters
    ----------
    config : str, os.PathLike, dict or None
        The name of one of nwbinspector's own configurations (``"dandi"``), the path of a YAML
        file, an already loaded dictionary, or None (no configuration).

    Returns
    -------
    dict or None
        The configuration, valid against nwbinspector's schema.

    Raises
    ------
    FileNotFoundError
        ``config`` names neither a built-in configuration nor a file.
    ValueError
        The configuration does not follow nwbinspector's schema.
    ImportError
        nwbinspector is not installed.
    """
    inspector = import_nwbinspector()
    if config is None:
        return None
    if isinstance(config, dict):
        loaded = config
    else:
        try:
            loaded = inspector.load_config(filepath_or_keyword=os.fspath(config))
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{os.fspath(config)}: no such nwbinspector configuration (a YAML file, or one "
                "of nwbinspector's own names such as 'dandi')"
            ) from exc
    try:
        inspector.validate_config(config=loaded)
    except Exception as exc:  # jsonschema.ValidationError
        raise ValueError(
            f"{config if not isinstance(config, dict) else 'config'}: not a valid nwbinspector "
            f"configuration: {str(exc).splitlines()[0]}"
        ) from exc
    return loaded


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_nwb`.

    Attributes
    ----------
    path : str
        What was validated.
    namespaces : list of str
        The namespaces validated against, in order.
    source : str
        ``"cached namespace information"`` or ``"PyNWB namespace information"`` (pynwb's words).
    errors : list
        pynwb's ``hdmf.validate.errors.Error`` objects (``name``, ``reason``, ``location``).
    """

    path: str
    namespaces: list[str] = field(default_factory=list)
    source: str = "PyNWB namespace information"
    errors: list = field(default_factory=list)


@contextlib.contextmanager
def _quiet_reads() -> Iterator[None]:
    with warnings.catch_warnings():
        for text in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=text)
        yield


def _open(path: str, storage_options: dict | None, manager: Any = None) -> Any:
    from .backend.nwb import NWBZarrIO

    kwargs: dict[str, Any] = {"storage_options": storage_options}
    if manager is not None:
        kwargs["manager"] = manager
    return NWBZarrIO(path, mode="r", **kwargs)


def cached_namespaces(
    path: str | os.PathLike[str], *, storage_options: dict | None = None
) -> list[str]:
    """The namespaces :func:`validate_nwb` would validate against (``pynwb-validate -lns``).

    Parameters
    ----------
    path : str or os.PathLike
        A Zarr store, HDF5 file or reference JSON, local or URL.
    storage_options : dict, optional
        fsspec options for a URL.

    Returns
    -------
    list of str
        The most specific namespaces cached in the file (extensions before ``core``), sorted;
        empty when the file caches none.

    Raises
    ------
    nwbzarr.errors.NWBZarrError, OSError
        ``path`` cannot be opened.
    """
    from pynwb.validation import get_cached_namespaces_to_validate

    with _quiet_reads():
        io = _open(os.fspath(path), storage_options)
        try:
            names, _, _ = get_cached_namespaces_to_validate(io=io)
        finally:
            io.close()
    return list(names)


def validate_nwb(
    path: str | os.PathLike[str],
    *,
    namespace: str | None = None,
    use_cached_namespaces: bool = True,
    storage_options: dict | None = None,
    io: Any = None,
) -> ValidationReport:
    """Validate an NWB file against the NWB schema, as ``pynwb.validate(path=...)`` does.

    pynwb validates a path against the namespaces cached in the file (the most specific ones:
    an extension rather than ``core``), read into a fresh catalog, and falls back to pynwb's
    own ``core`` when none are cached. This does the same for anything
    :class:`~nwbzarr.NWBZarrIO` opens, by calling ``pynwb.validate(io=...)`` on an I/O object
    built with that catalog's manager.

    Parameters
    ----------
    path : str or os.PathLike
        A Zarr store, HDF5 file or reference JSON, local or URL.
    namespace : str, optional
        Validate against this namespace only (it must be one pynwb would pick, as for
        ``pynwb.validate(namespace=...)``).
    use_cached_namespaces : bool
        False: validate against pynwb's own ``core`` (``pynwb-validate --no-cached-namespace``).
    storage_options : dict, optional
        fsspec options for a URL (``{"headers": {...}}``).
    io : NWBZarrIO, optional
        An already open I/O object on ``path``, used to list the cached namespaces (it is left
        open); another one is opened for the validation itself.

    Returns
    -------
    ValidationReport
        The namespaces used and the errors found (empty when the file is valid).

    Raises
    ------
    UnsupportedOptionError
        ``namespace`` is not one the file can be validated against (a ``ValueError``).
    nwbzarr.errors.NWBZarrError, OSError
        ``path`` cannot be opened or read (see :func:`nwbzarr.read_nwb`).
    """
    import pynwb
    from pynwb.validation import get_cached_namespaces_to_validate

    text = os.fspath(path)
    report = ValidationReport(path=text)
    with _quiet_reads():
        manager = None
        if use_cached_namespaces:
            probe = io if io is not None else _open(text, storage_options)
            try:
                cached, manager, _ = get_cached_namespaces_to_validate(io=probe)
            finally:
                if io is None:
                    probe.close()
            if cached:
                report.namespaces = list(cached)
                report.source = "cached namespace information"
        if not report.namespaces:
            report.namespaces = [pynwb.CORE_NAMESPACE]
        if namespace is not None:
            if namespace not in report.namespaces:
                raise UnsupportedOptionError(
                    f"{text}: the namespace {namespace!r} could not be found in "
                    f"{report.source} as only {report.namespaces} is present"
                )
            report.namespaces = [namespace]
        validating = _open(text, storage_options, manager)
        try:
            for name in report.namespaces:
                report.errors += pynwb.validate(
                    io=validating, namespace=name, use_cached_namespaces=use_cached_namespaces
                )
        finally:
            validating.close()
    return report


def validation_messages(errors: Sequence[Any], file_path: str) -> list[Any]:
    """pynwb validation errors as nwbinspector ``PYNWB_VALIDATION`` messages.

    Parameters
    ----------
    errors : sequence of hdmf.validate.errors.Error
        What :func:`validate_nwb` (or ``pynwb.validate``) returned.
    file_path : str
        Recorded in each message, as nwbinspector records the path it was given.

    Returns
    -------
    list of nwbinspector.InspectorMessage
        One per error: message = reason, check_function_name = name, location = location.

    Raises
    ------
    ImportError
        nwbinspector is not installed.
    """
    inspector = import_nwbinspector()
    return [
        inspector.InspectorMessage(
            message=error.reason,
            importance=inspector.Importance.PYNWB_VALIDATION,
            check_function_name=error.name,
            location=error.location,
            file_path=file_path,
        )
        for error in errors
    ]


def inspect_nwb(
    path: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | dict | None = None,
    ignore: Sequence[str] | None = None,
    select: Sequence[str] | None = None,
    importance_threshold: str = "BEST_PRACTICE_SUGGESTION",
    skip_validate: bool = False,
    modules: Sequence[str] = (),
    storage_options: dict | None = None,
    file_path: str | None = None,
) -> list[Any]:
    """Inspect an NWB file as ``nwbinspector.inspect_nwbfile`` does, through nwbzarr.

    Parameters
    ----------
    path : str or os.PathLike
        A Zarr store, HDF5 file or reference JSON, local or URL.
    config : str, os.PathLike, dict or None
        nwbinspector configuration: a built-in name (``"dandi"``), a YAML file or a dict
        (see :func:`load_inspector_config`); None applies none (the CLI passes
        :func:`default_config`).
    ignore, select : sequence of str, optional
        Names of checks to skip / to run only.
    importance_threshold : str
        One of :data:`IMPORTANCE_THRESHOLDS`: checks of lower importance are not run.
    skip_validate : bool
        Do not run pynwb's schema validation.
    modules : sequence of str
        Modules imported first (extensions that register their own checks).
    storage_options : dict, optional
        fsspec options for a URL.
    file_path : str, optional
        Recorded in every message (default: ``path`` as given).

    Returns
    -------
    list of nwbinspector.InspectorMessage
        Validation messages first, then the checks' messages, in nwbinspector's order. A check
        that raises is reported as an ``ERROR`` message, as nwbinspector does.

    Raises
    ------
    ImportError
        nwbinspector (or one of ``modules``) is not installed.
    ValueError
        ``importance_threshold`` is not a threshold name; an invalid configuration.
    nwbzarr.errors.NWBZarrError, OSError
        ``path`` cannot be opened or read. Unlike ``nwbinspector.inspect_nwbfile``, a file
        that cannot be read raises instead of becoming an ``ERROR`` message.
    """
    inspector = import_nwbinspector()
    if importance_threshold not in IMPORTANCE_THRESHOLDS:
        raise ValueError(
            f"importance_threshold must be one of {', '.join(IMPORTANCE_THRESHOLDS)}, not "
            f"{importance_threshold!r}"
        )
    for module in modules:
        importlib.import_module(module)
    text = os.fspath(path)
    recorded = text if file_path is None else file_path
    loaded = load_inspector_config(config)
    with _quiet_reads():
        io = _open(text, storage_options)
        try:
            nwbfile = io.read()
            messages: list[Any] = []
            if not skip_validate:
                report = validate_nwb(text, storage_options=storage_options, io=io)
                messages += validation_messages(report.errors, recorded)
            for message in inspector.inspect_nwbfile_object(
                nwbfile_object=nwbfile,
                config=loaded,
                ignore=list(ignore) if ignore else None,
                select=list(select) if select else None,
                importance_threshold=inspector.Importance[importance_threshold],
            ):
                message.file_path = recorded
                messages.append(message)
        finally:
            io.close()
    return messages


def message_key(message: Any) -> tuple:
    """What a message says, without the file it is about: for comparing two reports.

    An ``ERROR`` message (a check that raised) is compared by its check and exception, not by
    its traceback (whose frames name the reader's own source files).

    Parameters
    ----------
    message : nwbinspector.InspectorMessage
        One message.

    Returns
    -------
    tuple
        ``(importance, severity, check_function_name, object_type, object_name, location,
        message)`` with the names of enums, and the message text empty for ``ERROR``.
    """
    importance = getattr(message.importance, "name", message.importance)
    return (
        importance,
        getattr(message.severity, "name", message.severity),
        message.check_function_name,
        message.object_type,
        message.object_name,
        message.location,
        "" if importance == "ERROR" else message.message,
    )


def format_report(
    messages: Sequence[Any],
    levels: Sequence[str] = ("importance", "file_path"),
    reverse: Sequence[bool] | None = None,
    detailed: bool = False,
    nfiles_detected: int = 1,
) -> list[str]:
    """The lines of nwbinspector's text report (``nwbinspector.format_messages``).

    Parameters
    ----------
    messages : sequence of nwbinspector.InspectorMessage
        The findings.
    levels : sequence of str
        ``InspectorMessage`` fields to organise the report by (the CLI's ``--levels``).
    reverse : sequence of bool, optional
        Per level, whether to reverse its order (``--reverse``).
    detailed : bool
        Show every message instead of grouping identical ones (``--detailed``).
    nfiles_detected : int
        Number of files inspected, for the "Scanned N file(s)." line.

    Returns
    -------
    list of str
        The report, one line each.

    Raises
    ------
    ValueError
        A level that is not a field of ``InspectorMessage``, or ``reverse`` of another length.
    ImportError
        nwbinspector is not installed.
    """
    inspector = import_nwbinspector()
    fields = set(inspector.InspectorMessage.__annotations__) - {"message", "severity"}
    unknown = [level for level in levels if level not in fields]
    if unknown:
        raise ValueError(
            f"--levels: {', '.join(unknown)} is not a field of nwbinspector's messages "
            f"({', '.join(sorted(fields))})"
        )
    if reverse is not None and len(reverse) != len(levels):
        raise ValueError(
            f"--reverse: give one boolean per level ({len(levels)}), not {len(reverse)}"
        )
    return inspector.format_messages(
        messages=list(messages),
        levels=list(levels),
        reverse=None if reverse is None else list(reverse),
        detailed=detailed,
        nfiles_detected=nfiles_detected,
    )


def json_report(messages: Sequence[Any]) -> dict:
    """nwbinspector's JSON report (``--json-file-path``): ``{"header": ..., "messages": ...}``.

    Parameters
    ----------
    messages : sequence of nwbinspector.InspectorMessage
        The findings.

    Returns
    -------
    dict
        ``header`` (Timestamp, Platform, NWBInspector_version, as nwbinspector writes it) and
        ``messages``; serialise with ``nwbinspector.InspectorOutputJSONEncoder``.

    Raises
    ------
    ImportError
        nwbinspector is not installed.
    """
    inspector = import_nwbinspector()
    header = {
        "Timestamp": str(datetime.now().astimezone()),
        "Platform": platform.platform(),
        "NWBInspector_version": str(inspector.__version__),
    }
    return {"header": header, "messages": list(messages)}


def save_json_report(
    messages: Sequence[Any], path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    """Write :func:`json_report` to ``path``.

    Parameters
    ----------
    messages : sequence of nwbinspector.InspectorMessage
        The findings.
    path : str or os.PathLike
        The JSON file.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The absolute path written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ImportError
        nwbinspector is not installed.
    """
    inspector = import_nwbinspector()
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target}: the report file already exists; pass --overwrite to replace it"
        )
    text = json.dumps(json_report(messages), cls=inspector.InspectorOutputJSONEncoder)
    target.write_text(text)
    return target.absolute()
