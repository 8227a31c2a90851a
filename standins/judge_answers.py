"""What the judge stand-ins (Anthropic, OpenAI-compatible) answer: the task data read back from a request, a
verdict from a policy, and token counts for the usage they report.

A policy is `policy(kind, data) -> answer`, where `kind` is "pairwise" or "single", `data` the task's JSON object
as the judge sent it between <untrusted_data> tags ({"tweet", "reply_A", "reply_B"} or {"tweet", "reply"}), and
`answer` a dict (sent as the JSON verdict) or a str (sent as is: prose, broken JSON...).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

Policy = Callable[[str, dict], Any]

UNTRUSTED = re.compile(r"<untrusted_data>\n(.*)\n</untrusted_data>", re.DOTALL)


def task_data(user_text: str) -> dict:
    """The task's data object from a judge's user message (exactly one delimited block is expected)."""
    blocks = UNTRUSTED.findall(user_text)
    assert len(blocks) == 1, f"expected one <untrusted_data> block, found {len(blocks)}"
    return json.loads(blocks[0])


def prefers_longer(kind: str, data: dict) -> dict:
    """A deterministic judge: the longer reply wins; a single reply scores by length."""
    if kind == "pairwise":
        a, b = len(data["reply_A"]), len(data["reply_B"])
        return {"reasoning": "longer is better here", "winner": "A" if a > b else "B" if b > a else "tie"}
    score = max(1, min(10, len(data["reply"]) // 10))
    return {"reasoning": "scored by length", "engagement": score, "relevance": score, "tone": score}


def always_first(kind: str, data: dict) -> dict:
    """A judge with pure position bias: reply A always wins."""
    if kind == "pairwise":
        return {"reasoning": "A", "winner": "A"}
    return {"reasoning": "fine", "engagement": 5, "relevance": 5, "tone": 5}


def answer_text(policy: Policy, kind: str, data: dict) -> str:
    answer = policy(kind, data)
    return answer if isinstance(answer, str) else json.dumps(answer)


def kind_of(schema: dict) -> str:
    return "pairwise" if "winner" in schema.get("properties", {}) else "single"


def approximate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
