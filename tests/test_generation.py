"""recipes/generation.py, the one batched-generation function (sample generations now, the judge next), and the
inference loader on the tiny Qwen3."""

from __future__ import annotations

import torch

from recipes.generation import GenerationSettings, generate_replies
from recipes.inference import load_model_for_inference
from standins.tiny_models import build_tiny_qwen3, build_tiny_tokenizer

PROMPTS = [
    [{"role": "user", "content": "Generate an engaging Twitter reply to:\n\nLoRA"}],
    [
        {
            "role": "user",
            "content": "Generate an engaging Twitter reply to:\n\nShipping a new open-source library today",
        }
    ],
    [{"role": "user", "content": "Short"}],
    [{"role": "user", "content": "What batch size did you use? Gradient accumulation saved me on an A6000."}],
    [{"role": "user", "content": "Honestly the hardest part is cleaning the data, not training the model."}],
]


def _model():
    tokenizer = build_tiny_tokenizer()
    return build_tiny_qwen3(tokenizer).eval(), tokenizer


def test_batched_greedy_replies_equal_one_by_one_replies():
    model, tokenizer = _model()
    settings = GenerationSettings(max_new_tokens=12, do_sample=False, batch_size=3)
    batched = generate_replies(model, tokenizer, PROMPTS, settings)
    alone = generate_replies(
        model, tokenizer, PROMPTS, GenerationSettings(max_new_tokens=12, do_sample=False, batch_size=1)
    )
    assert batched == alone
    assert len({reply.prompt_tokens for reply in batched}) >= 4  # different lengths: left padding matters
    assert any(reply.text for reply in batched)


def test_prompts_use_the_non_thinking_format_and_token_counts_are_the_prompts():
    model, tokenizer = _model()
    replies = generate_replies(model, tokenizer, PROMPTS[:2], GenerationSettings(max_new_tokens=4, do_sample=False))
    for prompt, reply in zip(PROMPTS, replies):
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False, enable_thinking=False)
        assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        assert reply.prompt_tokens == len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_reply_that_stops_at_end_of_turn_and_one_that_hits_max_new_tokens():
    model, tokenizer = _model()
    with torch.no_grad():
        model.model.norm.weight.zero_()  # every logit 0: greedy picks id 0, <|endoftext|>
    assert tokenizer.convert_ids_to_tokens(0) == "<|endoftext|>"
    stopped = generate_replies(model, tokenizer, PROMPTS[:2], GenerationSettings(max_new_tokens=6, do_sample=False))
    assert all(r.stopped and not r.truncated and r.completion_tokens == 1 and r.empty for r in stopped)
    model.generation_config.eos_token_id = None  # now only <|im_end|> ends a turn, and it never comes
    truncated = generate_replies(model, tokenizer, PROMPTS[:2], GenerationSettings(max_new_tokens=6, do_sample=False))
    assert all(r.truncated and r.completion_tokens == 6 and r.empty for r in truncated)


def test_seeded_sampling_repeats_and_leaves_the_training_rng_alone():
    model, tokenizer = _model()
    settings = GenerationSettings(max_new_tokens=10, do_sample=True, seed=7, batch_size=2)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = generate_replies(model, tokenizer, PROMPTS, settings)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate_replies(model, tokenizer, PROMPTS, settings) == first
    other_seed = generate_replies(model, tokenizer, PROMPTS, GenerationSettings(**{**settings.__dict__, "seed": 8}))
    assert other_seed != first


def test_generation_restores_training_mode_and_padding_side():
    model, tokenizer = _model()
    model.train()
    tokenizer.padding_side = "right"
    generate_replies(model, tokenizer, PROMPTS[:1], GenerationSettings(max_new_tokens=2, do_sample=False))
    assert model.training and tokenizer.padding_side == "right"


def test_the_inference_loader_on_cpu(tiny_qwen3_dir):
    loaded = load_model_for_inference(str(tiny_qwen3_dir), dtype="float32", use_unsloth="auto")
    assert loaded.path == "cpu" and loaded.tokenizer.padding_side == "left" and not loaded.model.training
    replies = generate_replies(
        loaded.model, loaded.tokenizer, PROMPTS[:3], GenerationSettings(max_new_tokens=5, do_sample=False)
    )
    model, tokenizer = _model()  # the same weights, built in memory (seed 0)
    assert replies == generate_replies(
        model, tokenizer, PROMPTS[:3], GenerationSettings(max_new_tokens=5, do_sample=False)
    )
