"""The training data: the data_prep DatasetDict (a local versioned folder or a Hub repo at a revision, resolved by
replytune/versions.py), its rows in TRL's conversational formats, and the checks every row passes before any model
loads.

A row is a prompt and the replies that carry loss: `SFT_REPLIES` (`completion`, TRL's prompt-completion format) or,
for DPO, `PREFERENCE_REPLIES` (`chosen` and `rejected`, TRL's preference format; `data_prep preferences` writes them).

Checked before a model loads, because each would otherwise fail deep inside TRL or, worse, train silently:
the splits exist and hold chat messages; no prompt or reply carries a chat-template control string (a reply holding
`<|im_end|>` teaches the model to stop mid-reply); no prompt + reply is longer than `max_example_tokens` (padding-free
batches are never truncated, nor are DPO's); and the loss falls on the reply and its end-of-turn token only.
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from recipes.configs import RecipeConfigError
from replytune.control_strings import find_control_strings
from replytune.schema import CHOSEN, COMPLETION, PROMPT, REJECTED
from replytune.versions import VersionError, hub_commit, resolve

logger = logging.getLogger("replytune.sft")

SFT_REPLIES = (COMPLETION,)
PREFERENCE_REPLIES = (CHOSEN, REJECTED)


@dataclass
class DatasetSource:
    """Where the training data came from, as logged with the run and saved beside the adapter."""

    name: str
    revision: str | None
    kind: str  # "local" or "hub"
    resolved: str | None = None  # the folder actually loaded, or the Hub commit sha


# --- loading -----------------------------------------------------------------------------------------------------


def load_reply_dataset(
    name: str,
    revision: str | None,
    splits: Sequence[str],
    eval_split: str | None = None,
    replies: Sequence[str] = SFT_REPLIES,
):
    """Load the DatasetDict that TRL's `dataset_name` and `dataset_revision` name (replytune/versions.py resolves
    them: `latest`, a local folder of versions, a Hub repo at a revision; `dataset_name X@v2` works too) and check the
    prompt and `replies` columns of each split the run uses.

    `eval_split` (one of `splits`) names the split the run evaluates on: when it is missing, the error says which
    two flags choose another split or no evaluation.
    """
    import pyarrow as pa
    from datasets import load_dataset, load_from_disk
    from datasets.exceptions import DatasetGenerationError

    try:
        resolved = resolve(name, revision)
    except VersionError as error:
        with_revision = f" with dataset_revision {revision}" if revision else ""
        raise RecipeConfigError(f"dataset_name {name!r}{with_revision}: {error.reason}") from error
    if resolved.folder is not None:
        folder = resolved.folder
        try:
            if (folder / "dataset_dict.json").is_file():
                dataset = load_from_disk(str(folder))
            else:
                dataset = load_dataset(str(folder))
        except (DatasetGenerationError, pa.ArrowException) as error:  # cut short or not parquet (datasets logs which)
            cause = error.__cause__ or error
            raise RecipeConfigError(
                f"dataset {folder}: a data file cannot be read ({type(cause).__name__}: {cause})"
            ) from error
        except (ValueError, IndexError) as error:  # an empty split file: 'Instruction "eval" corresponds to no data!'
            raise RecipeConfigError(f"dataset {folder}: it cannot be loaded (is a split empty?): {error}") from error
        written = str(Path(resolved.source))  # as dataset_name names it
        source = DatasetSource(written, revision or resolved.version, kind="local", resolved=str(folder))
    else:
        from replytune.hub import hub_unreachable, offline

        unreachable = hub_unreachable()  # one quick request, not five retries per file
        try:
            with offline() if unreachable else contextlib.nullcontext():
                dataset = load_dataset(resolved.repo_id, revision=resolved.version)
        except OSError as error:  # datasets' DatasetNotFoundError (repo or revision), offline mode, no connection
            why = f"it is not in the local cache and the Hub cannot be asked ({unreachable})" if unreachable else error
            raise RecipeConfigError(
                f"dataset_name {resolved.repo_id!r} at dataset_revision {resolved.version!r}: no local folder of that "
                f"name, and the Hub could not load it: {why}"
            ) from error
        commit = None if unreachable else hub_commit(resolved.repo_id, resolved.version)
        source = DatasetSource(resolved.repo_id, resolved.version, kind="hub", resolved=commit)
    where = f"dataset {source.name}@{source.revision}" if source.revision else f"dataset {source.name}"
    if eval_split is not None and eval_split not in dataset:
        # Chosen: fail fast rather than train without evaluation. Without an eval split there is no early stopping,
        # no best checkpoint and no overfitting flag, which a user would only notice after paying for the GPU.
        raise RecipeConfigError(
            f"{where}: no split {eval_split!r} to evaluate on; it has {list(dataset)}. Set --dataset_test_split to "
            "one of those, or --eval_strategy no to train without evaluation (with --load_best_model_at_end false)"
        )
    for split in splits:
        check_reply_split(dataset, split, where, replies)
    return dataset, source


def check_reply_split(dataset, split: str, where: str, replies: Sequence[str] = SFT_REPLIES) -> None:
    """The split exists, has rows, and holds data_prep's conversational prompt and reply columns.

    Checked before any model loads: an empty split or a plain-text column would otherwise fail deep inside TRL's
    tokenization or the first training step, far from its cause.
    """
    if split not in dataset:
        raise RecipeConfigError(f"{where}: no split {split!r}; it has {list(dataset)}")
    rows = dataset[split]
    missing = {PROMPT, *replies} - set(rows.column_names)
    if missing:
        raise RecipeConfigError(f"{where} split {split!r}: missing column(s) {sorted(missing)}")
    if len(rows) == 0:
        raise RecipeConfigError(f"{where} split {split!r} has no rows")
    first = rows[0]
    for column in (PROMPT, *replies):
        messages = first[column]
        if not (isinstance(messages, list) and messages and all(_is_message(m) for m in messages)):
            raise RecipeConfigError(
                f"{where} split {split!r}: column {column!r} must hold chat messages "
                f'([{{"role": ..., "content": ...}}], as data_prep writes them), got {messages!r:.120}'
            )


def _is_message(message) -> bool:
    return isinstance(message, dict) and isinstance(message.get("role"), str) and "content" in message


def to_training_rows(split, enable_thinking: bool, replies: Sequence[str] = SFT_REPLIES):
    """Keep the conversational prompt and reply columns and add TRL's per-row chat_template_kwargs.

    TRL (SFTTrainer and DPOTrainer alike) renders the prompt with add_generation_prompt=True and the prompt + reply
    with these kwargs, and trains on the tokens after the common prefix: the reply and the `<|im_end|>` that closes it.
    """
    rows = split.select_columns([PROMPT, *replies])
    return rows.map(lambda _: {"chat_template_kwargs": {"enable_thinking": enable_thinking}})


# --- row checks --------------------------------------------------------------------------------------------------

_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")


def tokenizer_control_tokens(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The tokenizer's own special and added tokens: text that it turns into a control token, whatever the model."""
    tokens = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    return sorted(token for token in tokens if token)


