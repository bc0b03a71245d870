"""vault doctor: passes on infra/vault.yaml as deployed, fails on exactly the promise broken."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoServer
from tests.unit.setup.test_infra import (
    Deployed,
    bucket_config,
    client,
    create_functions,
    deploy_vault,
    write_vault_yml,
)
from vault_actions import cli, config
from vault_actions.integrations import aws
from vault_actions.setup import doctor

S3 = "us-east-1"


def run_doctor(path: Path) -> doctor.Report:
    return doctor.examine(config.load(path), client)


def edit_policy(bucket: str, region: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite the bucket's live policy with ``change`` applied to its statements."""
    s3 = client("s3", region)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    change(policy["Statement"])
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def without(sid: str) -> Callable[[list[dict[str, Any]]], None]:
    def drop(statements: list[dict[str, Any]]) -> None:
        statements[:] = [s for s in statements if s.get("Sid") != sid]
        assert statements, "the template has more than one statement"

    return drop


def flip_null_condition(statements: list[dict[str, Any]]) -> None:
    """Null=false denies writes WITH If-None-Match: the exact opposite of put-once."""
    (put_once,) = [s for s in statements if s.get("Sid") == "DenyUnconditionalWrites"]
    put_once["Condition"]["Null"]["s3:if-none-match"] = "false"


# Each breaker changes one thing on a deployed vault, writes vault.yml and returns the
# names of the items doctor must fail (and only those).
Breaker = Callable[[Deployed, Path], tuple[Path, set[str]]]


def policy_breaker(which: str, change: Callable[[list[dict[str, Any]]], None],
                   item: str) -> Breaker:
    def breaker(d: Deployed, root: Path) -> tuple[Path, set[str]]:
        bucket, region = (d.dr_bucket, d.dr_region) if which == "dr" else (d.vault_bucket, S3)
        edit_policy(bucket, region, change)
        return write_vault_yml(root, d), {f"{bucket}: {item}"}

    return breaker


def unversioned_vault(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    # Versioning cannot be suspended on an object-locked bucket, so this vault is a plain
    # bucket with every other protection of the template. Object Lock cannot exist without
    # versioning: both items fail, by necessity.
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    s3 = client("s3", S3)
    props, policy = bucket_config(S3, d.params, bucket)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    ]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return write_vault_yml(root, d, vault_bucket=bucket), {
        f"{bucket}: versioning", f"{bucket}: object-lock",
    }


