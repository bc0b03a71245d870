"""The auditor's use case: one read of the ledger gives the overview, the evidence and the
metrics, so the status, the evidence export, the metrics and the HTML report always agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vault_actions.config import Config
from vault_actions.promotion.journey import Overview, overview
from vault_actions.report import evidence as evidence_
from vault_actions.report import metrics as metrics_
from vault_actions.report.period import Period
from vault_actions.store.ledger import Event


@dataclass(frozen=True)
class Audit:
    """Everything the report shows."""

    cfg: Config
    seen: Overview
    evidence: evidence_.Evidence
    metrics: metrics_.Metrics


def final_environment(cfg: Config) -> str:
    """The environment changes are audited in by default: the last of the promotion order."""
    from vault_actions.errors import ConfigError

    if not cfg.promotion_order:
        raise ConfigError("vault.yml has no environment to audit", "add environments to vault.yml")
    return cfg.promotion_order[-1].name


def commit_lookup(seen: Overview, repo: Path | None) -> evidence_.CommitLookup:
    """Who made each change as the ``built`` events say, and its commits (authors, times)
    from git between the release tags in ``repo``: both, when both are known."""
    lookups = [evidence_.built_people(seen.journeys)]
    if repo is not None:
        lookups.append(evidence_.git_commits(repo))
    return evidence_.every_known(*lookups)


def audit(
    cfg: Config,
    events: Iterable[Event],
    *,
    environment: str,
    period: Period,
    now: datetime,
    repo: Path | None = None,
    verify: evidence_.Verifier | None = None,
) -> Audit:
    """Overview, evidence and metrics of ``environment`` in ``period`` from ``events``;
    each event's proof checked as the promotion policy checks it unless ``verify``."""
    cfg.environment(environment)  # ConfigError naming the environments when unknown
    seen = overview(cfg, events)
    found = evidence_.gather(cfg, seen.journeys, environment, period,
                             verify=verify or evidence_.authority_verifier(cfg),
                             commits=commit_lookup(seen, repo))
    return Audit(cfg, seen, found, metrics_.compute(found, seen.journeys, period, now))
