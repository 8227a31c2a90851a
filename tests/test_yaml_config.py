"""The strict config loader: a bad config fails fast with a message that names the field."""

import re
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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a Latin-1 comment: "café" as one byte 0xe9
        (b"# caf\xe9 settings\nmin_likes: 5\n", r"not UTF-8 text: byte 0xe9 at byte offset 5 \(line 1\)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not UTF-8 text: byte 0x89 at byte offset 0"),
        (b"min_likes: 5\n\x00\x01binary", r"not a text file: character 0x00 at byte offset 13"),
        ("# café ok\nname: \x1b[31m\n".encode(), r"not a text file: character 0x1b at byte offset 17"),
        (b"a: [1, 2\n", r"not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1"),
    ],
)
def test_a_config_that_is_not_utf8_text_or_yaml_is_named_in_one_line(tmp_path, content, message):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as error:
        read_yaml(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert re.search(message, text), text
