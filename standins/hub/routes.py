"""The Hub stand-in's HTTP routes: the slice of the Hub API that huggingface_hub 1.33 and datasets 4.8.5 call,
answered from the store in standins/hub/server.py, with the JSON shapes huggingface_hub parses."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from standins.hub.model import GITATTRIBUTES, USER, Blob, Commit, HubError, Repo, timestamp, wants_lfs

# The HubStandIn serving the request (server.py), reached as self.server.hub. Not imported, not even for type
# checkers: server.py imports this module, and an import back would close a circle (tests/test_layering.py).
Hub = Any

_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


# -- JSON shapes that huggingface_hub parses (RepoFile, RepoFolder, GitCommitInfo, ModelInfo, DatasetInfo) -----------
def _last_commit(repo: Repo, commit: Commit, path: str, is_dir: bool) -> dict:
    """The newest commit that changed `path`: walk back while the parent still has the same content there."""

    def signature(c: Commit):
        if is_dir:
            return sorted((p, b.git_oid) for p, b in c.files.items() if p.startswith(path + "/"))
        blob = c.files.get(path)
        return blob.git_oid if blob else None

    current, found = signature(commit), commit
    while found.parent is not None and signature(repo.commits[found.parent]) == current:
        found = repo.commits[found.parent]
    return {"id": found.oid, "title": found.title, "date": found.date}


def _file_entry(path: str, blob: Blob) -> dict:
    entry = {"type": "file", "oid": blob.git_oid, "size": len(blob.data), "path": path}
    if blob.lfs:
        entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.pointer)}
    return entry


def _folder_entry(path: str, files: dict[str, Blob]) -> dict:
    listing = "".join(f"{p} {b.git_oid}\n" for p, b in sorted(files.items()) if p.startswith(path + "/"))
    return {"type": "directory", "oid": hashlib.sha1(listing.encode()).hexdigest(), "size": 0, "path": path}


def _folders(files: dict[str, Blob]) -> set[str]:
    return {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}


def _commit_json(c: Commit) -> dict:
    return {"id": c.oid, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": USER}]}


def _truthy(query: dict, key: str) -> bool:
    return query.get(key, [""])[0].lower() in ("1", "true")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; so every response carries a Content-Length
    server_version = "HubStandIn/1.0"
    timeout = 60  # a handler thread parked on an idle keep-alive connection gives up eventually

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by BaseHTTPRequestHandler
        pass  # keep pytest output clean; tests read hub.requests instead

    # -- plumbing ----------------------------------------------------------------------------------------------------
    def _handle(self) -> None:
        hub: Hub = self.server.hub  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        body = self._read_body()
        auth = self.headers.get("Authorization", "")
        self.authorized = auth.startswith("Bearer ") and len(auth) > len("Bearer ")
        # Segments are unquoted one by one: huggingface_hub quotes revisions with safe="", so "refs%2Fconvert%2F
        # parquet" stays one segment and reaches Repo.resolve as "refs/convert/parquet" (a proper RevisionNotFound).
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        with hub._lock:
            try:
                status = hub.fault(self.command, split.path) if hub.fault is not None else None
                if status is not None:
                    raise HubError(status, None, f"fault injected by the test: {self.command} {split.path}")
                self._route(hub, segments, body)
            except HubError as err:
                self._error(err)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up mid-response: its problem, not a stand-in bug
            except Exception:
                hub.errors.append(f"{self.command} {self.path}\n{traceback.format_exc()}")
                self._error(HubError(500, None, "stand-in crashed; see HubStandIn.errors"))

    def _read_body(self) -> bytes:
        # huggingface_hub streams LFS PUTs from file objects, which httpx may send chunked (no Content-Length).
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype: str = "application/json"):
        # Recorded before the client can see the response, so a test never reads hub.requests one request short.
        self.server.hub._record(self.command, self.path, self.headers, self.authorized, status)  # type: ignore
        self.send_response(status)
        for key, value in {"Content-Type": ctype, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":  # HEAD gets the Content-Length of the body it would have had, not the body
            self.wfile.write(body)

    def _json(self, payload, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, err: HubError) -> None:
        headers = dict(err.headers)
        headers["X-Error-Message"] = err.message.encode("ascii", "replace").decode().replace("\n", " ")
        if err.code:
            headers["X-Error-Code"] = err.code
        self._json({"error": err.message, **err.extra}, err.status, headers)

    def _json_body(self, body: bytes) -> dict:
        try:
            return json.loads(body or b"{}")
        except ValueError as exc:
            raise HubError(400, None, f"invalid JSON body: {exc}") from None

    def _require_token(self) -> None:
        if not self.authorized:
            raise HubError(401, None, "Invalid credentials in Authorization header")

    # -- routing -----------------------------------------------------------------------------------------------------
    def _route(self, hub: Hub, seg: list[str], body: bytes) -> None:
        method = self.command
        if seg[0] == "api":
            return self._route_api(hub, method, seg[1:], body)
        if seg[0] == "_lfs" and len(seg) >= 5:  # our own "presigned" LFS storage URLs: _lfs/<type>/<ns>/<name>/<oid>
            return self._lfs_storage(hub, method, seg[1], f"{seg[2]}/{seg[3]}", seg[4], seg[5:], body)
        repo_type = "model"
        if seg[0] in ("datasets", "spaces"):
            repo_type, seg = _API_TYPES[seg[0]], seg[1:]
        if (
            method == "POST"
            and len(seg) == 6
            and seg[1].endswith(".git")
            and seg[2:] == "info lfs objects batch".split()
        ):
            return self._lfs_batch(hub, repo_type, f"{seg[0]}/{seg[1][:-4]}", body)
        if method in ("GET", "HEAD") and len(seg) >= 5 and seg[2] == "resolve":
            return self._resolve(hub, repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        raise HubError(404, None, f"the Hub stand-in does not implement {method} {self.path}")

    def _route_api(self, hub: Hub, method: str, seg: list[str], body: bytes) -> None:
        if seg == ["whoami-v2"]:
            self._require_token()
            token = {"displayName": "stand-in", "role": "write"}
            auth = {"type": "access_token", "accessToken": token}
            return self._json({"type": "user", "name": USER, "fullname": "Stand-in User", "orgs": [], "auth": auth})
        if seg == ["validate-yaml"] and method == "POST":
            return self._json({"errors": [], "warnings": []})  # README metadata is not checked
        if seg[:1] == ["repos"] and len(seg) == 2 and seg[1] in ("create", "delete"):
            self._require_token()
            return self._create_repo(hub, body) if seg[1] == "create" else self._delete_repo(hub, body)
        if len(seg) < 3 or seg[0] not in _API_TYPES:
            raise HubError(404, "RepoNotFound" if seg[:1] and seg[0] in _API_TYPES else None, f"no route {self.path}")
        repo_type, repo_id = _API_TYPES[seg[0]], f"{seg[1]}/{seg[2]}"
        action, rest = (seg[3] if len(seg) > 3 else None), seg[4:]
        repo = hub._get(repo_type, repo_id, self.authorized)
        revision = rest[0] if rest else "main"
        sub_path = "/".join(rest[1:]).strip("/")
        if method == "GET" and action in (None, "revision"):
            return self._info(repo, repo.resolve(revision))
        if method == "GET" and action == "tree":
            return self._tree(repo, repo.resolve(revision), sub_path)
        if method == "GET" and action == "refs":
            return self._refs(repo)
        if method == "GET" and action == "commits":
            return self._json([_commit_json(c) for c in repo.history(repo.resolve(revision))])
        if method == "POST" and action == "paths-info":
            return self._paths_info(repo, repo.resolve(revision), body)
        if action in ("preupload", "commit", "tag", "branch", "settings"):
            self._require_token()  # writes need a token (any bearer token will do)
        if method == "POST" and action == "preupload":
            return self._preupload(repo, repo.resolve(revision), body)
        if method == "POST" and action == "commit":
            return self._commit(hub, repo, revision, body)
        if action == "tag" and method in ("POST", "DELETE"):
            return self._tag(repo, revision, body) if method == "POST" else self._delete_ref(repo.tags, revision)
        if action == "branch" and method in ("POST", "DELETE"):
            return self._branch(repo, revision, body) if method == "POST" else self._delete_branch(repo, revision)
        if action == "settings" and method == "PUT":
            return self._settings(repo, body)
        raise HubError(404, None, f"the Hub stand-in does not implement {method} {self.path}")

    # -- repos -------------------------------------------------------------------------------------------------------
    def _repo_url(self, hub: Hub, repo: Repo) -> str:
        return f"{hub.url}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _create_repo(self, hub: Hub, body: bytes) -> None:
        payload = self._json_body(body)
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise HubError(400, None, f"unsupported repo type {repo_type!r}")
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        if (repo_type, repo_id) in hub._repos:  # create_repo(exist_ok=True) swallows this 409 and reads its "url"
            url = self._repo_url(hub, hub._repos[(repo_type, repo_id)])
            raise HubError(409, None, f"You already created this {repo_type} repo: {repo_id}", url=url)
        repo = hub._repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, private, timestamp())
        # Like the Hub, a new repo is born with one commit holding .gitattributes: "main" always resolves.
        initial = hub._commit(repo, None, {".gitattributes": Blob(GITATTRIBUTES, False)}, "initial commit")
        repo.branches["main"] = initial.oid
        self._json({"url": self._repo_url(hub, repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self, hub: Hub, body: bytes) -> None:
        payload = self._json_body(body)
        key = (payload.get("type") or "model", f"{payload.get('organization') or USER}/{payload['name']}")
        hub._get(*key)  # RepoNotFound if missing: delete_repo(missing_ok=True) relies on it
        del hub._repos[key]
        self._json({})

    def _settings(self, repo: Repo, body: bytes) -> None:
        payload = self._json_body(body)
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        if "private" in payload:
            repo.private = bool(payload["private"])
        self._json({})

    def _info(self, repo: Repo, commit: Commit) -> None:
        blobs = _truthy(self.query, "blobs")  # model_info(files_metadata=True) asks for sizes and LFS info
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if blobs:
                sibling.update(size=len(blob.data), blobId=blob.git_oid)
                if blob.lfs:
                    sibling["lfs"] = {"size": len(blob.data), "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        self._json(
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "createdAt": repo.created_at,
                "lastModified": commit.date,
                "siblings": siblings,
                "usedStorage": sum(len(b.data) for b in commit.files.values()),
            }
        )

    # -- reads -------------------------------------------------------------------------------------------------------
    def _tree(self, repo: Repo, commit: Commit, path: str) -> None:
        files, folders = commit.files, _folders(commit.files)
        if path and path not in folders:
            raise HubError(
                404, "EntryNotFound", f"{path} does not exist on {commit.oid}", {"X-Repo-Commit": commit.oid}
            )
        prefix = f"{path}/" if path else ""
        recursive, expand = _truthy(self.query, "recursive"), _truthy(self.query, "expand")

        def listed(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries = [_folder_entry(d, files) for d in sorted(folders) if listed(d)]
        entries += [_file_entry(p, files[p]) for p in sorted(files) if listed(p)]
        if expand:  # HfFileSystem(expand_info=True) keeps re-listing entries that lack lastCommit
            for entry in entries:
                entry["lastCommit"] = _last_commit(repo, commit, entry["path"], entry["type"] == "directory")
        self._json(entries)  # a single page: no Link header, so huggingface_hub's paginate() stops here

    def _paths_info(self, repo: Repo, commit: Commit, body: bytes) -> None:
        # get_paths_info posts a form (paths=a&paths=b&expand=false); accept JSON too.
        ctype = self.headers.get("Content-Type", "")
        form = self._json_body(body) if "json" in ctype else parse_qs(body.decode())
        paths, expand = form.get("paths", []), form.get("expand", False)
        expand = str(expand[0] if isinstance(expand, list) else expand).lower() in ("1", "true")
        folders, out = _folders(commit.files), []
        for path in (p.strip("/") for p in paths):  # unknown paths are skipped, not an error, as on the Hub
            if path in commit.files:
                entry = _file_entry(path, commit.files[path])
            elif path in folders:
                entry = _folder_entry(path, commit.files)
            else:
                continue
            if expand:
                entry["lastCommit"] = _last_commit(repo, commit, path, entry["type"] == "directory")
            out.append(entry)
        self._json(out)

    def _refs(self, repo: Repo) -> None:
        def refs(names: dict[str, str], kind: str) -> list[dict]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid} for n, oid in sorted(names.items())]

        self._json({"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags"), "converts": []})

    def _resolve(self, hub: Hub, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = hub._get(repo_type, repo_id, self.authorized)
        commit = repo.resolve(revision)
        headers = {"X-Repo-Commit": commit.oid}  # hf_hub_download refuses a response without it
        blob = commit.files.get(path)
        if blob is None:  # X-Repo-Commit on the 404 too: hf_hub_download caches the miss under .no_exist/<sha>
            raise HubError(404, "EntryNotFound", f"Entry not found: {path}", headers)
        headers.update({"ETag": f'"{blob.etag}"', "Accept-Ranges": "bytes"})
        if blob.lfs:  # the Hub sends these when it would redirect to the CDN; hf_hub_download prefers them
            headers.update({"X-Linked-Size": str(len(blob.data)), "X-Linked-Etag": f'"{blob.etag}"'})
        data, status, total = blob.data, 200, len(blob.data)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if match and match.group(1) + match.group(2):  # HfFileSystem reads parquet files by byte ranges
            first, last = match.groups()
            start, end = (int(first), int(last or total - 1)) if first else (max(total - int(last), 0), total - 1)
            if start >= total or start > end:
                raise HubError(416, None, "Range Not Satisfiable", {**headers, "Content-Range": f"bytes */{total}"})
            end = min(end, total - 1)
            data, status = data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        self._send(status, data, headers, ctype="application/octet-stream")

    # -- writes ------------------------------------------------------------------------------------------------------
    def _preupload(self, repo: Repo, commit: Commit, body: bytes) -> None:
        out = []
        for item in self._json_body(body).get("files", []):
            mode = (
                "lfs" if wants_lfs(item["path"], base64.b64decode(item.get("sample", "")), item["size"]) else "regular"
            )
            current = commit.files.get(item["path"])
            # With the current oid the client drops unchanged files from the commit, as against the real Hub.
            oid = current.etag if current is not None and current.lfs == (mode == "lfs") else None
            out.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._json({"files": out, "commitOid": commit.oid})

    def _commit(self, hub: Hub, repo: Repo, branch: str, body: bytes) -> None:
        if _truthy(self.query, "create_pr"):
            raise HubError(501, None, "the Hub stand-in does not implement pull requests (create_pr=True)")
        if branch not in repo.branches:
            repo.resolve(branch)  # RevisionNotFound for unknown names; a tag or sha is not a branch:
            raise HubError(400, None, f"can only commit to a branch, not to {branch!r}")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, None, "commit payload must start with a header line")
        header, head = lines[0]["value"], repo.commits[repo.branches[branch]]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            # datasets' push_to_hub passes parentCommit and retries on 412
            raise HubError(412, None, f"parent commit {header['parentCommit']} is not the head of {branch}")
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "").strip("/")
            if key == "file":
                content = value.get("content", "")
                data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                if wants_lfs(path, data[:512], len(data)):
                    raise HubError(400, None, f"Your push was rejected because {path} is binary: use LFS")
                files[path] = Blob(data, False)
            elif key == "lfsFile":
                if value.get("oid") not in repo.lfs_objects:
                    raise HubError(422, None, f"LFS object {value.get('oid')} for {path} was never uploaded")
                files[path] = Blob(repo.lfs_objects[value["oid"]], True)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HubError(404, "EntryNotFound", f"A file with this name doesn't exist: {path}")
            elif key == "deletedFolder":
                doomed = [p for p in files if p.startswith(path + "/")]
                if not doomed:
                    raise HubError(404, "EntryNotFound", f"A folder with this name doesn't exist: {path}")
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, None, f"the Hub stand-in does not implement commit operation {key!r}")
        commit = hub._commit(repo, head.oid, files, header.get("summary") or "", header.get("description") or "")
        repo.branches[branch] = commit.oid
        url = f"{self._repo_url(hub, repo)}/commit/{commit.oid}"  # CommitInfo parses repo type and id out of it
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": ""})

    def _tag(self, repo: Repo, revision: str, body: bytes) -> None:
        tag = self._json_body(body).get("tag", "")
        commit = repo.resolve(revision)
        if not tag or tag in repo.tags:
            raise HubError(409 if tag else 400, None, f"Tag {tag!r} already exists" if tag else "missing tag name")
        repo.tags[tag] = commit.oid
        self._json({})

    def _branch(self, repo: Repo, branch: str, body: bytes) -> None:
        if not branch or branch.startswith("refs/"):
            raise HubError(400, None, f"Invalid reference for a branch: {branch}")
        if branch in repo.branches:
            raise HubError(409, None, f"Branch {branch} already exists")  # create_branch(exist_ok=True) needs 409
        repo.branches[branch] = repo.resolve(self._json_body(body).get("startingPoint") or "main").oid
        self._json({})

    def _delete_branch(self, repo: Repo, branch: str) -> None:
        if branch == "main":
            raise HubError(403, None, "Cannot delete the default branch")
        self._delete_ref(repo.branches, branch)

    def _delete_ref(self, refs: dict[str, str], name: str) -> None:
        if refs.pop(name, None) is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {name}")
        self._json({})

    # -- Git LFS (basic transfer) ------------------------------------------------------------------------------------
    def _lfs_batch(self, hub: Hub, repo_type: str, repo_id: str, body: bytes) -> None:
        self._require_token()
        repo = hub._get(repo_type, repo_id, self.authorized)
        payload = self._json_body(body)
        if payload.get("operation") != "upload":
            raise HubError(400, None, "the Hub stand-in only implements LFS uploads (downloads go through /resolve)")
        objects = []
        for obj in payload.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in repo.lfs_objects:  # no "actions": the client skips objects the server already has
                href = f"{hub.url}/_lfs/{repo_type}/{repo_id}/{obj['oid']}"
                entry["authenticated"] = True
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        self._send(
            200, json.dumps({"transfer": "basic", "objects": objects}).encode(), ctype="application/vnd.git-lfs+json"
        )

    def _lfs_storage(self, hub, method: str, repo_type: str, repo_id: str, oid: str, rest: list[str], body: bytes):
        # Stands for the presigned S3 URLs the Hub hands out: huggingface_hub PUTs to them without a token.
        repo = hub._get(repo_type, repo_id)
        if method == "PUT" and not rest:
            if hashlib.sha256(body).hexdigest() != oid:
                raise HubError(400, None, f"uploaded content does not match sha256 {oid}")
            repo.lfs_objects[oid] = body
            return self._send(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        if method == "POST" and rest == ["verify"]:
            self._require_token()
            expected = self._json_body(body).get("size")
            if oid not in repo.lfs_objects or len(repo.lfs_objects[oid]) != expected:
                raise HubError(404, None, f"LFS object {oid} is missing or has the wrong size")
            return self._json({})
        raise HubError(404, None, f"the Hub stand-in does not implement {method} {self.path}")
