"""Settings: read once from the environment; secrets never show their value."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from steps import Secret, Settings, configure_logging, get_logger

VALUE = "s3cr3t-app-secret"


def _settings(tmp_path: Path) -> Settings:
    env = {"FEISHU_APP_ID": "cli_a1", "FEISHU_APP_SECRET": VALUE, "VI_LLM_API_KEY": VALUE + "-llm"}
    return Settings.from_env(env, dotenv=tmp_path / "absent.env")


@pytest.mark.parametrize(
    "show",
    [
        str,
        repr,
        "{}".format,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: "%s" % s,  # noqa: UP031 - the old spelling is the one to check
        lambda s: format(s, ""),
    ],
    ids=["str", "repr", "format-method", "f-string", "f-string-repr", "percent", "format"],
)
def test_a_secret_never_prints_its_value(show: object) -> None:
    secret = Secret(VALUE)
    assert VALUE not in show(secret)  # type: ignore[operator]
    assert secret.reveal() == VALUE and bool(secret) and not Secret("")


def test_settings_print_and_list_their_secrets_masked(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.feishu_app_secret.reveal() == VALUE
    assert VALUE not in repr(settings) and VALUE not in str(settings)
    public = settings.public()
    assert public["feishu_app_secret"] == "***" and public["feishu_app_id"] == "cli_a1"
    assert VALUE not in json.dumps(public)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_secret_logged_as_a_field_is_masked(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    configure_logging(fmt, "INFO")
    try:
        get_logger("test").info("feishu.token_requested", app_secret=settings.feishu_app_secret)
        err = capsys.readouterr().err
    finally:
        configure_logging("auto", logging.getLevelName(logging.INFO))
        structlog.contextvars.clear_contextvars()
    assert "feishu.token_requested" in err and VALUE not in err
