"""`python -m judge generate`: every system under comparison answers the same held-out tweets.

    python -m judge generate --config judge/configs/default.yaml --dataset DIR_OR_REPO[@vN] --split test \\
        --output DIR [--system NAME=SPEC ...] [--base-model MODEL] [--max-tweets N]

Systems (`generate.systems`, or `--system` repeated, which replaces that list): `base` or `base:MODEL`,
`adapter:DIR_OR_REPO[@rev]`, `retrieval` (the real reply of the most similar TRAIN tweet) and `human` (the real
reply). Base and adapters run on ONE loaded base model (4-bit on a GPU, as in training; unquantized on CPU) with
the adapters toggled, through the recipe's batched-generation function (recipes/generation.py), with identical
decoding: the same seed, sampling settings and max_new_tokens, Qwen3's non-thinking format, stopping at the end of
the turn.

The story of a run:
1. check everything that can be checked before any model loads (config, systems, dataset and split, adapters and
   their base, the output folder's earlier lines): a problem stops the run here, named (exit 2);
2. the held-out tweets: one item per distinct tweet of the split; a tweet whose prompt still carries a chat control
   string (tweets are data: data_prep's rule) or is malformed is left out for every system, counted and named;
3. batches of tweets (longest prompts first, so little goes to padding); for each batch, each system writes the
   replies it has not written yet, one fsynced line each, so a killed run resumes with the same command (how, and
   why it ends with the same file: runner.py; for users: docs/evaluation.md, judge generate);
4. the forgetting check (perplexity on general text, base vs each adapter) and the sanity metrics;
5. DIR/generation_report.json, DIR/generation_summary.md, DIR/reply_lengths.png, DIR/generate_config.yaml.

A reply that hits max_new_tokens without ending its turn is flagged `truncated`, an empty one `empty`; both are
kept. Exit status: 0 done; 2 refused before any work (named); 1 failed while working.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from judge.config import DEFAULT_CONFIG_PATH, ConfigError, GenerateConfig, load_judge_config
from judge.records import (
    GENERATE_CONFIG_FILE_NAME,
    GENERATION_REPORT_FILE_NAME,
    GENERATION_SUMMARY_FILE_NAME,
    GENERATIONS_FILE_NAME,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Refused
from replytune.secrets import redact

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="judge config YAML (the generate section)")
    parser.add_argument("--dataset", default=None, help="data_prep version: DIR, DIR@vN or REPO@vN (generate.dataset)")
    parser.add_argument("--split", default=None, help="the held-out split to answer (default: generate.split, test)")
    parser.add_argument("--output", required=True, help=f"folder for {GENERATIONS_FILE_NAME} and the report")
    parser.add_argument(
        "--system",
        action="append",
        default=None,
        metavar="NAME=SPEC",
        help="a system to compare (repeat it; replaces generate.systems): base, base:MODEL, "
        "adapter:DIR_OR_REPO[@rev], retrieval, human",
    )
    parser.add_argument("--base-model", default=None, help="load the shared base from here (a Hub id or a folder)")
    parser.add_argument("--max-tweets", type=int, default=None, help="answer at most this many tweets")
    parser.add_argument("--batch-size", type=int, default=None, help="tweets per generation batch")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="the longest reply, in tokens")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (batch i samples with seed + i)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is available")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_config(args: argparse.Namespace) -> GenerateConfig:
    config = load_judge_config(args.config).generate
    decoding = {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens, "seed": args.seed}
    base_model = {"model_name_or_path": args.base_model, "use_cpu": True if args.cpu else None}
    try:
        config = dataclasses.replace(
            config,
            dataset=args.dataset or config.dataset,
            split=args.split or config.split,
            max_tweets=args.max_tweets if args.max_tweets is not None else config.max_tweets,
            decoding=dataclasses.replace(config.decoding, **{k: v for k, v in decoding.items() if v is not None}),
            base_model=dataclasses.replace(config.base_model, **{k: v for k, v in base_model.items() if v}),
        )
    except ValueError as error:  # a field check of an overridden value
        raise ConfigError(f"command line: {error}") from error
    if not config.dataset:
        raise ConfigError("no dataset: pass --dataset DIR_OR_REPO[@vN] (or set generate.dataset)")
    return config


@dataclass
class Prepared:
    """Everything checked before any model loads."""

    config: GenerateConfig
    plan: object  # judge.generate.systems.SystemPlan
    dataset: object  # data_prep.versions.DatasetVersion
    tweets: list  # judge.generate.held_out.HeldOutTweet, in generation order
    skipped: dict  # reason -> [item ids]
    output: Path
    tokenizer: object = None  # the base model's, when a model system runs
    done: set = field(default_factory=set)  # (item_id, system) already in generations.jsonl


def run(args: argparse.Namespace) -> int:
    from recipes.model_utils import ModelLoadError

    try:
        prepared = prepare(args)
    except (Refused, ModelLoadError) as error:
        return refuse(str(error))
    try:
        report = generate(prepared, progress=not args.no_progress)
    except ModelLoadError as error:
        return refuse(str(error))
    except MemoryError as error:
        print(f"error: out of memory while generating ({error}): lower --batch-size", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as error:
        if "out of memory" not in str(error).lower():
            raise
        print(f"error: out of memory while generating ({error}): lower --batch-size", file=sys.stderr)
        return EXIT_FAILED
    print_summary(report, prepared.output)
    return EXIT_OK


def refuse(message: str) -> int:
    print(f"error: {redact(message)}", file=sys.stderr)
    return EXIT_REFUSED


def prepare(args: argparse.Namespace) -> Prepared:
    """Step 1: config, systems, dataset and split, adapters and their base, the output's earlier lines."""
    from data_prep.versions import load_version
    from judge.generate.held_out import held_out_tweets
    from judge.generate.runner import existing_lines
    from judge.generate.systems import parse_systems, plan_systems
    from recipes.model_utils import load_tokenizer
    from replytune.errors import InputError
    from replytune.secrets import get_secret

    config = resolve_config(args)
    systems = parse_systems(args.system if args.system else config.systems)
    dataset = load_version(config.dataset)
    if config.split not in dataset.rows:
        raise InputError(
            f"--dataset {dataset.source}: no split {config.split!r} (it has {', '.join(dataset.rows) or 'none'})"
        )
    if any(system.kind == "retrieval" for system in systems) and not dataset.rows.get(config.train_split):
        raise InputError(
            f"system retrieval: {dataset.source} has no {config.train_split!r} split to retrieve from "
            f"(it has {', '.join(dataset.rows) or 'none'}; generate.train_split)"
        )
    plan = plan_systems(systems, config.base_model, get_secret("HF_TOKEN"))
    tokenizer, special_tokens = None, ()
    if plan.base is not None:  # its special tokens are control strings too; loading it also checks the base early
        tokenizer = load_tokenizer(plan.base.model_name_or_path, plan.base.revision, plan.base.gguf_file, "left")
        special_tokens = tuple(tokenizer.all_special_tokens)
    tweets, skipped = held_out_tweets(dataset, config.split, config.max_tweets, special_tokens)
    output = Path(args.output)
    prepared = Prepared(config, plan, dataset, tweets, skipped, output, tokenizer)
    prepared.done = existing_lines(output / GENERATIONS_FILE_NAME, prepared)
    return prepared


