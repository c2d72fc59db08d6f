"""Process settings, read once from the environment (and a ``.env`` file) and passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = [
    "DEFAULT_FEISHU_DOMAIN",
    "DEFAULT_LLM_BASE_URL",
    "DEFAULT_LLM_MODEL",
    "Secret",
    "Settings",
    "default_model_cache",
    "default_workspace",
]

DEFAULT_LLM_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"  # DashScope, OpenAI-compatible
DEFAULT_LLM_MODEL = "qwen-vl-max"  # a vision-language model: the requests carry images
DEFAULT_FEISHU_DOMAIN = "https://open.feishu.cn"  # Lark (international): https://open.larksuite.com
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Secret(str):
    """A string that prints as ``***`` so it never lands in a log or a traceback."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def __str__(self) -> str:
        return "***" if self else ""

    def reveal(self) -> str:
        """The real value, for the one place that sends it."""
        return str.__str__(self)


def default_workspace() -> Path:
    """The local workspace root under the user's cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "video-insight"


def default_model_cache() -> Path:
    """Where models assembled from packages are kept: ``models`` under the user's cache directory."""
    return default_workspace() / "models"


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


# Settings attribute → the variable that sets it: plain text, secrets, numbers (with their type).
_PLAIN_VARS = {
    "asr_engine": "VI_ASR_ENGINE",
    "funasr_model": "VI_FUNASR_MODEL",
    "funasr_vad_model": "VI_FUNASR_VAD_MODEL",
    "whisper_model": "VI_WHISPER_MODEL",
    "asr_device": "VI_ASR_DEVICE",
    "log_format": "VI_LOG_FORMAT",
    "log_level": "VI_LOG_LEVEL",
    "feishu_app_id": "FEISHU_APP_ID",
    "feishu_folder_token": "FEISHU_FOLDER_TOKEN",
    "feishu_domain": "FEISHU_DOMAIN",
    "llm_base_url": "VI_LLM_BASE_URL",
    "llm_model": "VI_LLM_MODEL",
    "llm_currency": "VI_LLM_CURRENCY",
    "cloudflow_region": "VI_CLOUDFLOW_REGION",
    "flow_name": "VI_FLOW_NAME",
    "cloudflow_endpoint": "VI_CLOUDFLOW_ENDPOINT",
    "flow_role_arn": "VI_FLOW_ROLE_ARN",
    "alibaba_access_key_id": "ALIBABA_CLOUD_ACCESS_KEY_ID",
}
_SECRET_VARS = {
    "feishu_app_secret": "FEISHU_APP_SECRET",
    "feishu_verification_token": "FEISHU_VERIFICATION_TOKEN",
    "feishu_encrypt_key": "FEISHU_ENCRYPT_KEY",
    "llm_api_key": "VI_LLM_API_KEY",
    "alibaba_access_key_secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "alibaba_security_token": "ALIBABA_CLOUD_SECURITY_TOKEN",
}
_NUMBER_VARS: tuple[tuple[str, str, type[int] | type[float]], ...] = (
    ("fetch_connect_timeout_s", "VI_FETCH_CONNECT_TIMEOUT_S", float),
    ("fetch_read_timeout_s", "VI_FETCH_READ_TIMEOUT_S", float),
    ("fetch_retries", "VI_FETCH_RETRIES", int),
    ("fetch_backoff_s", "VI_FETCH_BACKOFF_S", float),
    ("fetch_max_s", "VI_FETCH_MAX_S", float),
    ("fetch_min_bytes_per_s", "VI_FETCH_MIN_BYTES_PER_S", float),
    ("fetch_rate_window_s", "VI_FETCH_RATE_WINDOW_S", float),
    ("gateway_max_tasks_per_user", "VI_GATEWAY_MAX_TASKS_PER_USER", int),
    ("gateway_max_tasks", "VI_GATEWAY_MAX_TASKS", int),
    ("gateway_answer_after_s", "VI_GATEWAY_ANSWER_AFTER_S", float),
    ("llm_timeout_s", "VI_LLM_TIMEOUT_S", float),
    ("llm_retries", "VI_LLM_RETRIES", int),
    ("llm_backoff_s", "VI_LLM_BACKOFF_S", float),
    ("llm_budget_s", "VI_LLM_BUDGET_S", float),
    ("llm_concurrency", "VI_LLM_CONCURRENCY", int),
    ("local_concurrency", "VI_LOCAL_CONCURRENCY", int),
    ("max_execution_events", "VI_MAX_EXECUTION_EVENTS", int),
    ("llm_price_input", "VI_LLM_PRICE_INPUT", float),
    ("llm_price_output", "VI_LLM_PRICE_OUTPUT", float),
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a process; built once at start-up."""

    workspace: Path = field(default_factory=default_workspace)
    temp_cleanup_enabled: bool = True
    allow_loopback: bool = False
    allow_local_paths: bool = False  # only the CLI: in the cloud a path would read the shared mount
    asr_engine: str = "auto"
    funasr_model: str = ""
    funasr_vad_model: str = ""
    whisper_model: str = ""
    model_cache: Path = field(default_factory=default_model_cache)
    asr_device: str = "auto"
    log_format: str = "auto"
    log_level: str = "INFO"
    fetch_connect_timeout_s: float = 10.0
    fetch_read_timeout_s: float = 60.0
    fetch_retries: int = 3
    fetch_backoff_s: float = 1.0  # first retry delay; doubles per attempt
    fetch_max_s: float = 600.0  # a whole fetch (page, retries, download); 0: only the step's deadline
    fetch_min_bytes_per_s: float = 16 * 1024  # slower than this over a whole window ends the download
    fetch_rate_window_s: float = 30.0  # the grace period, then each window the rate is measured over
    feishu_app_id: str = ""
    feishu_folder_token: str = ""  # the drive folder new Bases go into (empty: the app's own space)
    feishu_transfer_owner: bool = True  # hand each new Base to the person who asked
    feishu_app_secret: Secret = field(default_factory=Secret)
    feishu_verification_token: Secret = field(default_factory=Secret)
    feishu_encrypt_key: Secret = field(default_factory=Secret)
    feishu_domain: str = DEFAULT_FEISHU_DOMAIN  # the open-platform origin (a loopback URL in tests)
    gateway_max_tasks_per_user: int = 3  # running tasks of one requester, over every gateway instance
    gateway_max_tasks: int = 20  # running tasks in total, over every gateway instance
    # Wait up to this long for a message to be handled (card sent, execution started) before answering
    # Feishu: where an instance may be frozen once it has answered (Function Compute), 2.5 s of Feishu's
    # 3 s. 0: answer at once and handle it after (a long-running server).
    gateway_answer_after_s: float = 0.0
    llm_base_url: str = ""  # empty: DEFAULT_LLM_BASE_URL
    llm_api_key: Secret = field(default_factory=Secret)  # VI_LLM_API_KEY, else DASHSCOPE_API_KEY
    llm_model: str = DEFAULT_LLM_MODEL
    llm_timeout_s: float = 60.0  # one request
    llm_retries: int = 3  # retries of a request on 429, 5xx, timeouts and connection errors
    llm_backoff_s: float = 1.0  # first retry delay when the server names none; doubles per attempt
    llm_budget_s: float = 300.0  # all the model calls for one video (or the summary), retries included
    llm_concurrency: int = 4  # model calls of one task at the same time, across every machine
    llm_json_mode: bool = True  # send response_format json_object (turn off for servers without it)
    llm_price_input: float | None = None  # per 1,000 prompt tokens; None: the built-in price of the model
    llm_price_output: float | None = None  # per 1,000 completion tokens
    llm_currency: str = "CNY"
    cloudflow_region: str = ""  # VI_CLOUDFLOW_REGION, else s.yaml's VI_REGION
    flow_name: str = "video-insight"
    cloudflow_endpoint: str = ""  # another endpoint than the region's (the local one: http://127.0.0.1:8790)
    flow_role_arn: str = ""  # the role CloudFlow assumes to invoke the functions (deploy)
    alibaba_access_key_id: str = ""  # empty: the rest of Alibaba Cloud's credential chain
    alibaba_access_key_secret: Secret = field(default_factory=Secret)
    alibaba_security_token: Secret = field(default_factory=Secret)  # an STS key pair's token (FC's role)
    local_concurrency: int = 4  # the embedded engine: videos of one Map at once on this machine
    max_execution_events: int = 5000  # CloudFlow's per-execution event limit (0: none), as the cloud has it

    @property
    def feishu_configured(self) -> bool:
        """Whether the app's credentials are set, so the process can call Feishu."""
        return bool(self.feishu_app_id and self.feishu_app_secret)

    @property
    def llm_endpoint(self) -> str:
        """The base URL requests go to."""
        return self.llm_base_url or DEFAULT_LLM_BASE_URL

    @property
    def llm_configured(self) -> bool:
        """Whether AI analysis can run: a key is set, or another endpoint than DashScope's is named
        (a local server may need no key)."""
        own_endpoint = self.llm_base_url.rstrip("/") not in ("", DEFAULT_LLM_BASE_URL)
        return bool(self.llm_api_key) or own_endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Read settings from ``env`` (default ``os.environ``) over a ``.env`` file if present."""
        merged: dict[str, str] = {}
        dotenv_path = dotenv if dotenv is not None else Path(".env")
        if dotenv_path.is_file():
            from dotenv import dotenv_values

            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if env is None else env)

        def get(name: str) -> str | None:
            return merged.get(name)

        kw: dict[str, object] = {}
        if get("VI_WORKSPACE"):
            kw["workspace"] = Path(str(get("VI_WORKSPACE"))).expanduser()
        if get("VI_MODEL_CACHE"):
            kw["model_cache"] = Path(str(get("VI_MODEL_CACHE"))).expanduser()
        kw["temp_cleanup_enabled"] = _bool("TEMP_CLEANUP_ENABLED", get("TEMP_CLEANUP_ENABLED"), True)
        kw["allow_loopback"] = _bool("VI_ALLOW_LOOPBACK", get("VI_ALLOW_LOOPBACK"), False)
        kw["allow_local_paths"] = _bool("VI_ALLOW_LOCAL_PATHS", get("VI_ALLOW_LOCAL_PATHS"), False)
        kw["llm_json_mode"] = _bool("VI_LLM_JSON_MODE", get("VI_LLM_JSON_MODE"), True)
        kw["feishu_transfer_owner"] = _bool("FEISHU_TRANSFER_OWNER", get("FEISHU_TRANSFER_OWNER"), True)
        for attr, name in _PLAIN_VARS.items():
            if get(name):
                kw[attr] = str(get(name))
        for attr, name in _SECRET_VARS.items():
            if get(name):
                kw[attr] = Secret(str(get(name)))
        if "cloudflow_region" not in kw and get("VI_REGION"):  # the region s.yaml deploys to
            kw["cloudflow_region"] = str(get("VI_REGION"))
        if "llm_api_key" not in kw and get("DASHSCOPE_API_KEY"):  # DashScope's own variable name
            kw["llm_api_key"] = Secret(str(get("DASHSCOPE_API_KEY")))
        for attr, name, conv in _NUMBER_VARS:
            raw = get(name)
            if raw:
                try:
                    kw[attr] = conv(raw)
                except ValueError as exc:
                    raise ValueError(f"{name} must be a number, got {raw!r}") from exc
        return cls(**kw)  # type: ignore[arg-type]

    def public(self) -> dict[str, object]:
        """Settings as a dict with secrets masked, for `video-insight config` and logs."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}
