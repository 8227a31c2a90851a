"""Issue 21, the entry points: the recipes, `python -m judge ...` and `python -m scripts.reply` stop in ONE line on a
config that is not text and on a flag that does not parse; `accelerate launch --quiet` leaves the recipe's refusal as
the last line; the consoles are quiet by default (--verbose brings the known-harmless lines back); a dry run without
network says at once that the model is not cached.

Each command runs in a fresh process, as a user runs it: its console is what is checked."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT
from tests.sft_helpers import ACCELERATE, QWEN3_RECIPE, launch_env, reply_dataset_dict, write_versioned_dataset

GEMM = "Failed to load CPU gemm_4bit_forward from kernels-community"
LATIN1 = b"learning_rate: 1.0e-4\n# caf\xe9, a Latin-1 comment\n"


def run(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    # conftest's WANDB_MODE=offline makes transformers print "[INFO] Running in WANDB offline mode" at import
    env.pop("WANDB_MODE", None)
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def lines_of(result: subprocess.CompletedProcess) -> list[str]:
    return (result.stdout + result.stderr).splitlines()


@pytest.fixture
def latin1_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_bytes(LATIN1)
    return path


# --- 1. a config YAML that is not UTF-8: one line, the file and the byte offset, exit 2 ----------------------------


@pytest.mark.parametrize(
    "command",
    [
        # judge run read the config outside any handler: a 21-line traceback and exit 1 on main
        ["-m", "judge", "run", "--output", "OUT", "--config", "CONFIG"],
        ["-m", "judge", "stats", "--verdicts", "OUT/v.jsonl", "--output", "OUT", "--config", "CONFIG"],
        ["-m", "judge", "generate", "--output", "OUT", "--config", "CONFIG"],
        # `--config=X` ran the default recipe and failed on an unused argument on main
        ["recipes/sft_qlora.py", "--config=CONFIG", "--dry_run", "true"],
        ["recipes/dpo_qlora.py", "--config", "CONFIG", "--dry_run", "true"],
    ],
    ids=["judge-run", "judge-stats", "judge-generate", "sft-config-equals", "dpo"],
)
def test_a_config_that_is_not_utf8_is_named_in_one_line_with_its_byte_offset(command, latin1_config, tmp_path):
    args = [arg.replace("CONFIG", str(latin1_config)).replace("OUT", str(tmp_path / "out")) for arg in command]
    result = run([sys.executable, *args])
    lines = lines_of(result)
    assert result.returncode == 2, lines
    assert len(lines) == 1, lines  # no traceback, no library's import noise
    assert f"{latin1_config}: not UTF-8 text: byte 0xe9 at byte offset 27 (line 2)" in lines[0]


# --- 3. a numeric flag that does not parse: one line naming the flag and the value, exit 2 -------------------------


@pytest.mark.parametrize(
    "command, flag, value",
    [
        (["recipes/sft_qlora.py", "--config", str(QWEN3_RECIPE), "--learning_rate", "abc"], "--learning_rate", "abc"),
        (["-m", "judge", "run", "--output", "o", "--max-cost", "abc"], "--max-cost", "abc"),
        (["-m", "judge", "score", "--generations", "g", "--output", "o", "--max-cost", "abc"], "--max-cost", "abc"),
        (["-m", "judge", "generate", "--output", "o", "--max-tweets", "x"], "--max-tweets", "x"),
        (["-m", "judge", "generate", "--output", "o", "--batch-size", "x"], "--batch-size", "x"),
        (["-m", "scripts.reply", "--adapter", "a", "--tweet", "t", "--max-new-tokens", "x"], "--max-new-tokens", "x"),
        (["-m", "scripts.reply", "--adapter", "a", "--tweet", "t", "--seed", "1.5"], "--seed", "1.5"),
    ],
    ids=["recipe-learning-rate", "judge-run", "judge-score", "judge-max-tweets", "judge-batch-size", "reply", "seed"],
)
def test_a_numeric_flag_that_does_not_parse_fails_in_one_line(command, flag, value):
    result = run([sys.executable, *command])
    lines = lines_of(result)
    assert result.returncode == 2, lines
    assert len(lines) == 1, lines  # the recipe printed 165 lines (the usage of every TRL field) on main
    assert f"argument {flag}" in lines[0] and f"'{value}'" in lines[0], lines


# --- 2. accelerate launch: the recipe's refusal is the last line, no launcher traceback ----------------------------


def test_accelerate_launch_quiet_leaves_the_recipes_refusal_as_the_last_line(tmp_path):
    """The real `accelerate launch` entry point, as the docs now write it (--quiet), with the 8B recipe on a machine
    without a GPU: the recipe refuses at once; accelerate adds no CalledProcessError traceback and exits 1."""
    launcher = [str(ACCELERATE), "launch", "--quiet", "--cpu", "--num_processes", "1", "--num_machines", "1"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1"]
    result = run([*launcher, "recipes/sft_qlora.py", "--config", str(QWEN3_RECIPE)], env=launch_env(tmp_path))
    lines = lines_of(result)
    assert result.returncode == 1, lines  # accelerate's status for a script that stopped (docs/troubleshooting.md)
    assert "Traceback" not in result.stderr and "CalledProcessError" not in result.stderr, lines
    assert lines[-1].startswith("recipe error: there is no CUDA GPU here"), lines
    assert not any(GEMM in line for line in lines), lines  # quiet by default


DOCUMENTED = [
    "README.md",
    "docs/training.md",
    "recipes/configs.py",
    "recipes/sft_qlora.py",
    "recipes/dpo_qlora.py",
    "accelerate_configs/single_gpu.yaml",
    "recipes/qwen3-8b/sft/config_qlora.yaml",
    "recipes/qwen3-8b/dpo/config_qlora.yaml",
    "recipes/smollm2-135m/sft/config_demo.yaml",
    "recipes/smollm2-135m/dpo/config_demo.yaml",
]


@pytest.mark.parametrize("path", DOCUMENTED)
def test_every_documented_single_process_launch_passes_quiet(path):
    """Without --quiet, accelerate's single-process launcher prints a CalledProcessError traceback after any recipe
    refusal; multi-process launches (multi_gpu, FSDP, DeepSpeed configs) go through torch's launcher: not here."""
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    launches = re.findall(r"accelerate launch (?:--\w+ )*?(?:--config_file \S+ |--cpu )", text)
    launches = [launch for launch in launches if "single_gpu" in launch or "--cpu" in launch]
    assert launches, f"{path}: no single-process `accelerate launch` command found"
    assert all("--quiet" in launch for launch in launches), launches


