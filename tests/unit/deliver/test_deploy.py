"""Deploys from the vault to Lambda on a real moto server: checks, retries, rollback, policy."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import uuid
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import GhaFiles, break_glass, make_vault_bucket
from vault_actions import cli, config
from vault_actions.cli.commands import deploy as deploy_command
from vault_actions.config import Environment
from vault_actions.context import RunContext
from vault_actions.deliver import release
from vault_actions.deliver.lambdas import DeployResult, deploy_release
from vault_actions.errors import ConfigError, DeployError, PromotionRefused, TamperError, VaultError
from vault_actions.integrations import aws
from vault_actions.promotion.journey import journey_of
from vault_actions.store.ledger import Ledger
from vault_actions.store.manifest import Manifest, Pin, artifact_key
from vault_actions.store.vault import Vault, b64_sha256

REGION = "us-east-1"
MAKERS = ("octocat", "dev@example.com")  # who made every release here: no approver
CTX = RunContext(
    actor="tester", repository=None, run_id=None, run_url=None, sha=None,
    server_url="https://github.com", api_url="https://api.github.com",
)


# ---------------------------------------------------------------- helpers


def small_zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", f"def handler(event, context):\n    return {text!r}\n")
    return buffer.getvalue()


def build_release(
    s3: Any, bucket: str, version: str, services: list[str], tmp_path: Path, region: str = REGION,
    people: tuple[str, ...] = MAKERS, ledger: Ledger | None = None, ctx: RunContext = CTX,
) -> Manifest:
    """A complete release in the vault: one small zip per service, then the manifest, and
    its built event (the pin, and ``people``: who authored and committed its commits)."""
    vault = Vault(s3, bucket, region)
    records = []
    for service in services:
        data = small_zip(f"{service} {version}")
        path = tmp_path / f"{service}-{version}.zip"
        path.write_bytes(data)
        records.append(vault.store_artifact(
            version, service, artifact_key(version, service), path, hashlib.sha256(data).hexdigest()
        ))
    manifest = Manifest(
        version=version, tag=f"v{version}", commit="c0ffee" * 6 + "abcd",
        built_at="2026-11-28T00:00:00+00:00", built_by="octocat", run_url=None,
        bucket=bucket, region=region, artifacts=tuple(records),
    )
    pin = Pin.of(manifest, vault.store_manifest(manifest))
    (ledger or Ledger(s3, bucket)).record(version, "built", None, ctx, commit=manifest.commit,
                                          details={**pin.to_details(), "people": list(people)})
    return manifest


def make_role(aws_env: Any) -> str:
    iam = aws.client("iam", REGION)
    name = f"lambda-{uuid.uuid4().hex[:8]}"
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }]})
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"])


def make_functions(lambda_: Any, role: str, names: list[str]) -> None:
    for name in names:
        lambda_.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
            Code={"ZipFile": small_zip("initial")},
        )


def alias_target(lambda_: Any, function: str, alias: str = "live") -> str | None:
    try:
        return str(lambda_.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])
    except lambda_.exceptions.ResourceNotFoundException:
        return None


def served_sha(lambda_: Any, function: str, alias: str = "live") -> str:
    config_ = lambda_.get_function_configuration(FunctionName=function, Qualifier=alias)
    return str(config_["CodeSha256"])


def versions_of(lambda_: Any, function: str) -> list[str]:
    listed = lambda_.list_versions_by_function(FunctionName=function)["Versions"]
    return [v["Version"] for v in listed]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def lambda_error(status: int, code: str, message: str = "injected") -> AWSResponse:
    """An error response shaped like Lambda's REST-JSON errors."""
    body = json.dumps({"Type": "User", "message": message}).encode()
    headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
    return AWSResponse("http://injected", status, headers, _Raw(body))


@dataclass
class Injector:
    """Answers chosen Lambda calls with canned errors (every attempt is recorded)."""

    seen: list[str]
    pending: dict[str, list[AWSResponse | None]]
    lock: threading.Lock

    def hook(self, request: Any, **_: Any) -> AWSResponse | None:
        with self.lock:
            self.seen.append(request.url)
            for function, queue in self.pending.items():
                if f"/functions/{function}/" in request.url and queue:
                    return queue.pop(0)
        return None


