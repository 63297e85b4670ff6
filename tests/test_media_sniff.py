"""Sniffing a file's real type from its content, and refusing the files that are not media."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from channels.media import (
    CorruptMedia,
    EmptyMedia,
    MediaRejected,
    MislabelledMedia,
    SniffedMedia,
    UnsupportedMedia,
    encode_audio,
    render_text_image,
    sniff_file,
    synthesize_speech,
)

AUDIO_FORMATS = ["wav", "mp3", "m4a", "aac", "ogg", "webm", "amr"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One spoken sentence in every accepted audio format, and images in every image format."""
    folder = tmp_path_factory.mktemp("media")
    speech = synthesize_speech("Where is my order", "en", folder / "speech.wav")
    for fmt in [*AUDIO_FORMATS[1:], "flac"]:
        encode_audio(speech, folder / f"speech.{fmt}")
    shot = render_text_image(["订单号：YX2611010001"], folder / "shot.png")
    with Image.open(shot) as image:
        image.convert("RGB").save(folder / "shot.jpg", "JPEG")
        image.save(folder / "shot.webp", "WEBP")
        image.save(folder / "shot.gif", "GIF")
    return folder


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_every_accepted_audio_format_is_recognized(media: Path, fmt: str) -> None:
    path = media / f"speech.{fmt}"
    sniffed = sniff_file(path, filename=f"voice.{fmt}")
    assert (sniffed.kind, sniffed.format, sniffed.size_bytes) == (
        "audio",
        fmt,
        path.stat().st_size,
    )


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("shot.png", "png", "image/png"),
        ("shot.jpg", "jpeg", "image/jpeg"),
        ("shot.webp", "webp", "image/webp"),
    ],
)
def test_every_accepted_image_format_is_recognized(
    media: Path, name: str, fmt: str, mime: str
) -> None:
    sniffed = sniff_file(media / name)
    assert sniffed == SniffedMedia(
        "image", fmt, mime, (media / name).stat().st_size, sniffed.width, sniffed.height
    )
    assert sniffed.width == 750


def test_the_content_decides_not_the_name(media: Path, tmp_path: Path) -> None:
    # A jpeg called .png is still an image: the format within a kind is taken from the content.
    renamed = tmp_path / "photo.png"
    renamed.write_bytes((media / "shot.jpg").read_bytes())
    assert sniff_file(renamed, filename="photo.png", declared_type="image/png").format == "jpeg"
    # Browsers label audio-only recordings video/webm: that is not a mislabel.
    assert sniff_file(media / "speech.webm", declared_type="video/webm").kind == "audio"


def _truncated(source: Path, target: Path, keep: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.mark.parametrize(
    ("make", "filename", "declared", "error", "says"),
    [
        (lambda m, t: t / "empty.wav", "empty.wav", "audio/wav", EmptyMedia, "the file is empty"),
        (
            lambda m, t: m / "shot.png",
            "voice.mp3",
            None,
            MislabelledMedia,
            "named 'voice.mp3', which means audio, but it contains an image (png)",
        ),
        (
            lambda m, t: m / "shot.png",
            "upload.bin",
            "audio/mpeg",
            MislabelledMedia,
            "declared as audio/mpeg, which means audio, but it contains an image (png)",
        ),
        (
            lambda m, t: m / "speech.mp3",
            "screenshot.png",
            None,
            MislabelledMedia,
            "which means image, but it contains audio (mp3)",
        ),
        (
            lambda m, t: _truncated(m / "shot.png", t / "cut.png", 0.5),
            "cut.png",
            "image/png",
            CorruptMedia,
            "damaged or incomplete",
        ),
        (
            lambda m, t: t / "notes.mp3",
            "notes.mp3",
            "audio/mpeg",
            CorruptMedia,
            "cannot be decoded as audio",
        ),
        (
            lambda m, t: m / "shot.gif",
            "anim.gif",
            None,
            UnsupportedMedia,
            "GIF images are not supported",
        ),
        (
            lambda m, t: m / "speech.flac",
            "song.flac",
            None,
            UnsupportedMedia,
            "flac audio (flac) is not supported",
        ),
        (
            lambda m, t: t / "random.bin",
            "random.bin",
            None,
            UnsupportedMedia,
            "not a supported media file",
        ),
        (
            lambda m, t: t / "clip.mp4",
            "clip.mp4",
            None,
            UnsupportedMedia,
            "videos are not supported",
        ),
    ],
)
def test_bad_files_are_refused_with_the_reason(
    media: Path,
    tmp_path: Path,
    make,
    filename: str,
    declared: str | None,
    error: type[MediaRejected],
    says: str,
) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.mp3").write_text("meeting notes, not a recording\n" * 20)
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 40)
    _video(tmp_path / "clip.mp4", media / "speech.wav")
    with pytest.raises(error) as raised:
        sniff_file(make(media, tmp_path), filename=filename, declared_type=declared)
    assert says in str(raised.value)


def _video(target: Path, audio: Path) -> None:
    import subprocess

    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64:d=1",
         "-i", str(audio), "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(target)],
        check=True,
        capture_output=True,
    )  # fmt: skip
