"""Preference pairs on real threads: how many pairs `data_prep preferences` makes, and how often the EARLIER reply is
the chosen one, at several margins, with and without the exposure control; and the time for 10,000 replies to one
tweet (50 million candidate pairs).

The data: RumourEval 2017 (../shared/realdata/tweets/rumoureval2017_autoreleasefool) built by `data_prep build` with
benchmarks/configs/preference_data.yaml (engagement filters off, direct replies only) into a temporary folder, or any
data_prep version (`--dataset DIR_OR_REPO@vN`). Each setting runs data_prep.preferences' own pairing on its rows, with
the default config's other values (cap of 10 pairs per tweet, seed 42). "before" is every pair that passes the
margins, "after" those that also pass the exposure control (before the cap); shares count pairs whose replies have
different delays, with 95% bootstrap intervals resampled by tweet.

    python benchmarks/preference_pairs.py [--dataset DIR_OR_REPO@vN] [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/preference_pairs.py` puts only benchmarks/ on the path
    sys.path.insert(0, str(REPO_ROOT))
from standins.realdata import REALDATA  # noqa: E402

DATA_CONFIG = REPO_ROOT / "benchmarks" / "configs" / "preference_data.yaml"
RUMOUREVAL = Path("tweets") / "rumoureval2017_autoreleasefool"
MARGINS = [  # (label, min_like_ratio, min_like_difference)
    ("any difference", 1.0, 1),
    ("1.5x and +1", 1.5, 1),
    ("2x and +2 (default)", 2.0, 2),
    ("3x and +3", 3.0, 3),
]
EXPOSURE = [  # (label, exposure_control, max_delay_ratio, max_delay_difference_seconds)
    ("off", False, None, None),
    ("1.5x or 60 s (default)", True, 1.5, 60.0),
    ("1.25x", True, 1.25, None),
    ("60 s only", True, None, 60.0),
    ("300 s only", True, None, 300.0),
]


def share(facts: dict) -> str:
    """The earlier reply's share of wins and its 95% interval, e.g. `65.6% (59-72)`."""
    if facts["share"] is None:
        return "n/a"
    low, high = facts["ci95"]
    return f"{100 * facts['share']:.1f}% ({100 * low:.0f}-{100 * high:.0f})"


def build_rumoureval(realdata: Path, output: Path) -> str:
    from data_prep.build import build
    from data_prep.config import load_config

    logging.getLogger("data_prep").setLevel(logging.WARNING)
    folder = build(load_config(DATA_CONFIG), [realdata / RUMOUREVAL], output, progress=False)
    return str(folder)


def hostile_seconds() -> tuple[float, int]:
    """10,000 replies to one tweet, likes 0-400 and delays up to a day at random: seconds, kept pairs."""
    from data_prep.config import PreferencesConfig
    from data_prep.preferences import find_preferences
    from replytune import schema as col

    chance = random.Random(1)
    prompt = [{"role": "user", "content": "Generate an engaging Twitter reply to:\n\nviral"}]
    rows = [
        {
            col.PROMPT: prompt,
            col.COMPLETION: [{"role": "assistant", "content": f"reply {n}"}],
            col.TWEET_ID: "viral",
            col.REPLY_ID: f"r{n:05d}",
            col.REPLY_LIKES: chance.randint(0, 400),
            col.REPLY_DELAY_SECONDS: float(chance.randint(0, 86_400)),
            col.REPLY_AUTHOR_FOLLOWERS: 1_000,
        }
        for n in range(10_000)
    ]
    started = time.perf_counter()
    result = find_preferences({"train": rows}, PreferencesConfig())
    return time.perf_counter() - started, result.funnel.kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None, help="a data_prep version (default: build RumourEval)")
    parser.add_argument("--realdata", type=Path, default=REALDATA, help="../shared/realdata")
    args = parser.parse_args()
    from data_prep.config import PreferencesConfig
    from data_prep.preferences import find_preferences
    from data_prep.versions import load_version

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    seconds, kept = hostile_seconds()
    print(f"10,000 replies to one tweet (49,995,000 candidate pairs): {seconds:.2f} s, {kept} pairs kept (cap 10)")
    with tempfile.TemporaryDirectory() as temporary:
        spec = args.dataset
        if spec is None:
            if not (args.realdata / RUMOUREVAL).is_dir():
                print(f"skipped the real-data table: {args.realdata / RUMOUREVAL} not found (pass --realdata)")
                return 0
            spec = build_rumoureval(args.realdata, Path(temporary) / "rumoureval")
        version = load_version(spec)
        rows = version.rows
        replies = sum(len(split_rows) for split_rows in version.rows.values())
        base = PreferencesConfig()
        first = find_preferences(rows, dataclasses.replace(base, exposure_control=False, min_like_ratio=1.0))
        print(
            f"\n{version.source if version.hub_repo else Path(spec).name}: {replies} replies, "
            f"{first.replies['tweets_with_2_or_more']} tweets with 2+ replies, {first.funnel.input_records} candidate "
            f"pairs, {first.earlier_reply_share['different_likes']['pairs']} with different likes "
            f"(earlier reply chosen in {share(first.earlier_reply_share['different_likes'])})\n"
        )
        print(
            "| margins | exposure control | pairs passing the margins | earlier chosen (before) | "
            "pairs also within the window | earlier chosen (after) | published pairs (tweets) | earlier chosen |"
        )
        print("|---|---|---:|---|---:|---|---:|---|")
        settings = [(margin, exposure, False) for margin in MARGINS for exposure in EXPOSURE]
        settings.append((MARGINS[2], EXPOSURE[1], True))
        for (margin_label, ratio, difference), (
            exposure_label,
            control,
            delay_ratio,
            seconds,
        ), by_followers in settings:
            config = dataclasses.replace(
                base,
                min_like_ratio=ratio,
                min_like_difference=difference,
                exposure_control=control,
                max_delay_ratio=delay_ratio,
                max_delay_difference_seconds=seconds,
                normalize_by_followers=by_followers,
            )
            result = find_preferences(rows, config)
            shares = result.earlier_reply_share
            label = margin_label + (", likes per follower" if by_followers else "")
            before, after, kept = shares["margin_passing"], shares["within_exposure_window"], shares["kept"]
            print(
                f"| {label} | {exposure_label} | {before['pairs']} | {share(before)} | {after['pairs']} | "
                f"{share(after)} | {kept['pairs']} ({kept['tweets']}) | {share(kept)} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
