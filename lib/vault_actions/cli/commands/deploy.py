"""``vault deploy`` and action-deploy: promote the exact vault bytes to one environment."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import (
    Cancelled,
    ConfigError,
    DeployError,
    GitHubError,
    VaultActionsError,
    VaultError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from github import Github

    from vault_actions.config import Config, Environment
    from vault_actions.deliver.lambdas import DeployResult
    from vault_actions.deliver.rollout import RolloutResult
    from vault_actions.integrations.github import Deployment, DeploymentState
    from vault_actions.promotion.journey import Journey
    from vault_actions.store.ledger import Ledger

from vault_actions.deliver.lambdas import DEFAULT_PARALLEL
from vault_actions.text import markdown_cell, plural

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployInputs:
    """action-deploy's inputs."""

    environment: str = ""
    version: str = ""
    config: str = config.DEFAULT_CONFIG
    parallel: str = str(DEFAULT_PARALLEL)
    override_freeze: bool = False
    reason: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--version`` and the pool size."""
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


def run(args: argparse.Namespace) -> Result:
    """Deploy; DeployError (exit 5) when a service failed and the others were restored,
    Cancelled (exit 130/143) on SIGINT/SIGTERM after restoring."""
    with context.cancellation().watch():  # a signal: restore, record, report, then exit
        result = deploy(args.config, args.release_version, args.env, args.parallel,
                        override_reason=_override(args.override_freeze, args.reason))
        check_delivery(result)
    return Result(_json(result), _text(result))


def run_action() -> Result:
    """action-deploy: inputs from INPUT_*, outputs ``functions`` and ``version``, a summary."""
    inputs = gha.read_inputs(DeployInputs)
    with context.cancellation().watch():  # a signal: restore, record, report, exit
        override = _override(inputs.override_freeze, inputs.reason)
        result = deploy(inputs.config, inputs.version, inputs.environment,
                        _pool_size(inputs.parallel), override_reason=override)
        gha.set_output("version", result.deploy.version)
        gha.set_output("functions", json.dumps(result.deploy.functions(), separators=(",", ":")))
        gha.set_output("rollout", json.dumps(result.details(), separators=(",", ":")))
        gha.add_summary(summary(result.deploy, result))
        if result.ok:
            metrics_summary(inputs.config, inputs.environment)
        check_delivery(result)
    return Result(_json(result), _text(result))


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
    """In the last environment's job (PROD), the delivery metrics of the last 90 days:
    the events of the versions with one in those days (newest first), not the whole ledger."""
    from datetime import UTC, datetime

    from vault_actions.cli.commands import open_ledger
    from vault_actions.promotion.live import Reader
    from vault_actions.report.audit import audit, final_environment
    from vault_actions.report.metrics import within

    cfg = config.load(config_path)
    if env_name != final_environment(cfg):
        return
    now = datetime.now(UTC)
    period = within(now, METRICS_DAYS)
    shown = Reader(cfg, open_ledger(cfg)).recent(None, period.since)
    events = [e for j in shown.overview.journeys.values() for e in j.events]
    found = audit(cfg, events, environment=env_name, period=period, now=now, repo=cfg.root)
    gha.add_summary(found.metrics.markdown())


def _pool_size(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"input 'parallel' is {raw!r}",
            f"use a whole number of 1 or more (default: {DEFAULT_PARALLEL})",
        )
    return int(raw)


def deploy(
    config_path: str, version_text: str, env_name: str, parallel: int,
    *, override_reason: str | None = None,
) -> RolloutResult:
    """Gate review → promotion policy → freeze → GitHub deployment → Lambda (at once, or
    step by step watched by alarms) → ledger → status.

    Returns the result even when a service failed (the others are restored then);
    raises when the promotion is refused or a check fails before anything changed.
    """
    from vault_actions.integrations import aws
    from vault_actions.promotion import authority
    from vault_actions.promotion.live import Reader
    from vault_actions.promotion.policy import check_forward, check_freeze
    from vault_actions.store.ledger import Ledger
    from vault_actions.store.manifest import validate_version

    if not env_name:
        raise ConfigError("no environment given", "pass --env ENV (action input 'environment')")
    if not version_text:
        raise ConfigError("no version given", "pass --version X.Y.Z (action input 'version')")
    cfg = config.load(config_path)
    version = validate_version(version_text)
    env = cfg.environment(env_name)
    if env.mirror_of is not None:
        raise ConfigError(
            f"{env.name} mirrors {env.mirror_of}: it only ever runs the version live there",
            f"use `vault dr-sync --env {env.name}` (action-dr-sync)",
        )
    ctx = context.RunContext.from_env()
    s3 = aws.client("s3", cfg.vault.region)
    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    env_s3 = s3 if env.region == cfg.vault.region else aws.client("s3", env.region)
    _preflight(cfg, env_s3, ledger, env, version)
    tracker = Tracker(github_client(ctx, env), ctx, env)
    if env.gated and context.in_actions() and ctx.run_id:
        tracker.record_review(cfg, ledger, version)
    journey = authority.check_promotion(cfg, authority.read(cfg, ledger, version), env, version)
    check_forward(journey, env, Reader(cfg, ledger).newer_live(env.name, version))
    frozen = check_freeze(env, override_reason=override_reason)
    tracker.start(version, production=production(cfg, env))
    if frozen is not None:
        window, until = frozen
        ledger.record(version, "freeze_overridden", env.name, ctx, details={
            "window": window.name, "until": until.isoformat(), "reason": override_reason})

    def on_step(weight: int) -> None:
        if weight < 100:
            ledger.record(version, "traffic_shifted", env.name, ctx, details={
                "weight": weight, "strategy": env.rollout.strategy, "alias": env.alias})
            tracker.progress(f"v{version} at {weight}% in {env.name} ({env.rollout.describe()})")

    try:
        delivery = _deploy_lambdas(env_s3, cfg, env, version, parallel=parallel, on_step=on_step)
    except Exception as exc:
        message = exc.message if isinstance(exc, VaultActionsError) else repr(exc)
        recorded = record_safely(lambda: ledger.record(
            version, "deploy_failed", env.name, ctx, details={"error": message, "changed": False}
        ))
        tracker.finish("failure", f"refused: {message}")
        if recorded is not None:
            log.error("the ledger did not record this refusal: %s", recorded)
        raise
    unrecorded = record_safely(lambda: _record_outcome(ledger, ctx, journey, env, delivery))
    if unrecorded is not None:
        delivery = dataclasses.replace(
            delivery, deploy=dataclasses.replace(delivery.deploy, unrecorded=unrecorded))
    tracker.finish("success" if delivery.ok else "failure", _headline(delivery))
    if delivery.ok and env.name == cfg.promotion_order[-1].name and context.in_actions():
        _promote_release(tracker, version)
    return delivery


def _promote_release(tracker: Tracker, version: str) -> None:
    """Mark the GitHub Release a full release; the deploy is done, so a failure only warns."""
    from vault_actions.integrations import github

    if tracker.gh is None or tracker.ctx.repository is None:
        return
    try:
        github.promote_release(tracker.gh, tracker.ctx.repository, f"v{version}")
    except GitHubError as exc:
        gha.warning(f"{exc}\n(v{version} is live; its GitHub Release stays a pre-release)",
                    title=exc.title)


def _preflight(cfg: Config, s3: Any, ledger: Ledger, env: Environment, version: str) -> None:
    """Refuse, before anything is recorded, a release that does not exist, was touched,
    or is not the one its build pinned (``deliver.preflight``)."""
    from vault_actions.deliver.preflight import pinned_release
    from vault_actions.store.vault import Vault

    pinned_release(Vault(s3, env.bucket, env.region), version,
                   ledger.written_by(version, config.BUILD_JOB), protected=cfg.vault.protected)


def _deploy_lambdas(
    s3: Any, cfg: Config, env: Environment, version: str,
    *, parallel: int, on_step: Callable[[int], None],
) -> RolloutResult:
    from vault_actions.deliver import rollout
    from vault_actions.integrations import aws
    from vault_actions.store.vault import Vault

    return rollout.deliver(
        aws.client("lambda", env.region), aws.client("cloudwatch", env.region),
        Vault(s3, env.bucket, env.region), env, version,
        root=cfg.root, parallel=parallel, on_step=on_step,
        cancel=context.cancellation(),
    )


def record_safely(write: Callable[[], object]) -> str | None:
    """Run a ledger write; None when it worked, else why it failed (never raised: the
    deploy's state must still be reported)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from vault_actions.integrations import aws

    try:
        write()
    except ClientError as exc:
        return aws.describe(exc)
    except (BotoCoreError, VaultActionsError) as exc:
        return str(exc)
    return None


def github_client(ctx: context.RunContext, env: Environment) -> Github | None:
    """A Github client when a token and repository are known (else None)."""
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token or not ctx.repository:
        if env.gated and context.in_actions():
            raise GitHubError(
                f"no GitHub token: the approval of the {env.name!r} gate cannot be read",
                "pass github-token to action-deploy (default: the job's GITHUB_TOKEN) with "
                "`permissions: {actions: read, deployments: write}`",
            )
        return None
    from vault_actions.integrations import github

    return github.connect(token, ctx.api_url)


def production(cfg: Config, env: Environment) -> bool:
    """True for the last environment of the promotion order and its mirrors."""
    return cfg.promotion_order[-1].name in (env.name, env.mirror_of)


@dataclass
class Tracker:
    """The GitHub side of one deploy: the gate review, a Deployment and its statuses.

    Without a Github client (no token or repository) every method does nothing. The
    Deployment is required for gated environments unless ``best_effort`` (DR sync).
    """

    gh: Github | None
    ctx: context.RunContext
    env: Environment
    best_effort: bool = False
    deployment: Deployment | None = None

    def record_review(self, cfg: Config, ledger: Ledger, version: str) -> None:
        """Record the decision on this run's gate in the ledger (once per run and person;
        only an event that counts is taken as already recorded)."""
        from vault_actions.integrations import github
        from vault_actions.promotion import authority

        ctx, env = self.ctx, self.env
        if self.gh is None or ctx.repository is None or ctx.run_id is None:
            return
        try:
            review = github.gate_review(self.gh, ctx.repository, ctx.run_id, env.name)
        except GitHubError as exc:
            raise GitHubError(
                f"{exc.message}; no deploy to gated environment {env.name!r} without a "
                "recorded approval",
                f"{exc.hint}; or let an approver run the gate workflow (vault-gate.yml) "
                f"for {env.name} v{version}",
            ) from None
        if review is None:
            return
        from vault_actions.store.ledger import GITHUB_GATE

        recorded = any(
            e.event == review.state and e.environment == env.name and e.who == review.login
            and e.details.get("run_id") == ctx.run_id
            for e in authority.journey_of(cfg, ledger, version).events
        )
        if recorded:
            return
        details = {"by": review.login, "run_id": ctx.run_id, "source": GITHUB_GATE}
        if review.comment:
            details["reason"] = review.comment
        ledger.record(version, review.state, env.name, ctx, details=details)

    def start(self, version: str, *, production: bool) -> None:
        """A Deployment in progress: required for gated environments, best effort else."""
        from vault_actions.integrations import github

        if self.gh is None or self.ctx.repository is None:
            return
        try:
            self.deployment = github.start_deployment(
                self.gh, self.ctx.repository, tag=f"v{version}", environment=self.env.name,
                version=version, production=production, log_url=self.ctx.run_url,
            )
        except GitHubError as exc:
            if self.env.gated and not self.best_effort:
                raise
            gha.warning(f"{exc}\n(deploying without a GitHub deployment)", title=exc.title)

    def progress(self, description: str) -> None:
        """An in-progress status (a rollout step); a failure only warns."""
        from vault_actions.integrations import github

        if self.gh is None or self.deployment is None:
            return
        try:
            github.set_status(self.gh, self.deployment, "in_progress", log_url=self.ctx.run_url,
                              description=description)
        except GitHubError as exc:
            gha.warning(str(exc), title=exc.title)

    def finish(self, state: DeploymentState, description: str) -> None:
        """Post the final status; the Lambdas already changed, so a failure only warns."""
        from vault_actions.integrations import github

        if self.gh is None or self.deployment is None:
            return
        smoke = self.env.smoke
        url = smoke.base_url if smoke and state == "success" else None
        try:
            github.set_status(self.gh, self.deployment, state, log_url=self.ctx.run_url,
                              description=description, environment_url=url)
        except GitHubError as exc:
            gha.warning(str(exc), title=exc.title)


def _record_outcome(
    ledger: Ledger, ctx: context.RunContext, journey: Journey, env: Environment,
    delivery: RolloutResult,
) -> None:
    """``deployed`` (unless a rerun changed nothing); a tripped rollout's ``smoke_failed``
    (the version dies there, with the alarm and the weight) and ``rolled_back``; or a failed
    deploy's ``deploy_failed`` + ``rolled_back``."""
    result = delivery.deploy
    trip = delivery.trip
    if trip is not None:
        details = {**trip.details(), "rollout": delivery.details(),
                   "reason": delivery.headline(env.name)}
        ledger.record(result.version, "smoke_failed", env.name, ctx, commit=result.commit,
                      details=details)
        ledger.record(result.version, "rolled_back", env.name, ctx, commit=result.commit,
                      details={**trip.details(), "alias": env.alias,
                               "restored": [s.row() for s in result.having("restored")]})
    elif not result.ok:
        result.record_failure(ledger, ctx, env)
    elif not (result.unchanged and journey.standing(env.name) is not None):
        deployed: dict[str, Any] = {"alias": env.alias, "functions": result.functions()}
        if env.rollout.gradual:
            deployed["rollout"] = delivery.details()
        ledger.record(result.version, "deployed", env.name, ctx, commit=result.commit,
                      details=deployed)


def _headline(delivery: RolloutResult) -> str:
    result = delivery.deploy
    if delivery.trip is not None:
        return f"v{result.version} {delivery.headline(result.environment)}; previous release " \
               "restored"
    if result.ok:
        how = f" ({delivery.headline(result.environment)})" if delivery.strategy != "all-at-once" \
            else ""
        return f"v{result.version} live in {result.environment}{how}"
    return f"v{result.version} {failure_headline(result)}"


def failure_headline(result: DeployResult) -> str:
    """``failed in qa (a, b); previous release restored`` — or what was NOT restored."""
    stuck = ", ".join(s.function for s in result.having("restore_failed"))
    restored = f"NOT restored: {stuck}" if stuck else "previous release restored"
    if result.cancelled:
        return f"cancelled in {result.environment} ({result.cancelled}); {restored}"
    failed = ", ".join(s.service for s in result.having("failed", "restore_failed"))
    return f"failed in {result.environment} ({failed}); {restored}"


def check_delivery(delivery: RolloutResult) -> None:
    """DeployError saying where a rollout died, or what failed (``check_result``)."""
    from vault_actions.deliver.rollout import check_rollout

    try:
        check_rollout(delivery)
    except DeployError as exc:
        trip = delivery.trip
        if trip is not None and trip.kind == "interrupted" and trip.name.startswith("SIG"):
            raise Cancelled(exc.message, exc.hint, signal=trip.name) from None
        raise
    check_result(delivery.deploy)


def check_result(result: DeployResult) -> None:
    """An error naming what failed, what was restored and what must be fixed by hand
    (with the command for each); Cancelled (exit 130/143) when a signal stopped it."""
    if result.ok and result.unrecorded is None:
        return
    if result.ok:
        raise VaultError(
            f"v{result.version} is live in {result.environment}, but the ledger did not "
            f"record it: {result.unrecorded}",
            "rerun the deploy once the vault is reachable: the functions already serve "
            f"v{result.version}, and the rerun records `deployed`",
        )
    restored = ", ".join(
        f"{s.function}:{s.alias} → {s.function_version or '(alias removed)'}"
        for s in result.having("restored")
    )
    stuck = result.having("restore_failed")
    if result.cancelled:
        message = f"v{result.version}: the deploy to {result.environment} was cancelled " \
                  f"({result.cancelled})"
    else:
        failed = "; ".join(
            f"{s.service} ({s.function}): {s.error}" for s in result.having("failed")
        )
        message = f"v{result.version} failed to deploy to {result.environment}: {failed}"
    if restored:
        message += f"; restored: {restored}"
    if stuck:
        message += "; NOT restored: " + "; ".join(f"{s.function}:{s.alias} ({s.error})"
                                                  for s in stuck)
    if result.unrecorded:
        message += f"; the ledger did not record this: {result.unrecorded}"
    if stuck:
        hint = ("the environment serves a mixed release: point those aliases back by hand:\n"
                + "\n".join(f"    {s.fix()}" for s in stuck))
    elif result.cancelled:
        hint = "the environment serves its previous release; rerun the deploy when ready"
    else:
        hint = ("the environment serves its previous release; fix the cause and rerun the "
                "deploy (functions already on this release are skipped)")
    if result.cancelled:
        raise Cancelled(message, hint, signal=result.cancelled)
    raise DeployError(message, hint)


def _text(delivery: RolloutResult) -> str:
    result = delivery.deploy
    rows = [
        (s.service, f"{s.function}:{s.alias} → {s.function_version or '-'}", s.status,
         s.code_sha256)
        for s in result.services
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"v{result.version} → {result.environment} (alias {result.alias}, "
             f"{delivery.headline(result.environment)}):"]
    lines += [
        f"  {service:<{widths[0]}}  {target:<{widths[1]}}  {status:<{widths[2]}}  "
        f"CodeSha256 {sha}"
        for service, target, status, sha in rows
    ]
    return "\n".join(lines)


def summary(result: DeployResult, delivery: RolloutResult | None = None) -> str:
    """The step-summary table: service, function, alias → version, CodeSha256, status;
    then the rollout's steps (and where it died) when it was gradual."""
    icon = "🚀" if result.ok else "⛔"
    title = f"Deploy cancelled ({result.cancelled})" if result.cancelled else "Deploy"
    rows = [
        f"| {s.service} | `{s.function}` | `{s.alias}` → {s.function_version or '—'} | "
        f"`{s.code_sha256}` | {s.status} |"
        for s in result.services
    ]
    return "\n".join(
        [
            f"### {icon} {title}: v{result.version} → {result.environment}",
            "",
            "| service | function | alias → version | CodeSha256 | status |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            *(_rollout_summary(delivery) if delivery and delivery.strategy != "all-at-once"
              else ()),
            *_by_hand(result),
        ]
    )


