"""``vault deploy`` and action-deploy: promote the exact vault bytes to one environment."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.deliver.lambdas import DEFAULT_PARALLEL
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.deliver.rollout import RolloutResult


@dataclass(frozen=True)
class DeployInputs:
    """action-deploy's inputs."""

    environment: str = ""
    version: str = ""
    config: str = config.DEFAULT_CONFIG
    parallel: int = field(default=DEFAULT_PARALLEL, metadata={"minimum": 1})
    override_freeze: bool = False
    reason: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--version``, the pool size and the freeze override."""
    parser.add_argument("--env", required=True, metavar="ENV", help="environment to deploy to")
    parser.add_argument(
        "--version", dest="release_version", required=True, metavar="X.Y.Z",
        help="the release to deploy (1.2.3 or v1.2.3)",
    )
    parser.add_argument(
        "--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
        help=f"services deployed at the same time (default: {DEFAULT_PARALLEL})",
    )
    parser.add_argument(
        "--override-freeze", action="store_true",
        help="break the glass: deploy inside a freeze window (needs --reason; recorded)",
    )
    parser.add_argument("--reason", default="", metavar="TEXT",
                        help="why the freeze is overridden (recorded in the ledger)")
    parser.add_argument(
        "--plan", action="store_true",
        help="only say what would change in each function and whether (and why) the deploy "
             "would be refused; writes nothing (exit 0: it would proceed, 3: refused)",
    )


def run(args: argparse.Namespace) -> Result:
    """Deploy; DeployError (exit 5) when a service failed and the others were restored,
    Cancelled (exit 130/143) on SIGINT/SIGTERM after restoring."""
    from vault_actions.deliver import release

    if args.plan:
        return plan(args.config, args.release_version, args.env, args.parallel,
                    override_reason=_override(args.override_freeze, args.reason))
    with context.cancellation().watch():  # a signal: restore, record, report, then exit
        result = deploy(args.config, args.release_version, args.env, args.parallel,
                        override_reason=_override(args.override_freeze, args.reason))
        release.check_delivery(result)
    return Result(_json(result), release.text(result))


def run_action() -> Result:
    """action-deploy: inputs from INPUT_*, outputs ``functions`` and ``version``, a summary."""
    from vault_actions.deliver import release

    inputs = gha.read_inputs(DeployInputs)
    with context.cancellation().watch():  # a signal: restore, record, report, exit
        override = _override(inputs.override_freeze, inputs.reason)
        result = deploy(inputs.config, inputs.version, inputs.environment, inputs.parallel,
                        override_reason=override)
        gha.set_output("version", result.deploy.version)
        gha.set_output("functions", json.dumps(result.deploy.functions(), separators=(",", ":")))
        gha.set_output("rollout", json.dumps(result.details(), separators=(",", ":")))
        gha.add_summary(release.summary(result.deploy, result))
        if result.ok:
            metrics_summary(inputs.config, inputs.environment)
        release.check_delivery(result)
    return Result(_json(result), release.text(result))


def _override(override_freeze: bool, reason: str) -> str | None:
    """The break-glass reason, or None; ConfigError when one comes without the other."""
    reason = reason.strip()
    if override_freeze and not reason:
        raise ConfigError(
            "overriding a freeze needs a reason",
            "pass --reason TEXT (action input 'reason'): it is recorded in the ledger",
        )
    if reason and not override_freeze:
        raise ConfigError(
            f"a reason ({reason!r}) was given without --override-freeze",
            "add --override-freeze (action input override-freeze: 'true') or drop the reason",
        )
    return reason or None


def _json(result: RolloutResult) -> dict[str, Any]:
    return {**result.deploy.to_json(), "rollout": result.details()}


METRICS_DAYS = 90  # the window of the delivery metrics in the last environment's summary


def metrics_summary(config_path: str, env_name: str) -> None:
    """In the last environment's job (PROD), the delivery metrics of the last 90 days."""
    from datetime import UTC, datetime

    from vault_actions.cli.commands import open_ledger
    from vault_actions.report.audit import audit, final_environment
    from vault_actions.report.metrics import within

    cfg = config.load(config_path)
    if env_name != final_environment(cfg):
        return
    now = datetime.now(UTC)
    found = audit(cfg, open_ledger(cfg).events(), environment=env_name,
                  period=within(now, METRICS_DAYS), now=now, repo=cfg.root)
    gha.add_summary(found.metrics.markdown())


def plan(
    config_path: str, version_text: str, env_name: str, parallel: int,
    *, override_reason: str | None = None,
) -> Result:
    """``vault deploy --plan``: parse, build the clients, run ``deliver.plan.plan``."""
    from vault_actions.deliver import plan as deliver_plan
    from vault_actions.errors import ExitCode
    from vault_actions.integrations import aws
    from vault_actions.store.manifest import validate_version

    cfg = config.load(config_path)
    found = deliver_plan.plan(cfg, cfg.environment(env_name), validate_version(version_text),
                              clients=aws.client, parallel=parallel,
                              override_reason=override_reason)
    code = ExitCode.OK if found.proceeds else ExitCode.REFUSED
    return Result(found.to_json(), found.text(), code)


def deploy(
    config_path: str, version_text: str, env_name: str, parallel: int,
    *, override_reason: str | None = None,
) -> RolloutResult:
    """Parse, build the clients, run ``deliver.release.deploy``."""
    from vault_actions.deliver import release
    from vault_actions.integrations import aws
    from vault_actions.store.manifest import validate_version

    if not env_name:
        raise ConfigError("no environment given", "pass --env ENV (action input 'environment')")
    if not version_text:
        raise ConfigError("no version given", "pass --version X.Y.Z (action input 'version')")
    cfg = config.load(config_path)
    version = validate_version(version_text)
    env = cfg.environment(env_name)
    return release.deploy(
        cfg, env, version, clients=aws.client, token=os.environ.get("GITHUB_TOKEN", ""),
        ctx=context.RunContext.from_env(), parallel=parallel, override_reason=override_reason,
        cancel=context.cancellation(), runner=gha,
    )
