"""One AWS account per environment (issue 14, finding 2), on moto with several accounts.

The vault (bucket + ledger) lives in the tools account T; dev's functions in account A,
prod's in account B. Each deploy runs with its environment's credentials (what the
workflow's OIDC role gives the job: here STS AssumeRole into that account, whose
requests moto puts in that account), reads the artifacts cross-account from T's bucket
and writes its events into T's ledger. moto does not enforce bucket policies: the grant
is tested in the templates (tests/unit/setup/test_infra.py) and by vault doctor; the
account check is the code's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import AWS_ENV, break_glass, make_vault_bucket
from tests.unit.deliver.test_deploy import (
    CTX,
    _Raw,
    build_release,
    make_functions,
    served_sha,
)
from vault_actions import cli, config
from vault_actions.errors import ConfigError
from vault_actions.integrations import aws
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault

TOOLS, DEV, PROD = "123456789012", "111111111111", "222222222222"  # T is moto's default
REGION = "us-east-1"

VAULT_YML = """\
vault: {{bucket: {bucket}, region: us-east-1, protected: false}}
services: [{{name: alpha}}, {{name: beta}}]
environments:
  - name: dev
    account: "{dev}"
    functions: {{alpha: alpha-dev-{tag}, beta: beta-dev-{tag}}}
  - name: prod
    role: arn:aws:iam::{prod}:role/deployers/vault-prod
    functions: {{alpha: alpha-prod-{tag}, beta: beta-prod-{tag}}}
    gate: {{approvers: [boss]}}
"""


def role_credentials(account: str, role: str) -> dict[str, str]:
    """The AWS environment of a job whose credentials are ``role`` in ``account``."""
    sts = aws.client("sts", REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                            RoleSessionName="vault-test")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


@dataclass
class Accounts:
    """The tools account's vault, dev's and prod's accounts, and a way to act as each."""

    monkeypatch: pytest.MonkeyPatch
    tools: dict[str, str]
    dev: dict[str, str]
    prod: dict[str, str]
    bucket: str
    path: Path
    cfg: config.Config

    @contextmanager
    def as_(self, creds: dict[str, str]) -> Iterator[None]:
        with self.monkeypatch.context() as patch:
            for key, value in creds.items():
                patch.setenv(key, value)
            yield

    def lambda_(self, creds: dict[str, str]) -> Any:
        with self.as_(creds):
            return aws.client("lambda", REGION)

    def ledger(self) -> Ledger:
        with self.as_(self.tools):
            return Ledger(aws.client("s3", REGION), self.bucket)

    def events(self) -> list[tuple[str, str | None]]:
        return [(e.event, e.environment) for e in self.ledger().events("1.0.0")
                if e.event != "built"]

    def deploy(self, env: str, creds: dict[str, str]) -> int:
        with self.as_(creds):
            return cli.main(["deploy", "--env", env, "--version", "1.0.0",
                             "--config", str(self.path), "--json"])


def functions_in(creds: dict[str, str], accounts: Accounts, names: list[str]) -> None:
    with accounts.as_(creds):
        iam = aws.client("iam", REGION)
        document = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName=f"fn-{uuid.uuid4().hex[:6]}",
                               AssumeRolePolicyDocument=document)["Role"]["Arn"]
        make_functions(aws.client("lambda", REGION), role, names)


@pytest.fixture
def accounts(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    tag = uuid.uuid4().hex[:6]
    bucket = make_vault_bucket(s3, f"vault-{tag}")
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    build_release(s3, bucket, "1.0.0", ["alpha", "beta"], tmp_path)
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=bucket, dev=DEV, prod=PROD, tag=tag) + break_glass())
    tools = {k: v for k, v in AWS_ENV.items() if k.startswith("AWS_") and "REGION" not in k}
    found = Accounts(monkeypatch, tools, role_credentials(DEV, "vault-dev"),
                     role_credentials(PROD, "deployers/vault-prod"), bucket, path,
                     config.load(path))
    for env, creds in (("dev", found.dev), ("prod", found.prod)):
        functions_in(creds, found, list(found.cfg.environment(env).functions.values()))
    return found


