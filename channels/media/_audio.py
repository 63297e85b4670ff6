"""Decode accepted audio to 16 kHz mono samples with ffmpeg, and tell speech from silence."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from channels.media._errors import AudioTooLong, CorruptMedia, EngineUnavailable, SilentAudio

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Less speech than this is a tap on the record button, not a message.
MIN_SPEECH_S = 0.25
DECODE_TIMEOUT_S = 60.0
# Whisper drops a word spoken right at the start of a clip; a little silence around it helps.
_PAD = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples at 16 kHz and how much of them is speech."""

    samples: np.typing.NDArray[np.float32]
    duration_s: float
    speech_s: float

    def padded(self) -> np.typing.NDArray[np.float32]:
        """The samples with half a second of silence on each side, for recognition."""
        return np.concatenate([_PAD, self.samples, _PAD])


def decode_audio(path: Path, max_seconds: float) -> DecodedAudio:
    """Decode ``path``; ``AudioTooLong``, ``SilentAudio`` or ``CorruptMedia`` when it is so."""
    # Decode a little past the limit: enough to know the recording is too long, no more.
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-t",
        f"{max_seconds + 1:.3f}",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "pipe:1",
    ]
    try:
        result = subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise EngineUnavailable("ffmpeg is not installed; install it to read audio") from exc
    except subprocess.TimeoutExpired as exc:
        raise CorruptMedia("the recording could not be decoded in time; it may be damaged") from exc
    samples = np.frombuffer(result.stdout, dtype=np.float32)
    if result.returncode != 0 or samples.size == 0:
        logger.debug("ffmpeg could not decode a file: %s", result.stderr[-300:])
        raise CorruptMedia("the recording is damaged or incomplete and cannot be played")
    duration = samples.size / SAMPLE_RATE
    if duration > max_seconds:
        raise AudioTooLong(
            f"the recording is longer than {max_seconds:g} seconds; "
            "send a shorter voice message or type your question"
        )
    speech = speech_seconds(samples)
    if speech < MIN_SPEECH_S:
        raise SilentAudio(
            "no speech was heard in the recording; check the microphone and speak after the tone"
        )
    return DecodedAudio(samples.copy(), duration, speech)


def speech_seconds(samples: np.typing.NDArray[np.float32]) -> float:
    """Seconds of speech in the samples, by the Silero voice-activity model in faster-whisper."""
    spans = get_speech_timestamps(samples, VadOptions(speech_pad_ms=0), sampling_rate=SAMPLE_RATE)
    return float(sum(span["end"] - span["start"] for span in spans)) / SAMPLE_RATE
