"""The in-process search engine (data_prep/argilla_local/search_engine.py) answers what the Argilla UI asks, through
the real server's REST API: the per-user queue by response status, filters on responses, metadata and suggestions,
sorting, text search, "find similar", metadata metrics and progress."""

from __future__ import annotations

import httpx
import pytest

from data_prep.curate import push
from replytune import schema as col
from replytune.argilla_client import connect, create_user, find_dataset
from tests.curation_versions import review_rows, write_version

pytestmark = pytest.mark.slow

LIKES = {"kept": 10, "discarded": 300, "tie": 50, "edited": None, "injected": 120, "unreviewed": 80}


@pytest.fixture(scope="module")
def reviewed(argilla_server, tmp_path_factory):
    """A pushed dataset that the annotator `searcher` has partly answered: ids, server ids and API keys."""
    rows = {"train": [row for row in review_rows()["train"] if row[col.REPLY_ID] in LIKES]}
    for row in rows["train"]:
        row[col.REPLY_LIKES] = LIKES[row[col.REPLY_ID]]
    folder = write_version(tmp_path_factory.mktemp("search") / "v1", rows)
    client = connect(argilla_server.url, argilla_server.api_key)
    push(str(folder), "search-engine", progress=False, client=client)
    dataset = find_dataset(client, "search-engine")
    create_user(client, "searcher", "searcher-password")
    searcher_key = client.http_client.get(f"/api/v1/users/{client.users(username='searcher').id}").json()["api_key"]
    ids = {record.id: str(record._server_id) for record in dataset.records(with_responses=False)}
    answers = {
        "kept": ({"decision": {"value": "keep"}, "quality": {"value": 4}}, "submitted"),
        "tie": ({"decision": {"value": "keep"}, "quality": {"value": 2}}, "submitted"),
        "discarded": ({"decision": {"value": "discard"}}, "submitted"),
        "injected": ({"decision": {"value": "keep"}}, "draft"),
        "unreviewed": ({}, "discarded"),
    }
    for reply_id, (values, status) in answers.items():
        response = httpx.post(
            f"{argilla_server.url}/api/v1/records/{ids[reply_id]}/responses",
            json={"values": values, "status": status},
            headers={"X-Argilla-Api-Key": searcher_key},
        )
        assert response.status_code == 201, response.text
    return {"url": argilla_server.url, "dataset": str(dataset.id), "ids": ids, "owner": argilla_server.api_key}, {
        "searcher": searcher_key
    }


def search(reviewed, body: dict, key: str | None = None, limit: int = 50) -> list[str]:
    """Reply ids in the order the server returns them, searching as that user (the UI's endpoint)."""
    setup, keys = reviewed
    response = httpx.post(
        f"{setup['url']}/api/v1/me/datasets/{setup['dataset']}/records/search",
        params={"limit": limit},
        json=body,
        headers={"X-Argilla-Api-Key": keys.get(key, setup["owner"]) if key else setup["owner"]},
    )
    assert response.status_code == 200, response.text
    return [item["record"]["external_id"] for item in response.json()["items"]]


def terms(scope: dict, *values) -> dict:
    return {"filters": {"and": [{"type": "terms", "scope": scope, "values": list(values)}]}}


STATUS = {"entity": "response", "property": "status"}


def test_the_queue_and_response_filters_are_per_user(reviewed):
    assert set(search(reviewed, terms(STATUS, "pending"), "searcher")) == {"edited"}
    assert set(search(reviewed, terms(STATUS, "submitted"), "searcher")) == {"kept", "tie", "discarded"}
    assert search(reviewed, terms(STATUS, "draft"), "searcher") == ["injected"]
    assert search(reviewed, terms(STATUS, "discarded"), "searcher") == ["unreviewed"]
    assert set(search(reviewed, terms(STATUS, "pending", "draft"), "searcher")) == {"edited", "injected"}
    assert len(search(reviewed, terms(STATUS, "pending"))) == 6  # the owner answered nothing
    decision = {"entity": "response", "question": "decision"}
    assert set(search(reviewed, terms(decision, "keep"), "searcher")) == {"kept", "tie", "injected"}
    quality_scope = {"entity": "response", "question": "quality"}
    quality = {"filters": {"and": [{"type": "range", "scope": quality_scope, "ge": 3}]}}
    assert search(reviewed, quality, "searcher") == ["kept"]
    # the per-user queue order is shuffled per user but stable from one request to the next
    assert search(reviewed, {}, "searcher") == search(reviewed, {}, "searcher")
    assert sorted(search(reviewed, {}, "searcher")) == sorted(LIKES)


