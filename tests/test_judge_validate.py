"""Judge validity: the metrics on hand-made verdicts (orders combined, bootstrap by conversation, consistency, length
bias), and `python -m judge validate` on the real RumourEval threads (figures stated, no threshold asserted)."""

import json

import numpy as np
import pytest

from judge.__main__ import main
from judge.records import VerdictRecord, combine_orders
from judge.score.backends import claude
from judge.validate.metrics import ConversationBootstrap, judge_validity, length_credit
from judge.validate.threads import LikePair, RealReply, like_pairs, replies_from_tweet_files
from standins.anthropic_api import FakeAnthropic
from standins.judge_answers import always_first, prefers_longer
from tests.judge_helpers import write_dataset


def reply(conversation, reply_id, text, likes):
    return RealReply(conversation, f"{conversation}-root", "the tweet", reply_id, text, likes)


def verdict(pair: LikePair, order: int, winner: str | None, parse_error: str | None = None) -> VerdictRecord:
    compared = [pair.first.reply_id, pair.second.reply_id]
    return VerdictRecord(
        item_id=pair.item_id,
        kind="pairwise",
        judge="j",
        model="m",
        prompt_version="v",
        input_hash="h",
        systems=compared if order == 1 else compared[::-1],  # as shown
        order=order,
        winner=winner,
        parse_error=parse_error,
    )


def test_orders_combine_into_one_verdict_and_disagreement_is_a_tie():
    pair = LikePair(reply("c", "r1", "short", 5), reply("c", "r2", "a longer reply", 1))
    agree = combine_orders([verdict(pair, 1, "r1"), verdict(pair, 2, "r1")])[(pair.item_id, ("r1", "r2"))]
    assert (agree.winner, agree.consistent, agree.first_position_picks) == ("r1", True, 1)
    disagree = combine_orders([verdict(pair, 1, "r1"), verdict(pair, 2, "r2")])[(pair.item_id, ("r1", "r2"))]
    assert (disagree.winner, disagree.consistent, disagree.first_position_picks) == ("tie", False, 2)
    half = combine_orders([verdict(pair, 1, "r1"), verdict(pair, 2, None, "not JSON")])[(pair.item_id, ("r1", "r2"))]
    assert (half.winner, half.consistent, half.parsed_orders) == ("tie", None, 1)


def test_the_bootstrap_resamples_conversations_not_pairs():
    # Two conversations of 10 pairs each, one all right and one all wrong: resampling conversations gives
    # accuracies 0, 0.5 or 1 (p = 1/4, 1/2, 1/4), so the 95% interval is [0, 1]; resampling pairs would give
    # an interval near 0.5 +- 0.22, far too sure of itself.
    bootstrap = ConversationBootstrap(["a"] * 10 + ["b"] * 10, resamples=2000, confidence=0.95, seed=0)
    assert bootstrap.interval(np.array([1.0] * 10 + [0.0] * 10)) == (0.0, 1.0)
    assert bootstrap.interval(np.ones(20)) == (1.0, 1.0)


def synthetic_pairs():
    pairs = []
    for c in range(12):
        ids = "abc" if c % 2 else "cba"  # the longer reply comes first in half of the conversations
        liked_long = reply(f"c{c}", f"r{c}{ids[0]}", "a long and specific reply " * (1 + c % 3), 10 + c)
        generic = reply(f"c{c}", f"r{c}{ids[1]}", "ok, thanks for sharing", 0)
        liked_short = reply(f"c{c}", f"r{c}{ids[2]}", "yes!", 3)
        pairs += like_pairs([liked_long, generic, liked_short])  # length is right on 2 of the 3 pairs
    return pairs


def report_for(pairs, records):
    bootstrap = ConversationBootstrap([p.conversation_id for p in pairs], 1000, 0.95, 0)
    return judge_validity(pairs, records, bootstrap, np.array([length_credit(p) for p in pairs]))


def test_a_judge_that_only_prefers_length_does_not_beat_the_length_baseline():
    pairs = synthetic_pairs()
    longer = [
        p.first.reply_id if len(p.first.reply_text) > len(p.second.reply_text) else p.second.reply_id for p in pairs
    ]
    records = [verdict(p, order, winner) for p, winner in zip(pairs, longer) for order in (1, 2)]
    result = report_for(pairs, records)
    length_accuracy = np.mean([length_credit(p) for p in pairs])
    assert result["accuracy"] == pytest.approx(length_accuracy, abs=1e-4)
    assert result["minus_length_baseline"]["difference"] == 0 and not result["beats_length_baseline"]
    assert result["longer_reply_rate"] == 1.0 and result["length_bias_spearman"] > 0.8
    assert result["position_consistency"] == 1.0


