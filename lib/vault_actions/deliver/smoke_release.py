"""The smoke stage's use case, the brake between environments.

The release must be live in the environment (by the events that count, the live index); then it is
smoked, ``smoke_passed`` or ``smoke_failed`` is recorded (a tripped rollout's
``smoke_failed`` is ``deliver.outcomes``') and Slack and e-mail are told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vault_actions.context import LOGGED
from vault_actions.deliver import notify
from vault_actions.deliver.smoke import SmokeReport, run
from vault_actions.errors import SmokeFailed
from vault_actions.promotion.live import Reader
from vault_actions.promotion.policy import check_live
from vault_actions.text import plural

MAX_LISTED_FAILURES = 5

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment
    from vault_actions.context import RunContext, Runner
    from vault_actions.store.ledger import Event, Ledger


def smoke_release(
    cfg: Config,
    env: Environment,
    version: str,
    *,
    ledger: Ledger,
    ctx: RunContext,
    base_url: str | None,
    runner: Runner = LOGGED,
) -> SmokeReport:
    """Check the release is live in ``env``, smoke it, record the verdict, notify.

    ``env`` must have smoke settings (``env.smoke_tested``).
    """
    reader = Reader(cfg, ledger)
    check_live(reader.journey(version), reader.live(env.name).version, env.name)
    report = run(env, version, cfg.root, base_url=base_url)
    _record(ledger, report, ctx, base_url)
    _notify(cfg, report, ctx, runner)
    return report


def _record(
    ledger: Ledger, report: SmokeReport, ctx: RunContext, base_url: str | None
) -> Event:
    details: dict[str, Any] = {
        "results": [r.to_json() for r in report.results],
        "duration_seconds": round(report.duration, 3),
    }
    if base_url:
        details["base_url"] = base_url
    event = "smoke_passed" if report.passed else "smoke_failed"
    return ledger.record(report.version, event, report.env, ctx, details=details)


def _notify(cfg: Config, report: SmokeReport, ctx: RunContext, runner: Runner) -> None:
    """The notice on Slack and by e-mail, as configured; a failure only warns."""
    notice = notify.smoke_notice(cfg, report, ctx.run_url)
    url = notify.webhook_url(cfg)
    if url is not None:
        runner.mask(url)
        warning = notify.send(url, notify.slack_text(notice))
        if warning:
            runner.warning(warning, title="Slack notification")
    if cfg.email is not None:
        ses = None
        if cfg.email.via == "ses":
            from vault_actions.integrations import aws

            ses = aws.client("sesv2", cfg.email.region)
        warning = notify.send_email(cfg.email, notice, ses)
        if warning:
            runner.warning(warning, title="E-mail notification")


def check_passed(report: SmokeReport) -> None:
    """SmokeFailed listing the failing checks (the first few) unless every check passed."""
    failures = report.failures
    if not failures:
        return
    listed = "; ".join(
        f"{r.name}: {r.reason.splitlines()[0]}" for r in failures[:MAX_LISTED_FAILURES]
    )
    more = len(failures) - MAX_LISTED_FAILURES
    raise SmokeFailed(
        f"v{report.version} failed {len(failures)} of "
        f"{plural(len(report.results), 'smoke check')} in {report.env}: {listed}"
        + (f" (and {more} more)" if more > 0 else ""),
        f"v{report.version} is dead (smoke_failed recorded in {report.env}); push a fix: "
        "or feat: commit to main and the next build releases a new version",
    )
