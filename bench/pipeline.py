"""One 60 s 720p video with speech through every media step, as the embedded engine runs them.

Prints wall time per step, total wall time / video duration and peak RSS. Targets (2 cores, bundled
Whisper): total < 0.25x the video's duration, peak RSS < 1.5 GB.

    .venv/bin/python bench/pipeline.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import steps  # noqa: E402
from tests.media import make_video  # noqa: E402
from video_insight._app import build_engine  # noqa: E402

SPEECH = (
    "Meet the new Lumen bottle. It keeps your drinks cold for twenty four hours and hot for twelve. "
    "The lid is leak proof, so it goes in your bag without a second thought. "
    "Made from recycled steel, it is light, tough and easy to clean. "
    "Choose from six colours, from ocean blue to forest green. "
    "Our customers take it hiking, to the office and to the gym. "
    "Order today and get free shipping, plus a second lid for free. "
    "Lumen. Drink well, wherever you are. "
) * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the workspace and print its path")
    args = parser.parse_args()
    cache = ROOT / "bench" / "out"
    video = cache / "pipeline_720p_60s.mp4"
    if not video.exists():
        print("making a 60 s 720p test video (once)...", flush=True)
        make_video(video, shot_frames=(250,) * 6, size=(1280, 720), speech=SPEECH)
    tmp = Path(tempfile.mkdtemp(prefix="vi-bench-"))
    settings = steps.Settings(workspace=tmp / "ws", allow_local_paths=True)
    steps.configure_logging("console", "WARNING")
    engine = build_engine(settings)
    ws = steps.TaskWorkspace(settings.workspace, "bench")
    steps.atomic_write_json(ws.request, {"videos": [{"name": "60s 720p", "path": str(video)}]})
    started = time.perf_counter()
    execution = engine.start("bench", {"task_id": "bench"})
    wall = time.perf_counter() - started
    assert execution.status == "Succeeded", execution.error
    results = json.loads((ws.out / "results.json").read_text(encoding="utf-8"))
    entry = results["videos"][0]
    assert entry["status"] == "ok", entry["error"]
    duration = entry["duration_s"]
    timings = engine.store.state_timings("bench")
    print(f"\nvideo: {duration:.1f} s, {entry['width']}x{entry['height']} @ {entry['fps']:g} fps")
    print(f"{'step':<12} {'wall s':>8} {'x duration':>11}")
    for state in (
        "Prepare",
        "Fetch",
        "Media",
        "Transcribe",
        "Shots",
        "Understand",
        "Analyze",
        "Publish",
        "Finish",
    ):
        t = timings.get(state, {}).get("total_s", 0.0)
        print(f"{state:<12} {t:>8.2f} {t / duration:>11.3f}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'total':<12} {wall:>8.2f} {wall / duration:>11.3f}   (target < 0.25)")
    print(f"peak RSS {rss_mb:.0f} MB (target < 1536 MB)")
    print(
        f"shots {len(entry['shots'])}, transcript {entry['transcript']['engine']} "
        f"{len(entry['transcript']['text'].split())} words"
    )
    if args.keep:
        print(f"workspace: {tmp}")


if __name__ == "__main__":
    main()
