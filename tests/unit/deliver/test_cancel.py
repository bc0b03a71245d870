"""Findings 2 and 3: a cancelled deploy puts every alias back; a restore that cannot run
says exactly what is left and how to fix it.

Real parts: a ``vault`` subprocess, real SIGINT/SIGTERM, boto3 through a latency-injecting
HTTP proxy (tests/aws_proxy.py) in front of the moto server; the fix commands printed for
what was not restored are run with the AWS CLI.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.aws_proxy import AwsProxy
from tests.conftest import MotoServer, parse_outputs
from tests.unit.deliver.test_deploy import World, alias_target, make_world
from vault_actions.config import Environment
from vault_actions.store.ledger import Ledger

SERVICES = [f"svc{i:02d}" for i in range(10)]
GRACE_SECONDS = 10.0  # GitHub: SIGINT, SIGTERM ~7.5 s later, then SIGKILL ~2.5 s after that

VAULT_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
  protected: false
services:
{services}
environments:
  - name: dev
    functions: {{{functions}}}
"""


@dataclass
class Ten:
    """Ten services live on v1.0.0 (alias version 1); v1.1.0 in the vault; a vault.yml."""

    world: World
    env: Environment
    path: Path
    moto: MotoServer

    def aliases(self) -> dict[str, str | None]:
        return {f: alias_target(self.world.lambda_, f) for f in self.env.functions.values()}

    def events(self, version: str = "1.1.0") -> list[Any]:
        """What the deploy recorded (after the release's built event)."""
        return [e for e in Ledger(self.world.s3, self.world.bucket).events(version)
                if e.event != "built"]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "vault_actions", *args]

    def env_vars(self, proxy: AwsProxy, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
        return {**env, "AWS_ENDPOINT_URL": proxy.url, **extra}


@pytest.fixture
def ten(s3: Any, vault_bucket: str, tmp_path: Path, aws_env: MotoServer) -> Ten:
    world = make_world(s3, vault_bucket, tmp_path)
    world.release("1.0.0", SERVICES)
    world.release("1.1.0", SERVICES)
    env = world.env(SERVICES)
    assert world.deploy(env, "1.0.0").ok
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(
        bucket=vault_bucket,
        services="\n".join(f"  - name: {s}" for s in SERVICES),
        functions=", ".join(f"{s}: {f}" for s, f in env.functions.items()),
    ))
    return Ten(world, env, path, aws_env)


def wait_exit(proc: subprocess.Popen[str], deadline: float) -> int | None:
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize(
    ("signals", "code"),
    [
        # GitHub's cancel: SIGINT, then SIGTERM while the restore is under way.
        ([(signal.SIGINT, 0.0), (signal.SIGTERM, 0.3)], 130),
        ([(signal.SIGTERM, 0.0)], 143),
    ],
    ids=["sigint-then-sigterm", "sigterm"],
)
def test_a_cancelled_deploy_restores_every_moved_alias_and_records_it(
    ten: Ten, signals: list[tuple[signal.Signals, float]], code: int
) -> None:
    with AwsProxy(ten.moto.url, latency=0.1) as proxy:
        proc = subprocess.Popen(
            ten.command("deploy", "--config", str(ten.path), "--env", "dev",
                        "--version", "1.1.0", "--parallel", "2"),
            env=ten.env_vars(proxy), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            proxy.wait_for_moves(4, alive=proc)
            first = time.monotonic()
            for sig, after in signals:
                time.sleep(max(first + after - time.monotonic(), 0))
                proc.send_signal(sig)
            returncode = wait_exit(proc, first + GRACE_SECONDS)
        finally:
            if proc.poll() is None:
                proc.kill()  # what GitHub does after the grace period
        _out, err = proc.communicate()
        moved = set(proxy.moved)

    assert returncode == code, err
    assert set(ten.aliases().values()) == {"1"}, err  # every alias back on its old version
    assert 4 <= len(moved) < len(SERVICES)  # stopped mid-deploy: not every service started
    events = ten.events()
    assert [e.event for e in events] == ["deploy_failed", "rolled_back"], err
    failed, rolled = events
    first_signal = signal.Signals(signals[0][0]).name
    assert failed.details["cancelled"] == first_signal and failed.details["changed"] is True
    restored = {row["function"] for row in rolled.details["restored"]}
    assert restored == moved  # exactly the aliases that had moved
    assert all(row["version"] == "1" for row in rolled.details["restored"])
    assert f"the deploy to dev was cancelled ({first_signal})" in err
    assert "restored: " in err and "NOT restored" not in err


def test_credentials_that_expire_mid_deploy_name_every_alias_left_and_its_fix(
    ten: Ten, tmp_path: Path
) -> None:
    summary_file, output_file = tmp_path / "summary.md", tmp_path / "output"
    summary_file.touch()
    output_file.touch()
    with AwsProxy(ten.moto.url, latency=0.01, expire_after_alias_moves=4) as proxy:
        done = subprocess.run(
            ten.command("action", "deploy"),
            env=ten.env_vars(
                proxy, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary_file),
                GITHUB_OUTPUT=str(output_file), GITHUB_REPOSITORY="", INPUT_ENVIRONMENT="dev",
                INPUT_VERSION="1.1.0", INPUT_CONFIG=str(ten.path), INPUT_PARALLEL="8",
            ),
            capture_output=True, text=True, timeout=120, check=False,
        )
        moved = list(proxy.moved)

    assert done.returncode == 5, done.stdout + done.stderr  # infrastructure
    stuck = {f for f, version in ten.aliases().items() if version != "1"}
    assert stuck == set(moved) and len(stuck) == 4
    service_of = {f: s for s, f in ten.env.functions.items()}
    fixes = [
        f"aws lambda update-alias --function-name {f} --name live --function-version 1 "
        "--region us-east-1"
        for f in sorted(stuck, key=lambda f: SERVICES.index(service_of[f]))
    ]
    # The log: one error naming what is not restored, the fix for each, the ledger failure.
    (error,) = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert "NOT restored: " in error and "ExpiredTokenException" in error
    assert "the ledger did not record this: " in error and "ExpiredToken" in error
    for fix in fixes:
        assert fix in error
    others = set(ten.env.functions.values()) - stuck
    assert not [f for f in others if f"--function-name {f} " in error]  # exactly those four
    # The step summary: the same commands, one per line, ready to paste.
    summary = summary_file.read_text()
    assert "**NOT restored** — 4 aliases still serve v1.1.0" in summary
    block = summary.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == fixes
    assert "⚠️ The ledger did not record this deploy: ExpiredToken" in summary
    statuses = {row["function"]: row["status"] for row in
                __import__("json").loads(parse_outputs(output_file.read_text())["functions"])}
    assert {f for f, s in statuses.items() if s == "restore_failed"} == stuck
    # The printed commands really fix it (the AWS CLI, fresh credentials).
    for fix in block:
        subprocess.run(shlex.split(fix), check=True, capture_output=True, timeout=60,
                       env={**os.environ, "AWS_ENDPOINT_URL": ten.moto.url})
    assert set(ten.aliases().values()) == {"1"}
