"""The Hub stand-in's data model: repos, commits as full snapshots, blobs, and the errors the Hub answers with.

Nothing here serves HTTP (standins/hub/routes.py does) or starts a server (standins/hub/server.py).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

USER = "stand-in-user"  # the namespace of repos created without an organization, and whoami's name
TOKEN = "hf_test_token"  # what the fixture puts in HF_TOKEN; the server accepts any bearer token
# The real Hub's default .gitattributes routes these through LFS (a subset of its list). Together with "contains a
# NUL byte" and "larger than 10 MB" this decides the preupload mode. `Dataset.push_to_hub` deletes its temporary
# parquet files right after preupload, so a server that answered "regular" for them would break the commit.
_LFS_PATTERNS = (
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.gguf *.gz *.h5 *.joblib *.model *.msgpack *.npy *.npz *.onnx *.ot *.parquet"
    " *.pb *.pickle *.pkl *.pt *.pth *.safetensors *.tar *.tflite *.zip *.zst"
).split()
_REGULAR_MAX_BYTES = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in _LFS_PATTERNS).encode()
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class HubError(Exception):
    """An HTTP error as the Hub sends it: huggingface_hub maps X-Error-Code to its exception classes."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers or {}, extra


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def wants_lfs(path: str, sample: bytes, size: int) -> bool:
    if size == 0:
        return False  # huggingface_hub sends empty files inline whatever the server says
    name = path.rsplit("/", 1)[-1]
    return size > _REGULAR_MAX_BYTES or b"\x00" in sample or any(fnmatch.fnmatch(name, p) for p in _LFS_PATTERNS)


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, eq=False)
class Blob:
    """One file version. Hashes are computed once: tree listings ask for them on every entry."""

    data: bytes
    lfs: bool

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def pointer(self) -> bytes:
        # What git would store for an LFS file: the pointer's git sha1 is the file's tree oid on the Hub.
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()
        )

    @cached_property
    def git_oid(self) -> str:
        return _git_blob_sha1(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        # The Hub's ETag is the git sha1 for regular files and the sha256 for LFS files; hf_hub_download names
        # cached blobs after it, and preupload's "oid" uses the same convention to skip unchanged files.
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, Blob]  # the full snapshot, not a diff: any revision can be served without replaying history


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # uploaded through the LFS PUT, by sha256

    def resolve(self, revision: str) -> Commit:
        """A branch, a tag, refs/heads|tags/<name>, or a commit sha (7+ hex digits, like the Hub)."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return self.commits[refs[revision[len(prefix) :]]]
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if _SHORT_SHA.match(revision):
            matches = [oid for oid in self.commits if oid.startswith(revision)]
            if len(matches) == 1:
                return self.commits[matches[0]]
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def history(self, commit: Commit) -> list[Commit]:
        """Newest first, following first parents, like the Hub's /commits listing."""
        out = [commit]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out


@dataclass(frozen=True)
class RecordedRequest:
    """What tests may inspect: the Authorization header is dropped, only whether one was sent is kept."""

    method: str
    path: str
    headers: dict[str, str]
    authorized: bool
    status: int  # what the stand-in answered: a 404 here may be an endpoint it does not implement
