"""Benchmark (run by hand): from a CloudWatch ALARM to every alias restored, 20 services.

Starts its own moto server, deploys release 1.0.0 of N services at once, then rolls out
1.1.0 as a 10% canary with a long bake, watched by one alarm, at several poll intervals.
Once every alias routes 10% to the new version, the alarm is set to ALARM at a random
moment of the poll cycle; the time until ``deliver`` has put every alias back (and the
aliases are checked to serve 1.0.0 with no routing) is measured against the interval.

Target: ALARM → every alias restored within one poll interval + 2 s.

    python bench/rollout_bench.py [--services N] [--trials N]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from deploy_bench import (
    REGION,
    _aws_environment,
    create_functions,
    environment,
    moto_server,
    store_release,
)
from vault_actions.config import Environment, Rollout
from vault_actions.deliver.lambdas import deploy_release
from vault_actions.deliver.rollout import deliver
from vault_actions.integrations import aws
from vault_actions.store.vault import Vault

BUCKET = "bench-vault"
ALARM = "bench-5xx"
POLLS = (0.5, 1.0, 2.0, 5.0)
SLACK_SECONDS = 2.0


def all_routed(lambda_: Any, env: Environment) -> bool:
    return all(lambda_.get_alias(FunctionName=f, Name=env.alias).get("RoutingConfig", {})
               .get("AdditionalVersionWeights") for f in env.functions.values())


def restored(lambda_: Any, env: Environment) -> bool:
    return all(lambda_.get_alias(FunctionName=f, Name=env.alias)["FunctionVersion"] == "1"
               and not lambda_.get_alias(FunctionName=f, Name=env.alias)
               .get("RoutingConfig", {}).get("AdditionalVersionWeights")
               for f in env.functions.values())


def trial(lambda_: Any, cloudwatch: Any, vault: Vault, env: Environment, work: Path) -> float:
    """One canary, one ALARM at a random moment of the poll cycle: seconds to restored."""
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench")
    fired: list[float] = []

    def fire() -> None:
        while not all_routed(lambda_, env):
            time.sleep(0.05)
        time.sleep(random.uniform(0, env.rollout.poll_seconds))
        fired.append(time.monotonic())
        cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="bench")

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    result = deliver(lambda_, cloudwatch, vault, env, "1.1.0", root=work, parallel=20)
    done = time.monotonic()
    thread.join()
    assert result.trip is not None and restored(lambda_, env), "every alias must be restored"
    return done - fired[0]


def main() -> None:
    """Run the trials at each poll interval and print the figures against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    services = [f"svc-{i:02d}" for i in range(args.services)]
    with tempfile.TemporaryDirectory() as tmp, moto_server(Path(tmp) / "moto.log") as url:
        _aws_environment(url)
        work = Path(tmp)
        s3, lambda_ = aws.client("s3", REGION), aws.client("lambda", REGION)
        cloudwatch = aws.client("cloudwatch", REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        vault = Vault(s3, BUCKET, REGION)
        for version in ("1.0.0", "1.1.0"):
            store_release(vault, version, services, work)
        base = environment("bench", services)
        create_functions(lambda_, list(base.functions.values()))
        assert deploy_release(lambda_, vault, base, "1.0.0", parallel=20).ok
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold")
        print(f"{args.services} services, canary 10% with a 10 min bake, moto server at {url}")
        print(f"{'poll':>6}  {'ALARM → all restored (s)':>26}  {'worst':>6}  {'target':>6}  "
              f"worst ÷ target")
        for poll in POLLS:
            env = Environment(
                name=base.name, region=REGION, bucket=BUCKET, functions=base.functions,
                rollout=Rollout("canary", 10, 600.0, poll, (ALARM,)))
            seconds = [trial(lambda_, cloudwatch, vault, env, work) for _ in range(args.trials)]
            target = poll + SLACK_SECONDS
            print(f"{poll:>5.1f}s  {', '.join(f'{s:.2f}' for s in seconds):>26}  "
                  f"{max(seconds):>6.2f}  {target:>6.1f}  {max(seconds) / target:.2f}"
                  f"{'  ✅' if max(seconds) <= target else '  ❌'}")


if __name__ == "__main__":
    main()
