"""The one Argilla client module: connect, create or reuse a dataset, log records, read responses back.

It knows nothing about tweets: callers pass `rg.Settings` and `rg.Record`s in and get plain dicts out, so curation
(data_prep/curate.py) and the judge's human evaluation use the same code. The server is `make argilla` (a local
argilla-server) or any real deployment (the Argilla Docker image, a Hugging Face Space): ARGILLA_API_URL and
ARGILLA_API_KEY, from the environment or `.env` (replytune/secrets.py), say which.

Every failure a user can cause (no server at the URL, a wrong key, a dataset name that does not exist, a dataset
whose questions differ from what the caller needs) raises ArgillaClientError with a message that names it.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from tqdm import tqdm

from replytune.errors import Refused
from replytune.secrets import get_secret, redact

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "http://127.0.0.1:6900"  # where `make argilla` listens
DEFAULT_BATCH_SIZE = 256  # records per request; the server accepts at most 500


class ArgillaClientError(Refused, RuntimeError):
    """Argilla cannot be used as asked; the message names the server, credential or dataset at fault."""


@dataclass
class RecordResponses:
    """One record as read back: what was logged, and every annotator's response."""

    id: str  # the caller's record id (Argilla's external id)
    fields: dict[str, Any]
    metadata: dict[str, Any]
    status: str  # "pending" or "completed" (enough submissions under the dataset's distribution)
    responses: list[dict[str, Any]] = field(default_factory=list)  # {user_id, username, status, values}
    vectors: dict[str, list[float]] = field(default_factory=dict)


def _server_error(api_url: str, error: Exception) -> ArgillaClientError | None:
    """A clear message for the connection failures a user meets, or None for anything else."""
    status = getattr(error, "status_code", None) or getattr(getattr(error, "response", None), "status_code", None)
    text = f"{type(error).__name__}: {error}"
    if status == 401 or "Credentials" in type(error).__name__ or "401" in text:
        return ArgillaClientError(
            f"the Argilla server at {api_url} refused the API key (401 Unauthorized): check ARGILLA_API_KEY "
            "(`make argilla` prints the key it uses)"
        )
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)) or "Connect" in type(error).__name__:
        return ArgillaClientError(
            f"cannot reach an Argilla server at {api_url} ({type(error).__name__}): start one with `make argilla`, "
            "or set ARGILLA_API_URL to your deployment's address"
        )
    if isinstance(error, (httpx.TimeoutException, httpx.NetworkError)):
        return ArgillaClientError(f"the Argilla server at {api_url} did not answer: {type(error).__name__}")
    return None


def connect(api_url: str | None = None, api_key: str | None = None, timeout: float = 60) -> Any:
    """An `argilla.Argilla` client, checked: the server answers and accepts the key.

    `api_url`/`api_key` default to ARGILLA_API_URL (else the local `make argilla` address) and ARGILLA_API_KEY.
    """
    import argilla as rg

    api_url = (api_url or get_secret("ARGILLA_API_URL") or DEFAULT_API_URL).rstrip("/")
    api_key = api_key or get_secret("ARGILLA_API_KEY")
    if not api_key:
        raise ArgillaClientError(
            f"ARGILLA_API_KEY is not set: export it (or put it in .env) with the key of your user on {api_url} "
            "(`make argilla` prints the local owner's key)"
        )
    # A private Hugging Face Space lets a request through only with the owner's Hub token.
    hf_token = get_secret("HF_TOKEN") if ".hf.space" in api_url else None
    headers = {"Authorization": f"Bearer {hf_token}"} if hf_token else {}
    # One quick unauthenticated probe first, so that "nothing listens there" is not confused with a bad key.
    try:
        status = httpx.get(f"{api_url}/api/v1/status", headers=headers, timeout=min(timeout, 10))
    except httpx.HTTPError as error:
        raise _server_error(api_url, error) or ArgillaClientError(f"{api_url}: {error}") from None
    if status.status_code == 404:
        raise ArgillaClientError(f"{api_url} answers, but it is not an Argilla 2.x server (no /api/v1/status)")
    logging.disable(logging.INFO)  # the SDK logs "Logged in as ..." on the root logger
    try:
        return rg.Argilla(api_url=api_url, api_key=api_key, timeout=int(timeout), retries=0, headers=headers)
    except Exception as error:  # the SDK raises its own classes, or httpx's, depending on where it failed
        known = _server_error(api_url, error)
        if known is None:
            raise ArgillaClientError(redact(f"{api_url}: {type(error).__name__}: {error}")) from error
        raise known from None
    finally:
        logging.disable(logging.NOTSET)


