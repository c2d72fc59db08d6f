"""One 60 s video with Mandarin speech through every media step, as the embedded engine runs them.

The speech is 60 s of real Mandarin talk (fasr's ``vad_example.wav``) over six generated shots.
Three runs side by side, in this order, each in a fresh workspace:

- ``old, English``: the old default (Whisper tiny.en) on the same shots with 60 s of English
  speech from espeak-ng, the run this bench measured before (0.07x the duration on 2 idle cores);
- ``old, Mandarin``: the old default on the Mandarin video;
- ``new, Mandarin``: the default options (no FunASR models here: the multilingual Whisper base).

The ratio of the new default to ``old, English``, measured at the same time on the same machine,
carries over to an idle machine better than either wall time when other work shares the cores.

For each: the speech model's load time (once per process: the initializer in Function Compute),
wall time per step, total wall time / video duration, and where Transcribe's time goes (voice
activity vs decoding). Peak RSS is the process's (both runs). Targets (2 cores): the new default
< 0.25x the video's duration, peak RSS < 1.5 GB.

    .venv/bin/python bench/pipeline.py [--keep] [--vertical]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flows  # noqa: E402
import steps  # noqa: E402
from steps._asr import choose_engine  # noqa: E402
from steps._asr.whisper_engine import speech_chunks  # noqa: E402
from steps._media import read_pcm  # noqa: E402
from tests.media import Utterance, make_video, mix_speech  # noqa: E402
from video_insight._app import build_engine  # noqa: E402

LONG_ZH = Utterance("fasr", "fasr/asset/example/vad_example.wav", "")
STATES = (
    "Prepare",
    "Fetch",
    "Media",
    "Transcribe",
    "Shots",
    "OCR",
    "Understand",
    "Analyze",
    "Publish",
    "Finish",
)
OLD = {"engine": "whisper", "model": "tiny.en", "language": "en"}
RUNS: dict[str, tuple[dict[str, Any], str]] = {  # name: (asr options, the video's speech)
    "old, English": (OLD, "en"),
    "old, Mandarin": (OLD, "zh"),
    "new, Mandarin": ({}, "zh"),
}
ENGLISH = (
    "Meet the new Lumen bottle. It keeps your drinks cold for twenty four hours and hot for twelve. "
    "The lid is leak proof, so it goes in your bag without a second thought. "
    "Made from recycled steel, it is light, tough and easy to clean. "
    "Choose from six colours, from ocean blue to forest green. "
    "Our customers take it hiking, to the office and to the gym. "
    "Order today and get free shipping, plus a second lid for free. "
    "Lumen. Drink well, wherever you are. "
) * 2


def _video(lang: str, size: tuple[int, int]) -> Path:
    cache = ROOT / "bench" / "out"
    video = cache / f"pipeline_{size[0]}x{size[1]}_60s_{lang}.mp4"
    if not video.exists():
        print(f"making a 60 s {size[0]}x{size[1]} test video with {lang} speech (once)...", flush=True)
        if lang == "zh":
            wav = mix_speech([(LONG_ZH.wav(), 0.0)], cache / "pipeline_zh.wav", 60.0)
            make_video(video, shot_frames=(250,) * 6, size=size, speech_wav=wav)
        else:
            make_video(video, shot_frames=(250,) * 6, size=size, speech=ENGLISH)
    return video


def _voice_activity(video: Path) -> tuple[float, float]:
    """Seconds Silero voice activity detection takes on the video's audio, and the speech it finds."""
    audio = read_pcm(video)
    started = time.perf_counter()
    chunks = speech_chunks(audio)
    return time.perf_counter() - started, sum(b - a for a, b in chunks) / 16000


