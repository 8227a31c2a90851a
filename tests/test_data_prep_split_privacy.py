"""Split by conversation + leakage check, privacy (handles, keyed pseudonyms), and the funnel ledger."""

import logging
from collections import Counter

import numpy as np
import pytest

from data_prep.config import OutputConfig, PairsConfig, PrivacyConfig, SplitConfig
from data_prep.funnel import Funnel, plot_funnel, settle_tweets
from data_prep.pairs import find_pairs
from data_prep.privacy import PrivacyError, Pseudonymizer, pseudonymizer_from_environment, replace_handles
from data_prep.rows import PAIR_FEATURES, pair_row
from data_prep.split import check_leakage, split_by_conversation, split_of
from replytune.schema import PAIR_COLUMNS
from tests.data_prep_tweets import reply_to, root_tweet


def test_split_is_by_conversation_seeded_and_stable():
    config = SplitConfig()
    conversations = [f"conv-{i}" for i in range(10_000)]
    splits = split_by_conversation(conversations, config)
    shares = Counter(splits)
    assert abs(shares["train"] / 10_000 - 0.8) < 0.02 and abs(shares["eval"] / 10_000 - 0.1) < 0.02
    # every reply of a conversation lands where its conversation does, whatever the order
    assert split_by_conversation(["conv-7"] * 5, config) == [split_of("conv-7", config)] * 5
    # adding conversations (a later version) moves none of the old ones
    assert split_by_conversation(conversations[:100], config) == splits[:100]
    other_seed = split_by_conversation(conversations, SplitConfig(seed=7))
    assert other_seed != splits
    assert set(
        split_by_conversation(
            conversations[:50], SplitConfig(train_fraction=1.0, eval_fraction=0.0, test_fraction=0.0)
        )
    ) == {"train"}


def test_leakage_check_finds_eval_replies_close_to_train():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((6, 16)).astype(np.float32)
    vectors[4] = vectors[0] + 0.05 * rng.standard_normal(16).astype(np.float32)  # eval copy of a train reply
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    splits = ["train", "train", "train", "eval", "eval", "test"]
    report = check_leakage(splits, vectors, [f"r{i}" for i in range(6)], SplitConfig())
    assert report.leaking == [4]
    assert report.checked == {"eval": 2, "test": 1} and report.near_duplicates == {"eval": 1, "test": 0}
    assert report.examples[0]["reply_id"] == "r4" and report.examples[0]["train_reply_id"] == "r0"
    assert "leaking" not in report.as_dict()


def test_handles_become_placeholders_but_emails_stay():
    assert replace_handles("@alice thanks, cc @Bob_2 and .@carol") == "@user thanks, cc @user and .@user"
    assert replace_handles("mail me at dev@example.com") == "mail me at dev@example.com"
    assert replace_handles("@alice hi", "@someone") == "@someone hi"


def test_pseudonyms_are_keyed_stable_and_never_the_id():
    root = root_tweet(author_id="12345", author_handle="alice")
    one, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"j" * 32)
    assert one.author(root) == one.author(root_tweet(author_id="12345")) != other.author(root)
    assert len(one.author(root)) == 16 and "12345" not in one.author(root)
    # what is hashed must never change, or no published version's pseudonyms would match the next one's
    assert one.author(root) == one.pseudonym("id:12345")
    assert one.author(root_tweet(author_id=None, author_handle="Alice")) == one.pseudonym("handle:alice")
    by_handle = root_tweet(author_id=None, author_handle="Alice")
    assert one.author(by_handle) == one.author(root_tweet(author_id=None, author_handle="alice"))
    assert one.author(root_tweet(author_id=None, author_handle=None)) is None


def test_pseudonym_key_from_the_environment(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "a-long-and-secret-key-for-tests")
    first = pseudonymizer_from_environment(for_push=True)
    assert first.key_source == "environment" and first == pseudonymizer_from_environment()
    monkeypatch.delenv("REPLYTUNE_PSEUDONYM_KEY")
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(PrivacyError, match="refusing to push"):
        pseudonymizer_from_environment(for_push=True)
    with caplog.at_level(logging.WARNING, logger="data_prep.privacy"):
        local = pseudonymizer_from_environment()
    assert local.key_source == "ephemeral" and local.key != pseudonymizer_from_environment().key
    assert "REPLYTUNE_PSEUDONYM_KEY is not set" in caplog.text


def test_a_published_row_holds_no_handle_id_or_name_of_an_author():
    root = root_tweet(author_id="999001", author_handle="root_person", author_name="Root Person")
    reply = reply_to(
        root,
        text="agree with @root_person and @third_person here",
        author_id="999002",
        author_handle="reply_person",
        author_name="Reply Person",
    )
    (pair,) = find_pairs([root, reply], PairsConfig()).pairs
    row = pair_row(pair, OutputConfig(), PrivacyConfig(), Pseudonymizer(b"k" * 32))
    assert tuple(row) == PAIR_COLUMNS == tuple(PAIR_FEATURES)
    published = repr(row)
    for private in ("999001", "999002", "root_person", "reply_person", "third_person", "Root Person", "Reply Person"):
        assert private not in published
    assert row["completion"] == [{"role": "assistant", "content": "agree with @user and @user here"}]
    assert row["prompt"][0]["content"].startswith("Generate an engaging Twitter reply to:\n\n")


def test_settle_gives_each_tweet_one_disposition_by_precedence():
    funnel = Funnel(input_records=6)
    settle_tweets(
        funnel,
        ["root", "kept", "dropped", "both", "lonely", "unused_root"],
        reply_drops={"dropped": "validation/toxic", "both": "reply_filters/likes_below_min"},
        root_drops={"both": "root_filters/likes_below_min"},
        kept_reply_ids={"kept"},
        used_root_ids={"root"},
        candidate_root_ids={"root", "both", "unused_root"},
    )
    funnel.check()
    assert funnel.dispositions == {
        "root/used": 1,
        "kept": 1,
        "validation/toxic": 1,
        "reply_filters/likes_below_min": 1,
        "pairs/no_replies": 1,
        "root/no_reply_kept": 1,
    }
    with pytest.raises(AssertionError, match="sum to 6"):
        Funnel(input_records=7, dispositions=funnel.dispositions).check()


def test_funnel_order_and_plot(tmp_path):
    funnel = Funnel(5, Counter({"kept": 1, "validation/toxic": 2, "ingest/placeholder": 1, "root/used": 1}))
    assert [name for name, _ in funnel.ordered()] == ["ingest/placeholder", "validation/toxic", "root/used", "kept"]
    plot_funnel(funnel, tmp_path / "funnel.png")
    assert (tmp_path / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
