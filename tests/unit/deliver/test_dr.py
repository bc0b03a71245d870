"""DR sync on a real moto server: vault in us-east-1, DR bucket and functions in us-west-2."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.conftest import GhaFiles, break_glass, make_vault_bucket
from tests.unit.deliver.test_deploy import (
    CTX,
    alias_target,
    build_release,
    failing_lambda,
    lambda_error,
    make_functions,
    make_role,
    served_sha,
    small_zip,
    versions_of,
)
from tests.unit.integrations.test_github import deployment, status
from vault_actions import cli, config
from vault_actions.cli.commands import dr_sync
from vault_actions.deliver import dr
from vault_actions.errors import (
    ConfigError,
    DeployError,
    ImmutableVersionError,
    PromotionRefused,
    TamperError,
    VaultError,
)
from vault_actions.integrations import aws
from vault_actions.promotion.journey import journey_of
from vault_actions.promotion.live import Reader
from vault_actions.store.ledger import Ledger
from vault_actions.store.manifest import Manifest, manifest_key
from vault_actions.store.vault import Vault

DR_REGION = "us-west-2"
SERVICES = ["alpha", "beta"]

VAULT_YML = """\
vault:
  bucket: {vault}
  region: us-east-1
services:
  - name: alpha
  - name: beta
environments:
  - name: dev
    functions: {{alpha: alpha-dev, beta: beta-dev}}
  - name: qa
    functions: {{alpha: alpha-qa, beta: beta-qa}}
  - name: uat
    gate: {{approvers: [qa-lead]}}
    functions: {{alpha: alpha-uat, beta: beta-uat}}
  - name: prod
    gate: {{approvers: [boss]}}
    functions: {{alpha: alpha-prod, beta: beta-prod}}
    smoke: {{base-url: 'https://api.example.com', checks: [{{path: /health}}]}}
  - name: dr
    mirror-of: prod
    region: {dr_region}
    bucket: {dr_bucket}
    functions: {{alpha: {alpha}, beta: {beta}}}