def _run(name: str, asr: dict[str, Any], video: Path, root: Path) -> dict[str, Any]:
    settings = steps.Settings(
        workspace=root / name.replace(" ", "").replace(",", "-"), allow_local_paths=True
    )
    chosen = choose_engine(settings, asr.get("engine"), asr.get("model"), asr.get("language", "auto")).engine
    assert chosen is not None
    started = time.perf_counter()
    chosen.load()
    load_s = time.perf_counter() - started
    engine = build_engine(settings)
    ws = steps.TaskWorkspace(settings.workspace, "bench")
    request: dict[str, Any] = {"videos": [{"name": "60s", "path": str(video)}]}
    if asr:
        request["options"] = {"asr": asr}
    steps.atomic_write_json(ws.request, request)
    started = time.perf_counter()
    execution = engine.start("bench", {"task_id": "bench"}, wait=True)
    wall = time.perf_counter() - started
    assert execution.status == "Succeeded", execution.error
    results = json.loads((ws.out / "results.json").read_text(encoding="utf-8"))
    entry = results["videos"][0]
    assert entry["status"] == "ok", entry["error"]
    by_key = flows.state_timings(engine.history("bench"))  # keyed Videos/Understand/Branch1/Shots
    timings = {s: sum(t["total_s"] for k, t in by_key.items() if k.rsplit("/", 1)[-1] == s) for s in STATES}
    return {"load_s": load_s, "wall": wall, "entry": entry, "timings": timings, "vad": _voice_activity(video)}


def _report(runs: dict[str, dict[str, Any]]) -> None:
    duration = next(iter(runs.values()))["entry"]["duration_s"]
    names = list(runs)
    print(f"{'step':<14}" + "".join(f"{n + ' s':>18}{'x dur':>7}" for n in names))
    rows = [(s, [runs[n]["timings"][s] for n in names]) for s in STATES]
    rows += [("total", [runs[n]["wall"] for n in names])]
    rows += [("+ model load", [runs[n]["wall"] + runs[n]["load_s"] for n in names])]
    for label, values in rows:
        print(f"{label:<14}" + "".join(f"{v:>18.2f}{v / duration:>7.3f}" for v in values))
    old, new = runs[names[0]], runs[names[-1]]
    ratio = new["wall"] / old["wall"]
    print(
        f"{names[-1]} / {names[0]}: total {ratio:.2f}x, Transcribe "
        f"{new['timings']['Transcribe'] / old['timings']['Transcribe']:.2f}x; with the old default at 0.07x "
        f"on idle cores that is about {0.07 * ratio:.2f}x the duration (target < 0.25x)"
    )
    for name in names:
        run = runs[name]
        t = run["entry"]["transcript"]
        vad_s, speech_s = run["vad"]
        decode_s = run["timings"]["Transcribe"] - vad_s
        print(
            f"{name}: {t['engine']} {t['model']} (load {run['load_s']:.1f} s), language {t['language']} "
            f"({t['language_probability']}), {len(t['text'])} characters; Transcribe = voice activity "
            f"{vad_s:.2f} s + decoding {decode_s:.2f} s ({decode_s / max(speech_s, 1e-9):.3f}x the "
            f"{speech_s:.0f} s of speech)"
        )
    print(f"text ({names[-1]}): {new['entry']['transcript']['text'][:100]}…")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspaces and print their path")
    parser.add_argument("--vertical", action="store_true", help="1080x1920 instead of 1280x720")
    args = parser.parse_args()
    size = (1080, 1920) if args.vertical else (1280, 720)
    videos = {lang: _video(lang, size) for lang in ("en", "zh")}
    steps.configure_logging("console", "WARNING")
    root = Path(tempfile.mkdtemp(prefix="vi-bench-"))
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, video {size[0]}x{size[1]} 60 s")
    runs = {name: _run(name, asr, videos[lang], root) for name, (asr, lang) in RUNS.items()}
    _report(runs)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    print(f"peak RSS {rss_mb:.0f} MB for all runs (target < 1536 MB); load average now {load:.1f}")
    if args.keep:
        print(f"workspaces: {root}")


if __name__ == "__main__":
    main()
