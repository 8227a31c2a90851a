"""The forgetting check: perplexity on general text, of the base model and of each adapter on that same base.

An adapter trained on tweet replies should leave the base model's command of ordinary prose about where it was. Each
document of a small public-domain text (forgetting/general_text.txt beside this module, sources in the README there)
is tokenized as plain text (no chat template) and scored in windows of at most `window_tokens` tokens; perplexity is
exp(total negative log-likelihood / predicted tokens). An adapter whose perplexity is more than `max_increase_pct`
above the base's is flagged. The numbers are a sanity check next to the others, not a verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

from judge.config import ForgettingConfig

DEFAULT_TEXT_FILE = Path(__file__).parent / "forgetting" / "general_text.txt"
DOCUMENT_SEPARATOR = "---"


def read_documents(path: str | Path) -> list[str]:
    """The documents of a plain-text file, separated by lines holding only `---`."""
    text = Path(path).read_text(encoding="utf-8")
    documents, current = [], []
    for line in text.splitlines():
        if line.strip() == DOCUMENT_SEPARATOR:
            documents.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    documents.append("\n".join(current).strip())
    return [document for document in documents if document]


def text_file(config: ForgettingConfig) -> Path:
    return Path(config.text_file).expanduser() if config.text_file else DEFAULT_TEXT_FILE


def perplexity(model, tokenizer, documents: list[str], window_tokens: int) -> dict:
    """Perplexity of `model` (as it is now: base, or an adapter active) over the documents."""
    import torch

    total_nll, predicted = 0.0, 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for document in documents:
            ids = tokenizer(document, return_tensors="pt")["input_ids"][0]
            for start in range(0, len(ids), window_tokens):
                window = ids[start : start + window_tokens]
                if len(window) < 2:
                    continue
                window = window.unsqueeze(0).to(device)
                loss = model(input_ids=window, labels=window, use_cache=False).loss  # mean over len - 1 tokens
                total_nll += float(loss) * (window.shape[1] - 1)
                predicted += window.shape[1] - 1
    if not predicted:
        raise ValueError("the forgetting text has no token to predict")
    return {"perplexity": round(math.exp(total_nll / predicted), 4), "tokens": predicted}


def compare_to_base(results: dict[str, dict], base_name: str, max_increase_pct: float) -> dict[str, dict]:
    """Each system's change against the base's perplexity, and whether it passes the threshold."""
    base = results[base_name]["perplexity"]
    compared = {}
    for name, result in results.items():
        entry = dict(result)
        if name != base_name:
            change = 100.0 * (result["perplexity"] - base) / base
            entry["change_vs_base_pct"] = round(change, 2)
            entry["flagged"] = change > max_increase_pct
        compared[name] = entry
    return compared
