"""The offline engagement scorer: targets normalized within each conversation, a fit that finds a real signal when
there is one (synthetic embeddings), its held-out fit, and `judge score --judge engagement` on a dataset folder."""

import json
import zlib

import numpy as np
import pytest
import yaml

from judge.__main__ import main
from judge.config import EngagementJudgeConfig
from judge.records import VerdictRecord, read_records
from judge.score.backends.engagement import (
    EngagementJudge,
    EngagementScorer,
    ReplyExample,
    engagement_targets,
    fit_scorer,
    held_out_fit,
)
from judge.score.tasks import pairwise_tasks, single_task
from tests.judge_helpers import synthetic_examples, write_dataset, write_generations


def test_targets_are_log_likes_standardized_within_each_conversation():
    targets = engagement_targets(["a", "a", "a", "b", "b", "c"], [0, 9, 99, 5, 5, 1000])
    logs = np.log1p([0, 9, 99])
    assert targets[:3] == pytest.approx((logs - logs.mean()) / logs.std())
    assert list(targets[3:]) == [0.0, 0.0, 0.0]  # equal likes, and a lone reply: nothing to rank


class KeywordEmbedder:
    """Synthetic unit vectors: dimension 0 says whether the reply holds the word 'benchmark', the rest is noise
    seeded by the text; in the synthetic data below, replies with a benchmark get more likes."""

    model_name = "synthetic"

    def __call__(self, texts):
        rows = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            vector = rng.normal(size=16) * 0.3
            vector[0] = 1.0 if "benchmark" in text else -1.0
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows)


def test_the_fit_finds_a_real_signal_and_reports_its_held_out_fit():
    embed = KeywordEmbedder()
    config = EngagementJudgeConfig()
    scorer, fit = fit_scorer(synthetic_examples(30, seed=1), embed, config, embed.model_name)
    assert fit["train_conversations"] == 30 and fit["train_replies"] == 120 and fit["alpha"] in config.alphas
    held_out = held_out_fit(scorer, synthetic_examples(10, seed=2), embed, config.min_replies_per_conversation)
    assert held_out["pairs"] == 40 and held_out["pairwise_accuracy"] == 1.0 and held_out["spearman_rho"] > 0.7
    judge = EngagementJudge(scorer, embed)
    tasks = pairwise_tasks("t", "tweet", ("base", "a plain reply"), ("adapter", "a reply with a benchmark")) + [
        single_task("t", "tweet", "adapter", "a reply with a benchmark"),
        single_task("t", "tweet", "base", "a plain reply"),
    ]
    first, second, adapter, base = judge.judge_tasks(tasks)
    assert (first.label, second.label) == ("B", "A")  # the same reply wins in both positions
    assert adapter.score > base.score


def test_too_little_training_data_is_refused_with_the_reason():
    from judge.score.backends import JudgeUnavailable

    one_conversation = synthetic_examples(1, seed=3)
    with pytest.raises(JudgeUnavailable, match="at least 2 are needed"):
        fit_scorer(one_conversation, KeywordEmbedder(), EngagementJudgeConfig(), "synthetic")


def test_a_saved_scorer_loads_back_identical(tmp_path):
    scorer = EngagementScorer(np.arange(5.0), 0.25, 10.0, "synthetic", "f" * 64)
    scorer.save(tmp_path / "scorer.npz")
    loaded = EngagementScorer.load(tmp_path / "scorer.npz")
    assert np.array_equal(loaded.weights, scorer.weights)
    assert (loaded.intercept, loaded.alpha, loaded.embedding_model, loaded.fingerprint) == (
        0.25,
        10.0,
        "synthetic",
        "f" * 64,
    )


