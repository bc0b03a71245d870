"""``vault conclude`` and action-report: record how a release run ended, then report it."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.report.verdicts import NEEDS_HINT

if TYPE_CHECKING:
    from vault_actions.store.ledger import Event


@dataclass(frozen=True)
class ReportInputs:
    """action-report's inputs."""

    version: str = ""
    stages: dict[str, Any] = field(default_factory=dict, metadata={"hint": NEEDS_HINT})
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
    stages = gha.parse_json("stages", args.stages, NEEDS_HINT)
    return conclude(args.config, args.release_version, stages)


def run_action() -> Result:
    """action-report: verdicts, outputs, and the journey + graveyard in the step summary."""
    inputs = gha.read_inputs(ReportInputs)
    return conclude(inputs.config, inputs.version, inputs.stages, summary=True)


def conclude(
    config_path: str, raw_version: str, needs: object, *, summary: bool = False
) -> Result:
    """Parse, run ``report.verdicts.conclude``, render (the step summary if ``summary``)."""
    from vault_actions.report import graveyard, status, verdicts
    from vault_actions.store.manifest import validate_version

    cfg = config.load(config_path)
    version = validate_version(raw_version)
    stages = verdicts.parse_stages(needs, cfg)
    found = verdicts.conclude(
        cfg, version, stages, ledger=open_ledger(cfg), ctx=context.RunContext.from_env(),
        token=os.environ.get("GITHUB_TOKEN", ""), runner=gha,
    )
    if summary:
        gha.set_output("state", found.state)
        gha.set_output("recorded", json.dumps([e.event for e in found.recorded]))
        gha.set_output("report", write_report(cfg, found.events, version))
        gha.add_summary(status.journey_table(cfg, found.journey, found.live))
        gha.add_summary(graveyard.graveyard_markdown(cfg, found.journeys, found.live, last=5,
                                                    first=found.first))
    lines = [f"v{version}: {found.state}"] + [f"  recorded {e.describe()}" for e in found.recorded]
    return Result(found.to_json(), "\n".join(lines))


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
