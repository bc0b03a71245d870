"""Notifications by Slack and e-mail: optional, and never able to fail a release.

One notice (a subject line and its text) goes to every channel vault.yml configures. The
Slack webhook URL comes from the environment variable named by ``notifications:
slack-webhook-env`` (default ``SLACK_WEBHOOK_URL``); the caller masks it. E-mail goes
through Amazon SES or SMTP (``notifications: email``). A failed send returns a warning
for the caller to show; it never raises.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vault_actions.config import Config, Email
from vault_actions.deliver.smoke import SmokeReport
from vault_actions.text import plain

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MAX_REASONS = 3


def webhook_url(cfg: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The webhook URL from the configured variable; None when unset or empty."""
    env = env if env is not None else os.environ
    return env.get(cfg.slack_webhook_env, "").strip() or None


def _escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Notice:
    """What every channel says: a one-line subject, the full text, a link to the run."""

    subject: str
    text: str
    run_url: str | None = None


def smoke_notice(cfg: Config, report: SmokeReport, run_url: str | None) -> Notice:
    """'<services> vX is live in QA', or an alert naming the first failing checks."""
    env = report.env.upper()
    if report.passed:
        services = ", ".join(s.name for s in cfg.services)
        text = f"{services} v{report.version} is live in {env}"
        return Notice(text, text, run_url)
    failures = report.failures
    reasons = "; ".join(
        f"{r.name}: {r.reason.splitlines()[0] if r.reason else 'failed'}"
        for r in failures[:MAX_REASONS]
    )
    if len(failures) > MAX_REASONS:
        reasons += f" (and {len(failures) - MAX_REASONS} more)"
    subject = f"v{report.version} FAILED smoke tests in {env}"
    return Notice(subject, f"{subject}: {reasons} — the version is dead; release a fix", run_url)


def slack_text(notice: Notice) -> str:
    """The notice as Slack message text (control characters escaped, the run linked)."""
    text = _escape(notice.text)
    return text + (f"\n<{notice.run_url}|View the run>" if notice.run_url else "")


def smoke_message(cfg: Config, report: SmokeReport, run_url: str | None) -> str:
    """The smoke notice as Slack text."""
    return slack_text(smoke_notice(cfg, report, run_url))


def email_body(notice: Notice) -> str:
    """The notice as a plain-text e-mail body."""
    lines = [notice.text]
    if notice.run_url:
        lines += ["", f"View the run: {notice.run_url}"]
    lines += ["", "-- ", "vault-actions (notifications: email in vault.yml)"]
    return "\n".join(lines) + "\n"


def send_email(
    email: Email, notice: Notice, ses: Any = None, env: Mapping[str, str] | None = None
) -> str | None:
    """Mail the notice through SES (``ses``: a sesv2 client) or SMTP; a warning when it
    failed (never an exception)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from vault_actions.integrations import aws
    from vault_actions.integrations import email as mail

    env = env if env is not None else os.environ
    subject = plain(notice.subject)  # one line: a header cannot be split by a reason
    body = email_body(notice)
    try:
        if email.via == "ses":
            message_id = mail.send_ses(ses, email.sender, email.to, subject, body)
            log.info("e-mail sent through SES (%s) to %s", message_id, ", ".join(email.to))
            return None
        if email.smtp is None:  # config refuses it; kept for the type checker
            return _warn("no smtp: server in notifications.email")
        login = _smtp_login(email, env)
        if isinstance(login, str):
            return _warn(login)
        mail.send_smtp(email.smtp, email.sender, email.to, subject, body, login=login)
    except ClientError as exc:
        return _warn(aws.describe(exc))
    except (BotoCoreError, smtplib.SMTPException, OSError) as exc:
        return _warn(f"{type(exc).__name__}: {exc}")
    log.info("e-mail sent through %s to %s", email.smtp.host, ", ".join(email.to))
    return None


def _smtp_login(email: Email, env: Mapping[str, str]) -> tuple[str, str] | str | None:
    """(user, password) from the named variables, None without a login, or what is missing."""
    smtp = email.smtp
    if smtp is None or smtp.username_env is None or smtp.password_env is None:
        return None
    user, password = env.get(smtp.username_env, ""), env.get(smtp.password_env, "")
    missing = [n for n, v in ((smtp.username_env, user), (smtp.password_env, password)) if not v]
    if missing:
        return f"{' and '.join(missing)} not set (the SMTP login of notifications.email)"
    return user, password


def _warn(reason: str) -> str:
    warning = f"E-mail notification not sent: {reason}"
    log.warning(warning)
    return warning


def send(url: str, text: str) -> str | None:
    """Post ``text`` to the webhook (429/5xx retried); a warning string when it failed."""
    import requests

    from vault_actions.integrations import http

    try:
        response = http.session().post(url, json={"text": text}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        warning = f"Slack notification not sent: {type(exc).__name__}"
        log.warning(warning)
        return warning
    if response.status_code != 200:
        body = " ".join(response.text.split())[:100]
        warning = f"Slack notification not sent: HTTP {response.status_code} {body}".rstrip()
        log.warning(warning)
        return warning
    log.info("Slack notified")
    return None
