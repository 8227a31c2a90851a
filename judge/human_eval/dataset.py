"""What annotators see in a blind pairwise human evaluation, and the mapping that un-blinds their answers.

Each record is one tweet with two replies, `reply_a` and `reply_b`, written by the two systems under comparison in
an order drawn per tweet; the question `better_reply` asks A / B / tie, and `notes` (optional) takes free text.

Where the order lives. argilla-server 2.8.0 hides a metadata property marked not visible to annotators from its UI
and from the annotator's search endpoint, but `GET /api/v1/records/{id}` returns every metadata value to any member
of the workspace, and `GET /api/v1/datasets/{id}` returns the dataset's metadata: an annotator with their API key
(shown on their settings page) could read it (measured; tests/test_judge_human_eval.py checks both endpoints). So
nothing about the systems goes to Argilla: no metadata, no suggestions, and a record id that is the same whichever
system wrote which reply. The order is kept in a mapping file beside the results (`human_eval_mapping.json`,
written atomically before any record is logged), and it can always be rebuilt: it is a function of the seed, the
item id and the texts, so pushing the same generations with the same seed writes the same mapping again.

What annotators see is text, never markup: replies are model output and may hold anything, and Argilla's UI would
run the HTML in a plain text field (argilla_client.plain_text_field escapes it). An empty reply shows as "[empty]".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from judge.records import TIE
from replytune.argilla_client import plain_text_field
from replytune.errors import InputError
from replytune.files import write_json_atomically

FIELD_TWEET, FIELD_REPLY_A, FIELD_REPLY_B = "tweet", "reply_a", "reply_b"
BETTER_REPLY, NOTES = "better_reply", "notes"
A, B = "A", "B"  # the answers that pick a reply; the third is a verdict's TIE
EMPTY_REPLY = "[empty]"  # an empty text would show as nothing at all; this says the system wrote nothing
MAPPING_FORMAT = 1

GUIDELINES = """\
Each record shows a tweet and two replies to it, **A** and **B**, written by two different systems. You do not know
which system wrote which reply, and the order changes from tweet to tweet: judge only what you read.

- **better_reply**: which reply would the tweet's audience like more: *A*, *B*, or *tie* when they are genuinely
  as good (or as bad) as each other. Think of specific, relevant, natural replies that add something, against
  generic praise, off-topic or broken text, and assistant-style boilerplate. Longer is not better by itself.
- **notes**: optional, anything worth telling the team (a factual error, a reply that is cut off).

The replies are untrusted machine output. A reply that addresses you ("choose A", "annotator: this one is
better"), contains chat markup such as `<|im_end|>`, or runs on for pages is judged as what it is: a reply the
tweet's readers would find odd. Never follow instructions written inside a reply.
"""


def human_eval_settings(min_submitted: int = 1, notes_question: bool = True) -> Any:
    """The Argilla dataset: the tweet and two replies as plain text, the A / B / tie question, optional notes."""
    import argilla as rg

    questions = [
        rg.LabelQuestion(
            name=BETTER_REPLY,
            title="Which reply would the tweet's audience like more?",
            labels={A: "Reply A", B: "Reply B", TIE: "Tie"},
            required=True,
        )
    ]
    if notes_question:
        questions.append(rg.TextQuestion(name=NOTES, title="Notes (optional)", required=False))
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[  # plain text: what a reply holds is shown, never rendered (blind_record escapes its markup)
            rg.TextField(name=FIELD_TWEET, title="Tweet", use_markdown=False),
            rg.TextField(name=FIELD_REPLY_A, title="Reply A", use_markdown=False),
            rg.TextField(name=FIELD_REPLY_B, title="Reply B", use_markdown=False),
        ],
        questions=questions,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


@dataclass(frozen=True)
class BlindPair:
    """One tweet's record: which system's reply is shown as A and which as B, and under which record id."""

    record_id: str
    item_id: str
    reply_a_system: str
    reply_b_system: str
    texts_sha256: str  # of the tweet and both replies: a later push with other texts for this item is refused

    def system_of(self, label: str) -> str:
        """The system an answer names: A or B -> that reply's system; tie -> tie."""
        return {A: self.reply_a_system, B: self.reply_b_system, TIE: TIE}[label]


def baseline_shown_first(seed: int, item_id: str) -> bool:
    """The per-tweet coin: from (seed, item id) alone, so an item keeps its order whatever else a file holds."""
    digest = hashlib.sha256(json.dumps([seed, item_id]).encode("utf-8")).digest()
    return digest[0] % 2 == 0


def blind_pair(seed: int, item_id: str, tweet: str, replies: dict[str, str], baseline: str, candidate: str):
    """The BlindPair of one tweet. The record id hashes the item, the two system names and the two replies, each
    pair sorted: it names the same record whichever system wrote which reply, so it reveals nothing of the order."""
    texts = json.dumps([item_id, tweet, replies[baseline], replies[candidate]], ensure_ascii=False)
    symmetric = json.dumps([item_id, tweet, sorted([baseline, candidate]), sorted(replies.values())])
    record_id = "pair-" + hashlib.sha256(symmetric.encode("utf-8")).hexdigest()[:24]
    first, second = (baseline, candidate) if baseline_shown_first(seed, item_id) else (candidate, baseline)
    return BlindPair(record_id, item_id, first, second, hashlib.sha256(texts.encode("utf-8")).hexdigest())


def shown_text(text: str) -> str:
    """What the UI shows, character for character (markup escaped: see argilla_client.plain_text_field)."""
    return plain_text_field(text) if text.strip() else EMPTY_REPLY


def blind_record(pair: BlindPair, tweet: str, replies: dict[str, str]) -> Any:
    import argilla as rg

    return rg.Record(
        id=pair.record_id,
        fields={
            FIELD_TWEET: shown_text(tweet),
            FIELD_REPLY_A: shown_text(replies[pair.reply_a_system]),
            FIELD_REPLY_B: shown_text(replies[pair.reply_b_system]),
        },
    )


# --- the mapping file ---------------------------------------------------------------------------------------------


@dataclass
class Mapping:
    """Everything pull needs to turn A / B answers back into systems; written by push, read by pull."""

    argilla: dict[str, str]  # api_url, workspace, dataset, dataset_id
    baseline: str
    candidate: str
    seed: int
    generations: dict[str, Any]  # path, sha256 (of the last push)
    pairs: dict[str, BlindPair]  # record id -> pair

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MAPPING_FORMAT,
            "argilla": self.argilla,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "seed": self.seed,
            "generations": self.generations,
            "pairs": [asdict(pair) for pair in sorted(self.pairs.values(), key=lambda pair: pair.item_id)],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Mapping:
        if not path.is_file():
            raise InputError(
                f"{path}: no mapping file. Pull reads the one `human-eval push` wrote: pass the same --output as the "
                "push (or push again with the same generations and seed: it rewrites the same mapping)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != MAPPING_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {MAPPING_FORMAT}")
            pairs = {row["record_id"]: BlindPair(**row) for row in data["pairs"]}
            return cls(
                data["argilla"], data["baseline"], data["candidate"], int(data["seed"]), data["generations"], pairs
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputError(f"{path}: not a human-eval mapping file ({type(error).__name__}: {error})") from None
