"""Reads voice messages and images for an async caller: the blocking work runs on worker threads.

Speech has as many threads as its engine recognizes messages at once (faster-whisper: one
CTranslate2 thread each, see ``WORKERS``), OCR one; the engines load once, on first use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from channels.media._audio import decode_audio
from channels.media._ocr import OcrEngine, OcrText
from channels.media._sniff import SniffedMedia, sniff_file
from channels.media._speech import SpeechEngine, Transcript

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MediaReader:
    """Sniffs, transcribes and reads images off the event loop; engines are loaded once."""

    def __init__(self, speech: SpeechEngine, ocr: OcrEngine, *, max_audio_s: float) -> None:
        self.speech = speech
        self.ocr = ocr
        self.max_audio_s = max_audio_s
        # Speech and OCR each have their own threads, so a picture does not wait behind voice
        # messages; the speech engine says how many recognitions may run at once.
        self._speech = ThreadPoolExecutor(
            max_workers=max(1, speech.concurrency), thread_name_prefix="speech"
        )
        self._ocr = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")

    async def sniff(
        self, path: Path, *, filename: str | None = None, declared_type: str | None = None
    ) -> SniffedMedia:
        """What the file really is (see ``sniff_file``)."""
        return await asyncio.to_thread(
            sniff_file, path, filename=filename, declared_type=declared_type
        )

    async def transcribe(self, path: Path, language_hint: str | None = None) -> Transcript:
        """The words in a recording; raises the ``MediaRejected`` subclass that fits."""
        return await self._on(self._speech, lambda: self.transcribe_now(path, language_hint))

    async def read_image(self, path: Path) -> OcrText:
        """The text in an image; raises ``NoTextFound`` when there is none."""
        return await self._on(self._ocr, lambda: self.ocr.read(path))

    async def warm_up(self) -> None:
        """Load both engines now rather than on the first message."""
        await asyncio.gather(
            self._on(self._speech, self.speech.load), self._on(self._ocr, self.ocr.load)
        )

    def transcribe_now(self, path: Path, language_hint: str | None = None) -> Transcript:
        """Blocking form of ``transcribe``, for the command line and benchmarks."""
        audio = decode_audio(path, self.max_audio_s)
        return self.speech.transcribe(audio, language_hint)

    def close(self) -> None:
        """Stop the worker threads after the work they have."""
        self._speech.shutdown(wait=True)
        self._ocr.shutdown(wait=True)

    @staticmethod
    async def _on(threads: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(threads, work)
