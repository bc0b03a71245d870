"""Gradual rollouts: every service of a release shifts to the new version step by step.

``deliver.lambdas`` publishes each service's new version (pinned by CodeSha256) and
points the alias at it with a first weight (``RoutingConfig.AdditionalVersionWeights``);
this module then moves every alias through the environment's steps together, holding
each step while it reads the CloudWatch alarms every poll interval (and, if asked, runs
the smoke checks once per step). On ALARM, a failed check or an interruption, every alias
goes back to the version it served before, at once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions.deliver.lambdas import (
    CONFLICT,
    DEFAULT_PARALLEL,
    DeployResult,
    ServiceResult,
    deploy_release,
    routing,
)
from vault_actions.errors import ConfigError, DeployError
from vault_actions.integrations import aws

if TYPE_CHECKING:
    from pathlib import Path

    from vault_actions.config import Environment
    from vault_actions.context import Cancellation
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)

ALARM = "ALARM"


@dataclass(frozen=True)
class Trip:
    """Why a rollout stopped: an alarm in ALARM, a failed smoke check, an interruption."""

    kind: str  # "alarm", "smoke", "pre-traffic" or "interrupted"
    name: str
    weight: int
    reason: str = ""

    def describe(self) -> str:
        """``alarm prod-5xx`` / ``smoke check GET /health`` / ``interrupted``."""
        if self.kind == "alarm":
            return f"alarm {self.name}"
        if self.kind == "interrupted":
            return "interrupted"
        return f"{self.kind} check {self.name}"

    def details(self) -> dict[str, Any]:
        """For the ledger: ``{"alarm": "prod-5xx", "weight": 10, ...}``."""
        key = "alarm" if self.kind == "alarm" else "check"
        out: dict[str, Any] = {key: self.name, "weight": self.weight, "trip": self.kind}
        return {**out, "why": self.reason} if self.reason else out


@dataclass(frozen=True)
class Step:
    """One weight the aliases reached, and when (seconds after the first shift)."""

    weight: int
    after_seconds: float


@dataclass(frozen=True)
class RolloutResult:
    """A release rolled out (or not) to one environment, step by step."""

    deploy: DeployResult
    strategy: str
    steps: tuple[Step, ...] = ()
    trip: Trip | None = None
    restore_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """True when every service reached 100% and nothing tripped."""
        return self.deploy.ok and self.trip is None

    @property
    def weights(self) -> tuple[int, ...]:
        """The weights reached, in order."""
        return tuple(s.weight for s in self.steps)

    def details(self) -> dict[str, Any]:
        """The rollout for the ledger and the action outputs."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "steps": [dataclasses.asdict(s) for s in self.steps],
        }
        if self.trip is not None:
            out["trip"] = self.trip.details()
        return out

    def headline(self, environment: str) -> str:
        """``died in prod at 10%: alarm prod-5xx`` (None-safe for a clean rollout)."""
        if self.trip is None:
            return f"{self.strategy} in {environment}: " + " → ".join(
                f"{w}%" for w in self.weights)
        return f"died in {environment} at {self.trip.weight}%: {self.trip.describe()}"


# A check run at a step: given the weight, a Trip when it failed (None when it passed).
StepCheck = Callable[[int], Trip | None]
# The pre-traffic check: given the services and their new versions (no traffic yet).
PreTraffic = Callable[[Sequence[ServiceResult]], Trip | None]


def missing_alarms(cloudwatch: Any, names: Sequence[str]) -> list[str]:
    """The alarm names CloudWatch does not know (checked before anything changes)."""
    found: set[str] = set()
    for start in range(0, len(names), 100):
        page = cloudwatch.describe_alarms(AlarmNames=list(names[start:start + 100]))
        found |= {a["AlarmName"] for a in page.get("MetricAlarms", ())}
        found |= {a["AlarmName"] for a in page.get("CompositeAlarms", ())}
    return [n for n in names if n not in found]


def alarm_watch(cloudwatch: Any, names: Sequence[str]) -> StepCheck:
    """A check that trips on the first named alarm in ALARM (one DescribeAlarms a poll;
    filtered here: moto ignores StateValue beside AlarmNames)."""

    def check(weight: int) -> Trip | None:
        if not names:
            return None
        page = cloudwatch.describe_alarms(AlarmNames=list(names))
        firing = [a for a in (*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ()))
                  if a.get("StateValue") == ALARM]
        if not firing:
            return None
        alarm = sorted(firing, key=lambda a: names.index(a["AlarmName"]))[0]
        return Trip("alarm", alarm["AlarmName"], weight, str(alarm.get("StateReason", "")))

    return check


