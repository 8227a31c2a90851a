"""A Hub push is one commit and its tag, or nothing: the one push every stage uses (dataset versions, adapters).

- `push_commit` uploads a set of files as ONE commit on main whose parent is pinned to the head it was built on,
  and tags that commit only after it landed. Whatever else main held (.gitattributes aside) is deleted in the same
  commit, so a tagged revision holds exactly these files, never a mix with an earlier version's.
- Every step (create the repo, commit, tag, and the checks before them: `retrying`) is retried on what a Hub
  having a bad moment answers: 5xx, 429, 408, a timeout or a dropped connection, and 412 (the head moved: the
  commit is built again on the new head). A commit whose answer was lost is found on the retry (nothing changed
  since: huggingface_hub skips the empty commit), not made twice.
- A failed push raises PushError: `commit` is None when nothing landed, else the sha of a whole commit that could
  not be tagged; the same push again tags it without uploading anything.
- `check_push_target` is the one check made before any work, for dataset and model repos alike: the Hub answers,
  the tag is free (a published version never moves), and a private push would not land in an existing public repo.
- `push_files` refuses a file that holds a secret or a local path (replytune/publishable.py) before it uploads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from replytune.errors import PushError, PushTargetError
from replytune.publishable import (
    PUSHED_FILES,
    assert_no_secrets,
    check_publishable,
    local_paths_of_run,
    publishable_files,
)
from replytune.secrets import get_secret, redact

logger = logging.getLogger(__name__)

PUSH_ATTEMPTS = 4  # per step; a transient error is retried
PUSH_RETRY_DELAY_S = 2.0  # doubled after each failed attempt
TRANSIENT_STATUS = (408, 412, 429, 500, 502, 503, 504)

T = TypeVar("T")


def is_hub_repo_id(name: str) -> bool:
    """`name` is a valid Hub repo id (NAME or OWNER/NAME), whether or not such a repo exists."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def hub_token() -> str | None:
    """HF_TOKEN, from the environment or .env (None: huggingface_hub's own login, if any)."""
    return get_secret("HF_TOKEN")


def check_push_target(
    repo_id: str,
    tag: str | None,
    token: str | None,
    private: bool | None = None,
    repo_type: str | None = None,
    public_push: str = "ask for a public push",
) -> str:
    """Before any work: the full repo id to push to (`name` -> `your-user/name`, as create_repo would pick), after
    checking that the Hub answers, that `tag` is free (a tag that exists would not move to the new commit, and
    whoever loads the repo at that tag must keep getting what it first held), and, for a private push, that the repo
    is not an existing public one (create_repo(exist_ok=True) leaves it public). `public_push` says how the caller's
    user asks for a public push on purpose. Raises PushTargetError naming the repo and what is wrong."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=token)
    try:
        if "/" not in repo_id:
            repo_id = f"{retrying(api.whoami, 'who am I')['name']}/{repo_id}"
        public = private and not retrying(lambda: api.repo_info(repo_id, repo_type=repo_type), "repo info").private
        refs = retrying(lambda: api.list_repo_refs(repo_id, repo_type=repo_type), "list tags") if tag else None
    except RepositoryNotFoundError:
        return repo_id  # the push creates it
    except Exception as error:  # no token, a token without access, no connection: say so before the work
        raise PushTargetError(f"the Hub cannot be used for {repo_id!r}: {redact(str(error))}") from error
    tags = {ref.name: ref.target_commit for ref in refs.tags} if refs else {}
    if tag in tags:
        raise PushTargetError(
            f"tag {tag!r} already exists on {repo_id} (commit {tags[tag][:12]}): a published version never moves, "
            f"and {repo_id} already has a tag {tag} that must keep meaning what it first meant. Pick a new tag"
        )
    if public:
        raise PushTargetError(
            f"{repo_id} exists and is public: refusing a private push into it (everything pushed would be public). "
            f"Make the repo private on the Hub, push to another repo, or {public_push}"
        )
    return repo_id


def push_adapter(
    output_dir: str | Path, repo_id: str, private: bool, tag: str | None, token: str | None, commit_message: str
) -> tuple[str, str]:
    """Upload an adapter folder (the recipe's output_dir: PUSHED_FILES) as one commit and tag that commit; returns
    (repo id, commit sha)."""
    output_dir = Path(output_dir)
    assert_no_secrets(output_dir)
    files = publishable_files(output_dir, PUSHED_FILES)
    return push_files(repo_id, files, private, tag, token, commit_message, local_paths_of_run(output_dir))


def push_files(
    repo_id: str,
    files: dict[str, Path | bytes],
    private: bool,
    tag: str | None,
    token: str | None,
    commit_message: str,
    local_paths=(),
) -> tuple[str, str]:
    """Upload `files` (path in the repo -> a file, or its bytes) as ONE commit on main, then tag that commit;
    returns (repo id, commit sha). Before any upload, a file that holds a secret value or one of `local_paths` is
    refused (PushError)."""
    check_publishable(files, local_paths)
    return push_commit(repo_id, files, commit_message, tag=tag, private=private, token=token)


def push_commit(
    repo_id: str,
    files: dict[str, Path | bytes],
    commit_message: str,
    tag: str | None = None,
    repo_type: str | None = None,
    private: bool = True,
    token: str | None = None,
    tag_message: str | None = None,
) -> tuple[str, str]:
    """Upload `files` (path in the repo -> a file, or its bytes) as one commit on main, then tag it `tag`;
    returns (repo id, commit sha). `create_repo(exist_ok=True)` leaves an existing repo's visibility as it is:
    callers check that first."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        repo_id = retrying(
            lambda: api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True).repo_id,
            "create repo",
        )
        commit = commit_files(api, repo_id, files, commit_message, repo_type)
    except Exception as error:
        raise PushError(f"push to {repo_id} failed, nothing was committed: {redact(str(error))}") from error
    logger.info("committed %d file(s) to %s: %s", len(files), repo_id, commit)
    if tag:
        try:
            retrying(lambda: create_tag(api, repo_id, tag, commit, repo_type, tag_message), f"tag {tag}")
        except Exception as error:
            raise PushError(
                f"commit {commit} (whole: every file) is on {repo_id}'s main branch, but tag {tag!r} could not be "
                f"created: {redact(str(error))}. Run the same push again: it tags that commit without uploading",
                commit,
            ) from error
        logger.info("tagged %s at %s as %s", repo_id, commit, tag)
    return repo_id, commit