def test_an_oracle_beats_it_and_a_position_biased_judge_is_caught():
    pairs = synthetic_pairs()
    oracle = report_for(pairs, [verdict(p, order, p.liked_more) for p in pairs for order in (1, 2)])
    assert oracle["accuracy"] == 1.0 and oracle["beats_length_baseline"]
    biased = report_for(
        pairs, [verdict(p, o, (p.first if o == 1 else p.second).reply_id) for p in pairs for o in (1, 2)]
    )
    assert biased["position_consistency"] == 0.0 and biased["first_position_rate"] == 1.0
    assert biased["accuracy"] == 0.5 and biased["ties"] == len(pairs)


RUMOUREVAL = ("tweets", "rumoureval2017_autoreleasefool")


def validate_40_real_pairs(threads, output, cache) -> int:
    return main([
        "validate", "--threads", str(threads), "--judge", "claude", "--max-pairs", "40", "--output", str(output),
        "--cache-dir", str(cache), "--no-progress",
    ])  # fmt: skip


def test_validate_an_api_judge_on_real_threads_through_the_command_line(realdata, tmp_path, monkeypatch, capsys):
    """A Claude judge (canned: it always prefers the longer reply) on 40 real reply pairs: both orders are
    requested, the figures land in validity.json/.md/.png, and such a judge is reported as not beating length."""
    threads = realdata.joinpath(*RUMOUREVAL)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    fake = FakeAnthropic(policy=prefers_longer)
    monkeypatch.setattr(claude, "http_client_factory", fake.http_client)
    output = tmp_path / "validity"
    assert validate_40_real_pairs(threads, output, tmp_path / "cache") == 0
    report = json.loads((output / "validity.json").read_text())
    assert report["pairs"] == 40 and len(fake.messages_sent()) == 80
    result = report["judges"]["claude"]
    assert result["accuracy"] == report["baselines"]["longer_reply"]["accuracy"]
    assert result["beats_length_baseline"] is False and result["position_consistency"] == 1.0
    assert "does NOT beat" in (output / "validity.md").read_text()
    assert (output / "validity.png").stat().st_size > 0
    capsys.readouterr()
    # a judge of pure position bias: every pair a tie, a coin's 50% by construction: no figure, a clear error
    fake.policy = always_first
    assert validate_40_real_pairs(threads, tmp_path / "biased", tmp_path / "cache2") == 1
    biased = json.loads((tmp_path / "biased" / "validity.json").read_text())
    assert "claude" not in biased["judges"]
    assert biased["not_measured"]["claude"].startswith("it gave the same answer (reply A) to all 80 pairwise")
    printed = capsys.readouterr()
    assert "no validity figure" in printed.err and "agrees with real likes" not in printed.out


