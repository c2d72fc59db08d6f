"""Secrets from a KMS secret: the real KMS SDK against a fake KMS on loopback that checks signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.fakekms import FakeKms
from video_insight._secrets import SECRET_KEYS, SecretStoreError, with_kms_secrets
from video_insight.cli import main

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


def test_the_cli_settings_come_from_the_secret(
    kms: FakeKms, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _env(kms).items():
        monkeypatch.setenv(key, value)
    for key in SECRET_KEYS:
        monkeypatch.delenv(key, raising=False)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for setting in ("feishu_app_secret", "feishu_verification_token", "feishu_encrypt_key", "llm_api_key"):
        assert f"{setting} = ***" in out, out
    assert not any(value in out for value in STORED.values())
    monkeypatch.setenv("VI_KMS_SECRET_NAME", "missing")
    assert main(["config"]) == 2
    assert "Forbidden.ResourceNotFound" in capsys.readouterr().err
