"""Gradual rollouts on a real moto server: weighted alias steps, alarms, smoke, interruptions."""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import break_glass
from tests.unit.deliver.test_deploy import (
    CTX,
    REGION,
    World,
    alias_target,
    make_functions,
    make_world,
    served_sha,
)
from vault_actions import config
from vault_actions.cli.commands import deploy as deploy_command
from vault_actions.config import Environment, Rollout, Smoke
from vault_actions.deliver import release
from vault_actions.deliver.rollout import Rollout as Run
from vault_actions.deliver.rollout import RolloutResult, alarm_watch, deliver, smoke_check
from vault_actions.errors import ConfigError, DeployError, PromotionRefused
from vault_actions.integrations import aws
from vault_actions.promotion.journey import journey_of
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault

SERVICES = ["alpha", "beta", "gamma"]


@pytest.fixture
def world(s3: Any, vault_bucket: str, tmp_path: Path) -> World:
    return make_world(s3, vault_bucket, tmp_path)


@pytest.fixture
def cloudwatch(aws_env: Any) -> Any:
    return aws.client("cloudwatch", REGION)


def make_alarm(cloudwatch: Any, name: str) -> str:
    cloudwatch.put_metric_alarm(
        AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    return name


def routing_of(lambda_: Any, function: str) -> tuple[str, dict[str, float]]:
    alias = lambda_.get_alias(FunctionName=function, Name="live")
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return str(alias["FunctionVersion"]), dict(weights)


@dataclass
class Watched:
    """An environment at v1.0.0 everywhere, v1.1.0 in the vault, and an alarm."""

    world: World
    env: Environment
    alarm: str
    old: dict[str, str] = field(default_factory=dict)  # function -> CodeSha256 of v1.0.0

    def functions(self) -> list[str]:
        return list(self.env.functions.values())

    def vault(self) -> Vault:
        return Vault(self.world.s3, self.world.bucket, REGION)


def watched(world: World, cloudwatch: Any, **rollout: Any) -> Watched:
    alarm = make_alarm(cloudwatch, f"prod-5xx-{world.tag}")
    plan = Rollout(**{"alarms": (alarm,), "poll_seconds": 0.1, **rollout})
    world.release("1.0.0", SERVICES)
    world.release("1.1.0", SERVICES)
    env = world.env(SERVICES, "prod", rollout=plan)
    assert world.deploy(env, "1.0.0").ok
    old = {f: served_sha(world.lambda_, f) for f in env.functions.values()}
    return Watched(world, env, alarm, old)


def fire_when(condition: Any, action: Any, timeout: float = 20.0) -> threading.Thread:
    """Run ``action`` once ``condition()`` is true (polled), in a thread."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- alarms


def test_an_alarm_mid_bake_puts_every_alias_back(world: World, cloudwatch: Any) -> None:
    w = watched(world, cloudwatch, strategy="canary", percent=10, step_seconds=30)
    functions = w.functions()

    def all_at_ten() -> bool:
        return all(routing_of(world.lambda_, f)[1] for f in functions)

    fired: list[float] = []

    def fire() -> None:
        cloudwatch.set_alarm_state(AlarmName=w.alarm, StateValue="ALARM",
                                   StateReason="5xx above 1%")
        fired.append(time.monotonic())

    thread = fire_when(all_at_ten, fire)
    result = deliver(world.lambda_, cloudwatch, w.vault(), w.env, "1.1.0", root=world.tmp_path)
    thread.join()

    assert fired and time.monotonic() - fired[0] < 10, "the 30 s bake must end at the alarm"
    assert result.trip is not None
    assert (result.trip.kind, result.trip.name, result.trip.weight) == ("alarm", w.alarm, 10)
    assert result.trip.reason == "5xx above 1%"
    assert result.weights == (10,)
    assert [s.status for s in result.deploy.services] == ["restored"] * 3
    for function in functions:
        assert routing_of(world.lambda_, function) == ("1", {})
        assert served_sha(world.lambda_, function) == w.old[function]
    assert result.headline("prod") == f"died in prod at 10%: alarm {w.alarm}"
    assert result.restore_seconds is not None and result.restore_seconds < 2


def test_canary_weights_split_traffic_between_the_old_and_new_versions(
    world: World, cloudwatch: Any
) -> None:
    w = watched(world, cloudwatch, strategy="canary", percent=10, step_seconds=0.3)
    seen: list[list[tuple[str, dict[str, float]]]] = []
    run = Run(world.lambda_, w.env, alarm_watch(cloudwatch, [w.alarm]),
              on_step=lambda weight: seen.append([routing_of(world.lambda_, f)
                                                  for f in w.functions()]))

    result = run.run(w.vault(), "1.1.0")

    assert result.ok and result.weights == (10, 100)
    assert seen == [[("1", {"2": 0.1})] * 3, [("2", {})] * 3]
    for record in w.vault().require_manifest("1.1.0").artifacts:
        assert served_sha(world.lambda_, w.env.functions[record.service]) == record.code_sha256


def test_linear_steps_are_taken_in_order_on_every_alias(world: World, cloudwatch: Any) -> None:
    w = watched(world, cloudwatch, strategy="linear", percent=25, step_seconds=0.2)
    seen: list[set[tuple[str, tuple[tuple[str, float], ...]]]] = []

    def observe(weight: int) -> None:
        seen.append({(v, tuple(r.items())) for v, r in
                     (routing_of(world.lambda_, f) for f in w.functions())})

    result = Run(world.lambda_, w.env, alarm_watch(cloudwatch, [w.alarm]),
                 on_step=observe).run(w.vault(), "1.1.0")

    assert result.weights == (25, 50, 75, 100)
    assert [s.after_seconds for s in result.steps] == sorted(s.after_seconds for s in result.steps)
    assert result.steps[-1].after_seconds >= 0.6
    assert seen == [{("1", (("2", 0.25),))}, {("1", (("2", 0.5),))}, {("1", (("2", 0.75),))},
                    {("2", ())}]


def test_an_alarm_at_a_later_linear_step_names_that_step(world: World, cloudwatch: Any) -> None:
    w = watched(world, cloudwatch, strategy="linear", percent=30, step_seconds=0.5)

    def at_sixty(weight: int) -> None:
        if weight == 60:
            cloudwatch.set_alarm_state(AlarmName=w.alarm, StateValue="ALARM", StateReason="p99")

    result = Run(world.lambda_, w.env, alarm_watch(cloudwatch, [w.alarm]),
                 on_step=at_sixty).run(w.vault(), "1.1.0")

    assert result.weights == (30, 60)
    assert result.trip is not None and result.trip.weight == 60
    assert all(routing_of(world.lambda_, f) == ("1", {}) for f in w.functions())


def test_a_missing_alarm_is_refused_before_anything_changes(
    world: World, cloudwatch: Any
) -> None:
    w = watched(world, cloudwatch, strategy="canary", percent=10, step_seconds=1)
    env = Environment(name="prod", region=REGION, bucket=world.bucket, functions=w.env.functions,
                      rollout=Rollout("canary", 10, 1, 0.1, (w.alarm, "prod-typo")))

    with pytest.raises(ConfigError, match="no alarm named 'prod-typo'"):
        deliver(world.lambda_, cloudwatch, w.vault(), env, "1.1.0", root=world.tmp_path)

    assert all(routing_of(world.lambda_, f) == ("1", {}) for f in w.functions())


def test_an_interruption_mid_bake_restores_every_alias(world: World, cloudwatch: Any) -> None:
    w = watched(world, cloudwatch, strategy="canary", percent=10, step_seconds=30)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    run = Run(world.lambda_, w.env, alarm_watch(cloudwatch, [w.alarm]), sleep=interrupt)
    with pytest.raises(KeyboardInterrupt):
        run.run(w.vault(), "1.1.0")

    assert all(routing_of(world.lambda_, f) == ("1", {}) for f in w.functions())


def test_a_first_deploy_has_nothing_to_shift(world: World, cloudwatch: Any) -> None:
    world.release("1.0.0", ["alpha"])
    alarm = make_alarm(cloudwatch, f"a-{world.tag}")
    env = world.env(["alpha"], "prod", rollout=Rollout("canary", 10, 30, 0.1, (alarm,)))

    result = deliver(world.lambda_, cloudwatch, Vault(world.s3, world.bucket, REGION), env,
                     "1.0.0", root=world.tmp_path)

    assert result.ok and result.weights == (100,)
    assert routing_of(world.lambda_, env.functions["alpha"]) == ("1", {})


# ---------------------------------------------------------------- smoke at every step


@pytest.fixture
def health() -> Iterator[dict[str, int]]:
    """An HTTP server on 127.0.0.1 whose /health answers ``state["status"]``."""
    state = {"status": 200, "port": 0, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["hits"] += 1
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["port"] = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()


def test_a_failed_smoke_check_at_a_step_restores_every_alias(
    world: World, cloudwatch: Any, health: dict[str, int]
) -> None:
    w = watched(world, cloudwatch, strategy="linear", percent=50, step_seconds=0.2,
                smoke_each_step=True)
    smoke = Smoke(base_url=f"http://127.0.0.1:{health['port']}",
                  checks=(config.Check(path="/health", name="health"),),
                  timeout_seconds=0.5, retry_interval_seconds=0.1)
    env = Environment(name="prod", region=REGION, bucket=world.bucket,
                      functions=w.env.functions, smoke=smoke, rollout=w.env.rollout)
    health["status"] = 503

    result = Run(world.lambda_, env, alarm_watch(cloudwatch, [w.alarm]),
                 smoke=smoke_check(env, "1.1.0", world.tmp_path)).run(w.vault(), "1.1.0")

    assert result.trip is not None
    assert (result.trip.kind, result.trip.name, result.trip.weight) == ("smoke", "health", 50)
    assert "expected status 200, got 503" in result.trip.reason
    assert health["hits"] >= 1
    assert all(routing_of(world.lambda_, f) == ("1", {}) for f in w.functions())


# ---------------------------------------------------------------- through `vault deploy`


YML = """\
vault: {{bucket: {bucket}, region: us-east-1, protected: false}}
services: [{{name: alpha}}, {{name: beta}}]
environments:
  - name: dev
    functions: {{alpha: alpha-dev-{tag}, beta: beta-dev-{tag}}}
  - name: prod
    functions: {{alpha: alpha-prod-{tag}, beta: beta-prod-{tag}}}
    rollout:
      strategy: canary
      percent: 10
      bake-minutes: 0.5
      poll-seconds: 0.1
      alarms: [{alarm}]
"""


@pytest.fixture
def shop(world: World, cloudwatch: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    alarm = make_alarm(cloudwatch, f"prod-5xx-{uuid.uuid4().hex[:6]}")
    path = world.tmp_path / "vault.yml"
    path.write_text(YML.format(bucket=world.bucket, tag=world.tag, alarm=alarm) + break_glass())
    cfg = config.load(path)
    for env in cfg.environments:
        make_functions(world.lambda_, world.role, list(env.functions.values()))
    ledger = Ledger(world.s3, world.bucket)
    for version in ("1.0.0", "1.1.0"):
        world.release(version, ["alpha", "beta"])
        deploy_command.deploy(str(path), version, "dev", 4)
        ledger.record(version, "smoke_passed", "dev", CTX)
    return path, cfg, ledger, alarm


def test_the_deploy_command_records_where_the_canary_died(
    world: World, cloudwatch: Any, shop: Any
) -> None:
    path, cfg, ledger, alarm = shop
    assert deploy_command.deploy(str(path), "1.0.0", "prod", 4).ok
    prod = list(cfg.environment("prod").functions.values())
    thread = fire_when(lambda: all(routing_of(world.lambda_, f)[1] for f in prod),
                       lambda: cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM",
                                                          StateReason="errors"))

    delivery: RolloutResult = deploy_command.deploy(str(path), "1.1.0", "prod", 4)
    thread.join()

    assert all(alias_target(world.lambda_, f) == "1" for f in prod)
    assert all(routing_of(world.lambda_, f) == ("1", {}) for f in prod)
    journey = journey_of(ledger, "1.1.0")
    assert [e.event for e in journey.in_environment("prod")] == [
        "traffic_shifted", "smoke_failed", "rolled_back"]
    death = journey.death
    assert death is not None and death.environment == "prod"
    assert {k: death.details[k] for k in ("alarm", "weight")} == {"alarm": alarm, "weight": 10}
    assert death.reason == f"died in prod at 10%: alarm {alarm}"
    rolled = journey.last("rolled_back", "prod")
    assert rolled is not None and rolled.details["alarm"] == alarm
    assert sorted(r["service"] for r in rolled.details["restored"]) == ["alpha", "beta"]
    with pytest.raises(DeployError, match=f"died in prod at 10%: alarm {alarm}"):
        release.check_delivery(delivery)
    assert journey_of(ledger, "1.0.0").standing("prod") is not None


def test_a_clean_canary_records_its_steps(shop: Any) -> None:
    path, _, ledger, _ = shop
    text = path.read_text().replace("bake-minutes: 0.5", "bake-minutes: 0.005")
    path.write_text(text)
    deploy_command.deploy(str(path), "1.0.0", "prod", 4)

    delivery = deploy_command.deploy(str(path), "1.1.0", "prod", 4)

    assert delivery.ok and delivery.weights == (10, 100)
    deployed = journey_of(ledger, "1.1.0").last("deployed", "prod")
    assert deployed is not None
    assert [s["weight"] for s in deployed.details["rollout"]["steps"]] == [10, 100]
    assert release.summary(delivery.deploy, delivery).count("| 10% |") == 1


def test_a_freeze_refuses_the_deploy_and_an_override_is_recorded(
    world: World, shop: Any
) -> None:
    path, cfg, ledger, _ = shop
    now = datetime.now(UTC)
    window = (f"    freeze:\n      - {{name: change-freeze, from: '{now - timedelta(hours=1):%Y-%m-%dT%H:%M}Z',"
              f" until: '{now + timedelta(hours=2):%Y-%m-%dT%H:%M}Z'}}\n")
    path.write_text(path.read_text().replace("    rollout:\n", window + "    rollout:\n"))
    prod = list(cfg.environment("prod").functions.values())

    with pytest.raises(PromotionRefused, match="prod is frozen: window 'change-freeze' until"):
        deploy_command.deploy(str(path), "1.0.0", "prod", 4)
    assert all(alias_target(world.lambda_, f) is None for f in prod)
    assert journey_of(ledger, "1.0.0").in_environment("prod") == ()
    with pytest.raises(ConfigError, match="overriding a freeze needs a reason"):
        deploy_command.run(argparse.Namespace(
            config=str(path), release_version="1.0.0", env="prod", parallel=4,
            override_freeze=True, reason="  ", plan=False))

    delivery = deploy_command.deploy(str(path), "1.0.0", "prod", 4,
                                     override_reason="INC-42: checkout is down")

    assert delivery.ok and all(alias_target(world.lambda_, f) == "1" for f in prod)
    overridden = journey_of(ledger, "1.0.0").last("freeze_overridden", "prod")
    assert overridden is not None
    assert overridden.details["window"] == "change-freeze"
    assert overridden.reason == "INC-42: checkout is down"
