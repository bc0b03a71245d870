"""The record stage: how a release run ended, stage by stage, turned into ledger verdicts.

The release workflow's final ``if: always()`` job passes ``toJSON(needs)``: one entry per
job, whose ids are the environment names. Deploy and smoke steps record their own
events; what only the run itself knows — a gate rejected or left unanswered, a run
cancelled — is decided here, so the graveyard shows rejections too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from vault_actions import context
from vault_actions.config import BUILD_JOB, Config, Environment
from vault_actions.errors import ConfigError, GitHubError, VaultError
from vault_actions.promotion import gates
from vault_actions.promotion.journey import Journey
from vault_actions.promotion.live import Reader
from vault_actions.report.status import DEFAULT_LIMIT, live_in

if TYPE_CHECKING:
    from vault_actions.context import RunContext, Runner
    from vault_actions.integrations.github.gates import Review
    from vault_actions.store.ledger import Event, Ledger

NEEDS_HINT = "pass the workflow's toJSON(needs)"
RESULTS = frozenset({"success", "failure", "cancelled", "skipped"})


State = Literal["dead", "live", "alive"]


@dataclass(frozen=True)
class Conclusion:
    """What ``conclude`` found and recorded (``events``: the newest releases' with it), with
    what the report renders (``first``: the attempt number of the first journey shown)."""

    version: str
    state: State
    stages: dict[str, str]
    recorded: list[Event]
    events: list[Event]
    journey: Journey
    journeys: dict[str, Journey]
    live: dict[str, str]
    first: int

    def to_json(self) -> dict[str, Any]:
        """The command's JSON result."""
        return {
            "version": self.version,
            "state": self.state,
            "stages": self.stages,
            "recorded": [e.to_json() for e in self.recorded],
        }


def conclude(
    cfg: Config,
    version: str,
    stages: dict[str, str],
    *,
    ledger: Ledger,
    ctx: RunContext,
    token: str,
    runner: Runner = context.LOGGED,
) -> Conclusion:
    """Record what the run's outcome calls for, then say where the version stands.

    A version that died gets the notice in its GitHub Release notes (best effort).
    """
    reader = Reader(cfg, ledger)  # this version's, the newest versions', the live index
    before = reader.journey(version)
    try:
        found = verdicts(cfg, before, stages, _reviews(ctx, token))
    except GitHubError as exc:
        runner.warning(f"{exc}; how the gates ended is not recorded", "Ledger")
        found = []
    recorded = [_record(ledger, ctx, version, v) for v in found]
    reader.add(recorded)
    shown = reader.recent(DEFAULT_LIMIT)
    journeys, live = shown.overview.journeys, shown.overview.live
    journey = reader.journey(version)
    state: State = (
        "dead" if not journey.alive else ("live" if live_in(journey, live) else "alive")
    )
    if journey.death is not None:
        _bury_release(ctx, token, journey.death, runner)
    events = [e for j in journeys.values() for e in j.events]
    try:
        reader.summarise(ctx)  # the newest summary and the events since
    except VaultError as exc:
        runner.warning(f"{exc.message}; status and the graveyard read the folders instead "
                       f"({exc.hint})", "Ledger summary")
    return Conclusion(version, state, stages, recorded, events, journey, journeys, live,
                      shown.first)


def _record(ledger: Ledger, ctx: RunContext, version: str, verdict: Verdict) -> Event:
    """``rejected`` through the gate stage; ``cancelled`` only here."""
    if verdict.event == "rejected":
        return gates.record_decision(ledger, ctx, version, verdict.environment, "rejected",
                                     details=verdict.details, writer=BUILD_JOB)
    return ledger.record(version, verdict.event, verdict.environment, ctx,
                         details=verdict.details, writer=BUILD_JOB)


def _bury_release(ctx: RunContext, token: str, death: Event, runner: Runner) -> None:
    """Say in the GitHub Release notes where and why the version died (best effort)."""
    from vault_actions.build import changelog
    from vault_actions.integrations.github import client, releases

    if not (token and context.in_actions() and ctx.repository):
        return
    try:
        releases.bury_release(client.connect(token, ctx.api_url), ctx.repository,
                              f"v{death.version}", changelog.dead_notice(death))
    except GitHubError as exc:
        runner.warning(f"{exc}\n(the ledger says v{death.version} is dead; its GitHub Release "
                       "does not say so yet)", title=exc.title)


def _reviews(ctx: RunContext, token: str) -> Callable[[Environment], Review | None]:
    """A ``review_of(env)`` reading this run's gate reviews (GitHubError when it cannot)."""

    def review_of(env: Environment) -> Review | None:
        if not (token and context.in_actions() and ctx.repository and ctx.run_id):
            return None
        from vault_actions.integrations.github.client import connect
        from vault_actions.integrations.github.gates import gate_review

        return gate_review(connect(token, ctx.api_url), ctx.repository, ctx.run_id, env.name)

    return review_of


@dataclass(frozen=True)
class Verdict:
    """A ledger event the run's outcome calls for."""

    event: str
    environment: str
    details: dict[str, Any] = field(default_factory=dict)


def parse_stages(needs: object, cfg: Config) -> dict[str, str]:
    """``{environment: result}`` from the parsed ``toJSON(needs)``; other jobs are ignored."""
    if not isinstance(needs, dict):
        raise ConfigError("input 'stages' is not a JSON object", NEEDS_HINT)
    names = {e.name for e in cfg.promotion_order}
    stages = {}
    for job, value in needs.items():
        result = value.get("result") if isinstance(value, dict) else None
        if job in names and result in RESULTS:
            stages[job] = str(result)
    return stages


def verdicts(
    cfg: Config,
    journey: Journey,
    stages: dict[str, str],
    review_of: Callable[[Environment], Review | None],
) -> list[Verdict]:
    """The events to record: at most one, for the first stage that did not succeed.

    - already dead: nothing (its death is recorded);
    - ``cancelled``: the run was cancelled there, the version is abandoned;
    - ``failure`` at a gate that a reviewer rejected: ``rejected`` by that reviewer;
    - any other failure (a deploy error, missing credentials, a gate not yet approved in
      the ledger by the `gate` workflow fallback): nothing; re-running the failed job is
      safe, and a version nobody approves simply never goes further.

    ``review_of`` raises GitHubError when GitHub cannot say: then nothing is guessed.
    """
    if not journey.alive:
        return []
    for env in cfg.promotion_order:
        result = stages.get(env.name)
        if result == "cancelled":
            reason = (
                f"the run was cancelled at {env.name} (by a person, or superseded by a "
                f"newer run waiting for {env.name})"
            )
            return [Verdict("cancelled", env.name, {"reason": reason})]
        if result == "failure" and env.gated:
            return _rejection(env, review_of(env))
        if result != "success":
            return []
    return []


def _rejection(env: Environment, review: Review | None) -> list[Verdict]:
    if review is None or review.state != "rejected":
        return []
    reason = review.comment or f"rejected at the {env.name} gate"
    return [Verdict("rejected", env.name, {"by": review.login, "reason": reason})]
