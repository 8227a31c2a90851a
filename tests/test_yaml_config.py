"""The strict config loader: a bad config fails fast with a message that names the field."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from replytune.yaml_config import ConfigError, parse_dataclass, read_yaml


@dataclass
class Thresholds:
    min_likes: int = 5
    max_share: float = 0.5


@dataclass
class Section:
    name: str = "x"
    sort: Literal["Top", "Latest"] = "Top"
    terms: list[str] = field(default_factory=list)
    limit: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


def test_valid_mapping_builds_nested_dataclasses_and_ints_widen_to_floats():
    section = parse_dataclass(Section, {"terms": ["a", "b"], "thresholds": {"max_share": 1}}, "cfg")
    assert section.terms == ["a", "b"] and section.thresholds == Thresholds(min_likes=5, max_share=1.0)
    assert isinstance(section.thresholds.max_share, float) and section.limit is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nmae": "typo"}, "cfg: unknown field(s) 'nmae'"),
        ({"thresholds": {"min_likes": "5"}}, "cfg.thresholds.min_likes: expected an integer, got '5'"),
        ({"thresholds": {"min_likes": True}}, "cfg.thresholds.min_likes: expected an integer, got True"),
        ({"sort": "Newest"}, "cfg.sort: 'Newest' is not one of ['Top', 'Latest']"),
        ({"terms": "one"}, "cfg.terms: expected a list"),
        ({"terms": ["ok", 3]}, "cfg.terms[1]: expected a string, got 3"),
        ({"limit": 2.5}, "cfg.limit: expected an integer, got 2.5"),
        ({"thresholds": [1]}, "cfg.thresholds: expected a mapping, got list"),
    ],
)
def test_bad_fields_are_named(data, message):
    with pytest.raises(ConfigError) as error:
        parse_dataclass(Section, data, "cfg")
    assert str(error.value).startswith(message)


def test_read_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"(?s)broken\.yaml: not valid YAML.*line 2"):
        read_yaml(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(listed)
