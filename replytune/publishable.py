"""What may leave the machine: the bytes pushed for a file, with no secret and no absolute local path in them.

Every push of an adapter folder or an evaluation (the recipe's push and `judge publish` alike) goes through here:
- text files (run files, cards, reports) are pushed as path-free copies: every absolute local path shortened to its
  last part (/home/me/runs/adapter -> adapter) and every secret value redacted; a JSON or YAML file says which
  fields it shortened;
- weights, images and the files libraries read back (VERBATIM_FILES) are pushed byte for byte;
- `check_publishable` then refuses (PushError) any file that still holds a secret value or a local path of the run,
  and any that holds what looks like a secret or a local path from anywhere: a string shaped like an API key or
  token (SECRET_SHAPES: sk-ant-, sk-, hf_, apify_api_, ghp_, AKIA..., a private key block), whatever the current
  environment holds, and in text files an absolute path under a home, temporary or work folder (FOREIGN_PATH), a
  path another machine wrote into a file that is pushed byte for byte.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml

from replytune.errors import PushError
from replytune.secrets import SECRET_NAMES, redact

# Files that libraries read back are pushed byte for byte: their strings are vocabulary and settings, and rewriting
# them could break loading. `push_files` still refuses one that names a local folder of the run.
VERBATIM_FILES = (
    "adapter_model.safetensors",
    "adapter_config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)
BINARY_SUFFIXES = frozenset({".safetensors", ".bin", ".pt", ".model", ".png", ".jpg", ".jpeg", ".parquet"})

# Files of an adapter folder (the recipe's output_dir) that are pushed: checkpoints, tracker logs and sample
# generations (they quote tweets from a dataset that is private by default) stay local.
PUSHED_FILES = (
    *VERBATIM_FILES,
    "README.md",
    "resolved_config.yaml",
    "run_metadata.json",
    "plan.json",
    "trainer_state.json",
)


# --- secrets ---------------------------------------------------------------------------------------------------------


def _secret_values() -> list[str]:
    return [os.environ[name] for name in SECRET_NAMES if len(os.environ.get(name) or "") >= 4]


def assert_no_secrets(folder: str | Path) -> None:
    """Fail if any known secret value appears in a text file of `folder` (about to be saved or pushed)."""
    secrets = _secret_values()
    if not secrets:
        return
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".yml", ".md", ".txt", ".jsonl"):
            text = path.read_text(encoding="utf-8", errors="ignore")
            if any(secret in text for secret in secrets):
                raise RuntimeError(f"a secret value appears in {path}; refusing to save or push it")


# Strings shaped like the credentials this project (and its users' machines) hold, wherever they came from. A match
# needs the prefix at the start of a token and a long tail, so vocabulary entries and hashes do not match.
_NOT_AFTER = rb"(?<![A-Za-z0-9_-])"
SECRET_SHAPES: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (what, re.compile(_NOT_AFTER + pattern))
    for what, pattern in (
        ("an Anthropic API key (sk-ant-...)", rb"sk-ant-[A-Za-z0-9_-]{16,}"),
        ("an OpenAI-style API key (sk-...)", rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        ("a Hugging Face token (hf_...)", rb"hf_[A-Za-z0-9]{30,}"),
        ("an Apify token (apify_api_...)", rb"apify_api_[A-Za-z0-9]{20,}"),
        ("a GitHub token (ghp_..., github_pat_...)", rb"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        ("an AWS access key id (AKIA...)", rb"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"),
        ("a Slack token (xox...-)", rb"xox[abprs]-[A-Za-z0-9-]{10,}"),
        ("a private key block", rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    )
)
# An absolute path under a folder that holds someone's files (a home, a temporary or a work folder), on any machine:
# in a file pushed as it is, it is a path of the machine that wrote it. JSON escapes a Windows backslash as two.
FOREIGN_PATH = re.compile(
    rb"(?<![\w.~/-])/(?:home|Users|root|tmp|private/var|var/folders|mnt|media|work|workspace|scratch|data|srv|opt"
    rb"|content|kaggle)/[^\s/\\\"'`<>|(){}\[\],;:]+"
    rb"|(?<![A-Za-z])[A-Za-z]:\\{1,2}(?:Users|Documents and Settings)\\{1,2}[^\s\\\"'`<>|]+"
)


def secret_shape(data: bytes) -> str | None:
    """What kind of credential `data` seems to hold (SECRET_SHAPES), with its first characters; None if none."""
    for what, pattern in SECRET_SHAPES:
        match = pattern.search(data)
        if match:
            return f"{what}: {match.group(0)[:6].decode('ascii', 'replace')}..."
    return None


def foreign_path(data: bytes) -> str | None:
    """The first absolute path under a home, temporary or work folder in `data` (FOREIGN_PATH); None if none."""
    match = FOREIGN_PATH.search(data)
    return match.group(0).decode("utf-8", "replace") if match else None


def _scanned_text(name: str, data: bytes) -> bytes | None:
    """The part of a pushed file that is text: the whole file, a safetensors file's JSON header, or None (a binary
    file: weights, images)."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".safetensors":
        if len(data) < 8:
            return b""
        size = int.from_bytes(data[:8], "little")
        return data[8 : 8 + min(size, 100_000_000)]
    if suffix in BINARY_SUFFIXES:
        return None
    return data