def inject(
    client: Any, operation: str, pending: dict[str, list[AWSResponse | None]]
) -> Injector:
    """Answer ``operation`` on the named functions with ``pending`` responses, in order.

    A None in the queue lets that call through to moto.
    """
    injector = Injector([], pending, threading.Lock())
    client.meta.events.register(f"before-send.lambda.{operation}", injector.hook)
    return injector


def calls_of(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every ``operation`` call made by ``client``."""
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.lambda.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


@dataclass
class World:
    """A vault bucket with releases, Lambda functions and the clients to look at them."""

    s3: Any
    lambda_: Any
    bucket: str
    role: str
    tmp_path: Path
    tag: str

    def names(self, services: list[str], env: str = "dev") -> dict[str, str]:
        return {s: f"{s}-{env}-{self.tag}" for s in services}

    def env(self, services: list[str], name: str = "dev", **kwargs: Any) -> Environment:
        functions = self.names(services, name)
        make_functions(self.lambda_, self.role, list(functions.values()))
        return Environment(name=name, region=REGION, bucket=self.bucket, functions=functions,
                           **kwargs)

    def release(self, version: str, services: list[str], **kwargs: Any) -> Manifest:
        return build_release(self.s3, self.bucket, version, services, self.tmp_path, **kwargs)

    def deploy(self, env: Environment, version: str, **kwargs: Any) -> DeployResult:
        vault = Vault(self.s3, self.bucket, REGION)
        return deploy_release(self.lambda_, vault, env, version, **kwargs)


def make_world(s3: Any, bucket: str, tmp_path: Path) -> World:
    return World(s3, aws.client("lambda", REGION), bucket, make_role(s3), tmp_path,
                 uuid.uuid4().hex[:6])


@pytest.fixture
def world(s3: Any, vault_bucket: str, tmp_path: Path) -> World:
    return make_world(s3, vault_bucket, tmp_path)


SERVICES = ["alpha", "beta", "gamma"]


# ---------------------------------------------------------------- deploy_release


def test_deploys_pinned_object_versions_publishes_and_creates_aliases(world: World) -> None:
    manifest = world.release("1.0.0", SERVICES)
    env = world.env(SERVICES)
    updates = calls_of(world.lambda_, "UpdateFunctionCode")
    publishes = calls_of(world.lambda_, "PublishVersion")

    result = world.deploy(env, "1.0.0")

    assert result.ok
    assert [s.status for s in result.services] == ["deployed"] * 3
    for record, outcome in zip(manifest.artifacts, result.services, strict=True):
        function = env.functions[record.service]
        assert outcome.function == function
        assert outcome.previous is None
        assert alias_target(world.lambda_, function) == outcome.function_version == "1"
        assert served_sha(world.lambda_, function) == record.code_sha256 == outcome.code_sha256
    by_function = {u["FunctionName"]: u for u in updates}
    for record in manifest.artifacts:
        update = by_function[env.functions[record.service]]
        assert update["S3Bucket"] == world.bucket
        assert update["S3Key"] == record.key
        assert update["S3ObjectVersion"] == record.version_id
        assert update["Publish"] is False
    shas = sorted(a.code_sha256 for a in manifest.artifacts)
    assert sorted(p["CodeSha256"] for p in publishes) == shas
    assert all(p["Description"] == "v1.0.0" for p in publishes)


def test_next_release_moves_existing_aliases(world: World) -> None:
    world.release("1.0.0", SERVICES)
    second = world.release("1.1.0", SERVICES)
    env = world.env(SERVICES)
    world.deploy(env, "1.0.0")

    result = world.deploy(env, "1.1.0")

    outcome = [(s.previous, s.function_version, s.status) for s in result.services]
    assert outcome == [("1", "2", "deployed")] * 3
    for record in second.artifacts:
        assert served_sha(world.lambda_, env.functions[record.service]) == record.code_sha256


def test_rerun_of_a_completed_deploy_changes_nothing(world: World) -> None:
    world.release("1.0.0", SERVICES)
    env = world.env(SERVICES)
    world.deploy(env, "1.0.0")
    updates = calls_of(world.lambda_, "UpdateFunctionCode")
    publishes = calls_of(world.lambda_, "PublishVersion")

    result = world.deploy(env, "1.0.0")

    assert result.ok
    assert [(s.status, s.function_version) for s in result.services] == [("unchanged", "1")] * 3
    assert updates == [] and publishes == []
    assert all(versions_of(world.lambda_, f) == ["$LATEST", "1"] for f in env.functions.values())


def test_object_rewritten_behind_the_vault_is_refused_and_nothing_changes(world: World) -> None:
    manifest = world.release("1.0.0", SERVICES)
    env = world.env(SERVICES)
    world.s3.put_object(Bucket=world.bucket, Key=manifest.artifacts[1].key, Body=small_zip("evil"))
    before = {f: served_sha(world.lambda_, f, "$LATEST") for f in env.functions.values()}

    refused = r"v1\.0\.0/beta\.zip is now object version .* but the manifest recorded"
    with pytest.raises(TamperError, match=refused):
        world.deploy(env, "1.0.0")

    for function in env.functions.values():
        assert served_sha(world.lambda_, function, "$LATEST") == before[function]
        assert versions_of(world.lambda_, function) == ["$LATEST"]
        assert alias_target(world.lambda_, function) is None


def test_object_replaced_during_the_deploy_is_caught_by_code_sha256(world: World) -> None:
    """moto ignores S3ObjectVersion and serves the newest bytes: the CodeSha256 check must fail."""
    manifest = world.release("1.0.0", SERVICES)
    world.release("1.1.0", SERVICES)
    env = world.env(SERVICES)
    world.deploy(env, "1.0.0")
    beta_key = artifact_key("1.1.0", "beta")
    evil = small_zip("evil")  # once: a zip's bytes carry the time it was written

    def swap(request: Any, **_: Any) -> None:
        if f"/functions/{env.functions['beta']}/" in request.url:
            world.s3.put_object(Bucket=world.bucket, Key=beta_key, Body=evil)

    world.lambda_.meta.events.register("before-send.lambda.UpdateFunctionCode", swap)

    result = world.deploy(env, "1.1.0")

    assert not result.ok
    beta = next(s for s in result.services if s.service == "beta")
    assert beta.status == "failed"
    assert beta.error is not None
    assert "runs code with CodeSha256" in beta.error and b64_sha256(evil) in beta.error
    for record in manifest.artifacts:
        function = env.functions[record.service]
        assert alias_target(world.lambda_, function) == "1"
        assert served_sha(world.lambda_, function) == record.code_sha256


def test_deleted_object_is_refused_and_nothing_changes(world: World) -> None:
    manifest = world.release("1.0.0", SERVICES)
    env = world.env(SERVICES)
    world.s3.delete_object(Bucket=world.bucket, Key=manifest.artifacts[2].key)

    with pytest.raises(VaultError, match=r"v1\.0\.0/gamma\.zip"):
        world.deploy(env, "1.0.0")

    assert all(versions_of(world.lambda_, f) == ["$LATEST"] for f in env.functions.values())


def test_all_missing_functions_are_named_and_nothing_changes(world: World) -> None:
    world.release("1.0.0", SERVICES)
    env = world.env(["beta"])
    env = Environment(name="dev", region=REGION, bucket=world.bucket,
                      functions={**world.names(SERVICES), "beta": env.functions["beta"]})

    with pytest.raises(DeployError) as caught:
        world.deploy(env, "1.0.0")

    message = str(caught.value)
    assert "2 functions missing in environment 'dev'" in message
    assert f"alpha → alpha-dev-{world.tag}" in message
    assert f"gamma → gamma-dev-{world.tag}" in message
    assert "nothing was changed" in message
    assert versions_of(world.lambda_, env.functions["beta"]) == ["$LATEST"]
    assert alias_target(world.lambda_, env.functions["beta"]) is None


def test_bucket_in_another_region_is_refused(world: World) -> None:
    bucket = make_vault_bucket(world.s3, f"vault-eu-{world.tag}", region="eu-west-1")
    build_release(world.s3, bucket, "1.0.0", SERVICES, world.tmp_path, region="eu-west-1")
    env = world.env(SERVICES)
    env = Environment(name="dev", region=REGION, bucket=bucket, functions=env.functions)

    refused = f"bucket '{bucket}' is in eu-west-1, but Lambda only reads code from its own region"
    with pytest.raises(DeployError, match=refused):
        deploy_release(world.lambda_, Vault(world.s3, bucket, "eu-west-1"), env, "1.0.0")

    assert all(versions_of(world.lambda_, f) == ["$LATEST"] for f in env.functions.values())


def test_update_in_progress_conflicts_are_retried(world: World) -> None:
    world.release("1.0.0", SERVICES)
    env = world.env(SERVICES)
    beta = env.functions["beta"]
    conflict = "The operation cannot be performed at this time. An update is in progress"
    injector = inject(world.lambda_, "UpdateFunctionCode", {
        beta: [lambda_error(409, "ResourceConflictException", conflict)] * 2,
    })

    result = world.deploy(env, "1.0.0")

    assert result.ok
    assert sum(f"/functions/{beta}/" in url for url in injector.seen) == 3
    assert alias_target(world.lambda_, beta) == "1"


def test_throttling_is_retried(world: World) -> None:
    world.release("1.0.0", ["alpha"])
    env = world.env(["alpha"])
    alpha = env.functions["alpha"]
    injector = inject(world.lambda_, "PublishVersion", {
        alpha: [lambda_error(429, "TooManyRequestsException", "Rate exceeded")] * 2,
    })

    result = world.deploy(env, "1.0.0")

    assert result.ok
    assert len(injector.seen) == 3
    assert alias_target(world.lambda_, alpha) == "1"


FIVE = ["s1", "s2", "s3", "s4", "s5"]


def test_failure_on_the_third_of_five_restores_the_first_two(world: World) -> None:
    first = world.release("1.0.0", FIVE)
    world.release("1.1.0", FIVE)
    env = world.env(FIVE)
    world.deploy(env, "1.0.0")
    inject(world.lambda_, "UpdateFunctionCode", {
        env.functions["s3"]: [lambda_error(400, "InvalidParameterValueException", "zip too large")],
    })

    result = world.deploy(env, "1.1.0", parallel=1)

    assert not result.ok
    statuses = [s.status for s in result.services]
    assert statuses == ["restored", "restored", "failed", "skipped", "skipped"]
    assert [s.function_version for s in result.having("restored")] == ["1", "1"]
    assert "InvalidParameterValueException: zip too large" in (result.services[2].error or "")
    for record in first.artifacts:
        function = env.functions[record.service]
        assert alias_target(world.lambda_, function) == "1"
        assert served_sha(world.lambda_, function) == record.code_sha256
    assert versions_of(world.lambda_, env.functions["s4"]) == ["$LATEST", "1"]


def test_parallel_failure_restores_every_alias_and_removes_new_ones(world: World) -> None:
    world.release("1.0.0", FIVE[:2])
    world.release("1.1.0", FIVE)
    env = world.env(FIVE)
    world.deploy(Environment(name="dev", region=REGION, bucket=world.bucket,
                             functions={s: env.functions[s] for s in FIVE[:2]}), "1.0.0")
    inject(world.lambda_, "PublishVersion", {
        env.functions["s5"]: [lambda_error(400, "CodeStorageExceededException", "storage full")],
    })

    result = world.deploy(env, "1.1.0", parallel=8)

    assert not result.ok
    statuses = {s.service: s.status for s in result.services}
    assert statuses["s5"] == "failed"
    assert set(statuses.values()) <= {"restored", "failed", "skipped"}
    aliases = [alias_target(world.lambda_, env.functions[s]) for s in FIVE]
    assert aliases == ["1", "1", None, None, None]


def test_an_alias_that_cannot_be_restored_is_reported_with_the_fix(world: World) -> None:
    world.release("1.0.0", SERVICES)
    world.release("1.1.0", SERVICES)
    env = world.env(SERVICES)
    world.deploy(env, "1.0.0")
    alpha, beta = env.functions["alpha"], env.functions["beta"]
    inject(world.lambda_, "UpdateFunctionCode", {
        beta: [lambda_error(400, "InvalidParameterValueException", "bad zip")],
    })
    inject(world.lambda_, "UpdateAlias", {
        alpha: [None, lambda_error(403, "AccessDeniedException", "not allowed")],
    })

    result = world.deploy(env, "1.1.0", parallel=1)

    assert [s.status for s in result.services] == ["restore_failed", "failed", "skipped"]
    assert alias_target(world.lambda_, alpha) == "2"
    with pytest.raises(DeployError) as caught:
        release.check_result(result)
    assert f"NOT restored: {alpha}:live (AccessDeniedException: not allowed)" in str(caught.value)
    assert caught.value.hint == (
        "the environment serves a mixed release: point those aliases back by hand:\n"
        f"    aws lambda update-alias --function-name {alpha} --name live --function-version 1"
        " --region us-east-1"
    )


def test_parallel_must_be_positive(world: World) -> None:
    world.release("1.0.0", ["alpha"])
    with pytest.raises(ConfigError, match="parallel is 0"):
        world.deploy(world.env(["alpha"]), "1.0.0", parallel=0)


# ---------------------------------------------------------------- the command and the policy


VAULT_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
  protected: false
services:
  - name: alpha
  - name: beta
environments:
{environments}
"""


def env_yml(name: str, tag: str, extra: str = "") -> str:
    return (
        f"  - name: {name}\n"
        f"    functions: {{alpha: alpha-{name}-{tag}, beta: beta-{name}-{tag}}}\n"
        f"    smoke: {{base-url: 'https://{name}.example.com'}}\n{extra}"
    )


PIPELINE = [("dev", ""), ("qa", ""), ("uat", "    gate: {approvers: [qa-lead, po]}\n"),
            ("prod", "    gate: {approvers: [boss]}\n")]


@dataclass
class Pipeline:
    """A vault.yml with DEV → QA → UAT (gate) → PROD (gate, boss), functions and a ledger."""

    world: World
    path: Path
    cfg: config.Config
    ledger: Ledger

    def functions(self, env: str) -> list[str]:
        return list(self.cfg.environment(env).functions.values())

    def deploy(self, env: str, version: str = "1.0.0") -> DeployResult:
        return deploy_command.deploy(str(self.path), version, env, 4).deploy

    def passed(self, env: str, version: str = "1.0.0") -> None:
        self.ledger.record(version, "smoke_passed", env, CTX)

    def approve(self, env: str, by: str, version: str = "1.0.0") -> None:
        self.ledger.record(version, "approved", env, CTX, details={"by": by})

    def events(self, version: str = "1.0.0") -> list[tuple[str, str | None]]:
        """What happened after the build."""
        return [(e.event, e.environment) for e in self.ledger.events(version)
                if e.event != "built"]


def make_pipeline(world: World) -> Pipeline:
    """The four environments' functions, and release 1.0.0 of alpha and beta in the vault."""
    environments = "".join(env_yml(name, world.tag, extra) for name, extra in PIPELINE)
    path = world.tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=world.bucket, environments=environments) + break_glass())
    cfg = config.load(path)
    for env in cfg.environments:
        make_functions(world.lambda_, world.role, list(env.functions.values()))
    world.release("1.0.0", ["alpha", "beta"])
    return Pipeline(world, path, cfg, Ledger(world.s3, world.bucket))


