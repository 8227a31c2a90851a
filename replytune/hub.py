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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from replytune.errors import PushError
from replytune.secrets import redact

logger = logging.getLogger(__name__)

PUSH_ATTEMPTS = 4  # per step; a transient error is retried
PUSH_RETRY_DELAY_S = 2.0  # doubled after each failed attempt
TRANSIENT_STATUS = (408, 412, 429, 500, 502, 503, 504)

T = TypeVar("T")


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
