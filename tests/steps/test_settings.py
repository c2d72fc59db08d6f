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


def test_the_model_endpoint_and_its_key(tmp_path: Path) -> None:
    absent = tmp_path / "absent.env"
    default = Settings.from_env({}, dotenv=absent)
    assert default.llm_endpoint == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert default.llm_model == "qwen-vl-max" and not default.llm_configured
    dashscope = Settings.from_env({"DASHSCOPE_API_KEY": "sk-ds"}, dotenv=absent)
    assert dashscope.llm_api_key.reveal() == "sk-ds" and dashscope.llm_configured
    both = Settings.from_env({"DASHSCOPE_API_KEY": "sk-ds", "VI_LLM_API_KEY": "sk-vi"}, dotenv=absent)
    assert both.llm_api_key.reveal() == "sk-vi"  # the project's own name wins
    named = Settings.from_env(
        {"VI_LLM_BASE_URL": "https://dashscope.aliyuncs.com/compatible-mode/v1/"}, dotenv=absent
    )
    assert not named.llm_configured  # DashScope without a key: not configured (s.yaml names it always)
    local = Settings.from_env({"VI_LLM_BASE_URL": "http://127.0.0.1:8000/v1"}, dotenv=absent)
    assert local.llm_configured and local.llm_endpoint == "http://127.0.0.1:8000/v1"  # may need no key
    tuned = Settings.from_env(
        {
            "VI_LLM_TIMEOUT_S": "30",
            "VI_LLM_RETRIES": "1",
            "VI_LLM_CONCURRENCY": "2",
            "VI_LLM_PRICE_INPUT": "0.01",
            "VI_LLM_PRICE_OUTPUT": "0.03",
            "VI_LLM_CURRENCY": "USD",
            "VI_LLM_JSON_MODE": "false",
        },
        dotenv=absent,
    )
    assert (tuned.llm_timeout_s, tuned.llm_retries, tuned.llm_concurrency) == (30.0, 1, 2)
    assert (tuned.llm_price_input, tuned.llm_price_output, tuned.llm_currency) == (0.01, 0.03, "USD")
    assert tuned.llm_json_mode is False
    with pytest.raises(ValueError, match="VI_LLM_TIMEOUT_S must be a number"):
        Settings.from_env({"VI_LLM_TIMEOUT_S": "soon"}, dotenv=absent)
