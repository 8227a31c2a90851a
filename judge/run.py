"""`python -m judge run`: the whole evaluation in one command: generate -> score -> stats (-> publish).

    python -m judge run --config judge/configs/demo.yaml --dataset DIR_OR_REPO[@vN] --output DIR \\
        [--system NAME=SPEC ...] [--judge NAME] [--max-cost USD] [--candidate NAME | --compare CAND:BASE ...] \\
        [--publish REPO [--adapter DIR] [--revision vN] [--private true|false]]

Each stage is the command of the same name, run with the arguments below and the config's section for it, into
one folder: DIR/generations.jsonl, DIR/verdicts.jsonl, DIR/stats.json and the plots, then (with --publish) the
adapter and its model card on the Hub. Every stage resumes, so after a crash or a kill the same command goes on
where it stopped: generate writes only the replies that are missing, score judges only what is neither in
verdicts.jsonl nor in the request cache (a rerun pays nothing), stats is recomputed, and publish is skipped when
DIR/published.json says this adapter with these stats.json is already on the Hub.

The candidate (stats, publish) is --candidate, else the first comparison's (--compare, repeatable, or
stats.comparisons: several comparisons in one stats run), else stats.candidate, else the one adapter system; the
adapter published is --adapter, else that system's folder. One summary line per stage; a stage that fails or
refuses stops the run with its own exit status (0 done; 2 refused before any work, named; 1 failed while working).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from judge.config import DEFAULT_CONFIG_PATH
from judge.records import (
    GENERATION_REPORT_FILE_NAME,
    GENERATIONS_FILE_NAME,
    PUBLISHED_FILE_NAME,
    SCORE_REPORT_FILE_NAME,
    STATS_FILE_NAME,
    VERDICTS_FILE_NAME,
)
from replytune.cli import ArgumentParser
from replytune.errors import EXIT_OK, EXIT_REFUSED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="judge config YAML (every section)")
    parser.add_argument("--dataset", default=None, help="data_prep version: DIR, DIR@vN or REPO@vN (generate.dataset)")
    parser.add_argument("--split", default=None, help="the held-out split (default: generate.split, test)")
    parser.add_argument("--output", required=True, help="the evaluation folder (every stage writes there)")
    parser.add_argument("--system", action="append", default=None, metavar="NAME=SPEC", help="as in judge generate")
    parser.add_argument("--base-model", default=None, help="as in judge generate")
    parser.add_argument("--max-tweets", type=int, default=None, help="answer at most this many tweets")
    parser.add_argument("--cpu", action="store_true", help="generate on the CPU even where a GPU is available")
    parser.add_argument("--judge", default=None, help="claude, openai, engagement or local (default: score.judge)")
    parser.add_argument("--max-cost", type=float, default=None, help="US dollar cap of the judge (score.max_cost_usd)")
    parser.add_argument("--batch", action="store_true", help="claude: Message Batches (half price, async)")
    parser.add_argument("--cache-dir", default=None, help="the judge's request cache (default: score.cache_dir)")
    parser.add_argument("--train-dataset", default=None, help="engagement judge: DIR_OR_REPO[@vN] to fit on")
    parser.add_argument("--baseline", default=None, help="stats: the system measured against (stats.baseline)")
    parser.add_argument("--candidate", default=None, help="stats and publish: the system under test")
    parser.add_argument(
        "--compare",
        action="append",
        default=None,
        metavar="CANDIDATE:BASELINE",
        help="stats: one comparison of several (repeatable; stats.comparisons); publish: the first one's candidate",
    )
    parser.add_argument("--publish", metavar="REPO", default=None, help="then push the adapter and card to REPO")
    parser.add_argument("--adapter", default=None, help="publish: the adapter folder (default: the candidate's)")
    parser.add_argument("--revision", default=None, help="publish: the tag (default: the repo's next free vN)")
    parser.add_argument("--private", default=None, help="publish: true|false (default: publish.private, true)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def stage_arguments(module, argv: list[str]) -> argparse.Namespace:
    """The namespace `python -m judge <stage> ARGV` would give the stage's run(): one parser, one set of defaults."""
    parser = ArgumentParser(prog=f"python -m {module.__name__.removesuffix('.cli')}")
    module.add_arguments(parser)
    return parser.parse_args(argv)


