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
