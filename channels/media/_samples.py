"""Generated speech and screenshots, for the evaluation set and the tests.

Speech comes from espeak-ng (voice ``cmn-latn-pinyin`` for Chinese, ``en`` for English) and
screenshots are drawn with Pillow in Noto CJK, then degraded with noise, blur and rotation the way
phone screenshots and photos of screens are.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from channels.media._errors import EngineUnavailable

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT = FONT_DIR / "NotoSansCJK-Regular.ttc"
FONT_BOLD = FONT_DIR / "NotoSansCJK-Bold.ttc"
VOICES = {"zh": "cmn-latn-pinyin", "en": "en"}


def synthesize_speech(
    text: str, language: str, path: Path, *, variant: str | None = None, speed: int = 150
) -> Path:
    """Speak ``text`` with espeak-ng into a WAV file at ``path``."""
    voice = VOICES[language] + (f"+{variant}" if variant else "")
    try:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable("espeak-ng is not installed; apt-get install espeak-ng") from exc
    return path


def render_text_image(
    lines: Sequence[str],
    path: Path,
    *,
    font_size: int = 30,
    width: int = 750,
    noise: float = 0.0,
    blur: float = 0.0,
    angle: float = 0.0,
    seed: int = 0,
) -> Path:
    """Draw ``lines`` like a phone screenshot, then add noise (0-1), blur (px) and rotation (°).

    The first line is the page title, white on the shop's red bar.
    """
    if not FONT.is_file():
        raise EngineUnavailable(f"the Noto CJK font is missing at {FONT}; install fonts-noto-cjk")
    font = ImageFont.truetype(str(FONT), font_size)
    title = ImageFont.truetype(str(FONT_BOLD), int(font_size * 1.2))
    line_height = int(font_size * 1.9)
    height = line_height * (len(lines) + 1) + 40
    image = Image.new("RGB", (width, height), (248, 248, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, line_height + 10), fill=(230, 60, 40))
    for index, line in enumerate(lines):
        top = 20 + index * line_height + (10 if index else 0)
        colour = (255, 255, 255) if index == 0 else (40, 40, 40)
        draw.text((32, top), line, fill=colour, font=title if index == 0 else font)
    if noise > 0:
        image = _speckle(image, noise, seed)
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if angle:
        image = image.rotate(
            angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white"
        )
    image.save(path)
    return path


def _speckle(image: Image.Image, amount: float, seed: int) -> Image.Image:
    """Salt-and-pepper noise plus a little grain, like a photo of a screen."""
    rng = random.Random(seed)
    noisy = image.copy()
    pixels = noisy.load()
    assert pixels is not None
    width, height = noisy.size
    for _ in range(int(width * height * amount * 0.02)):
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    grain = Image.effect_noise((width, height), 12 + 40 * amount).convert("RGB")
    return Image.blend(noisy, grain, min(0.25, 0.3 * amount))


_ENCODERS = {
    ".mp3": ["-c:a", "libmp3lame"],
    ".m4a": ["-c:a", "aac"],
    ".aac": ["-c:a", "aac"],
    ".ogg": ["-c:a", "libopus"],
    ".webm": ["-c:a", "libopus"],
    ".flac": ["-c:a", "flac"],
    ".wav": ["-c:a", "pcm_s16le"],
}


def encode_audio(source: Path, target: Path) -> Path:
    """Re-encode ``source`` in the format its suffix names (AMR-NB through sox, the rest ffmpeg)."""
    if target.suffix == ".amr":
        # ffmpeg here has no AMR encoder; sox writes AMR-NB at 8 kHz, as phones record it.
        command = ["sox", str(source), "-r", "8000", "-c", "1", "-t", "amr-nb", str(target)]
    else:
        codec = _ENCODERS[target.suffix]
        command = ["ffmpeg", "-v", "error", "-y", "-i", str(source), *codec, str(target)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return target
