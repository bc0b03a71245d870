"""Authority: which proven writer may state what. Only events that hold count.

Each kind of writer is a suite reusable workflow (``ledger.workflows`` in vault.yml,
config.SUITE_WORKFLOWS by default):

- ``deployed``, ``smoke_passed``, ``traffic_shifted``, ``freeze_overridden`` in E: only
  E's own job (environment claim E) of the stage workflow (vault-stage.yml); ``dr_synced``
  and a DR mirror's events: the mirror's job of the dr-sync workflow; an emergency
  rollback's ``deployed``: E's job of the rollback workflow;
- ``approved`` for E: E's stage job reading GitHub's review (``source: github-environment``),
  or the gate workflow run by the approver it names (actor claim);
- ``built``: a job of the build workflow (vault-build.yml), at the commit it built;
- ``cancelled``: the record workflow (vault-record.yml: how the run ended);
  ``rejected``: the record workflow, the gate workflow, or a stage job (GitHub's review);
- the other kills and failures (``smoke_failed``, ``deploy_failed``, ``rolled_back``,
  ``withdrawn``): any proven job of the repository (fail closed);
- a local event (written outside Actions) only where ``ledger.allow-local`` lists it
  (break-glass: its STS identity is a claim that whoever may write the ledger can make);
- a ledger summary (``promotion.summary``): the record workflow, or locally where
  ``ledger.allow-local`` lists ``summary``.

Everything else (no proof, a proof that does not verify, the wrong writer) never counts
and is listed as such by status, graveyard, doctor and ``vault verify``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from vault_actions.errors import AttestationError, PromotionRefused
from vault_actions.promotion import policy
from vault_actions.promotion.journey import Journey
from vault_actions.store.attestation import Verifier, Writer
from vault_actions.store.ledger import GITHUB_GATE, Event, Ledger, Scan, Skipped

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment

log = logging.getLogger(__name__)

ENVIRONMENT_EVENTS = frozenset({"deployed", "smoke_passed", "dr_synced", "traffic_shifted",
                                "freeze_overridden"})
RESTRICTIVE = frozenset({"smoke_failed", "rejected", "cancelled", "deploy_failed", "rolled_back",
                         "withdrawn"})
# Kills stated about how a run ended: only the workflows that know it (see the docstring).
VERDICT_WRITERS = {"cancelled": ("record",), "rejected": ("record", "gate", "stage")}


@dataclass(frozen=True)
class Judged:
    """One event, who proved to have written it, and why it does not count (if not)."""

    event: Event
    writer: Writer | None
    problem: str | None = None

    @property
    def counts(self) -> bool:
        """True when the event may decide promotions."""
        return self.problem is None

    @property
    def local(self) -> bool:
        """True for an event written outside Actions."""
        return self.writer is not None and self.writer.local

    @property
    def flag(self) -> str:
        """``''``, ``local`` or ``unverified``: what to show beside the event."""
        if not self.counts:
            return "unverified"
        return "local" if self.local else ""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "id": self.event.id, "version": self.event.version, "event": self.event.event,
            "environment": self.event.environment, "at": self.event.at,
            "counts": self.counts, "local": self.local, "problem": self.problem,
            "writer": self.writer.to_json() if self.writer else None,
        }


@dataclass(frozen=True)
class Assessment:
    """The ledger as the policy sees it: every event judged, foreign objects skipped."""

    judged: list[Judged]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def events(self) -> list[Event]:
        """The events that count, in order."""
        return [j.event for j in self.judged if j.counts]

    @property
    def refused(self) -> list[Judged]:
        """The events that do not count."""
        return [j for j in self.judged if not j.counts]

    def of(self, event: Event) -> Judged | None:
        """The judgement of ``event``."""
        return next((j for j in self.judged if j.event.id == event.id), None)

    def journey(self, version: str) -> Journey:
        """The journey of ``version`` from the events that count."""
        return Journey(version, tuple(e for e in self.events if e.version == version))

    def to_json(self) -> dict[str, Any]:
        """``{"unverified": […], "skipped": […]}`` for status and doctor."""
        return {
            "unverified": [j.to_json() for j in self.refused],
            "skipped": [s.to_json() for s in self.skipped],
        }


def read(cfg: Config, ledger: Ledger, version: str | None = None,
         verifier: Verifier | None = None) -> Assessment:
    """Read the ledger (one version's events, or all) and judge every event."""
    return assess(cfg, ledger.scan(version), verifier or verifier_for(cfg))


def journey_of(cfg: Config, ledger: Ledger, version: str) -> Journey:
    """The journey of one version from the events that count."""
    return read(cfg, ledger, version).journey(version)


def check_promotion(cfg: Config, assessment: Assessment, env: Environment, version: str) -> Journey:
    """The promotion policy on the events that count; a refusal names the ones that do not."""
    journey = assessment.journey(version)
    try:
        policy.check_promotion(cfg, journey, env)
    except PromotionRefused as exc:
        raise PromotionRefused(exc.message + _not_counting(assessment, version), exc.hint) from None
    return journey


def _not_counting(assessment: Assessment, version: str) -> str:
    refused = [j for j in assessment.refused if j.event.version == version]
    if not refused:
        return ""
    listed = "; ".join(f"{j.event.event} in {j.event.environment or '-'} ({j.problem})"
                       for j in refused[:3])
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    return f" (not counted: {listed}{more}; `vault verify` lists them)"


def assess(cfg: Config, scan: Scan, verifier: Verifier) -> Assessment:
    """Judge each event of ``scan``: a proof that verifies and a writer with authority."""
    judged = [judge(cfg, event, verifier) for event in scan.events]
    for item in judged:
        if not item.counts:
            log.warning("ledger: v%s %s does not count: %s", item.event.version,
                        item.event.describe(), item.problem)
    return Assessment(judged, list(scan.skipped))


def judge(cfg: Config, event: Event, verifier: Verifier) -> Judged:
    """One event's judgement."""
    try:
        writer = verifier.writer(event.to_json())
    except AttestationError as exc:
        return Judged(event, None, exc.message)
    return Judged(event, writer, authority_problem(cfg, event, writer))


def authority_problem(cfg: Config, event: Event, writer: Writer) -> str | None:
    """Why ``writer`` may not state ``event`` (None: it may)."""
    if writer.local:
        return _local_problem(cfg, event, writer)
    if event.event in VERDICT_WRITERS:
        return _any_workflow_problem(cfg, writer, VERDICT_WRITERS[event.event])
    if event.event in RESTRICTIVE:
        return None
    if event.event == "built":
        return _workflow_problem(cfg, writer, "build")
    env = _environment(cfg, event)
    if env is None:
        return f"{event.environment!r} is not an environment of vault.yml"
    return _in_environment_problem(cfg, event, writer, env)


def summary_problem(cfg: Config, writer: Writer) -> str | None:
    """Why ``writer`` may not write a ledger summary (``promotion.summary``): only the
    record workflow may, or a local identity where ``ledger.allow-local`` lists it."""
    if writer.local:
        if "summary" in cfg.ledger.allow_local:
            return None
        return (f"it was written outside GitHub Actions ({writer.identity}) and vault.yml's "
                "ledger.allow-local does not list summary")
    return _workflow_problem(cfg, writer, "record")


def _in_environment_problem(
    cfg: Config, event: Event, writer: Writer, env: Environment
) -> str | None:
    if event.event in ENVIRONMENT_EVENTS:
        kind = "dr-sync" if env.mirror_of is not None else "stage"
        if event.details.get("emergency"):
            kind = "rollback"
        return _environment_problem(writer, env) or _workflow_problem(cfg, writer, kind)
    if event.event == "approved":
        return _approval_problem(cfg, event, writer, env)
    return f"{event.event!r} is not a ledger event"


def _local_problem(cfg: Config, event: Event, writer: Writer) -> str | None:
    if event.event not in cfg.ledger.allow_local:
        return (f"it was written outside GitHub Actions ({writer.identity}) and "
                f"vault.yml's ledger.allow-local does not list {event.event}")
    return None


def _environment(cfg: Config, event: Event) -> Environment | None:
    return next((e for e in cfg.environments if e.name == event.environment), None)


def _environment_problem(writer: Writer, env: Environment) -> str | None:
    claimed = writer.claim("environment")
    if claimed != env.name:
        return f"it was written by a job of environment {claimed or 'none'}, not {env.name}"
    return None


def _workflow_problem(cfg: Config, writer: Writer, kind: str) -> str | None:
    ref = writer.claim("job_workflow_ref") or ""
    patterns = cfg.ledger.workflows.get(kind, ())
    if any(fnmatch.fnmatchcase(ref, p) for p in patterns):
        return None
    return f"it was written by workflow {ref or 'unknown'}, not a trusted {kind} workflow " \
           f"({', '.join(patterns)}; ledger.workflows.{kind} in vault.yml)"


def _any_workflow_problem(cfg: Config, writer: Writer, kinds: tuple[str, ...]) -> str | None:
    """None when ``writer`` ran one of ``kinds``' trusted workflows, else why not."""
    problems = [_workflow_problem(cfg, writer, kind) for kind in kinds]
    if None in problems:
        return None
    ref = writer.claim("job_workflow_ref") or "unknown"
    return (f"it was written by workflow {ref}, not a trusted {' or '.join(kinds)} workflow "
            f"(ledger.workflows in vault.yml)")


def _approval_problem(cfg: Config, event: Event, writer: Writer, env: Environment) -> str | None:
    if event.details.get("source") == GITHUB_GATE:
        return _environment_problem(writer, env) or _workflow_problem(cfg, writer, "stage")
    problem = _workflow_problem(cfg, writer, "gate")
    if problem:
        return f"{problem}, nor {env.name}'s job reading GitHub's review"
    actor = writer.claim("actor") or ""
    if event.who.casefold() != actor.casefold():
        return f"it names approver {event.who!r} but the gate workflow was run by {actor!r}"
    return None


def verifier_for(cfg: Config) -> Verifier:
    """The verifier of ``cfg``'s ledger: its issuer, pinned to its repository."""
    return _verifier(cfg.ledger.issuer, trusted_repository(cfg))


@cache
def _verifier(issuer: str, repository: str | None) -> Verifier:
    return Verifier(issuer, repository)


def trusted_repository(cfg: Config) -> str | None:
    """``ledger.repository``, else the repository of this run, else git's origin."""
    from vault_actions.integrations import git

    return (cfg.ledger.repository or os.environ.get("GITHUB_REPOSITORY")
            or git.origin_repository(cfg.root))

