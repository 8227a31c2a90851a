"""What judging costs: 100 tweets x 2 systems with Claude, pairwise in both orders plus single-answer scores, at the
config's list prices, with and without Message Batches and prompt caching, and an immediate rerun (target: $0).

    python benchmarks/judge_cost.py [--tweets 100] [--model claude-sonnet-4-6]

It runs the real `python -m judge score` (in process) against the Anthropic stand-in the tests use
(standins/anthropic_api.py), which answers like the API and reports usage the way the API bills it:
a system prefix marked for caching is written once and read afterwards when it reaches the model's minimum
cacheable length. The dollars are then computed by the judge's own ledger from that usage and the price table.
What is simulated, and how:
- the tweets and replies: RumourEval's real source tweets and two real replies per tweet (../shared/realdata),
  else the handful of technical examples from the tests;
- token counts: the real Qwen3 tokenizer as a proxy for Claude's (Claude's own counts run ~10-30% higher on
  English; the prices scale with them), else characters / 4;
- the verdicts: ~50 words of reasoning plus the answer, as the prompt asks for (3 sentences at most);
- batches: Anthropic applies prompt-cache hits inside batches on a best-effort basis; the "batch + cache" row
  assumes they hit, the "batch" row shows the price without any hit.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/judge_cost.py` puts only benchmarks/ on the path
    sys.path.insert(0, str(REPO_ROOT))

REASONING = (
    "Reply {winner} answers the point of the tweet with a concrete detail the audience can use, while the other "
    "reply stays generic and could sit under any tweet about the topic; its tone is also closer to how people "
    "talk on Twitter."
)


def realistic_answer(kind: str, data: dict) -> dict:
    if kind == "pairwise":
        winner = "A" if len(data["reply_A"]) >= len(data["reply_B"]) else "B"
        return {"reasoning": REASONING.format(winner=winner), "winner": winner}
    return {"reasoning": REASONING.format(winner="text"), "engagement": 6, "relevance": 7, "tone": 6}


def tweets_and_replies(count: int) -> tuple[list[tuple[str, str, str]], str]:
    """(tweet, reply 1, reply 2) triples: real RumourEval threads when present."""
    from standins.realdata import REALDATA

    threads = REALDATA / "tweets" / "rumoureval2017_autoreleasefool"
    if threads.is_dir():
        from judge.validate.threads import replies_from_tweet_files

        replies, _ = replies_from_tweet_files([threads])
        by_tweet: dict[str, list] = {}
        for reply in replies:
            by_tweet.setdefault(reply.tweet_id, []).append(reply)
        triples = [
            (group[0].tweet_text, group[0].reply_text, group[1].reply_text)
            for group in by_tweet.values()
            if len(group) >= 2
        ]
        triples = (triples * (count // max(1, len(triples)) + 1))[:count]
        return triples, f"RumourEval threads ({len(by_tweet)} tweets, reused in order to reach {count})"
    from standins.example_replies import ADAPTER_REPLIES, BASE_REPLIES, TWEETS

    triples = [(TWEETS[i % 4], BASE_REPLIES[i % 4], ADAPTER_REPLIES[i % 4]) for i in range(count)]
    return triples, "the tests' example tweets (../shared/realdata is absent)"


def token_counter():
    from standins.realdata import REAL_QWEN3_TOKENIZER_DIR

    if REAL_QWEN3_TOKENIZER_DIR.is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(REAL_QWEN3_TOKENIZER_DIR)
        return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), "Qwen3 tokenizer (proxy)"
    return (lambda text: max(1, len(text) // 4)), "characters / 4"


def run_scenario(folder: Path, name: str, model: str, caching: bool, batch: bool, count_tokens, cache_dir: Path):
    from judge.__main__ import main
    from judge.config import load_judge_config
    from judge.score.backends import claude
    from standins.anthropic_api import FakeAnthropic

    config = folder / f"{name}.yaml"
    config.write_text(
        f"score:\n  max_cost_usd: 100.0\n  claude:\n    model: {model}\n    prompt_caching: {str(caching).lower()}\n"
        "    batch_poll_interval_s: 0\n"
    )
    fake = FakeAnthropic(policy=realistic_answer, count_tokens=count_tokens)
    fake.min_cacheable_tokens = load_judge_config().score.claude.prices[model].min_cacheable_tokens
    claude.http_client_factory = fake.http_client
    output = folder / name
    arguments = [
        "score",
        "--config",
        str(config),
        "--generations",
        str(folder / "generations.jsonl"),
        "--judge",
        "claude",
        "--output",
        str(output),
        "--cache-dir",
        str(cache_dir),
        "--no-progress",
    ]
    code = main(arguments + (["--batch"] if batch else []))
    report = json.loads((output / "score_report.json").read_text())
    requests = len(fake.messages_sent()) + sum(len(b["results"]) for b in fake.batches.values())
    return code, report, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tweets", type=int, default=100)
    parser.add_argument("--model", default="claude-sonnet-4-6")
    args = parser.parse_args()

    import contextlib
    import io
    import logging
    import os

    from judge.records import GenerationRecord, write_jsonl

    os.environ["ANTHROPIC_API_KEY"] = "test-anthropic-key"  # the stand-in's key; nothing leaves this machine
    logging.disable(logging.WARNING)
    triples, source = tweets_and_replies(args.tweets)
    count_tokens, counter = token_counter()
    print(f"{args.tweets} tweets x 2 systems from {source}; tokens counted with the {counter}; model {args.model}")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_jsonl(
            folder / "generations.jsonl",
            [
                GenerationRecord(item_id=f"t{i}", tweet_text=tweet, system=system, reply=reply).to_json()
                for i, (tweet, first, second) in enumerate(triples)
                for system, reply in (("base", first), ("adapter", second))
            ],
        )
        scenarios = [
            ("online", False, False, "first"),
            ("online + prompt cache", True, False, "first"),
            ("batch", False, True, "first"),
            ("batch + prompt cache", True, True, "batch-cache"),
            ("rerun of batch + prompt cache", True, True, "batch-cache"),
        ]
        rows = []
        for index, (label, caching, batch, cache_name) in enumerate(scenarios):
            cache_dir = folder / f"cache-{index}" if cache_name == "first" else folder / "cache-shared"
            with contextlib.redirect_stdout(io.StringIO()):
                code, report, requests = run_scenario(
                    folder, f"run{index}", args.model, caching, batch, count_tokens, cache_dir
                )
            run = report["run"]
            lines = [json.loads(line) for line in (folder / f"run{index}" / "verdicts.jsonl").read_text().splitlines()]
            tokens = {
                key: sum(line[key] for line in lines)
                for key in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
            }
            rows.append((label, requests, run["estimate"]["expected_usd"], run["spent_usd"], tokens, code))
    print(
        f"{'scenario':32} {'requests':>8} {'estimate $':>10} {'cost $':>9} {'$ / tweet':>9}  tokens "
        "(input / cache write / cache read / output)"
    )
    for label, requests, estimate, spent, tokens, code in rows:
        flag = "" if code == 0 else f"  (exit {code})"
        print(
            f"{label:32} {requests:8d} {estimate:10.4f} {spent:9.4f} {spent / args.tweets:9.5f}  "
            f"{tokens['input_tokens']:,} / {tokens['cache_write_tokens']:,} / {tokens['cache_read_tokens']:,} / "
            f"{tokens['output_tokens']:,}{flag}"
        )
    baseline, best, rerun = rows[0][3], rows[3][3], rows[4][3]
    print(
        f"batch + prompt cache costs {best / baseline:.0%} of the plain online run; the immediate rerun costs "
        f"${rerun:.4f} with {rows[4][1]} requests (target: $0)"
    )


if __name__ == "__main__":
    main()