@pytest.mark.slow
def test_score_with_the_engagement_judge_on_a_dataset_folder(tmp_path):
    """The user's path: the real embedding model, fitted on the TRAIN split, its held-out fit written beside the
    verdicts, and the fitted scorer cached (a second run does not fit again)."""
    write_dataset(tmp_path / "dataset" / "v1", {"train": 12, "test": 4})
    generations = write_generations(tmp_path / "generations.jsonl", items=4)
    config = tmp_path / "config.yaml"  # names another dataset, as demo.yaml does; --train-dataset wins
    config.write_text("score:\n  engagement:\n    train_dataset: demo_output/data\n    train_dataset_revision: v1\n")
    command = [
        "score",
        "--config",
        str(config),
        "--generations",
        str(generations),
        "--judge",
        "engagement",
        "--train-dataset",
        f"{tmp_path / 'dataset'}@v1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    assert main([*command, "--output", str(tmp_path / "out")]) == 0
    fit = json.loads((tmp_path / "out" / "engagement_fit.json").read_text())
    assert fit["dataset"].endswith("@v1") and fit["fit"]["train_replies"] == 48
    assert fit["dataset_identity"]["name"] == fit["dataset"] and fit["dataset_identity"]["synthetic"] is False
    written = yaml.safe_load((tmp_path / "out" / "score_config.yaml").read_text())["score"]["engagement"]
    assert (written["train_dataset"], written["train_dataset_revision"]) == (fit["dataset"], None)  # what was read
    assert set(fit["held_out"]) == {"test"} and fit["held_out"]["test"]["pairs"] == 16
    lines = [record for _, record in read_records(tmp_path / "out" / "verdicts.jsonl", VerdictRecord)[0]]
    assert len(lines) == 16 and all(v.judge == "engagement" and v.cost_usd == 0 for v in lines)
    for item in {v.item_id for v in lines}:
        orders = [v.winner for v in lines if v.item_id == item and v.kind == "pairwise"]
        assert len(orders) == 2 and orders[0] == orders[1]  # position cannot matter to a scorer
    assert len(list((tmp_path / "cache" / "engagement").glob("*.npz"))) == 1
    assert main([*command, "--output", str(tmp_path / "again")]) == 0
    assert len(list((tmp_path / "cache" / "engagement").glob("*.npz"))) == 1


def test_engagement_without_training_data_is_refused(tmp_path, capsys):
    generations = write_generations(tmp_path / "generations.jsonl", items=2)
    assert (
        main(
            [
                "score",
                "--generations",
                str(generations),
                "--judge",
                "engagement",
                "--output",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "--train-dataset" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# The pairwise judge (score.engagement.model: pairwise, the default)
# --------------------------------------------------------------------------------------------------------------------

NUMBERED = ["down to {n} ms after that", "we saw {n}% fewer pages", "{n} nodes, same bill", "took {n} minutes"]
WORDY = [
    "thanks for sharing this, it is a really interesting point of view on the whole topic of {w}",
    "honestly I have been thinking about {w} for a long time and I am not sure what to make of it all",
    "great thread, people should read this carefully before they form any opinion about {w} at all",
    "this is the kind of discussion about {w} that we need more of, thank you for starting it here",
]


def topic(seed: int, conversation: int) -> str:
    """A word of letters only, one per conversation (a digit in it would give the wordy reply a number too)."""

    def letters(number: int) -> str:
        return "".join("abcdefghij"[int(digit)] for digit in str(number))

    return f"topic{letters(seed)}x{letters(conversation)}"


def number_wins(conversations: int, seed: int) -> list[ReplyExample]:
    """Replies with a number are short and liked (20-60), wordy replies without one are long and liked little (0-9):
    the longer reply is nearly always wrong, the one with a number right. Two tweets per conversation (a reply to a
    reply, as real threads have) with two replies each."""
    rng = np.random.default_rng(seed)
    examples = []
    for c in range(conversations):
        for tweet in ("root", "reply"):
            for kind in ("numbered", "wordy"):
                if kind == "numbered":
                    text = NUMBERED[rng.integers(len(NUMBERED))].format(n=int(rng.integers(2, 999)))
                    likes = int(rng.integers(20, 60))
                else:
                    text = WORDY[rng.integers(len(WORDY))].format(w=topic(seed, c))
                    likes = int(rng.integers(0, 10))
                conversation = f"s{seed}-c{c}"
                examples.append(
                    ReplyExample(conversation, f"tweet {conversation} {tweet}", text, likes, f"{conversation}-{tweet}")
                )
    return examples


def pair_accuracy(examples, scores) -> tuple[float, float]:
    """(the scores', the longer reply's) accuracy on the within-tweet pairs with different likes; ties earn half."""
    from judge.score.backends.engagement_pairwise import within_tweet_pairs

    credit = []
    length = []
    for i, j, first_more in within_tweet_pairs(examples):
        margin = scores[i] - scores[j]
        credit.append(0.5 if abs(margin) <= 1e-9 else float((margin > 0) == first_more))
        gap = len(examples[i].reply_text) - len(examples[j].reply_text)
        length.append(0.5 if gap == 0 else float((gap > 0) == first_more))
    return float(np.mean(credit)), float(np.mean(length))


def test_the_pairwise_judge_learns_a_text_signal_that_length_misses():
    from judge.score.backends.engagement_pairwise import fit_pairwise_scorer

    config = EngagementJudgeConfig()
    scorer, fit = fit_pairwise_scorer(number_wins(24, seed=1), config)
    assert fit["train_conversations"] == 24 and fit["train_pairs"] == 24 * 2  # 1 pair per tweet, 2 tweets each
    assert fit["C"] in config.pairwise_cs and fit["gamma"] in config.pairwise_gammas
    assert set(fit["inner_cv_by_setting"]) == {
        f"C={c},gamma={g}" for c in config.pairwise_cs for g in config.pairwise_gammas
    }
    held_out = number_wins(12, seed=2)
    scores = scorer.score_texts([e.tweet_text for e in held_out], [e.reply_text for e in held_out])
    accuracy, longer = pair_accuracy(held_out, scores)
    assert accuracy == 1.0 and longer == 0.0
    coefficients = scorer.coefficients()
    assert coefficients["has_number"] > 0 and coefficients["log_chars"] < 0

    judge = EngagementJudge(scorer)
    assert judge.model == f"pairwise-lr[text-v2]@{scorer.fingerprint[:12]}" and judge.order_invariant
    assert judge.prompt_version == "engagement-text-v2" and "ridge" not in judge.model
    tasks = pairwise_tasks("t", "tweet", ("base", WORDY[0].format(w="x")), ("adapter", "cut it to 40 ms")) + [
        single_task("t", "tweet", "adapter", "cut it to 40 ms"),
        single_task("t", "tweet", "base", WORDY[0].format(w="x")),
    ]
    first, second, adapter, base = judge.judge_tasks(tasks)
    assert (first.label, second.label) == ("B", "A")  # the same reply wins in both positions
    assert adapter.score > base.score


def test_the_pairwise_judge_fits_within_tweet_pairs_of_the_train_split_only_and_judges_texts_alone(tmp_path):
    """Pairs are two replies to ONE tweet (a conversation with two tweets gives no cross-tweet pair); the IDF table
    and the fit come from the TRAIN split (the test split's likes can be anything: same fit); a verdict is a
    function of the texts: a task carries no likes, time or followers, and the scorer reads none."""
    import dataclasses
    import inspect

    from judge.score.backends.engagement import engagement_judge_from_dataset, examples_from_rows
    from judge.score.backends.engagement_pairwise import PairwiseScorer, pairwise_fingerprint, within_tweet_pairs
    from judge.score.tasks import JudgeTask

    examples = number_wins(3, seed=5)
    pairs = within_tweet_pairs(examples)
    assert len(pairs) == 6 and all(examples[i].tweet_id == examples[j].tweet_id for i, j, _ in pairs)

    config = EngagementJudgeConfig()
    train = number_wins(10, seed=3)
    scrambled = number_wins(4, seed=4)
    judges = []
    for name, test in (("plain", number_wins(4, seed=4)), ("reversed", [
        dataclasses.replace(e, likes=60 - e.likes) for e in scrambled
    ])):  # fmt: skip
        write_examples(tmp_path / name / "v1", {"train": train, "test": test})
        cache = tmp_path / name / "cache"
        judge, report = engagement_judge_from_dataset(config, cache, f"{tmp_path / name}@v1", False)
        judges.append((judge, report))
        rows = read_split(tmp_path / name / "v1", "train")
        assert judge.scorer.fingerprint == pairwise_fingerprint(examples_from_rows(rows), config)
        assert report["fit"]["train_pairs"] == 20 and report["fit"]["idf_texts"] == len(train)
    (plain, plain_report), (reversed_, reversed_report) = judges
    assert plain.model == reversed_.model  # fitted twice (two caches): the test split's likes did not shape the fit
    # the held-out fit ranks every two replies of a test conversation (across its two tweets too): the numbered
    # replies win; reversing the test likes reverses every ordering it counts, and nothing else
    held_out = plain_report["held_out"]["test"]["pairwise_accuracy"]
    assert held_out > 0.8 and reversed_report["held_out"]["test"]["pairwise_accuracy"] == round(1 - held_out, 4)
    assert plain.scorer.idf.df.get(topic(4, 0)) is None  # a test-split word: unseen by the IDF table

    fields = {field.name for field in dataclasses.fields(JudgeTask)}
    assert not fields & {"likes", "reply_likes", "created_at", "followers", "author_followers"}
    for function in (PairwiseScorer.score_texts, PairwiseScorer.features):
        assert list(inspect.signature(function).parameters)[:3] == ["self", "tweets", "replies"]


def write_examples(folder, splits: dict) -> None:
    """A data_prep-shaped version of ReplyExamples (tweet ids kept)."""
    from datasets import Dataset

    (folder / "data").mkdir(parents=True)
    for split, examples in splits.items():
        rows = [
            {
                "tweet_text": e.tweet_text,
                "reply_text": e.reply_text,
                "tweet_id": e.tweet_id,
                "reply_id": f"{split}-{number}",
                "conversation_id": e.conversation_id,
                "reply_likes": e.likes,
            }
            for number, e in enumerate(examples)
        ]
        Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")


def read_split(folder, split: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(folder / "data" / f"{split}-00000-of-00001.parquet").to_pylist()


def test_a_fitted_pairwise_judge_reloads_from_the_cache_and_scores_identically_without_the_data(tmp_path):
    from judge.score.backends.engagement import load_scorer
    from judge.score.backends.engagement_pairwise import fit_pairwise_scorer

    scorer, _ = fit_pairwise_scorer(number_wins(12, seed=6), EngagementJudgeConfig())
    scorer.save(tmp_path / "scorer.npz")
    del scorer.idf.df["took"]  # the original's table changed after saving: the file keeps its own copy
    loaded = load_scorer(tmp_path / "scorer.npz")
    original, _ = fit_pairwise_scorer(number_wins(12, seed=6), EngagementJudgeConfig())
    texts = [e.reply_text for e in number_wins(5, seed=7)] + ["took 5 minutes @someone https://t.co/x?", ""]
    tweets = ["a tweet"] * len(texts)
    assert np.array_equal(loaded.score_texts(tweets, texts), original.score_texts(tweets, texts))
    assert (loaded.model_id, loaded.C, loaded.gamma, loaded.inner_cv, loaded.feature_names) == (
        original.model_id,
        original.C,
        original.gamma,
        original.inner_cv,
        original.feature_names,
    )
    assert loaded.idf.n == original.idf.n and loaded.idf.df == original.idf.df
    assert EngagementJudge(loaded).identity() == EngagementJudge(original).identity()


def test_the_judges_identity_changes_with_its_training_data_and_settings(tmp_path):
    """The model id (and so the fingerprint every verdict, validity.json and the cache key carry) names the fit: a
    changed like in TRAIN, or another C grid, is another judge; the same data and settings are the same judge."""
    import dataclasses

    from judge.score.backends.engagement import engagement_judge_from_dataset

    train = number_wins(8, seed=8)
    changed = [dataclasses.replace(train[0], likes=train[0].likes + 1), *train[1:]]
    test = number_wins(3, seed=9)
    for name, rows in (("a", train), ("b", changed)):
        write_examples(tmp_path / name / "v1", {"train": rows, "test": test})
    config = EngagementJudgeConfig()

    def identity(name, settings=config):
        judge, _ = engagement_judge_from_dataset(settings, tmp_path / "cache", f"{tmp_path / name}@v1", False)
        return judge.identity()

    first = identity("a")
    assert first["model"].startswith("pairwise-lr[text-v2]@") and first["order_invariant"] is True
    assert identity("a") == first  # the cached fit: the same judge
    assert identity("b")["model"] != first["model"] and identity("b")["fingerprint"] != first["fingerprint"]
    other_grid = dataclasses.replace(config, pairwise_cs=[0.1, 1.0])
    assert identity("a", other_grid)["model"] != first["model"]
    other_features = dataclasses.replace(config, pairwise_features=["words", "has_number"])
    assert identity("a", other_features)["fingerprint"] != first["fingerprint"]
    assert len(list((tmp_path / "cache" / "engagement").glob("*.npz"))) == 4


def test_the_engagement_model_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match="pairwise_features"):
        EngagementJudgeConfig(pairwise_features=["words", "likes"])
    with pytest.raises(ValueError, match="pairwise_cs"):
        EngagementJudgeConfig(pairwise_cs=[float("nan")])
    with pytest.raises(ValueError, match="pairwise_gammas"):
        EngagementJudgeConfig(pairwise_gammas=[2.0])
    from judge.config import ConfigError, load_judge_config

    assert load_judge_config().score.engagement.model == "pairwise"
    config = tmp_path / "config.yaml"
    config.write_text("score:\n  engagement:\n    model: bert\n")
    with pytest.raises(ConfigError, match="model"):
        load_judge_config(config)
    config.write_text("score:\n  engagement:\n    model: ridge\n")
    assert load_judge_config(config).score.engagement.model == "ridge"


def test_too_few_conversations_with_a_within_tweet_pair_are_refused():
    from judge.score.backends import JudgeUnavailable
    from judge.score.backends.engagement_pairwise import fit_pairwise_scorer

    with pytest.raises(JudgeUnavailable, match="at least 2 are needed"):
        fit_pairwise_scorer(number_wins(1, seed=3), EngagementJudgeConfig())


def test_the_card_describes_the_pairwise_engagement_model_as_what_it_is():
    from types import SimpleNamespace

    from judge.publish.card import judge_description

    evaluation = SimpleNamespace(score_report={"judge": "engagement", "model": "pairwise-lr[text-v2]@0123456789ab"})
    described = judge_description({"judge": "engagement"}, evaluation)
    assert "pairwise logistic regression on plain text features" in described and "ridge" not in described
    assert described.endswith("`pairwise-lr[text-v2]@0123456789ab`")


def test_two_versions_sharing_a_train_split_share_the_fit_but_not_the_held_out_figures(tmp_path):
    """The cached fit is keyed on TRAIN; the held-out figures and the dataset's name belong to the version read."""
    from judge.score.backends.engagement import engagement_judge_from_dataset

    train = number_wins(8, seed=8)
    write_examples(tmp_path / "a" / "v1", {"train": train, "test": number_wins(3, seed=9)})
    write_examples(tmp_path / "b" / "v1", {"train": train, "test": number_wins(6, seed=10)})
    config = EngagementJudgeConfig()
    judge_a, report_a = engagement_judge_from_dataset(config, tmp_path / "cache", f"{tmp_path / 'a'}@v1", False)
    judge_b, report_b = engagement_judge_from_dataset(config, tmp_path / "cache", f"{tmp_path / 'b'}@v1", False)
    assert judge_a.identity() == judge_b.identity() and report_a["fit"] == report_b["fit"]  # one fit, reused
    assert len(list((tmp_path / "cache" / "engagement").glob("*.npz"))) == 1
    assert report_a["held_out"]["test"]["pairs"] < report_b["held_out"]["test"]["pairs"]
    assert report_a["dataset"].startswith(str(tmp_path / "a")) and report_b["dataset"].startswith(str(tmp_path / "b"))
    again = engagement_judge_from_dataset(config, tmp_path / "cache", f"{tmp_path / 'a'}@v1", False)[1]
    assert again == report_a