def test_metadata_and_suggestion_filters_and_sorting(reviewed):
    likes = {"entity": "metadata", "metadata_property": col.REPLY_LIKES}
    by_likes = {"sort": [{"scope": likes, "order": "desc"}]}
    assert search(reviewed, by_likes) == ["discarded", "injected", "unreviewed", "tie", "kept", "edited"]
    by_likes["sort"][0]["order"] = "asc"  # a record without the value comes last either way, as in Elasticsearch
    assert search(reviewed, by_likes) == ["kept", "tie", "unreviewed", "injected", "discarded", "edited"]
    band = {"filters": {"and": [{"type": "range", "scope": likes, "ge": 50, "le": 120}]}}
    assert set(search(reviewed, band)) == {"tie", "unreviewed", "injected"}
    split = {"entity": "metadata", "metadata_property": "split"}
    both = {"filters": {"and": [band["filters"]["and"][0], terms(split, "train")["filters"]["and"][0]]}}
    assert set(search(reviewed, both)) == {"tie", "unreviewed", "injected"}
    assert search(reviewed, terms({"entity": "metadata", "metadata_property": "soft_checks"}, "toxicity_score")) == [
        "kept"
    ]
    suggested = {"entity": "suggestion", "question": "decision", "property": "value"}
    assert search(reviewed, terms(suggested, "discard")) == ["kept"]
    score = {"entity": "suggestion", "question": "decision", "property": "score"}
    assert search(reviewed, {"filters": {"and": [{"type": "range", "scope": score, "ge": 0.6}]}}) == ["kept"]
    assert search(reviewed, {"filters": {"and": [{"type": "range", "scope": score, "ge": 0.7}]}}) == []
    record_status = {"entity": "record", "property": "status"}
    assert set(search(reviewed, terms(record_status, "completed"))) == {"kept", "tie", "discarded"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("database", {"tie"}),  # whole words: "databases" is another word
        ("databas*", {"tie", "edited"}),
        ("index*", {"kept", "edited"}),
        ('"exact predicate"', {"kept"}),
        ("planner -query", set()),
        ("rust | kubernetes", {"discarded", "tie"}),
        ("Base MODEL", {"injected"}),
    ],
)
def test_text_search_on_a_field(reviewed, query, expected):
    assert set(search(reviewed, {"query": {"text": {"q": query, "field": "reply"}}})) == expected


def test_find_similar_metrics_and_progress(reviewed):
    setup, _ = reviewed
    similar = {"query": {"vector": {"name": "reply_embedding", "record_id": setup["ids"]["edited"]}}}
    most = search(reviewed, similar, limit=5)
    assert "edited" not in most and len(most) == 5
    similar["query"]["vector"]["order"] = "least_similar"
    assert search(reviewed, similar, limit=5) == list(reversed(most))
    api = httpx.Client(base_url=f"{setup['url']}/api/v1", headers={"X-Argilla-Api-Key": setup["owner"]})
    properties = api.get(f"/me/datasets/{setup['dataset']}/metadata-properties").json()["items"]
    by_name = {prop["name"]: prop["id"] for prop in properties}
    metrics = api.get(f"/metadata-properties/{by_name[col.REPLY_LIKES]}/metrics").json()
    assert metrics == {"type": "integer", "min": 10, "max": 300}
    split = api.get(f"/metadata-properties/{by_name['split']}/metrics").json()
    assert split == {"type": "terms", "total": 6, "values": [{"term": "train", "count": 6}]}
    progress = api.get(f"/datasets/{setup['dataset']}/progress").json()
    assert (progress["total"], progress["completed"], progress["pending"]) == (6, 3, 3)
    mine = api.get(f"/me/datasets/{setup['dataset']}/metrics", headers={"X-Argilla-Api-Key": reviewed[1]["searcher"]})
    assert mine.json()["responses"] == {"total": 6, "submitted": 3, "discarded": 1, "draft": 1, "pending": 1}


def test_changing_the_distribution_updates_every_record_status(reviewed, argilla_server):
    """argilla-server recomputes statuses in a background job; the launcher runs it in the server's own process."""
    import time

    dataset = find_dataset(connect(argilla_server.url, argilla_server.api_key), "search-engine")

    def completed_after(min_submitted: int, expected: int) -> int:
        dataset.settings.distribution.min_submitted = min_submitted
        dataset.update()
        deadline = time.monotonic() + 30
        while (completed := dataset.progress()["completed"]) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        return completed

    assert completed_after(2, 0) == 0  # no record has two submissions
    record_status = {"entity": "record", "property": "status"}
    assert len(search(reviewed, terms(record_status, "pending"))) == 6
    assert completed_after(1, 3) == 3
    assert set(search(reviewed, terms(record_status, "completed"))) == {"kept", "tie", "discarded"}