def check_no_control_strings(
    splits: dict[str, Iterable[dict]], where: str, extra_tokens: Sequence[str], replies: Sequence[str] = SFT_REPLIES
) -> None:
    """Refuse any row whose prompt or reply text still carries a chat-template control string.

    Each message is checked after NFKC with zero-width characters removed (replytune/control_strings' contract), so
    a fullwidth or zero-width-split disguise is caught as the string it becomes. The error names the split, the row
    index, the column and the string, and counts the other rows that carry one.
    """
    found = []
    for split, rows in splits.items():
        for index, row in enumerate(rows):
            for column in (PROMPT, *replies):
                for message in row[column]:
                    text = message.get("content") or ""
                    if not isinstance(text, str):
                        continue
                    normalized = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))  # a literal stays literal
                    strings = find_control_strings(normalized, extra_tokens)
                    if strings:
                        found.append((split, index, column, strings[0]))
    if found:
        split, index, column, string = found[0]
        others = f" ({len(found) - 1} more row(s) carry one too)" if len(found) > 1 else ""
        raise RecipeConfigError(
            f"{where} split {split!r} row {index} column {column!r} contains the chat control string {string!r}"
            f"{others}. Training on it would teach the model to end or open turns inside a reply. Rebuild the dataset "
            "with data_prep (it rejects such records) or remove the row."
        )


