"""`python -m data_prep preferences`: preference pairs from a dataset version (data_prep/preferences.py).

Pairs never cross splits or tweets; the margins, the exposure window and the cap per tweet hold; every candidate pair
ends in one disposition (checked against a plain pairwise reference); shuffled input gives the same pairs; the
earlier-reply share is counted right; curated discards are never used and edits are used as edited; the CLI writes a
version load_dataset reads, and pushes it privately with a tag; a bad config field fails in one line.
"""

import dataclasses
import itertools
import json
import random
import time
from collections import Counter

import pytest
import yaml
from datasets import load_dataset

from data_prep import preferences as prefs
from data_prep.__main__ import main
from data_prep.config import DEFAULT_CONFIG_PATH, PreferencesConfig, load_config
from replytune import schema as col
from standins.hub import USER
from tests.curation_versions import CONFIG, pair_row, write_version

LAX = PreferencesConfig(
    min_like_ratio=1.0, min_like_difference=0, exposure_control=False, max_delay_ratio=None, max_pairs_per_tweet=None
)


def reply(reply_id, tweet, likes, delay, followers=2_000, **overrides):
    """A version row: reply `reply_id` to tweet `tweet` (conversation `tweet`, tweet id `tweet-<tweet>`)."""
    text = f"Reply {reply_id}: partial indexes help only when the query repeats the exact predicate, sadly."
    return pair_row(
        reply_id,
        text,
        tweet,
        **{col.REPLY_LIKES: likes, col.REPLY_DELAY_SECONDS: delay, col.REPLY_AUTHOR_FOLLOWERS: followers},
        **overrides,
    )


def random_rows(seed: int, tweets: int = 12, max_replies: int = 9) -> dict[str, list[dict]]:
    chance = random.Random(seed)
    rows = {"train": [], "eval": [], "test": []}
    for tweet in range(tweets):
        split = chance.choice(list(rows))
        for number in range(chance.randint(1, max_replies)):
            rows[split].append(
                reply(
                    f"r{tweet}-{number}",
                    f"t{tweet}",
                    chance.choice([None, 0, 0, 1, 2, 3, 5, 8, 13, 40]) if number else chance.randint(0, 9),
                    chance.choice([None, 0.0, 30.0, 45.0, 60.0, 100.0, 140.0, 600.0, 3_600.0]),
                    chance.choice([None, 0, 50, 2_000, 90_000]),
                )
            )
    return rows


def all_rows(result) -> list[dict]:
    return [row for rows in result.rows.values() for row in rows]


# --- a plain pairwise reference ---------------------------------------------------------------------------------


def reference_disposition(a: dict, b: dict, config: PreferencesConfig) -> tuple[str, dict | None, dict | None]:
    """The disposition of one candidate pair, written out pair by pair (the cap aside), and (chosen, rejected)."""
    likes_a, likes_b = a[col.REPLY_LIKES], b[col.REPLY_LIKES]
    if likes_a is None or likes_b is None:
        return prefs.LIKES_UNKNOWN, None, None
    if likes_a == likes_b:
        return prefs.SAME_LIKES, None, None
    chosen, rejected = (a, b) if likes_a > likes_b else (b, a)
    if config.normalize_by_followers and None in (a[col.REPLY_AUTHOR_FOLLOWERS], b[col.REPLY_AUTHOR_FOLLOWERS]):
        return prefs.FOLLOWERS_UNKNOWN, chosen, rejected
    chosen_score, rejected_score = chosen[col.REPLY_LIKES], max(rejected[col.REPLY_LIKES], 1)
    if config.normalize_by_followers:
        chosen_score /= max(chosen[col.REPLY_AUTHOR_FOLLOWERS], 1)
        rejected_score /= max(rejected[col.REPLY_AUTHOR_FOLLOWERS], 1)
    difference = chosen[col.REPLY_LIKES] - rejected[col.REPLY_LIKES]
    if chosen_score < config.min_like_ratio * rejected_score * (1 - 1e-12) or difference < config.min_like_difference:
        return prefs.BELOW_MARGIN, chosen, rejected
    if config.exposure_control:
        delays = (a[col.REPLY_DELAY_SECONDS], b[col.REPLY_DELAY_SECONDS])
        if None in delays or min(delays) < 0:
            return prefs.DELAY_UNKNOWN, chosen, rejected
        earlier, later = sorted(delays)
        by_ratio = config.max_delay_ratio is not None and later <= config.max_delay_ratio * earlier
        by_seconds = (
            config.max_delay_difference_seconds is not None and later - earlier <= config.max_delay_difference_seconds
        )
        if not (by_ratio or by_seconds):
            return prefs.OUTSIDE_EXPOSURE_WINDOW, chosen, rejected
    return "passes", chosen, rejected


