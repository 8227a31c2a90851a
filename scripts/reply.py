"""Reply to a tweet with a LoRA adapter, a published one (by revision) or a local output folder, with the base model's
reply beside it for contrast, decoded the way the adapter was evaluated.

    python -m scripts.reply --adapter you/replytune-qwen3-8b --revision v1 --tweet "Shipping our first LoRA today!"
    python -m scripts.reply --adapter outputs/qwen3-8b-reply-qlora --eval outputs/eval --tweet "..."

What it reads instead of assuming:
- the base model: --base-model, else the model the adapter's training run loaded (run_metadata.json, with the GGUF
  file of resolved_config.yaml) when it is on this machine (a folder, or package:NAME installed), else the Hub id
  that adapter_config.json names. A local adapter is read from its folder only: nothing about it is asked of the Hub.
- the prompt template and the decoding: the evaluation's generation_report.json (`judge generate` writes it into its
  output folder, `judge publish` pushes it to the adapter's repo as eval/generation_report.json, where it is found):
  its `dataset.prompt_template` and `decoding`. --eval names the evaluation folder of a local adapter. Without an
  evaluation: data_prep's default template and the judge's default decoding (recipes/generation.py), said on stderr.
  --max-new-tokens, --repetition-penalty and --seed override single values of that decoding.

Generation goes through the recipe's function (non-thinking chat format, stop at the end of the turn). Exit 0: both
replies printed; 2: refused, in one line naming what is missing or wrong (an empty tweet, a tweet that would open a
chat turn, an adapter, evaluation or base model that cannot be read).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from judge.records import GENERATION_REPORT_FILE_NAME, PUBLISHED_EVAL_FOLDER
from replytune.cli import ArgumentParser
from replytune.errors import EXIT_OK, EXIT_REFUSED, Refused
from replytune.quiet import configure_console

if TYPE_CHECKING:
    from recipes.generation import GenerationSettings
    from recipes.inference import AdapterInfo

# The evaluation's record of how it generated, and where judge publish puts it in the adapter's repo.
EVALUATION_REPORT = GENERATION_REPORT_FILE_NAME
PUBLISHED_EVALUATION_REPORT = f"{PUBLISHED_EVAL_FOLDER}/{GENERATION_REPORT_FILE_NAME}"


class ReplyRefused(Refused, ValueError):
    """The tweet, adapter, evaluation or base model cannot be used; the message names which, in one line."""


@dataclass
class ReplyPlan:
    """Everything a reply is made from, read before any model loads."""

    adapter: AdapterInfo
    base_model: str
    gguf_file: str | None
    base_from: str  # where base_model came from: --base-model, run_metadata.json or adapter_config.json
    prompt: list[dict]
    settings: GenerationSettings
    decoding_from: str  # the generation_report.json read, or the defaults


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(  # one-line flag errors: --max-new-tokens x
        prog="python -m scripts.reply", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--adapter", required=True, help="Hub repo of the adapter, or a local adapter folder")
    parser.add_argument("--revision", default=None, help="its tag or commit on the Hub (v1, v2, ...)")
    parser.add_argument("--tweet", required=True, help="the tweet to reply to")
    parser.add_argument(
        "--eval",
        type=Path,
        default=None,
        help="the evaluation folder holding generation_report.json (default: the adapter's eval/, as published)",
    )
    parser.add_argument("--base-model", default=None, help="Hub id, folder or package:NAME (default: the adapter's)")
    parser.add_argument("--gguf-file", default=None, help="a GGUF checkpoint inside --base-model")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the evaluation's")
    parser.add_argument("--repetition-penalty", type=float, default=None, help="default: the evaluation's")
    parser.add_argument("--seed", type=int, default=None, help="default: the evaluation's")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is available")
    parser.add_argument("--json", type=Path, default=None, help="also write the tweet and both replies here")
    parser.add_argument("--verbose", action="store_true", help="every library's warnings and info lines too")
    return parser.parse_args(argv)


def check_tweet(tweet: str) -> None:
    """Refuse, before anything loads, a tweet that is empty or would open or close a chat turn (tweets are data)."""
    from judge.generate.held_out import prompt_problem

    if not tweet.strip():
        raise ReplyRefused("--tweet is empty: give the text of the tweet to reply to")
    problem = prompt_problem([{"role": "user", "content": tweet}])
    if problem:
        raise ReplyRefused(f"--tweet: {problem}")


def read_evaluation(eval_dir: Path | None, adapter_path: str) -> tuple[dict | None, str]:
    """(the evaluation's generation_report.json, where it was read) from --eval, else from the adapter's eval/
    folder; (None, why not) when neither is given nor there."""
    if eval_dir is not None:
        path = eval_dir if eval_dir.is_file() else eval_dir / EVALUATION_REPORT
        if not path.is_file():
            raise ReplyRefused(f"--eval {eval_dir}: no {EVALUATION_REPORT} there (judge generate writes it)")
        where = str(path)
    else:
        path = Path(adapter_path) / PUBLISHED_EVALUATION_REPORT
        if not path.is_file():
            return None, f"the adapter has no {PUBLISHED_EVALUATION_REPORT} and no --eval was given"
        where = f"the adapter's {PUBLISHED_EVALUATION_REPORT}"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReplyRefused(f"{where}: cannot be read as JSON: {error}") from error
    if not isinstance(report, dict):
        raise ReplyRefused(f"{where}: not a generation report (a JSON object)")
    return report, where


def decoding_and_template(report: dict | None, where: str) -> tuple[GenerationSettings, str]:
    """(GenerationSettings, prompt template) as the evaluation recorded them, or the defaults without one."""
    from data_prep.config import OutputConfig
    from recipes.generation import GenerationSettings
    from replytune.yaml_config import parse_dataclass

    if report is None:
        return GenerationSettings(), OutputConfig().prompt_template
    dataset, decoding = report.get("dataset"), report.get("decoding")
    template = dataset.get("prompt_template") if isinstance(dataset, dict) else None
    if not isinstance(template, str):
        raise ReplyRefused(f"{where}: no dataset.prompt_template (written by judge generate)")
    if not isinstance(decoding, dict):
        raise ReplyRefused(f"{where}: no decoding (written by judge generate)")
    settings = parse_dataclass(GenerationSettings, decoding, f"{where}: decoding")  # a ConfigError names the field
    try:
        OutputConfig(prompt_template=template)  # data_prep's check: {tweet} and no other field
    except ValueError as error:
        raise ReplyRefused(f"{where}: dataset.{error}") from error
    return settings, template


def is_on_this_machine(name: str) -> bool:
    """A model folder here, or an installed package:NAME; a Hub id is not."""
    from recipes.model_utils import PACKAGE_PREFIX, ModelLoadError, resolve_model_path

    if name.startswith(PACKAGE_PREFIX):
        try:
            resolve_model_path(name)
        except ModelLoadError:
            return False
        return True
    return os.path.isdir(os.path.expanduser(name))


def looks_like_a_path(name: str) -> bool:
    """Not a Hub id (OWNER/NAME or NAME): an absolute or relative path, or package:NAME."""
    return name.startswith(("/", "./", "../", "~", "package:")) or name.count("/") > 1


def choose_base(adapter: AdapterInfo, base_model: str | None, gguf_file: str | None) -> tuple[str, str | None, str]:
    """(the base model to load, its GGUF file, which file or flag named it)."""
    if base_model:
        return base_model, gguf_file, "--base-model"
    if adapter.trained_from and is_on_this_machine(adapter.trained_from):
        return adapter.trained_from, gguf_file or adapter.gguf_file, "run_metadata.json"
    not_here = f"; the run's {adapter.trained_from} (run_metadata.json) is not on this machine"
    not_here = not_here if adapter.trained_from and adapter.trained_from != adapter.base_model else ""
    if looks_like_a_path(adapter.base_model) and not is_on_this_machine(adapter.base_model):
        raise ReplyRefused(
            f"adapter {adapter.source}: its base model {adapter.base_model} (adapter_config.json) is not on this "
            f"machine{not_here}: pass --base-model"
        )
    return adapter.base_model, gguf_file, f"adapter_config.json{not_here}"


def plan_reply(args: argparse.Namespace) -> ReplyPlan:
    """Read the adapter, its run files and its evaluation, and build the prompt: no model loads here."""
    from judge.generate.held_out import prompt_problem
    from recipes.inference import read_adapter

    check_tweet(args.tweet)
    adapter = read_adapter(args.adapter, args.revision, extra_files=(PUBLISHED_EVALUATION_REPORT,))
    report, where = read_evaluation(args.eval, adapter.path)
    settings, template = decoding_and_template(report, where)
    if report is None:
        print(f"note: {where}: data_prep's default prompt template and the judge's default decoding", file=sys.stderr)
    flags = {"max_new_tokens": args.max_new_tokens, "repetition_penalty": args.repetition_penalty, "seed": args.seed}
    settings = dataclasses.replace(settings, **{name: value for name, value in flags.items() if value is not None})
    prompt = [{"role": "user", "content": template.format(tweet=args.tweet)}]
    problem = prompt_problem(prompt)
    if problem:
        raise ReplyRefused(f"the prompt template of {where}: {problem}")
    base_model, gguf_file, base_from = choose_base(adapter, args.base_model, args.gguf_file)
    decoding_from = where if report is not None else "the defaults (recipes/generation.py)"
    return ReplyPlan(adapter, base_model, gguf_file, base_from, prompt, settings, decoding_from)


def reply(plan: ReplyPlan, use_cpu: bool = False) -> dict[str, str]:
    """{"base": ..., "adapter": ...}: each model's reply to the tweet, decoded the same way."""
    from judge.generate.held_out import prompt_problem
    from recipes.data import tokenizer_control_tokens
    from recipes.generation import generate_replies
    from recipes.inference import active_adapter, inference_dtype, load_adapters, load_model_for_inference
    from recipes.model_utils import ModelLoadError

    try:
        loaded = load_model_for_inference(
            plan.base_model, gguf_file=plan.gguf_file, dtype=inference_dtype("auto", use_cpu), use_cpu=use_cpu
        )
    except ModelLoadError:
        raise
    except Exception as error:  # no such repo, no connection (httpx's errors reach here unwrapped), not a model
        why = (str(error).strip().splitlines() or [""])[0][:300]
        raise ReplyRefused(
            f"base model {plan.base_model} ({plan.base_from}) cannot be loaded: {type(error).__name__}: {why}"
        ) from error
    problem = prompt_problem(plan.prompt, tuple(tokenizer_control_tokens(loaded.tokenizer)))
    if problem:
        raise ReplyRefused(f"--tweet: {problem}")
    model = load_adapters(loaded.model, {"adapter": plan.adapter})
    replies = {}
    for system, adapter_name in (("adapter", "adapter"), ("base", None)):
        with active_adapter(model, adapter_name):
            replies[system] = generate_replies(model, loaded.tokenizer, [plan.prompt], plan.settings)[0].text
    return {"base": replies["base"], "adapter": replies["adapter"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_console(args.verbose)  # quiet by default (replytune/quiet.py); before bitsandbytes prints at import
    from recipes.model_utils import ModelLoadError

    try:
        plan = plan_reply(args)
        replies = reply(plan, args.cpu)
    except (Refused, ValueError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    where = f"{args.adapter}@{args.revision}" if args.revision else args.adapter
    print(f"tweet:             {args.tweet}")
    print(f"base model:        {replies['base']}")
    print(f"adapter ({where}): {replies['adapter']}")
    if args.json:
        record = {
            "tweet": args.tweet,
            "adapter": where,
            "replies": replies,
            "base_model": plan.base_model,
            "decoding": dataclasses.asdict(plan.settings),
            "prompt": plan.prompt,
        }
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
