"""Issue 10, findings 1, 2 and 5: the ledger's word is proof, tried with only the access a
role really has (a dev job's OIDC token, a plain S3 put_object) against a moto server and
a local OIDC issuer (tests/oidc_issuer.py)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_as_job
from tests.oidc_issuer import BUILD, GATE, Issuer
from tests.unit.deliver.test_deploy import build_release, make_functions, make_role
from vault_actions import cli
from vault_actions.context import RunContext
from vault_actions.integrations import aws
from vault_actions.store import attestation
from vault_actions.store.attestation import LocalAttestor, OidcAttestor
from vault_actions.store.ledger import GITHUB_GATE, Ledger

ENVS = ("dev", "qa", "uat", "prod")
VAULT_YML = """\
vault: {{bucket: {bucket}, region: us-east-1, protected: false}}
services: [{{name: api}}]
environments:
  - {{name: dev, functions: {{api: api-dev-{tag}}}}}
  - {{name: qa, functions: {{api: api-qa-{tag}}}}}
  - {{name: uat, functions: {{api: api-uat-{tag}}}, gate: {{approvers: [qa-lead]}}}}
  - {{name: prod, functions: {{api: api-prod-{tag}}}, gate: {{approvers: [manager]}}}}
  - {{name: dr, mirror-of: prod, region: us-west-2, bucket: {bucket}-dr, functions: {{api: api-dr-{tag}}}}}
ledger: {{repository: acme/shop, issuer: "{issuer}"{extra}}}
"""


def ctx(actor: str = "octocat", run_id: str = "4242") -> RunContext:
    return RunContext(actor=actor, repository="acme/shop", run_id=run_id,
                      run_url=f"https://github.com/acme/shop/actions/runs/{run_id}",
                      sha="c0ffee" * 6 + "abcd", server_url="https://github.com",
                      api_url="https://api.github.com")


@dataclass
class Shop:
    """acme/shop's vault with v1.0.1 built, its functions, and its vault.yml."""

    s3: Any
    bucket: str
    issuer: Issuer
    config: Path
    monkeypatch: pytest.MonkeyPatch

    def as_job(self, **claims: Any) -> Ledger:
        """The ledger as one job of acme/shop writes it (its own OIDC token)."""
        return Ledger(self.s3, self.bucket, attestor=OidcAttestor(self.issuer.job(**claims)))

    def vault(self, *argv: str, as_job: dict[str, Any] | None = None) -> tuple[int, Any]:
        """``vault <argv> --json`` as a terminal user, or as a job with ``as_job`` claims."""
        with pytest.MonkeyPatch.context() as patch:
            for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID",
                         "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
                patch.delenv(name, raising=False)
            if as_job is not None:
                run_as_job(patch, self.issuer, **as_job)
            code = cli.main([*argv, "--config", str(self.config), "--json"])
        return code, None

    def put(self, body: dict[str, Any]) -> str:
        """A plain S3 put_object of an event-shaped JSON (what any role with ledger/ write can do)."""
        raw = json.dumps(body).encode()
        key = Ledger(self.s3, self.bucket).key(body["version"], body["writer"], body["id"], raw)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=raw)
        return key


def event_body(version: str, event: str, env: str | None, **details: Any) -> dict[str, Any]:
    moment = datetime.now(UTC)
    return {
        "schema": 2, "writer": env or "build",
        "id": f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}", "version": version,
        "event": event, "environment": env, "at": moment.isoformat(timespec="microseconds"),
        "actor": "octocat", "commit": "c0ffee" * 6 + "abcd",
        "run_url": "https://github.com/acme/shop/actions/runs/4242", "details": details,
    }


def make_shop(s3: Any, bucket: str, issuer: Issuer, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Shop:
    tag = uuid.uuid4().hex[:6]
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=bucket, tag=tag, issuer=issuer.url, extra=extra))
    lambda_ = aws.client("lambda", "us-east-1")
    make_functions(lambda_, make_role(s3), [f"api-{env}-{tag}" for env in ENVS])
    shop = Shop(s3, bucket, issuer, path, monkeypatch)
    build_release(s3, bucket, "1.0.1", ["api"], tmp_path,
                  ledger=shop.as_job(job_workflow_ref=BUILD), ctx=ctx())  # the publish job
    return shop