def capped(passing: list[tuple[dict, dict]], config: PreferencesConfig) -> list[tuple[dict, dict]]:
    """The cap's choice, written out: the pairs with the lowest keys, a key a seeded hash of the two reply ids."""
    import numpy as np

    def key(pair):
        first, second = (np.array([prefs._reply_hash(row[col.REPLY_ID], config.seed)], np.uint64) for row in pair)
        return int(prefs.pair_keys(first, second)[0])

    return sorted(passing, key=key)[: config.max_pairs_per_tweet]


def reference(rows: dict[str, list[dict]], config: PreferencesConfig) -> tuple[Counter, dict, set]:
    """Dispositions, the earlier-reply tallies of each stage but `kept`, and the kept (chosen, rejected) reply ids."""
    dispositions, kept_ids = Counter(), set()
    stages = {stage: [0, 0, 0] for stage in ("different_likes", "margin_passing", "within_exposure_window")}
    for split_rows in rows.values():
        by_tweet = {}
        for row in split_rows:
            by_tweet.setdefault(row[col.TWEET_ID], []).append(row)
        for members in by_tweet.values():
            passing = []
            for a, b in itertools.combinations(members, 2):
                disposition, chosen, rejected = reference_disposition(a, b, config)
                if disposition == "passes":
                    passing.append((chosen, rejected))
                else:
                    dispositions[disposition] += 1
                reached = {
                    "different_likes": chosen is not None,
                    "margin_passing": disposition in ("passes", prefs.DELAY_UNKNOWN, prefs.OUTSIDE_EXPOSURE_WINDOW),
                    "within_exposure_window": disposition == "passes",
                }
                for stage, counted in reached.items():
                    if not counted:
                        continue
                    stages[stage][0] += 1
                    delays = (chosen[col.REPLY_DELAY_SECONDS], rejected[col.REPLY_DELAY_SECONDS])
                    if None not in delays and delays[0] != delays[1]:
                        stages[stage][1] += 1
                        stages[stage][2] += delays[0] < delays[1]
            kept = capped(passing, config)
            kept_ids |= {(chosen[col.REPLY_ID], rejected[col.REPLY_ID]) for chosen, rejected in kept}
            dispositions["kept"] += len(kept)
            dispositions[prefs.OVER_TWEET_CAP] += len(passing) - len(kept)
    return +dispositions, stages, kept_ids


