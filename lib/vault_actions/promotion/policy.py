"""The promotion policy: who may go where, decided from a version's journey."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault_actions.errors import PromotionRefused
from vault_actions.promotion.journey import Journey
from vault_actions.store.ledger import GITHUB_GATE, NEW_VERSION_HINT, Event

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment


def may_approve(env: Environment, name: str) -> bool:
    """True when ``name`` is one of the gate's approvers (a teams-only gate has none:
    only GitHub's environment gate, which checks team membership, can approve it)."""
    approvers = env.gate.approvers if env.gate else ()
    return name.casefold() in {a.casefold() for a in approvers}


def approval_counts(env: Environment, approval: Event) -> bool:
    """An approval counts if its author is an approver, or if GitHub's environment gate
    (whose required reviewers include the gate's teams) approved it: GitHub checked the
    team membership that the ledger cannot see."""
    by_team = bool(env.gate and env.gate.teams) and approval.details.get("source") == GITHUB_GATE
    return by_team or may_approve(env, approval.who)


def check_alive(journey: Journey) -> None:
    """PromotionRefused naming where, when and by whom the version died."""
    death = journey.death
    if death is not None:
        raise PromotionRefused(
            f"v{journey.version} is dead: {death.describe()}; "
            "versions never come back — release a new version",
            NEW_VERSION_HINT,
        )


def check_previous(cfg: Config, journey: Journey, env: Environment) -> None:
    """PromotionRefused unless the version passed the environment before ``env``.

    That is the previous environment in the promotion order, or the one a mirror
    mirrors. An environment without smoke checks or command counts as passed once deployed.
    """
    previous = cfg.previous(env)
    if previous is None:
        return
    version, name = journey.version, previous.name
    standing = journey.standing(name)
    if standing is not None and (not previous.smoke_tested or journey.passed(name)):
        return
    deployed = journey.last("deployed", name)
    if deployed is None:
        problem = f"has never been deployed to {name}"
    elif standing is None:
        rolled = journey.last("rolled_back", name)
        problem = f"was rolled back in {name} ({rolled.describe() if rolled else 'unknown'})"
    else:
        problem = f"was deployed to {name} at {deployed.when} but has not passed its smoke test"
    raise PromotionRefused(
        f"v{version} {problem}; {env.name} only takes versions that passed {name}",
        f"deploy v{version} to {name} and let its smoke test pass first "
        "(there is no way to skip an environment)",
    )


def check_approval(journey: Journey, env: Environment) -> None:
    """PromotionRefused when ``env`` is gated and no approver approved the version."""
    if not env.gated:
        return
    approvals = [e for e in journey.in_environment(env.name) if e.event == "approved"]
    if any(approval_counts(env, e) for e in approvals):
        return
    version = journey.version
    approvers = ", ".join(env.gate.approvers) if env.gate and env.gate.approvers else ""
    how = f"vault approve --env {env.name} --version {version} --by NAME"
    if approvals:
        names = ", ".join(sorted({e.who for e in approvals}))
        raise PromotionRefused(
            f"v{version} was approved for {env.name} only by {names}, "
            f"who may not approve it (approvers: {approvers})",
            f"ask one of {approvers} to approve: {how}",
        )
    who = f"one of {approvers}" if approvers else "an approver"
    raise PromotionRefused(
        f"v{version} has not been approved for {env.name}, which is gated",
        f"{who} approves the {env.name} deployment in GitHub, or runs: {how}",
    )


def check_promotion(cfg: Config, journey: Journey, env: Environment) -> None:
    """The promotion policy: alive, passed the previous environment, approved if gated.

    The first environment needs no ``built`` event: the deploy requires the manifest,
    which is the proof of a complete build (releases built before the ledger still deploy).
    """
    check_alive(journey)
    check_previous(cfg, journey, env)
    check_approval(journey, env)


def check_can_approve(cfg: Config, journey: Journey, env: Environment, by: str) -> None:
    """PromotionRefused unless ``by`` may approve this version for ``env`` now."""
    if not env.gated:
        gated = ", ".join(e.name for e in cfg.environments if e.gated) or "none"
        raise PromotionRefused(
            f"{env.name} has no gate: there is nothing to approve",
            f"approvals are for gated environments (gated: {gated}); "
            f"add gate: to {env.name} in vault.yml to require one",
        )
    check_alive(journey)
    check_previous(cfg, journey, env)
    if not may_approve(env, by):
        approvers = ", ".join(env.gate.approvers) if env.gate else ""
        if not approvers:
            raise PromotionRefused(
                f"{env.name}'s gate names no approvers, only teams: only GitHub's "
                "environment gate (which checks team membership) can approve it",
                f"approve the {env.name} deployment in GitHub, or list people in "
                f"gate.approvers of {env.name} in vault.yml",
            )
        raise PromotionRefused(
            f"{by!r} may not approve releases for {env.name}; its approvers are {approvers}",
            f"ask one of them, or add {by} to the gate.approvers of {env.name} in vault.yml",
        )


def check_can_reject(journey: Journey) -> None:
    """PromotionRefused when the version is already dead (it can die only once)."""
    death = journey.death
    if death is not None:
        raise PromotionRefused(
            f"v{journey.version} is already dead: {death.describe()}",
            "nothing to reject; a dead version never deploys again",
        )
