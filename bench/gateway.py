"""Gateway ack latency under load and duplicate starts: signed, encrypted events from concurrent clients.

    .venv/bin/python bench/gateway.py [--events 500] [--clients 50] [--deliveries 5]

Starts ``video-insight serve`` as its own process, against a fake Feishu platform (tests/fakefeishu.py)
in this one, and POSTs ``--events`` deliveries of ``--events / --deliveries`` distinct messages
(each delivered ``--deliveries`` times, some under a new event id, shuffled) from ``--clients``
threads. Each message carries one link to a local 404, so every execution ends quickly. Prints the
ack latency (p50 / p99 / max) beside the same server's ``GET /healthz`` (the HTTP stack alone), the
ratio, and how many executions started per distinct message (target: exactly 1, p99 under 100 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import steps  # noqa: E402
from tests.bot_gateway.events import message_event  # noqa: E402
from tests.fakefeishu import FakeFeishu  # noqa: E402
from tests.httpserver import LocalHTTPServer  # noqa: E402

KEY, TOKEN = "bench-encrypt-key", "bench-verification-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start_gateway(fake: FakeFeishu, workspace: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **fake.env(),
        "FEISHU_ENCRYPT_KEY": KEY,
        "FEISHU_VERIFICATION_TOKEN": TOKEN,
        "VI_WORKSPACE": str(workspace),
        "VI_ALLOW_LOOPBACK": "true",
        "VI_GATEWAY_MAX_TASKS_PER_USER": "1000",
        "VI_GATEWAY_MAX_TASKS": "1000",
        "VI_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "video_insight", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # readiness: the process imports lark-oapi and the steps
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the gateway did not start within 60 s")


def _deliveries(
    fake: FakeFeishu, text: str, events: int, per_message: int
) -> tuple[list[str], list[tuple[dict[str, str], bytes]]]:
    """The user messages, and every delivery of them (shuffled)."""
    out = []
    ids = []
    for i in range(max(1, events // per_message)):
        message = fake.new_message("oc_bench", "text", '{"text": "bench"}')
        ids.append(message.message_id)
        event = message_event(
            message.message_id,
            text,
            token=TOKEN,
            chat_id="oc_bench",
            open_id=f"ou_user{i % 50}",
        )
        for n in range(per_message):
            if n == per_message - 1:  # the last redelivery under a new event id
                event = {**event, "header": {**event["header"], "event_id": f"redelivered-{i}"}}
            out.append(steps.feishu.signed_delivery(event, KEY))
    random.shuffle(out)
    return ids, out[:events]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=5, help="deliveries of each distinct message")
    parser.add_argument(
        "--help-only", action="store_true", help="messages ask for help: no executions (the ack path alone)"
    )
    args = parser.parse_args()

    with FakeFeishu() as fake, LocalHTTPServer() as web, tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = _start_gateway(fake, Path(tmp), port)
        url = f"http://127.0.0.1:{port}"
        try:
            text = "帮助" if args.help_only else f"{web.url('/missing.mp4')} asr=none"
            users, deliveries = _deliveries(fake, text, args.events, args.deliveries)
            with httpx.Client(limits=httpx.Limits(max_connections=args.clients)) as client:

                def post(delivery: tuple[dict[str, str], bytes]) -> tuple[int, float]:
                    headers, body = delivery
                    t0 = time.perf_counter()
                    status = client.post(f"{url}/webhook/event", content=body, headers=headers).status_code
                    return status, time.perf_counter() - t0

                def health(_: int) -> tuple[int, float]:
                    t0 = time.perf_counter()
                    status = client.get(f"{url}/healthz").status_code
                    return status, time.perf_counter() - t0

                with ThreadPoolExecutor(args.clients) as pool:
                    baseline = list(pool.map(health, range(len(deliveries))))
                    acks = list(pool.map(post, deliveries))
            distinct = len(users)
            deadline = time.monotonic() + 600
            executions = Path(tmp) / "executions" / "video-insight"
            while time.monotonic() < deadline:  # the executions run on in the gateway: count them at the end
                cards = [m for m in fake.cards_in("oc_bench") if m.reply_to]
                if len(cards) >= (1 if args.help_only else 2) * distinct:  # card and final message per task
                    break
                time.sleep(0.5)
            started = len(list(executions.iterdir())) if executions.is_dir() else 0
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    ack_ms = [s * 1000 for _, s in acks]
    base_ms = [s * 1000 for _, s in baseline]
    ack_p99, base_p99 = _percentile(ack_ms, 0.99), _percentile(base_ms, 0.99)
    bad = [code for code, _ in acks if code != 200]
    progress = [m for m in fake.cards_in("oc_bench") if m.reply_to and '"subtitle"' in m.versions[0]]
    per_request = Counter(m.reply_to for m in progress)
    print(f"{len(acks)} events ({distinct} distinct messages x {args.deliveries}), {args.clients} clients")
    ack_p50, base_p50 = statistics.median(ack_ms), statistics.median(base_ms)
    print(f"ack           p50 {ack_p50:6.1f} ms  p99 {ack_p99:6.1f} ms  max {max(ack_ms):6.1f} ms")
    print(f"GET /healthz  p50 {base_p50:6.1f} ms  p99 {base_p99:6.1f} ms  (the HTTP stack alone)")
    print(f"ratio p99 ack / p99 healthz: {ack_p99 / base_p99:.2f}; non-200 answers: {len(bad)}")
    print(f"executions started: {started} for {distinct} messages ({started / distinct:.2f} per message)")
    most = max(per_request.values(), default=0)
    print(f"progress cards: {len(progress)} for {len(per_request)} requests (most for one request: {most})")


if __name__ == "__main__":
    main()
