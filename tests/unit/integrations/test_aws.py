"""The one place boto3 clients are built, and the AWS failures every command can meet."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from tests.conftest import MotoServer
from vault_actions.errors import ConfigError, CredentialsError, VaultError
from vault_actions.integrations import aws


def client_error(code: str, status: int = 400, message: str = "nope") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def test_client_uses_the_standard_environment_and_standard_retries(
    aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    s3 = aws.client("s3")
    assert s3.meta.region_name == "eu-west-1"
    retries = s3.meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == aws.MAX_ATTEMPTS + 1  # botocore counts the first try
    assert aws.client("s3", "us-west-2").meta.region_name == "us-west-2"
    quick = aws.client("sts", attempts=1, timeout_seconds=2)
    assert quick.meta.config.connect_timeout == 2 and quick.meta.config.read_timeout == 2
    assert quick.get_caller_identity()["Account"]  # the moto server answers


def test_each_client_reads_the_credentials_of_its_moment_sharing_only_the_models(
    aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients share the process's model loader (a second client costs ~25 ms, not 150),
    never credentials: each signs with the environment's, or the keys it is given, of the
    time it was made (moto puts an assumed role's requests in the role's account)."""
    def keys(account: str) -> dict[str, str]:
        creds = aws.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/deploy", RoleSessionName="test")["Credentials"]
        return {"aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"]}

    dev, prod, given = keys("111111111111"), keys("222222222222"), keys("333333333333")
    made = []
    for found in (dev, prod):
        for name, value in found.items():
            monkeypatch.setenv(name.upper(), value)
        made.append(aws.client("sts"))
    made.append(aws.client("sts", credentials=given))
    accounts = [aws.caller_account(c) for c in made]
    assert accounts == ["111111111111", "222222222222", "333333333333"]
    assert aws._loader() is aws._loader()


def test_error_code_and_status_of_client_errors_only() -> None:
    exc = client_error("PreconditionFailed", 412)
    assert (aws.error_code(exc), aws.http_status(exc)) == ("PreconditionFailed", 412)
    assert (aws.error_code(ValueError("x")), aws.http_status(ValueError("x"))) == ("", 0)
    assert aws.describe(exc) == "PreconditionFailed: nope"


def test_retry_codes_retries_only_the_named_codes_with_backoff() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("ConditionalRequestConflict", 409)
        return "done"

    assert aws.retry_codes(flaky, {"ConditionalRequestConflict"}, "put", sleep=slept.append) == "done"
    assert slept == [0.2, 0.4]

    def denied() -> Any:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    calls.clear()
    with pytest.raises(ClientError):
        aws.retry_codes(denied, {"ConditionalRequestConflict"}, "put", sleep=slept.append)
    assert len(calls) == 1  # not retried


def test_retry_codes_gives_up_after_its_attempts() -> None:
    slept: list[float] = []

    def always() -> Any:
        raise client_error("ResourceConflictException", 409)

    with pytest.raises(ClientError):
        aws.retry_codes(always, {"ResourceConflictException"}, "update", attempts=3,
                        sleep=slept.append)
    assert slept == [0.2, 0.4]


@pytest.mark.parametrize(("exc", "kind", "text"), [
    (NoCredentialsError(), CredentialsError, "no AWS credentials were found"),
    (NoRegionError(), ConfigError, "no AWS region is set"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), VaultError, "AWS could not be reached"),
    (client_error("ExpiredToken", 400, "token expired"), CredentialsError,
     "the AWS credentials were refused (ExpiredToken: token expired)"),
])
def test_translate_turns_sdk_failures_into_clear_errors(exc: Exception, kind: type, text: str) -> None:
    found = aws.translate(exc)
    assert isinstance(found, kind) and text in found.message and found.hint


def test_translate_leaves_other_errors_alone() -> None:
    assert aws.translate(client_error("NoSuchKey", 404)) is None
    assert aws.translate(RuntimeError("boom")) is None
