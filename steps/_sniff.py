"""What a file is, from its first bytes: the media containers we accept, and a plain description of
anything else ("a web page (HTML)", "a JPEG image") for the user's error message."""

from __future__ import annotations

from .errors import NotAVideo

__all__ = ["HEAD_BYTES", "container_of", "sniff"]

HEAD_BYTES = 512  # enough to recognise every container below (MPEG-TS needs 377)

_IMAGE_BRANDS = {
    b"heic": "a HEIC image",
    b"heix": "a HEIC image",
    b"mif1": "a HEIF image",
    b"avif": "an AVIF image",
}
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
_QT_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_MAGIC: tuple[tuple[bytes, str], ...] = (  # (prefix, kind); kinds become the file extension
    (b"\x1a\x45\xdf\xa3", "mkv"),
    (b"FLV\x01", "flv"),
    (b"\x00\x00\x01\xba", "mpg"),
    (b"\x00\x00\x01\xb3", "mpg"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "wmv"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
    (b"ID3", "mp3"),
)
_NOT_VIDEO: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"#EXTM3U", "an HLS playlist (.m3u8)"),
)


def container_of(head: bytes) -> str | None:
    """The media container ``head`` starts, as a file extension; None when it is not one we accept."""
    box = head[4:8]
    if box == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand in _AUDIO_BRANDS:
            return "m4a"
        return "3gp" if brand[:3] in (b"3gp", b"3g2") else "mp4"
    if box in _QT_BOXES:
        return "mov"
    if head[:4] == b"RIFF":
        return {b"AVI ": "avi", b"WAVE": "wav"}.get(head[8:12])
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return "webm" if kind == "mkv" and b"webm" in head[:64] else kind
    if len(head) > 188 and head[0] == head[188] == 0x47 and (len(head) <= 376 or head[376] == 0x47):
        return "ts"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] != 0xFF:
        return "mp3"
    return None


def _what_else(head: bytes, content_type: str | None) -> str:
    """A human description of content that is not media."""
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return _IMAGE_BRANDS[head[8:12]]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, what in _NOT_VIDEO:
        if head.startswith(magic):
            return what
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html")) or any(t in text for t in ("<html", "<head", "<body")):
        return "a web page (HTML)"
    if text.startswith("<?xml") or text.startswith("<svg"):
        return "an XML document"
    if (content_type or "").lower().startswith("text/html"):
        return "a web page (HTML)"
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if text and "\ufffd" not in text[:-4] and printable / len(text) > 0.95:
        return "JSON data" if text.startswith(("{", "[")) else "plain text"
    return f"unrecognised binary data (starts with {head[:8].hex(' ')})"


def sniff(head: bytes, content_type: str | None = None, *, what: str = "the link") -> str:
    """The container kind (file extension) of a media file starting with ``head``; ``NotAVideo`` if none."""
    kind = container_of(head)
    if kind is not None:
        return kind
    served = f" (served as {content_type})" if content_type else ""
    raise NotAVideo(f"{what} is {_what_else(head, content_type)}, not a video file{served}")