def check_publishable(files: dict[str, Path | bytes], local_paths=()) -> None:
    """PushError naming the first file that holds a secret value of this environment, a string shaped like a
    credential (anyone's), one of `local_paths` (this run's absolute paths), or, in its text, an absolute path
    under a home, temporary or work folder of any machine."""
    secrets = [secret.encode() for secret in _secret_values()]
    local = [path.encode() for path in local_paths if len(path.strip("/")) > 1]
    for name, content in files.items():
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        if any(secret in data for secret in secrets):
            raise PushError(f"a secret value appears in {name}; refusing to push it")
        shaped = secret_shape(data)
        if shaped:
            raise PushError(f"{name} holds what looks like a credential ({shaped}); refusing to push it")
        for path in local:
            if path in data:
                raise PushError(f"{name} names the local path {path.decode()}; refusing to push it")
        text = _scanned_text(name, data)
        found = foreign_path(text) if text else None
        if found:
            raise PushError(
                f"{name} names the absolute path {found} (a folder of the machine that wrote it); refusing to push "
                "it: write a Hub id or a relative path there"
            )


# --- local paths -----------------------------------------------------------------------------------------------------

# An absolute path inside a longer text: POSIX with at least two parts, not inside a URL (scheme://host/a/b) or a
# relative path (runs/a/b, ./a, ~/a); or Windows (C:\\Users\\me).
_POSIX_PATH_IN_TEXT = re.compile(r"(?<![\w.~/-])/(?!/)(?:[^\s/\\\"'`<>|(){}\[\],;]+/)+[^\s/\\\"'`<>|(){}\[\],;]*")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_WINDOWS_PATH_IN_TEXT = re.compile(r"\b[A-Za-z]:\\(?:[^\\\s\"'`<>|]+\\)*[^\\\s\"'`<>|]*")


def is_local_path(value: str) -> bool:
    """An absolute path on this machine's or a Windows file system ("/home/me/run", "C:\\runs"), not "/"."""
    return (value.startswith("/") and value.strip("/") != "") or bool(_WINDOWS_DRIVE.match(value))


def path_free_text(text: str) -> str:
    """`text` with every absolute local path in it shortened to its last part (/home/me/runs/v1 -> v1)."""
    if is_local_path(text) and "\n" not in text:
        return _last_part(text)
    text = _POSIX_PATH_IN_TEXT.sub(lambda match: _last_part(match.group(0)), text)
    return _WINDOWS_PATH_IN_TEXT.sub(lambda match: _last_part(match.group(0)), text)


