"""``vault approve`` / ``vault reject``: record a gate decision in the ledger."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError, PromotionRefused, VaultError
from vault_actions.integrations import aws

if TYPE_CHECKING:
    from vault_actions.store.attestation import Attestor


@dataclass(frozen=True)
class GateInputs:
    """action-gate's inputs; who decided is always the workflow's actor, never an input."""

    environment: str = ""
    version: str = ""
    decision: str = ""
    reason: str = ""
    config: str = config.DEFAULT_CONFIG


def configure(parser: argparse.ArgumentParser) -> None:
    """The environment, the version, who decided and why."""
    parser.add_argument("--env", required=True, metavar="ENV", help="the environment (gate)")
    parser.add_argument(
        "--version", required=True, metavar="X.Y.Z", help="the release: 1.2.3 or v1.2.3"
    )
    parser.add_argument("--by", help=argparse.SUPPRESS)  # refused: see BY_REFUSED
    parser.add_argument(
        "--reason", metavar="TEXT", help="why (required by reject, optional for approve)"
    )


def run(args: argparse.Namespace) -> Result:
    """``vault approve`` / ``vault reject``."""
    if args.by is not None:
        raise ConfigError(
            f"--by {args.by!r} is not accepted: the ledger records who decided from proof, "
            "not from a name typed on the command line",
            "in GitHub the decision is the gate workflow's actor; on a terminal it is your AWS "
            "identity (sts get-caller-identity), which counts only where vault.yml's "
            "ledger.allow-local lists the decision (break-glass)",
        )
    return decide(
        args.config, args.env, args.version,
        approve=args.command == "approve", raw_reason=args.reason,
    )


def run_action() -> Result:
    """action-gate: the workflow_dispatch fallback; the decision is the actor's."""
    inputs = gha.read_inputs(GateInputs)
    triggering = os.environ.get("GITHUB_TRIGGERING_ACTOR", "")
    if triggering and triggering != os.environ.get("GITHUB_ACTOR"):
        raise ConfigError(
            f"this is a re-run by {triggering} of {os.environ.get('GITHUB_ACTOR')}'s decision",
            "a gate decision is its author's: start the gate workflow anew instead of "
            "re-running someone else's",
        )
    if inputs.decision not in ("approve", "reject"):
        raise ConfigError(
            f"input 'decision' is {inputs.decision!r}", "set it to 'approve' or 'reject'"
        )
    result = decide(
        inputs.config, inputs.environment, inputs.version,
        approve=inputs.decision == "approve", raw_reason=inputs.reason,
    )
    gha.set_output("event", result.data["event"])
    gha.add_summary(f"### 🛑 Gate decision\n\n{result.text}")
    return result


def decide(
    config_path: str,
    env_name: str,
    raw_version: str,
    *,
    approve: bool,
    raw_reason: str | None,
) -> Result:
    """Check the policy, then append ``approved`` or ``rejected`` to the ledger."""
    from vault_actions.promotion import authority, policy
    from vault_actions.store import attestation, ledger
    from vault_actions.store.manifest import manifest_key, validate_version
    from vault_actions.store.vault import Vault

    cfg = config.load(config_path)
    env = cfg.environment(env_name)
    version = validate_version(raw_version)
    ctx = context.RunContext.from_env()
    reason = (raw_reason or "").strip() or None
    if not approve and reason is None:
        raise ConfigError(
            "vault reject needs --reason",
            "say why the release dies, e.g. --reason 'totals are wrong in the basket'",
        )
    s3 = aws.client("s3", cfg.vault.region)
    vault = Vault(s3, cfg.vault.bucket, cfg.vault.region)
    if vault.find(manifest_key(version)) is None:
        raise VaultError(
            f"v{version} is not in the vault: {vault.uri(manifest_key(version))} does not exist",
            "check the version (`vault status` lists the releases)",
        )
    book = ledger.Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    decision = "approved" if approve else "rejected"
    by = attestation.author(book.attestor, ctx.actor)
    _check_counts(cfg, book.attestor, decision, by)
    journey = authority.journey_of(cfg, book, version)
    if approve:
        policy.check_can_approve(cfg, journey, env, by)
    else:
        policy.check_can_reject(journey)
    details = {"by": by, **({"reason": reason} if reason else {})}
    event = book.record(version, decision, env.name, ctx, details=details, writer=config.GATE_JOB)
    verb = "approved for" if approve else "rejected in"
    text = f"v{version} {verb} {env.name} by {by}"
    if not approve:
        text += f": v{version} is dead ({reason}); release a new version"
    return Result(event.to_json(), text)


def _check_counts(cfg: config.Config, attestor: Attestor, decision: str, by: str) -> None:
    """PromotionRefused when a decision made outside Actions would not count."""
    from vault_actions.store.attestation import LocalAttestor

    if isinstance(attestor, LocalAttestor) and decision not in cfg.ledger.allow_local:
        raise PromotionRefused(
            f"{by} ({attestor.identity}) decides outside GitHub Actions, and vault.yml allows "
            f"no local {decision} decision: it would not count",
            "approve or reject in GitHub (the environment's reviewers, or the gate workflow); "
            f"break-glass: list {decision} in ledger.allow-local of vault.yml",
        )