@dataclass
class RowLengths:
    """Tokens per row of one split, counted with the chat template exactly as TRL's trainers count them.

    An SFT row is one sequence (prompt + reply); a DPO row two (prompt + chosen, prompt + rejected), which DPOTrainer
    pads to a common length within a batch.
    """

    total: list[int]  # prompt + reply (+ end-of-turn) tokens per row, summed over its sequences, unpadded
    reply: list[int]  # the tokens that carry loss per row
    longest: list[int] | None = None  # the row's longest sequence (None: one sequence per row, `total`)
    sequences: int = 1  # sequences per row

    @property
    def sequence_tokens(self) -> list[int]:
        """Each row's longest sequence: what max_example_tokens bounds."""
        return self.longest if self.longest is not None else self.total

    @property
    def padded(self) -> list[int]:
        """Tokens the trainer computes per row with its sequences padded to the longest of them (at the least)."""
        return [self.sequences * tokens for tokens in self.sequence_tokens]


def measure_rows(
    tokenizer: PreTrainedTokenizerBase,
    rows,
    enable_thinking: bool,
    batch_size: int = 256,
    replies: Sequence[str] = SFT_REPLIES,
) -> RowLengths:
    """Render each row's prompt and its conversation with each reply with the chat template and count their tokens."""
    total, reply, longest = [], [], []
    prompts, conversations = [], {column: [] for column in replies}
    for row in rows:
        prompts.append(list(row[PROMPT]))
        for column in replies:
            conversations[column].append(list(row[PROMPT]) + list(row[column]))
    for start in range(0, len(prompts), batch_size):
        prompt_ids = tokenizer.apply_chat_template(
            prompts[start : start + batch_size],
            add_generation_prompt=True,
            enable_thinking=enable_thinking,
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        full_ids = [
            tokenizer.apply_chat_template(
                conversations[column][start : start + batch_size],
                enable_thinking=enable_thinking,
                tokenize=True,
                return_dict=True,
            )["input_ids"]
            for column in replies
        ]
        for prompt, *sequences in zip(prompt_ids, *full_ids):
            total.append(sum(len(full) for full in sequences))
            reply.append(sum(len(full) - len(prompt) for full in sequences))
            longest.append(max(len(full) for full in sequences))
    if len(replies) == 1:
        return RowLengths(total, reply)
    return RowLengths(total, reply, longest, len(replies))


def check_row_lengths(lengths: dict[str, RowLengths], max_example_tokens: int, where: str) -> None:
    """Refuse rows longer than max_example_tokens, naming the first and counting the others."""
    too_long = [
        (split, index, tokens)
        for split, counted in lengths.items()
        for index, tokens in enumerate(counted.sequence_tokens)
        if tokens > max_example_tokens
    ]
    if too_long:
        split, index, tokens = too_long[0]
        others = f" ({len(too_long) - 1} more row(s) are too)" if len(too_long) > 1 else ""
        raise RecipeConfigError(
            f"{where} split {split!r} row {index} is {tokens:,} tokens long, over max_example_tokens "
            f"{max_example_tokens:,}{others}. Padding-free batches are never truncated, so such a row would run the "
            "GPU out of memory mid-run: remove it (data_prep bounds tweet and reply length) or raise "
            "max_example_tokens."
        )


# --- the loss mask -----------------------------------------------------------------------------------------------


def loss_mask(tokenizer: PreTrainedTokenizerBase, prompt: list[dict], completion: list[dict], **template_kwargs):
    """(token ids, 0/1 loss mask) of one row, exactly as TRL's SFTTrainer builds them for prompt-completion rows."""
    from trl.data_utils import common_prefix_length

    prompt_ids = tokenizer.apply_chat_template(
        prompt, tokenize=True, return_dict=True, add_generation_prompt=True, **template_kwargs
    )["input_ids"]
    full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True, **template_kwargs)[
        "input_ids"
    ]
    prompt_len = common_prefix_length(prompt_ids, full_ids)
    if prompt_len < len(prompt_ids):
        raise ValueError(
            "the chat template renders the prompt differently alone than followed by the reply, so training would "
            f"see another context than generation: prompt ends {tokenizer.decode(prompt_ids[prompt_len:])!r}"
        )
    return full_ids, [0] * prompt_len + [1] * (len(full_ids) - prompt_len)


