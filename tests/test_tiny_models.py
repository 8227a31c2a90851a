"""The offline model fixtures every training and judging test builds on."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from standins.tiny_models import QWEN3_SPECIAL_TOKENS, build_tiny_qwen3, build_tiny_tokenizer

MESSAGES = [{"role": "user", "content": "Generate an engaging Twitter reply to:\n\nLoRA on one GPU, finally 🚀"}]
NON_THINKING_ASSISTANT_START = "<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_tiny_tokenizer_carries_qwen3_special_tokens_as_single_ids():
    tokenizer = build_tiny_tokenizer()
    for token in QWEN3_SPECIAL_TOKENS:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tokenizer.convert_ids_to_tokens(ids[0]) == token
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    text = "Unseen words round-trip too: zyzzyva ✨ 東京"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: nothing is unknown


def test_tiny_chat_template_renders_qwen3_non_thinking_mode():
    tokenizer = build_tiny_tokenizer()
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert prompt.startswith("<|im_start|>user\nGenerate an engaging Twitter reply to:")
    assert prompt.endswith(NON_THINKING_ASSISTANT_START)
    full = tokenizer.apply_chat_template(MESSAGES + [{"role": "assistant", "content": "Same here!"}], tokenize=False)
    # Training and inference see the same prefix: the empty think block, then the reply and <|im_end|>.
    assert full.startswith(prompt) and full[len(prompt) :] == "Same here!<|im_end|>\n"


def test_tiny_qwen3_has_the_requested_shape_and_generates(tiny_qwen3_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3_dir)
    config = model.config
    assert (config.model_type, config.hidden_size, config.num_hidden_layers, config.head_dim) == ("qwen3", 64, 2, 16)
    assert config.vocab_size == len(tokenizer)
    inputs = tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, enable_thinking=False, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]


def test_tiny_qwen3_is_reproducible_from_its_seed():
    tokenizer = build_tiny_tokenizer()
    ids = torch.tensor([tokenizer("hello world")["input_ids"]])
    first, second, other = (build_tiny_qwen3(tokenizer, seed=s) for s in (0, 0, 1))
    with torch.no_grad():
        assert torch.equal(first(ids).logits, second(ids).logits)
        assert not torch.equal(first(ids).logits, other(ids).logits)


def test_real_qwen3_tokenizer_has_qwen3_ids_and_template(real_qwen3_tokenizer):
    tokenizer = real_qwen3_tokenizer
    expected_ids = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    expected_ids |= {"<think>": 151667, "</think>": 151668}
    assert {token: tokenizer.convert_tokens_to_ids(token) for token in expected_ids} == expected_ids
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    # The tiny tokenizer's template must format prompts exactly as the real one does.
    tiny_prompt = build_tiny_tokenizer().apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert prompt == tiny_prompt
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[:3] == [151644, 872, 198]  # <|im_start|> "user" "\n"
    assert ids[-6:] == tokenizer(NON_THINKING_ASSISTANT_START, add_special_tokens=False)["input_ids"][-6:]
    assert 151667 in ids and 151668 in ids and tokenizer.decode(ids) == prompt