@pytest.fixture
def pipeline(world: World, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return make_pipeline(world)


def test_full_promotion_dev_qa_uat_prod(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["deploy", "--env", "dev", "--version", "v1.0.0", "--config", str(pipeline.path)]
    code = cli.main([*argv, "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["environment"] == "dev" and data["version"] == "1.0.0"
    pipeline.passed("dev")
    pipeline.deploy("qa")
    pipeline.passed("qa")
    pipeline.approve("uat", "qa-lead")
    pipeline.deploy("uat")
    pipeline.passed("uat")
    pipeline.approve("prod", "boss")
    result = pipeline.deploy("prod")

    assert result.ok
    manifest = Vault(pipeline.world.s3, pipeline.world.bucket, REGION).require_manifest("1.0.0")
    shas = {a.service: a.code_sha256 for a in manifest.artifacts}
    for env in pipeline.cfg.environments:
        for service, function in env.functions.items():
            assert served_sha(pipeline.world.lambda_, function) == shas[service]
    assert [e for e in pipeline.events() if e[0] == "deployed"] == [
        ("deployed", "dev"), ("deployed", "qa"), ("deployed", "uat"), ("deployed", "prod"),
    ]
    deployed = journey_of(pipeline.ledger, "1.0.0").last("deployed", "prod")
    assert deployed is not None and deployed.commit == manifest.commit
    assert {f["service"]: f["code_sha256"] for f in deployed.details["functions"]} == shas
    assert {f["version"] for f in deployed.details["functions"]} == {"1"}


def test_skipping_qa_is_refused_and_nothing_changes(pipeline: Pipeline) -> None:
    pipeline.deploy("dev")
    pipeline.passed("dev")
    pipeline.approve("uat", "qa-lead")

    refused = "v1.0.0 has never been deployed to qa; uat only takes versions that passed qa"
    with pytest.raises(PromotionRefused, match=re.escape(refused)):
        pipeline.deploy("uat")

    assert all(alias_target(pipeline.world.lambda_, f) is None for f in pipeline.functions("uat"))
    assert ("deploy_failed", "uat") not in pipeline.events()


def test_a_dead_version_is_refused(pipeline: Pipeline) -> None:
    pipeline.deploy("dev")
    pipeline.ledger.record("1.0.0", "smoke_failed", "dev", CTX,
                           details={"reason": "GET /health → 500"})

    with pytest.raises(PromotionRefused, match=r"v1\.0\.0 is dead: smoke_failed in dev"):
        pipeline.deploy("qa")
    with pytest.raises(PromotionRefused, match="is dead"):
        pipeline.deploy("dev")

    assert all(alias_target(pipeline.world.lambda_, f) is None for f in pipeline.functions("qa"))


def test_prod_without_approval_is_refused(pipeline: Pipeline) -> None:
    for env in ("dev", "qa"):
        pipeline.deploy(env)
        pipeline.passed(env)
    pipeline.approve("uat", "qa-lead")
    pipeline.deploy("uat")
    pipeline.passed("uat")
    pipeline.approve("prod", "intern")

    refused = "approved for prod only by intern, who may not approve it"
    with pytest.raises(PromotionRefused, match=refused):
        pipeline.deploy("prod")

    assert all(alias_target(pipeline.world.lambda_, f) is None for f in pipeline.functions("prod"))


def test_command_rerun_records_nothing_new(pipeline: Pipeline) -> None:
    pipeline.deploy("dev")
    pipeline.passed("dev")

    again = pipeline.deploy("dev")

    assert [s.status for s in again.services] == ["unchanged", "unchanged"]
    assert pipeline.events() == [("deployed", "dev"), ("smoke_passed", "dev")]
    assert journey_of(pipeline.ledger, "1.0.0").passed("dev")


def failing_lambda(monkeypatch: pytest.MonkeyPatch, function: str, error: AWSResponse) -> None:
    """Make the command's own Lambda client fail UpdateFunctionCode on ``function``."""
    real = aws.client

    def client(service: str, region: str | None = None) -> Any:
        built = real(service, region)
        if service == "lambda":
            inject(built, "UpdateFunctionCode", {function: [error]})
        return built

    monkeypatch.setattr(aws, "client", client)


def test_failed_deploy_is_rolled_back_and_recorded(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, gha_env: GhaFiles
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY")
    pipeline.world.release("1.1.0", ["alpha", "beta"])
    pipeline.deploy("dev", "1.0.0")
    beta = pipeline.cfg.environment("dev").functions["beta"]
    bad_zip = lambda_error(400, "InvalidParameterValueException", "bad zip")
    failing_lambda(monkeypatch, beta, bad_zip)
    for name, value in {"ENVIRONMENT": "dev", "VERSION": "v1.1.0", "PARALLEL": "1",
                        "CONFIG": str(pipeline.path)}.items():
        monkeypatch.setenv(f"INPUT_{name}", value)

    with pytest.raises(DeployError) as caught:
        deploy_command.run_action()

    alpha = pipeline.cfg.environment("dev").functions["alpha"]
    assert str(caught.value).startswith(
        f"v1.1.0 failed to deploy to dev: beta ({beta}): InvalidParameterValueException: bad zip; "
        f"restored: {alpha}:live → 1"
    )
    assert "the environment serves its previous release" in str(caught.value)
    assert [alias_target(pipeline.world.lambda_, f) for f in (alpha, beta)] == ["1", "1"]
    assert pipeline.events("1.1.0") == [("deploy_failed", "dev"), ("rolled_back", "dev")]
    rolled = journey_of(pipeline.ledger, "1.1.0").last("rolled_back", "dev")
    assert rolled is not None
    assert rolled.details["restored"] == [{
        "service": "alpha", "function": alpha, "alias": "live", "version": "1",
        "code_sha256": rolled.details["restored"][0]["code_sha256"], "status": "restored",
    }]
    summary = gha_env.summary_text()
    assert "### ⛔ Deploy: v1.1.0 → dev" in summary
    assert f"| beta | `{beta}` | `live` → 1 |" in summary and "| failed |" in summary
    functions = json.loads(gha_env.outputs()["functions"])
    statuses = [(f["service"], f["status"]) for f in functions]
    assert statuses == [("alpha", "restored"), ("beta", "failed")]


def test_refused_precheck_is_recorded_as_deploy_failed(pipeline: Pipeline) -> None:
    missing = pipeline.cfg.environment("dev").functions["beta"]
    pipeline.world.lambda_.delete_function(FunctionName=missing)

    with pytest.raises(DeployError, match="1 function missing in environment 'dev'"):
        pipeline.deploy("dev")

    failed = journey_of(pipeline.ledger, "1.0.0").last("deploy_failed", "dev")
    assert failed is not None and failed.details["changed"] is False
    assert missing in failed.details["error"]


# ------------------------------------------- issue 10: what the vault and ledger can prove


def attacker_rewrites_release(world: World, version: str) -> bytes:
    """With a plain put_object (no If-None-Match: the bucket policy would refuse it on
    AWS, moto does not), replace every zip of ``version`` and its manifest so that they
    agree with each other: a new manifest naming the attacker's zips and their digests."""
    vault = Vault(world.s3, world.bucket, REGION)
    manifest = vault.require_manifest(version)
    evil = small_zip("evil")
    records = []
    for record in manifest.artifacts:
        put = world.s3.put_object(Bucket=world.bucket, Key=record.key, Body=evil,
                                  ChecksumAlgorithm="SHA256")
        records.append(replace(record, sha256=hashlib.sha256(evil).hexdigest(),
                               code_sha256=b64_sha256(evil), size=len(evil),
                               version_id=put["VersionId"]))
    forged = replace(manifest, artifacts=tuple(records))
    world.s3.put_object(Bucket=world.bucket, Key=f"v{version}/manifest.json",
                        Body=forged.dumps())
    return evil


def test_rewritten_manifest_and_zips_are_refused_and_nothing_changes(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 4: today the attacker's bytes deploy with exit 0."""
    evil = attacker_rewrites_release(pipeline.world, "1.0.0")
    argv = ["deploy", "--env", "dev", "--version", "1.0.0", "--config", str(pipeline.path)]

    code = cli.main(argv)

    assert code != 0
    err = capsys.readouterr().err
    assert "put-once objects never get a second S3 version" in err
    assert "v1.0.0/manifest.json (2 versions)" in err
    for function in pipeline.functions("dev"):
        assert alias_target(pipeline.world.lambda_, function) is None
        assert served_sha(pipeline.world.lambda_, function, "$LATEST") != b64_sha256(evil)
    assert pipeline.events() == []


def test_a_manifest_that_is_not_the_pinned_one_is_refused(pipeline: Pipeline) -> None:
    """Finding 4: even with a single S3 version, the manifest must be the one the built
    event pinned (here: the built event names another manifest digest)."""
    world = pipeline.world
    vault = Vault(world.s3, world.bucket, REGION)
    world.release("1.1.0", ["alpha", "beta"])
    found = vault.manifest_object("1.1.0")
    assert found is not None
    manifest, version_id = found
    pin = Pin.of(manifest, version_id)
    forged = Pin(pin.manifest_version_id, pin.manifest_sha256,
                 {**pin.artifacts, "alpha": "0" * 64})
    built = journey_of(pipeline.ledger, "1.1.0").last("built")
    assert built is not None
    with pytest.raises(TamperError, match="is not the manifest its build recorded"):
        vault.pinned_manifest("1.1.0", forged)
    assert vault.pinned_manifest("1.1.0", pin) == manifest


def test_a_bucket_without_its_protections_is_refused_unless_marked_unprotected(
    pipeline: Pipeline,
) -> None:
    """Finding 4: the test buckets have versioning and object lock but no bucket policy."""
    protected = pipeline.path.read_text().replace("  protected: false\n", "")
    pipeline.path.write_text(protected)

    with pytest.raises(VaultError, match=r"is not protected: it lacks .*the put-once bucket policy"):
        pipeline.deploy("dev")

    assert pipeline.events() == []
    assert all(alias_target(pipeline.world.lambda_, f) is None for f in pipeline.functions("dev"))


def test_a_version_never_built_records_nothing(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 6: a typo'd version used to leave a permanent deploy_failed event."""
    argv = ["deploy", "--env", "dev", "--version", "9.9.9", "--config", str(pipeline.path)]

    assert cli.main(argv) != 0

    assert "v9.9.9 was never built" in capsys.readouterr().err
    assert pipeline.ledger.events("9.9.9") == []
    keys = pipeline.world.s3.list_object_versions(Bucket=pipeline.world.bucket,
                                                  Prefix="ledger/v9.9.9/")
    assert "Versions" not in keys
    assert cli.main(["status", "--json", "--config", str(pipeline.path)]) == 0
    assert "9.9.9" not in capsys.readouterr().out


def test_an_older_version_never_replaces_a_newer_one(pipeline: Pipeline) -> None:
    """Finding 8: an older approved version replaced a newer one in prod with exit 0."""
    world = pipeline.world
    world.release("1.1.0", ["alpha", "beta"])
    for version in ("1.0.0", "1.1.0"):
        for env in ("dev", "qa"):
            pipeline.deploy(env, version)
            pipeline.passed(env, version)
    newer = {f: alias_target(world.lambda_, f) for f in pipeline.functions("qa")}

    with pytest.raises(PromotionRefused, match=re.escape(
        "qa runs v1.1.0, which is newer than v1.0.0: a deploy never downgrades"
    )):
        pipeline.deploy("qa", "1.0.0")

    assert {f: alias_target(world.lambda_, f) for f in pipeline.functions("qa")} == newer
    assert pipeline.events("1.0.0").count(("deployed", "qa")) == 1


def test_action_outputs_and_step_summary(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, gha_env: GhaFiles
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY")
    for name, value in {"ENVIRONMENT": "dev", "VERSION": "1.0.0", "PARALLEL": "2",
                        "CONFIG": str(pipeline.path)}.items():
        monkeypatch.setenv(f"INPUT_{name}", value)

    result = deploy_command.run_action()

    outputs = gha_env.outputs()
    assert outputs["version"] == "1.0.0"
    functions = json.loads(outputs["functions"])
    dev = pipeline.cfg.environment("dev").functions
    rows = [(f["service"], f["function"], f["alias"], f["version"], f["status"]) for f in functions]
    assert rows == [
        ("alpha", dev["alpha"], "live", "1", "deployed"),
        ("beta", dev["beta"], "live", "1", "deployed"),
    ]
    summary = gha_env.summary_text()
    assert "### 🚀 Deploy: v1.0.0 → dev" in summary
    assert "| service | function | alias → version | CodeSha256 | status |" in summary
    sha = functions[0]["code_sha256"]
    assert f"| alpha | `{dev['alpha']}` | `live` → 1 | `{sha}` | deployed |" in summary
    assert result.exit_code == 0 and "alpha" in result.text


@pytest.mark.parametrize("raw", ["0", "-1", "many", ""])
def test_parallel_input_is_parsed_strictly(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_PARALLEL", raw)
    monkeypatch.setenv("INPUT_ENVIRONMENT", "dev")
    monkeypatch.setenv("INPUT_VERSION", "1.0.0")
    with pytest.raises(ConfigError, match="input 'parallel' is"):
        deploy_command.run_action()



def test_the_last_environments_summary_has_the_delivery_metrics(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for env, approver in (("dev", None), ("qa", None), ("uat", "qa-lead")):
        if approver:
            pipeline.approve(env, approver)
        pipeline.deploy(env)
        pipeline.passed(env)
    pipeline.approve("prod", "boss")
    for name, value in {"ENVIRONMENT": "uat", "VERSION": "1.0.0", "CONFIG": str(pipeline.path)
                        }.items():
        monkeypatch.setenv(f"INPUT_{name}", value)
    deploy_command.run_action()  # a rerun in uat: not the last environment
    assert "Delivery metrics" not in summary.read_text()

    monkeypatch.setenv("INPUT_ENVIRONMENT", "prod")
    deploy_command.run_action()

    text = summary.read_text()
    assert "### Delivery metrics (prod, " in text
    assert "| Deployment frequency | 0.08 per week | 1 in 90.0 days |" in text
    assert "| Change failure rate | 0% | 0 of 1 changes |" in text


def test_a_deploys_ledger_reads_are_its_versions_events_plus_five_at_most(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: 60 other releases in the ledger cost the deploy nothing."""
    from tests.ledger_seed import seed

    seed(pipeline.ledger, 60, major=0)  # older releases: 1.0.0 is no downgrade
    pipeline.deploy("dev")
    pipeline.passed("dev")
    reads: list[str] = []
    made = aws.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        found = made(service, *args, **kwargs)
        if service == "s3":
            found.meta.events.register(
                "before-send.s3.*", lambda request, **_: reads.append(request.url)
                if request.method == "GET" and "ledger" in request.url else None)
        return found

    monkeypatch.setattr(aws, "client", client)
    before = len(pipeline.ledger.events("1.0.0"))
    assert pipeline.deploy("qa").ok
    assert len(reads) <= before + 5, "\n".join(r.split("?")[0][-70:] + "?" + r.split("?")[-1][:40] for r in reads)