def _last_part(path: str) -> str:
    pure = PureWindowsPath(path) if _WINDOWS_DRIVE.match(path) else PurePosixPath(path)
    return pure.name or path


def path_free(value, where: str = "", changed: list[str] | None = None):
    """A JSON-like value with every string (keys too) path-free; the dotted names of the values that changed are
    appended to `changed`."""
    if isinstance(value, dict):
        return {
            path_free_text(str(key)): path_free(item, f"{where}.{key}" if where else str(key), changed)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [path_free(item, f"{where}[{index}]", changed) for index, item in enumerate(value)]
    if isinstance(value, str):
        shortened = path_free_text(value)
        if shortened != value and changed is not None:
            changed.append(where)
        return shortened
    return value


def publishable_bytes(path: str | Path) -> bytes:
    """What is pushed for the file at `path`, by the recipe's push and by `judge publish` alike: the run files, the
    card and the evaluation reports with every absolute local path shortened to its last part (output_dir: /home/me/
    runs/adapter -> adapter) and every secret value redacted; weights, images and the files libraries read back
    (VERBATIM_FILES) unchanged. A JSON or YAML file names the fields it shortened (`local_paths_removed`, or a
    comment); a file with nothing to change is returned byte for byte."""
    path = Path(path)
    data = path.read_bytes()
    if path.name in VERBATIM_FILES or path.suffix.lower() in BINARY_SUFFIXES:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # not text: nothing in it reads as a path
    suffix, changed = path.suffix.lower(), []
    if suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            shortened = path_free_text(text)
        else:
            document = path_free(document, changed=changed)
            if changed and isinstance(document, dict):
                document["local_paths_removed"] = changed
            shortened = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if changed else text
    elif suffix in (".yaml", ".yml"):
        document = path_free(yaml.safe_load(text), changed=changed)
        if changed:
            header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
            note = f"# Local paths shortened to their last part for publishing: {', '.join(changed)}.\n"
            shortened = header + note + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        else:
            shortened = text
    elif suffix == ".jsonl":
        shortened = "".join(_path_free_line(line) for line in text.splitlines(keepends=True))
    else:
        shortened = path_free_text(text)
    return redact(shortened).encode("utf-8")


def _path_free_line(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return path_free_text(line)
    changed: list[str] = []
    record = path_free(record, changed=changed)
    return json.dumps(record, ensure_ascii=False) + "\n" if changed else line


def publishable_files(folder: str | Path, names, prefix: str = "") -> dict[str, Path | bytes]:
    """{prefix + name: what to push} for the files of `folder` among `names` that exist (verbatim ones as paths)."""
    folder, files = Path(folder), {}
    for name in names:
        path = folder / name
        if path.is_file():
            verbatim = path.name in VERBATIM_FILES or path.suffix.lower() in BINARY_SUFFIXES
            files[prefix + name] = path if verbatim else publishable_bytes(path)
    return files


def local_paths_of_run(output_dir: str | Path) -> list[str]:
    """The absolute local paths a run's files name (its output folder, the base model's and dataset's folders): none
    of them may appear in anything pushed."""
    output_dir = Path(output_dir)
    found = {str(output_dir.resolve())}
    for name, keys in (
        ("run_metadata.json", ("dataset", "dataset_resolved", "base_model")),
        ("resolved_config.yaml", ("output_dir", "dataset_name", "model_name_or_path")),
    ):
        path = output_dir / name
        if not path.is_file():
            continue
        document = json.loads(path.read_text("utf-8")) if name.endswith(".json") else yaml.safe_load(path.read_text())
        for key in keys:
            value = (document or {}).get(key)
            if isinstance(value, str) and (is_local_path(value) or Path(value).exists()):
                found.add(str(Path(value).resolve()) if Path(value).exists() else value)
    return sorted(found)
