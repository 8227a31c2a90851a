"""Tiny Qwen3 models and tokenizers built on the spot, so no test (or benchmark on a CPU) downloads weights.

- `build_tiny_tokenizer`: a byte-level BPE trained here, with Qwen3's special tokens and Qwen3-8B's own
  chat template (TRL ships it verbatim), so prompt formatting and loss masks behave as on the real model.
- `build_tiny_qwen3`: Qwen3ForCausalLM with hidden 64 and 2 layers, random weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM
from trl.chat_template_utils import qwen3_chat_template

# In Qwen3's order; the real ids are 151643.. but a tiny vocab keeps them small.
QWEN3_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

_TRAINING_TEXT = [
    "Generate an engaging Twitter reply to:",
    "Shipping a new open-source library for fine-tuning language models on a single GPU today.",
    "Great thread! I tried LoRA on my own data and the eval loss dropped fast after two epochs.",
    "Honestly the hardest part is cleaning the data, not training the model.",
    "What batch size did you use? Gradient accumulation saved me on an A6000.",
    "user assistant system tool think reply tweet engagement likes followers",
    "0123456789 !?.,:;'\"()[]{}<>@#$%^&*-_=+/\\|~` \n\t",
    "Emoji are kept: 🚀🔥😂👍 and accents: café naïve",
]


def build_tiny_tokenizer(vocab_size: int = 320) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    # Byte-level like Qwen3's tokenizer: any string round-trips, no unknown tokens.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=QWEN3_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=QWEN3_SPECIAL_TOKENS[1:2] + QWEN3_SPECIAL_TOKENS[3:],
        model_max_length=2048,
    )
    fast.chat_template = qwen3_chat_template
    return fast


def tiny_qwen3_config(tokenizer: PreTrainedTokenizerFast) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,  # the default is 128, far too big for hidden 64
        intermediate_size=128,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def build_tiny_qwen3(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> Qwen3ForCausalLM:
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(tokenizer))
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_tiny_qwen3(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny model and its tokenizer where `from_pretrained(directory)` finds both."""
    directory = Path(directory)
    tokenizer = build_tiny_tokenizer()
    build_tiny_qwen3(tokenizer, seed=seed).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
