"""The REAL Qwen3 tokenizer for the tests that need it, or a skip naming why (the tiny models are in
standins/tiny_models.py)."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from standins.realdata import REAL_QWEN3_8B_DIR, REAL_QWEN3_TOKENIZER_DIR


def load_real_qwen3_tokenizer() -> PreTrainedTokenizerBase:
    """The real Qwen3 tokenizer, built from vocab.json/merges.txt/added_tokens.json/tokenizer_config.json."""
    if not REAL_QWEN3_TOKENIZER_DIR.is_dir():
        pytest.skip(
            f"real Qwen3 tokenizer files not found at {REAL_QWEN3_TOKENIZER_DIR} (../shared/realdata is absent)"
        )
    tokenizer = AutoTokenizer.from_pretrained(REAL_QWEN3_TOKENIZER_DIR)
    # Qwen3-8B ships the later official revision of the template (TRL bundles the same text).
    template_file = REAL_QWEN3_8B_DIR / "chat_template.jinja"
    if template_file.is_file():
        tokenizer.chat_template = template_file.read_text(encoding="utf-8")
    return tokenizer
