"""System `retrieval`, the original spec's RAG baseline: answer a held-out tweet with the real reply of the most
similar TRAIN tweet, found with the sentence embeddings data_prep uses (data_prep.dedup: all-MiniLM-L6-v2, cosine).

It reads the train split only, so it can never answer with a held-out reply. A train tweet with several replies
answers with its most-liked one: the reply a person would have copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from judge.config import RetrievalConfig
from replytune import schema as col


@dataclass(frozen=True)
class Retrieved:
    reply: str
    train_tweet_id: str
    train_reply_id: str
    similarity: float


def most_liked_first(rows: Sequence[dict]) -> list[dict]:
    """The rows (replies to one tweet) by likes, most first; ties keep the dataset's order."""
    return sorted(rows, key=lambda row: -(row.get(col.REPLY_LIKES) or 0))


def train_tweets(rows: Sequence[dict]) -> list[tuple[str, str, dict]]:
    """(tweet id, tweet text, its most-liked reply row) per distinct train tweet, in order of first appearance."""
    by_tweet: dict[str, list[dict]] = {}
    for row in rows:
        if row.get(col.TWEET_TEXT) and row.get(col.REPLY_TEXT):
            by_tweet.setdefault(str(row[col.TWEET_ID]), []).append(row)
    return [(tweet_id, group[0][col.TWEET_TEXT], most_liked_first(group)[0]) for tweet_id, group in by_tweet.items()]


def retrieve_replies(
    tweets: Sequence[str], train_rows: Sequence[dict], config: RetrievalConfig, progress: bool = True
) -> list[Retrieved]:
    """For each tweet, the most-liked reply of the nearest train tweet (cosine of the sentence embeddings)."""
    from data_prep.dedup import TextEmbeddings, load_embedding_model, nearest_similarity

    candidates = train_tweets(train_rows)
    if not candidates:
        raise ValueError("the train split has no tweet with a reply: the retrieval system has nothing to retrieve")
    embeddings = TextEmbeddings(
        load_embedding_model(config.embedding_model), config.batch_size, config.max_tokens, progress
    )
    references = embeddings.of([text for _, text, _ in candidates])
    similarity, nearest = nearest_similarity(embeddings.of(list(tweets)), references)
    results = []
    for score, index in zip(similarity.tolist(), nearest.tolist()):
        tweet_id, _, row = candidates[index]
        results.append(Retrieved(row[col.REPLY_TEXT], tweet_id, str(row[col.REPLY_ID]), round(float(score), 4)))
    return results


def embedding_model_name(config: RetrievalConfig) -> str:
    from data_prep.dedup import EMBEDDING_MODEL_NAME

    return config.embedding_model or EMBEDDING_MODEL_NAME
