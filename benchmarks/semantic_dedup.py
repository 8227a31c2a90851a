"""Semantic dedup speed and exactness, and embedding throughput, measured separately.

Target (issue 3, section 4): 50,000 x 384-d embeddings deduplicated in <= 30 s on a 2-core machine, keeping
exactly the set the straightforward pairwise loop keeps (checked at 5,000). The embeddings are synthetic unit
vectors with a third of them noisy copies of others, so that many pairs sit near the 0.9 threshold; the
embedding model's own throughput is measured on synthetic reply texts.

    python benchmarks/semantic_dedup.py [--n 50000] [--check-n 5000] [--texts 2000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from data_prep.dedup import embed_texts, load_embedding_model, semantic_duplicates, semantic_duplicates_pairwise


def synthetic_embeddings(n: int, dim: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    copies, targets = rng.integers(0, n, n // 3), rng.integers(0, n, n // 3)
    noise = rng.uniform(0.1, 0.6, (len(copies), 1)).astype(np.float32)
    vectors[targets] = vectors[copies] + noise * rng.standard_normal((len(copies), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, rng.integers(0, 500, n).astype(float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--check-n", type=int, default=5_000)
    parser.add_argument("--texts", type=int, default=2_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")

    vectors, likes = synthetic_embeddings(args.check_n)
    start = time.perf_counter()
    blocked = semantic_duplicates(vectors, likes, args.threshold)
    blocked_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pairwise = semantic_duplicates_pairwise(vectors, likes, args.threshold)
    pairwise_seconds = time.perf_counter() - start
    same = np.array_equal(blocked, pairwise)
    print(
        f"{args.check_n:,} embeddings: blocked {blocked_seconds:.2f} s, pairwise loop {pairwise_seconds:.1f} s "
        f"({pairwise_seconds / blocked_seconds:,.0f}x faster); same kept set: {same} "
        f"({int((~blocked).sum()):,} kept, {int(blocked.sum()):,} dropped)"
    )
    if not same:
        raise SystemExit("blocked semantic dedup differs from the pairwise loop")

    vectors, likes = synthetic_embeddings(args.n)
    start = time.perf_counter()
    dropped = semantic_duplicates(vectors, likes, args.threshold)
    seconds = time.perf_counter() - start
    print(
        f"{args.n:,} x {vectors.shape[1]}-d embeddings: {seconds:.1f} s (target <= 30 s); "
        f"{int((~dropped).sum()):,} kept, {int(dropped.sum()):,} dropped"
    )

    model = load_embedding_model()
    texts = [
        f"Reply {i}: we saw the planner skip partial index number {i % 97} until the predicate matched exactly."
        for i in range(args.texts)
    ]
    embed_texts(model, texts[:64], progress=False)  # warm-up
    start = time.perf_counter()
    embed_texts(model, texts, progress=False)
    seconds = time.perf_counter() - start
    print(f"embedding throughput (all-MiniLM-L6-v2, CPU): {args.texts / seconds:,.0f} texts/s")


if __name__ == "__main__":
    main()
