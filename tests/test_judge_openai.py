"""The OpenAI-compatible judge (vLLM, Ollama, TGI) through `python -m judge score`, against a local stand-in server
(standins/openai_compatible.py): the same prompts and structured verdicts, retries, errors that stop a run."""

import json
import logging

import pytest

from standins.judge_answers import always_first
from standins.openai_compatible import OpenAICompatibleStandIn
from tests.judge_helpers import read_verdicts, run_score, write_generations


@pytest.fixture
def server():
    with OpenAICompatibleStandIn(api_key="sk-local-test") as stand_in:
        yield stand_in


@pytest.fixture
def workdir(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    (tmp_path / "config.yaml").write_text(
        f"score:\n  openai:\n    base_url: {server.url}/v1\n    max_retries: 2\n    concurrency: 2\n"
    )
    write_generations(tmp_path / "generations.jsonl", items=3)
    return tmp_path


def score(workdir, output="out", *extra):
    return run_score(workdir, "openai", output, *extra)


def verdicts(workdir, output="out"):
    return read_verdicts(workdir / output / "verdicts.jsonl")


def test_both_orders_and_single_scores_through_a_real_http_server(server, workdir):
    assert score(workdir) == 0
    sent = server.completions()
    assert len(sent) == 12  # 3 items: 2 orders + 2 single-answer each
    for body in sent:
        assert body["model"] == "Qwen/Qwen3-8B" and body["temperature"] == 0.0
        assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["strict"]
        assert body["chat_template_kwargs"] == {"enable_thinking": False}  # extra_body, merged into the request
        assert [message["role"] for message in body["messages"]] == ["system", "user"]
    lines = verdicts(workdir)
    assert {(v.order, v.winner) for v in lines if v.kind == "pairwise"} == {(1, "adapter"), (2, "adapter")}
    assert all(v.judge == "openai" and v.cost_usd == 0 and v.input_tokens > 0 for v in lines)
    assert all(v.request_id and v.request_id.startswith("req-") for v in lines)
    assert score(workdir, "again") == 0 and len(server.completions()) == 12  # the cache answers the rerun


def test_position_bias_shows_as_inconsistency_and_a_judge_with_no_signal_stops_the_run(server, workdir, capsys):
    server.policy = always_first
    assert score(workdir, "out", "--mode", "pairwise") == 1
    assert "the same answer (reply A) to all 6 pairwise prompts" in capsys.readouterr().err
    summary = json.loads((workdir / "out" / "score_report.json").read_text())["verdicts"]["pairwise"]
    assert summary["base vs adapter"]["inconsistency_rate"] == 1.0 and summary["base vs adapter"]["ties"] == 3


def test_server_errors_are_retried(server, workdir):
    server.fail_next(2, 429)
    server.fail_next(1, 503)
    assert score(workdir, "out", "--mode", "single") == 0
    assert [r.status for r in server.requests].count(200) == 6 and len(server.requests) == 9


def test_json_object_mode_for_servers_without_schema_support(server, workdir):
    config = (workdir / "config.yaml").read_text() + "    response_format: json_object\n"
    (workdir / "config.yaml").write_text(config)
    assert score(workdir, "out", "--mode", "single") == 0
    assert all(body["response_format"] == {"type": "json_object"} for body in server.completions())
    assert all(v.score is not None for v in verdicts(workdir))


def test_a_model_the_server_does_not_serve_stops_the_run(server, workdir, capsys):
    config = (workdir / "config.yaml").read_text()
    config += "    model: no-such-model\n    prices:\n      no-such-model: {input: 0.0, output: 0.0}\n"
    (workdir / "config.yaml").write_text(config)
    assert score(workdir) == 1
    assert "does not exist" in capsys.readouterr().err
    assert len(server.requests) <= 2  # concurrency 2: nothing more is sent after the first answer


def test_batch_is_refused_for_a_judge_without_a_batch_api(workdir, capsys):
    assert score(workdir, "out", "--batch") == 2
    assert "no batch API" in capsys.readouterr().err


def test_the_key_never_reaches_the_cache_the_verdicts_or_the_logs(server, workdir, caplog, capsys):
    server.fail_next(3, 500)
    with caplog.at_level(logging.DEBUG):
        assert score(workdir) == 0
    captured = capsys.readouterr()
    written = [path.read_bytes() for path in workdir.rglob("*") if path.is_file()]
    assert any(b'"response"' in data for data in written)  # the cache was written
    assert all(b"sk-local-test" not in data for data in written)
    assert "sk-local-test" not in caplog.text + captured.out + captured.err