CONFIGS = [
    LAX,
    PreferencesConfig(),
    PreferencesConfig(
        min_like_ratio=3.0, min_like_difference=3, max_delay_ratio=2.0, max_delay_difference_seconds=None
    ),
    PreferencesConfig(normalize_by_followers=True, max_delay_ratio=None, max_delay_difference_seconds=300.0),
    PreferencesConfig(max_pairs_per_tweet=2, exposure_control=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda config: str(CONFIGS.index(config)))
@pytest.mark.parametrize("merge_pairs", [1, prefs._MERGE_PAIRS])
def test_every_candidate_pair_ends_where_the_pairwise_reference_puts_it(config, merge_pairs, monkeypatch):
    monkeypatch.setattr(prefs, "_MERGE_PAIRS", merge_pairs)  # 1: the cap's selection runs after every reply
    for seed in range(4):
        rows = random_rows(seed)
        result = prefs.find_preferences(rows, config)
        expected, stages, kept = reference(rows, config)
        assert +result.funnel.dispositions == expected, seed
        assert {(row[col.CHOSEN_REPLY_ID], row[col.REJECTED_REPLY_ID]) for row in all_rows(result)} == kept
        assert result.funnel.input_records == sum(expected.values())
        for stage, (pairs, comparable, earlier) in stages.items():
            facts = result.earlier_reply_share[stage]
            assert (facts["pairs"], facts["comparable"], facts["earlier_chosen"]) == (pairs, comparable, earlier)
            assert facts["share"] == (round(earlier / comparable, 4) if comparable else None)


# --- what a pair may hold -------------------------------------------------------------------------------------------


def test_pairs_never_cross_splits_or_tweets():
    rows = random_rows(11, tweets=20)
    # a hostile version: the same tweet id in two splits (a build never does this) still pairs within one split
    rows["test"] += [reply("x-1", "t0", 50, 60.0), reply("x-2", "t0", 0, 60.0)]
    where = {row[col.REPLY_ID]: (split, row[col.TWEET_ID]) for split, split_rows in rows.items() for row in split_rows}
    result = prefs.find_preferences(rows, LAX)
    assert result.funnel.kept > 50
    for split, split_rows in result.rows.items():
        for row in split_rows:
            chosen, rejected = where[row[col.CHOSEN_REPLY_ID]], where[row[col.REJECTED_REPLY_ID]]
            assert chosen == rejected == (split, row[col.TWEET_ID])
    assert {(r[col.CHOSEN_REPLY_ID], r[col.REJECTED_REPLY_ID]) for r in result.rows["test"]} >= {("x-1", "x-2")}


@pytest.mark.parametrize(
    ("likes", "delays", "followers", "config", "expected"),
    [
        ((4, 2), (100.0, 100.0), (1, 1), PreferencesConfig(), "kept"),
        ((3, 2), (100.0, 100.0), (1, 1), PreferencesConfig(), prefs.BELOW_MARGIN),  # ratio 1.5 < 2
        ((2, 0), (100.0, 100.0), (1, 1), PreferencesConfig(), "kept"),  # 0 likes count as 1: 2 >= 2 x 1
        ((1, 0), (100.0, 100.0), (1, 1), PreferencesConfig(min_like_difference=1), prefs.BELOW_MARGIN),
        ((30, 20), (100.0, 100.0), (1, 1), PreferencesConfig(min_like_ratio=1.0), "kept"),
        ((30, 29), (100.0, 100.0), (1, 1), PreferencesConfig(min_like_ratio=1.0), prefs.BELOW_MARGIN),  # difference
        ((5, 5), (100.0, 100.0), (1, 1), PreferencesConfig(), prefs.SAME_LIKES),
        ((None, 5), (100.0, 100.0), (1, 1), PreferencesConfig(), prefs.LIKES_UNKNOWN),
        ((8, 1), (100.0, 150.0), (1, 1), PreferencesConfig(max_delay_difference_seconds=None), "kept"),  # ratio 1.5
        (
            (8, 1),
            (100.0, 151.0),
            (1, 1),
            PreferencesConfig(max_delay_difference_seconds=None),
            prefs.OUTSIDE_EXPOSURE_WINDOW,
        ),
        ((8, 1), (100.0, 151.0), (1, 1), PreferencesConfig(max_delay_difference_seconds=51.0), "kept"),
        ((8, 1), (0.0, 60.0), (1, 1), PreferencesConfig(), "kept"),  # within the absolute window of 60 s
        ((8, 1), (0.0, 61.0), (1, 1), PreferencesConfig(), prefs.OUTSIDE_EXPOSURE_WINDOW),
        ((8, 1), (30.0, 3_600.0), (1, 1), PreferencesConfig(exposure_control=False), "kept"),
        ((8, 1), (None, 100.0), (1, 1), PreferencesConfig(), prefs.DELAY_UNKNOWN),
        ((8, 1), (-5.0, 100.0), (1, 1), PreferencesConfig(), prefs.DELAY_UNKNOWN),
        # likes per follower: 10 likes from 10,000 followers lose to 2 likes from 100 followers
        ((10, 2), (100.0, 100.0), (10_000, 100), PreferencesConfig(normalize_by_followers=True), prefs.BELOW_MARGIN),
        ((10, 2), (100.0, 100.0), (10_000, 100), PreferencesConfig(), "kept"),
        ((10, 2), (100.0, 100.0), (200, 100), PreferencesConfig(normalize_by_followers=True), "kept"),
        (
            (10, 2),
            (100.0, 100.0),
            (None, 100),
            PreferencesConfig(normalize_by_followers=True),
            prefs.FOLLOWERS_UNKNOWN,
        ),
    ],
)
def test_margins_and_the_exposure_window_decide_each_pair(likes, delays, followers, config, expected):
    rows = {"train": [reply(f"r{i}", "t", likes[i], delays[i], followers[i]) for i in range(2)]}
    result = prefs.find_preferences(rows, config)
    assert dict(result.funnel.dispositions) == {expected: 1}
    if expected == "kept":
        (row,) = result.rows["train"]
        assert row[col.CHOSEN_LIKES] == max(likes) and row[col.REJECTED_LIKES] == min(likes)


def test_every_kept_pair_meets_the_margins_and_the_window():
    config = PreferencesConfig(min_like_ratio=2.5, min_like_difference=3, max_delay_ratio=2.0)
    result = prefs.find_preferences(random_rows(5, tweets=40), config)
    assert result.funnel.kept > 10
    for row in all_rows(result):
        chosen, rejected = row[col.CHOSEN_LIKES], row[col.REJECTED_LIKES]
        assert chosen >= 2.5 * max(rejected, 1) and chosen - rejected >= 3
        earlier, later = sorted((row[col.CHOSEN_DELAY_SECONDS], row[col.REJECTED_DELAY_SECONDS]))
        assert later <= 2.0 * earlier or later - earlier <= 60.0
        assert row[col.CHOSEN_IS_EARLIER] == (None if earlier == later else row[col.CHOSEN_DELAY_SECONDS] == earlier)


def test_at_most_max_pairs_per_tweet_whatever_the_order_of_the_input():
    rows = random_rows(3, tweets=30, max_replies=14)
    config = dataclasses.replace(LAX, max_pairs_per_tweet=3)
    first = prefs.find_preferences(rows, config)
    assert max(Counter(row[col.TWEET_ID] for row in all_rows(first)).values()) == 3
    assert first.funnel.dispositions[prefs.OVER_TWEET_CAP] > 0
    chance = random.Random(0)
    for _ in range(3):
        shuffled = {split: chance.sample(split_rows, len(split_rows)) for split, split_rows in rows.items()}
        shuffled = dict(chance.sample(list(shuffled.items()), len(shuffled)))
        again = prefs.find_preferences(shuffled, config)
        assert again.rows == first.rows and again.funnel.dispositions == first.funnel.dispositions
        assert again.earlier_reply_share == first.earlier_reply_share

    def pairs(result) -> set:
        return {(row[col.CHOSEN_REPLY_ID], row[col.REJECTED_REPLY_ID]) for row in all_rows(result)}

    other_seed = prefs.find_preferences(rows, dataclasses.replace(config, seed=7))
    assert pairs(other_seed) != pairs(first)  # the seed, not the input order, picks the capped pairs


def test_the_earlier_reply_share_counts_pairs_with_different_delays():
    rows = {
        "train": [
            # tweet a: the earliest reply is the most liked; 3 pairs, the earlier reply chosen in all 3
            reply("a1", "a", 40, 100.0),
            reply("a2", "a", 10, 120.0),
            reply("a3", "a", 2, 140.0),
            # tweet b: the later reply chosen; and a pair posted at the same second (not comparable)
            reply("b1", "b", 1, 100.0),
            reply("b2", "b", 20, 130.0),
            reply("b3", "b", 5, 130.0),
        ]
    }
    result = prefs.find_preferences(rows, PreferencesConfig(max_delay_difference_seconds=None))
    # b: (b2 20 vs b1 1, later chosen), (b2 vs b3 5: same delay), (b3 5 vs b1 1, later chosen)
    kept = result.earlier_reply_share["kept"]
    assert (kept["pairs"], kept["comparable"], kept["earlier_chosen"]) == (6, 5, 3)
    assert kept["share"] == 0.6 and kept["tweets"] == 2
    low, high = kept["ci95"]
    assert 0 <= low <= 0.6 <= high <= 1  # two tweets: resampling them gives 0, 0.6 or 1
    assert {row[col.CHOSEN_IS_EARLIER] for row in result.rows["train"]} == {True, False, None}


# --- curated versions -----------------------------------------------------------------------------------------------


def curated_source_rows() -> dict[str, list[dict]]:
    """Two tweets whose most liked reply a curator discards (toxicity 0.2: `curate auto` discards it)."""
    flagged = {col.TOXICITY_SCORE: 0.2}
    return {
        "train": [
            reply("top", "c1", 90, 100.0, **flagged),
            reply("mid", "c1", 20, 110.0),
            reply("low", "c1", 2, 120.0),
            reply("top2", "c2", 70, 100.0, **flagged),
            reply("low2", "c2", 3, 110.0),
        ],
        "test": [reply("t1", "c3", 30, 100.0), reply("t2", "c3", 1, 120.0)],
    }


def test_a_reply_a_curator_discarded_is_never_used(tmp_path):
    from data_prep.curate import auto

    write_version(tmp_path / "data" / "v1", curated_source_rows())
    auto(str(tmp_path / "data" / "v1"), tmp_path / "data")
    ledger = [json.loads(line) for line in (tmp_path / "data" / "v2" / "curation.jsonl").read_text().splitlines()]
    assert {e["reply_id"] for e in ledger if e["disposition"] == "curation/discarded"} == {"top", "top2"}

    folder = prefs.build_preferences(str(tmp_path / "data" / "v2"), tmp_path / "prefs", dataclasses.replace(CONFIG))
    report = json.loads((folder / "report.json").read_text())
    rows = [row for split in load_dataset(str(folder), cache_dir=str(tmp_path / "cache")).values() for row in split]
    used = {row[col.CHOSEN_REPLY_ID] for row in rows} | {row[col.REJECTED_REPLY_ID] for row in rows}
    assert used == {"mid", "low", "t1", "t2"}
    # the discarded replies were read from v1 only to count their pairs: top with mid and low, top2 with low2
    assert report["dispositions"][prefs.DISCARDED_BY_CURATOR] == 3
    assert report["curation"] == {
        "mode": "auto",
        "discarded_replies": 2,
        "discarded_replies_placed": 2,
        "edited_replies": 0,
        "input_version": "data/v1",
    }
    assert sum(report["dispositions"].values()) == report["input_records"] == 5  # c1: 3 pairs, c2: 1, c3: 1

    # without the input version next to it, the discarded replies are still never used, only not counted
    (tmp_path / "data" / "v1").rename(tmp_path / "elsewhere")
    folder = prefs.build_preferences(str(tmp_path / "data" / "v2"), tmp_path / "prefs", CONFIG)
    report = json.loads((folder / "report.json").read_text())
    assert prefs.DISCARDED_BY_CURATOR not in report["dispositions"] and report["curation"]["input_version"] is None
    assert "not found" in (folder / "README.md").read_text()


def test_a_discarded_reply_still_in_the_rows_is_never_used_and_an_edit_is_used_as_edited(tmp_path):
    rows = curated_source_rows()
    edited_text = "Edited by a curator: partial indexes only help when the predicate repeats exactly."
    rows["train"][1][col.COMPLETION] = [{"role": "assistant", "content": edited_text}]
    rows["train"][1][col.REPLY_TEXT] = edited_text
    folder = write_version(tmp_path / "data" / "v2", rows)
    ledger = [
        {"reply_id": "top", "split": "train", "disposition": "curation/discarded"},
        {"reply_id": "mid", "split": "train", "disposition": "curation/edited"},
    ]
    (folder / "curation.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in ledger))
    result_folder = prefs.build_preferences(str(folder), tmp_path / "prefs", CONFIG)
    report = json.loads((result_folder / "report.json").read_text())
    train = load_dataset(str(result_folder), cache_dir=str(tmp_path / "cache"))["train"].to_list()
    assert "top" not in {row[col.CHOSEN_REPLY_ID] for row in train} | {row[col.REJECTED_REPLY_ID] for row in train}
    (edited_pair,) = [row for row in train if row[col.CHOSEN_REPLY_ID] == "mid"]
    assert edited_pair[col.CHOSEN] == [{"role": "assistant", "content": edited_text}]
    assert report["dispositions"][prefs.DISCARDED_BY_CURATOR] == 2 and report["pairs_with_edited_reply"] == 1


# --- the command ----------------------------------------------------------------------------------------------------


def cli_version(tmp_path):
    return write_version(tmp_path / "data" / "v1", random_rows(21, tweets=16))


def test_the_command_writes_a_version_load_dataset_reads(tmp_path, capsys):
    source = cli_version(tmp_path)
    config = tmp_path / "prefs.yaml"
    config.write_text("preferences: {min_like_ratio: 1.5, min_like_difference: 1, exposure_control: false}\n")
    command = ["preferences", "--dataset", f"{tmp_path / 'data'}@v1", "--output", str(tmp_path / "prefs")]
    assert main(command + ["--config", str(config), "--no-progress"]) == 0
    folder = tmp_path / "prefs" / "v1"
    assert f"preference pairs written to {folder}" in capsys.readouterr().out
    dataset = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert set(dataset) <= {"train", "eval", "test"} and sum(dataset.num_rows.values()) > 10
    source_prompts = {
        row[col.REPLY_ID]: row[col.PROMPT]
        for split in load_dataset(str(source), cache_dir=str(tmp_path / "source_cache")).values()
        for row in split
    }
    for split in dataset.values():
        assert split.column_names[:3] == ["prompt", "chosen", "rejected"]
        for row in split:
            assert row["prompt"] == source_prompts[row[col.CHOSEN_REPLY_ID]]
            assert [message["role"] for message in row["chosen"] + row["rejected"]] == ["assistant", "assistant"]
            assert row["chosen"] != row["rejected"] and row[col.CHOSEN_LIKES] > row[col.REJECTED_LIKES]
    report = json.loads((folder / "report.json").read_text())
    assert sum(report["dispositions"].values()) == report["input_records"] and report["input"]["source"] == "data/v1"
    assert set(report["earlier_reply_share"]) == set(prefs.STAGES)
    assert {"README.md", "report.json", "funnel.png", "config.yaml"} <= {p.name for p in folder.iterdir()}
    card = (folder / "README.md").read_text()
    assert "## The timing confound" in card and "earlier reply is the chosen one" in card and str(tmp_path) not in card
    assert f"(v1, data sha256 {report['input']['data_sha256'][:12]})" in card
    assert yaml.safe_load((folder / "config.yaml").read_text())["preferences"]["min_like_ratio"] == 1.5
    # the same command again writes v2, never over v1
    assert main(command + ["--config", str(config), "--no-progress"]) == 0 and (tmp_path / "prefs" / "v2").is_dir()


def test_the_demo_sample_shows_the_timing_confound_and_the_exposure_control_removes_it(tmp_path, monkeypatch):
    """`make demo`'s preferences stage: the bundled sample, built and curated as the demo does, then paired with the
    demo config. Its second-wave replies earn fewer likes (make_demo_tweets.ReplyWaves), so the earlier reply wins
    most pairs passing the margins; inside the exposure window the share is near 50%; enough pairs are left for DPO."""
    from scripts.demo import DEMO_PSEUDONYM_KEY
    from tests.paths import REPO_ROOT

    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)  # the demo's ids, hence its cap order
    demo_config = str(REPO_ROOT / "data_prep" / "configs" / "demo.yaml")
    data = tmp_path / "data"
    sample = str(REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl")
    assert main(["build", "--config", demo_config, "--input", sample, "--output", str(data), "--no-progress"]) == 0
    assert main(["curate", "auto", "--dataset", f"{data}@v1", "--output", str(data)]) == 0
    command = ["preferences", "--dataset", f"{data}@v2", "--output", str(tmp_path / "prefs"), "--config", demo_config]
    assert main(command + ["--no-progress"]) == 0
    report = json.loads((tmp_path / "prefs" / "v1" / "report.json").read_text())
    before, within = (report["earlier_reply_share"][stage] for stage in ("margin_passing", "within_exposure_window"))
    assert before["share"] >= 0.6 and before["ci95"][0] > 0.5, before  # the confound, beyond chance
    assert abs(within["share"] - 0.5) <= 0.05 and within["ci95"][0] < 0.5 < within["ci95"][1], within  # controlled
    assert report["dispositions"][prefs.OUTSIDE_EXPOSURE_WINDOW] >= 100
    assert report["splits"]["train"] >= 60 and report["splits"]["eval"] >= 12, report["splits"]  # DPO train and eval


def test_a_push_is_private_and_tagged(hub_endpoint, tmp_path, capsys):
    from huggingface_hub import HfApi, hf_hub_download

    cli_version(tmp_path)
    repo, api = f"{USER}/reply-preferences", HfApi()

    def command(output: str, repo_id: str) -> list[str]:
        arguments = ["preferences", "--dataset", str(tmp_path / "data"), "--output", str(tmp_path / output)]
        return arguments + ["--no-progress", "--push-to-hub", repo_id, "--version", "v1"]

    assert main(command("prefs", repo)) == 0, capsys.readouterr().err
    assert hub_endpoint.is_private(repo, "dataset")
    assert {tag.name for tag in api.list_repo_refs(repo, repo_type="dataset").tags} == {"v1"}
    pushed = load_dataset(repo, revision="v1")
    local = load_dataset(str(tmp_path / "prefs" / "v1"), cache_dir=str(tmp_path / "cache"))
    assert {name: split.to_list() for name, split in pushed.items()} == {n: s.to_list() for n, s in local.items()}
    report = hf_hub_download(repo, "report.json", repo_type="dataset", revision="v1", local_dir=tmp_path / "hub")
    assert json.loads(open(report).read())["hub_repo"] == repo
    assert {"README.md", "report.json", "funnel.png", "config.yaml"} <= set(
        api.list_repo_files(repo, repo_type="dataset", revision="v1")
    )
    # a tag is never reused, and a private dataset never goes into a public repo
    capsys.readouterr()
    assert main(command("again", repo)) == 2
    assert "already has a tag v1" in capsys.readouterr().err
    api.create_repo(f"{USER}/public", repo_type="dataset", private=False)
    assert main(command("public", f"{USER}/public")) == 2
    assert "exists and is public" in capsys.readouterr().err
    assert not (tmp_path / "again").exists() and not (tmp_path / "public").exists()


def test_a_hub_version_is_read_by_its_tag_and_named_with_its_commit(hub_endpoint, tmp_path):
    from datasets import DatasetDict

    from data_prep.publish import push_version
    from replytune.versions import data_sha256

    source = cli_version(tmp_path)
    repo = f"{USER}/reply-pairs"
    commit = push_version(repo, "v1", DatasetDict(load_dataset(str(source), cache_dir=str(tmp_path / "c"))), source)
    folder = prefs.build_preferences(f"{repo}@v1", tmp_path / "prefs", CONFIG)
    report = json.loads((folder / "report.json").read_text())
    # the Hub copy of the version and its local folder hold the same data: the same data hash names both
    assert report["input"] | {"privacy": None} == {
        "source": f"{repo}@v1", "version": "v1", "hub_repo": repo, "hub_commit": commit,
        "data_sha256": data_sha256(source), "privacy": None,
    }  # fmt: skip
    local = prefs.build_preferences(str(source), tmp_path / "prefs", CONFIG)
    local_report = json.loads((local / "report.json").read_text())
    assert local_report["dispositions"] == report["dispositions"]
    assert local_report["input"]["data_sha256"] == report["input"]["data_sha256"]
    assert f"commit {commit}" in (folder / "README.md").read_text()


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("preferences: {min_like_ratio: -2}\n", "min_like_ratio"),
        ("preferences: {min_like_ratio: 0.5}\n", "min_like_ratio"),
        ("preferences: {min_like_difference: -1}\n", "min_like_difference"),
        ("preferences: {min_like_difference: 1.5}\n", "preferences.min_like_difference"),
        ("preferences: {max_delay_ratio: -1.5}\n", "max_delay_ratio"),
        ("preferences: {max_delay_difference_seconds: -60}\n", "max_delay_difference_seconds"),
        ("preferences: {max_pairs_per_tweet: 0}\n", "max_pairs_per_tweet"),
        ("preferences: {max_delay_ratio: null, max_delay_difference_seconds: null}\n", "exposure_control"),
        ("preferences: {normalise_by_followers: true}\n", "normalise_by_followers"),
        ("preferences: {exposure_control: sometimes}\n", "preferences.exposure_control"),
    ],
)
def test_a_bad_preferences_field_fails_in_one_line_naming_it(tmp_path, capsys, yaml_text, named):
    source = cli_version(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    command = ["preferences", "--dataset", str(source), "--output", str(tmp_path / "prefs"), "--config", str(config)]
    assert main(command) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and named in error and str(config) in error
    assert not (tmp_path / "prefs").exists()


def test_a_damaged_source_version_fails_in_one_line_naming_its_file(tmp_path, capsys):
    """A copy cut short (a full disk, an interrupted rsync) is refused naming the file, before any pair is written."""
    source = cli_version(tmp_path)
    damaged = next((source / "data").glob("train-*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:100])
    capsys.readouterr()  # the fixture's own progress bars
    command = ["preferences", "--dataset", str(source), "--output", str(tmp_path / "prefs"), "--no-progress"]
    assert main(command) == 2  # refused input, not a crash (1)
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(damaged) in error and "not a readable parquet file" in error
    assert not (tmp_path / "prefs" / "v1").exists()


def test_exposure_control_off_needs_no_window(tmp_path):
    path = tmp_path / "off.yaml"
    path.write_text(
        "preferences: {exposure_control: false, max_delay_ratio: null, max_delay_difference_seconds: null}\n"
    )
    assert load_config(path).preferences.exposure_control is False


def test_default_yaml_documents_every_preferences_field():
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()
    section = lines[lines.index("preferences:") + 1 :]
    keys = [
        line.split(":")[0].strip() for line in section if line.startswith("  ") and not line.strip().startswith("#")
    ]
    assert keys == [field.name for field in dataclasses.fields(PreferencesConfig)]
    for key in keys:
        above = section[[line.split(":")[0].strip() for line in section].index(key) - 1]
        assert above.strip().startswith("#") or above.split(":")[0].strip() in keys  # a group under one comment
    demo = load_config(DEFAULT_CONFIG_PATH.with_name("demo.yaml")).preferences
    assert demo != PreferencesConfig() and demo.exposure_control


# --- hostile input --------------------------------------------------------------------------------------------------


def test_ten_thousand_replies_to_one_tweet_stay_fast_and_capped():
    chance = random.Random(1)
    viral = [
        reply(f"v{n:05d}", "viral", chance.randint(0, 400), float(chance.randint(0, 86_400))) for n in range(10_000)
    ]
    rows = {"train": viral + [reply("q1", "quiet", 9, 100.0), reply("q2", "quiet", 1, 110.0)]}
    started = time.perf_counter()
    result = prefs.find_preferences(rows, PreferencesConfig())
    seconds = time.perf_counter() - started
    assert seconds < 60, f"{seconds:.1f} s for 50 million candidate pairs"
    assert result.funnel.input_records == 10_000 * 9_999 // 2 + 1
    per_tweet = Counter(row[col.TWEET_ID] for row in result.rows["train"])
    assert per_tweet == {"tweet-viral": 10, "tweet-quiet": 1}
    assert result.funnel.dispositions[prefs.OVER_TWEET_CAP] > 1_000_000
    assert result.earlier_reply_share["within_exposure_window"]["ci95"] is not None


def test_the_rows_are_what_trl_reads_as_conversational_preferences(real_qwen3_tokenizer):
    """TRL's own helpers (those DPOTrainer runs) render a row as prompt / chosen / rejected with the real Qwen3
    template: the prompt ends where the assistant turn starts, and each reply is one whole assistant turn."""
    from trl.data_utils import apply_chat_template, is_conversational

    rows = {"train": [reply("a", "t", 40, 100.0), reply("b", "t", 3, 110.0)]}
    (row,) = prefs.find_preferences(rows, PreferencesConfig()).rows["train"]
    assert is_conversational(row)
    rendered = apply_chat_template(
        {name: row[name] for name in ("prompt", "chosen", "rejected")}, real_qwen3_tokenizer
    )
    assert rendered["prompt"].endswith("<|im_start|>assistant\n") and "Generate an engaging" in rendered["prompt"]
    for name in ("chosen", "rejected"):
        assert rendered[name].endswith(row[name][0]["content"] + "<|im_end|>\n")
        assert "<|im_start|>" not in rendered[name]