def _by_hand(result: DeployResult) -> list[str]:
    """What the summary must say besides the table: aliases NOT restored, with the
    command that fixes each, and a ledger that could not record the outcome."""
    lines = []
    stuck = result.having("restore_failed")
    if stuck:
        lines += ["", f"**NOT restored** — {plural(len(stuck), 'alias', 'aliases')} still "
                  f"serve v{result.version}; put each back by hand:", "", "```sh",
                  *(s.fix() for s in stuck), "```"]
    if result.unrecorded:
        lines += ["", "⚠️ The ledger did not record this deploy: "
                  + markdown_cell(result.unrecorded)]
    return lines


def _rollout_summary(delivery: RolloutResult) -> list[str]:
    from vault_actions.text import markdown_cell

    env = delivery.deploy.environment
    lines = ["", f"**Rollout ({delivery.strategy})**: "
             + markdown_cell(delivery.headline(env)), "",
             "| step | traffic on the new version | at |", "| --- | --- | --- |"]
    lines += [f"| {i} | {s.weight}% | +{s.after_seconds:.1f} s |"
              for i, s in enumerate(delivery.steps, 1)]
    if delivery.trip is not None:
        lines += ["", f"⛔ {markdown_cell(delivery.trip.describe())} at {delivery.trip.weight}%"
                  + (f": {markdown_cell(delivery.trip.reason)}" if delivery.trip.reason else "")
                  + f"; every alias restored in {delivery.restore_seconds or 0:.1f} s"]
    return lines
