"""Small generations.jsonl files written by hand (through the record type `judge generate` writes them with), and
small data_prep-shaped datasets whose likes follow a known rule."""

from __future__ import annotations

from pathlib import Path

from judge.records import GenerationRecord, VerdictRecord, read_records, write_jsonl
from judge.score.backends.engagement import ReplyExample
from standins.example_replies import ADAPTER_REPLIES, BASE_REPLIES, TWEETS


def generation(item_id: str, system: str, reply: str, tweet: str | None = None, **fields) -> dict:
    record = GenerationRecord(
        item_id=item_id,
        tweet_text=tweet if tweet is not None else TWEETS[int(item_id[1:]) % len(TWEETS)],
        system=system,
        system_spec={"base": "base:Qwen/Qwen3-8B", "adapter": "adapter:outputs/adapter@v1"}.get(system, system),
        reply=reply,
        completion_tokens=len(reply.split()),
        generation_settings={"max_new_tokens": 128, "temperature": 0.7, "seed": 0},
        **fields,
    )
    return record.to_json()


def write_generations(path: Path, items: int = 4, systems: tuple[str, ...] = ("base", "adapter")) -> Path:
    replies = {"base": BASE_REPLIES, "adapter": ADAPTER_REPLIES}
    rows = [generation(f"t{i}", system, replies[system][i % len(TWEETS)]) for i in range(items) for system in systems]
    write_jsonl(path, rows)
    return path


def synthetic_examples(conversations: int, seed: int) -> list[ReplyExample]:
    """4 replies per conversation: 2 with a benchmark (liked more), 2 without; 4 pairs with different likes."""
    examples = []
    for c in range(conversations):
        for r in range(4):
            liked = r % 2 == 0
            text = f"reply {seed}-{c}-{r} " + ("with a benchmark" if liked else "without numbers")
            examples.append(ReplyExample(f"conv-{seed}-{c}", f"tweet {c}", text, 40 + c if liked else c % 3))
    return examples


def write_dataset(folder, splits: dict[str, int]):
    """A data_prep-shaped dataset folder (data/<split>-00000-of-00001.parquet) with the columns the judge reads."""
    from datasets import Dataset

    (folder / "data").mkdir(parents=True)
    for split, conversations in splits.items():
        rows = []
        for example in synthetic_examples(conversations, seed=len(split)):
            number = len(rows)
            rows.append(
                {
                    "prompt": [
                        {"role": "user", "content": f"Generate an engaging Twitter reply to:\n\n{example.tweet_text}"}
                    ],
                    "completion": [{"role": "assistant", "content": example.reply_text}],
                    "tweet_text": example.tweet_text,
                    "reply_text": example.reply_text,
                    "tweet_id": f"{example.conversation_id}-root",
                    "reply_id": f"{split}-{number}",
                    "conversation_id": example.conversation_id,
                    "reply_likes": example.likes,
                }
            )
        Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def run_score(workdir: Path, judge: str, output: str = "out", *extra: str, generations: str = "generations.jsonl"):
    """`python -m judge score` in process, with workdir's config.yaml, generations file and cache folder."""
    from judge.__main__ import main

    return main([
        "score", "--config", str(workdir / "config.yaml"), "--generations", str(workdir / generations),
        "--judge", judge, "--output", str(workdir / output), "--cache-dir", str(workdir / "cache"), "--no-progress",
        *extra,
    ])  # fmt: skip


def read_verdicts(path: Path) -> list[VerdictRecord]:
    return [record for _, record in read_records(path, VerdictRecord)[0]]
