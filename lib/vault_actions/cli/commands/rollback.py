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
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.deliver.lambdas import DEFAULT_PARALLEL
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.deliver.release import Rolled


@dataclass(frozen=True)
class RollbackInputs:
    """action-rollback's inputs."""

    environment: str = ""
    to: str = ""
    reason: str = ""
    config: str = config.DEFAULT_CONFIG


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
    """Parse, build the clients, run ``deliver.release.rollback``."""
    from vault_actions.deliver import release
    from vault_actions.integrations import aws
    from vault_actions.store.manifest import validate_version

    reason = (reason or "").strip()
    if not reason:
        raise ConfigError("a rollback needs a reason", "pass --reason TEXT (action input "
                          "'reason'): it is recorded in the ledger with who ran it")
    if not env_name:
        raise ConfigError("no environment given", "pass --env ENV (action input 'environment')")
    cfg = config.load(config_path)
    return release.rollback(
        cfg, cfg.environment(env_name), validate_version(to) if to else None, reason,
        ledger=open_ledger(cfg), clients=aws.client, token=os.environ.get("GITHUB_TOKEN", ""),
        ctx=context.RunContext.from_env(), runner=gha,
    )


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
