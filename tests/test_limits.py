"""limits.py: the limits in force (defaults, ``NWBZARR_<FIELD>`` variables, ``override``)."""

from __future__ import annotations

import dataclasses

import pytest

from nwbzarr import limits


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(limits.Limits)])
def test_value_equals_current(field: str) -> None:
    assert limits.value(field) == getattr(limits.current(), field)


def test_setting_the_variable_takes_effect_at_once(monkeypatch) -> None:
    default = limits.Limits().max_chunk_bytes
    assert limits.value("max_chunk_bytes") == default
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "1000")
    assert limits.value("max_chunk_bytes") == 1000 == limits.current().max_chunk_bytes
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "2e3")  # a changed value, not the cached one
    assert limits.value("max_chunk_bytes") == 2000 == limits.current().max_chunk_bytes
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "  ")  # blank: the default
    assert limits.value("max_chunk_bytes") == default
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "1000")
    assert limits.value("max_chunk_bytes") == 1000
    monkeypatch.delenv("NWBZARR_MAX_CHUNK_BYTES")
    assert limits.value("max_chunk_bytes") == default == limits.current().max_chunk_bytes


def test_value_types_and_override(monkeypatch) -> None:
    monkeypatch.setenv("NWBZARR_ALLOW_PRIVATE_HOSTS", "yes")
    monkeypatch.setenv("NWBZARR_HTTP_TIMEOUT", "2.5")
    assert limits.value("allow_private_hosts") is True
    assert limits.value("http_timeout") == 2.5
    with limits.override(http_timeout=7.0):  # override wins over the variable
        assert limits.value("http_timeout") == 7.0 == limits.current().http_timeout
    assert limits.value("http_timeout") == 2.5


def test_invalid_values(monkeypatch) -> None:
    monkeypatch.setenv("NWBZARR_MAX_CHUNK_BYTES", "lots")
    with pytest.raises(ValueError, match="NWBZARR_MAX_CHUNK_BYTES='lots'"):
        limits.value("max_chunk_bytes")
    with pytest.raises(ValueError, match="NWBZARR_MAX_CHUNK_BYTES='lots'"):
        limits.current()
    assert limits.value("max_json_depth") == limits.Limits().max_json_depth  # its own variable
    with pytest.raises(TypeError, match="unknown limit"):
        limits.value("max_everything")