def no_default_retention(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    client("s3", S3).put_object_lock_configuration(
        Bucket=d.vault_bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
    )
    return write_vault_yml(root, d), {f"{d.vault_bucket}: object-lock"}


def minimum_retention(days: int) -> Breaker:
    """vault.yml asks for ``days`` of Object Lock; the template deploys 30 (test_infra)."""

    def breaker(d: Deployed, root: Path) -> tuple[Path, set[str]]:
        path = write_vault_yml(root, d)
        doc = json.loads(path.read_text())
        doc["vault"]["minimum-retention-days"] = days
        path.write_text(json.dumps(doc))
        return path, {f"{b}: object-lock" for b in (d.vault_bucket, d.dr_bucket)} if days > 30 \
            else set()

    return breaker


def no_public_access_block(which: str) -> Breaker:
    def breaker(d: Deployed, root: Path) -> tuple[Path, set[str]]:
        bucket, region = (d.dr_bucket, d.dr_region) if which == "dr" else (d.vault_bucket, S3)
        client("s3", region).delete_public_access_block(Bucket=bucket)
        return write_vault_yml(root, d), {f"{bucket}: public-access-block"}

    return breaker


def no_encryption(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    client("s3", S3).delete_bucket_encryption(Bucket=d.vault_bucket)
    return write_vault_yml(root, d), {f"{d.vault_bucket}: encryption"}


def no_policy(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    client("s3", S3).delete_bucket_policy(Bucket=d.vault_bucket)
    return write_vault_yml(root, d), {
        f"{d.vault_bucket}: {item}" for item in ("deny-delete", "conditional-write", "tls-only")
    }


def missing_function(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    client("lambda", S3).delete_function(FunctionName="price-fetcher-qa")
    return write_vault_yml(root, d), {"qa: function price-fetcher-qa"}


def overwritten_key(d: Deployed, root: Path) -> tuple[Path, set[str]]:
    """Finding 4: a plain put_object twice on one key, as anyone could while the policy
    was off (moto refuses this plain-HTTP write under DenyInsecureTransport)."""
    s3 = client("s3", S3)
    policy = s3.get_bucket_policy(Bucket=d.vault_bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=d.vault_bucket)
    for body in (b'{"version": "1.0.0"}', b'{"version": "1.0.0", "forged": true}'):
        s3.put_object(Bucket=d.vault_bucket, Key="v1.0.0/manifest.json", Body=body)
    s3.put_bucket_policy(Bucket=d.vault_bucket, Policy=policy)
    return write_vault_yml(root, d), {f"{d.vault_bucket}: single-version-keys"}


BREAKERS: dict[str, Breaker] = {
    "a key written twice": overwritten_key,
    "versioning suspended": unversioned_vault,
    "no default retention": no_default_retention,
    "retention shorter than vault.yml's minimum": minimum_retention(2555),
    "retention as long as vault.yml's minimum": minimum_retention(30),
    "public access block deleted": no_public_access_block("vault"),
    "dr public access block deleted": no_public_access_block("dr"),
    "encryption deleted": no_encryption,
    "policy without deny-delete": policy_breaker("vault", without("DenyObjectDeletes"),
                                                 "deny-delete"),
    "policy without conditional write": policy_breaker(
        "vault", without("DenyUnconditionalWrites"), "conditional-write"),
    "conditional write inverted": policy_breaker("vault", flip_null_condition,
                                                 "conditional-write"),
    "policy without tls-only": policy_breaker("vault", without("DenyInsecureTransport"),
                                              "tls-only"),
    "dr policy without deny-delete": policy_breaker("dr", without("DenyObjectDeletes"),
                                                    "deny-delete"),
    "bucket policy deleted": no_policy,
    "function missing": missing_function,
}


@pytest.fixture
def deployed(aws_env: MotoServer) -> Deployed:
    vault = deploy_vault()
    create_functions(vault)
    return vault


@pytest.mark.parametrize("breaker", BREAKERS.values(), ids=BREAKERS.keys())
def test_doctor_fails_on_exactly_the_broken_promise(
    deployed: Deployed, tmp_path: Path, breaker: Breaker
) -> None:
    path, expected = breaker(deployed, tmp_path)
    report = run_doctor(path)
    assert {i.name for i in report.failed} == expected, doctor.render(report)
    assert all(i.fix for i in report.failed)
    if breaker is overwritten_key:
        assert report.failed[0].detail == "tampering: v1.0.0/manifest.json (2 versions)"


def test_dr_bucket_in_the_wrong_region_fails_the_region_item(
    aws_env: MotoServer, tmp_path: Path
) -> None:
    # The DR stack deployed in us-east-1: on AWS the template's Rules refuse that (moto
    # ignores Rules); doctor catches it all the same, and a DR bucket made by hand too.
    wrong = deploy_vault(dr_stack_region="us-east-1")
    create_functions(wrong)
    report = run_doctor(write_vault_yml(tmp_path, wrong))
    (failed,) = report.failed
    assert failed.name == f"{wrong.dr_bucket}: region"
    assert "dr's functions are in us-west-2" in failed.detail
    assert "us-west-2" in failed.fix


def test_missing_bucket_is_one_failed_item(deployed: Deployed, tmp_path: Path) -> None:
    path = write_vault_yml(tmp_path, deployed, vault_bucket="no-such-vault-bucket")
    report = run_doctor(path)
    assert [i.name for i in report.failed] == ["no-such-vault-bucket: exists"]
    assert "infra/vault.yaml" in report.failed[0].fix


def test_cli_prints_a_checklist_and_exits_4_when_broken(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Speed only: reuse the session's boto3 clients (each new one loads its service model).
    monkeypatch.setattr(aws, "client", client)
    path = write_vault_yml(tmp_path, deployed)
    assert cli.main(["doctor", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"✅ {deployed.vault_bucket}: conditional-write" in text
    assert "❌" not in text and "the vault keeps its promises" in text

    no_encryption(deployed, tmp_path)
    assert cli.main(["doctor", "--config", str(path)]) == 4  # a check failed
    text = capsys.readouterr().out
    assert f"❌ {deployed.vault_bucket}: encryption: no default encryption" in text
    assert f"→ aws s3api put-bucket-encryption --bucket {deployed.vault_bucket}" in text

    assert cli.main(["doctor", "--json", "--config", str(path)]) == 4
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["failed"] == 1 and data["not_checkable"] == 0
    (failed,) = [i for i in data["items"] if not i["ok"]]
    assert set(failed) == {"name", "ok", "detail", "fix", "checkable", "status"}
    assert failed["status"] == "fail"
    assert failed["name"] == f"{deployed.vault_bucket}: encryption"


# --- the policy reader on shapes the template does not use --------------------------------

BUCKET = "b"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(("statement", "holds"), [
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*",
      "Resource": "arn:aws:s3:::b/*"}, True),
    ({"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": "*",
      "Resource": "*"}, True),
    ({"Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*",
      "Resource": "arn:aws-cn:s3:::b/*"}, True),
    # only one role is denied: everyone else may delete
    ({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:role/ci"},
      "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"}, False),
    # only the ledger is covered
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*",
      "Resource": "arn:aws:s3:::b/ledger/*"}, False),
    # conditional: a principal without the tag may delete
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*", "Resource": "*",
      "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ci"}}}, False),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:Delete*", "Resource": "*"}, False),
])
def test_deny_delete_reads_the_statement(statement: dict[str, Any], holds: bool) -> None:
    document = {"Statement": statement}  # a single statement need not be in a list
    assert doctor.deny_delete(document, BUCKET)[0] is holds


