"""Batched reply generation: the one function, and the one decoding dataclass, that the training recipe's sample
generations, the judge (`python -m judge generate`) and scripts/reply.py use.

`GenerationSettings` is the decoding: the judge's `generate.decoding` config section parses into it (the checks are
here, so a bad value stops the judge's config naming the field), reply.py reads it back from the evaluation's
generation_report.json, and the recipe's sample generations set their own fields (greedy, `sample_max_new_tokens`).
Its defaults are what the judge evaluates with (judge/configs/default.yaml): Qwen3's recommended non-thinking
sampling and 128 new tokens, a budget a tweet-length reply ends well within.

`generate_replies(model, tokenizer, prompts, settings)` renders each conversational prompt with the chat template in
Qwen3's non-thinking format (`enable_thinking=False`, the format the adapter is trained in), left-pads a batch, and
generates until an end-of-turn token (`<|im_end|>`, the tokenizer's eos and the model's generation-config eos ids)
or `max_new_tokens`. Every batch uses the same settings; sampling is seeded per batch, so a batch's replies do not
depend on what earlier batches generated. Greedy batched output equals one-by-one output (left padding with an
attention mask; tests/test_generation.py checks it).

Each prompt gets a `GeneratedReply`: the text (special tokens removed, stripped), token counts, and whether it
stopped by itself; `truncated` replies (no end-of-turn within max_new_tokens) and `empty` ones are what the judge
flags. torch is imported when generating, not here: the judge's config (and `python -m judge --help`) imports this
module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are decoded. The defaults are the judge's (judge/configs/default.yaml)."""

    max_new_tokens: int = 128  # the reply's token budget; a reply that hits it without ending its turn is truncated
    do_sample: bool = True  # Qwen3's recommended non-thinking sampling (the three values below); false: greedy
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    repetition_penalty: float = 1.0  # 1.0: off; above 1 makes tokens already in the prompt or reply less likely
    seed: int = 0  # batch i samples with seed + i
    batch_size: int = 16
    enable_thinking: bool = False
    stop_tokens: tuple[str, ...] = ("<|im_end|>",)  # besides the tokenizer's eos and the generation config's

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.do_sample and self.temperature <= 0:
            raise ValueError(f"temperature must be positive when sampling, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must not be negative, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be positive, got {self.repetition_penalty}")


@dataclass(frozen=True)
class GeneratedReply:
    text: str
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the end-of-turn token included when there is one
    stopped: bool  # ended with an end-of-turn token

    @property
    def truncated(self) -> bool:
        """Hit max_new_tokens without an end-of-turn token."""
        return not self.stopped

    @property
    def empty(self) -> bool:
        return not self.text.strip()


def stop_token_ids(model, tokenizer, settings: GenerationSettings) -> list[int]:
    """End-of-turn ids: the settings' stop tokens that the vocabulary has, the tokenizer's eos, the model's eos ids."""
    ids: list[int] = []
    vocab = tokenizer.get_vocab()
    for token in settings.stop_tokens:
        if token in vocab:
            ids.append(vocab[token])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids += [configured] if isinstance(configured, int) else list(configured or [])
    return list(dict.fromkeys(ids))


def generate_replies(
    model, tokenizer, prompts: Sequence[list[dict]], settings: GenerationSettings = GenerationSettings()
) -> list[GeneratedReply]:
    """Replies to conversational prompts ([{"role": "user", "content": ...}, ...]), in the order given."""
    import torch  # here, not at the top: importing this module stays light

    with torch.no_grad():
        return _generate_batches(model, tokenizer, prompts, settings)


def _generate_batches(model, tokenizer, prompts: Sequence[list[dict]], settings: GenerationSettings):
    import torch

    stop_ids = stop_token_ids(model, tokenizer, settings)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    was_training, padding_side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    replies: list[GeneratedReply] = []
    try:
        for batch_index, start in enumerate(range(0, len(prompts), settings.batch_size)):
            batch = [list(prompt) for prompt in prompts[start : start + settings.batch_size]]
            texts = tokenizer.apply_chat_template(
                batch, add_generation_prompt=True, tokenize=False, enable_thinking=settings.enable_thinking
            )
            inputs = tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False).to(model.device)
            sampling = {}
            if settings.do_sample:
                sampling = dict(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
            devices = [model.device] if model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # leaves the training RNG where it was
                torch.manual_seed(settings.seed + batch_index)
                output = model.generate(
                    **inputs,
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=settings.do_sample,
                    eos_token_id=stop_ids,
                    pad_token_id=pad_id,
                    use_cache=True,
                    repetition_penalty=settings.repetition_penalty,
                    **sampling,
                )
            prompt_width = inputs["input_ids"].shape[1]
            for row, generated in enumerate(output[:, prompt_width:].tolist()):
                end = next((i for i, token in enumerate(generated) if token in stop_ids), None)
                kept = generated if end is None else generated[:end]
                replies.append(
                    GeneratedReply(
                        text=tokenizer.decode(kept, skip_special_tokens=True).strip(),
                        prompt_tokens=int(inputs["attention_mask"][row].sum()),
                        completion_tokens=len(kept) + (end is not None),
                        stopped=end is not None,
                    )
                )
    finally:
        model.train(was_training)
        tokenizer.padding_side = padding_side
    return replies
