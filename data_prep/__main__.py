"""The data_prep command line.

    python -m data_prep collect --config CONFIG --output DIR [--resume] [--max-cost USD]
    python -m data_prep build --config CONFIG --input FILE_OR_DIR... --output DIR [--push-to-hub REPO --version vN]
        [--allow-public-repo]
    python -m data_prep curate push --dataset DIR_OR_REPO[@vN] --argilla-dataset NAME [--workspace W]
    python -m data_prep curate pull --argilla-dataset NAME --output DIR [--push-to-hub REPO --version vN]
    python -m data_prep curate auto --dataset DIR_OR_REPO[@vN] --output DIR [--push-to-hub REPO --version vN]
    python -m data_prep preferences --dataset DIR_OR_REPO[@vN] --output DIR [--config CONFIG]
        [--push-to-hub REPO --version vN] [--allow-public-repo]

Every command takes --verbose: the libraries' known-harmless warnings (replytune/quiet.py) and their INFO lines too.

Exit status: 0 done; 2 refused before any work (bad config field, missing or malformed input file, input in which
no record can be read as a tweet, a version that exists, a push without the pseudonym key, a private dataset into a
public repo, an Argilla server that cannot be reached or refuses the key, an unknown Argilla dataset); 1 failed while
working, including a build that kept no pair (it says why in at most five lines, and takes no version number).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from data_prep.collect import add_collect_arguments, run_collect
from data_prep.config import DEFAULT_CONFIG_PATH, load_config
from data_prep.curate import add_curate_arguments, run_curate
from data_prep.preferences import add_preferences_arguments, run_preferences
from data_prep.versions import add_new_version_arguments
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Refused
from replytune.quiet import configure_console
from replytune.secrets import redact


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="YAML config (default: %(default)s)")
    parser.add_argument(
        "--input", nargs="+", required=True, metavar="FILE_OR_DIR", help="export files, or folders to read recursively"
    )
    add_new_version_arguments(parser, "the version")


def run_build(args: argparse.Namespace) -> int:
    from data_prep.build import build  # heavy imports (datasets, numpy) only for this command
    from data_prep.explain import EmptyBuildError

    try:
        config = load_config(args.config)
        if args.allow_public_repo:
            config.output.allow_public_repo = True
        folder = build(
            config,
            args.input,
            args.output,
            push_to_hub=args.push_to_hub,
            version=args.version,
            progress=not args.no_progress,
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except EmptyBuildError as error:  # no pair survived: why, in at most five lines, and nothing pushed
        print(redact(str(error)), file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # any failure mid-run: the traceback in the log, one redacted line on stderr
        logging.getLogger("data_prep").exception("build failed")
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    splits = json.loads((folder / "report.json").read_text(encoding="utf-8"))["splits"]
    print(
        f"dataset written to {folder}"
        + (f" and pushed to {args.push_to_hub}@{args.version}" if args.push_to_hub else "")
        + f": {', '.join(f'{pairs} {name}' for name, pairs in splits.items())} pairs"
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect", help="collect tweets and replies live with Apify")
    add_collect_arguments(collect)
    build = commands.add_parser("build", help="build a versioned tweet->reply DatasetDict")
    add_build_arguments(build)
    curate = add_curate_arguments(commands.add_parser("curate", help="curation: Argilla review (push, pull) or auto"))
    preferences = commands.add_parser("preferences", help="preference pairs for DPO from a version")
    add_preferences_arguments(preferences)
    for command in (collect, build, *curate, preferences):
        command.add_argument(
            "--verbose", action="store_true", help="also print the libraries' known-harmless warnings and INFO lines"
        )
    args = parser.parse_args(argv)
    configure_console(verbose=getattr(args, "verbose", False))
    if args.command == "collect":
        return run_collect(args)
    if args.command == "curate":
        return run_curate(args)
    if args.command == "preferences":
        return run_preferences(args)
    return run_build(args)


if __name__ == "__main__":
    sys.exit(main())
