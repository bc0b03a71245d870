"""Slack and e-mail notifications: message texts, retries, and failures that only warn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from tests.conftest import MotoServer, SmtpInbox, ses_messages
from vault_actions import config
from vault_actions.deliver import notify
from vault_actions.deliver.smoke import CheckResult, SmokeReport
from vault_actions.demo.emulator import free_port

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


# --- e-mail: Amazon SES on the moto server, SMTP on a real local server -------------------

SENDER = "releases@acme.example"
TEAM = ("team@acme.example", "qa@acme.example")


def email_cfg(tmp_path: Path, **email: Any) -> config.Config:
    doc = {
        "vault": {"bucket": "my-org-artifacts-vault", "region": "us-east-1"},
        "services": [{"name": "price-fetcher"}],
        "environments": [{"name": "qa", "functions": {"price-fetcher": "pf-qa"}}],
        "notifications": {"email": {"from": SENDER, "to": list(TEAM), **email}},
    }
    return config.parse(doc, tmp_path / "vault.yml")


def notice() -> notify.Notice:
    return notify.smoke_notice(
        email_cfg(Path("/x")), report(result("GET /health", "expected status 200, got 503\nmore")),
        "https://github.com/acme/shop/actions/runs/42",
    )


def test_email_says_what_slack_says() -> None:
    note = notice()
    assert note.subject == "v1.0.0 FAILED smoke tests in QA"
    assert notify.email_body(note).startswith(
        "v1.0.0 FAILED smoke tests in QA: GET /health: expected status 200, got 503 — the "
        "version is dead; release a fix\n\nView the run: https://github.com/acme/shop/actions/runs/42\n"
    )
    assert notify.slack_text(note) == (
        "v1.0.0 FAILED smoke tests in QA: GET /health: expected status 200, got 503 — the "
        "version is dead; release a fix\n<https://github.com/acme/shop/actions/runs/42|View the run>"
    )


def test_email_through_ses_is_sent(tmp_path: Path, aws_env: MotoServer) -> None:
    from vault_actions.integrations import aws

    aws.client("ses", "eu-west-1").verify_email_identity(EmailAddress=SENDER)
    cfg = email_cfg(tmp_path, region="eu-west-1")
    assert cfg.email is not None

    assert notify.send_email(cfg.email, notice(), aws.client("sesv2", "eu-west-1")) is None

    [sent] = ses_messages(aws_env)
    assert sent["source"] == SENDER
    assert sent["destinations"] == {"ToAddresses": list(TEAM)}
    assert sent["subject"] == "v1.0.0 FAILED smoke tests in QA"
    assert sent["body"] == notify.email_body(notice())


def test_ses_refusing_the_sender_only_warns(tmp_path: Path, aws_env: MotoServer,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from vault_actions.integrations import aws

    cfg = email_cfg(tmp_path)  # the sender was never verified in SES
    assert cfg.email is not None
    warning = notify.send_email(cfg.email, notice(), aws.client("sesv2", "us-east-1"))
    assert warning == ("E-mail notification not sent: MessageRejected: Email address not "
                       f"verified {SENDER}")
    assert warning in caplog.text and ses_messages(aws_env) == []


def smtp_cfg(tmp_path: Path, port: int, **smtp: Any) -> config.Config:
    server = {"host": "127.0.0.1", "port": port, "tls": "none",
              "username-env": "SMTP_USER", "password-env": "SMTP_PASSWORD", **smtp}
    return email_cfg(tmp_path, via="smtp", smtp=server)


def test_email_through_smtp_is_sent_with_the_login(tmp_path: Path, smtp_inbox: SmtpInbox) -> None:
    cfg = smtp_cfg(tmp_path, smtp_inbox.port)
    assert cfg.email is not None
    env = {"SMTP_USER": "vault", "SMTP_PASSWORD": smtp_inbox.password}

    assert notify.send_email(cfg.email, notice(), env=env) is None

    [(sender, recipients, message)] = smtp_inbox.messages
    assert (sender, recipients) == (SENDER, list(TEAM))
    assert message["Subject"] == "v1.0.0 FAILED smoke tests in QA"
    assert message["From"] == SENDER and message["To"] == ", ".join(TEAM)
    assert message.get_content().replace("\r\n", "\n") == notify.email_body(notice())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SMTP_USER": "vault", "SMTP_PASSWORD": "wrong"}, "E-mail notification not sent: SMTPAuthenticationError: (535"),
        ({"SMTP_USER": "vault"}, "E-mail notification not sent: SMTP_PASSWORD not set (the SMTP login of notifications.email)"),
    ],
)
def test_smtp_refusals_only_warn(tmp_path: Path, smtp_inbox: SmtpInbox, env: dict[str, str], expected: str) -> None:
    cfg = smtp_cfg(tmp_path, smtp_inbox.port)
    assert cfg.email is not None
    warning = notify.send_email(cfg.email, notice(), env=env)
    assert warning is not None and warning.startswith(expected)
    assert "wrong" not in warning and smtp_inbox.messages == []


def test_unreachable_smtp_server_only_warns(tmp_path: Path) -> None:
    cfg = smtp_cfg(tmp_path, free_port())
    assert cfg.email is not None
    warning = notify.send_email(cfg.email, notice(), env={})
    assert warning is not None and warning.startswith("E-mail notification not sent: SMTP_USER and SMTP_PASSWORD not set")
    bare = email_cfg(tmp_path, via="smtp", smtp={"host": "127.0.0.1", "port": free_port(), "tls": "none"})
    assert bare.email is not None
    warning = notify.send_email(bare.email, notice(), env={})
    assert warning is not None and warning.startswith("E-mail notification not sent: ConnectionRefusedError")


def test_a_reason_cannot_inject_mail_headers(tmp_path: Path, smtp_inbox: SmtpInbox) -> None:
    cfg = smtp_cfg(tmp_path, smtp_inbox.port)
    assert cfg.email is not None
    evil = notify.Notice("v1 FAILED\r\nBcc: everyone@evil.example", "text")
    assert notify.send_email(cfg.email, evil, env={"SMTP_USER": "vault", "SMTP_PASSWORD": smtp_inbox.password}) is None
    [(_, recipients, message)] = smtp_inbox.messages
    assert recipients == list(TEAM) and message["Bcc"] is None
    assert message["Subject"] == "v1 FAILED Bcc: everyone@evil.example"


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ({"via": "smtp"}, r"notifications.email.smtp: via: smtp needs the server"),
        ({"smtp": {"host": "mail.acme.example"}}, r"SMTP settings, but via is ses"),
        ({"via": "smtp", "smtp": {"host": "mail.acme.example", "tls": "none", "username-env": "U", "password-env": "P"}},
         r"tls: none would send the SMTP password to mail.acme.example in clear text"),
        ({"via": "smtp", "smtp": {"host": "mail.acme.example", "username-env": "U"}}, r"name both username-env and password-env"),
        ({"to": ["not-an-address"]}, r"notifications.email.to\[0\]: 'not-an-address' is not valid: expected an e-mail address"),
        ({"to": []}, r"notifications.email.to: \[\] should be non-empty"),
    ],
)
def test_email_settings_are_checked(tmp_path: Path, email: dict[str, Any], expected: str) -> None:
    with pytest.raises(config.ConfigError, match=expected):
        email_cfg(tmp_path, **email)
