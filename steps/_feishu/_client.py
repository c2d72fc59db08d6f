"""The Feishu open-platform client: lark-oapi built from settings, with every fault mapped at the boundary.

    feishu = FeishuClient(settings)                     # FEISHU_APP_ID / _SECRET / FEISHU_DOMAIN
    resp = feishu.call("发送消息", lambda lark: lark.im.v1.message.create(request))

:meth:`FeishuClient.call` is the one way a module sends a request through the SDK. It fetches the
tenant token through the SDK (whose cache is process-wide, keyed by app id), drops a token Feishu
no longer accepts and asks again once, retries rate limits and server errors a few times with
backoff, and turns every other answer with ``code != 0`` into a :class:`FeishuError`. No exception
of lark-oapi, requests or the JSON parser escapes it (see :func:`map_feishu_errors`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity

from .._logging import get_logger
from .._settings import Settings
from ..errors import FeishuError, NetworkError, RateLimited, TransientError

if TYPE_CHECKING:  # lark-oapi takes ~2 s to import: only when a client is built
    import lark_oapi as lark

__all__ = [
    "RATE_LIMIT_CODES",
    "TOKEN_CODES",
    "TOKEN_PATH",
    "FeishuClient",
    "check_response",
    "map_feishu_errors",
]

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
RATE_LIMIT_CODES = frozenset({99991400, 230020})  # the app's QPS; one message or chat too often
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991668, 99991677})  # missing, invalid, expired
R = TypeVar("R")
log = get_logger(__name__)


@contextlib.contextmanager
def map_feishu_errors(what: str) -> Iterator[None]:
    """Turn what lark-oapi and requests raise during ``what`` into this project's errors."""
    import requests
    from lark_oapi.core.exception import NoAuthorizationException, ObtainAccessTokenException

    try:
        yield
    except ObtainAccessTokenException as exc:  # the token request itself answered code != 0
        raise error_for(what, exc.code, f"获取 tenant_access_token 失败：{exc.msg}") from exc
    except NoAuthorizationException as exc:
        raise FeishuError(f"{what}失败：没有配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）") from exc
    except requests.RequestException as exc:
        raise NetworkError(f"{what}失败：连不上飞书开放平台（{type(exc).__name__}）") from exc
    except ValueError as exc:  # a body that is not JSON (a gateway's HTML error page)
        raise NetworkError(f"{what}失败：飞书返回了无法解析的响应") from exc


def error_for(what: str, code: int | None, msg: str, status: int | None = None) -> Exception:
    text = f"{what}失败：{msg}（飞书错误码 {code}）" if code else f"{what}失败：{msg}"
    if code in RATE_LIMIT_CODES or status == 429:
        return RateLimited(text)
    if status is not None and status >= 500:  # Feishu's own fault: worth another try
        return NetworkError(text)
    return FeishuError(text, feishu_code=code)


def check_response(what: str, resp: Any) -> Any:
    """``resp`` if its ``code`` is 0; else the mapped error (rate limits and 5xx are transient)."""
    if resp.success():
        return resp
    status = getattr(getattr(resp, "raw", None), "status_code", None)
    msg = resp.msg or (f"HTTP {status}" if status else "没有响应内容")
    raise error_for(what, resp.code, msg, status)


_clients: dict[tuple[str, str, str, float], lark.Client] = {}
_clients_lock = threading.Lock()


def _lark_client(settings: Settings, timeout_s: float) -> lark.Client:
    key = (settings.feishu_app_id, settings.feishu_app_secret.reveal(), settings.feishu_domain, timeout_s)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import lark_oapi as lark

            client = (
                lark.Client.builder()
                .app_id(settings.feishu_app_id)
                .app_secret(settings.feishu_app_secret.reveal())
                .domain(settings.feishu_domain.rstrip("/"))
                .timeout(timeout_s)
                .log_level(lark.LogLevel.CRITICAL)  # faults are mapped and logged by us
                .build()
            )
            _clients[key] = client
        return client


def _log_retry(what: str, state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    code = getattr(exc, "feishu_code", None)
    log.info("feishu.retry", what=what, attempt=state.attempt_number, code=code, error=type(exc).__name__)


class FeishuClient:
    """lark-oapi for one app, with token refresh, a few retries on transient faults, and mapped errors.

    Args:
        settings: the app's credentials and ``feishu_domain``.
        timeout_s: one HTTP request.
        retries: further attempts after a rate limit, a 5xx or a network error.
        backoff_s: the first wait between attempts; doubles each time.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.feishu_configured:
            raise FeishuError("没有配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）")
        self.settings = settings
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        with map_feishu_errors("创建飞书客户端"):
            self.lark = _lark_client(settings, timeout_s)

    @property
    def domain(self) -> str:
        return self.settings.feishu_domain.rstrip("/")

    def tenant_token(self) -> str:
        """The app's tenant access token (the SDK's cached one while it is valid)."""
        from lark_oapi.core.token import TokenManager

        with map_feishu_errors("获取 tenant_access_token"):
            return str(TokenManager.get_self_tenant_token(self.lark.config))

    def drop_token(self) -> None:
        """Forget the cached tenant token, so the next call asks Feishu for a new one."""
        from lark_oapi.core.token import TokenManager

        TokenManager.cache.set(f"self_tenant_token:{self.settings.feishu_app_id}", "", 0)

    def call(
        self,
        what: str,
        send: Callable[[lark.Client], R],
        *,
        retry_codes: frozenset[int] = frozenset(),
        retries: int | None = None,
        backoff_s: float | None = None,
        max_wait_s: float = 10.0,
    ) -> R:
        """Send one request (``send(lark_client)`` returns the SDK's response); the response on success.

        The one retry loop of every Feishu call: after a rate limit, a 5xx or a network error, and
        after the Feishu codes in ``retry_codes`` (an API's own "busy, try again" codes), the
        request is sent again, up to ``retries`` more times (the client's own by default), waiting
        ``backoff_s`` at first (the client's own by default), doubling up to ``max_wait_s``.

        Raises:
            RateLimited, NetworkError: still failing after the retries.
            FeishuError: Feishu refused the request (its code and message are in the error; a code of
                ``retry_codes`` once the retries are spent).
        """

        def transient(exc: BaseException) -> bool:
            return isinstance(exc, TransientError) or (
                isinstance(exc, FeishuError) and exc.feishu_code in retry_codes
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(transient),
            stop=tenacity.stop_after_attempt((self.retries if retries is None else retries) + 1),
            wait=tenacity.wait_exponential(
                multiplier=self.backoff_s if backoff_s is None else backoff_s, max=max_wait_s
            ),
            before_sleep=lambda state: _log_retry(what, state),
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(what, send)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, what: str, send: Callable[[lark.Client], R]) -> R:
        for refreshed in (False, True):
            with map_feishu_errors(what):
                resp = send(self.lark)
            if getattr(resp, "code", None) in TOKEN_CODES and not refreshed:
                log.info("feishu.token_rejected", what=what, code=resp.code)  # type: ignore[attr-defined]
                self.drop_token()
                continue
            result: R = check_response(what, resp)
            return result
        raise AssertionError("unreachable")  # pragma: no cover