"""


@dataclass
class World:
    """A vault with release 1.0.0, a DR bucket, DR functions and vault.yml naming them."""

    s3: Any
    dr_s3: Any
    lambda_: Any
    vault: str
    dr_bucket: str
    path: Path
    tmp_path: Path
    ledger: Ledger

    @property
    def cfg(self) -> config.Config:
        return config.load(self.path)

    @property
    def functions(self) -> dict[str, str]:
        return self.cfg.environment("dr").functions

    def release(self, version: str) -> Manifest:
        return build_release(self.s3, self.vault, version, SERVICES, self.tmp_path)

    def promote(self, version: str, *, through: str = "prod") -> None:
        """Record the journey of ``version`` through the promotion order up to ``through``."""
        for env in ("dev", "qa", "uat", "prod"):
            if env in ("uat", "prod"):
                self.ledger.record(version, "approved", env, CTX,
                                   details={"by": "boss" if env == "prod" else "qa-lead"})
            self.ledger.record(version, "deployed", env, CTX)
            self.ledger.record(version, "smoke_passed", env, CTX)
            if env == through:
                return

    def sync(self, version: str | None = None) -> dr.SyncResult:
        cfg = self.cfg
        mirror = cfg.environment("dr")
        plan = dr.plan(cfg, mirror, Reader(cfg, self.ledger), version)
        return dr.sync(
            plan,
            vault=Vault(self.s3, self.vault, "us-east-1"),
            dr_vault=Vault(self.dr_s3, mirror.bucket, mirror.region),
            lambda_=self.lambda_, ledger=self.ledger, ctx=CTX, parallel=2,
        )

    def dr_objects(self) -> list[tuple[str, str]]:
        """(key, VersionId) of every object version in the DR bucket."""
        listed = self.dr_s3.list_object_versions(Bucket=self.dr_bucket).get("Versions", [])
        return sorted((v["Key"], v["VersionId"]) for v in listed)

    def events(self, version: str = "1.0.0", env: str = "dr") -> list[str]:
        return [e.event for e in self.ledger.events(version) if e.environment == env]


def make_world(s3: Any, tmp_path: Path, *, dr_region: str = DR_REGION) -> World:
    tag = uuid.uuid4().hex[:8]
    vault = make_vault_bucket(s3, f"vault-{tag}")
    dr_bucket = make_vault_bucket(s3, f"vault-dr-{tag}", dr_region)
    lambda_ = aws.client("lambda", DR_REGION)
    names = {s: f"{s}-dr-{tag}" for s in SERVICES}
    make_functions(lambda_, make_role(s3), list(names.values()))
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(vault=vault, dr_region=DR_REGION, dr_bucket=dr_bucket,
                                     **names) + break_glass())
    world = World(s3, aws.client("s3", DR_REGION), lambda_, vault, dr_bucket, path, tmp_path,
                  Ledger(s3, vault))
    world.release("1.0.0")
    return world


@pytest.fixture
def world(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return make_world(s3, tmp_path)


def put_keys(client: Any) -> list[str]:
    """The keys of every PutObject ``client`` makes, in order."""
    seen: list[str] = []
    client.meta.events.register("provide-client-params.s3.PutObject",
                                lambda params, **_: seen.append(params["Key"]))
    return seen


def status_lag(world: World, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["status", "--config", str(world.path), "--json"]) == 0
    lags: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["dr_lag"]
    return lags


# ---------------------------------------------------------------- the sync


def test_sync_copies_the_exact_bytes_deploys_and_records_dr_synced(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.promote("1.0.0")
    assert [lag["mirror"] for lag in status_lag(world, capsys)] == ["dr"]

    result = world.sync()

    primary = Vault(world.s3, world.vault).require_manifest("1.0.0")
    assert result.ok and result.version == "1.0.0" and result.recorded is not None
    for record in primary.artifacts:
        original = world.s3.get_object(Bucket=world.vault, Key=record.key,
                                       VersionId=record.version_id)["Body"].read()
        copy = world.dr_s3.get_object(Bucket=world.dr_bucket, Key=record.key,
                                      ChecksumMode="ENABLED")
        assert copy["Body"].read() == original
        assert (copy["ChecksumSHA256"], copy["ContentLength"]) == (record.code_sha256, record.size)
    dr_manifest = Vault(world.dr_s3, world.dr_bucket).require_manifest("1.0.0")
    versions = dict(world.dr_objects())
    assert (dr_manifest.bucket, dr_manifest.region) == (world.dr_bucket, DR_REGION)
    assert {a.key: a.version_id for a in dr_manifest.artifacts} == {
        k: v for k, v in versions.items() if k.endswith(".zip")
    }
    assert dr_manifest.artifacts == tuple(
        replace(a, version_id=versions[a.key]) for a in primary.artifacts
    )
    assert (dr_manifest.commit, dr_manifest.built_at) == (primary.commit, primary.built_at)
    shas = {a.service: a.code_sha256 for a in primary.artifacts}
    for service, function in world.functions.items():
        assert served_sha(world.lambda_, function) == shas[service]
    synced = journey_of(world.ledger, "1.0.0").last("dr_synced", "dr")
    assert synced is not None and synced.commit == primary.commit
    assert synced.details["bucket"] == world.dr_bucket
    assert synced.details["region"] == DR_REGION
    assert {f["function"]: (f["version"], f["code_sha256"])
            for f in synced.details["functions"]} == {
        world.functions[s]: ("1", shas[s]) for s in SERVICES
    }
    assert status_lag(world, capsys) == []


def test_the_dr_manifest_is_written_last(world: World) -> None:
    world.promote("1.0.0")
    written = put_keys(world.dr_s3)

    world.sync()

    assert sorted(written[:-1]) == ["v1.0.0/alpha.zip", "v1.0.0/beta.zip"]
    assert written[-1] == manifest_key("1.0.0")


def test_running_twice_changes_nothing(world: World) -> None:
    world.promote("1.0.0")
    world.sync()
    objects = world.dr_objects()
    lambdas = {f: versions_of(world.lambda_, f) for f in world.functions.values()}
    written = put_keys(world.dr_s3)

    again = world.sync()

    assert again.ok and again.recorded is None
    assert [o.status for o in again.objects] == ["present", "present", "present"]
    assert [s.status for s in again.deploy.services] == ["unchanged", "unchanged"]
    assert written == []
    assert world.dr_objects() == objects
    assert {f: versions_of(world.lambda_, f) for f in world.functions.values()} == lambdas
    assert world.events() == ["dr_synced"]


def test_a_version_not_live_in_prod_is_refused(world: World) -> None:
    world.promote("1.0.0")
    world.release("1.1.0")
    world.promote("1.1.0", through="uat")

    refused = "only a version live in PROD may be synced to dr; live in prod: v1.0.0"
    with pytest.raises(PromotionRefused, match=re.escape(refused)):
        world.sync("1.1.0")

    assert world.dr_objects() == []
    assert world.events("1.1.0") == []


def test_a_dead_version_is_refused(world: World) -> None:
    world.promote("1.0.0")
    world.ledger.record("1.0.0", "smoke_failed", "prod", CTX, details={"reason": "500"})

    with pytest.raises(PromotionRefused, match=r"v1\.0\.0 is dead: smoke_failed in prod"):
        world.sync()

    assert world.dr_objects() == []


def test_prod_smoke_must_have_passed(world: World) -> None:
    world.promote("1.0.0", through="uat")
    world.ledger.record("1.0.0", "approved", "prod", CTX, details={"by": "boss"})
    world.ledger.record("1.0.0", "deployed", "prod", CTX)

    with pytest.raises(PromotionRefused, match="has not passed its smoke test"):
        world.sync()

    assert world.dr_objects() == []


def test_nothing_live_in_prod_is_refused(world: World) -> None:
    world.promote("1.0.0", through="qa")

    with pytest.raises(PromotionRefused, match="nothing is live in prod"):
        world.sync()


def test_a_tampered_vault_object_is_refused_before_anything_is_copied(world: World) -> None:
    world.promote("1.0.0")
    world.s3.put_object(Bucket=world.vault, Key="v1.0.0/beta.zip", Body=small_zip("evil"),
                        ChecksumAlgorithm="SHA256")

    with pytest.raises(TamperError, match="something wrote to the vault behind its back"):
        world.sync()

    assert world.dr_objects() == []
    assert world.events() == ["deploy_failed"]
    failed = journey_of(world.ledger, "1.0.0").last("deploy_failed", "dr")
    assert failed is not None and failed.details["changed"] is False
    assert all(alias_target(world.lambda_, f) is None for f in world.functions.values())


def test_other_bytes_already_in_the_dr_bucket_are_refused_as_immutable(world: World) -> None:
    world.promote("1.0.0")
    world.dr_s3.put_object(Bucket=world.dr_bucket, Key="v1.0.0/alpha.zip",
                           Body=small_zip("someone else"), ChecksumAlgorithm="SHA256")

    with pytest.raises(ImmutableVersionError,
                       match=f"s3://{world.dr_bucket}/v1.0.0/alpha.zip already holds bytes"):
        world.sync()

    assert manifest_key("1.0.0") not in dict(world.dr_objects())
    assert all(alias_target(world.lambda_, f) is None for f in world.functions.values())
    assert "dr_synced" not in world.events()


def test_a_dr_bucket_in_another_region_is_refused(s3: Any, tmp_path: Path) -> None:
    world = make_world(s3, tmp_path, dr_region="us-east-1")
    world.promote("1.0.0")

    with pytest.raises(VaultError, match=f"is in us-east-1, not {DR_REGION}"):
        world.sync()

    assert world.dr_objects() == []
    assert world.events() == ["deploy_failed"]


def test_a_missing_dr_function_is_refused_by_the_deploy_checks(world: World) -> None:
    world.promote("1.0.0")
    world.path.write_text(world.path.read_text().replace(world.functions["beta"], "beta-gone"))

    with pytest.raises(DeployError, match=r"1 function missing in environment 'dr'"):
        world.sync()

    assert alias_target(world.lambda_, world.functions["alpha"]) is None
    assert world.events() == ["deploy_failed"]


def test_a_failed_dr_deploy_is_restored_and_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.promote("1.0.0")
    world.sync()
    world.release("1.1.0")
    world.promote("1.1.0")
    alpha, beta = world.functions["alpha"], world.functions["beta"]
    failing_lambda(monkeypatch, beta, lambda_error(400, "InvalidParameterValueException", "bad"))

    assert cli.main(["dr-sync", "--config", str(world.path), "--env", "dr"]) == 5  # DeployError

    error = capsys.readouterr().err
    assert f"error: v1.1.0 failed to deploy to dr: beta ({beta}): InvalidParameterValueException" \
        in error and f"restored: {alpha}:live → 1" in error
    assert [alias_target(world.lambda_, f) for f in (alpha, beta)] == ["1", "1"]
    assert world.events("1.1.0") == ["deploy_failed", "rolled_back"]
    assert [lag["mirror_version"] for lag in status_lag(world, capsys)] == ["1.0.0"]


# ---------------------------------------------------------------- choosing the mirror


def mirrors_config(tmp_path: Path, mirrors: list[str]) -> config.Config:
    raw = {
        "vault": {"bucket": "vault", "region": "us-east-1"},
        "services": [{"name": "app"}],
        "environments": [
            {"name": "prod", "functions": {"app": "app-prod"}},
            *({"name": m, "mirror-of": "prod", "region": "us-west-2", "bucket": f"{m}-bucket",
               "functions": {"app": f"app-{m}"}} for m in mirrors),
        ],
    }
    return config.parse(raw, tmp_path / "vault.yml")


def test_the_only_mirror_is_the_default(tmp_path: Path) -> None:
    assert dr.select_mirror(mirrors_config(tmp_path, ["dr"]), None).name == "dr"


def test_several_mirrors_need_a_choice(tmp_path: Path) -> None:
    cfg = mirrors_config(tmp_path, ["dr-west", "dr-eu"])
    with pytest.raises(ConfigError, match=r"2 DR environments \(dr-west, dr-eu\)"):
        dr.select_mirror(cfg, None)
    assert dr.select_mirror(cfg, "dr-eu").bucket == "dr-eu-bucket"


def test_a_promotion_environment_is_not_a_mirror(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'prod' is not a DR mirror"):
        dr.select_mirror(mirrors_config(tmp_path, ["dr"]), "prod")
    with pytest.raises(ConfigError, match="has no DR environment"):
        dr.select_mirror(mirrors_config(tmp_path, []), None)


# ---------------------------------------------------------------- the command and the action


def test_command_json_and_text(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.promote("1.0.0")

    assert cli.main(["dr-sync", "--config", str(world.path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["version"], data["environment"], data["source"]) == ("1.0.0", "dr", "prod")
    assert data["recorded"]["event"] == "dr_synced"
    assert [o["status"] for o in data["objects"]] == ["copied"] * 3

    assert cli.main(["dr-sync", "--config", str(world.path), "--env", "dr",
                     "--version", "v1.0.0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("v1.0.0 → dr (us-west-2), mirror of prod:")
    assert "v1.0.0/manifest.json  present" in out and "unchanged" in out
    assert "v1.0.0 was already synced to dr: nothing recorded" in out
    assert world.events() == ["dr_synced"]


def test_action_outputs_and_step_summary(
    world: World, gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.promote("1.0.0")
    monkeypatch.setenv("INPUT_VERSION", "")
    monkeypatch.setenv("INPUT_ENVIRONMENT", "")
    monkeypatch.setenv("INPUT_CONFIG", str(world.path))

    assert cli.main(["action", "dr-sync"]) == 0

    outputs = gha_env.outputs()
    assert outputs["version"] == "1.0.0"
    rows = [(f["service"], f["function"], f["alias"], f["version"], f["status"])
            for f in json.loads(outputs["functions"])]
    assert rows == [(s, world.functions[s], "live", "1", "deployed") for s in SERVICES]
    summary = gha_env.summary_text()
    assert f"### 💾 DR sync: v1.0.0 → dr ({DR_REGION})" in summary
    assert "| object | DR object version | ChecksumSHA256 | bytes | status |" in summary
    manifest = Vault(world.dr_s3, world.dr_bucket).require_manifest("1.0.0")
    alpha = manifest.artifact("alpha")
    assert (f"| `v1.0.0/alpha.zip` | `{alpha.version_id}` | `{alpha.code_sha256}` | "
            f"{alpha.size} | copied |") in summary
    assert f"| alpha | `{world.functions['alpha']}` | `live` → 1 |" in summary
    assert "dr_synced recorded in dr: v1.0.0 is Globally Synced." in summary
    actor = journey_of(world.ledger, "1.0.0").last("dr_synced", "dr")
    assert actor is not None and actor.actor == "octocat"


API = "https://api.github.com:443/repos/acme/shop/deployments"


def test_the_github_deployment_of_the_mirror(
    world: World, gha_env: GhaFiles, api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world.promote("1.0.0")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    api.post(API, status=201, json=deployment(31, "v1.0.0", "dr"))
    api.post(f"{API}/31/statuses", status=201, json=status(31, "success"))

    dr_sync.dr_sync(str(world.path), "", "")

    [created] = [json.loads(c.request.body or b"{}") for c in api.calls
                 if c.request.method == "POST" and c.request.url == API]
    assert (created["ref"], created["environment"], created["production_environment"]) == (
        "v1.0.0", "dr", True,
    )
    states = [json.loads(c.request.body or b"{}")["state"] for c in api.calls
              if c.request.url == f"{API}/31/statuses"]
    assert states == ["in_progress", "success"]


def test_github_down_does_not_stop_the_sync(
    world: World, gha_env: GhaFiles, api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    world.promote("1.0.0")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    api.post(API, status=403, json={"message": "Resource not accessible by integration"})

    result = dr_sync.dr_sync(str(world.path), "", "")

    assert result.ok and world.events() == ["dr_synced"]
    assert "::warning title=GitHub API error::" in capsys.readouterr().out


def test_vault_deploy_to_the_mirror_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Only dr-sync, which checks that the version is live in PROD, may deploy to DR."""
    world.promote("1.0.0")
    assert cli.main(["deploy", "--config", str(world.path), "--env", "dr", "--version", "1.0.0"]) == 2  # ConfigError
    assert "use `vault dr-sync --env dr`" in capsys.readouterr().err
    assert alias_target(world.lambda_, world.functions["alpha"]) is None