@dataclass
class Rollout:
    """One gradual rollout of one release to one environment.

    ``alarms`` is read every poll interval while a step is held; ``smoke`` runs once after
    each shift below 100% and ``pre_traffic`` once before any traffic moves; ``on_step``
    hears every weight reached (the ledger and the GitHub deployment show the progress).
    """

    lambda_: Any
    env: Environment
    alarms: StepCheck
    smoke: StepCheck | None = None
    pre_traffic: PreTraffic | None = None
    on_step: Callable[[int], None] = lambda weight: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    parallel: int = DEFAULT_PARALLEL
    cancel: Cancellation | None = None  # SIGINT/SIGTERM: a trip ("interrupted") at once

    def run(self, vault: Vault, version: str) -> RolloutResult:
        """Publish every service at the first weight, then shift, hold and watch."""
        plan = self.env.rollout
        first = 0 if self.pre_traffic else plan.weights[0]
        deployed = deploy_release(self.lambda_, vault, self.env, version,
                                  parallel=self.parallel, weight=first / 100, cancel=self.cancel)
        if not deployed.ok:
            return RolloutResult(deployed, plan.strategy)
        shifting = [s for s in deployed.services
                    if s.status == "deployed" and s.previous not in (None, s.function_version)]
        if not shifting:
            log.info("v%s: no alias served an earlier version in %s; nothing to shift",
                     version, self.env.name)
            return RolloutResult(deployed, plan.strategy, (Step(100, 0.0),))
        return self._shift(deployed, shifting, first)

    def _shift(
        self, deployed: DeployResult, shifting: list[ServiceResult], first: int
    ) -> RolloutResult:
        plan = self.env.rollout
        started = self.clock()
        steps: list[Step] = []
        current = weight = first
        try:
            trip = self.pre_traffic(shifting) if self.pre_traffic else None
            for weight in plan.weights if trip is None else ():
                if weight != current:
                    self._move(shifting, weight)
                    current = weight
                steps.append(Step(weight, round(self.clock() - started, 3)))
                log.info("%s: %d%% of traffic on v%s", self.env.name, weight, deployed.version)
                self.on_step(weight)
                if weight == 100:
                    return RolloutResult(deployed, plan.strategy, tuple(steps))
                trip = self._hold(weight)
                if trip is not None:
                    break
        except BaseException:
            self._restore(shifting)
            raise
        assert trip is not None
        tripped = self.clock()
        log.error("%s: %s at %d%%; restoring every alias", self.env.name, trip.describe(), weight)
        restored = self._restore(shifting)
        seconds = round(self.clock() - tripped, 3)
        services = tuple(restored.get(s.service, s) for s in deployed.services)
        return RolloutResult(dataclasses.replace(deployed, services=services), plan.strategy,
                             tuple(steps), trip, seconds)

    def _hold(self, weight: int) -> Trip | None:
        """Hold ``weight`` for the step's time: smoke once, alarms every poll interval."""
        plan = self.env.rollout
        deadline = self.clock() + plan.step_seconds
        if self.smoke is not None and (trip := self.smoke(weight)) is not None:
            return trip
        while True:
            if (trip := self.alarms(weight)) is not None:
                return trip
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            if self.cancel is None:
                self.sleep(min(plan.poll_seconds, remaining))
            elif self.cancel.wait(min(plan.poll_seconds, remaining)):
                return Trip("interrupted", self.cancel.signal or "cancelled", weight)

    def _move(self, shifting: Sequence[ServiceResult], weight: int) -> None:
        """Every alias to ``weight``% on the new version, all at once."""
        share = None if weight == 100 else weight / 100

        def move(s: ServiceResult) -> None:
            args = routing(str(s.previous), str(s.function_version), share)
            self._update(s, args, f"shift to {weight}%")

        self._each(move, shifting)

    def _restore(self, shifting: Sequence[ServiceResult]) -> dict[str, ServiceResult]:
        """Every alias back on the version it served before; the results say which."""

        def restore(s: ServiceResult) -> ServiceResult:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self._update(s, routing(str(s.previous), str(s.previous), None), "restore")
            except (ClientError, BotoCoreError) as exc:
                log.error("%s: could not restore %s:%s: %s", s.service, s.function, s.alias,
                          exc)
                return dataclasses.replace(s, status="restore_failed", error=str(exc))
            log.warning("%s: %s:%s restored to %s", s.service, s.function, s.alias, s.previous)
            return dataclasses.replace(s, status="restored", function_version=s.previous)

        with ThreadPoolExecutor(max_workers=self._workers(shifting)) as pool:
            return {r.service: r for r in pool.map(restore, shifting)}

    def _update(self, s: ServiceResult, args: dict[str, Any], what: str) -> None:
        aws.retry_codes(
            lambda: self.lambda_.update_alias(FunctionName=s.function, Name=s.alias, **args),
            CONFLICT, f"{s.service}: {what} {s.function}",
        )

    def _each(self, call: Callable[[ServiceResult], None], items: Sequence[ServiceResult]) -> None:
        with ThreadPoolExecutor(max_workers=self._workers(items)) as pool:
            for future in [pool.submit(call, s) for s in items]:
                future.result()

    def _workers(self, items: Sequence[Any]) -> int:
        return max(1, min(self.parallel, len(items)))


