"""The one place that builds boto3 clients and retries what botocore does not.

Endpoints, credentials and the default region come from the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``…), so the same code runs
against AWS and against a moto server.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from vault_actions.errors import ConfigError, CredentialsError, VaultActionsError, VaultError

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 6
EMBEDDED_ENV = "VAULT_EMBEDDED_AWS_URL"  # set by vault demo's embedded AWS (demo/emulator.py)


def client(
    service: str,
    region: str | None = None,
    *,
    attempts: int = MAX_ATTEMPTS,
    timeout_seconds: float | None = None,
    credentials: Mapping[str, str] | None = None,
) -> Any:
    """A botocore client (what boto3 builds) with standard-mode retries (throttling, 5xx, SlowDown).

    Without ``region``, ``AWS_REGION`` (what the AWS SDKs and configure-aws-credentials
    set) or ``AWS_DEFAULT_REGION`` applies. ``attempts`` and ``timeout_seconds`` (connect
    and read) shorten a call whose failure is expected and harmless. ``credentials``
    (session keywords, see ``assumed``) replace the environment's. Each client has its
    own session (credentials and endpoint read now); the service models are loaded once
    per process (``_loader``): a second client costs about 25 ms, not 150.
    """
    import botocore.session
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": attempts},
        max_pool_connections=32,
    )
    if timeout_seconds is not None:
        config = config.merge(
            Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds)
        )
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    keys = credentials or {}
    session: Any = botocore.session.get_session()
    session.register_component("data_loader", _loader())
    if keys:
        session.set_credentials(keys.get("aws_access_key_id"),
                                keys.get("aws_secret_access_key"), keys.get("aws_session_token"))
    return session.create_client(service, region_name=region, config=config)


@functools.cache
def _loader() -> Any:
    """The process's botocore data loader (it caches each model it reads; read-only),
    with ``AWS_DATA_PATH``'s models as botocore's own would have."""
    from botocore.loaders import create_loader

    return create_loader(os.environ.get("AWS_DATA_PATH"))


def assumed(role_arn: str, session_name: str = "vault-doctor") -> Callable[[str, str], Any]:
    """A ``(service, region)`` client factory acting as ``role_arn`` (STS AssumeRole with
    the current credentials); botocore's ClientError when STS refuses."""
    found = client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
    creds = found["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}
    return lambda service, region: client(service, region, credentials=keys)


def caller_account(sts: Any) -> str:
    """The AWS account of the credentials ``sts`` signs with (STS GetCallerIdentity)."""
    return str(sts.get_caller_identity()["Account"])


def embedded(env: Mapping[str, str] | None = None) -> bool:
    """True when every AWS call goes to ``vault demo``'s embedded AWS: AWS_ENDPOINT_URL is
    a loopback URL, the one the demo announced in ``EMBEDDED_ENV``, and no per-service
    endpoint points elsewhere. Real AWS is never on loopback."""
    env = os.environ if env is None else env
    url = env.get("AWS_ENDPOINT_URL", "")
    if not url or env.get(EMBEDDED_ENV) != url:
        return False
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return False
    return all(v == url for k, v in env.items() if k.startswith("AWS_ENDPOINT_URL_"))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ClientError (0 for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def retry_codes(
    call: Callable[[], T],
    codes: Collection[str],
    what: str,
    *,
    attempts: int = MAX_ATTEMPTS,
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying the AWS error ``codes`` with bounded exponential backoff.

    For errors botocore does not retry but we must (S3 409 ConditionalRequestConflict,
    Lambda ResourceConflictException). Every other error propagates at once.
    """
    from botocore.exceptions import ClientError

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in codes or attempt == attempts:
                raise
            delay = min(base_delay * 2 ** (attempt - 1), 5.0)
            log.warning(
                "%s: %s (attempt %d/%d), retrying in %.1fs",
                what, error_code(exc), attempt, attempts, delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def translate(exc: BaseException) -> VaultActionsError | None:
    """A user-facing error for the AWS SDK failures every command can meet, else None."""
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoCredentialsError):
        return CredentialsError(
            "no AWS credentials were found",
            "in Actions use aws-actions/configure-aws-credentials (OIDC) before this step; "
            "locally sign in (aws sso login, AWS_PROFILE=…) or set AWS_ACCESS_KEY_ID",
        )
    if isinstance(exc, boto.NoRegionError):
        return ConfigError("no AWS region is set", "set AWS_REGION (e.g. us-east-1)")
    if isinstance(exc, boto.EndpointConnectionError):
        return VaultError(
            f"AWS could not be reached: {exc}",
            "check the network and AWS_ENDPOINT_URL (unset it to use AWS itself)",
        )
    if isinstance(exc, boto.ClientError) and error_code(exc) in _EXPIRED:
        return CredentialsError(
            f"the AWS credentials were refused ({describe(exc)})",
            "renew them (a new OIDC session or aws sso login) and rerun",
        )
    return None


_EXPIRED = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
)


def describe(exc: ClientError) -> str:
    """A one-line description of a ClientError: code and message."""
    err = exc.response.get("Error", {})
    return f"{err.get('Code', 'Unknown')}: {err.get('Message', str(exc))}"