def workspace_named(client: Any, name: str | None) -> Any:
    """The workspace `name`, or the user's only/first workspace when `name` is None."""
    workspaces = list(client.workspaces)
    if name is None:
        if not workspaces:
            raise ArgillaClientError(f"your user on {client.api_url} belongs to no workspace: create one first")
        return workspaces[0]
    for workspace in workspaces:
        if workspace.name == name:
            return workspace
    known = ", ".join(sorted(w.name for w in workspaces)) or "none"
    raise ArgillaClientError(f"no workspace {name!r} on {client.api_url} (workspaces you can see: {known})")


def _dataset_or_none(client: Any, name: str, workspace: Any) -> Any:
    with warnings.catch_warnings():  # the SDK warns "not found" where None is the answer we want
        warnings.simplefilter("ignore", UserWarning)
        return client.datasets(name=name, workspace=workspace)


def find_dataset(client: Any, name: str, workspace: str | None = None) -> Any:
    """The dataset `name` (in `workspace`, or in any workspace the user sees), else an error listing what exists."""
    if workspace is not None:
        found = _dataset_or_none(client, name, workspace_named(client, workspace))
    else:
        found = next((dataset for dataset in client.datasets if dataset.name == name), None)
    if found is not None:
        return found
    visible = sorted(f"{dataset.workspace.name}/{dataset.name}" for dataset in client.datasets)
    where = f" in workspace {workspace!r}" if workspace else ""
    raise ArgillaClientError(
        f"no Argilla dataset named {name!r}{where} on {client.api_url} "
        f"(datasets you can see: {', '.join(visible) or 'none'})"
    )


def _shape(settings: Any) -> dict[str, tuple]:
    """What must match for records and responses to keep their meaning: field and question names, types, labels."""
    shape = {f"field {f.name}": (type(f).__name__,) for f in settings.fields}
    for question in settings.questions:
        options = getattr(question, "labels", None) or getattr(question, "values", None) or ()
        shape[f"question {question.name}"] = (type(question).__name__, tuple(options))
    return shape


def create_or_reuse_dataset(
    client: Any, name: str, settings: Any, workspace: str | None = None, optional_fields: Sequence[str] = ()
) -> tuple[Any, bool]:
    """The dataset `name` with `settings`: created when missing, reused when its fields and questions match.

    Returns (dataset, created). Metadata properties and vectors that the existing dataset lacks are added. A field
    named in `optional_fields` may be missing from an existing dataset (Argilla adds no field to a dataset that has
    records): the caller then logs its records without it (check `dataset.settings.fields`).
    """
    import argilla as rg

    target = workspace_named(client, workspace)
    existing = _dataset_or_none(client, name, target)
    if existing is None:
        dataset = rg.Dataset(name=name, workspace=target, settings=settings, client=client)
        dataset.create()
        logger.info("created Argilla dataset %s/%s", target.name, name)
        return dataset, True
    wanted, found = _shape(settings), _shape(existing.settings)
    for optional in optional_fields:
        if f"field {optional}" not in found:
            wanted.pop(f"field {optional}", None)
    differences = sorted(key for key in set(wanted) | set(found) if wanted.get(key) != found.get(key))
    vectors = {vector.name: vector for vector in existing.settings.vectors}
    differences += [
        f"vector {v.name} ({vectors[v.name].dimensions} dimensions, not {v.dimensions})"
        for v in settings.vectors
        if v.name in vectors and vectors[v.name].dimensions != v.dimensions
    ]
    if differences:
        raise ArgillaClientError(
            f"the Argilla dataset {target.name}/{name} exists with other fields or questions "
            f"({', '.join(differences)}): pick another --argilla-dataset name, or delete that dataset in the UI"
        )
    present = {prop.name for prop in existing.settings.metadata} | set(vectors)
    missing = [prop for prop in list(settings.metadata) + list(settings.vectors) if prop.name not in present]
    for prop in missing:
        existing.settings.add(prop)
    if missing:
        existing.settings.update()
    logger.info("reusing Argilla dataset %s/%s", target.name, name)
    return existing, False