@pytest.mark.parametrize(("condition", "holds"), [
    ({"Null": {"s3:if-none-match": "true"}}, True),
    ({"Null": {"S3:If-None-Match": ["true"]}}, True),
    ({"Null": {"s3:if-none-match": True}, "Bool": {"s3:ObjectCreationOperation": "true"}}, True),
    ({"Null": {"s3:if-none-match": "false"}}, False),
    ({"Null": {"s3:if-match": "true"}}, False),
    ({"Null": {"s3:if-none-match": "true"}, "StringLike": {"aws:PrincipalArn": "*ci*"}}, False),
    (None, False),
])
def test_conditional_write_needs_the_null_if_none_match_condition(
    condition: dict[str, Any] | None, holds: bool
) -> None:
    statement: dict[str, Any] = {
        "Effect": "Deny", "Principal": "*", "Action": ["s3:PutObject"],
        "Resource": ["arn:aws:s3:::b/v*", "arn:aws:s3:::b/ledger/*"],
    }
    if condition is not None:
        statement["Condition"] = condition
    assert doctor.conditional_write(policy(statement), BUCKET)[0] is holds


def test_tls_only_must_cover_the_bucket_and_its_objects() -> None:
    objects_only = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::b/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert doctor.tls_only(policy(objects_only), BUCKET) == (
        False, "nothing denies s3:* when aws:SecureTransport is false"
    )
    both = {**objects_only, "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}
    assert doctor.tls_only(policy(both), BUCKET)[0] is True


def test_no_credentials_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "vault.yml"
    path.write_text("vault: {bucket: some-vault, region: us-east-1}\nservices: [{name: a}]\n"
                    "environments: [{name: dev, functions: {a: a-dev}}]\n")
    assert cli.main(["doctor", "--config", str(path)]) == 5  # credentials: infrastructure
    err = capsys.readouterr().err
    assert "error: no AWS credentials were found" in err
    assert "configure-aws-credentials" in err and "Traceback" not in err


def test_a_retention_shorter_than_the_minimum_says_both_and_how_to_fix_it(
    deployed: Deployed, tmp_path: Path
) -> None:
    path, _ = minimum_retention(2555)(deployed, tmp_path)
    lock = next(i for i in run_doctor(path).items if i.name == f"{deployed.vault_bucket}: object-lock")
    assert not lock.ok
    assert lock.detail == ("enabled, but default retention GOVERNANCE 30 days is shorter than "
                           "vault.minimum-retention-days (2555 days) in vault.yml: evidence "
                           "would expire too soon")
    assert "Days=2555" in lock.fix and "RetentionDays" in lock.fix


def test_years_count_as_365_days() -> None:
    lock = {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {
        "DefaultRetention": {"Mode": "COMPLIANCE", "Years": 7}}}}
    assert doctor.object_lock(lock, 2555) == (
        True, "enabled; default retention COMPLIANCE 7 years (vault.yml asks at least 2555 days)")
    assert doctor.object_lock(lock, 2556)[0] is False