def commit_files(
    api, repo_id: str, files: dict[str, Path | bytes], commit_message: str, repo_type: str | None = None
) -> str:
    """One commit on main holding exactly `files`, its parent pinned to the head read just before; each request
    retried while it fails transiently, and the whole again (on a head read anew) when the commit itself does."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def attempt() -> str:
        head = retrying(lambda: api.repo_info(repo_id, repo_type=repo_type).sha, "read the head")
        present = retrying(lambda: api.list_repo_files(repo_id, repo_type=repo_type, revision=head), "list files")
        stale = set(present) - set(files) - {".gitattributes"}
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=data) for name, data in files.items()]
        operations += [CommitOperationDelete(path_in_repo=name) for name in sorted(stale)]
        return api.create_commit(
            repo_id, operations=operations, commit_message=commit_message, repo_type=repo_type, parent_commit=head
        ).oid

    return retrying(attempt, "commit")


def create_tag(
    api, repo_id: str, tag: str, commit: str, repo_type: str | None = None, tag_message: str | None = None
) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_tag(repo_id, tag=tag, revision=commit, repo_type=repo_type, tag_message=tag_message)
    except HfHubHTTPError as error:
        if status_of(error) != 409:
            raise
        tagged = {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id, repo_type=repo_type).tags}
        if tagged.get(tag) != commit:  # an answer lost after the tag was made reads as 409 on the retry: that is fine
            raise PushError(f"tag {tag!r} already exists on {repo_id} at commit {tagged.get(tag)}") from error


def retrying(step: Callable[[], T], what: str) -> T:
    """`step()`, tried again (up to PUSH_ATTEMPTS in all, the wait doubling) while it fails transiently."""
    delay = PUSH_RETRY_DELAY_S
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        try:
            return step()
        except Exception as error:  # noqa: BLE001 - retried only when transient, else raised as it is
            if attempt == PUSH_ATTEMPTS or not is_transient(error):
                raise
            message = redact(str(error))
            logger.warning("%s: %s (try %d of %d); retrying in %.0fs", what, message, attempt, PUSH_ATTEMPTS, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def status_of(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def is_transient(error: BaseException) -> bool:
    import httpx

    return status_of(error) in TRANSIENT_STATUS or isinstance(error, (httpx.TransportError, TimeoutError))


# --- is the Hub there at all? ----------------------------------------------------------------------------------------

HUB_PROBE_SECONDS = 5.0


def hub_unreachable(timeout: float = HUB_PROBE_SECONDS) -> str | None:
    """Why the Hub cannot be asked now (HF_HUB_OFFLINE, or one quick request that fails), or None when it answers.

    One request without retries: huggingface_hub retries each file five times with backoff, so a run without network
    spent a minute printing retry lines before it said the model could not be loaded."""
    import httpx
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        httpx.head(f"{constants.ENDPOINT}/api/models", timeout=timeout)  # any answer, even an error status, will do
    except httpx.HTTPError as error:
        return f"{constants.ENDPOINT} cannot be reached ({type(error).__name__}: {error})"
    return None


@contextlib.contextmanager
def offline():
    """Inside: huggingface_hub and datasets read only the local cache, as with HF_HUB_OFFLINE=1, so a Hub that
    `hub_unreachable` found down costs no retries: a cached copy loads, anything else fails at once."""
    from datasets import config as datasets_config
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, datasets_config.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = datasets_config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets_config.HF_HUB_OFFLINE = saved


def is_cached(repo_id: str, filename: str, revision: str | None = None) -> bool:
    """Whether `filename` of the model repo `repo_id` is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str)
