"""The dataset card (huggingface_hub.DatasetCard): config, sources, scorers, funnel, split sizes, leakage."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from replytune import schema as col
from replytune.secrets import redact

COLUMN_DESCRIPTIONS = {
    col.PROMPT: 'TRL conversational prompt: `[{"role": "user", "content": <prompt_template with the tweet>}]`',
    col.COMPLETION: 'TRL conversational completion: `[{"role": "assistant", "content": <reply>}]`',
    col.TWEET_TEXT: "the tweet replied to (normalized, @handles replaced)",
    col.REPLY_TEXT: "the reply (normalized, leading reply-to mentions removed, @handles replaced)",
    col.TWEET_ID: "id of the tweet replied to (see Privacy: a keyed hash unless the build published raw ids)",
    col.REPLY_ID: "id of the reply (as `tweet_id`)",
    col.CONVERSATION_ID: "conversation (root tweet) id, as `tweet_id`: the unit of the train/eval/test split",
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


def source_name(source: dict) -> str:
    """A file or folder name only; a report built elsewhere may still carry a local "path": keep its last part."""
    return source.get("name") or Path(source.get("path", "")).name


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def build_card(
    report: dict, config: dict, repo_id: str | None = None, folder: str | None = None, extra_section: str = ""
) -> DatasetCard:
    """The card of one dataset version; `report` is report.json's content, `config` the resolved config.

    `repo_id` is the Hub repo it is pushed to; without one, the card tells how to load the local `folder` (by its
    name only: a card never carries a local path).
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
        else f'load_dataset("{Path(folder).name if folder else version}")  '
        f'# from its output folder; once pushed: load_dataset(REPO, revision="{version}")'
    )
    toxicity_note = (
        f"\n\n> **WARNING**: the configured toxicity scorer did not run: {scorers['toxicity_fallback']}. "
        "Toxicity was scored by the fallback named above."
        if scorers.get("toxicity_fallback")
        else ""
    )
    embedding_backend_note = f", run by {scorers['embedding_backend']}" if scorers.get("embedding_backend") else ""
    if scorers.get("embedding_backend_fallback"):
        embedding_backend_note += f" ({scorers['embedding_backend_fallback']})"
    no_pairs_note = (
        "\n> **This version holds no pairs**: every input record was filtered out. The funnel below says where "
        "each one went.\n"
        if not sum(splits.values())
        else ""
    )
    leakage = report.get("leakage")
    if leakage is None:
        leakage_text = "Not checked (`split.check_leakage` is off): nothing guarantees that eval/test text is unseen."
    else:
        by_tweet = "tweet" in leakage.get("compared", ["reply"])
        found = f"by reply: {json.dumps(leakage.get('near_duplicate_replies', leakage['near_duplicates']))}"
        if by_tweet:
            found += f", by tweet: {json.dumps(leakage['near_duplicate_tweets'])}"
        action = (
            "they were dropped (`split/near_duplicate_of_train`, `split/tweet_near_duplicate_of_train`)"
            if leakage["dropped"]
            else "they were kept"
        )
        leakage_text = (
            "each eval/test reply was compared with every train reply"
            + (", and each eval/test tweet replied to with every train tweet," if by_tweet else "")
            + f" by embedding cosine (threshold {leakage['threshold']}). Pairs found: "
            f"{json.dumps(leakage['near_duplicates'])} of {json.dumps(leakage['checked'])} checked ({found}); "
            f"{action}. That is all the check guarantees: a paraphrase below the threshold, or a reply that copies a "
            "train tweet, is not caught."
        )
    key_source = {
        "environment": "environment, so pseudonyms match across builds made with the same key",
        "ephemeral": "ephemeral, a random key for this build only: pseudonyms match no other build",
    }.get(report["privacy"]["pseudonym_key"], report["privacy"]["pseudonym_key"])
    sources_table = _table(
        ("input", "files", "records", "sha256"),
        [
            # a file or folder name only; a report built elsewhere may still carry a "path": keep its last part
            (
                source.get("name") or Path(source.get("path", "")).name,
                source["files"],
                source["records"],
                source["sha256"],
            )
            for source in report["sources"]
        ],
    )
    validation = config["validation"]
    language_note = (
        f" (a reply passes with confidence >= {validation['min_language_confidence']} in `{validation['language']}`"
    )
    if validation.get("accept_top_language"):
        language_note += f", or when `{validation['language']}` is the detector's most likely language"
    if validation.get("trust_source_language"):
        language_note += (
            f"; {'also ' if not validation.get('accept_top_language') else ''}when its source labels it "
            f"`{validation['language']}` and the detector's top language agrees, and never below that confidence when "
            "the source labels it another language"
        )
    language_note += ")"
    raw_ids = report["privacy"].get("published_ids") == "raw"
    ids_text = (
        "**Tweet, reply and conversation ids are X's own ids** (`privacy.published_ids: raw`): anyone can open "
        "`https://x.com/i/status/<id>` and see the tweet and its author, so every author here can be identified "
        "from this dataset. That is what raw ids are for (looking tweets up again), and why they are not the default."
        if raw_ids
        else "Tweet, reply and conversation ids are keyed hashes (HMAC-SHA256 with the same key) of X's ids "
        "(`privacy.published_ids: keyed_hash`, the default): they stay the same across versions built with one key, "
        "but nobody without the key can look a tweet up by them. Publishing X's own ids (`published_ids: raw`) would "
        "let you look tweets up again, and anyone else too."
    )
    curation_mode = report.get("curation", {}).get("mode", "argilla")
    command = ("curate auto" if curation_mode == "auto" else "curate pull") if "curation" in report else "build"
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

