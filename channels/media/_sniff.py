"""What a file really is, read from its content: never from its name or declared type.

Images are identified by Pillow and audio by ffprobe, the decoders that will read them later, so
a file that passes here can be decoded. The name and the declared type only serve to catch a
mislabelled file (a picture sent as a voice message), which is refused rather than guessed at.
"""

from __future__ import annotations

import json
import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from channels.media._errors import (
    CorruptMedia,
    EmptyMedia,
    EngineUnavailable,
    MediaRejected,
    MislabelledMedia,
    UnsupportedMedia,
)

logger = logging.getLogger(__name__)

MediaKind = Literal["audio", "image"]

IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "amr": "audio/amr",
}
SUPPORTED = "audio (wav, mp3, m4a/aac, ogg/opus, webm, amr) or an image (png, jpeg, webp)"
# ffprobe's container names for the audio formats we accept, with the codecs allowed in them.
_CONTAINERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "wav": ("wav", None),
    "mp3": ("mp3", None),
    "mov,mp4,m4a,3gp,3g2,mj2": ("m4a", frozenset({"aac", "alac", "mp3"})),
    "aac": ("aac", None),
    "ogg": ("ogg", frozenset({"opus", "vorbis"})),
    "matroska,webm": ("webm", frozenset({"opus", "vorbis"})),
    "amr": ("amr", None),
}
_AUDIO_SUFFIXES = {
    ".wav",
    ".mp3",
    ".m4a",
    ".aac",
    ".ogg",
    ".oga",
    ".opus",
    ".webm",
    ".weba",
    ".amr",
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SniffedMedia:
    """A file's real kind and format."""

    kind: MediaKind
    format: str  # "png", "jpeg", "webp", "wav", "mp3", "m4a", "aac", "ogg", "webm", "amr"
    mime: str
    size_bytes: int
    width: int | None = None
    height: int | None = None


def sniff_file(
    path: Path, *, filename: str | None = None, declared_type: str | None = None
) -> SniffedMedia:
    """Identify ``path`` by its content; raise a ``MediaRejected`` that says what is wrong."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyMedia("the file is empty (0 bytes); record or choose the file again")
    claimed = _claimed_kind(filename, declared_type)
    sniffed = _as_image(path, size) or _as_audio(path, size, claimed)
    if claimed is not None and claimed[0] != sniffed.kind:
        described = "an image" if sniffed.kind == "image" else "audio"
        raise MislabelledMedia(
            f"the file is {claimed[1]}, which means {claimed[0]}, but it contains {described} "
            f"({sniffed.format}); send it with its real name and type"
        )
    return sniffed


def _claimed_kind(filename: str | None, declared_type: str | None) -> tuple[MediaKind, str] | None:
    """The kind the name or declared type promises, with how it was promised."""
    mime = (declared_type or "").split(";")[0].strip().lower()
    if mime.startswith("audio/"):
        return "audio", f"declared as {mime}"
    if mime.startswith("image/"):
        return "image", f"declared as {mime}"
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix in _AUDIO_SUFFIXES:
        return "audio", f"named '{filename}'"
    if suffix in _IMAGE_SUFFIXES:
        return "image", f"named '{filename}'"
    return None


def _as_image(path: Path, size: int) -> SniffedMedia | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                name = image.format or "unknown"
                if name not in IMAGE_FORMATS:
                    raise UnsupportedMedia(
                        f"{name} images are not supported; send a png, jpeg or webp image"
                    )
                image.load()
                width, height = image.size
    except UnidentifiedImageError:
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(
            "the image has too many pixels to read safely; send a smaller screenshot"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptMedia(
            "the image is damaged or incomplete and cannot be read; take the screenshot again"
        ) from exc
    fmt = IMAGE_FORMATS[name]
    return SniffedMedia("image", fmt, IMAGE_MIME[fmt], size, width, height)


def _as_audio(path: Path, size: int, claimed: tuple[MediaKind, str] | None) -> SniffedMedia:
    probe = probe_file(path)
    streams = probe.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    # Cover art in mp3/m4a files is a video stream marked as an attached picture.
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    container = str(probe.get("format", {}).get("format_name", ""))
    if audio and not video:
        allowed = _CONTAINERS.get(container)
        codec = str(audio[0].get("codec_name", ""))
        if allowed is not None and (allowed[1] is None or codec in allowed[1]):
            return SniffedMedia("audio", allowed[0], AUDIO_MIME[allowed[0]], size)
        raise UnsupportedMedia(
            f"{container} audio ({codec}) is not supported; send wav, mp3, m4a/aac, "
            "ogg/opus, webm or amr"
        )
    if audio and video:
        raise UnsupportedMedia(f"videos are not supported; send {SUPPORTED}")
    if claimed is not None:
        raise CorruptMedia(
            f"the file is {claimed[1]} but cannot be decoded as {claimed[0]}: "
            "it is damaged or not what it claims to be"
        )
    raise UnsupportedMedia(f"the file is not a supported media file; send {SUPPORTED}")


def probe_file(path: Path) -> dict[str, Any]:
    """ffprobe's description of a file (containers and streams); empty when it reads nothing."""
    command = [
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "format=format_name,duration:stream=codec_type,codec_name:stream_disposition=attached_pic",
        "-of",
        "json",
        str(path),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False, stdin=None
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable("ffprobe is not installed; install ffmpeg") from exc
    except subprocess.TimeoutExpired as exc:
        raise CorruptMedia("the file could not be read in time; it may be damaged") from exc
    if result.returncode != 0:
        logger.debug("ffprobe could not read a file: %s", result.stderr[-300:])
        return {}
    try:
        parsed: dict[str, Any] = json.loads(result.stdout or b"{}")
    except ValueError:
        return {}
    return parsed
