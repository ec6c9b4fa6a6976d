"""Settings: flags over VSTREAM_* variables over the TOML file, and a clear error for a bad value."""

from __future__ import annotations

import pytest

from vstream.config import load_settings
from vstream.errors import VStreamError


def test_precision_comes_from_the_flag_over_the_environment_over_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VSTREAM_CONFIG", raising=False)
    monkeypatch.delenv("VSTREAM_PRECISION", raising=False)
    assert load_settings().precision == "auto"
    (tmp_path / "vstream.toml").write_text('precision = "fp32"\n')
    assert load_settings().precision == "fp32"
    monkeypatch.setenv("VSTREAM_PRECISION", "int8")
    assert load_settings().precision == "int8"
    assert load_settings({"precision": "fp32"}).precision == "fp32"


def test_an_unknown_precision_is_refused_with_the_choices(monkeypatch) -> None:
    monkeypatch.setenv("VSTREAM_PRECISION", "int4")
    with pytest.raises(VStreamError, match="unknown precision 'int4': choose one of auto, fp32, int8"):
        load_settings()
