"""Secrets from a KMS secret: the real KMS SDK against a fake KMS on loopback that checks signatures."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from steps import Settings
from tests.fakekms import FakeKms
from video_insight._secrets import SECRET_KEYS, SecretStoreError, with_kms_secrets
from video_insight.cli import _settings, main

KEY_ID, KEY_SECRET = "LTAI-test-kms", "kms-test-secret"
STORED = {
    "FEISHU_APP_SECRET": "app-secret-from-kms",
    "FEISHU_VERIFICATION_TOKEN": "token-from-kms",
    "FEISHU_ENCRYPT_KEY": "encrypt-key-from-kms",
    "VI_LLM_API_KEY": "llm-key-from-kms",
}


@pytest.fixture
def kms() -> Iterator[FakeKms]:
    secrets = {
        "video-insight": json.dumps(STORED),
        "not-json": "FEISHU_APP_SECRET=abc",
        "extra-key": json.dumps({"FEISHU_APP_SECRET": "x", "VI_WORKSPACE": "/tmp/elsewhere"}),
        "empty-value": json.dumps({"FEISHU_APP_SECRET": ""}),
    }
    with FakeKms(KEY_ID, KEY_SECRET, secrets) as server:
        yield server


def _env(kms: FakeKms, name: str = "video-insight", **extra: str) -> dict[str, str]:
    """The variables Function Compute and s.yaml give a function (FC adds the role's STS token)."""
    return {
        "VI_KMS_SECRET_NAME": name,
        "VI_KMS_REGION": "cn-hangzhou",
        "VI_KMS_ENDPOINT": kms.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        **extra,
    }


def test_the_secret_fills_the_secret_settings_and_the_environment_wins(kms: FakeKms) -> None:
    env = with_kms_secrets(_env(kms, VI_LLM_API_KEY="a-local-override"))
    assert {key: env[key] for key in SECRET_KEYS - {"VI_LLM_API_KEY"}} == {
        key: STORED[key] for key in SECRET_KEYS - {"VI_LLM_API_KEY"}
    }
    assert env["VI_LLM_API_KEY"] == "a-local-override"
    (call,) = kms.calls
    assert call["x-acs-action"] == "GetSecretValue" and call["SecretName"] == "video-insight"
    assert call["authorization"].startswith(f"ACS3-HMAC-SHA256 Credential={KEY_ID},")


def test_without_a_secret_name_nothing_is_read() -> None:
    env = {"FEISHU_APP_ID": "cli_x"}
    assert with_kms_secrets(env, client=object()) == env


def test_a_wrong_key_secret_is_refused_by_the_signature_check(kms: FakeKms) -> None:
    with pytest.raises(SecretStoreError, match=r"video-insight 失败.*SignatureDoesNotMatch"):
        with_kms_secrets(_env(kms, ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret"))


def test_sts_keys_are_sent_with_their_token(kms: FakeKms) -> None:
    with_kms_secrets(_env(kms, ALIBABA_CLOUD_SECURITY_TOKEN="sts-token-of-the-role"))
    assert kms.calls[-1]["x-acs-security-token"] == "sts-token-of-the-role"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", r"Forbidden\.ResourceNotFound"),
        ("not-json", r"不是 JSON 对象"),
        ("extra-key", r"不支持的键 VI_WORKSPACE"),
        ("empty-value", r"不是非空字符串: FEISHU_APP_SECRET"),
    ],
)
def test_a_bad_secret_is_one_clear_line(kms: FakeKms, name: str, message: str) -> None:
    with pytest.raises(SecretStoreError, match=message) as caught:
        with_kms_secrets(_env(kms, name))
    assert "\n" not in str(caught.value)


def test_a_secret_name_without_a_region_is_refused(kms: FakeKms) -> None:
    with pytest.raises(SecretStoreError, match="VI_KMS_REGION"):
        with_kms_secrets({"VI_KMS_SECRET_NAME": "video-insight"})


def _service_settings() -> Settings:
    return _settings(argparse.Namespace(verbose=False, workspace=None), local=False)


def test_a_service_reads_the_secret_and_a_persons_command_does_not(
    kms: FakeKms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _env(kms).items():
        monkeypatch.setenv(key, value)
    for key in SECRET_KEYS:
        monkeypatch.delenv(key, raising=False)
    settings = _service_settings()  # serve-step and serve build their settings this way
    assert settings.feishu_app_secret.reveal() == STORED["FEISHU_APP_SECRET"]
    assert settings.feishu_verification_token.reveal() == STORED["FEISHU_VERIFICATION_TOKEN"]
    assert settings.feishu_encrypt_key.reveal() == STORED["FEISHU_ENCRYPT_KEY"]
    assert settings.llm_api_key.reveal() == STORED["VI_LLM_API_KEY"]
    calls = len(kms.calls)
    assert main(["config"]) == 0  # a person's command: the deployer's shell exports VI_KMS_SECRET_NAME too
    assert len(kms.calls) == calls and "llm_api_key = \n" in capsys.readouterr().out


def test_a_service_that_cannot_read_its_secret_stops_with_one_line(
    kms: FakeKms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _env(kms, "missing").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SecretStoreError, match=r"Forbidden\.ResourceNotFound"):
        _service_settings()
    assert main(["serve-step", "--step", "fetch", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("video-insight: error: 读取 KMS 凭据 missing 失败") and err.count("\n") == 1