def test_finding_2_a_release_goes_to_dev_and_prod_in_their_own_accounts_from_the_tools_vault(
    accounts: Accounts,
) -> None:
    assert accounts.deploy("dev", accounts.dev) == 0
    accounts.ledger().record("1.0.0", "smoke_passed", "dev", CTX)
    accounts.ledger().record("1.0.0", "approved", "prod", CTX, details={"by": "boss"})
    assert accounts.deploy("prod", accounts.dev) == 5  # the dev job's credentials: refused
    assert accounts.deploy("prod", accounts.prod) == 0

    with accounts.as_(accounts.tools):
        manifest = Vault(aws.client("s3", REGION), accounts.bucket).require_manifest("1.0.0")
    shas = {a.service: a.code_sha256 for a in manifest.artifacts}
    for env, creds, account in (("dev", accounts.dev, DEV), ("prod", accounts.prod, PROD)):
        lambda_ = accounts.lambda_(creds)
        for service, function in accounts.cfg.environment(env).functions.items():
            assert served_sha(lambda_, function) == shas[service]
            arn = lambda_.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
            assert arn.split(":")[4] == account
    # the functions are in their own accounts, not in the vault's; the events in the vault's
    tools_functions = accounts.lambda_(accounts.tools).list_functions()["Functions"]
    assert not tools_functions
    assert accounts.events() == [("deployed", "dev"), ("smoke_passed", "dev"),
                                 ("approved", "prod"), ("deployed", "prod")]


@pytest.mark.parametrize("job", ["tools", "dev"])
def test_finding_2_a_prod_deploy_with_another_accounts_credentials_is_refused_before_any_write(
    accounts: Accounts, job: str, capsys: pytest.CaptureFixture[str],
) -> None:
    accounts.ledger().record("1.0.0", "smoke_passed", "dev", CTX)
    accounts.ledger().record("1.0.0", "approved", "prod", CTX, details={"by": "boss"})
    before = accounts.events()
    prod = accounts.lambda_(accounts.prod)
    names = list(accounts.cfg.environment("prod").functions.values())
    shas = {n: prod.get_function(FunctionName=n)["Configuration"]["CodeSha256"] for n in names}

    code = accounts.deploy("prod", getattr(accounts, job))

    err = capsys.readouterr().err
    found = TOOLS if job == "tools" else DEV
    assert code == 5
    assert f"prod lives in AWS account {PROD}, but these credentials are of account {found}" \
        in err
    assert f"arn:aws:iam::{PROD}:role/deployers/vault-prod" in err
    assert accounts.events() == before  # not even a deploy_failed
    assert {n: prod.get_function(FunctionName=n)["Configuration"]["CodeSha256"]
            for n in names} == shas
    assert all(not prod.list_aliases(FunctionName=n)["Aliases"] for n in names)


def test_finding_2_a_role_of_another_account_than_the_environments_is_invalid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket="b-vault", dev=DEV, prod=PROD, tag="t").replace(
        f'account: "{DEV}"', f'account: "{DEV}"\n    role: arn:aws:iam::{PROD}:role/x'))
    with pytest.raises(ConfigError, match=rf"environments\[dev\]\.role: .* is a role of account "
                                        rf"{PROD}, but environments\[dev\]\.account is {DEV}"):
        config.load(path)


def method_not_allowed(**_: Any) -> AWSResponse:
    """S3's answer to GetBucketPolicy from any account but the bucket owner's."""
    body = (b"<Error><Code>MethodNotAllowed</Code><Message>The specified method is not "
            b"allowed against this resource.</Message></Error>")
    return AWSResponse("http://injected", 405, {"Content-Type": "application/xml"}, _Raw(body))


def test_finding_2_a_stage_account_deploys_from_a_protected_vault_whose_policy_it_cannot_read(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A protected vault is checked before a deploy, but S3 lets no other account read a
    bucket's policy (405; moto does not, so it is injected): versioning and object lock
    are still checked, the put-once statement is left to vault doctor in the vault's
    account, and the deploy goes on."""
    accounts.path.write_text(accounts.path.read_text().replace("protected: false",
                                                               "protected: true"))
    real = aws.client

    def client(service: str, region: str | None = None, **kwargs: Any) -> Any:
        built = real(service, region, **kwargs)
        if service == "s3":
            built.meta.events.register("before-send.s3.GetBucketPolicy", method_not_allowed)
        return built

    monkeypatch.setattr(aws, "client", client)
    assert accounts.deploy("dev", accounts.dev) == 0
    assert "can be read only from its own account" in caplog.text
    assert accounts.events() == [("deployed", "dev")]