def plain_text_field(text: str) -> str:
    """`text` made safe for a plain TextField (use_markdown=False): Argilla's web UI then shows it as it is.

    Argilla 2.8's UI puts such a field into the page with innerHTML, and a text holding a paired tag (`<b>..</b>`)
    into an iframe that shares the page's origin: a tweet or reply holding `<img src=x onerror=...>` or a
    `<script>` runs in the annotator's signed-in session (measured in chromium: the script ran). With &, < and >
    escaped, the UI shows exactly the characters of `text` and runs nothing. The stored field holds the escaped
    form, so read texts back from your own data, not from the record.
    """
    return html.escape(text, quote=False)


def log_records(dataset: Any, records: Sequence[Any], batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True):
    """Create or update `records` (rg.Record) in batches; a record whose id exists is updated, never duplicated."""
    client = dataset._client
    batch_size = max(1, min(batch_size, client.api.records.MAX_RECORDS_PER_UPSERT_BULK))
    with tqdm(total=len(records), desc=f"logging to {dataset.name}", unit=" records", disable=not progress) as bar:
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            for record in batch:
                record.dataset = dataset
            client.api.records.bulk_upsert(dataset_id=dataset.id, records=[record.api_model() for record in batch])
            bar.update(len(batch))


def usernames(client: Any) -> dict[str, str]:
    """user id -> username, for the users this client can list (owners and admins see everyone)."""
    try:
        return {str(user.id): user.username for user in client.users}
    except Exception:  # an annotator cannot list users: responses then carry ids only
        return {}


def _response(answer: dict, names: dict[str, str]) -> dict[str, Any]:
    user_id = str(answer["user_id"])
    values = {question: (value or {}).get("value") for question, value in (answer.get("values") or {}).items()}
    return {"user_id": user_id, "username": names.get(user_id, user_id), "status": answer["status"], "values": values}


def read_records(
    dataset: Any, with_vectors: bool = False, batch_size: int = 500, progress: bool = True
) -> Iterator[RecordResponses]:
    """Every record of `dataset` with every response: submissions, drafts and discards (with or without values).

    Reads the records endpoint page by page (the SDK drops a response that carries no values, such as the UI's
    Discard). Seeing everyone's responses needs an owner or admin key.
    """
    client = dataset._client
    names = usernames(client)
    include = ["responses"] + (["vectors"] if with_vectors else [])
    offset, total = 0, None
    with tqdm(desc=f"reading {dataset.name}", unit=" records", disable=not progress) as bar:
        while total is None or offset < total:
            response = client.http_client.get(
                f"/api/v1/datasets/{dataset.id}/records",
                params={"include": include, "offset": offset, "limit": min(batch_size, 1000)},
            )
            if response.status_code == 403:
                raise ArgillaClientError(
                    f"your user on {client.api_url} may not read every annotator's responses to {dataset.name}: "
                    "use an owner's or an admin's ARGILLA_API_KEY"
                )
            response.raise_for_status()
            page = response.json()
            total = page.get("total") if page.get("total") is not None else offset + len(page["items"])
            bar.total = total
            if not page["items"]:
                break
            for item in page["items"]:
                yield RecordResponses(
                    id=str(item.get("external_id") or item["id"]),
                    fields=item.get("fields") or {},
                    metadata=item.get("metadata") or {},
                    status=str(item.get("status")),
                    responses=[_response(answer, names) for answer in item.get("responses") or []],
                    vectors=item.get("vectors") or {},
                )
            offset += len(page["items"])
            bar.update(len(page["items"]))


def dataset_metadata(dataset: Any) -> dict[str, Any]:
    """The dataset-level metadata (a JSON object argilla-server stores per dataset; the SDK does not expose it)."""
    response = dataset._client.http_client.get(f"/api/v1/datasets/{dataset.id}")
    response.raise_for_status()
    return response.json().get("metadata") or {}


def set_dataset_metadata(dataset: Any, metadata: dict[str, Any]) -> None:
    response = dataset._client.http_client.patch(f"/api/v1/datasets/{dataset.id}", json={"metadata": metadata})
    response.raise_for_status()


def create_user(client: Any, username: str, password: str, workspace: str | None = None, role: str = "annotator"):
    """A user (an annotator by default) with access to `workspace`; an existing user is reused."""
    import argilla as rg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        user = client.users(username=username)
    if user is None:
        user = rg.User(username=username, password=password, role=role, client=client).create()
    target = workspace_named(client, workspace)
    if user.username not in {member.username for member in target.users}:
        target.add_user(user)
    return user
