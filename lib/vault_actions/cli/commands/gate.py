"""``vault approve`` / ``vault reject``: record a gate decision in the ledger."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError


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
        approve=inputs.decision == "approve", raw_reason=inputs.reason, gated_only=True,
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
    gated_only: bool = False,
) -> Result:
    """Parse, build the clients, run ``promotion.gates.decide``, render (``gated_only``:
    the gate workflow, which decides for the gated environments of vault.yml only)."""
    from vault_actions.integrations import aws
    from vault_actions.promotion import gates
    from vault_actions.store.ledger import Ledger
    from vault_actions.store.manifest import validate_version
    from vault_actions.store.vault import Vault

    cfg = config.load(config_path)
    env = cfg.environment(env_name)
    if gated_only:
        gates.check_gated(cfg, env, "the gate workflow decides only where vault.yml has a gate")
    version = validate_version(raw_version)
    ctx = context.RunContext.from_env()
    s3 = aws.client("s3", cfg.vault.region)
    event = gates.decide(
        cfg, env, version, approve=approve, reason=raw_reason,
        vault=Vault(s3, cfg.vault.bucket, cfg.vault.region),
        ledger=Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix), ctx=ctx,
    )
    by, reason = event.details["by"], event.details.get("reason")
    verb = "approved for" if approve else "rejected in"
    text = f"v{version} {verb} {env.name} by {by}"
    if not approve:
        text += f": v{version} is dead ({reason}); release a new version"
    return Result(event.to_json(), text)
