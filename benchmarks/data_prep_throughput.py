"""Throughput of data_prep on 100,000 synthetic apidojo records: ingest, pairs, filters and validation.

Embeddings are excluded (semantic dedup and the leakage check are off; benchmarks/semantic_dedup.py measures
them, and benchmarks/data_prep_build.py the whole default build with them, as users run it). Target (issue 3,
section 4): >= 5,000 records/s on a 2-core machine. The toxicity scorer is
alt-profanity-check, which is what runs where Detoxify's weights cannot load; Detoxify itself, a BERT model
on CPU, scores on the order of a hundred texts per second and could not meet this target.

    python benchmarks/data_prep_throughput.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from data_prep.build import run_pipeline
from data_prep.config import DataPrepConfig
from data_prep.privacy import Pseudonymizer
from data_prep.sources import iter_tweets, list_input_files

SUBJECTS = (
    "the planner|our queue|this index|the scheduler|that cache|the retry loop|our CI|the build|the tokenizer".split(
        "|"
    )
)
VERBS = "saved us|broke for us|surprised us|slowed down|sped up|confused everyone on|was rewritten by|doubled".split(
    "|"
)
DETAILS = (
    "after we tuned vacuum per table|once the lock file was copied first|when requests matched real usage|"
    "because the predicate was parameterized|after bucketing sequence lengths|when reranking the top fifty|"
    "once retries got jittered backoff|after moving validation server side"
).split("|")
TAILS = "Worth measuring first.|Did you see the same?|Took us two weeks to notice.|Happy to share numbers.|".split("|")
START = datetime(2025, 9, 1, tzinfo=timezone.utc)


def synthetic_records(count: int, rng: random.Random) -> list[dict]:
    """Conversations of one root and 19 replies, most of which pass the original spec's filters."""
    records = []
    next_id = 10**18
    while len(records) < count:
        next_id += 100
        root_id = str(next_id)
        created = START + timedelta(minutes=len(records))
        records.append(record(root_id, f"Root tweet {root_id} about {rng.choice(SUBJECTS)}.", created, None, rng))
        for n in range(19):
            text = (
                f"@root {rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(SUBJECTS)} "
                f"{rng.choice(DETAILS)}, ticket {rng.randint(1, 10**6)}. {rng.choice(TAILS)}"
            )
            reply_created = created + timedelta(seconds=rng.randint(120, 200_000))
            records.append(record(str(next_id + n + 1), text, reply_created, root_id, rng))
    return records[:count]


def record(tweet_id: str, text: str, created: datetime, parent: str | None, rng: random.Random) -> dict:
    return {
        "type": "tweet",
        "id": tweet_id,
        "text": text,
        "likeCount": rng.randint(200, 2_000) if parent is None else rng.randint(4, 520),
        "retweetCount": rng.randint(10, 500),
        "replyCount": 19 if parent is None else 0,
        "createdAt": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "lang": "en",
        "isReply": parent is not None,
        "inReplyToId": parent,
        "conversationId": parent or tweet_id,
        "author": {
            "userName": f"user{rng.randint(1, 30_000)}",
            "id": str(rng.randint(1, 30_000)),
            "followers": rng.randint(180, 21_000),
        },
        "entities": {"urls": []},
        "media": [],
        "isRetweet": False,
        "isQuote": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    config = DataPrepConfig()
    config.validation.toxicity_scorer = "profanity_check"
    config.cleaning.semantic_dedup = False
    config.split.check_leakage = False
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_records(args.records, rng)))

        start = time.perf_counter()
        files = list_input_files([path])
        ingested = sum(1 for _ in iter_tweets(files))
        ingest_seconds = time.perf_counter() - start

        start = time.perf_counter()
        result = run_pipeline(iter_tweets(list_input_files([path])), config, Pseudonymizer(b"k" * 32), progress=False)
        seconds = time.perf_counter() - start
    validated = sum(
        n
        for reason, n in result.funnel.dispositions.items()
        if reason.startswith(("validation/", "cleaning/", "kept"))
    )
    print(f"records: {result.funnel.input_records:,} (ingest alone: {ingested / ingest_seconds:,.0f} records/s)")
    print(f"replies that reached validation: {validated:,}; pairs kept: {result.funnel.kept:,}")
    print(
        f"ingest + pairs + filters + validation + split + rows: {seconds:.1f} s = "
        f"{result.funnel.input_records / seconds:,.0f} records/s (target >= 5,000)"
    )


if __name__ == "__main__":
    main()