def option(name: str, value) -> list[str]:
    return [] if value is None else [name, str(value)]


def run(args: argparse.Namespace) -> int:
    from judge.generate import cli as generate
    from judge.publish import cli as publish
    from judge.score import cli as score
    from judge.stats import cli as stats

    output = Path(args.output)
    progress = ["--no-progress"] if args.no_progress else []
    systems = [part for spec in args.system or [] for part in ("--system", spec)]
    candidate_system = candidate_of(args)

    generate_argv = ["--config", args.config, "--output", str(output), *systems, *progress]
    generate_argv += option("--dataset", args.dataset) + option("--split", args.split)
    generate_argv += option("--base-model", args.base_model) + option("--max-tweets", args.max_tweets)
    generate_argv += ["--cpu"] if args.cpu else []
    status = run_stage("generate", generate, generate_argv, lambda: generate_summary(output))
    if status:
        return status

    score_argv = ["--config", args.config, "--generations", str(output / GENERATIONS_FILE_NAME), "--output"]
    score_argv += [str(output), *progress, *(["--batch"] if args.batch else [])]
    score_argv += option("--judge", args.judge) + option("--max-cost", args.max_cost)
    score_argv += option("--cache-dir", args.cache_dir) + option("--train-dataset", args.train_dataset)
    status = run_stage("score", score, score_argv, lambda: score_summary(output))
    if status:
        return status

    stats_argv = ["--config", args.config, "--verdicts", str(output / VERDICTS_FILE_NAME), "--output", str(output)]
    if args.compare:
        stats_argv += [part for spec in args.compare for part in ("--compare", spec)]
    else:
        stats_argv += option("--baseline", args.baseline)
        stats_argv += option("--candidate", candidate_system and candidate_system[0])
    stats_argv += option("--judge", args.judge)
    status = run_stage("stats", stats, stats_argv, lambda: stats_summary(output))
    if status or not args.publish:
        return status

    adapter = args.adapter or (candidate_system and candidate_system[1])
    if not adapter or not Path(adapter).is_dir():
        print(
            f"error: --publish: no adapter folder to publish ({adapter or 'no adapter system'}): pass --adapter DIR",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    already = already_published(output, args.publish, Path(adapter))
    if already:
        print(f"== publish: already published as {already['repo_id']}@{already['revision']} (from {output})")
        return EXIT_OK
    publish_argv = ["--config", args.config, "--adapter", adapter, "--eval", str(output), "--repo", args.publish]
    publish_argv += option("--revision", args.revision) + option("--private", args.private)
    status = run_stage("publish", publish, publish_argv, lambda: publish_summary(output))
    return status


def run_stage(name: str, module, argv: list[str], summary) -> int:
    """Run one stage's command; then one line: its summary, or how it stopped."""
    print(f"== {name}: python -m judge {name} {' '.join(argv)}", flush=True)
    started = time.monotonic()
    status = module.run(stage_arguments(module, argv))
    seconds = time.monotonic() - started
    if status:
        print(f"== {name}: stopped with exit status {status} after {seconds:.0f} s (see above)", flush=True)
    else:
        print(f"== {name} done in {seconds:.0f} s: {summary()}", flush=True)
    return status


def candidate_of(args: argparse.Namespace) -> tuple[str, str | None] | None:
    """(system name, its adapter folder or repo) of the candidate: --candidate, the first comparison's (--compare,
    stats.comparisons), stats.candidate, or the one adapter."""
    from judge.config import load_judge_config, parse_comparison
    from judge.generate.systems import parse_systems

    config = load_judge_config(args.config)
    systems = parse_systems(args.system if args.system else config.generate.systems)
    comparisons = args.compare or ([] if args.candidate else config.stats.comparisons)
    try:
        first = parse_comparison(comparisons[0])[0] if comparisons else None
    except ValueError:
        first = None  # stats refuses it, naming the flag
    name = args.candidate or first or config.stats.candidate
    adapters = [system for system in systems if system.kind == "adapter"]
    if name is None:
        if len(adapters) != 1:
            return None  # stats names the choices
        name = adapters[0].name
    chosen = next((system for system in systems if system.name == name), None)
    return name, chosen.adapter if chosen is not None and chosen.kind == "adapter" else None


# --- one line per stage, read from the files the stage wrote ---------------------------------------------------


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def generate_summary(output: Path) -> str:
    report = read_json(output / GENERATION_REPORT_FILE_NAME)
    run_counts = report["run"]
    return (
        f"{report['items']} tweets x {len(report['systems'])} systems ({', '.join(report['systems'])}): "
        f"{run_counts['generated_now']} replies generated now, {run_counts['already_done']} already there"
    )


def score_summary(output: Path) -> str:
    report = read_json(output / SCORE_REPORT_FILE_NAME)
    run_counts = report["run"]
    return (
        f"{run_counts['tasks']} judgements by {report['judge']} ({report['model']}): {run_counts['judged']} judge "
        f"calls now, {run_counts['from_cache']} from the cache, {run_counts['already_done']} already in "
        f"{VERDICTS_FILE_NAME}; ${run_counts['spent_usd']:.4f}"
    )


def stats_summary(output: Path) -> str:
    from judge.publish.card import verdict_line

    lines = []
    for results in read_json(output / STATS_FILE_NAME).get("comparisons") or [read_json(output / STATS_FILE_NAME)]:
        pairwise = results.get("pairwise") or {}
        wins, ties, losses = (pairwise.get(key) for key in ("wins", "ties", "losses"))
        record = f"win/tie/loss {wins}/{ties}/{losses}, " if wins is not None else ""
        systems = f"{results['candidate']} vs {results['baseline']}"
        lines.append(f"{systems} on {results['n']} tweets: {record}{verdict_line(results)}")
    return "; ".join(lines)


def publish_summary(output: Path) -> str:
    published = read_json(output / PUBLISHED_FILE_NAME)
    return f"{published['repo_id']}@{published['revision']} (commit {published['commit'][:12]})"


def already_published(output: Path, repo: str, adapter: Path) -> dict | None:
    """DIR/published.json, when it records this repo, this adapter's weights and this stats.json, AND the Hub this
    run is pointed at (HF_ENDPOINT) holds that repo with that tag at that commit: a record of a push to another Hub
    (a stand-in, a deleted repo, a moved tag) never skips the push."""
    from replytune.files import sha256_of

    path = output / PUBLISHED_FILE_NAME
    weights = adapter / "adapter_model.safetensors"
    if not path.is_file() or not weights.is_file() or not (output / STATS_FILE_NAME).is_file():
        return None
    published = read_json(path)
    same = (
        repo in (published.get("repo"), published.get("repo_id"))
        and published.get("adapter_sha256") == sha256_of(weights)
        and published.get("stats_sha256") == sha256_of(output / STATS_FILE_NAME)
    )
    if not same:
        return None
    on_hub = tag_on_hub(published.get("repo_id"), published.get("revision"))
    if on_hub != published.get("commit"):
        where = "is not there" if on_hub is None else f"points at {on_hub[:12]}"
        print(
            f"== publish: {path} records {published.get('repo_id')}@{published.get('revision')} (commit "
            f"{str(published.get('commit'))[:12]}), but on the Hub this run is pointed at that tag {where}: "
            "publishing again",
            flush=True,
        )
        return None
    return published


def tag_on_hub(repo_id: str | None, tag: str | None) -> str | None:
    """The commit `tag` of the model repo `repo_id` points at on the Hub this process is pointed at; None when the
    repo or the tag is not there, or the Hub cannot be asked."""
    from huggingface_hub import HfApi

    from replytune.hub import hub_token

    if not repo_id or not tag:
        return None
    try:
        refs = HfApi(token=hub_token()).list_repo_refs(repo_id)
    except Exception:  # noqa: BLE001 - not there, or not reachable: the push says which, with its own checks
        return None
    return next((ref.target_commit for ref in refs.tags if ref.name == tag), None)
