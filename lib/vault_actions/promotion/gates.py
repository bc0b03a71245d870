"""The gate stage: who may approve or reject a release for a gated environment, and the
one place ``approved`` and ``rejected`` are written to the ledger.

A decision comes from ``vault approve`` / ``vault reject`` (and the gate workflow), from
GitHub's environment gate (read by the deploy) or from a run that ended at a rejected
gate (``report.conclude``); all of them record it through ``record_decision``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from vault_actions.config import GATE_JOB
from vault_actions.errors import ConfigError, GitHubError, PromotionRefused, VaultError
from vault_actions.promotion import authority
from vault_actions.promotion.journey import Journey
from vault_actions.promotion.policy import (
    check_alive,
    check_previous,
    independent,
    may_approve,
    not_independent,
)
from vault_actions.store import attestation
from vault_actions.store.ledger import GITHUB_GATE
from vault_actions.store.manifest import manifest_key

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment
    from vault_actions.context import RunContext
    from vault_actions.integrations.github.gates import Review
    from vault_actions.store.attestation import Attestor
    from vault_actions.store.ledger import Event, Ledger
    from vault_actions.store.vault import Vault

Decision = Literal["approved", "rejected"]


def record_decision(
    ledger: Ledger, ctx: RunContext, version: str, env: str, decision: Decision,
    *, details: dict[str, Any], writer: str | None = None,
) -> Event:
    """Append ``approved`` or ``rejected`` (``details``: by, reason, run_id, source) in
    ``writer``'s folder (default: the environment's job)."""
    return ledger.record(version, decision, env, ctx, details=details, writer=writer)


def decide(
    cfg: Config,
    env: Environment,
    version: str,
    *,
    approve: bool,
    reason: str | None,
    vault: Vault,
    ledger: Ledger,
    ctx: RunContext,
) -> Event:
    """``vault approve`` / ``vault reject``: check who (from proof, not a typed name) and
    what, then record the decision."""
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        raise ConfigError(
            "vault reject needs --reason",
            "say why the release dies, e.g. --reason 'totals are wrong in the basket'",
        )
    if vault.find(manifest_key(version)) is None:
        raise VaultError(
            f"v{version} is not in the vault: {vault.uri(manifest_key(version))} does not exist",
            "check the version (`vault status` lists the releases)",
        )
    decision: Decision = "approved" if approve else "rejected"
    by = attestation.author(ledger.attestor, ctx.actor)
    check_counts(cfg, ledger.attestor, decision, by)
    journey = authority.journey_of(cfg, ledger, version)
    if approve:
        check_can_approve(cfg, journey, env, by)
    else:
        check_can_reject(journey)
    details = {"by": by, **({"reason": reason} if reason else {})}
    return record_decision(ledger, ctx, version, env.name, decision, details=details,
                           writer=GATE_JOB)


def check_counts(cfg: Config, attestor: Attestor, decision: str, by: str) -> None:
    """PromotionRefused when a decision made outside Actions would not count."""
    if isinstance(attestor, attestation.LocalAttestor) and decision not in cfg.ledger.allow_local:
        raise PromotionRefused(
            f"{by} ({attestor.identity}) decides outside GitHub Actions, and vault.yml allows "
            f"no local {decision} decision: it would not count",
            "approve or reject in GitHub (the environment's reviewers, or the gate workflow); "
            f"break-glass: list {decision} in ledger.allow-local of vault.yml",
        )


def record_review(
    cfg: Config, ledger: Ledger, ctx: RunContext, env: Environment, version: str,
    *, review: Review | None,
) -> Event | None:
    """Record the decision of GitHub's gate in this run (once per run and person; only an
    event that counts is taken as already recorded)."""
    if review is None:
        return None
    recorded = any(
        e.event == review.state and e.environment == env.name and e.who == review.login
        and e.details.get("run_id") == ctx.run_id
        for e in authority.journey_of(cfg, ledger, version).events
    )
    if recorded:
        return None
    details = {"by": review.login, "run_id": ctx.run_id, "source": GITHUB_GATE}
    if review.comment:
        details["reason"] = review.comment
    return record_decision(ledger, ctx, version, env.name, review.state, details=details)


def gate_unreadable(exc: GitHubError, env: Environment, version: str) -> GitHubError:
    """The deploy's error when GitHub cannot say who decided on ``env``'s gate."""
    return GitHubError(
        f"{exc.message}; no deploy to gated environment {env.name!r} without a "
        "recorded approval",
        f"{exc.hint}; or let an approver run the gate workflow (vault-gate.yml) "
        f"for {env.name} v{version}",
    )


def check_gated(cfg: Config, env: Environment, what: str = "there is nothing to approve") -> None:
    """PromotionRefused naming the gated environments unless ``env`` is one of them."""
    if not env.gated:
        gated = ", ".join(e.name for e in cfg.environments if e.gated) or "none"
        raise PromotionRefused(
            f"{env.name} has no gate: {what}",
            f"gate decisions are for gated environments (gated: {gated}); "
            f"add gate: to {env.name} in vault.yml to require one",
        )


def check_can_approve(cfg: Config, journey: Journey, env: Environment, by: str) -> None:
    """PromotionRefused unless ``by`` may approve this version for ``env`` now."""
    check_gated(cfg, env)
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
    if not independent(env, journey, by):
        raise not_independent(env, journey, by, approved=False)


def check_can_reject(journey: Journey) -> None:
    """PromotionRefused when the version is already dead (it can die only once)."""
    death = journey.death
    if death is not None:
        raise PromotionRefused(
            f"v{journey.version} is already dead: {death.describe()}",
            "nothing to reject; a dead version never deploys again",
        )