def check_loss_on_reply_only(
    tokenizer: PreTrainedTokenizerBase, row: dict, training_args, replies: Sequence[str] = SFT_REPLIES
) -> None:
    """Before training: the loss falls on each reply and its end-of-turn token, never on the prompt."""
    if getattr(training_args, "completion_only_loss", None) is False:
        raise RecipeConfigError("completion_only_loss: false would train on the prompt too; remove it")
    end_of_turn_token = getattr(training_args, "eos_token", None) or tokenizer.eos_token  # DPOConfig has none
    end_of_turn = tokenizer.convert_tokens_to_ids(end_of_turn_token)
    for column in replies:
        kwargs = row.get("chat_template_kwargs", {})
        ids, mask = loss_mask(tokenizer, list(row[PROMPT]), list(row[column]), **kwargs)
        trained = [token for token, bit in zip(ids, mask) if bit]
        if end_of_turn not in trained:
            raise RecipeConfigError(
                f"the end-of-turn token {tokenizer.convert_ids_to_tokens(end_of_turn)!r} is not in the trained span "
                f"of column {column!r} {tokenizer.decode(trained)!r}: the model would never learn to stop (set "
                "eos_token in the recipe)"
            )
        text = tokenizer.decode(trained)
        logger.info("loss on %d of %d tokens of the first row's %s: %r", len(trained), len(ids), column, text)


# --- everything a run needs before its model loads -----------------------------------------------------------------


@dataclass
class CheckedData:
    """The run's dataset, checked row by row, with the tokenizer that checked it."""

    dataset: object  # the DatasetDict
    source: DatasetSource
    tokenizer: PreTrainedTokenizerBase
    lengths: dict[str, RowLengths]  # per used split
    train_rows: object  # TRL-ready Dataset
    eval_rows: object | None
    eval_split: object | None  # the raw eval split (sample prompts come from it)


def load_checked_data(
    script_args, training_args, model_args, replytune_args, replies: Sequence[str] = SFT_REPLIES
) -> CheckedData:
    """Load the splits the run uses and the tokenizer, and check every row: raises RecipeConfigError naming it.
    `replies`: the columns that carry loss (SFT_REPLIES, or PREFERENCE_REPLIES for DPO)."""
    from recipes.configs import evaluates
    from recipes.model_utils import load_tokenizer

    train_split, eval_split = script_args.dataset_train_split, script_args.dataset_test_split
    splits = [train_split, eval_split] if evaluates(training_args) else [train_split]
    dataset, source = load_reply_dataset(
        script_args.dataset_name,
        replytune_args.dataset_revision,
        splits,
        eval_split if len(splits) > 1 else None,
        replies,
    )
    logger.info(
        "dataset %s@%s (%s): %d train rows", source.name, source.revision, source.kind, len(dataset[train_split])
    )
    tokenizer = load_tokenizer(model_args.model_name_or_path, model_args.model_revision, replytune_args.gguf_file)
    where = f"dataset {source.name}@{source.revision}"
    used = {split: dataset[split] for split in splits}
    check_no_control_strings(used, where, tokenizer_control_tokens(tokenizer), replies)
    thinking = replytune_args.enable_thinking
    lengths = {split: measure_rows(tokenizer, rows, thinking, replies=replies) for split, rows in used.items()}
    check_row_lengths(lengths, replytune_args.max_example_tokens, where)
    train_rows = to_training_rows(dataset[train_split], thinking, replies)
    check_loss_on_reply_only(tokenizer, train_rows[0], training_args, replies)
    has_eval = len(splits) > 1
    return CheckedData(
        dataset=dataset,
        source=source,
        tokenizer=tokenizer,
        lengths=lengths,
        train_rows=train_rows,
        eval_rows=to_training_rows(dataset[eval_split], thinking, replies) if has_eval else None,
        eval_split=dataset[eval_split] if has_eval else None,
    )