# --- 4. quiet by default, --verbose brings everything back -------------------------------------------------------

HUB_LINES = """
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'")
    logging.getLogger("transformers.tokenization_utils_tokenizers").warning("Ignoring clean_up_tokenization_spaces=True for BPE tokenizer Qwen2TokenizerFast.")
    hub = logging.getLogger("huggingface_hub.utils._http")
    for attempt in (1, 2, 3):
        hub.warning(f"Retrying in {attempt}s [Retry {attempt}/5].")
    logging.getLogger("judge").warning("a warning of our own")
"""  # noqa: E501 - the lines as the libraries write them
JUDGE = f"""
import logging, sys
import huggingface_hub  # its import puts its own handler on its logger, as in any run that uses the Hub
from judge import __main__ as cli
from judge.stats import cli as stats

def fake_run(args):
{HUB_LINES}
    return 0

stats.run = fake_run
sys.exit(cli.main(["stats", "--verdicts", "v.jsonl", "--output", "out", *sys.argv[1:]]))
"""
REPLY = f"""
import logging, sys
import huggingface_hub
from scripts import reply

def fake_plan(args):
{HUB_LINES}
    raise reply.ReplyRefused("stop here")

reply.plan_reply = fake_plan
sys.exit(reply.main(["--adapter", "a", "--tweet", "t", *sys.argv[1:]]))
"""


@pytest.mark.parametrize("program", [JUDGE, REPLY], ids=["judge", "reply"])
@pytest.mark.parametrize("verbose", [False, True])
def test_judge_and_reply_are_quiet_unless_verbose(program, verbose):
    result = run([sys.executable, "-c", program, *(["--verbose"] if verbose else [])])
    lines = lines_of(result)
    text = "\n".join(lines)
    assert result.returncode in (0, 2), text
    assert sum("a warning of our own" in line for line in lines) == 1, text
    retries = [line for line in lines if "Retrying in" in line]
    if verbose:
        assert sum(GEMM in line for line in lines) == 1 and "clean_up_tokenization_spaces" in text, text
        assert len(retries) == 3, text  # every retry, each once (huggingface_hub's lines came out twice)
    else:
        assert GEMM not in text and "clean_up_tokenization_spaces" not in text, text
        assert len(retries) == 1, text


