"""The deliver stage's ledger events, each written here and nowhere else.

``deployed``, ``deploy_failed``, ``rolled_back`` (a deploy to one environment),
``freeze_overridden``, ``traffic_shifted`` (a gradual rollout's steps), an emergency
rollback's ``withdrawn``, a tripped
rollout's ``smoke_failed`` and ``dr_synced`` (a mirror's sync) say what an environment
serves after a deploy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from vault_actions.config import Environment, Freeze
    from vault_actions.context import RunContext
    from vault_actions.deliver.lambdas import DeployResult
    from vault_actions.deliver.rollback import RollbackResult
    from vault_actions.deliver.rollout import RolloutResult
    from vault_actions.store.ledger import Event, Ledger


def record_refused(
    ledger: Ledger, ctx: RunContext, env: Environment, version: str, error: str,
    **details: Any,
) -> Event:
    """``deploy_failed`` with ``changed: False``: a check refused before anything changed."""
    return ledger.record(version, "deploy_failed", env.name, ctx,
                         details={"error": error, "changed": False, **details})


def record_failure(
    ledger: Ledger, ctx: RunContext, env: Environment, result: DeployResult
) -> None:
    """``deploy_failed`` (it changed things, unless cancelled before any alias moved) and
    ``rolled_back`` for what was restored, so the ledger says what the environment serves."""
    changed = not result.cancelled or bool(result.having("restored", "restore_failed"))
    details: dict[str, Any] = {"alias": env.alias, "functions": result.functions(),
                               "changed": changed}
    if result.cancelled:
        details["cancelled"] = result.cancelled
    ledger.record(result.version, "deploy_failed", env.name, ctx, commit=result.commit,
                  details=details)
    restored = result.having("restored")
    if restored:
        ledger.record(result.version, "rolled_back", env.name, ctx, commit=result.commit,
                      details={"alias": env.alias, "restored": [s.row() for s in restored]})


def record_tripped(
    ledger: Ledger, ctx: RunContext, env: Environment, delivery: RolloutResult
) -> None:
    """A tripped rollout: ``smoke_failed`` (the version dies there, with the alarm and the
    weight) and ``rolled_back`` (every alias put back)."""
    result, trip = delivery.deploy, delivery.trip
    if trip is None:
        return
    details = {**trip.details(), "rollout": delivery.details(),
               "reason": delivery.headline(env.name)}
    ledger.record(result.version, "smoke_failed", env.name, ctx, commit=result.commit,
                  details=details)
    ledger.record(result.version, "rolled_back", env.name, ctx, commit=result.commit,
                  details={**trip.details(), "alias": env.alias,
                           "restored": [s.row() for s in result.having("restored")]})


def record_freeze_overridden(
    ledger: Ledger, ctx: RunContext, env: Environment, version: str,
    *, window: Freeze, until: datetime, reason: str | None,
) -> Event:
    """``freeze_overridden``: break-glass, a deploy inside a freeze window, and why."""
    return ledger.record(version, "freeze_overridden", env.name, ctx, details={
        "window": window.name, "until": until.isoformat(), "reason": reason})


def record_traffic_shifted(
    ledger: Ledger, ctx: RunContext, env: Environment, version: str, weight: int
) -> Event:
    """``traffic_shifted``: a gradual rollout moved ``weight`` % onto the release."""
    return ledger.record(version, "traffic_shifted", env.name, ctx, details={
        "weight": weight, "strategy": env.rollout.strategy, "alias": env.alias})


def record_deployed(
    ledger: Ledger, ctx: RunContext, env: Environment, delivery: RolloutResult
) -> Event:
    """``deployed``: every function of ``env`` serves the release (with the rollout's steps
    when it was gradual)."""
    result = delivery.deploy
    details: dict[str, Any] = {"alias": env.alias, "functions": result.functions()}
    if env.rollout.gradual:
        details["rollout"] = delivery.details()
    return ledger.record(result.version, "deployed", env.name, ctx, commit=result.commit,
                         details=details)


def record_rollback(
    ledger: Ledger, ctx: RunContext, env: Environment, current: str, target: str,
    *, reason: str, result: RollbackResult,
) -> None:
    """An emergency rollback: ``current`` is ``rolled_back`` and ``withdrawn`` (it dies
    there), ``target`` is ``deployed`` again, each flagged as an emergency with the reason."""
    why = {"emergency": True, "reason": reason, "alias": env.alias}
    rows = result.deploy.functions()
    ledger.record(current, "rolled_back", env.name, ctx, details={**why, "to": target,
                                                                   "restored": rows})
    ledger.record(current, "withdrawn", env.name, ctx, details={**why, "to": target})
    ledger.record(target, "deployed", env.name, ctx, commit=result.deploy.commit, details={
        **why, "rollback_from": current, "functions": rows,
        "republished": result.republished})


def record_synced(
    ledger: Ledger, ctx: RunContext, mirror: Environment, result: DeployResult,
    details: dict[str, Any],
) -> Event:
    """``dr_synced``: the mirror serves the release from its own bucket (Globally Synced)."""
    return ledger.record(result.version, "dr_synced", mirror.name, ctx, commit=result.commit,
                         details={**details, "functions": result.functions()})
