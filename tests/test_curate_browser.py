"""The review in a real browser: headless Debian chromium, driven by Playwright, signs in to the web UI of the real
argilla-server, sees a pushed pair with its soft-check suggestion, submits "discard", and `curate pull` leaves that
pair out. A screenshot of the annotation page is kept at outputs/test_artefacts/argilla_annotation.png.

The browser is tests/browser.py's (Debian chromium; the test skips, saying why, where it is missing). Every request
beyond 127.0.0.1 is aborted and recorded; the UI asks only for two Google Fonts stylesheets, which it does without.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from data_prep.__main__ import main
from replytune import schema as col
from replytune.argilla_client import connect, find_dataset, read_records
from tests.browser import open_annotation_page
from tests.curation_versions import REPLIES, TWEET, review_rows, write_version
from tests.paths import REPO_ROOT

ARTEFACTS = REPO_ROOT / "outputs" / "test_artefacts"
ALLOWED_OUTSIDE = {"fonts.googleapis.com"}  # requested by the UI's stylesheet; aborted, the page uses fallback fonts

pytestmark = pytest.mark.slow


def test_an_annotator_discards_a_pair_in_the_web_ui_and_pull_leaves_it_out(
    argilla_server, browser, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARGILLA_API_URL", argilla_server.url)
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_server.api_key)
    train = review_rows()["train"]
    flagged, answered = train[0], train[2]  # toxicity 0.2 (suggested discard), and a clean pair
    write_version(tmp_path / "data" / "v1", {"train": [flagged, answered]})
    assert main(["curate", "push", "--dataset", str(tmp_path / "data"), "--argilla-dataset", "ui-review"]) == 0
    dataset = find_dataset(connect(), "ui-review")
    server_ids = {record.id: record._server_id for record in dataset.records(with_responses=False)}
    # the clean pair is already decided through the API, so the owner's queue in the UI holds just the flagged one
    keep = {"values": {"decision": {"value": "keep"}}, "status": "submitted"}
    headers = {"X-Argilla-Api-Key": argilla_server.api_key}
    url = f"{argilla_server.url}/api/v1/records/{server_ids[answered[col.REPLY_ID]]}/responses"
    assert httpx.post(url, json=keep, headers=headers).status_code == 201

    outside: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 900})

    def loopback_only(route):
        request_url = route.request.url
        if request_url.startswith(f"{argilla_server.url}/") or request_url.startswith("data:"):
            return route.continue_()
        outside.append(request_url)
        return route.abort()

    page.route("**/*", loopback_only)
    open_annotation_page(page, argilla_server, dataset.id)
    discard = page.locator("label[for=decision_discard]")
    discard.wait_for(timeout=60_000)

    assert page.get_by_text(TWEET).is_visible()
    assert page.get_by_text(REPLIES["kept"]).is_visible()
    assert page.get_by_text("1 of 1").is_visible()
    # the suggestion: discard, pre-selected, marked with its score, the soft checks as its agent
    assert discard.locator(".label-text__suggestion__score").inner_text() == "0.7"
    assert "label-active" in discard.get_attribute("class")
    assert "data_prep soft checks" in page.locator(".tooltip__text").all_inner_texts()
    # why, in words, in the record view itself: the "Automatic checks" field under the reply (issue 21)
    assert page.get_by_text("Automatic checks").is_visible()
    assert page.get_by_text("toxicity score 0.20, above the soft limit 0.15", exact=False).is_visible()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "argilla_annotation.png"))

    page.locator("label[for=decision_keep]").click()  # change one's mind, then choose discard by hand
    assert "label-active" not in discard.get_attribute("class")
    discard.click()
    assert "label-active" in discard.get_attribute("class")
    page.locator("button.button--submit").click()

    deadline = time.monotonic() + 30
    responses: list = []
    while not responses and time.monotonic() < deadline:
        records = {record.id: record for record in read_records(dataset, progress=False)}
        responses = records[flagged[col.REPLY_ID]].responses
        time.sleep(0.2)
    assert [(r["username"], r["status"], r["values"]["decision"]) for r in responses] == [
        ("owner", "submitted", "discard")
    ]
    assert set(httpx.URL(address).host for address in outside) <= ALLOWED_OUTSIDE

    capsys.readouterr()
    assert main(["curate", "pull", "--argilla-dataset", "ui-review", "--output", str(tmp_path / "data")]) == 0
    report = json.loads((tmp_path / "data" / "v2" / "report.json").read_text())
    assert report["dispositions"] == {"kept": 1, "curation/discarded": 1}
    assert report["splits"] == {"train": 1}
