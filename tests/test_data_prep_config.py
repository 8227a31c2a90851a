"""data_prep/config.py and configs/*.yaml: defaults documented in YAML, strict loading that names the field."""

import dataclasses
from pathlib import Path

import pytest

from data_prep.config import DEFAULT_CONFIG_PATH, DataPrepConfig, load_config
from replytune.yaml_config import ConfigError

BUILD_SECTIONS = ("pairs", "root_filters", "reply_filters", "validation", "cleaning", "split", "privacy", "output")


def test_default_yaml_holds_exactly_the_code_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == DataPrepConfig()


def test_every_build_field_is_documented_in_default_yaml():
    """Each key of the build sections sits under a comment (a group of keys may share one; nested keys are
    documented by their parent's comment)."""
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()
    undocumented, seen = [], set()
    section = None
    for number, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            section = line.split(":")[0]
            continue
        stripped = line.strip()
        if section not in BUILD_SECTIONS or not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        if len(line) - len(line.lstrip()) != 2:
            continue
        key = stripped.split(":")[0]
        seen.add(f"{section}.{key}")
        above, keys_between = number - 1, 0
        while above >= 0 and lines[above].startswith("  ") and not lines[above].strip().startswith("#"):
            keys_between += len(lines[above]) - len(lines[above].lstrip()) == 2
            above -= 1  # past list/mapping continuation lines, and at most 2 keys documented together with this one
        if keys_between > 2:
            undocumented.append(f"{section}.{key}")
        if not (above >= 0 and lines[above].strip().startswith("#")):
            undocumented.append(f"{section}.{key}")
    assert undocumented == []
    for name in BUILD_SECTIONS:
        for field in dataclasses.fields(getattr(DataPrepConfig(), name)):
            assert f"{name}.{field.name}" in seen, f"{name}.{field.name} is missing from default.yaml"


def test_demo_config_loads_and_only_swaps_the_toxicity_scorer():
    demo = load_config(Path(DEFAULT_CONFIG_PATH).with_name("demo.yaml"))
    assert demo.validation.toxicity_scorer == "profanity_check"
    assert dataclasses.replace(demo.validation, toxicity_scorer="detoxify") == DataPrepConfig().validation
    assert demo.reply_filters == DataPrepConfig().reply_filters


def test_the_research_threads_preset_loads_and_documents_each_change_from_the_defaults():
    """data_prep/configs/research_threads.yaml: every key it sets differs from the default and sits right under a
    comment that says why and what the default was; the text filters keep their defaults."""
    path = Path(DEFAULT_CONFIG_PATH).with_name("research_threads.yaml")
    preset, default = load_config(path), DataPrepConfig()
    lines = path.read_text(encoding="utf-8").splitlines()
    changed = []
    for number, line in enumerate(lines):
        if not line.startswith("  ") or line.strip().startswith("#"):
            continue
        section = next(lines[i] for i in range(number, -1, -1) if not lines[i].startswith((" ", "#")) and lines[i])
        section, key = section.rstrip(":"), line.strip().split(":")[0]
        changed.append(f"{section}.{key}")
        assert getattr(getattr(preset, section), key) != getattr(getattr(default, section), key), (section, key)
        above = number - 1
        while not lines[above].strip().startswith("#"):  # a group of keys may share one comment
            above -= 1
        assert number - above <= 4, key
        comment = []
        while lines[above].strip().startswith("#"):
            comment.append(lines[above])
            above -= 1
        assert "Default" in "\n".join(comment), key
    assert sorted(changed) == [
        "pairs.direct_replies_only",
        "reply_filters.min_follower_count",
        "reply_filters.min_likes",
        "reply_filters.min_time_delay",
        "root_filters.max_likes",
        "root_filters.max_retweets",
        "root_filters.min_likes",
        "root_filters.min_retweets",
        "validation.min_unique_words",
    ]
    for kept in ("cleaning", "split", "privacy", "output"):
        assert getattr(preset, kept) == getattr(default, kept)
    assert dataclasses.replace(preset.validation, min_unique_words=8) == default.validation


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("reply_filters:\n  min_likez: 3\n", "min_likez"),
        ("reply_filters:\n  min_likes: many\n", "reply_filters.min_likes"),
        ("reply_filters:\n  min_likes: 50\n  max_likes: 10\n", "min_likes"),
        ("validation:\n  max_toxicity: 1.5\n", "max_toxicity"),
        ("validation:\n  toxicity_scorer: perspective\n", "validation.toxicity_scorer"),
        ("split:\n  train_fraction: 0.5\n", "train_fraction"),
        ("output:\n  prompt_template: 'Reply to {text}'\n", "prompt_template"),
        # each of these would only have failed (or published garbage) when the first row was formatted
        ("output:\n  prompt_template: 'Reply to {tweet} }'\n", "prompt_template"),
        ("output:\n  prompt_template: 'Reply to {tweet} ({tweet.upper})'\n", "prompt_template"),
        ("output:\n  prompt_template: 'Reply to {tweet} ({tweet[0]})'\n", "prompt_template"),
        ("output:\n  prompt_template: 'Reply to {tweet!r}'\n", "prompt_template"),
        ("cleaning:\n  quality_weights:\n    engagment: 1.0\n", "engagment"),
        # caps below 1 once dropped everything (0) or, as negative slices, kept all but the last few
        ("cleaning:\n  max_pairs: -1\n", "max_pairs"),
        ("reply_filters:\n  max_replies_per_author: 0\n", "max_replies_per_author"),
        # a negative count is no bound at all: surely a typo, refused with the field's full name
        ("reply_filters:\n  min_likes: -3\n", "bad.yaml.reply_filters.min_likes: must not be negative"),
        ("reply_filters:\n  min_follower_count: -1\n", "reply_filters.min_follower_count: must not be negative"),
        ("root_filters:\n  min_retweets: -10\n", "root_filters.min_retweets: must not be negative"),
        ("validation:\n  min_unique_words: -2\n", "validation.min_unique_words: must not be negative"),
        ("collect:\n  max_items_per_query: lots\n", "collect.max_items_per_query"),
        ("surprise: {}\n", "surprise"),
    ],
)
def test_a_bad_field_stops_with_its_name(tmp_path, yaml_text, named):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert named in str(error.value) and str(path) in str(error.value)


def test_a_prompt_template_may_repeat_the_tweet_and_hold_literal_braces(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("output:\n  prompt_template: 'As {{json}}: {tweet} / {tweet}'\n")
    template = load_config(path).output.prompt_template
    assert template.format(tweet="hi") == "As {json}: hi / hi"


def test_null_disables_a_bound(tmp_path):
    path = tmp_path / "open.yaml"
    path.write_text("root_filters:\n  max_likes: null\n  languages: []\n")
    config = load_config(path)
    assert config.root_filters.max_likes is None and config.root_filters.languages == []
    assert config.root_filters.min_likes == 200  # untouched fields keep their defaults
