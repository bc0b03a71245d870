"""The release use case: deliver one version to one environment, or sync it to a mirror.

``deploy``: the build's pinned release → gate review → promotion policy (never a
downgrade) → freeze → GitHub deployment → Lambda (at
once, or step by step watched by alarms) → ledger → deployment status (and the GitHub
Release marked a full release once the last environment runs it); a cancellation
(SIGINT/SIGTERM) puts every alias back and is recorded. ``dr_sync`` reuses the same
GitHub side (``Tracker``) around ``deliver.dr``. Commands build the clients, call one of
them and render the result.

One piece (over 400 lines): deploy, dr-sync and rollback share the GitHub side
(``Tracker``) and the safe recording of outcomes; apart, each would copy them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions import context
from vault_actions.config import BUILD_JOB
from vault_actions.deliver import outcomes
from vault_actions.deliver.preflight import check_account, pinned_release
from vault_actions.errors import (
    Cancelled,
    ConfigError,
    DeployError,
    GitHubError,
    VaultActionsError,
    VaultError,
)
from vault_actions.promotion import authority, gates
from vault_actions.promotion.live import Reader
from vault_actions.promotion.policy import check_forward, check_freeze
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault
from vault_actions.text import markdown_cell, plural

if TYPE_CHECKING:
    from github import Github

    from vault_actions.config import Config, Environment
    from vault_actions.context import RunContext, Runner
    from vault_actions.deliver.dr import SyncResult
    from vault_actions.deliver.lambdas import DeployResult
    from vault_actions.deliver.rollback import RollbackResult
    from vault_actions.deliver.rollout import RolloutResult
    from vault_actions.integrations.github.deployments import Deployment, DeploymentState
    from vault_actions.promotion.journey import Journey

log = logging.getLogger(__name__)

# (service, region) -> a boto3 client: ``integrations.aws.client``, or the demo's.
Clients = Callable[[str, str], Any]


def deploy(
    cfg: Config,
    env: Environment,
    version: str,
    *,
    clients: Clients,
    token: str,
    ctx: RunContext,
    parallel: int,
    override_reason: str | None = None,
    cancel: context.Cancellation | None = None,
    runner: Runner = context.LOGGED,
) -> RolloutResult:
    """Pinned release → gate review → promotion policy (no downgrade) → freeze → GitHub
    deployment → Lambda → ledger → status.

    Returns the result even when a service failed or the rollout tripped (the others
    are restored then); raises when the promotion is refused or a check fails before
    anything changed.
    """
    if env.mirror_of is not None:
        raise ConfigError(
            f"{env.name} mirrors {env.mirror_of}: it only ever runs the version live there",
            f"use `vault dr-sync --env {env.name}` (action-dr-sync)",
        )
    check_account(clients, env)
    s3 = clients("s3", cfg.vault.region)
    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    env_s3 = s3 if env.region == cfg.vault.region else clients("s3", env.region)
    pinned_release(Vault(env_s3, env.bucket, env.region), version,
                   ledger.written_by(version, BUILD_JOB), protected=cfg.vault.protected)
    tracker = Tracker(github_client(ctx, env, token), ctx, env, runner)
    if env.gated and context.in_actions() and ctx.run_id:
        tracker.record_review(cfg, ledger, version)
    journey = authority.check_promotion(cfg, authority.read(cfg, ledger, version), env, version)
    check_forward(journey, env, Reader(cfg, ledger).newer_live(env.name, version))
    frozen = check_freeze(env, override_reason=override_reason)
    tracker.start(version, production=production(cfg, env))
    if frozen is not None:
        window, until = frozen
        outcomes.record_freeze_overridden(ledger, ctx, env, version, window=window,
                                          until=until, reason=override_reason)

    def on_step(weight: int) -> None:
        if weight < 100:
            outcomes.record_traffic_shifted(ledger, ctx, env, version, weight)
            tracker.progress(f"v{version} at {weight}% in {env.name} ({env.rollout.describe()})")

    try:
        delivery = _deliver(clients, env_s3, cfg, env, version, parallel=parallel,
                            on_step=on_step, cancel=cancel)
    except Exception as exc:
        message = exc.message if isinstance(exc, VaultActionsError) else repr(exc)
        unrecorded = record_safely(
            lambda: outcomes.record_refused(ledger, ctx, env, version, message))
        tracker.finish("failure", f"refused: {message}")
        if unrecorded is not None:
            log.error("the ledger did not record this refusal: %s", unrecorded)
        raise
    unrecorded = record_safely(lambda: _record_outcome(ledger, ctx, journey, env, delivery))
    if unrecorded is not None:
        delivery = dataclasses.replace(
            delivery, deploy=dataclasses.replace(delivery.deploy, unrecorded=unrecorded))
    tracker.finish("success" if delivery.ok else "failure", _headline(delivery))
    if delivery.ok and env.name == cfg.promotion_order[-1].name and context.in_actions():
        tracker.promote_release(version)
    return delivery


def _deliver(
    clients: Clients, s3: Any, cfg: Config, env: Environment, version: str,
    *, parallel: int, on_step: Callable[[int], None], cancel: context.Cancellation | None,
) -> RolloutResult:
    from vault_actions.deliver import rollout

    return rollout.deliver(
        clients("lambda", env.region), clients("cloudwatch", env.region),
        Vault(s3, env.bucket, env.region), env, version,
        root=cfg.root, parallel=parallel, on_step=on_step, cancel=cancel,
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


def dr_sync(
    cfg: Config,
    env_name: str | None,
    version: str | None,
    *,
    clients: Clients,
    token: str,
    ctx: RunContext,
    runner: Runner = context.LOGGED,
) -> SyncResult:
    """Policy → GitHub deployment → copy to the DR bucket → DR Lambdas → ledger → status."""
    from vault_actions.deliver import dr

    mirror = dr.select_mirror(cfg, env_name)
    check_account(clients, mirror)
    s3 = clients("s3", cfg.vault.region)
    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    plan = dr.plan(cfg, mirror, Reader(cfg, ledger), version)
    tracker = Tracker(github_client(ctx, mirror, token), ctx, mirror, runner, best_effort=True)
    tracker.start(plan.version, production=production(cfg, mirror))
    try:
        result = dr.sync(
            plan,
            vault=Vault(s3, cfg.vault.bucket, cfg.vault.region),
            dr_vault=Vault(clients("s3", mirror.region), mirror.bucket, mirror.region),
            lambda_=clients("lambda", mirror.region),
            ledger=ledger,
            ctx=ctx,
        )
    except Exception as exc:
        message = exc.message if isinstance(exc, VaultActionsError) else repr(exc)
        tracker.finish("failure", f"refused: {message}")
        raise
    headline = (f"v{result.version} live in {result.environment}: Globally Synced" if result.ok
                else f"v{result.version} {failure_headline(result.deploy)}")
    tracker.finish("success" if result.ok else "failure", headline)
    return result


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


def rollback(
    cfg: Config,
    env: Environment,
    to: str | None,
    reason: str,
    *,
    ledger: Ledger,
    clients: Clients,
    token: str,
    ctx: RunContext,
    runner: Runner = context.LOGGED,
) -> Rolled:
    """An emergency rollback: choose the version, move every alias, record, report to
    GitHub (freeze windows do not apply)."""
    from vault_actions.deliver.rollback import check_rolled_back, roll_back
    from vault_actions.promotion.policy import rollback_target

    if env.mirror_of is not None:
        raise ConfigError(f"{env.name} mirrors {env.mirror_of}: it follows what runs there",
                          f"roll back {env.mirror_of}, then `vault dr-sync --env {env.name}`")
    check_account(clients, env)
    reader = Reader(cfg, ledger)  # only the events that hold; what stood there, from the index
    journeys = reader.stood_in(env.name, [to] if to else [])
    current, target = rollback_target(journeys, reader.live_map([env.name]), env, to)
    tracker = Tracker(github_client(ctx, env, token), ctx, env, runner)
    tracker.start(target, production=production(cfg, env))
    s3 = clients("s3", env.region)
    result = roll_back(clients("lambda", env.region), Vault(s3, env.bucket, env.region), env,
                       target, journeys[target].standing(env.name))
    rolled = Rolled(env.name, current, target, reason, result)
    if not result.deploy.ok:
        tracker.finish("failure", f"rollback of {env.name} to v{target} failed")
        check_rolled_back(result)
    outcomes.record_rollback(ledger, ctx, env, current, target, reason=reason, result=result)
    tracker.finish("success", rolled.headline())
    return rolled


def github_client(ctx: RunContext, env: Environment, token: str) -> Github | None:
    """A Github client when a token and repository are known (else None)."""
    if not token or not ctx.repository:
        if env.gated and context.in_actions():
            raise GitHubError(
                f"no GitHub token: the approval of the {env.name!r} gate cannot be read",
                "pass github-token to action-deploy (default: the job's GITHUB_TOKEN) with "
                "`permissions: {actions: read, deployments: write}`",
            )
        return None
    from vault_actions.integrations.github import client

    return client.connect(token, ctx.api_url)


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
    ctx: RunContext
    env: Environment
    runner: Runner = context.LOGGED
    best_effort: bool = False
    deployment: Deployment | None = None

    def record_review(self, cfg: Config, ledger: Ledger, version: str) -> None:
        """Record the decision on this run's gate in the ledger (once per run and person;
        only an event that counts is taken as already recorded)."""
        from vault_actions.integrations.github.gates import gate_review

        ctx, env = self.ctx, self.env
        if self.gh is None or ctx.repository is None or ctx.run_id is None:
            return
        try:
            review = gate_review(self.gh, ctx.repository, ctx.run_id, env.name)
        except GitHubError as exc:
            raise gates.gate_unreadable(exc, env, version) from None
        gates.record_review(cfg, ledger, ctx, env, version, review=review)

    def start(self, version: str, *, production: bool) -> None:
        """A Deployment in progress: required for gated environments, best effort else."""
        from vault_actions.integrations.github.deployments import start_deployment

        if self.gh is None or self.ctx.repository is None:
            return
        try:
            self.deployment = start_deployment(
                self.gh, self.ctx.repository, tag=f"v{version}", environment=self.env.name,
                version=version, production=production, log_url=self.ctx.run_url,
            )
        except GitHubError as exc:
            if self.env.gated and not self.best_effort:
                raise
            self.runner.warning(f"{exc}\n(deploying without a GitHub deployment)",
                                title=exc.title)

    def progress(self, description: str) -> None:
        """An in-progress status (a rollout step); a failure only warns."""
        from vault_actions.integrations.github.deployments import set_status

        if self.gh is None or self.deployment is None:
            return
        try:
            set_status(self.gh, self.deployment, "in_progress", log_url=self.ctx.run_url,
                       description=description)
        except GitHubError as exc:
            self.runner.warning(str(exc), title=exc.title)

    def finish(self, state: DeploymentState, description: str) -> None:
        """Post the final status; the Lambdas already changed, so a failure only warns."""
        from vault_actions.integrations.github.deployments import set_status

        if self.gh is None or self.deployment is None:
            return
        smoke = self.env.smoke
        url = smoke.base_url if smoke and state == "success" else None
        try:
            set_status(self.gh, self.deployment, state, log_url=self.ctx.run_url,
                       description=description, environment_url=url)
        except GitHubError as exc:
            self.runner.warning(str(exc), title=exc.title)

    def promote_release(self, version: str) -> None:
        """Mark the GitHub Release a full release; the deploy is done, so a failure warns."""
        from vault_actions.integrations.github.releases import promote_release

        if self.gh is None or self.ctx.repository is None:
            return
        try:
            promote_release(self.gh, self.ctx.repository, f"v{version}")
        except GitHubError as exc:
            self.runner.warning(
                f"{exc}\n(v{version} is live; its GitHub Release stays a pre-release)",
                title=exc.title,
            )


def _record_outcome(
    ledger: Ledger, ctx: RunContext, journey: Journey, env: Environment,
    delivery: RolloutResult,
) -> None:
    """``deployed`` (unless a rerun changed nothing); a tripped rollout's ``smoke_failed``
    and ``rolled_back``; or a failed deploy's ``deploy_failed`` + ``rolled_back``."""
    result = delivery.deploy
    if delivery.trip is not None:
        outcomes.record_tripped(ledger, ctx, env, delivery)
    elif not result.ok:
        outcomes.record_failure(ledger, ctx, env, result)
    elif not (result.unchanged and journey.standing(env.name) is not None):
        outcomes.record_deployed(ledger, ctx, env, delivery)


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


def text(delivery: RolloutResult) -> str:
    """The terminal rendering: one line per service, CodeSha256 included."""
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
