"""CloudFlow wiring: the client from settings, and ``video-insight cloudflow-local``.

``cloudflow-local`` serves CloudFlow's API on loopback (:func:`flows.cloudflow_app`) over
embedded engines whose Tasks call ``serve-step`` servers over HTTP, exactly as CloudFlow calls
Function Compute. The step servers are started here, one per step on its own loopback port, unless
``--step-url NAME=URL`` names one already running. Requests must be signed with the key pair it is
given: ``--access-key-id/--access-key-secret``, else ``ALIBABA_CLOUD_ACCESS_KEY_ID`` /
``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, else the documented local pair ``LOCAL_ACCESS_KEY_ID`` /
``LOCAL_ACCESS_KEY_SECRET``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import flows
import steps

from ._http import HttpServer
from ._step_app import step_app

__all__ = [
    "LOCAL_ACCESS_KEY_ID",
    "LOCAL_ACCESS_KEY_SECRET",
    "LocalCloudFlowServer",
    "cloudflow_engine",
    "local_keys",
]

LOCAL_ACCESS_KEY_ID = "local-cloudflow"
LOCAL_ACCESS_KEY_SECRET = "local-cloudflow-secret"
log = steps.get_logger(__name__)


def cloudflow_engine(settings: steps.Settings, flow: str | None = None) -> flows.CloudFlowEngine:
    """The CloudFlow client the settings describe (region, endpoint, flow name, credentials)."""
    config = flows.CloudFlowConfig(
        region=settings.cloudflow_region,
        flow=flow or settings.flow_name,
        endpoint=settings.cloudflow_endpoint,
        access_key_id=settings.alibaba_access_key_id,
        access_key_secret=settings.alibaba_access_key_secret.reveal(),
        security_token=settings.alibaba_security_token.reveal(),
    )
    return flows.CloudFlowEngine(config)


def local_keys(settings: steps.Settings, key_id: str = "", secret: str = "") -> dict[str, str]:
    """The one key pair the local endpoint accepts (flags, else the environment, else the defaults)."""
    if key_id:
        return {key_id: secret}
    if settings.alibaba_access_key_id:
        return {settings.alibaba_access_key_id: settings.alibaba_access_key_secret.reveal()}
    return {LOCAL_ACCESS_KEY_ID: LOCAL_ACCESS_KEY_SECRET}


def _serve_in_thread(server: HttpServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    return thread


@dataclass
class LocalCloudFlowServer:
    """The local endpoint and its step servers, on loopback, each on a thread.

    Use as a context manager (tests) or call :meth:`run` (the CLI, in the foreground).
    """

    settings: steps.Settings
    keys: Mapping[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    step_urls: Mapping[str, str] = field(default_factory=dict)
    root: Path | None = None
    _servers: list[tuple[HttpServer, threading.Thread]] = field(default_factory=list)

    def __post_init__(self) -> None:
        urls = {steps.function_name(s): url for s, url in self.step_urls.items()}
        for step in steps.serve_steps():
            name = steps.function_name(step)
            if name not in urls:
                server = HttpServer(step_app(steps.FCStep(step, self.settings)), "127.0.0.1", 0)
                self._servers.append((server, _serve_in_thread(server, f"step:{step}")))
                urls[name] = f"http://127.0.0.1:{server.port}"
        self.functions = flows.HttpFunctions(urls)
        root = self.root or self.settings.workspace / "cloudflow-local"
        self.service = flows.LocalCloudFlow(root, self.functions, max_state_bytes=steps.MAX_STATE_BYTES)
        self.service.recover()  # executions a previous endpoint process left running go on
        self.server = HttpServer(flows.cloudflow_app(self.service, self.keys), self.host, self.port)

    @property
    def endpoint(self) -> str:
        """The URL a client's ``VI_CLOUDFLOW_ENDPOINT`` names."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.server.port}"

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop the step servers."""
        log.info("cloudflow_local.listening", endpoint=self.endpoint, steps=len(self._servers))
        try:
            self.server.run()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the step servers and close the function client."""
        for server, thread in self._servers:
            server.stop()
            thread.join(15)
        self._servers.clear()
        self.functions.close()

    def __enter__(self) -> LocalCloudFlowServer:
        self._thread = _serve_in_thread(self.server, "cloudflow-local")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self._thread.join(15)
        self.close()


@contextlib.contextmanager
def local_cloudflow(settings: steps.Settings, keys: Mapping[str, str]) -> Iterator[LocalCloudFlowServer]:
    """A running local endpoint with its own step servers, for the duration of the block."""
    with LocalCloudFlowServer(settings, keys) as server:
        yield server
