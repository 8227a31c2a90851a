"""Cleaning: text normalization, exact dedup, semantic dedup (exact against the pairwise loop), quality sort."""

import numpy as np
import pytest

from data_prep.cleaning import find_exact_duplicates, fix_elongation, normalize_text, quality_scores
from data_prep.config import QualityWeightsConfig
from data_prep.dedup import (
    embed_texts,
    load_embedding_model,
    nearest_similarity,
    semantic_duplicates,
    semantic_duplicates_pairwise,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("this is sooo good", "this is so good"),
        ("Sooo cooool, yesss pleeease", "So cool, yes please"),
        ("tooo much", "too much"),
        ("hmmmm", "hmm"),
        ("#MachineLearning is fun", "Machine Learning is fun"),
        ("#GPT4Release and #python stay", "GPT4 Release and #python stay"),
        ("Q&amp;A &lt;3 &quot;ok&quot;", 'Q&A <3 "ok"'),
        ("double &amp;amp; escaped", "double & escaped"),
        ("  spaced   out\t text  ", "spaced out text"),
        ("line one\n\n\n\nline two\n", "line one\n\nline two"),
        ("shipping it 🚀🚀 today 😅", "shipping it 🚀🚀 today 😅"),
        ("1000x faster, 2000 rows", "1000x faster, 2000 rows"),
        ("see https://t.co/aaaBcD and @cooool_guy", "see https://t.co/aaaBcD and @cooool_guy"),
        ("cafe\u0301", "caf\u00e9"),
    ],
)
def test_normalize_text(raw, clean):
    assert normalize_text(raw) == clean


def test_elongation_without_a_known_word_keeps_two_letters():
    assert fix_elongation("brrrrzt") == "brrzt"


def test_exact_duplicates_keep_the_most_engaging_copy():
    texts = ["Same reply", "other reply", "same   REPLY", "same reply"]
    assert find_exact_duplicates(texts, [5, 1, 9, 9]) == [True, False, False, True]


def test_quality_scores_weigh_engagement_credibility_and_timing():
    weights = QualityWeightsConfig()
    scores = quality_scores([10, 400, 10], [1_000, 1_000, 15_000], [600, 600, 600], weights)
    assert scores[1] > scores[2] > scores[0]  # likes weigh 0.5, followers 0.3
    late = quality_scores([10, 10], [1_000, 1_000], [600, 86_400], weights)
    assert late[1] > late[0]
    assert quality_scores([5], [None], [300], weights) == [1.0]
    assert quality_scores([], [], [], weights) == []
    assert all(0.0 <= s <= 1.0 for s in scores)


def clustered_embeddings(n, dim=48, seed=0):
    """Random unit vectors where a third are noisy copies of others: plenty of pairs near any threshold."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    copies = rng.integers(0, n, n // 3)
    targets = rng.integers(0, n, n // 3)
    noise = rng.uniform(0.1, 0.8, (len(copies), 1)).astype(np.float32)
    vectors[targets] = vectors[copies] + noise * rng.standard_normal((len(copies), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, rng.integers(0, 50, n).astype(float)


@pytest.mark.parametrize("threshold", [0.7, 0.9, 0.95])
@pytest.mark.parametrize("block_size", [7, 64, 1024])
def test_semantic_dedup_equals_the_pairwise_loop(threshold, block_size):
    vectors, likes = clustered_embeddings(700)
    blocked = semantic_duplicates(vectors, likes, threshold, block_size=block_size)
    assert blocked.any() and not blocked.all()
    assert np.array_equal(blocked, semantic_duplicates_pairwise(vectors, likes, threshold))


def test_semantic_dedup_keeps_the_more_liked_of_two_near_duplicates():
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([0.95, np.sqrt(1 - 0.95**2), 0.0], dtype=np.float32)  # cosine 0.95 with a
    c = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    vectors = np.stack([a, b, c])
    assert semantic_duplicates(vectors, [3, 10, 1], 0.9).tolist() == [True, False, False]
    assert semantic_duplicates(vectors, [10, 3, 1], 0.9).tolist() == [False, True, False]
    assert semantic_duplicates(vectors, [10, 3, 1], 0.96).tolist() == [False, False, False]
    assert semantic_duplicates(np.zeros((0, 3), np.float32), [], 0.9).tolist() == []


def test_greedy_chains_are_resolved_like_the_loop():
    # a~b and b~c but not a~c: keeping a drops b, so c survives (b never gets to drop it)
    a = np.array([1.0, 0.0], np.float32)
    b = np.array([np.cos(0.4), np.sin(0.4)], np.float32)
    c = np.array([np.cos(0.8), np.sin(0.8)], np.float32)
    vectors, likes = np.stack([a, b, c]), [3, 2, 1]
    threshold = float(np.cos(0.45))
    assert semantic_duplicates(vectors, likes, threshold, block_size=1).tolist() == [False, True, False]
    assert semantic_duplicates_pairwise(vectors, likes, threshold).tolist() == [False, True, False]


def test_nearest_similarity():
    vectors, _ = clustered_embeddings(50, seed=1)
    best, index = nearest_similarity(vectors[:10], vectors[10:], block_size=7)
    full = vectors[:10] @ vectors[10:].T
    assert np.allclose(best, full.max(axis=1)) and np.array_equal(index, full.argmax(axis=1))
    best, index = nearest_similarity(vectors[:3], vectors[:0])
    assert np.isneginf(best).all() and (index == -1).all()


def test_real_embeddings_find_paraphrases_but_not_different_replies():
    model = load_embedding_model()
    texts = [
        "Partial indexes saved us too, but the planner only uses them when the query repeats the predicate.",
        "Partial indexes saved us as well, but the planner only uses them if the query repeats the predicate.",
        "We moved the job queue into Postgres with SKIP LOCKED and never looked back.",
    ]
    embeddings = embed_texts(model, texts, progress=False)
    assert embeddings.shape == (3, 384) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert semantic_duplicates(embeddings, [1, 5, 2], 0.9).tolist() == [True, False, False]
