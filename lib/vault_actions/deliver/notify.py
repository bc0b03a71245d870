"""Slack incoming-webhook notifications: optional, and never able to fail a release.

The webhook URL comes from the environment variable named by ``notifications:
slack-webhook-env`` (default ``SLACK_WEBHOOK_URL``); the caller masks it. A failed post
returns a warning for the caller to show; it never raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from vault_actions.config import Config
from vault_actions.deliver.smoke import SmokeReport

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


def smoke_message(cfg: Config, report: SmokeReport, run_url: str | None) -> str:
    """'<services> vX is live in QA', or an alert naming the first failing checks."""
    env = report.env.upper()
    if report.passed:
        services = ", ".join(s.name for s in cfg.services)
        text = _escape(f"{services} v{report.version} is live in {env}")
    else:
        failures = report.failures
        reasons = "; ".join(
            f"{r.name}: {r.reason.splitlines()[0] if r.reason else 'failed'}"
            for r in failures[:MAX_REASONS]
        )
        if len(failures) > MAX_REASONS:
            reasons += f" (and {len(failures) - MAX_REASONS} more)"
        text = _escape(
            f"v{report.version} FAILED smoke tests in {env}: {reasons} — "
            "the version is dead; release a fix"
        )
    if run_url:
        text += f"\n<{run_url}|View the run>"
    return text


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
