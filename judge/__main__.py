"""The judge command line: one subcommand per stage of the evaluation.

    python -m judge generate   replies from every system under comparison on held-out tweets
    python -m judge score      an LLM (or offline) judge over generations.jsonl -> verdicts.jsonl
    python -m judge validate   how far each judge agrees with real likes and with itself
    python -m judge stats      paired significance over verdicts -> stats.json, plots
    python -m judge publish    the adapter and its model card on the Hub
    python -m judge human-eval blind pairwise evaluation by people in Argilla (push | pull)
    python -m judge run        generate -> score -> stats (-> publish)

Exit status: 0 done; 2 refused before any work (bad config, input or argument, named); 1 failed while working.
Each command lives in its own folder, judge/<command>/, whose cli.py exposes `add_arguments(parser)` and
`run(args) -> int`; heavy imports happen inside `run`, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from replytune.cli import ArgumentParser
from replytune.errors import EXIT_REFUSED, Refused
from replytune.quiet import configure_console

# command -> (its module, one-line help)
COMMANDS = {
    "generate": ("judge.generate.cli", "replies from every system under comparison on held-out tweets"),
    "score": ("judge.score.cli", "judge generations.jsonl with an LLM or offline judge -> verdicts.jsonl"),
    "validate": ("judge.validate.cli", "judge validity: agreement with real likes, position consistency, length bias"),
    "stats": ("judge.stats.cli", "paired significance over verdicts -> stats.json and plots"),
    "publish": ("judge.publish.cli", "push the adapter with a model card that states the results"),
    "human-eval": ("judge.human_eval.cli", "blind pairwise evaluation by people in Argilla (push | pull)"),
    "run": ("judge.run", "generate -> score -> stats (-> publish with --publish)"),
}

# Spinning OpenMP threads make CPU generation and the local judge several times slower when the cores are shared
# (see recipes/sft_qlora.py); set before torch loads OpenMP, an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(  # one-line flag errors (--max-cost abc), in every subcommand too
        prog="python -m judge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = modules[name] = importlib.import_module(module_name)
        subcommand = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(subcommand)
        subcommand.add_argument("--verbose", action="store_true", help="every library's warnings and info lines too")
    args = parser.parse_args(argv)
    configure_console(args.verbose)  # quiet by default: replytune/quiet.py
    try:
        return modules[args.command].run(args)
    except Refused as error:  # a refusal a command did not catch itself (judge run reads the config first)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