@pytest.mark.parametrize("verbose", [False, True])
def test_the_recipe_is_quiet_unless_verbose(verbose, latin1_config):
    """bitsandbytes says its CPU-kernel line when trl loads it, before any recipe logging is set up."""
    pytest.importorskip("bitsandbytes")
    if verbose and subprocess.run([sys.executable, "-c", "import kernels"], capture_output=True).returncode == 0:
        pytest.skip("the `kernels` package is installed: bitsandbytes has nothing to say")
    result = run([sys.executable, "recipes/sft_qlora.py", "--config", str(latin1_config), *(["--verbose"] * verbose)])
    lines = lines_of(result)
    assert result.returncode == 2, lines
    assert lines[-1].startswith("recipe error:"), lines
    assert any(GEMM in line for line in lines) == verbose, lines


# --- 5. the README's dry run without network: one line, in seconds, saying what to do ------------------------------


def test_the_dry_run_without_network_says_at_once_that_the_model_is_not_cached(tmp_path):
    """HF_HUB_OFFLINE unset, the Hub unreachable (a closed local port), an empty cache: on main this spent a minute
    in huggingface_hub's retries (51 lines) before saying the tokenizer could not be loaded."""
    data = write_versioned_dataset(tmp_path / "data").parent
    env = launch_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_CACHE=str(tmp_path / "hub-cache"))
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # the first read of the dataset draws bars: not the point here
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name)
    command = ["recipes/sft_qlora.py", "--config", str(QWEN3_RECIPE), "--dataset_name", str(data), "--dry_run", "true"]
    result = run([sys.executable, *command, "--output_dir", str(tmp_path / "out")], env=env)
    lines = lines_of(result)
    assert result.returncode == 2, lines
    assert len(lines) <= 3 and not any("Retrying" in line for line in lines), lines
    assert "model_name_or_path 'Qwen/Qwen3-8B': not in the local Hugging Face cache" in lines[-1], lines
    assert "hf download Qwen/Qwen3-8B" in lines[-1] and "local folder" in lines[-1], lines


def test_a_cached_model_is_read_from_the_cache_when_the_hub_is_unreachable(tmp_path, monkeypatch):
    from recipes import model_utils

    snapshot = tmp_path / "models--you--model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer_config.json").write_text("{}")
    (tmp_path / "models--you--model" / "refs").mkdir()
    (tmp_path / "models--you--model" / "refs" / "main").write_text("abc")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("replytune.hub.hub_unreachable", lambda: "no network")
    assert model_utils.hub_model_offline("you/model", "you/model", None) is True
    with pytest.raises(model_utils.ModelLoadError, match="hf download you/other"):
        model_utils.hub_model_offline("you/other", "you/other", None)
    assert model_utils.hub_model_offline(str(tmp_path), str(tmp_path), None) is False  # a folder: nothing to ask


def test_a_hub_dataset_comes_from_the_cache_or_is_refused_at_once_when_the_hub_is_down(hub_endpoint, monkeypatch):
    """The README's dry run names a Hub dataset: offline, datasets retried every file five times (37 s, 3 lines)."""
    from huggingface_hub import HfApi

    from recipes import configs, data
    from standins.hub import USER

    repo = f"{USER}/reply-pairs"
    reply_dataset_dict(train=2, eval=1, test=1).push_to_hub(repo, private=True)
    HfApi().create_tag(repo, tag="v1", repo_type="dataset")
    assert data.load_reply_dataset(repo, "v1", ["train"])[1].resolved is not None  # read once: now in the cache

    monkeypatch.setattr("replytune.hub.hub_unreachable", lambda: "no network")
    requests = []
    monkeypatch.setattr("httpx.Client.send", lambda *args, **kwargs: requests.append(args) or 1 / 0)
    dataset, source = data.load_reply_dataset(repo, "v1", ["train"])
    assert len(dataset["train"]) == 2 and source.resolved is None  # no commit to record without the Hub
    with pytest.raises(configs.RecipeConfigError, match="not in the local cache and the Hub cannot be asked"):
        data.load_reply_dataset(f"{USER}/other", "v1", ["train"])
    assert requests == []
