"""Two ``video-insight serve`` processes sharing a workspace: redeliveries to both start one execution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

import steps
from tests.bot_gateway.conftest import ENCRYPT_KEY, TOKEN
from tests.bot_gateway.events import message_event
from tests.fakefeishu import FakeFeishu
from tests.httpserver import LocalHTTPServer

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """One gateway process; its log is read until it says where it listens, then drained."""

    def __init__(self, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "video_insight", "serve", "--port", "0"]
        self.proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stderr is not None
        self.log: list[str] = []
        for line in self.proc.stderr:  # blocks until the process logs; ends if it dies
            self.log.append(line)
            if '"gateway.listening"' in line:
                self.url = f"http://127.0.0.1:{json.loads(line)['port']}/webhook/event"
                break
        else:
            raise AssertionError("the gateway exited before listening:\n" + "".join(self.log))
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn finishes the answers in flight, the workers their work
        self.proc.wait(timeout=60)
        self._drainer.join(timeout=10)  # the log ends with the process
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[FakeFeishu, list[Served], LocalHTTPServer]]:
    with ExitStack() as stack:
        fake = stack.enter_context(FakeFeishu())
        web = stack.enter_context(LocalHTTPServer())
        env = {
            **os.environ,
            **fake.env(),
            "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": TOKEN,
            "VI_WORKSPACE": str(tmp_path / "shared"),
            "VI_ALLOW_LOOPBACK": "true",
            "VI_LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "always::ResourceWarning",  # unclosed files, sockets, event loops
        }
        served = [Served(env), Served(env)]
        try:
            yield fake, served, web
        finally:
            for one in served:
                one.stop()


@pytest.mark.slow
def test_redeliveries_to_two_processes_start_one_execution(
    two_gateways: tuple[FakeFeishu, list[Served], LocalHTTPServer], tmp_path: Path
) -> None:
    fake, (one, two), web = two_gateways
    user = fake.new_message("oc_chat", "text", "{}")
    event = message_event(user.message_id, f"{web.url('/gone.mp4')} asr=none", token=TOKEN)
    for n in range(4):
        if n == 3:
            event["header"]["event_id"] = "redelivered-with-a-new-id"
        for gateway in (one, two):
            headers, body = steps.feishu.signed_delivery(event, ENCRYPT_KEY)
            assert httpx.post(gateway.url, content=body, headers=headers, timeout=30).status_code == 200
    one.stop()  # each finishes the work it took before it exits
    two.stop()
    executions = tmp_path / "shared" / "executions" / "video-insight"
    assert [p.name for p in executions.iterdir()] == [f"fs_{user.message_id}"]
    cards = [
        m
        for m in fake.cards_in("oc_chat")
        if m.reply_to == user.message_id and "subtitle" in m.card["header"]
    ]
    assert len(cards) == 1
    started = [line for s in (one, two) for line in s.log if '"gateway.started"' in line]
    assert len(started) == 1
    assert [line for s in (one, two) for line in s.log if "Warning" in line] == []