def deliver(
    lambda_: Any,
    cloudwatch: Any,
    vault: Vault,
    env: Environment,
    version: str,
    *,
    root: Path,
    parallel: int = DEFAULT_PARALLEL,
    on_step: Callable[[int], None] = lambda weight: None,
    cancel: Cancellation | None = None,
) -> RolloutResult:
    """Deploy ``version`` to ``env`` the way its ``rollout`` says (all at once by default);
    ``cancel`` (SIGINT/SIGTERM) stops it and puts every alias back."""
    plan = env.rollout
    if not plan.gradual:
        deployed = deploy_release(lambda_, vault, env, version, parallel=parallel, cancel=cancel)
        return RolloutResult(deployed, plan.strategy, (Step(100, 0.0),) if deployed.ok else ())
    check_alarms(cloudwatch, env)
    rollout = Rollout(
        lambda_, env, alarm_watch(cloudwatch, plan.alarms),
        smoke=smoke_check(env, version, root) if plan.smoke_each_step else None,
        pre_traffic=pre_traffic_check(env, version, root) if plan.pre_traffic else None,
        on_step=on_step, parallel=parallel, cancel=cancel,
    )
    return rollout.run(vault, version)


def smoke_check(env: Environment, version: str, root: Path) -> StepCheck:
    """The environment's smoke checks/command as a step check (``VAULT_ROLLOUT_WEIGHT`` set)."""
    from vault_actions.deliver import smoke

    def check(weight: int) -> Trip | None:
        report = smoke.run(env, version, root, extra_env={"VAULT_ROLLOUT_WEIGHT": str(weight)})
        failed = report.failures
        if not failed:
            return None
        return Trip("smoke", failed[0].name, weight, failed[0].reason.splitlines()[0])

    return check


def pre_traffic_check(env: Environment, version: str, root: Path) -> PreTraffic:
    """The smoke command run before any traffic moves, told each function's new version
    (``VAULT_NEW_VERSIONS``: JSON ``{function: version}``) so it can invoke them directly."""
    import json

    from vault_actions.deliver import smoke

    def check(services: Sequence[ServiceResult]) -> Trip | None:
        assert env.smoke is not None and env.smoke.command is not None
        versions = {s.function: s.function_version for s in services}
        extra = {"VAULT_ENV": env.name, "VAULT_VERSION": version, "VAULT_BASE_URL": "",
                 "VAULT_ROLLOUT_PHASE": "pre-traffic", "VAULT_NEW_VERSIONS": json.dumps(versions)}
        deadline = time.monotonic() + env.smoke.timeout_seconds
        result = smoke.run_command(env.smoke.command, root, extra, deadline)
        if result.ok:
            return None
        return Trip("pre-traffic", result.name, 0, result.reason.splitlines()[0])

    return check


def check_alarms(cloudwatch: Any, env: Environment) -> None:
    """ConfigError (before anything changes) when an alarm of ``env`` does not exist."""
    missing = missing_alarms(cloudwatch, env.rollout.alarms)
    if missing:
        raise ConfigError(
            f"CloudWatch in {env.region} has no alarm named {', '.join(map(repr, missing))} "
            f"(environments.{env.name}.rollout.alarms); nothing was changed",
            "create the alarm first, or fix its name in vault.yml",
        )


def check_rollout(result: RolloutResult) -> None:
    """DeployError saying where the rollout died and what serves now (or what is stuck)."""
    trip = result.trip
    if trip is None:
        return
    deploy = result.deploy
    why = f" ({trip.reason})" if trip.reason else ""
    message = f"v{deploy.version} {result.headline(deploy.environment)}{why}"
    stuck = deploy.having("restore_failed")
    if stuck:
        raise DeployError(
            f"{message}; NOT restored: " + ", ".join(f"{s.function}:{s.alias}" for s in stuck),
            "point those aliases back by hand: " + "; ".join(
                f"aws lambda update-alias --function-name {s.function} --name {s.alias} "
                f"--function-version {s.previous} --routing-config AdditionalVersionWeights={{}}"
                for s in stuck),
        )
    raise DeployError(
        f"{message}; every alias serves its previous version again "
        f"(restored in {result.restore_seconds or 0:.1f} s)",
        f"v{deploy.version} is dead in {deploy.environment}: fix the cause and release a new "
        "version",
    )
