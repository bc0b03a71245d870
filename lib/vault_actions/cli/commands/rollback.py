"""``vault rollback`` and action-rollback: an emergency change back to a version that passed.

The environment goes back to the last version that passed there before the live one (or
the one named with ``--to``, which must have passed there), from the vault's bytes: one
alias move per service. The version rolled away from dies there (``withdrawn``); who
did it and why is recorded, and the ledger, status and graveyard show an emergency change.
Freeze windows do not apply: a rollback is how a frozen environment is fixed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.deliver.lambdas import DEFAULT_PARALLEL
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.deliver.rollback import RollbackResult


@dataclass(frozen=True)
class RollbackInputs:
    """action-rollback's inputs."""

    environment: str = ""
    to: str = ""
    reason: str = ""
    config: str = config.DEFAULT_CONFIG


@dataclass(frozen=True)
class Rolled:
    """What the rollback did: from which version to which, and the Lambda result."""

    environment: str
    from_version: str
    to_version: str
    reason: str
    result: RollbackResult

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "environment": self.environment, "from": self.from_version, "to": self.to_version,
            "reason": self.reason, "republished": self.result.republished,
            "seconds": self.result.seconds, "functions": self.result.deploy.functions(),
        }

    def headline(self) -> str:
        """``prod back on v1.0.2 (emergency rollback from v1.0.3: checkout errors)``."""
        return (f"{self.environment} back on v{self.to_version} (emergency rollback from "
                f"v{self.from_version}: {self.reason})")


def configure(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--to`` and ``--reason``."""
    parser.add_argument("--env", required=True, metavar="ENV", help="environment to roll back")
    parser.add_argument("--to", metavar="X.Y.Z",
                        help="the version to go back to (default: the last one that passed "
                             "there before the live one)")
    parser.add_argument("--reason", required=True, metavar="TEXT",
                        help="why (recorded in the ledger with who ran it)")


def run(args: argparse.Namespace) -> Result:
    """Roll back; exit 5 when an alias could not be moved."""
    rolled = rollback(args.config, args.env, args.to, args.reason)
    return Result(rolled.to_json(), _text(rolled))


def run_action() -> Result:
    """action-rollback: inputs from INPUT_*, outputs ``from``/``to``/``functions``, a summary."""
    inputs = gha.read_inputs(RollbackInputs)
    rolled = rollback(inputs.config, inputs.environment, inputs.to or None, inputs.reason)
    gha.set_output("from", rolled.from_version)
    gha.set_output("to", rolled.to_version)
    gha.set_output("functions", json.dumps(rolled.result.deploy.functions(),
                                           separators=(",", ":")))
    gha.add_summary(summary(rolled))
    return Result(rolled.to_json(), _text(rolled))


def rollback(
    config_path: str, env_name: str, to: str | None, reason: str,
    *, parallel: int = DEFAULT_PARALLEL,
) -> Rolled:
    """Choose the version, move every alias, record, report to GitHub."""
    from vault_actions.cli.commands.deploy import Tracker, github_client, production
    from vault_actions.deliver.rollback import check_rolled_back, roll_back
    from vault_actions.integrations import aws
    from vault_actions.promotion.live import Reader
    from vault_actions.promotion.policy import rollback_target
    from vault_actions.store.manifest import validate_version
    from vault_actions.store.vault import Vault

    reason = (reason or "").strip()
    if not reason:
        raise ConfigError("a rollback needs a reason", "pass --reason TEXT (action input "
                          "'reason'): it is recorded in the ledger with who ran it")
    if not env_name:
        raise ConfigError("no environment given", "pass --env ENV (action input 'environment')")
    cfg = config.load(config_path)
    env = cfg.environment(env_name)
    if env.mirror_of is not None:
        raise ConfigError(f"{env.name} mirrors {env.mirror_of}: it follows what runs there",
                          f"roll back {env.mirror_of}, then `vault dr-sync --env {env.name}`")
    ledger = open_ledger(cfg)
    reader = Reader(cfg, ledger)  # only the events that hold; what stood there, from the index
    wanted = validate_version(to) if to else None
    journeys = reader.stood_in(env.name, [wanted] if wanted else [])
    current, target = rollback_target(journeys, reader.live_map([env.name]), env, wanted)
    ctx = context.RunContext.from_env()
    tracker = Tracker(github_client(ctx, env), ctx, env)
    tracker.start(target, production=production(cfg, env))
    s3 = aws.client("s3", env.region)
    result = roll_back(aws.client("lambda", env.region), Vault(s3, env.bucket, env.region), env,
                       target, journeys[target].standing(env.name))
    rolled = Rolled(env.name, current, target, reason, result)
    if not result.deploy.ok:
        tracker.finish("failure", f"rollback of {env.name} to v{target} failed")
        check_rolled_back(result)
    why = {"emergency": True, "reason": reason, "alias": env.alias}
    rows = result.deploy.functions()
    ledger.record(current, "rolled_back", env.name, ctx, details={**why, "to": target,
                                                                   "restored": rows})
    ledger.record(current, "withdrawn", env.name, ctx, details={**why, "to": target})
    ledger.record(target, "deployed", env.name, ctx, commit=result.deploy.commit, details={
        **why, "rollback_from": current, "functions": rows,
        "republished": result.republished})
    tracker.finish("success", rolled.headline())
    return rolled


def _text(rolled: Rolled) -> str:
    lines = [f"🚨 {rolled.headline()} in {rolled.result.seconds:.1f} s"
             + (" (re-published from the vault)" if rolled.result.republished else "")]
    lines += [f"  {s.service}: {s.function}:{s.alias} → {s.function_version} "
              f"CodeSha256 {s.code_sha256}" for s in rolled.result.deploy.services]
    return "\n".join(lines)


def summary(rolled: Rolled) -> str:
    """The step summary: the emergency change and one row per function."""
    from vault_actions.text import markdown_cell

    rows = [f"| {s.service} | `{s.function}` | `{s.alias}` → {s.function_version} | "
            f"`{s.code_sha256}` |" for s in rolled.result.deploy.services]
    return "\n".join([
        f"### 🚨 Emergency rollback: {markdown_cell(rolled.headline())}", "",
        f"v{rolled.from_version} is withdrawn from {rolled.environment}; "
        f"v{rolled.to_version}'s vault bytes serve again"
        + (" (re-published from the vault)." if rolled.result.republished else "."), "",
        "| service | function | alias → version | CodeSha256 |", "| --- | --- | --- | --- |",
        *rows,
    ])
