"""Where the real data beside a checkout lives: ../shared/realdata (real Apify exports, RumourEval threads, the real
Qwen3 tokenizer). Not every machine has it: whoever reads a path here checks that it exists first."""

from pathlib import Path

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REAL_QWEN3_TOKENIZER_DIR = REALDATA / "tokenizer" / "qwen3_tokenizer_renji555"
REAL_QWEN3_8B_DIR = REALDATA / "tokenizer" / "qwen3_8b_sanjithudupa"