@pytest.mark.slow
def test_engagement_scorer_and_length_baseline_on_rumoureval(realdata, tmp_path, capsys):
    """The real-data validity check: every figure is computed and stated; none is held to a threshold."""
    threads = realdata.joinpath(*RUMOUREVAL)
    output = tmp_path / "validity"
    assert (
        main(
            [
                "validate",
                "--threads",
                str(threads),
                "--judge",
                "engagement",
                "--output",
                str(output),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((output / "validity.json").read_text())
    # The pairs and the length baseline, recomputed here from data_prep's readers.
    replies, _ = replies_from_tweet_files([threads])
    pairs = like_pairs(replies)
    assert report["pairs"] == len(pairs) and report["conversations"] == len({p.conversation_id for p in pairs})
    assert report["baselines"]["longer_reply"]["accuracy"] == round(np.mean([length_credit(p) for p in pairs]), 4)
    engagement = report["judges"]["engagement"]
    for result in (engagement, report["baselines"]["longer_reply"], report["baselines"]["coin_flip"]):
        low, high = result["ci"]
        assert 0 <= low <= result["accuracy"] <= high <= 1
    assert engagement["incomplete_pairs"] == 0 and engagement["position_consistency"] == 1.0
    assert engagement["held_out_fit"]["replies"] == len(replies)
    # issue 20: the default engagement model is the pairwise one, and every reply's time is known in these threads,
    # so the earlier-reply baseline is written beside the longer reply and the coin (recomputed here)
    assert engagement["model"].startswith("pairwise-lr[text-v2]@crossfit5-") and "goal" in engagement
    assert all(reply.created_at for reply in replies) and "baselines_unknown" not in report
    times = {reply.reply_id: reply.created_at for reply in replies}
    earlier = [
        0.5 if times[p.first.reply_id] == times[p.second.reply_id]
        else float(min((times[p.first.reply_id], p.first.reply_id), (times[p.second.reply_id], p.second.reply_id))[1]
                   == p.liked_more)
        for p in pairs
    ]  # fmt: skip
    assert report["baselines"]["earlier_reply"]["accuracy"] == round(float(np.mean(earlier)), 4)
    print(
        f"\nRumourEval ({report['pairs']} pairs, {report['conversations']} conversations): engagement scorer "
        f"{engagement['accuracy']:.3f} {engagement['ci']}, longer reply {report['baselines']['longer_reply']}, "
        f"coin {report['baselines']['coin_flip']}; beats length: {engagement['beats_length_baseline']}; "
        f"held-out fit {engagement['held_out_fit']}"
    )


def test_validate_on_a_dataset_uses_its_held_out_split(tmp_path, monkeypatch):
    """A user's own data_prep dataset: pairs come from --split (test), never from the training split."""
    write_dataset(tmp_path / "dataset" / "v1", {"train": 6, "test": 3})
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    fake = FakeAnthropic(policy=prefers_longer)
    monkeypatch.setattr(claude, "http_client_factory", fake.http_client)
    assert (
        main(
            [
                "validate",
                "--dataset",
                f"{tmp_path / 'dataset'}@v1",
                "--judge",
                "claude",
                "--output",
                str(tmp_path / "out"),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "out" / "validity.json").read_text())
    assert report["source"].endswith("@v1 split test")
    assert (report["pairs"], report["conversations"]) == (12, 3)  # 3 test conversations x 4 pairs
    sent = [json.dumps(body) for body in fake.messages_sent()]
    assert len(sent) == 24 and not any("conv-5-" in body for body in sent)  # train conversations stay out


@pytest.mark.slow
def test_validate_the_engagement_scorer_fitted_on_train_against_the_test_split(tmp_path):
    write_dataset(tmp_path / "dataset" / "v1", {"train": 12, "test": 4})
    dataset, output, cache = tmp_path / "dataset" / "v1", tmp_path / "out", tmp_path / "cache"
    command = ["validate", "--dataset", str(dataset), "--judge", "engagement", "--output", str(output)]
    assert main([*command, "--cache-dir", str(cache), "--no-progress"]) == 0
    result = json.loads((output / "validity.json").read_text())["judges"]["engagement"]
    assert result["scheme"] == "train -> split" and result["fit"]["train_conversations"] == 12
    assert result["held_out_fit"]["pairs"] == 16 and result["held_out_fit"]["conversations"] == 4


def test_an_api_judge_that_judged_nothing_gets_no_figure_and_a_clear_error(tmp_path, capsys):
    """`--judge openai` with no server there: every request fails; no "agrees on 50.0%" is printed or written."""
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"score:\n  openai:\n    base_url: http://127.0.0.1:{port}/v1\n    max_retries: 0\n")
    write_dataset(tmp_path / "dataset" / "v1", {"train": 2, "test": 2})
    command = ["validate", "--config", str(config), "--dataset", str(tmp_path / "dataset" / "v1"), "--judge"]
    command += ["openai", "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(command) == 1
    printed = capsys.readouterr()
    assert "judge openai: no validity figure: it judged nothing: none of the 16 prompts" in printed.err
    assert "16 request(s) failed" in printed.err and "APIConnectionError" in printed.err
    assert "50.0%" not in printed.out + printed.err and "agrees with real likes" not in printed.out
    report = json.loads((tmp_path / "out" / "validity.json").read_text())
    assert report["judges"] == {} and "openai" in report["not_measured"]


def test_a_judge_that_cannot_run_stops_validate_before_any_other_judge_works(tmp_path, monkeypatch, capsys):
    """The README's first example without a key: `--judge engagement --judge claude` refuses at once, before the
    engagement scorer is fitted or judges anything."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    write_dataset(tmp_path / "dataset" / "v1", {"train": 6, "test": 2})
    command = ["validate", "--dataset", str(tmp_path / "dataset" / "v1"), "--judge", "engagement", "--judge"]
    command += ["claude", "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "judge claude" in err and "ANTHROPIC_API_KEY" in err and "nothing was judged, by any judge" in err
    assert not (tmp_path / "out" / "validation" / "verdicts-engagement.jsonl").exists()
    assert not (tmp_path / "cache" / "engagement").exists()


@pytest.mark.slow
def test_validate_records_the_dataset_version_and_the_judge_that_judge_score_used(tmp_path):
    """`--train-dataset` fits the engagement judge on the TRAIN split `judge score --train-dataset` used, so the judge
    validated is the judge that scored (same model id and settings hash); validity.json names the dataset version; a
    TRAIN split holding conversations of the pairs tested is refused."""
    import shutil

    from tests.judge_helpers import write_generations

    data = write_dataset(tmp_path / "data" / "v1", {"train": 12, "test": 4})
    cache = ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    command = ["validate", "--dataset", str(data), "--train-dataset", str(data), "--judge", "engagement"]
    assert main([*command, "--output", str(tmp_path / "validity"), *cache]) == 0
    report = json.loads((tmp_path / "validity" / "validity.json").read_text())
    assert report["dataset"]["data_sha256"] and report["split"] == "test" and report["dataset"]["synthetic"] is False
    assert report["train_dataset"]["data_sha256"] == report["dataset"]["data_sha256"]
    measured = report["judges"]["engagement"]["identity"]
    assert measured["order_invariant"] is True

    write_generations(tmp_path / "generations.jsonl", items=4)
    score = ["score", "--generations", str(tmp_path / "generations.jsonl"), "--judge", "engagement"]
    assert main([*score, "--train-dataset", str(data), "--output", str(tmp_path / "eval"), *cache]) == 0
    scored = json.loads((tmp_path / "eval" / "score_report.json").read_text())["judge_identity"]
    assert (scored["model"], scored["fingerprint"]) == (measured["model"], measured["fingerprint"])

    leaky = tmp_path / "leaky" / "v1"  # a TRAIN split that is the tested split
    (leaky / "data").mkdir(parents=True)
    shutil.copy(data / "data" / "test-00000-of-00001.parquet", leaky / "data" / "train-00000-of-00001.parquet")
    leaking = ["validate", "--dataset", str(data), "--train-dataset", str(leaky), "--judge", "engagement"]
    assert main([*leaking, "--output", str(tmp_path / "leaky-validity"), *cache]) == 2


# --------------------------------------------------------------------------------------------------------------------
# Issue 20: the earlier-reply and coin baselines beside the length baseline; the goal; the engagement model chosen
# --------------------------------------------------------------------------------------------------------------------


def timed(conversation, reply_id, text, likes, minute):
    return RealReply(
        conversation, f"{conversation}-root", "the tweet", reply_id, text, likes, f"2017-01-01T10:{minute:02d}:00"
    )


def test_the_earlier_reply_baseline_credits_the_reply_posted_first_and_needs_every_time():
    from judge.validate.metrics import earlier_credits

    pairs = like_pairs([
        timed("c", "r1", "first, liked most", 9, 1),
        timed("c", "r2", "second", 5, 2),
        timed("c", "r3", "posted with r2, liked least", 1, 2),
        timed("c", "r4", "posted last, liked more than r3", 3, 59),
    ])  # fmt: skip
    credits = dict(zip([p.item_id for p in pairs], earlier_credits(pairs)))
    assert credits == {
        "c-root:r1:r2": 1.0,  # r1 earlier and liked more
        "c-root:r1:r3": 1.0,
        "c-root:r1:r4": 1.0,
        "c-root:r2:r3": 0.5,  # the same minute: half, as a tie
        "c-root:r2:r4": 1.0,
        "c-root:r3:r4": 0.0,  # r3 earlier, r4 liked more
    }
    untimed = [*pairs[:-1], LikePair(pairs[-1].first, reply("c", "r5", "no time", 0))]
    assert earlier_credits(untimed) is None  # one reply without a time: no baseline, not a partial one


def test_the_goal_is_length_plus_5_points_with_the_ci_lower_bound_above_length():
    from judge.validate.metrics import goal

    assert goal(0.61, (0.56, 0.66), 0.555)["met"] is True
    short = goal(0.585, (0.515, 0.651), 0.555)  # the pairwise judge on the shared RumourEval events
    assert short["met"] is False and short["needs_accuracy"] == 0.605
    assert (short["points_short"], short["ci_low_points_below_longer"]) == (2.0, 4.0)
    assert goal(0.70, (0.55, 0.80), 0.555)["met"] is False  # +14.5 points, but its CI reaches under length


def add_reply_times(folder, split: str) -> None:
    """Give each reply of a split a time: the more likes, the earlier (the earlier reply is always the one liked
    more)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "data" / f"{split}-00000-of-00001.parquet"
    table = pq.read_table(path)
    minutes = [max(0, 59 - likes) for likes in table.column("reply_likes").to_pylist()]
    times = [f"2017-01-01T10:{minute:02d}:00+00:00" for minute in minutes]
    pq.write_table(table.append_column("reply_created_at", pa.array(times)), path)


def validate_dataset(tmp_path, dataset, output, *extra) -> int:
    return main([
        "validate", "--dataset", f"{dataset}@v1", "--judge", "engagement", "--output", str(tmp_path / output),
        "--cache-dir", str(tmp_path / "cache"), "--no-progress", *extra,
    ])  # fmt: skip


def test_validate_writes_the_earlier_reply_and_coin_baselines_beside_the_length_baseline(tmp_path, capsys):
    """With every reply's time in the dataset: the earlier reply (here always the liked one: 100%) is written,
    printed and drawn beside the longer reply and the coin; each judge carries the goal, and its wall/CPU time."""
    write_dataset(tmp_path / "timed" / "v1", {"train": 12, "test": 4})
    for split in ("train", "test"):  # data_prep writes the column in every split
        add_reply_times(tmp_path / "timed" / "v1", split)
    assert validate_dataset(tmp_path, tmp_path / "timed", "out") == 0
    report = json.loads((tmp_path / "out" / "validity.json").read_text())
    assert list(report["baselines"]) == ["longer_reply", "earlier_reply", "coin_flip"]
    earlier = report["baselines"]["earlier_reply"]
    assert (earlier["accuracy"], earlier["ci"]) == (1.0, [1.0, 1.0]) and "timing" in earlier["what"]
    assert 0 <= report["baselines"]["coin_flip"]["accuracy"] <= 1 and "baselines_unknown" not in report
    result = report["judges"]["engagement"]
    assert result["goal"]["needs_accuracy"] == round(report["baselines"]["longer_reply"]["accuracy"] + 0.05, 4)
    longer = report["baselines"]["longer_reply"]["accuracy"]
    assert result["goal"]["met"] is (result["accuracy"] >= longer + 0.05 and result["ci"][0] > longer)
    assert set(result["seconds"]) == {"wall", "cpu"} and result["seconds"]["wall"] >= 0
    table = (tmp_path / "out" / "validity.md").read_text()
    assert "| baseline: earlier reply (timing) | 1.000 | 1.000-1.000 |" in table and "| baseline: coin flip |" in table
    assert "goal: longer + 5 points" in table
    printed = capsys.readouterr().out
    assert "baseline earlier reply (timing): 1.000" in printed and "baseline coin flip:" in printed

    # the same dataset without reply times (an older data_prep version): the earlier reply is "unknown", not left out
    write_dataset(tmp_path / "untimed" / "v1", {"train": 12, "test": 4})
    assert validate_dataset(tmp_path, tmp_path / "untimed", "out2") == 0
    report = json.loads((tmp_path / "out2" / "validity.json").read_text())
    assert list(report["baselines"]) == ["longer_reply", "coin_flip"]
    assert report["baselines_unknown"]["earlier_reply"].startswith("unknown")
    assert "| baseline: earlier reply (timing) | unknown |" in (tmp_path / "out2" / "validity.md").read_text()
    assert "baseline earlier reply (timing): unknown" in capsys.readouterr().out


def test_validate_uses_the_engagement_model_the_config_names(tmp_path, monkeypatch):
    """score.engagement.model: the default pairwise model needs no embedding model; `ridge` is the embedding
    regressor (here on synthetic embeddings). Each run's judge names its model."""
    from judge.score.backends import engagement
    from tests.test_judge_engagement import KeywordEmbedder

    made = []

    def embedder(model, batch_size, progress):
        made.append(model)
        return KeywordEmbedder()

    monkeypatch.setattr(engagement, "Embedder", embedder)
    write_dataset(tmp_path / "dataset" / "v1", {"train": 12, "test": 4})
    assert validate_dataset(tmp_path, tmp_path / "dataset", "pairwise") == 0
    pairwise = json.loads((tmp_path / "pairwise" / "validity.json").read_text())["judges"]["engagement"]
    assert pairwise["model"].startswith("pairwise-lr[text-v2]@") and pairwise["engagement_model"] == "pairwise"
    assert pairwise["identity"]["order_invariant"] is True and made == []  # no embedding model loaded
    config = tmp_path / "ridge.yaml"
    config.write_text("score:\n  engagement:\n    model: ridge\n")
    assert validate_dataset(tmp_path, tmp_path / "dataset", "ridge", "--config", str(config)) == 0
    ridge = json.loads((tmp_path / "ridge" / "validity.json").read_text())["judges"]["engagement"]
    assert ridge["model"].startswith("ridge[synthetic]@") and ridge["engagement_model"] == "ridge"
    assert made == [None] and ridge["identity"]["fingerprint"] != pairwise["identity"]["fingerprint"]
