"""The whole default build as users run it: `python -m data_prep build` on a large realistic input.

20,000 records from the demo generator (`data_prep/sample/make_demo_tweets.py --records 20000`: the demo's mix of
good replies, bots, links, spam, other languages, copies, repeated ids, reworded round after round) go through the
default config: ingest, pairing, filters, validation, embeddings (all-MiniLM-L6-v2 on the CPU), semantic dedup, the
leakage check and writing the version folder. benchmarks/data_prep_throughput.py measures the stages without
embeddings or output; this is what a user waits for. Goal (issue 7): >= 250 records/s on 2 cores.

It prints records/s (wall clock of the command, imports and model loading included), the per-stage times the build
records in report.json, and the kept set compared with a second build that embeds with the plain settings
(sentence-transformers' PyTorch path with its own defaults, batch 32 and the model's 256-token limit, instead of the
build's batch 64 and 128-token cap): the speed settings must not change what is kept. `--input`/`--config` run the
same comparison on other data (e.g. the real exports with a permissive config, where more pairs survive).

Detoxify runs where its weights are cached; elsewhere (HF_HUB_OFFLINE=1 here) the build falls back to
alt-profanity-check, and the script says which scorer ran. Timings on a shared machine are noisy: the load average
is printed before and after.

    python benchmarks/data_prep_build.py [--records 20000] [--no-plain-check] [--input FILE_OR_DIR... --config YAML]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATOR = REPO_ROOT / "data_prep" / "sample" / "make_demo_tweets.py"
# sentence-transformers' own encode defaults (batch 32, the model's 256 tokens): "the plain PyTorch path".
PLAIN_EMBEDDINGS = {"embedding_batch_size": 32, "embedding_max_tokens": 256}


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_build(inputs: list[Path], output: Path, config: Path | None, env: dict) -> tuple[float, dict, set[str]]:
    command = [sys.executable, "-m", "data_prep", "build", "--input", *map(str, inputs), "--output", str(output)]
    command += ["--no-progress"] + (["--config", str(config)] if config else [])
    start = time.perf_counter()
    run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"build failed:\n{run.stderr[-3000:]}")
    folder = output / "v1"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    import pyarrow.parquet as pq

    kept = set()
    for parquet in sorted((folder / "data").glob("*.parquet")):
        split = parquet.name.split("-")[0]
        kept |= {f"{split}:{reply_id}" for reply_id in pq.read_table(parquet, columns=["reply_id"])["reply_id"]}
    return seconds, report, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--no-plain-check", action="store_true", help="skip the second build (kept-set check)")
    parser.add_argument("--input", nargs="+", type=Path, help="build these instead of generated records")
    parser.add_argument("--config", type=Path, default=None, help="a build config (default: the default config)")
    args = parser.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1", REPLYTUNE_PSEUDONYM_KEY="benchmark-key-not-a-secret-0123456789")
    print(f"cores available: {len(os.sched_getaffinity(0))}; {load()}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        inputs = args.input
        if not inputs:
            inputs = [folder / "records.jsonl"]
            subprocess.run(
                [sys.executable, str(GENERATOR), str(inputs[0]), "--records", str(args.records)], check=True
            )
        seconds, report, kept = run_build(inputs, folder / "default", args.config, env)
        stages = report["stage_seconds"]
        print(
            f"\ndefault build of {report['input_records']:,} records: {seconds:.1f} s wall = "
            f"{report['input_records'] / seconds:,.0f} records/s (goal >= 250 on 2 cores); {load()}"
        )
        print(
            f"pairs kept: {report['dispositions'].get('kept', 0):,} {report['splits']}; distinct texts embedded: "
            f"{report['embedded_texts']:,}; toxicity scorer: {report['scorers']['toxicity']}"
        )
        print("\n| stage | seconds | share of wall |\n|---|---|---|")
        for stage, stage_seconds in stages.items():
            print(f"| {stage} | {stage_seconds:.1f} | {100 * stage_seconds / seconds:.0f}% |")
        rest = seconds - sum(stages.values())
        print(
            f"| start-up, imports, reading the config, writing the folder | {rest:.1f} | {100 * rest / seconds:.0f}% |"
        )
        if args.no_plain_check:
            return
        plain_config = yaml.safe_load(args.config.read_text()) if args.config else {}
        plain_config.setdefault("cleaning", {}).update(PLAIN_EMBEDDINGS)
        plain = folder / "plain.yaml"
        plain.write_text(yaml.safe_dump(plain_config))
        plain_seconds, plain_report, plain_kept = run_build(inputs, folder / "plain", plain, env)
        print(
            f"\nplain embedding settings (batch 32, 256 tokens): {plain_seconds:.1f} s wall; embeddings "
            f"{plain_report['stage_seconds'].get('semantic dedup (embeddings)', 0):.1f} s vs "
            f"{stages.get('semantic dedup (embeddings)', 0):.1f} s; {load()}"
        )
        same = kept == plain_kept
        print(
            f"kept set identical to the plain path: {same} ({len(kept):,} vs {len(plain_kept):,} pairs; "
            f"{len(kept ^ plain_kept)} differ)"
        )
        if not same:
            raise SystemExit("the build's embedding settings changed the kept set")


if __name__ == "__main__":
    main()
