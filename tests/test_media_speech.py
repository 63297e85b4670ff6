"""Speech to text with the real models: decoding, silence, length limits, both backends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import opencc
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from bot.app import Settings, speech_engine
from channels.media import (
    AudioTooLong,
    CorruptMedia,
    EngineUnavailable,
    FasterWhisperEngine,
    MediaReader,
    OpenAIWhisperEngine,
    SilentAudio,
    Transcript,
    build_ocr_engine,
    build_speech_engine,
    choose_language,
    decode_audio,
    encode_audio,
    encoder_frames,
    synthesize_speech,
    whisper_base_model,
)

MAX_S = 60.0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-models")


@pytest.fixture(scope="module")
def engine(cache_dir: Path) -> FasterWhisperEngine:
    speech = FasterWhisperEngine(cache_dir=cache_dir)
    speech.load()
    return speech


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    synthesize_speech("Where is my order? I ordered a phone last week.", "en", folder / "en.wav")
    synthesize_speech("我想退货", "zh", folder / "zh.wav", variant="f2")
    synthesize_speech("我的订单什么时候发货", "zh", folder / "zh-order.wav")
    synthesize_speech(
        "Where is my order? I ordered a phone last week and paid with a credit card. "
        "The tracking number does not show any updates. Please call me back this afternoon.",
        "en",
        folder / "en-15s.wav",
    )
    encode_audio(folder / "en.wav", folder / "en.amr")
    encode_audio(folder / "en.wav", folder / "en.webm")
    sox = ["sox", "-n", "-r", "16000", "-c", "1"]
    subprocess.run([*sox, str(folder / "silence.wav"), "trim", "0", "3"], check=True)
    subprocess.run(
        [*sox, str(folder / "hiss.wav"), "synth", "3", "whitenoise", "vol", "0.05"], check=True
    )
    subprocess.run(
        [*sox, str(folder / "long.wav"), "synth", "61", "sine", "300", "vol", "0.3"], check=True
    )
    subprocess.run(
        ["sox", str(folder / "en.wav"), str(folder / "en-long.wav"), "pad", "0", "33"], check=True
    )
    data = (folder / "en.webm").read_bytes()
    (folder / "cut.webm").write_bytes(data[:200])
    return folder


def test_the_packaged_model_is_joined_once(cache_dir: Path) -> None:
    folder = whisper_base_model(cache_dir)
    model = folder / "model.bin"
    before = model.stat().st_mtime_ns
    assert whisper_base_model(cache_dir) == folder
    assert model.stat().st_mtime_ns == before
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]


def test_english_speech_is_transcribed(engine: FasterWhisperEngine, clips: Path) -> None:
    heard = engine.transcribe(decode_audio(clips / "en.wav", MAX_S), None)
    assert heard.language == "en"
    assert heard.backend == "faster-whisper"
    assert "where is my order" in heard.text.lower()
    assert heard.duration_s == pytest.approx(3.0, abs=1.0)


def test_a_message_longer_than_one_whisper_window(engine: FasterWhisperEngine, clips: Path) -> None:
    audio = decode_audio(clips / "en-long.wav", MAX_S)
    assert audio.duration_s > 30
    heard = engine.transcribe(audio, "en")
    assert "where is my order" in heard.text.lower()


@pytest.mark.parametrize("fmt", ["amr", "webm"])
def test_phone_and_browser_formats_are_decoded(
    engine: FasterWhisperEngine, clips: Path, fmt: str
) -> None:
    heard = engine.transcribe(decode_audio(clips / f"en.{fmt}", MAX_S), "en")
    assert "order" in heard.text.lower()


def test_a_message_longer_than_the_shortest_encoder_window(
    engine: FasterWhisperEngine, clips: Path
) -> None:
    audio = decode_audio(clips / "en-15s.wav", MAX_S)
    assert 10 < audio.duration_s < 28
    heard = engine.transcribe(audio, "en").text.lower()
    assert "where is my order" in heard
    assert "call me back this afternoon" in heard


@pytest.mark.parametrize(
    ("frames", "encoded"),
    [
        (0, 1000),  # a short message still gets 10 s: shorter windows make Whisper repeat itself
        (250, 1000),
        (800, 1000),
        (900, 1100),  # the message and 2 s
        (2700, 2900),
        (2900, 3000),  # never more than Whisper's 30-s window
        (3000, 3000),
    ],
)
def test_the_encoder_sees_the_message_and_a_margin(frames: int, encoded: int) -> None:
    assert encoder_frames(frames) == encoded


def test_the_shop_vocabulary_helps_chinese(engine: FasterWhisperEngine, clips: Path) -> None:
    heard = engine.transcribe(decode_audio(clips / "zh-order.wav", MAX_S), "zh")
    assert heard.language == "zh"
    assert "订单" in heard.text
    assert "发货" in heard.text


def test_an_empty_vocabulary_prompt_turns_it_off(
    engine: FasterWhisperEngine, cache_dir: Path, clips: Path
) -> None:
    audio = decode_audio(clips / "zh-order.wav", MAX_S)
    heard = {
        prompt: build_speech_engine(
            "faster-whisper", cache_dir=cache_dir, vocabulary_prompt=prompt
        ).transcribe(audio, "zh")
        for prompt in (None, "", "   ")
    }
    assert heard[""].text == heard["   "].text == heard[None].text
    assert heard[None].language == "zh"
    assert heard[None].text != engine.transcribe(audio, "zh").text


def test_the_settings_choose_the_prompt(
    engine: FasterWhisperEngine, cache_dir: Path, clips: Path, tmp_path: Path
) -> None:
    audio = decode_audio(clips / "zh-order.wav", MAX_S)
    (tmp_path / "media-models").symlink_to(cache_dir)  # the model joined once, by the fixture
    without = FasterWhisperEngine(cache_dir=cache_dir, vocabulary_prompt=None)
    configured = {
        prompt: speech_engine(
            Settings(_env_file=None, var_dir=tmp_path, speech_prompt_zh=prompt),  # type: ignore[call-arg]
            "faster-whisper",
        )
        .transcribe(audio, "zh")
        .text
        for prompt in (None, "")
    }
    assert configured[None] == engine.transcribe(audio, "zh").text  # unset: the shop's words
    assert configured[""] == without.transcribe(audio, "zh").text


def test_the_vocabulary_prompt_leaves_english_alone(
    engine: FasterWhisperEngine, cache_dir: Path, clips: Path
) -> None:
    without = FasterWhisperEngine(cache_dir=cache_dir, vocabulary_prompt=None)
    audio = decode_audio(clips / "en.wav", MAX_S)
    assert engine.transcribe(audio, "en").text == without.transcribe(audio, "en").text


def test_chinese_comes_out_in_simplified_characters(
    engine: FasterWhisperEngine, clips: Path
) -> None:
    heard = engine.transcribe(decode_audio(clips / "zh.wav", MAX_S), "zh")
    assert heard.language == "zh"
    assert heard.text
    assert heard.text == opencc.OpenCC("t2s").convert(heard.text)
    assert " " not in heard.text


@pytest.mark.parametrize(
    ("name", "error", "says"),
    [
        ("silence.wav", SilentAudio, "no speech was heard"),
        ("hiss.wav", SilentAudio, "no speech was heard"),
        ("long.wav", AudioTooLong, "longer than 60 seconds"),
        ("cut.webm", CorruptMedia, "damaged or incomplete"),
    ],
)
def test_unusable_recordings_are_refused(clips: Path, name: str, error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        decode_audio(clips / name, MAX_S)


@pytest.mark.parametrize(
    ("probabilities", "hint", "chosen"),
    [
        ({"zh": 0.33, "en": 0.35}, "zh", "zh"),  # unsure: the conversation's language wins
        ({"zh": 0.001, "en": 0.89}, "zh", "en"),  # clearly English: switch
        ({"zh": 0.014, "en": 0.19}, "zh", "zh"),  # likelier, but not likely: stay
        ({"zh": 0.05, "en": 0.01, "th": 0.8}, None, "zh"),  # other languages do not count
        ({"zh": 0.2, "en": 0.6}, None, "en"),
        ({}, "en", "en"),
    ],
)
def test_language_choice(probabilities: dict[str, float], hint: str | None, chosen: str) -> None:
    assert choose_language(probabilities, hint) == chosen


async def test_the_reader_works_off_the_event_loop(cache_dir: Path, clips: Path) -> None:
    speech = build_speech_engine("faster-whisper", cache_dir=cache_dir)
    reader = MediaReader(speech, build_ocr_engine("rapidocr"), max_audio_s=MAX_S)
    try:
        heard = await reader.transcribe(clips / "en.wav", "en")
        with pytest.raises(SilentAudio):
            await reader.transcribe(clips / "silence.wav", "en")
    finally:
        reader.close()
    assert "order" in heard.text.lower()


def test_a_missing_openai_whisper_checkpoint_says_what_to_do(tmp_path: Path) -> None:
    by_name = OpenAIWhisperEngine("base", search_dirs=(tmp_path,))
    with pytest.raises(EngineUnavailable) as raised:
        by_name.load()
    message = str(raised.value)
    assert f"looked for {tmp_path / 'base.pt'}" in message
    assert "nothing is downloaded" in message
    assert "BOT_SPEECH_BACKEND=faster-whisper" in message
    by_path = OpenAIWhisperEngine(str(tmp_path / "models" / "small.pt"))
    with pytest.raises(EngineUnavailable, match=r"small.pt does not exist"):
        by_path.load()


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "base.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineUnavailable, match="not a usable openai-whisper checkpoint"):
        OpenAIWhisperEngine(str(bogus)).load()


def test_openai_whisper_runs_a_checkpoint_given_by_path(tmp_path: Path, clips: Path) -> None:
    # No real checkpoint ships; a tiny, untrained one in the real format exercises the backend.
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = Whisper(dims)
    checkpoint = tmp_path / "tiny-untrained.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, checkpoint)
    engine = OpenAIWhisperEngine(str(checkpoint))
    audio = decode_audio(clips / "en.wav", MAX_S)
    try:
        heard = engine.transcribe(audio, "en")
    except SilentAudio:
        return  # an untrained model may well hear nothing; it ran
    assert isinstance(heard, Transcript)
    assert (heard.backend, heard.language) == ("openai-whisper", "en")
