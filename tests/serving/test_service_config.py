"""What `churnclv serve` hands the service process, and the API keys read from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import load_settings
from serving.service_config import NoApiKeyError, ServiceConfig


def test_the_configuration_survives_the_trip_through_the_environment(tmp_path: Path) -> None:
    sent = ServiceConfig(
        config_path=tmp_path / "config.yaml",
        model_tag="churnclv:abc123",
        scores_dir=tmp_path / "runs" / "may",
        api_keys_file=tmp_path / "keys.txt",
        insecure_local=True,
    )
    assert ServiceConfig.from_env(sent.to_env()) == sent
    assert ServiceConfig.from_env({}) == ServiceConfig()  # defaults: latest model, no file


def test_scores_come_from_the_handed_folder_else_the_settings_output_dir(tmp_path: Path) -> None:
    settings = load_settings(None, {"output_dir": str(tmp_path / "out")})
    assert (
        ServiceConfig().catalog(settings).scores == tmp_path / "out" / "current" / "scores.parquet"
    )
    handed = ServiceConfig(scores_dir=tmp_path / "alt").catalog(settings)
    assert handed.scores == tmp_path / "alt" / "current" / "scores.parquet"


def test_keys_from_the_variable_and_the_file_comments_and_blanks_skipped(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# team A\nkey-from-file\n\n  key-two  \n")
    config = ServiceConfig(api_keys_file=keys)
    got = config.api_keys({"CHURNCLV_API_KEYS": " k1, ,k2 "})
    assert got == ["k1", "k2", "key-from-file", "key-two"]


def test_no_key_is_one_clear_error_unless_insecure_local(tmp_path: Path) -> None:
    with pytest.raises(NoApiKeyError, match="no API key configured.*--insecure-local"):
        ServiceConfig().api_keys({})
    assert ServiceConfig(insecure_local=True).api_keys({}) == []
    with pytest.raises(NoApiKeyError, match="cannot read API key file"):
        ServiceConfig(api_keys_file=tmp_path / "missing.txt").api_keys({})