def generate(prepared: Prepared, progress: bool = True) -> dict:
    """Steps 2-5: generate what is missing, then check forgetting and compute the report."""
    from judge.generate.report import build_report, write_outputs
    from judge.generate.runner import GenerationRun

    prepared.output.mkdir(parents=True, exist_ok=True)
    write_resolved_config(prepared.config, prepared.output / GENERATE_CONFIG_FILE_NAME)
    started = time.monotonic()
    with GenerationRun(prepared, progress) as generation:
        generation.write_missing_replies()
        forgetting = generation.forgetting_check()
        timings = generation.timings
    timings["wall_seconds"] = round(time.monotonic() - started, 2)
    report = build_report(prepared, forgetting, timings)
    write_outputs(report, prepared.output)
    return report


def write_resolved_config(config: GenerateConfig, path: Path) -> None:
    text = yaml.safe_dump({"generate": dataclasses.asdict(config)}, sort_keys=False, allow_unicode=True)
    path.write_text(redact(text), encoding="utf-8")


def print_summary(report: dict, output: Path) -> None:
    run = report["run"]
    print(
        f"{report['items']} tweets x {len(report['systems'])} systems: {run['generated_now']} replies generated now, "
        f"{run['already_done']} already in {GENERATIONS_FILE_NAME}"
    )
    for problem, count in report["skipped_tweet_counts"].items():
        print(f"  left out {count} tweet(s): {problem}")
    for name, entry in report["systems"].items():
        flags = entry["flags"]
        print(
            f"  {name} ({entry['spec']}): {entry['replies']} replies, {flags['truncated']} truncated, "
            f"{flags['empty']} empty"
        )
    forgetting = report.get("forgetting") or {}
    for name, entry in (forgetting.get("systems") or {}).items():
        change = entry.get("change_vs_base_pct")
        suffix = "" if change is None else f" ({change:+.1f}% vs base{', FLAGGED' if entry.get('flagged') else ''})"
        print(f"  forgetting: {name} perplexity {entry['perplexity']}{suffix}")
    written = (GENERATIONS_FILE_NAME, GENERATION_REPORT_FILE_NAME, GENERATION_SUMMARY_FILE_NAME)
    print(f"wrote {', '.join(str(output / name) for name in written)}")