@pytest.fixture
def shop(s3: Any, vault_bucket: str, issuer: Issuer, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Shop:
    return make_shop(s3, vault_bucket, issuer, tmp_path, monkeypatch)


def errors(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out
    found = json.loads(out[out.index("{"):]) if "{" in out else {}
    return dict(found.get("error", {}))


def walk_to_prod_as_the_dev_job(shop: Shop) -> None:
    """Everything a dev job can state with its own valid token (environment dev)."""
    dev = shop.as_job(environment="dev")
    for env in ("dev", "qa", "uat"):
        dev.record("1.0.1", "deployed", env, ctx())
        dev.record("1.0.1", "smoke_passed", env, ctx())
    dev.record("1.0.1", "approved", "uat", ctx(), details={"by": "qa-lead", "source": GITHUB_GATE})
    dev.record("1.0.1", "approved", "prod", ctx(), details={"by": "manager", "source": GITHUB_GATE})
    dev.record("1.0.1", "approved", "prod", ctx(), details={"by": "manager"})


def test_finding_1_a_dev_jobs_token_cannot_promote_a_version_to_prod(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    walk_to_prod_as_the_dev_job(shop)
    capsys.readouterr()
    code, _ = shop.vault("deploy", "--env", "prod", "--version", "1.0.1")
    error = errors(capsys)
    assert code == 3
    assert error["type"] == "PromotionRefused"
    assert "v1.0.1 has never been deployed to uat" in error["message"]
    assert "it was written by a job of environment dev, not uat" in error["message"]
    # the dev job's own statements about dev still hold
    assert shop.vault("deploy", "--env", "qa", "--version", "1.0.1")[0] == 0


def test_finding_1_plain_put_object_events_cannot_promote_a_version_to_prod(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = "arn:aws:iam::123456789012:user/manager"
    for env in ("dev", "qa", "uat"):
        shop.put(event_body("1.0.1", "deployed", env))
        shop.put(event_body("1.0.1", "smoke_passed", env))
    shop.put(event_body("1.0.1", "approved", "uat", by="qa-lead", source=GITHUB_GATE))
    shop.put({**event_body("1.0.1", "approved", "prod", by="manager"),
              "proof": {"kind": "local", "identity": identity}})
    # a token for another event's digest, and a token from a forger's key
    honest = shop.as_job(environment="uat").record("1.0.1", "deployed", "dev", ctx())
    shop.put({**event_body("1.0.1", "deployed", "uat"), "proof": honest.proof})
    forged = event_body("1.0.1", "deployed", "uat")
    token = shop.issuer.token(attestation.audience(forged), forged=True, environment="uat")
    shop.put({**forged, "proof": {"kind": "github-oidc", "token": token}})
    capsys.readouterr()

    code, _ = shop.vault("deploy", "--env", "prod", "--version", "1.0.1")
    assert code == 3 and errors(capsys)["type"] == "PromotionRefused"
    capsys.readouterr()
    assert shop.vault("verify")[0] == 4
    report = json.loads(capsys.readouterr().out)
    problems = [j["problem"] for j in report["judged"] if not j["counts"]]
    assert "it carries no proof of who wrote it" in problems
    assert any("belongs to another event" in p for p in problems)
    assert any("Signature verification failed" in p for p in problems)
    assert any("ledger.allow-local does not list approved" in p for p in problems)
    assert all(j["environment"] in ("dev", None) for j in report["judged"] if j["counts"])


def test_the_honest_path_to_prod_holds(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    for env in ("dev", "qa", "uat"):
        job = shop.as_job(environment=env)
        if env == "uat":
            job.record("1.0.1", "approved", "uat", ctx(),
                       details={"by": "qa-lead", "source": GITHUB_GATE, "run_id": "4242"})
        job.record("1.0.1", "deployed", env, ctx())
        job.record("1.0.1", "smoke_passed", env, ctx())
    gate = shop.as_job(job_workflow_ref=GATE, actor="manager", run_id="77")
    gate.record("1.0.1", "approved", "prod", ctx("manager", "77"), details={"by": "manager"})
    capsys.readouterr()
    assert shop.vault("verify")[0] == 0
    assert json.loads(capsys.readouterr().out)["proven"] == 9  # and the built event
    assert shop.vault("deploy", "--env", "prod", "--version", "1.0.1")[0] == 0, capsys.readouterr()
    capsys.readouterr()
    # deployed from a terminal: recorded with the caller's STS identity, flagged, not counted
    assert shop.vault("verify")[0] == 4
    (local,) = [j for j in json.loads(capsys.readouterr().out)["judged"] if not j["counts"]]
    assert (local["event"], local["local"]) == ("deployed", True)
    assert local["writer"]["identity"].startswith("arn:aws:")


def test_finding_2_approve_by_a_typed_name_is_refused(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = shop.vault("approve", "--env", "uat", "--version", "1.0.1", "--by", "qa-lead")
    error = errors(capsys)
    assert code == 2 and error["type"] == "ConfigError"
    assert "--by 'qa-lead' is not accepted" in error["message"]
    assert [e.event for e in Ledger(shop.s3, shop.bucket).events("1.0.1")] == ["built"]


def test_finding_2_a_local_approval_does_not_count_unless_vault_yml_allows_it(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    for env in ("dev", "qa"):
        job = shop.as_job(environment=env)
        job.record("1.0.1", "deployed", env, ctx())
        job.record("1.0.1", "smoke_passed", env, ctx())
    code, _ = shop.vault("approve", "--env", "uat", "--version", "1.0.1")
    error = errors(capsys)
    assert code == 3 and error["type"] == "PromotionRefused"
    assert "allows no local approved decision" in error["message"]
    # what the CLI refuses, a direct write does not achieve either
    local = Ledger(shop.s3, shop.bucket, attestor=LocalAttestor(aws.client("sts")))
    local.record("1.0.1", "approved", "uat", ctx(), details={"by": "qa-lead"})
    code, _ = shop.vault("deploy", "--env", "uat", "--version", "1.0.1")
    error = errors(capsys)
    assert code == 3 and "has not been approved for uat" in error["message"]
    assert "ledger.allow-local does not list approved" in error["message"]


def test_finding_2_a_local_approval_by_a_non_approver_does_not_count_even_when_allowed(
    s3: Any, vault_bucket: str, issuer: Issuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop = make_shop(s3, vault_bucket, issuer, tmp_path, monkeypatch, ", allow-local: [approved]")
    for env in ("dev", "qa"):
        job = shop.as_job(environment=env)
        job.record("1.0.1", "deployed", env, ctx())
        job.record("1.0.1", "smoke_passed", env, ctx())
    code, _ = shop.vault("approve", "--env", "uat", "--version", "1.0.1")
    error = errors(capsys)
    identity = aws.client("sts").get_caller_identity()["Arn"]
    name = attestation.identity_name(identity)
    assert code == 3 and f"{name!r} may not approve releases for uat" in error["message"]
    # the approver's own AWS identity may, by break-glass: recorded as local, flagged
    iam = aws.client("iam")
    iam.create_user(UserName="qa-lead")
    key = iam.create_access_key(UserName="qa-lead")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    capsys.readouterr()
    assert shop.vault("approve", "--env", "uat", "--version", "1.0.1")[0] == 0, capsys.readouterr()
    capsys.readouterr()
    assert shop.vault("status", "--version", "1.0.1")[0] == 0
    stages = {s["environment"]: s for s in json.loads(capsys.readouterr().out)["versions"][0]["environments"]}
    assert stages["uat"]["approved_by"] == "qa-lead" and stages["uat"]["local"] is True
    assert shop.vault("verify")[0] == 4  # a decision that counts without proof


def test_a_token_from_the_wrong_environment_fails_authority_in_verify(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.as_job(environment="qa").record("1.0.1", "smoke_passed", "prod", ctx())
    capsys.readouterr()
    assert shop.vault("verify")[0] == 4
    (judged,) = [j for j in json.loads(capsys.readouterr().out)["judged"] if j["event"] != "built"]
    assert judged["writer"]["environment"] == "qa"
    assert judged["problem"] == "it was written by a job of environment qa, not prod"


def test_finding_5_foreign_objects_never_lock_anyone_out(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = ["ledger/garbage.json", "ledger/v1.0.1/garbage.json"]
    for key in keys:
        shop.s3.put_object(Bucket=shop.bucket, Key=key, Body=b"{not json")
    shop.put({**event_body("1.0.1", "smoke_failed", "dev"), "proof": None})  # an unproven kill

    assert shop.vault("deploy", "--env", "dev", "--version", "1.0.1",
                      as_job={"environment": "dev"})[0] == 0, capsys.readouterr()
    capsys.readouterr()
    assert shop.vault("status")[0] == 0
    status = json.loads(capsys.readouterr().out)
    assert sorted(s["key"] for s in status["skipped"]) == keys
    assert [u["event"] for u in status["unverified"]] == ["smoke_failed"]
    assert status["versions"][0]["version"] == "1.0.1" and status["live"] == {"dev": "1.0.1"}
    graveyard = shop.config.parent / "graveyard.md"
    assert shop.vault("graveyard", "--format", "markdown", "--output", str(graveyard))[0] == 0
    assert json.loads(capsys.readouterr().out)["skipped"]
    markdown = graveyard.read_text()
    assert "ledger/v1.0.1/garbage.json" in markdown and "Not counted" in markdown
    code, _ = shop.vault("dr-sync", "--version", "1.0.1")
    error = errors(capsys)
    assert code == 3 and error["type"] == "PromotionRefused", error  # not the garbage
    assert "garbage" not in error["message"]
    assert shop.vault("doctor")[0] == 4
    doctor = json.loads(capsys.readouterr().out)
    items = {i["name"].split(": ")[-1]: i for i in doctor["items"]}
    assert not items["only events"]["ok"] and "ledger/v1.0.1/garbage.json" in items["only events"]["detail"]
    assert not items["every event proven"]["ok"]


def test_verify_keeps_the_issuers_keys_for_later_audits(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.as_job(environment="dev").record("1.0.1", "deployed", "dev", ctx())
    keys = shop.config.parent / "oidc-keys.json"
    assert shop.vault("verify", "--keys", str(keys))[0] == 0
    kept = json.loads(keys.read_text())
    assert list(kept) == [shop.issuer.kid] and kept[shop.issuer.kid]["kty"] == "RSA"
    keys.write_text("[]")
    capsys.readouterr()
    assert shop.vault("verify", "--keys", str(keys))[0] == 2
    assert "is not a JSON object of keys by id" in errors(capsys)["message"]
