from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from steps import Settings
from steps._outputs import Results, render_html
from tests.browser import chromium
from tests.steps.test_publish import XSS, publish

VIDEO_IDS = ["v-unbox", "v-xss", "v-bad", "v-dup", "v-stuck"]
IMAGES = 4 + 1 + 1 + 2 + 1  # unbox: 4 keyframes, 1 screenshot, contact sheet; xss: 2 keyframes, contact sheet


class _Page(HTMLParser):
    """Collects what the tests look at: image sources, element ids, script and link elements."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.ids: list[str] = []
        self.scripts = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "script":
            self.scripts += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if a.get("id"):
            self.ids.append(a["id"] or "")


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_page_has_a_section_per_video_and_lists_failures(settings: Settings) -> None:
    ws, _, _ = publish(settings)
    text = (ws.out / "report.html").read_text(encoding="utf-8")
    page = _parse(text)

    assert {"summary", "failed", *(f"v-{vid}" for vid in VIDEO_IDS)} <= set(page.ids)
    assert {f"#v-{vid}" for vid in VIDEO_IDS} <= set(page.links)
    failed = text.split('id="failed"', 1)[1].split("</section>", 1)[0]
    assert failed.count("<li>") == 3
    assert "CorruptVideo" in failed and "same link as 开箱视频 A" in failed and "Incomplete" in failed
    assert "00:03.00 – 00:05.50" in text  # shot 2's time range on its keyframe
    assert "00:03.10 – 00:06.00" in text and "续航三十小时" in text  # a transcript segment with its times
    # a shot card holds what was said during that shot: shot 3 (5.5–9 s) spans two segments
    assert '<span class="said">快充，现在下单</span>' in text
    assert "https://" not in text.replace("https://cdn.example.com/", "")  # nothing loaded from the web
    assert "视频没有音轨" in text  # the silent video says why it has no transcript
    xss_section = text.split('id="v-v-xss"', 1)[1]
    assert xss_section.index('class="strip tall"') < xss_section.index("</section>")  # a vertical video


def test_every_image_is_a_relative_file_in_the_output_folder(settings: Settings) -> None:
    ws, _, _ = publish(settings)
    page = _parse((ws.out / "report.html").read_text(encoding="utf-8"))

    assert len(page.images) == IMAGES
    for src in page.images:
        assert src.startswith("media/"), src
        assert (ws.out / src).is_file(), src


def test_user_text_is_escaped(settings: Settings) -> None:
    ws, results, _ = publish(settings)
    text = (ws.out / "report.html").read_text(encoding="utf-8")

    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert _parse(text).scripts == 1  # only the report's own script

    hostile = results.model_copy(deep=True)
    hostile.videos[0].source = "javascript:alert(document.cookie)"
    hostile.videos[0].name = '" onmouseover="alert(1)'
    page_text = render_html(Results.model_validate(hostile.model_dump()))
    page = _parse(page_text)
    assert not any(link.startswith("javascript:") for link in page.links)
    assert 'onmouseover="alert(1)' not in page_text


def _loaded_body(html: Path, profile: Path) -> tuple[dict[str, str], str]:
    """The page's DOM after load in headless Chromium, and the attributes of its <body>."""
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", html.as_uri(), profile=profile).stdout
    match = re.search(r"<body([^>]*)>", dom)
    assert match, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1))), dom


@pytest.mark.slow
def test_report_loads_in_chromium_without_broken_images(settings: Settings, tmp_path: Path) -> None:
    ws, _, _ = publish(settings)
    html = ws.out / "report.html"

    body, dom = _loaded_body(html, tmp_path / "profile")
    assert body.get("data-images") == str(IMAGES)  # set by the page's script on load
    assert body.get("data-broken-images") == "0"
    for vid in VIDEO_IDS:
        assert f'id="v-{vid}"' in dom
    assert dom.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert XSS not in dom.split("<script", 1)[0]

    shot = tmp_path / "report.png"
    chromium(
        "--window-size=1280,2400",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        html.as_uri(),
        profile=tmp_path / "p2",
    )
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        colors = img.convert("RGB").resize((64, 120)).getcolors(64 * 120)
    assert colors is not None and len(colors) > 50  # a rendered page, not a blank one


@pytest.mark.slow
def test_chromium_check_sees_a_missing_image(settings: Settings, tmp_path: Path) -> None:
    ws, results, _ = publish(settings)
    (ws.out / results.videos[0].shots[1].keyframe).unlink()

    body, dom = _loaded_body(ws.out / "report.html", tmp_path / "profile")
    assert body.get("data-broken-images") == "1"
    assert dom.count('class="broken"') == 1
