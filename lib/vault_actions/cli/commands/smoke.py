"""``vault smoke`` and action-smoke: the brake between environments.

A passing smoke test records ``smoke_passed``; a failing one records ``smoke_failed``
(the version dies there) and then raises SmokeFailed so the pipeline stops.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ConfigError, PromotionRefused, SmokeFailed
from vault_actions.text import plural

if TYPE_CHECKING:
    from vault_actions.deliver.smoke import SmokeReport
    from vault_actions.store.ledger import Event, Ledger

MAX_LISTED_FAILURES = 5


@dataclass(frozen=True)
class SmokeInputs:
    """action-smoke's inputs (working-directory is applied by the action's step)."""

    environment: str = ""
    version: str = ""
    config: str = config.DEFAULT_CONFIG
    base_url: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--version`` and an optional ``--base-url`` override."""
    parser.add_argument("--env", required=True, metavar="ENV", help="environment to test")
    parser.add_argument(
        "--version", dest="release_version", required=True, metavar="X.Y.Z",
        help="the release deployed there (1.2.3 or v1.2.3)",
    )
    parser.add_argument(
        "--base-url", metavar="URL",
        help="base URL of the checks (default: smoke.base-url of the environment)",
    )


def run(args: argparse.Namespace) -> Result:
    """Smoke-test the release; exit 4 (SmokeFailed) after recording a failure."""
    report = smoke_test(args.config, args.env, args.release_version, args.base_url)
    return _finish(report)


def run_action() -> Result:
    """action-smoke: inputs from INPUT_*; outputs ``result`` and ``results``."""
    from vault_actions.deliver import smoke

    inputs = gha.read_inputs(SmokeInputs)
    for name in ("environment", "version"):
        if not getattr(inputs, name):
            raise ConfigError(
                f"action-smoke input '{name}' is empty",
                f"set {name}: in the step's with: block",
            )
    report = smoke_test(inputs.config, inputs.environment, inputs.version, inputs.base_url)
    gha.set_output("result", _verdict(report))
    gha.set_output("results", smoke.results_json(report) if report else "[]")
    return _finish(report)


def smoke_test(
    config_path: str, env_name: str, raw_version: str, base_url: str | None
) -> SmokeReport | None:
    """Check the release is live in the environment, smoke it, record, summarise, notify.

    None when the environment has no smoke settings (it counts as passed once deployed).
    """
    from vault_actions.deliver import smoke
    from vault_actions.store.manifest import validate_version

    version = validate_version(raw_version)
    cfg = config.load(config_path)
    env = cfg.environment(env_name)
    if not env.smoke_tested:
        gha.add_summary(f"### Smoke tests: v{version} in {env.name}\n\nNo smoke settings.")
        return None
    ctx = context.RunContext.from_env()
    ledger = open_ledger(cfg)
    require_live(cfg, ledger, version, env.name)
    with gha.group(f"Smoke tests: v{version} in {env.name}"):
        report = smoke.run(env, version, cfg.root, base_url=base_url or None)
    gha.add_summary(smoke.markdown(report))
    _record(ledger, report, ctx, base_url or None)
    _notify(cfg, report, ctx)
    return report


def require_live(cfg: config.Config, ledger: Ledger, version: str, env: str) -> None:
    """PromotionRefused unless ``version`` is alive and is what ``env`` runs now (by the
    events that count: this version's, and the live index checked against them)."""
    from vault_actions.promotion.live import Reader
    from vault_actions.promotion.policy import check_alive

    reader = Reader(cfg, ledger)
    journey = reader.journey(version)
    check_alive(journey)
    live = reader.live(env).version
    if live == version:
        return
    if journey.last("deployed", env) is None and journey.last("dr_synced", env) is None:
        raise PromotionRefused(
            f"v{version} has never been deployed to {env}; there is nothing to smoke-test",
            f"deploy it first: vault deploy --env {env} --version {version}",
        )
    now = f"{env} now runs v{live}" if live else f"nothing is live in {env}"
    raise PromotionRefused(
        f"v{version} is no longer live in {env} ({now}); a smoke test would test other code",
        f"smoke-test what is live: vault smoke --env {env} --version {live}"
        if live
        else f"deploy it again: vault deploy --env {env} --version {version}",
    )


def _record(
    ledger: Ledger, report: SmokeReport, ctx: context.RunContext, base_url: str | None
) -> Event:
    details: dict[str, Any] = {
        "results": [r.to_json() for r in report.results],
        "duration_seconds": round(report.duration, 3),
    }
    if base_url:
        details["base_url"] = base_url
    event = "smoke_passed" if report.passed else "smoke_failed"
    return ledger.record(report.version, event, report.env, ctx, details=details)


def _notify(cfg: config.Config, report: SmokeReport, ctx: context.RunContext) -> None:
    """The notice on Slack and by e-mail, as configured; a failure only warns."""
    from vault_actions.deliver import notify

    notice = notify.smoke_notice(cfg, report, ctx.run_url)
    url = notify.webhook_url(cfg)
    if url is not None:
        gha.mask(url)
        warning = notify.send(url, notify.slack_text(notice))
        if warning:
            gha.warning(warning, title="Slack notification")
    if cfg.email is not None:
        ses = None
        if cfg.email.via == "ses":
            from vault_actions.integrations import aws

            ses = aws.client("sesv2", cfg.email.region)
        warning = notify.send_email(cfg.email, notice, ses)
        if warning:
            gha.warning(warning, title="E-mail notification")


def _verdict(report: SmokeReport | None) -> str:
    if report is None:
        return "skipped"
    return "passed" if report.passed else "failed"


def _finish(report: SmokeReport | None) -> Result:
    """The command's Result, or SmokeFailed listing the failing checks."""
    if report is None:
        return Result({"result": "skipped"}, "No smoke settings for this environment; skipped.")
    failures = report.failures
    if failures:
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
    data = {"result": "passed", **report.to_json()}
    text = (
        f"v{report.version} passed {plural(len(report.results), 'smoke check')} in {report.env} "
        f"in {report.duration:.1f} s"
    )
    return Result(data, text)