Split by conversation (seeded hash of the conversation id), so no conversation spans two splits. The same text can
still come back under another id in another conversation; the leakage check below is what looks for that.

{_table(("split", "pairs"), list(splits.items()))}

Near-duplicate leakage check: {leakage_text}

## Columns

{_table(("column", "description"), [(f"`{name}`", COLUMN_DESCRIPTIONS[name]) for name in col.PAIR_COLUMNS])}

## Scorers

- language: {scorers["language"]}{language_note}
- toxicity: {scorers["toxicity"]}{toxicity_note}
- semantic dedup and leakage embeddings: {scorers["embeddings"]}{embedding_backend_note}

## Funnel

Every input record ends in exactly one disposition ({report["input_records"]} records in,
{sum(splits.values())} pairs kept).{root_used_note}

{_table(("disposition", "records"), list(report["dispositions"].items()))}

![funnel](funnel.png)

## Sources

{sources_table}

Files skipped inside input folders (not records): {json.dumps(report.get("skipped_files") or {})}.

## Privacy

This dataset is **not anonymous**. The texts are scraped tweets, published verbatim (after normalization): searching
a tweet's or a reply's text on X finds it, and its author. What the build does:

- @handles in the texts are replaced by `{config["privacy"]["handle_placeholder"]}`;
- authors appear only as keyed-hash pseudonyms (HMAC-SHA256, key from `REPLYTUNE_PSEUDONYM_KEY`; key source for
  this build: {key_source});
- {ids_text}

Only the columns above are published. Input files are named by file name only, never by local path.

## Safety of the texts

Every text is normalized before any check (Unicode NFKC; control, zero-width and other invisible characters
removed), so disguises are caught: a tweet or reply holding a chat-template control string (`<|im_end|>`,
`<|im_start|>`, `<|endoftext|>`, `<think>`, `</think>`, ...), which a tokenizer would turn into special tokens, is
rejected (`root_filters/chat_control_string`, `reply_filters/chat_control_string`), and spam keywords are matched on
a confusable-folded form (fullwidth or Cyrillic look-alike letters). Texts longer than
{config["cleaning"].get("max_raw_text_length", "the configured")} characters are dropped unread (`pairs/text_too_long`,
`pairs/tweet_text_too_long`). Of the copies of a repeated tweet id, the one with the most engagement stays.

## Config

```yaml
{yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip()}
```
"""
    return DatasetCard(redact(f"---\n{data.to_yaml()}\n---\n{body}"))
