"""`python -m judge publish`: the adapter on the Hub, with a model card that states what the evaluation found.

    python -m judge publish --adapter OUTPUT_DIR --eval EVAL_DIR --repo you/replytune-qwen3-8b [--revision v1]
                            [--private true|false] [--config judge/configs/default.yaml]

Reads the recipe's output folder (adapter, tokenizer, resolved_config.yaml, run_metadata.json, plan.json,
trainer_state.json) and the evaluation folder (stats.json from `judge stats`, required; score_report.json,
validity.json, generation_report.json and their PNGs where present), checks that the evaluation is of this
adapter, and pushes ONE commit, tagged --revision (default: the repo's next free vN):

- README.md, the card (huggingface_hub ModelCard): base_model (a Hub id), library_name peft, datasets, license,
  tags and a model-index whose results are the judge metrics (win rate, mean score difference, d_z, p); the verdict
  with every criterion, the significance table, the judge's validity, the sanity and forgetting figures, training
  curves, the exact training config, intended use, limitations and a loading snippet;
- the adapter and tokenizer files, resolved_config.yaml, run_metadata.json, plan.json, trainer_state.json and
  training_curves.png;
- eval/: stats.json and its plots (later comparisons' from their subfolders), score_report.json,
  validity.json/.md/.png, generation_report.json and its plots;
- for a DPO adapter, preferences/: the report.json (and funnel.png) of the preference dataset version it trained on.

With several comparisons in stats.json (`judge stats --compare A:B ...`) the card leads with the one whose candidate is
this adapter, against the base model where there is one (judge/publish/inputs.choose_headline); a DPO adapter's card
adds its judged comparison against the SFT adapter it started from, its DPO metrics and the preference data's
timing-confound figure (judge/publish/card.py).

Before any upload every tie between stats.json and this adapter is checked (judge/publish/inputs.check_provenance:
the verdicts and generations it read, the texts they judged, this adapter's weights, the dataset version it was trained
on, the judge-validity check); one that cannot be made is refused. The card as pushed is kept as EVAL/model_card.md.

generations.jsonl and the verdicts stay local (they quote tweets of a dataset that is private by default), as do
checkpoints. Nothing pushed names a local path or holds a secret (replytune/publishable.py, replytune/hub.py:
push_files). Exit 0: pushed and tagged; 2: refused before any upload, with the reason; 1: the push failed (no tag
was made; the message says whether a whole commit landed untagged, which the same command then tags).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import sys
import tempfile
from pathlib import Path, PurePosixPath

from judge.config import DEFAULT_CONFIG_PATH, PublishConfig, load_judge_config
from judge.publish.card import PREFERENCE_REPORTS, PREFERENCES_FOLDER, TRAINING_CURVES, build_card, verdict_line
from judge.publish.inputs import (
    AdapterRun,
    Evaluation,
    PublishRefused,
    check_provenance,
    choose_headline,
    read_adapter_run,
    read_evaluation,
)
from judge.records import (
    ENGAGEMENT_FIT_FILE_NAME,
    GENERATION_REPORT_FILE_NAME,
    GENERATION_SUMMARY_FILE_NAME,
    PUBLISHED_CARD_FILE_NAME,
    PUBLISHED_EVAL_FOLDER,
    PUBLISHED_FILE_NAME,
    SCORE_CONFIG_FILE_NAME,
    SCORE_REPORT_FILE_NAME,
    STATS_FILE_NAME,
    VALIDITY_FILE_NAME,
    VALIDITY_PLOT_FILE_NAME,
    VALIDITY_SUMMARY_FILE_NAME,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, PushError, PushTargetError, Refused
from replytune.files import sha256_of, write_json_atomically
from replytune.hub import check_push_target, hub_token, push_files
from replytune.publishable import PUSHED_FILES, check_publishable, publishable_bytes, publishable_files
from replytune.secrets import redact
from replytune.versions import next_free_revision

# The evaluation's reports that are pushed (under eval/).
EVAL_REPORTS = (
    STATS_FILE_NAME,
    SCORE_REPORT_FILE_NAME,
    SCORE_CONFIG_FILE_NAME,
    ENGAGEMENT_FIT_FILE_NAME,
    GENERATION_REPORT_FILE_NAME,
    GENERATION_SUMMARY_FILE_NAME,
    VALIDITY_FILE_NAME,
    VALIDITY_SUMMARY_FILE_NAME,
)
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

log = logging.getLogger("judge.publish")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, required=True, help="the recipe's output folder (output_dir)")
    parser.add_argument("--eval", type=Path, required=True, help="the evaluation folder holding stats.json")
    parser.add_argument("--repo", required=True, help="Hub model repo: you/name (or name: your namespace)")
    parser.add_argument("--revision", default=None, help="the tag of this version (default: the next free vN)")
    parser.add_argument("--private", type=_boolean, default=None, help="true|false (default: publish.private, true)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="YAML config (default: %(default)s)")


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_judge_config(args.config).publish
        published = publish_adapter(
            args.adapter, args.eval, args.repo, args.revision, args.private, config, hub_token()
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # any other failure while working: the traceback in the log, one line on stderr
        log.exception("publish failed")
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    record_published(published, args.repo, args.adapter, args.eval)
    print(
        f"published {published.repo_id}@{published.revision} (commit {published.commit[:12]}, "
        f"{'private' if published.private else 'PUBLIC'}): {len(published.files)} files\n"
        f"verdict: {published.verdict}\n"
        f'load it: PeftModel.from_pretrained(base, "{published.repo_id}", revision="{published.revision}")'
    )
    return EXIT_OK


def record_published(published: Published, repo: str, adapter_dir: Path, eval_dir: Path) -> None:
    """EVAL/published.json: what went where, so that `judge run --publish` skips a push already made."""

    record = {
        "repo": repo,  # as given: `--repo name` is published as your-namespace/name (repo_id)
        **dataclasses.asdict(published),
        "adapter_sha256": sha256_of(Path(adapter_dir) / "adapter_model.safetensors"),
        "stats_sha256": sha256_of(Path(eval_dir) / STATS_FILE_NAME),
        "card": PUBLISHED_CARD_FILE_NAME,
    }
    write_json_atomically(Path(eval_dir) / PUBLISHED_FILE_NAME, record)


@dataclasses.dataclass
class Published:
    repo_id: str
    revision: str
    commit: str
    private: bool
    files: list[str]
    verdict: str


def publish_adapter(
    adapter_dir: str | Path,
    eval_dir: str | Path,
    repo: str,
    revision: str | None = None,
    private: bool | None = None,
    config: PublishConfig | None = None,
    token: str | None = None,
) -> Published:
    """Check the inputs and the push target, build the card, and push everything as one tagged commit.

    Raises PublishRefused (nothing uploaded) or PushError (no tag made). `judge run --publish`
    calls this."""

    config = config or PublishConfig()
    private = config.private if private is None else private
    if revision is not None and (not _REVISION.match(revision) or revision == "main"):
        raise PublishRefused(f"--revision {revision!r}: a tag is letters, digits, '.', '_' or '-' (v1, v2, ...)")
    adapter = read_adapter_run(Path(adapter_dir))
    evaluation = read_evaluation(Path(eval_dir))
    headline = choose_headline(adapter, evaluation, token)
    ties = check_provenance(adapter, evaluation, token)
    if headline:
        ties = {"the card's headline comparison": headline, **ties}
    local_paths = [*adapter.local_paths, str(evaluation.folder.resolve()), *evaluation.local_paths]
    if adapter.preferences is not None:
        local_paths.append(str(adapter.preferences.folder.resolve()))
    with tempfile.TemporaryDirectory(prefix="replytune-publish-") as staging:
        files = collect_files(adapter, evaluation, Path(staging))
        try:
            check_publishable(files, local_paths)
        except PushError as error:
            raise PublishRefused(str(error)) from error
        try:
            repo_id = check_push_target(repo, revision, token, private)
            revision = revision or next_free_revision(repo_id, token)
        except PushTargetError as error:
            raise PublishRefused(f"--repo {repo}: {error}") from error
        provenance = {
            "adapter weights (sha256)": adapter.weights_sha256,
            **ties,
            "stats.json (sha256)": sha256_of(evaluation.folder / STATS_FILE_NAME),
        }
        card = build_card(adapter, evaluation, repo_id, revision, config, provenance, files)
        files["README.md"] = card.encode("utf-8")
        message = f"replytune adapter {revision}: {verdict_line(evaluation.stats)}"
        repo_id, commit = push_files(repo_id, files, private, revision, token, message, local_paths)
    # the card as pushed, kept beside the evaluation: what was published can be read without the Hub
    (evaluation.folder / PUBLISHED_CARD_FILE_NAME).write_bytes(files["README.md"])
    return Published(repo_id, revision, commit, private, sorted(files), verdict_line(evaluation.stats))


# --- the files of the commit ----------------------------------------------------------------------------------


def collect_files(adapter: AdapterRun, evaluation: Evaluation, staging: Path) -> dict[str, Path | bytes]:
    """Path in the repo -> content: the adapter's files (its own card aside), the training curves, the evaluation's
    reports and plots under eval/. Text files are path-free and redacted (publishable_files)."""
    from judge import plots

    files = publishable_files(adapter.folder, [name for name in PUSHED_FILES if name != "README.md"])
    if adapter.log_source and "trainer_state.json" not in files:  # a run saved before it was kept: a checkpoint's
        files["trainer_state.json"] = publishable_bytes(adapter.folder / adapter.log_source)
    if adapter.log_history:
        title = f"{adapter.base_model} + LoRA: training curves"
        if plots.plot_training_curves(adapter.log_history, staging / TRAINING_CURVES, title):
            files[TRAINING_CURVES] = staging / TRAINING_CURVES
    prefix = f"{PUBLISHED_EVAL_FOLDER}/"
    files.update(publishable_files(evaluation.folder, EVAL_REPORTS, prefix))
    files.update(publishable_files(evaluation.folder, sorted(p.name for p in evaluation.folder.glob("*.png")), prefix))
    files.update(publishable_files(evaluation.folder, comparison_plots(evaluation), prefix))
    if adapter.preferences is not None:  # the DPO run's preference data: its funnel and timing-confound figures
        files.update(publishable_files(adapter.preferences.folder, PREFERENCE_REPORTS, f"{PREFERENCES_FOLDER}/"))
    if evaluation.validity_folder is not None and evaluation.validity_folder != evaluation.folder:
        names = [VALIDITY_FILE_NAME, VALIDITY_SUMMARY_FILE_NAME, VALIDITY_PLOT_FILE_NAME]
        files.update(publishable_files(evaluation.validity_folder, names, f"{prefix}validity/"))
    return files


def comparison_plots(evaluation: Evaluation) -> list[str]:
    """The plots of stats.json's later comparisons, in their subfolders of the evaluation folder (dpo-vs-base/...)."""
    names = []
    for comparison in evaluation.comparisons:
        for name in (comparison.get("plots") or {}).values():
            path = PurePosixPath(name) if isinstance(name, str) else None
            if path is not None and len(path.parts) > 1 and not path.is_absolute() and ".." not in path.parts:
                names.append(str(path))
    return sorted(set(names))
