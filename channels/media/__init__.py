"""Speech to text and OCR for voice messages and screenshots; imports nothing of ours.

``MediaReader`` is the entry point: it sniffs a file's real type, decodes audio with ffmpeg,
and runs the speech or OCR engine off the event loop, loading each model once.
"""

from channels.media._audio import DecodedAudio, decode_audio, speech_seconds
from channels.media._errors import (
    AudioTooLong,
    CorruptMedia,
    EmptyMedia,
    EngineUnavailable,
    MediaError,
    MediaRejected,
    MislabelledMedia,
    NoTextFound,
    SilentAudio,
    UnsupportedMedia,
)
from channels.media._eval import Sample, build_eval_set, evaluate_ocr, evaluate_speech, run_eval
from channels.media._facts import ScreenshotFacts, extract_facts
from channels.media._ocr import (
    OcrBackend,
    OcrEngine,
    OcrText,
    RapidOcrEngine,
    TesseractEngine,
    build_ocr_engine,
)
from channels.media._reader import MediaReader
from channels.media._samples import encode_audio, render_text_image, synthesize_speech
from channels.media._sniff import MediaKind, SniffedMedia, sniff_file
from channels.media._speech import (
    SHOP_VOCABULARY_PROMPT,
    WORKERS,
    FasterWhisperEngine,
    OpenAIWhisperEngine,
    SpeechBackend,
    SpeechEngine,
    Transcript,
    build_speech_engine,
    choose_language,
    encoder_frames,
    whisper_base_model,
)

__all__ = [
    "SHOP_VOCABULARY_PROMPT",
    "WORKERS",
    "AudioTooLong",
    "CorruptMedia",
    "DecodedAudio",
    "EmptyMedia",
    "EngineUnavailable",
    "FasterWhisperEngine",
    "MediaError",
    "MediaKind",
    "MediaReader",
    "MediaRejected",
    "MislabelledMedia",
    "NoTextFound",
    "OcrBackend",
    "OcrEngine",
    "OcrText",
    "OpenAIWhisperEngine",
    "RapidOcrEngine",
    "Sample",
    "ScreenshotFacts",
    "SilentAudio",
    "SniffedMedia",
    "SpeechBackend",
    "SpeechEngine",
    "TesseractEngine",
    "Transcript",
    "UnsupportedMedia",
    "build_eval_set",
    "build_ocr_engine",
    "build_speech_engine",
    "choose_language",
    "decode_audio",
    "encode_audio",
    "encoder_frames",
    "evaluate_ocr",
    "evaluate_speech",
    "extract_facts",
    "render_text_image",
    "run_eval",
    "sniff_file",
    "speech_seconds",
    "synthesize_speech",
    "whisper_base_model",
]
