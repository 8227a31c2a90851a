"""The dataset card (huggingface_hub.DatasetCard): config, sources, scorers, funnel, split sizes, leakage."""

from __future__ import annotations

import json

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from data_prep import schema as col
from data_prep.secrets import redact

COLUMN_DESCRIPTIONS = {
    col.PROMPT: 'TRL conversational prompt: `[{"role": "user", "content": <prompt_template with the tweet>}]`',
    col.COMPLETION: 'TRL conversational completion: `[{"role": "assistant", "content": <reply>}]`',
    col.TWEET_TEXT: "the tweet replied to (normalized, @handles replaced)",
    col.REPLY_TEXT: "the reply (normalized, leading reply-to mentions removed, @handles replaced)",
    col.TWEET_ID: "id of the tweet replied to",
    col.REPLY_ID: "id of the reply",
    col.CONVERSATION_ID: "conversation (root tweet) id: the unit of the train/eval/test split",
    col.TWEET_AUTHOR: "keyed-hash pseudonym of the tweet's author",
    col.REPLY_AUTHOR: "keyed-hash pseudonym of the reply's author",
    col.TWEET_LIKES: "likes of the tweet replied to",
    col.TWEET_RETWEETS: "retweets of the tweet replied to",
    col.REPLY_LIKES: "likes of the reply",
    col.REPLY_AUTHOR_FOLLOWERS: "followers of the reply's author",
    col.REPLY_DELAY_SECONDS: "seconds between the tweet and the reply",
    col.TWEET_CREATED_AT: "when the tweet was posted (ISO 8601, UTC)",
    col.REPLY_CREATED_AT: "when the reply was posted (ISO 8601, UTC)",
    col.LANGUAGE_CONFIDENCE: "language detector's confidence that the reply is in the configured language",
    col.TOXICITY_SCORE: "toxicity score of the reply (scorer named below)",
    col.UNIQUE_WORD_COUNT: "unique meaningful words of the reply (stop words excluded)",
    col.GENERIC_PHRASE_RATIO: "share of the reply's words inside generic phrases",
    col.QUALITY_SCORE: "the seed's quality sort (engagement + credibility + timing), 0..1; rows are sorted by it",
    col.QUERY: "the search term that found the tweet, when known",
}
assert set(COLUMN_DESCRIPTIONS) == set(col.PAIR_COLUMNS), "every published column needs a description"


def size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def build_card(
    report: dict, config: dict, repo_id: str | None = None, folder: str | None = None, extra_section: str = ""
) -> DatasetCard:
    """The card of one dataset version; `report` is report.json's content, `config` the resolved config.

    `repo_id` is the Hub repo it is pushed to; without one, the card tells how to load the local `folder`.
    `extra_section` (markdown) goes right after the loading snippet: `curate pull` puts its curation section there.
    """
    splits = report["splits"]
    scorers = report["scorers"]
    version = report["version"]
    data = DatasetCardData(
        language=["en"],
        license=config["output"]["license"],
        pretty_name=config["output"]["pretty_name"],
        task_categories=["text-generation"],
        size_categories=[size_category(sum(splits.values()))],
        tags=["twitter", "replies", "sft", "trl", "conversational", "replytune"],
    )
    load_call = (
        f'load_dataset("{repo_id}", revision="{version}")'
        if repo_id
        else f'load_dataset("{folder or "."}")  # once pushed: load_dataset(REPO, revision="{version}")'
    )
    toxicity_note = (
        f"\n\n> **WARNING**: the configured toxicity scorer did not run: {scorers['toxicity_fallback']}. "
        "Toxicity was scored by the fallback named above."
        if scorers.get("toxicity_fallback")
        else ""
    )
    no_pairs_note = (
        "\n> **This version holds no pairs**: every input record was filtered out. The funnel below says where "
        "each one went.\n"
        if not sum(splits.values())
        else ""
    )
    leakage = report.get("leakage")
    leakage_text = (
        "Not checked (no embeddings: `cleaning.semantic_dedup` and `split.check_leakage` are off)."
        if leakage is None
        else (
            f"{json.dumps(leakage['near_duplicates'])} of the {json.dumps(leakage['checked'])} eval/test replies "
            f"checked have cosine >= {leakage['threshold']} with some train reply; "
            + ("they were dropped (`split/near_duplicate_of_train`)." if leakage["dropped"] else "they were kept.")
        )
    )
    key_source = {
        "environment": "environment, so pseudonyms match across builds made with the same key",
        "ephemeral": "ephemeral, a random key for this build only: pseudonyms match no other build",
    }.get(report["privacy"]["pseudonym_key"], report["privacy"]["pseudonym_key"])
    sources_table = _table(
        ("input", "files", "records", "sha256"),
        [(source["path"], source["files"], source["records"], source["sha256"]) for source in report["sources"]],
    )
    command = "curate pull" if "curation" in report else "build"
    root_used_note = (
        " `root/used` counts the tweets that prompt a kept pair\n(and are not kept as replies themselves)."
        if "root/used" in report["dispositions"]
        else ""
    )
    body = f"""
# {config["output"]["pretty_name"]} ({version})

Tweet -> reply pairs for supervised fine-tuning of a reply model, built by replytune's `python -m data_prep {command}`
on {report["created_at"]}. Each row is one reply to one tweet, in TRL's conversational prompt-completion format,
with the raw texts, ids, engagement and the validators' scores kept for analysis and curation.
{no_pairs_note}
```python
from datasets import load_dataset

dataset = {load_call}
```
{extra_section}
## Splits

Split by conversation (seeded hash of the conversation id), so no tweet appears in two splits.

{_table(("split", "pairs"), list(splits.items()))}

Near-duplicate leakage check: {leakage_text}

## Columns

{_table(("column", "description"), [(f"`{name}`", COLUMN_DESCRIPTIONS[name]) for name in col.PAIR_COLUMNS])}

## Scorers

- language: {scorers["language"]}
- toxicity: {scorers["toxicity"]}{toxicity_note}
- semantic dedup and leakage embeddings: {scorers["embeddings"]}

## Funnel

Every input record ends in exactly one disposition ({report["input_records"]} records in,
{sum(splits.values())} pairs kept).{root_used_note}

{_table(("disposition", "records"), list(report["dispositions"].items()))}

![funnel](funnel.png)

## Sources

{sources_table}

Files skipped inside input folders (not records): {json.dumps(report.get("skipped_files") or {})}.

## Privacy

@handles in the texts are replaced by `{config["privacy"]["handle_placeholder"]}`; authors appear only as keyed-hash
pseudonyms (HMAC-SHA256, key from `REPLYTUNE_PSEUDONYM_KEY`; key source for this build:
{key_source}). Only the columns above are published.

## Config

```yaml
{yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip()}
```
"""
    return DatasetCard(redact(f"---\n{data.to_yaml()}\n---\n{body}"))
