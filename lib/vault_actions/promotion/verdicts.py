"""How a release run ended, stage by stage, turned into ledger verdicts.

The release workflow's final ``if: always()`` job passes ``toJSON(needs)``: one entry per
job, whose ids are the environment names. Deploy and smoke steps record their own
events; what only the run itself knows — a gate rejected or left unanswered, a run
cancelled — is decided here, so the graveyard shows rejections too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vault_actions.config import Config, Environment
from vault_actions.errors import ConfigError
from vault_actions.promotion.journey import Journey

if TYPE_CHECKING:
    from vault_actions.integrations.github import Review

NEEDS_HINT = "pass the workflow's toJSON(needs)"
RESULTS = frozenset({"success", "failure", "cancelled", "skipped"})


@dataclass(frozen=True)
class Verdict:
    """A ledger event the run's outcome calls for."""

    event: str
    environment: str
    details: dict[str, Any] = field(default_factory=dict)


def parse_stages(raw: str, cfg: Config) -> dict[str, str]:
    """``{environment: result}`` from ``toJSON(needs)``; other jobs are ignored."""
    try:
        needs = json.loads(raw or "{}")
    except ValueError as exc:
        raise ConfigError(
            f"input 'stages' is not JSON ({exc})", NEEDS_HINT
        ) from None
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
