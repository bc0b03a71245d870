"""Slack notifications: message texts, retries, and failures that only warn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from vault_actions import config
from vault_actions.deliver import notify
from vault_actions.deliver.smoke import CheckResult, SmokeReport

WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    doc = {
        "vault": {"bucket": "my-org-artifacts-vault", "region": "us-east-1"},
        "services": [{"name": "price-fetcher"}, {"name": "config-service"}],
        "environments": [
            {"name": "qa", "functions": {"price-fetcher": "pf-qa", "config-service": "cs-qa"}}
        ],
        "notifications": {"slack-webhook-env": "TEAM_SLACK_HOOK"},
    }
    return config.parse(doc, tmp_path / "vault.yml")


def result(name: str, reason: str = "") -> CheckResult:
    return CheckResult(name, "GET", f"https://api/{name}", not reason, 200, 10, 1, reason)


def report(*results: CheckResult) -> SmokeReport:
    return SmokeReport("qa", "1.0.0", all(r.ok for r in results), results, 1.0)


def test_webhook_url_comes_from_the_configured_variable(cfg: config.Config) -> None:
    assert notify.webhook_url(cfg, {"TEAM_SLACK_HOOK": f" {WEBHOOK}\n"}) == WEBHOOK
    assert notify.webhook_url(cfg, {"SLACK_WEBHOOK_URL": WEBHOOK}) is None
    assert notify.webhook_url(cfg, {"TEAM_SLACK_HOOK": ""}) is None


def test_pass_message_names_services_version_and_environment(cfg: config.Config) -> None:
    text = notify.smoke_message(cfg, report(result("health")), None)
    assert text == "price-fetcher, config-service v1.0.0 is live in QA"


def test_failure_message_lists_the_first_reasons_and_links_the_run(cfg: config.Config) -> None:
    failed = report(
        result("ok"),
        result("GET /health", "expected status 200, got 503"),
        result("verify.ts", "command exited with code 1\nlast output:\n<stack trace>"),
        result("GET /a", "connection refused"),
        result("GET /b", "connection refused"),
    )

    text = notify.smoke_message(cfg, failed, "https://github.com/acme/shop/actions/runs/42")

    assert text == (
        "v1.0.0 FAILED smoke tests in QA: GET /health: expected status 200, got 503; "
        "verify.ts: command exited with code 1; GET /a: connection refused "
        "(and 1 more) — the version is dead; release a fix"
        "\n<https://github.com/acme/shop/actions/runs/42|View the run>"
    )


def test_failure_message_escapes_slack_control_characters(cfg: config.Config) -> None:
    text = notify.smoke_message(cfg, report(result("GET /x", "got '<b>&</b>'")), None)
    assert "got '&lt;b&gt;&amp;&lt;/b&gt;'" in text


@responses.activate
def test_send_posts_the_text() -> None:
    responses.post(WEBHOOK, body="ok")

    assert notify.send(WEBHOOK, "price-fetcher v1.0.0 is live in QA") is None

    [call] = responses.calls
    assert json.loads(call.request.body) == {"text": "price-fetcher v1.0.0 is live in QA"}
    assert call.request.headers["Content-Type"] == "application/json"


@responses.activate
def test_send_retries_a_server_error() -> None:
    responses.post(WEBHOOK, status=500, body="internal_error")
    responses.post(WEBHOOK, body="ok")

    assert notify.send(WEBHOOK, "hello") is None
    assert len(responses.calls) == 2


@responses.activate
def test_permanent_failure_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    responses.post(WEBHOOK, status=404, body="no_service")

    warning = notify.send(WEBHOOK, "hello")

    assert warning == "Slack notification not sent: HTTP 404 no_service"
    assert len(responses.calls) == 1
    assert warning in caplog.text
    assert "XXXXSECRET" not in warning


@responses.activate
def test_unreachable_webhook_only_warns() -> None:
    responses.post(WEBHOOK, body=requests.ConnectionError("Connection refused"))

    warning = notify.send(WEBHOOK, "hello")

    assert warning == "Slack notification not sent: ConnectionError"
