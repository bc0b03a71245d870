"""vault doctor per environment of its own account (issue 14, finding 2), on moto.

The vault is in the tools account T, dev's functions in A, prod's in B (the fixture of
tests/unit/deliver/test_accounts.py). Doctor acts as each environment's role: the
current credentials when they are of its account, else STS AssumeRole; it reads an
artifact of the newest release and dry-runs UpdateFunctionCode on every function. moto
does not enforce IAM or bucket policies, so a refusal is injected where AWS would answer
one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.unit.deliver.test_accounts import (
    DEV,
    PROD,
    REGION,
    Accounts,
    _Raw,
    accounts,
)
from tests.unit.deliver.test_deploy import lambda_error
from vault_actions import cli
from vault_actions.integrations import aws
from vault_actions.setup import doctor

__all__ = ["accounts"]  # the fixture


def env_items(report: doctor.Report, env: str) -> dict[str, doctor.Item]:
    return {i.name: i for i in report.items if i.name.startswith(f"{env}: ")}


def state(accounts: Accounts) -> dict[str, Any]:
    """What a doctor must never change: every function's code and versions, the ledger."""
    found: dict[str, Any] = {}
    for env, creds in (("dev", accounts.dev), ("prod", accounts.prod)):
        lambda_ = accounts.lambda_(creds)
        for function in accounts.cfg.environment(env).functions.values():
            found[function] = (
                lambda_.get_function(FunctionName=function)["Configuration"]["CodeSha256"],
                [v["Version"] for v in lambda_.list_versions_by_function(
                    FunctionName=function)["Versions"]])
    found["ledger"] = [e.id for e in accounts.ledger().events()]
    return found


def denied(operation: str) -> Callable[..., AWSResponse]:
    """An AccessDenied of S3 (XML) or STS (XML in an ErrorResponse)."""
    error = (f"<Error><Code>AccessDenied</Code><Message>not authorized to perform "
             f"{operation}</Message></Error>")
    body = (f"<ErrorResponse>{error}</ErrorResponse>" if operation.startswith("sts:")
            else error).encode()

    def answer(**_: Any) -> AWSResponse:
        return AWSResponse("http://injected", 403, {"Content-Type": "application/xml"},
                           _Raw(body))

    return answer


def test_finding_2_doctor_checks_each_environment_as_its_role_in_its_account(
    accounts: Accounts,
) -> None:
    before = state(accounts)
    with accounts.as_(accounts.tools):
        report = doctor.examine(accounts.cfg, aws.client)

    for env, account, role in (
        ("dev", DEV, f"arn:aws:iam::{DEV}:role/vault-dev"),
        ("prod", PROD, f"arn:aws:iam::{PROD}:role/deployers/vault-prod"),
    ):
        items = env_items(report, env)
        acting = items[f"{env}: acts as {role}"]
        assert acting.ok and acting.detail == f"assumed (STS AssumeRole) in account {account}"
        read = items[f"{env}: reads releases"]
        assert read.ok and read.detail.startswith(
            f"HeadObject and GetObject of s3://{accounts.bucket}/v1.0.0/"), read
        for function in accounts.cfg.environment(env).functions.values():
            assert items[f"{env}: function {function}"].ok  # found in its own account
            update = items[f"{env}: may update {function}"]
            assert update.ok and "UpdateFunctionCode (DryRun) from s3://" in update.detail
    assert state(accounts) == before  # no code, version or event changed


def test_finding_2_doctor_uses_the_current_credentials_in_their_own_account(
    accounts: Accounts,
) -> None:
    with accounts.as_(accounts.dev):
        report = doctor.examine(accounts.cfg, aws.client)
    acting = env_items(report, "dev")[f"dev: acts as arn:aws:iam::{DEV}:role/vault-dev"]
    assert acting.ok and acting.detail == f"the current credentials are of account {DEV}"


def test_finding_2_doctor_fails_each_environment_on_what_its_role_cannot_do_with_the_fix(
    accounts: Accounts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prod's role cannot be assumed; dev's role may not read the vault (no grant in the
    bucket policy) nor update its beta function: each is a failed item with its fix."""
    beta = accounts.cfg.environment("dev").functions["beta"]
    real = aws.assumed

    def assumed(role: str, session_name: str = "vault-doctor") -> Any:
        if "vault-prod" in role:
            sts = aws.client("sts", REGION)
            sts.meta.events.register("before-send.sts.AssumeRole", denied("sts:AssumeRole"))
            sts.assume_role(RoleArn=role, RoleSessionName=session_name)
        clients = real(role, session_name)

        def client(service: str, region: str) -> Any:
            built = clients(service, region)
            if service == "s3":
                built.meta.events.register("before-send.s3.HeadObject", denied("s3:GetObject"))
            if service == "lambda":
                def only_beta(request: Any, **_: Any) -> AWSResponse | None:
                    if f"/functions/{beta}/" in request.url:
                        return lambda_error(403, "AccessDeniedException",
                                            "not authorized to perform lambda:UpdateFunctionCode")
                    return None
                built.meta.events.register("before-send.lambda.UpdateFunctionCode", only_beta)
            return built

        return client

    monkeypatch.setattr(aws, "assumed", assumed)
    with accounts.as_(accounts.tools):
        code = cli.main(["doctor", "--config", str(accounts.path)])
    out = capsys.readouterr().out

    assert code == 4
    prod_role = f"arn:aws:iam::{PROD}:role/deployers/vault-prod"
    assert f"❌ prod: acts as {prod_role}: cannot be assumed: AccessDenied" in out
    assert (f"→ deploy infra/stage.yaml in account {PROD} (Environment=prod; its RoleArn "
            f"output is {prod_role}) with OperatorPrincipalArn=") in out
    assert "❌ dev: reads releases: cannot read: AccessDenied" in out
    assert (f"→ list arn:aws:iam::{DEV}:role/vault-dev in StageRoleArns (and dev in Stages) "
            "of the vault stack (infra/vault.yaml)") in out
    assert f"❌ dev: may update {beta}: refused: AccessDeniedException" in out
    alpha = accounts.cfg.environment("dev").functions["alpha"]
    assert f"✅ dev: may update {alpha}" in out
