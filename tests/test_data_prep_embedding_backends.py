"""The embedding backends: the ONNX export on onnxruntime gives PyTorch's vectors (and so the same kept set), is made
once and reused without PyTorch, is refused when it would differ, and the build falls back to PyTorch, with the
reason recorded, wherever the ONNX backend cannot run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_prep import onnx_embeddings
from data_prep.config import CleaningConfig, load_config
from data_prep.dedup import (
    embed_texts,
    load_embedding_backend,
    load_embedding_model,
    nearest_similarity,
    semantic_duplicates,
)
from data_prep.onnx_embeddings import OnnxSentenceEncoder, OnnxUnavailable, export_folder, model_folder
from data_prep.sources import iter_tweets, list_input_files
from replytune.yaml_config import ConfigError
from tests.paths import REPO_ROOT, realdata_path

needs_onnx = pytest.mark.skipif(
    bool(onnx_embeddings.missing_packages()),
    reason=f"{' and '.join(onnx_embeddings.missing_packages())} not installed (pip install 'replytune[data]')",
)


@pytest.fixture
def fresh_backends():
    """Backends load once per process (lru_cache): tests that change what is installed or cached start afresh."""
    load_embedding_backend.cache_clear()
    yield
    load_embedding_backend.cache_clear()


def real_tweet_texts(count: int = 60) -> list[str]:
    folder = realdata_path("tweets", "rumoureval2017_autoreleasefool", "data", "train")
    texts = [tweet.text for tweet in iter_tweets(list_input_files([folder])) if getattr(tweet, "text", None)]
    return sorted(set(texts))[:count]


@needs_onnx
def test_onnx_vectors_match_pytorch_on_real_tweets():
    texts = real_tweet_texts()
    texts.append(" ".join(texts[:6]))  # longer than the 128-token cap: truncated the same way
    torch_model = load_embedding_model(backend="torch")
    onnx_model = load_embedding_model(backend="onnx")
    assert isinstance(onnx_model, OnnxSentenceEncoder)

    onnx_model.max_seq_length = torch_model.max_seq_length = 128
    try:
        expected_ids = [torch_model.tokenizer(text, truncation=True)["input_ids"] for text in texts]
        assert onnx_model.token_ids(texts) == expected_ids
    finally:
        onnx_model.max_seq_length = torch_model.max_seq_length = 256

    torch_vectors = embed_texts(torch_model, texts, batch_size=32, progress=False, max_tokens=128)
    onnx_vectors = embed_texts(onnx_model, texts, batch_size=7, progress=False, max_tokens=128)
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), 384) and onnx_vectors.dtype == np.float32
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-5
    # what the dedup and leakage thresholds compare: every pair's cosine
    assert np.abs(onnx_vectors @ onnx_vectors.T - torch_vectors @ torch_vectors.T).max() < 1e-5
    for threshold in (0.5, 0.7, 0.9):
        likes = list(range(len(texts)))
        assert np.array_equal(
            semantic_duplicates(onnx_vectors, likes, threshold), semantic_duplicates(torch_vectors, likes, threshold)
        )
    assert np.array_equal(
        nearest_similarity(onnx_vectors[:20], onnx_vectors[20:])[1],
        nearest_similarity(torch_vectors[:20], torch_vectors[20:])[1],
    )


@needs_onnx
def test_the_export_is_made_once_and_later_runs_load_neither_torch_nor_sentence_transformers():
    load_embedding_model(backend="onnx")  # exported here unless an earlier test did
    folder = export_folder(model_folder(None))
    made = (folder / "model.onnx").stat().st_mtime_ns
    export = json.loads((folder / "export.json").read_text())
    assert export["verified_max_difference"] < 1e-5 and export["pooling_mode"] == "mean" and export["normalize"]
    assert not list(folder.parent.glob(".export-*"))  # no half-written export left behind

    script = (
        "import sys\n"
        "from data_prep.dedup import embed_texts, load_embedding_backend\n"
        "model, fallback = load_embedding_backend(None, 'auto')\n"
        "vectors = embed_texts(model, ['one reply', 'another reply'], progress=False)\n"
        "print(fallback, vectors.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, env=os.environ, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["None", "(2,", "384)", "False", "False"]
    assert (folder / "model.onnx").stat().st_mtime_ns == made  # reused, not made again


def test_the_export_is_keyed_by_the_model_files_and_library_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYTUNE_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    first = export_folder(model)
    assert first.parent == tmp_path / "cache" / "onnx-embeddings" and "my-model" in first.name
    assert export_folder(model) == first
    (model / "config.json").write_text('{"changed": true}')
    assert export_folder(model) != first
    changed = export_folder(model)
    monkeypatch.setattr(onnx_embeddings, "package_version", lambda name: "9.9" if name == "onnxruntime" else "1.0")
    assert export_folder(model) != changed


def test_auto_falls_back_to_pytorch_with_the_reason_when_onnxruntime_is_absent(monkeypatch, fresh_backends):
    monkeypatch.setattr(onnx_embeddings, "missing_packages", lambda: ["onnxruntime", "onnx"])
    model, reason = load_embedding_backend(None, "auto")
    assert type(model).__name__ == "SentenceTransformer"
    assert "onnxruntime is not installed" in reason
    with pytest.raises(OnnxUnavailable, match="onnxruntime is not installed"):
        load_embedding_backend(None, "onnx")
    # asked for by name, onnx refuses to start at all
    with pytest.raises(ValueError, match="embedding_backend onnx needs onnxruntime and onnx"):
        CleaningConfig(embedding_backend="onnx")


def test_a_config_asking_for_onnx_without_it_names_the_field(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_embeddings, "missing_packages", lambda: ["onnxruntime"])
    path = tmp_path / "config.yaml"
    path.write_text("cleaning: {embedding_backend: onnx}\n")
    with pytest.raises(ConfigError, match="cleaning.*embedding_backend onnx needs onnxruntime"):
        load_config(path)
    path.write_text("cleaning: {embedding_backend: openvino}\n")
    with pytest.raises(ConfigError, match="embedding_backend"):
        load_config(path)


@needs_onnx
def test_a_failed_export_falls_back_and_leaves_nothing_in_the_cache(tmp_path, monkeypatch, fresh_backends):
    monkeypatch.setenv("REPLYTUNE_CACHE_DIR", str(tmp_path / "cache"))

    def broken_export(model, target: Path) -> None:
        (target / "model.onnx").write_bytes(b"half an export")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_embeddings, "export", broken_export)
    model, reason = load_embedding_backend(None, "auto")
    assert type(model).__name__ == "SentenceTransformer"
    assert "the ONNX export failed: RuntimeError: exporter crashed" in reason
    assert list((tmp_path / "cache" / "onnx-embeddings").iterdir()) == []


@needs_onnx
def test_an_unwritable_cache_falls_back_instead_of_failing_the_build(tmp_path, monkeypatch, fresh_backends):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("REPLYTUNE_CACHE_DIR", str(tmp_path / "not-a-folder"))
    model, reason = load_embedding_backend(None, "auto")
    assert type(model).__name__ == "SentenceTransformer" and "the ONNX export failed" in reason


@needs_onnx
def test_an_export_whose_vectors_differ_from_pytorch_is_refused(tmp_path, monkeypatch, fresh_backends):
    """The safety net: a wrong pooling (CLS instead of mean) is caught by the comparison with PyTorch."""
    monkeypatch.setenv("REPLYTUNE_CACHE_DIR", str(tmp_path / "cache"))
    real_settings = onnx_embeddings.export_settings
    monkeypatch.setattr(
        onnx_embeddings, "export_settings", lambda model: {**real_settings(model), "pooling_mode": "cls"}
    )
    model, reason = load_embedding_backend(None, "auto")
    assert type(model).__name__ == "SentenceTransformer"
    assert "vectors differ from PyTorch's by up to" in reason
    assert list((tmp_path / "cache" / "onnx-embeddings").iterdir()) == []


@needs_onnx
def test_models_the_export_does_not_cover_are_refused_by_name():
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = load_embedding_model(backend="torch")[0]
    max_pooled = SentenceTransformer(modules=[transformer, Pooling(384, pooling_mode="max")], device="cpu")
    with pytest.raises(OnnxUnavailable, match="pooling is 'max'"):
        onnx_embeddings.export_settings(max_pooled)


REPLIES = (
    "Partial indexes saved us too, but the planner only uses them when the query repeats the exact predicate.",
    "We moved our job queue into Postgres with SKIP LOCKED, and tuning vacuum per table mattered more than anything.",
    "LoRA rank matters less than people think; the learning rate and which layers you adapt decide most of it.",
    "Benchmarks on a laptop lie: thermal throttling halves the second run, so always report the median of five.",
    "Our flaky tests were all clock-related, and freezing time in one fixture fixed two years of random failures.",
    "Type hints paid off the day we renamed a field: the checker found forty call sites the tests never touched.",
    "Caching the tokenizer output cut our data loading from minutes to seconds, and the GPU finally stayed busy.",
    "Rust compile times hurt until we split the crate; incremental builds went from ninety seconds to eleven.",
)
# Rewordings, from near-copies (semantic duplicates at 0.9) to paraphrases (near the 0.85 leakage threshold).
REWORDINGS = (
    "Partial indexes saved us too! But the planner only uses them when the query repeats the exact predicate.",
    "We moved our job queue into Postgres using SKIP LOCKED; tuning vacuum per table mattered more than anything.",
    "Honestly LoRA rank matters less than people think. Learning rate and the layers you adapt decide most of it.",
    "Laptop benchmarks lie, since thermal throttling halves the second run; report the median of five runs.",
    "All of our flaky tests were about the clock: freezing time in a single fixture fixed years of random failures.",
    "Type hints paid for themselves when we renamed a field and the checker found forty call sites tests missed.",
    "Caching tokenizer outputs took our data loading from minutes down to seconds and kept the GPU busy.",
    "Splitting the crate fixed our Rust compile times: incremental builds dropped from ninety seconds to eleven.",
)
ROOTS = (
    "Postgres tip: a partial index on the rows you actually query can be much smaller and just as fast.",
    "What is the one engineering habit that saved your team the most time this year? Curious what works for people.",
)


def hand_made_conversations() -> list:
    """Conversations whose replies are reworded across them (semantic duplicates, leakage across splits) and two
    roots with the same text under different ids (leakage through the tweet)."""
    from tests.data_prep_tweets import reply_to, root_tweet

    records = []
    for index, (reply, rewording) in enumerate(zip(REPLIES, REWORDINGS)):
        for likes, text in ((60 + index, reply), (30 + index, rewording)):
            root = root_tweet(text=f"{ROOTS[index % 2]} (thread {index}, {likes})" if likes < 50 else ROOTS[index % 2])
            records += [root, reply_to(root, text=text, likes=likes)]
    return records


@needs_onnx
def test_a_build_keeps_the_same_pairs_on_either_backend_and_says_which_ran():
    """The goal's condition on a small input: the build's ONNX backend (its default batch and token cap, replies
    embedded in the background while the validators run) keeps exactly the pairs that the plain PyTorch path
    (sentence-transformers' defaults: batch 32, 256 tokens) keeps, and every record goes the same way, semantic
    duplicates and leaking pairs included."""
    from data_prep.build import run_pipeline
    from data_prep.config import DataPrepConfig
    from data_prep.privacy import Pseudonymizer

    records = hand_made_conversations()
    kept, dispositions, scorers = {}, {}, {}
    defaults = CleaningConfig()
    for backend, batch_size, max_tokens in (
        ("auto", defaults.embedding_batch_size, defaults.embedding_max_tokens),
        ("torch", 32, 256),
    ):
        config = DataPrepConfig()
        config.validation.toxicity_scorer = "profanity_check"
        config.split.train_fraction, config.split.eval_fraction, config.split.test_fraction = 0.5, 0.25, 0.25
        cleaning = config.cleaning
        cleaning.embedding_backend, cleaning.embedding_batch_size, cleaning.embedding_max_tokens = (
            backend,
            batch_size,
            max_tokens,
        )
        result = run_pipeline(records, config, Pseudonymizer(b"k" * 32, 16, "test"), progress=False)
        kept[backend] = {(split, row["reply_id"]) for split, rows in result.rows.items() for row in rows}
        dispositions[backend] = result.funnel.dispositions
        scorers[backend] = result.scorers
    assert kept["auto"] == kept["torch"] and kept["auto"]
    assert dispositions["auto"] == dispositions["torch"]
    # not vacuous: the embeddings decided something here
    assert dispositions["torch"]["cleaning/semantic_duplicate"] > 0
    assert dispositions["torch"]["split/tweet_near_duplicate_of_train"] > 0
    assert scorers["auto"]["embedding_backend"].startswith("onnxruntime")
    assert scorers["torch"]["embedding_backend"].startswith("PyTorch")
    assert scorers["auto"]["embedding_backend_fallback"] is None


@needs_onnx
def test_a_texts_onnx_vector_does_not_depend_on_the_batch_it_is_in():
    """What lets the build embed some replies in the background and the rest later, in other batches, and still
    publish the same dataset on every run: each text's vector is the same bit for bit, whatever else is in its batch
    (other lengths, so other padding) and however many batches run side by side."""
    texts = real_tweet_texts(80)
    texts.append(" ".join(texts[:6]))  # cut at the token cap
    model = load_embedding_model(backend="onnx")
    alone = np.stack([embed_texts(model, [text], 1, progress=False, max_tokens=128)[0] for text in texts])
    for batch_size, workers in ((16, None), (5, 1), (64, 2)):
        together = embed_texts(model, texts, batch_size, progress=False, max_tokens=128, workers=workers)
        assert np.array_equal(together, alone), (batch_size, workers)
    order = np.random.default_rng(0).permutation(len(texts))[:37]
    subset = embed_texts(model, [texts[i] for i in order], 7, progress=False, max_tokens=128)
    assert np.array_equal(subset, alone[order])


@needs_onnx
def test_texts_embedded_in_the_background_are_reused_and_the_same(monkeypatch):
    import time

    from data_prep.dedup import TextEmbeddings

    monkeypatch.setattr(TextEmbeddings, "PREFETCH_CHUNK", 1)  # at most one text is taken before the list is replaced
    texts = real_tweet_texts(120)
    dropped_by_a_filter = "a text that is never asked for, the longest of them all: " + " ".join(texts[:3])
    model = load_embedding_model(backend="onnx")
    expected = embed_texts(model, texts, 16, progress=False, max_tokens=128)
    embeddings = TextEmbeddings(model, 16, 128, progress=False)
    embeddings.prefetch([dropped_by_a_filter, *texts])
    embeddings.prefetch(texts[:90])  # the filters kept these: the list is replaced
    deadline = time.monotonic() + 120
    while embeddings._thread.is_alive() and time.monotonic() < deadline:  # the background runs out of texts
        time.sleep(0.05)
    done = set(embeddings._done)
    assert set(texts[:90]) <= done and len(done - set(texts[:90])) <= 1
    vectors = embeddings.of(texts)
    assert embeddings.prefetched == len(done)
    assert np.array_equal(vectors, expected)
    assert len(embeddings) == len(texts) + (dropped_by_a_filter in done)  # nothing embedded twice, nothing missing
    embeddings.prefetch(texts)  # after `of`: the cheap stages are over, nothing starts again
    assert embeddings._thread is None


@needs_onnx
def test_a_failure_in_the_background_is_raised_where_the_vectors_are_asked_for(monkeypatch):
    from data_prep.dedup import TextEmbeddings

    model = load_embedding_model(backend="onnx")
    embeddings = TextEmbeddings(model, 16, 128, progress=False)
    monkeypatch.setattr(model, "encode", lambda *args, **kwargs: (_ for _ in ()).throw(MemoryError("no room")))
    embeddings.prefetch(["one reply", "another reply"])
    embeddings._thread.join(timeout=60)
    with pytest.raises(MemoryError, match="no room"):
        embeddings.of(["one reply"])


def test_pytorch_embeds_nothing_in_the_background():
    """Its operators already take every core: running them beside the validators would only slow both."""
    from data_prep.dedup import TextEmbeddings

    embeddings = TextEmbeddings(load_embedding_model(backend="torch"), 16, 128, progress=False)
    embeddings.prefetch(["one reply", "another reply"])
    assert embeddings._thread is None
    assert embeddings.of(["one reply"]).shape == (1, 384) and embeddings.prefetched == 0


@needs_onnx
@pytest.mark.parametrize("uses_every_core", [True, False])
def test_nothing_is_embedded_beside_a_toxicity_model_that_takes_every_core(monkeypatch, uses_every_core):
    """Detoxify's PyTorch operators use both cores: the background embedding stops before it scores (running beside
    it would slow both); beside a one-core scorer (alt-profanity-check) it goes on."""
    import time

    from data_prep import validators as validators_module
    from data_prep.build import run_pipeline
    from data_prep.config import DataPrepConfig
    from data_prep.dedup import TextEmbeddings
    from data_prep.privacy import Pseudonymizer
    from data_prep.validators import ToxicityScorer

    model = load_embedding_model(backend="auto")
    real_encode = model.encode
    background, scoring = [], []

    def slow_background_encode(texts, *args, workers=None, **kwargs):
        start = time.monotonic()
        if workers == 1:  # the background's calls: slow, so that it is still at work when the scorer runs
            time.sleep(0.5)
        vectors = real_encode(texts, *args, workers=workers, **kwargs)
        if workers == 1:
            background.append((start, time.monotonic()))
        return vectors

    def score(texts):
        start = time.monotonic()
        time.sleep(0.2)
        scoring.append((start, time.monotonic()))
        return [0.0] * len(texts)

    monkeypatch.setattr(model, "encode", slow_background_encode)
    monkeypatch.setattr(TextEmbeddings, "PREFETCH_CHUNK", 1)
    scorer = ToxicityScorer("stand-in", score, uses_every_core=uses_every_core)
    monkeypatch.setattr(validators_module, "load_toxicity_scorer", lambda config: scorer)
    config = DataPrepConfig()
    config.split.train_fraction, config.split.eval_fraction, config.split.test_fraction = 0.5, 0.25, 0.25
    result = run_pipeline(hand_made_conversations(), config, Pseudonymizer(b"k" * 32, 16, "test"), progress=False)

    assert scoring and result.rows["train"]
    overlapped = any(start < end_ and start_ < end for start, end in background for start_, end_ in scoring)
    assert overlapped is not uses_every_core
