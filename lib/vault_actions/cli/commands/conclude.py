"""``vault conclude`` and action-report: record how a release run ended, then report it."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import DEFAULT_LIMIT, Result, open_ledger

if TYPE_CHECKING:
    from collections.abc import Callable

    from vault_actions.config import Environment
    from vault_actions.integrations.github import Review
    from vault_actions.store.ledger import Event


@dataclass(frozen=True)
class ReportInputs:
    """action-report's inputs."""

    version: str = ""
    stages: str = "{}"
    config: str = config.DEFAULT_CONFIG


def configure(parser: argparse.ArgumentParser) -> None:
    """``--version`` and ``--stages`` (the workflow's ``toJSON(needs)``)."""
    parser.add_argument("--version", dest="release_version", required=True, metavar="X.Y.Z")
    parser.add_argument(
        "--stages", default="{}", metavar="JSON",
        help="job results, e.g. the workflow's toJSON(needs); job ids are environment names",
    )


def run(args: argparse.Namespace) -> Result:
    """Record the run's verdicts and print the journey."""
    return conclude(args.config, args.release_version, args.stages)


def run_action() -> Result:
    """action-report: verdicts, outputs, and the journey + graveyard in the step summary."""
    inputs = gha.read_inputs(ReportInputs)
    return conclude(inputs.config, inputs.version, inputs.stages, summary=True)


def conclude(
    config_path: str, raw_version: str, raw_stages: str, *, summary: bool = False
) -> Result:
    """Load everything, record what the run's outcome calls for, report."""
    from vault_actions.errors import GitHubError
    from vault_actions.promotion import verdicts as pipeline
    from vault_actions.promotion.live import Reader
    from vault_actions.report import status as report
    from vault_actions.store.manifest import validate_version

    cfg = config.load(config_path)
    version = validate_version(raw_version)
    stages = pipeline.parse_stages(raw_stages, cfg)
    book = open_ledger(cfg)
    ctx = context.RunContext.from_env()
    reader = Reader(cfg, book)  # this version's events, the newest versions', the live index
    before = reader.journey(version)
    try:
        found = pipeline.verdicts(cfg, before, stages, _reviews(ctx))
    except GitHubError as exc:
        gha.warning(f"{exc}; how the gates ended is not recorded", "Ledger")
        found = []
    recorded = [book.record(version, v.event, v.environment, ctx, details=v.details,
                            writer=config.BUILD_JOB) for v in found]
    reader.add(recorded)
    shown = reader.recent(DEFAULT_LIMIT)
    journeys, live = shown.overview.journeys, shown.overview.live
    journey = reader.journey(version)
    state = "dead" if not journey.alive else ("live" if report.live_in(journey, live) else "alive")
    if journey.death is not None:
        _bury_release(ctx, journey.death)
    data: dict[str, Any] = {
        "version": version,
        "state": state,
        "stages": stages,
        "recorded": [e.to_json() for e in recorded],
    }
    if summary:
        gha.set_output("state", state)
        gha.set_output("recorded", json.dumps([e.event for e in recorded]))
        events = [e for j in journeys.values() for e in j.events]
        gha.set_output("report", write_report(cfg, events, version))
        gha.add_summary(report.journey_table(cfg, journey, live))
        gha.add_summary(report.graveyard_markdown(cfg, journeys, live, last=5, first=shown.first))
    lines = [f"v{version}: {state}"] + [f"  recorded {e.describe()}" for e in recorded]
    return Result(data, "\n".join(lines))


def write_report(cfg: config.Config, events: list[Event], version: str) -> str:
    """The HTML report of ``events`` (the newest releases'), written to ``$RUNNER_TEMP``
    for the record job's artifact (commits from the checkout's release tags when the
    ledger lacks them); its path, or '' with a warning when it cannot be written."""
    from datetime import UTC, datetime

    from vault_actions.report import html
    from vault_actions.report.audit import audit, final_environment
    from vault_actions.report.period import Period

    now = datetime.now(UTC)
    found = audit(cfg, events, environment=final_environment(cfg), period=Period(), now=now,
                  repo=cfg.root)
    path = Path(os.environ.get("RUNNER_TEMP") or ".") / f"vault-report-v{version}.html"
    try:
        path.write_text(html.report(found, now), encoding="utf-8")
    except OSError as exc:
        gha.warning(f"cannot write the HTML report {path}: {exc.strerror}", "Report")
        return ""
    return str(path)


def _bury_release(ctx: context.RunContext, death: Event) -> None:
    """Say in the GitHub Release notes where and why the version died (best effort)."""
    from vault_actions.build import changelog
    from vault_actions.errors import GitHubError
    from vault_actions.integrations import github

    token = os.environ.get("GITHUB_TOKEN")
    if not (token and context.in_actions() and ctx.repository):
        return
    try:
        github.bury_release(github.connect(token, ctx.api_url), ctx.repository,
                            f"v{death.version}", changelog.dead_notice(death))
    except GitHubError as exc:
        gha.warning(f"{exc}\n(the ledger says v{death.version} is dead; its GitHub Release "
                    "does not say so yet)", title=exc.title)


def _reviews(ctx: context.RunContext) -> Callable[[Environment], Review | None]:
    """A ``review_of(env)`` reading this run's gate reviews (GitHubError when it cannot)."""
    token = os.environ.get("GITHUB_TOKEN")

    def review_of(env: Environment) -> Review | None:
        if not (token and context.in_actions() and ctx.repository and ctx.run_id):
            return None
        from vault_actions.integrations import github

        gh = github.connect(token, ctx.api_url)
        return github.gate_review(gh, ctx.repository, ctx.run_id, env.name)

    return review_of

