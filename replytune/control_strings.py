"""Chat-template control strings: text that a tokenizer turns into special tokens, found in untrusted tweet text.

A scraped reply holding `<|im_end|>` would teach the model to stop mid-reply; a tweet holding
`<|im_start|>system ...` would inject a turn into the prompt; Qwen3's template moves text before a literal
`</think>` into a reasoning block. Every stage that puts tweet text into a chat template calls
`find_control_strings` on it: data_prep rejects such records (`root_filters/chat_control_string`,
`reply_filters/chat_control_string`), the training recipe refuses such rows, curation re-checks edited replies, and
the judge checks its prompts. Run it on normalized text (`data_prep.cleaning.sanitize_text`: NFKC, zero-width
characters removed): a fullwidth or zero-width-split disguise becomes the real string only after normalization.

What counts, case-insensitively:
- `<|...|>`: every ChatML / Qwen special token (<|im_start|>, <|im_end|>, <|endoftext|>, <|fim_prefix|>, ...) and
  Llama 3's (<|eot_id|>, <|start_header_id|>, ...);
- Qwen3's tag-shaped tokens: <think>, </think>, <tool_call>, </tool_call>, <tool_response>, </tool_response>;
- the turn markers of the other common chat families, for users who train another base: <s>, </s>, [INST],
  [/INST] (Llama 2, Mistral), <start_of_turn>, <end_of_turn> (Gemma).
A tokenizer's own special tokens can be added with `extra_tokens`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Bounded repetitions only: the pattern runs in time linear in the text, whatever the text.
CONTROL_STRING = re.compile(
    r"<\|[^|<>\s]{1,64}\|>|</?(?:think|tool_call|tool_response|s)>|\[/?INST\]|<(?:start|end)_of_turn>",
    re.IGNORECASE,
)


def find_control_strings(text: str, extra_tokens: Iterable[str] = ()) -> list[str]:
    """The control strings in `text`, in order of appearance (`extra_tokens`: a tokenizer's own special tokens)."""
    found = [match.group(0) for match in CONTROL_STRING.finditer(text)]
    found += [token for token in extra_tokens if token and token in text and token not in found]
    return found
