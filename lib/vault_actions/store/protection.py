"""What makes a bucket a vault, read from its configuration: versioning, object lock and
a bucket policy that denies deletes and every write without ``If-None-Match``.

Pure checks on S3's answers, shared by ``vault doctor`` (which reports each one) and the
deploy (which refuses a bucket that lacks one, unless vault.yml says it is unprotected).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

# Keys the put-once and no-delete statements must cover: an artifact and a ledger event.
SAMPLE_KEYS = ("v0.0.0/doctor-probe.zip", "ledger/v0.0.0/dev/doctor-probe.json")
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
Conditions = dict[tuple[str, str], tuple[str, ...]]
PUT_ONCE = {("null", "s3:if-none-match"): ("true",)}
MULTIPART_EXEMPTION = {("bool", "s3:objectcreationoperation"): ("true",)}
TLS_ONLY = {("bool", "aws:securetransport"): ("false",)}


def versioning(response: dict[str, Any]) -> tuple[bool, str]:
    """Versioning must be Enabled."""
    status = response.get("Status")
    return status == "Enabled", f"status {status or 'never enabled'}"


def object_lock(response: dict[str, Any], minimum_days: int | None = None) -> tuple[bool, str]:
    """Object Lock must be enabled with a default retention of at least ``minimum_days``
    (``vault.minimum-retention-days``; S3 counts a year as 365 days)."""
    conf = response.get("ObjectLockConfiguration", {})
    if conf.get("ObjectLockEnabled") != "Enabled":
        return False, "object lock is not enabled"
    retention = conf.get("Rule", {}).get("DefaultRetention", {})
    days = int(retention.get("Days") or 0) or 365 * int(retention.get("Years") or 0)
    period = (f"{retention['Days']} days" if retention.get("Days")
              else f"{retention['Years']} years" if retention.get("Years") else "")
    if not retention.get("Mode") or not period:
        return False, "enabled, but without a default retention: new objects are not locked"
    found = f"default retention {retention['Mode']} {period}"
    if minimum_days is None:
        return True, f"enabled; {found}"
    if days < minimum_days:
        return False, (f"enabled, but {found} is shorter than vault.minimum-retention-days "
                       f"({minimum_days} days) in vault.yml: evidence would expire too soon")
    return True, f"enabled; {found} (vault.yml asks at least {minimum_days} days)"


def deny_delete(document: dict[str, Any], bucket: str) -> tuple[bool, str]:
    """Everyone is denied, without conditions, deleting objects and object versions."""
    pairs = [(a, f"{bucket}/{k}") for a in DELETE_ACTIONS for k in SAMPLE_KEYS]
    return _denied(document, pairs, lambda c: not c, "deletes of objects and versions",
                   f"nothing denies everyone, unconditionally, {' and '.join(DELETE_ACTIONS)} "
                   f"on {bucket}/*")


def conditional_write(document: dict[str, Any], bucket: str) -> tuple[bool, str]:
    """Everyone is denied s3:PutObject without If-None-Match on v*/ and ledger/ keys."""
    pairs = [("s3:PutObject", f"{bucket}/{k}") for k in SAMPLE_KEYS]
    return _denied(
        document, pairs, lambda c: c in (PUT_ONCE, PUT_ONCE | MULTIPART_EXEMPTION),
        "s3:PutObject without If-None-Match",
        "nothing denies s3:PutObject when s3:if-none-match is absent (Null = true) on "
        "v*/ and ledger/ keys: an existing version could be overwritten",
    )


def tls_only(document: dict[str, Any], bucket: str) -> tuple[bool, str]:
    """Everyone is denied every request over plain HTTP."""
    key = f"{bucket}/{SAMPLE_KEYS[0]}"
    pairs = [("s3:GetObject", key), ("s3:PutObject", key), ("s3:ListBucket", bucket)]
    return _denied(document, pairs, lambda c: c == TLS_ONLY, "requests without TLS",
                   "nothing denies s3:* when aws:SecureTransport is false")


def _denied(
    document: dict[str, Any],
    pairs: Iterable[tuple[str, str]],
    conditions_ok: Callable[[Conditions], bool],
    what: str,
    failure: str,
) -> tuple[bool, str]:
    statements = as_list(document.get("Statement"))
    sids: list[str] = []
    for action, resource in pairs:
        found = [
            str(s.get("Sid", "(no Sid)"))
            for s in statements
            if isinstance(s, dict) and s.get("Effect") == "Deny" and _everyone(s)
            and _covers_action(s, action) and _covers_resource(s, resource)
            and conditions_ok(_conditions(s))
        ]
        if not found:
            return False, failure
        sids += [sid for sid in found if sid not in sids]
    return True, f"{what} denied to everyone ({', '.join(sids)})"


def as_list(value: Any) -> list[Any]:
    """``value`` as a list (IAM allows a single value or a list)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, fold: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


def _everyone(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))


def _covers_action(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(p, action, fold=True) for p in as_list(statement["NotAction"]))
    return any(_glob(p, action, fold=True) for p in as_list(statement.get("Action")))


def _resource_matches(pattern: str, resource: str) -> bool:
    """``resource`` is ``bucket`` or ``bucket/key``; partitions (aws, aws-cn…) all match."""
    if pattern == "*":
        return True
    found = re.fullmatch(r"arn:[^:]*:s3:::(.*)", pattern)
    return found is not None and _glob(found.group(1), resource)


def _covers_resource(statement: dict[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_resource_matches(p, resource) for p in as_list(statement["NotResource"]))
    return any(_resource_matches(p, resource) for p in as_list(statement.get("Resource")))


def _conditions(statement: dict[str, Any]) -> Conditions:
    """{(operator, key): values}, lower-cased: IAM condition keys are case-insensitive."""
    out: Conditions = {}
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, values in entries.items():
            out[operator.lower(), key.lower()] = tuple(
                str(v).lower() for v in as_list(values)
            )
    return out


# Configuration that is absent (not unreadable), by error code.
NOT_CONFIGURED = frozenset({"ObjectLockConfigurationNotFoundError", "NoSuchBucketPolicy"})


def gaps(s3: Any, bucket: str) -> list[str]:
    """The vault protections ``bucket`` lacks (empty: versioned, locked, put-once).

    Raises botocore's ClientError when S3 refuses to say (the caller explains it). The
    bucket policy is readable only from the bucket owner's account (S3 answers 405 to any
    other, a stage account's deploy role included): then only versioning and object lock
    are checked, with a warning; vault doctor, run in the vault's account, checks the
    policy.
    """
    from botocore.exceptions import ClientError

    def probe(read: Callable[[], tuple[bool, str]], what: str) -> list[str]:
        try:
            ok, detail = read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in NOT_CONFIGURED:
                raise
            ok, detail = False, "not configured"
        return [] if ok else [f"{what} ({detail})"]

    def policy() -> dict[str, Any]:
        return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))

    def put_once() -> list[str]:
        try:
            return probe(lambda: conditional_write(policy(), bucket), "the put-once bucket policy")
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 405:
                raise
            log.warning("the policy of bucket %s can be read only from its own account: its "
                        "put-once statement is not checked here (vault doctor checks it)", bucket)
            return []

    return [
        *probe(lambda: versioning(s3.get_bucket_versioning(Bucket=bucket)), "versioning"),
        *probe(lambda: object_lock(s3.get_object_lock_configuration(Bucket=bucket)),
               "object lock"),
        *put_once(),
    ]
