"""The guards of the HTTP stack (``video_insight._http``) against clients that stall or pile up."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from steps import Settings
from tests.cli._served import read_until_closed, serving, strict_json
from video_insight._http import HttpLimits

FAST = HttpLimits(head_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=5, max_connections=8)
HEAD = b"POST /invoke HTTP/1.1\r\nHost: fc\r\nContent-Length: 20\r\n"


@contextlib.contextmanager
def connections(port: int, count: int, send: bytes = b"") -> Iterator[list[socket.socket]]:
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        for conn in conns:
            if send:
                conn.sendall(send)
        yield conns
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"POST /invoke HTT", id="half a request line"),
        pytest.param(HEAD, id="headers without the blank line"),
    ],
)
def test_a_request_head_that_never_completes_is_dropped(settings: Settings, sent: bytes) -> None:
    with serving("cleanup", settings, FAST) as server, connections(server.port, 1, sent) as (conn,):
        started = time.monotonic()
        assert read_until_closed(conn) == b""  # closed by the server; TimeoutError if it is kept
        assert time.monotonic() - started < 5


def test_a_head_trickled_byte_by_byte_is_dropped_at_the_head_deadline(settings: Settings) -> None:
    with serving("cleanup", settings, FAST) as server, connections(server.port, 1) as (conn,):
        conn.settimeout(0.05)
        started = time.monotonic()
        closed = False
        for byte in HEAD * 10:  # one byte every ~50 ms: far slower than the 0.5 s deadline allows
            try:
                conn.sendall(bytes([byte]))
                closed = conn.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: the server closed while we were still writing
                closed = True
            if closed:
                break
    assert closed, "a trickling client kept its connection"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "sent", [HEAD + b"\r\n", HEAD + b"\r\n" + b'{"payload"'], ids=["no body", "half a body"]
)
def test_a_body_that_never_arrives_is_answered_408_and_closed(settings: Settings, sent: bytes) -> None:
    with serving("cleanup", settings, FAST) as server, connections(server.port, 1, sent) as (conn,):
        reply = read_until_closed(conn)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert strict_json(body)["errorCode"] == "RequestTimeout"


def test_stalled_connections_hold_no_threads_and_go_away(settings: Settings) -> None:
    with serving("cleanup", settings, FAST) as server:
        threads = threading.active_count()
        with connections(server.port, 40, HEAD + b"\r\n") as stalled:
            health = httpx.get(f"http://127.0.0.1:{server.port}/health")  # accepted after the 40
            assert threading.active_count() <= threads + 1  # + at most one worker for the health check
            replies = [read_until_closed(conn) for conn in stalled]
        assert health.status_code in (200, 503)
        statuses = [reply[:12] for reply in replies]  # every one answered and closed, none kept
        assert set(statuses) <= {b"HTTP/1.1 408", b"HTTP/1.1 503"}
        assert statuses.count(b"HTTP/1.1 408") <= FAST.max_connections  # the rest were refused at once


def test_connections_beyond_the_cap_are_answered_503_until_the_stalled_ones_go(settings: Settings) -> None:
    limits = HttpLimits(head_timeout_s=1.0, body_timeout_s=1.0, max_connections=4)
    with serving("cleanup", settings, limits) as server, connections(server.port, 4):
        url = f"http://127.0.0.1:{server.port}/health"
        assert httpx.get(url).status_code == 503  # the four idle connections fill the cap
        deadline = time.monotonic() + 10
        status = 503
        while status == 503 and time.monotonic() < deadline:  # the head deadline frees them
            status = httpx.get(url).status_code
        assert status == 200


def test_the_server_stops_with_idle_and_stalled_connections_open(settings: Settings) -> None:
    with (
        serving("cleanup", settings, FAST) as server,
        connections(server.port, 3) as idle,
        connections(server.port, 3, HEAD + b"\r\n") as stalled,
    ):
        assert httpx.get(f"http://127.0.0.1:{server.port}/health").status_code == 200
        server.stop()
        assert [read_until_closed(conn) for conn in idle] == [b""] * 3  # closed at once
        for conn in stalled:  # in flight: answered (408 at the body deadline) before the server ends
            assert read_until_closed(conn).startswith(b"HTTP/1.1 408 ")
    # serving() asserts that the server thread ended
