"""``python -m bot media ...``: transcribe, read images, evaluate the engines, purge old files.

Each command prints one JSON object on stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bot.app._cli_settings import cli_settings
from bot.app._container import speech_engine
from bot.app._settings import Settings
from bot.media import AttachmentStore
from bot.storage import Database
from channels.media import (
    EngineUnavailable,
    MediaError,
    MediaReader,
    MediaRejected,
    OcrBackend,
    OcrEngine,
    SpeechBackend,
    SpeechEngine,
    build_ocr_engine,
    extract_facts,
    run_eval,
    sniff_file,
)

logger = logging.getLogger(__name__)

media_app = typer.Typer(
    help="Voice messages and images: speech to text, OCR.", no_args_is_help=True
)

SPEECH_BACKENDS: tuple[SpeechBackend, ...] = ("faster-whisper", "openai-whisper")
OCR_BACKENDS: tuple[OcrBackend, ...] = ("rapidocr", "tesseract")


def _speech(settings: Settings, backend: str | None) -> SpeechEngine:
    chosen = backend or settings.speech_backend
    if chosen not in SPEECH_BACKENDS:
        _fail("bad_option", f"unknown speech backend '{chosen}'; use {', '.join(SPEECH_BACKENDS)}")
    return speech_engine(settings, chosen)


def _ocr(settings: Settings, backend: str | None) -> OcrEngine:
    chosen = backend or settings.ocr_backend
    if chosen not in OCR_BACKENDS:
        _fail("bad_option", f"unknown OCR backend '{chosen}'; use {', '.join(OCR_BACKENDS)}")
    return build_ocr_engine(chosen)


def _echo(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1))


def _fail(reason: str, detail: str, code: int = 2) -> NoReturn:
    typer.echo(json.dumps({"error": reason, "detail": detail}, ensure_ascii=False), err=True)
    raise typer.Exit(code=code)


def _checked(path: Path, kind: str) -> None:
    """Refuse a missing file or one of the wrong kind, saying which."""
    if not path.is_file():
        _fail("not_found", f"{path} does not exist or is not a file")
    media = sniff_file(path, filename=path.name)
    if media.kind != kind:
        _fail("wrong_kind", f"{path} is {media.kind} ({media.format}), not {kind}")


@media_app.command()
def transcribe(
    file: Annotated[
        Path, typer.Argument(help="A voice message: wav, mp3, m4a/aac, ogg, webm, amr.")
    ],
    language: str | None = typer.Option(None, help="zh or en: the language expected."),
    backend: str | None = typer.Option(None, help="faster-whisper or openai-whisper."),
) -> None:
    """Print what is said in a recording: {"text", "language", "seconds", ...}."""
    settings = cli_settings()
    try:
        _checked(file, "audio")
        reader = MediaReader(
            _speech(settings, backend),
            _ocr(settings, None),
            max_audio_s=settings.media_max_audio_s,
        )
        heard = reader.transcribe_now(file, language)
        reader.close()
    except EngineUnavailable as exc:
        _fail("unavailable", str(exc), code=3)
    except MediaRejected as exc:
        _fail(type(exc).__name__, str(exc))
    else:
        _echo(
            {
                "text": heard.text,
                "language": heard.language,
                "seconds": round(heard.seconds, 3),
                "duration_s": round(heard.duration_s, 3),
                "backend": heard.backend,
            }
        )


@media_app.command()
def ocr(
    file: Annotated[Path, typer.Argument(help="An image: png, jpeg or webp.")],
    backend: str | None = typer.Option(None, help="rapidocr or tesseract."),
) -> None:
    """Print the text in an image: {"text", "language", "seconds", "facts", ...}."""
    settings = cli_settings()
    try:
        _checked(file, "image")
        read = _ocr(settings, backend).read(file)
    except EngineUnavailable as exc:
        _fail("unavailable", str(exc), code=3)
    except MediaRejected as exc:
        _fail(type(exc).__name__, str(exc))
    else:
        _echo(
            {
                "text": read.text,
                "language": read.language,
                "seconds": round(read.seconds, 3),
                "lines": list(read.lines),
                "facts": extract_facts(read.text).as_json(),
                "backend": read.backend,
            }
        )


@media_app.command("eval")
def evaluate(
    folder: Annotated[
        Path | None,
        typer.Option(
            help="Where the generated set is written (and reused); default var/media-eval."
        ),
    ] = None,
    speech: Annotated[
        str, typer.Option(help="Comma-separated speech backends to score (empty: none).")
    ] = "faster-whisper",
    ocr_backends: Annotated[
        str, typer.Option("--ocr", help="Comma-separated OCR backends (empty: none).")
    ] = "rapidocr,tesseract",
    screenshots: Annotated[int, typer.Option(min=1, help="How many screenshots to render.")] = 32,
) -> None:
    """Score the engines on a generated set: CER/WER, real-time factor, seconds per image."""
    settings = cli_settings()
    target = folder or settings.var_dir / "media-eval"
    try:
        engines = {name: _speech(settings, name) for name in _names(speech)}
        readers = {name: _ocr(settings, name) for name in _names(ocr_backends)}
        result = run_eval(
            target,
            engines,
            readers,
            max_audio_s=settings.media_max_audio_s,
            screenshots=screenshots,
        )
    except MediaError as exc:
        _fail("unavailable", str(exc), code=3)
    else:
        _echo(result)


@media_app.command()
def purge() -> None:
    """Delete kept voice messages and images whose retention period has ended."""
    settings = cli_settings()

    async def run() -> int:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            store = AttachmentStore(
                database,
                settings.var_dir / "media",
                timedelta(days=settings.media_retention_days),
            )
            return await store.purge_expired()
        finally:
            database.dispose()

    _echo({"deleted": asyncio.run(run())})


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]