# --- the embedded AWS of vault demo: what moto cannot prove is "not checkable" ------------

UNHOLDABLE = ("conditional-write", "tls-only")


def test_on_the_embedded_aws_conditional_statements_are_not_checkable_not_passed(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, aws_env: MotoServer,
) -> None:
    monkeypatch.setattr(aws, "client", client)
    monkeypatch.setenv(aws.EMBEDDED_ENV, aws_env.url)  # what vault demo's EmbeddedAws sets
    path = write_vault_yml(tmp_path, deployed)

    assert cli.main(["doctor", "--json", "--config", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    unchecked = {i["name"] for i in data["items"] if i["status"] == "not checkable"}
    assert unchecked == {f"{b}: {item}" for b in (deployed.vault_bucket, deployed.dr_bucket)
                         for item in UNHOLDABLE}
    assert data["ok"] is True and data["failed"] == 0 and data["not_checkable"] == 4
    assert all(i["status"] == "pass" for i in data["items"] if i["name"] not in unchecked)

    assert cli.main(["doctor", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert (f"➖ {deployed.vault_bucket}: tls-only: not checkable on the embedded AWS: it serves "
            "plain HTTP on 127.0.0.1") in text
    assert f"✅ {deployed.vault_bucket}: deny-delete: " in text
    total = len(data["items"]) - 4
    assert f"All {total} checks pass (4 more not checkable on the embedded AWS, ➖): as far as " \
        "it can show." in text


def test_on_the_embedded_aws_a_missing_deny_delete_still_fails(
    deployed: Deployed, tmp_path: Path, aws_env: MotoServer,
) -> None:
    path, _ = no_policy(deployed, tmp_path)
    report = doctor.examine(config.load(path), client, embedded=True)
    assert {i.name for i in report.failed} == {f"{deployed.vault_bucket}: deny-delete"}
    assert not report.ok


def test_the_demos_deny_delete_is_enforced_by_the_embedded_aws(s3: Any) -> None:
    """Why deny-delete stays a real check there: moto enforces an unconditional Deny."""
    from botocore.exceptions import ClientError

    from vault_actions.demo.story import bucket_policy

    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    s3.put_bucket_policy(Bucket="locked", Policy=json.dumps(bucket_policy("locked")))
    s3.put_object(Bucket="locked", Key="v1.0.0/a.zip", Body=b"x", IfNoneMatch="*")
    with pytest.raises(ClientError, match="AccessDenied|403"):
        s3.delete_object(Bucket="locked", Key="v1.0.0/a.zip")
    assert s3.get_object(Bucket="locked", Key="v1.0.0/a.zip")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("env", "embedded"),
    [
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", aws.EMBEDDED_ENV: "http://127.0.0.1:5000"}, True),
        ({"AWS_ENDPOINT_URL": "http://localhost:5000", aws.EMBEDDED_ENV: "http://localhost:5000"}, True),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, False),  # a moto of the tests, not the demo's
        ({aws.EMBEDDED_ENV: "http://127.0.0.1:5000"}, False),  # real AWS: the marker alone is not enough
        ({"AWS_ENDPOINT_URL": "https://s3.amazonaws.com", aws.EMBEDDED_ENV: "https://s3.amazonaws.com"}, False),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", aws.EMBEDDED_ENV: "http://127.0.0.1:5001"}, False),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", aws.EMBEDDED_ENV: "http://127.0.0.1:5000",
          "AWS_ENDPOINT_URL_S3": "https://s3.us-east-1.amazonaws.com"}, False),
    ],
)
def test_only_the_demos_embedded_aws_counts_as_embedded(env: dict[str, str], embedded: bool) -> None:
    """A real account can never be told 'not checkable': real AWS is not on loopback."""
    assert aws.embedded(env) is embedded
