"""Checks a live vault's protections item by item: what holds, what does not, what to change.

The promises come from infra/vault.yaml: every bucket the pipeline reads code from is
versioned, object-locked with a default retention, private, encrypted, TLS-only, refuses
every delete and every write without ``If-None-Match``, and lives in the region of the
functions that read it; every function in vault.yml exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from functools import cache, partial
from typing import Any

from vault_actions.config import Config, Environment
from vault_actions.integrations import aws

ClientFactory = Callable[[str, str], Any]
Probe = Callable[[], tuple[bool, str]]

TEMPLATE = "infra/vault.yaml"
# Keys the put-once and no-delete statements must cover: an artifact and a ledger event.
SAMPLE_KEYS = ("v0.0.0/doctor-probe.zip", "ledger/v0.0.0/doctor-probe.json")
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets",
)
LEGACY_LOCATIONS = {"EU": "eu-west-1"}  # GetBucketLocation of buckets made long ago
ENCRYPTIONS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
# Error codes that mean "this is not configured" (not "cannot read it"), in words.
ABSENT = {
    "NoSuchPublicAccessBlockConfiguration": "no public access block",
    "ServerSideEncryptionConfigurationNotFoundError": "no default encryption",
    "ObjectLockConfigurationNotFoundError": "object lock is not enabled",
    "NoSuchBucketPolicy": "the bucket has no policy",
    "ResourceNotFoundException": "does not exist",
}
READ_PERMISSIONS = (
    "s3:GetBucketLocation, s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration, "
    "s3:GetBucketPublicAccessBlock, s3:GetEncryptionConfiguration, s3:GetBucketPolicy, "
    "lambda:GetFunction"
)
Conditions = dict[tuple[str, str], tuple[str, ...]]
PUT_ONCE = {("null", "s3:if-none-match"): ("true",)}
MULTIPART_EXEMPTION = {("bool", "s3:objectcreationoperation"): ("true",)}
TLS_ONLY = {("bool", "aws:securetransport"): ("false",)}


# What the embedded AWS of `vault demo` (a moto server) cannot hold: moto applies a bucket
# policy's conditions as if they always matched, so these conditional statements would
# refuse everything there. Only there are these items "not checkable".
EMBEDDED_UNPROVABLE = {
    "conditional-write": "its S3 applies policy conditions as if they always matched, so "
    "this statement would refuse every write (put-once rests there on If-None-Match, which "
    "it does enforce)",
    "tls-only": "it serves plain HTTP on 127.0.0.1 and applies policy conditions as if they "
    "always matched, so this statement would refuse every request",
}
NOT_CHECKABLE = "not checkable on the embedded AWS"


@dataclass(frozen=True)
class Item:
    """One promise: whether it holds, what was found, and what to change when it does not.

    ``checkable`` is False only on the demo's embedded AWS, for a promise it cannot prove:
    reported, neither passed nor failed.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    checkable: bool = True

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``not checkable``."""
        if not self.checkable:
            return "not checkable"
        return "pass" if self.ok else "fail"


@dataclass(frozen=True)
class Report:
    """Every item checked, in order."""

    items: tuple[Item, ...]

    @property
    def failed(self) -> tuple[Item, ...]:
        """The broken promises."""
        return tuple(i for i in self.items if i.status == "fail")

    @property
    def unchecked(self) -> tuple[Item, ...]:
        """The promises the embedded AWS cannot prove."""
        return tuple(i for i in self.items if not i.checkable)

    @property
    def ok(self) -> bool:
        """True when every promise holds."""
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``vault doctor --json``."""
        return {
            "ok": self.ok,
            "failed": len(self.failed),
            "not_checkable": len(self.unchecked),
            "items": [{**asdict(i), "status": i.status} for i in self.items],
        }


def examine(cfg: Config, client: ClientFactory, *, embedded: bool = False) -> Report:
    """Check every bucket vault.yml reads code from and every function it deploys.

    ``embedded``: the clients reach ``vault demo``'s embedded AWS (``aws.embedded()``);
    what it cannot prove is reported as not checkable instead of passed.
    """
    clients: dict[tuple[str, str], Any] = {}

    def cached(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[service, region] = client(service, region)
        return clients[service, region]

    items: list[Item] = []
    for bucket, readers in bucket_readers(cfg).items():
        items += bucket_items(partial(cached, "s3"), bucket, readers, cfg.vault.region,
                              cfg.vault.minimum_retention_days)
    for env in cfg.environments:
        items += function_items(cached("lambda", env.region), env)
    if not any(i.name == f"{cfg.vault.bucket}: exists" for i in items):  # else: reported
        items += ledger_items(cfg, cached("s3", cfg.vault.region))
    return Report(tuple(_unprovable(i) for i in items) if embedded else tuple(items))


def _unprovable(item: Item) -> Item:
    """An item the embedded AWS cannot hold becomes not checkable, whatever was found."""
    why = EMBEDDED_UNPROVABLE.get(item.name.rsplit(": ", 1)[-1])
    if why is None:
        return item
    return replace(item, ok=False, checkable=False, fix="",
                   detail=f"{NOT_CHECKABLE}: {why} (found: {item.detail})")


def ledger_items(cfg: Config, s3: Any) -> list[Item]:
    """Every object under ledger/ is an event, and every event holds (proof and authority)."""
    from vault_actions.errors import VaultActionsError
    from vault_actions.promotion import authority, live
    from vault_actions.store.ledger import Ledger

    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    try:
        found = authority.read(cfg, ledger)
        index = live.check_index(ledger, found)
    except VaultActionsError as exc:
        return [Item(f"{ledger.uri()}: readable", False, exc.message, exc.hint or "")]
    skipped = "; ".join(f"{s.key} ({s.problem})" for s in found.skipped)
    refused = "; ".join(f"v{j.event.version} {j.event.event} in {j.event.environment or '-'} "
                        f"{j.event.id} ({j.problem})" for j in found.refused)
    return [
        Item(f"{ledger.uri()}: only events", not skipped,
             skipped or f"{len(found.judged)} events, no foreign object",
             "these objects were not written by vault-actions and are skipped; find who "
             "could write them (CloudTrail) and narrow the roles' ledger/ permissions"),
        Item(f"{ledger.uri()}: every event proven", not refused,
             refused or "every event's proof and writer hold",
             "these events do not count for promotion; `vault verify` explains each "
             "(written outside Actions, a token that does not verify, or the wrong job)"),
        Item(f"{ledger.uri()}: live index up to date", index.ok, index.describe(),
             "run `vault ledger reindex`: it adds the missing pointers from the events "
             "(readers never believe a pointer over the events; a stale index only costs "
             "them a full read of the ledger)"),
    ]


def bucket_readers(cfg: Config) -> dict[str, dict[str, str]]:
    """bucket -> {who reads it: region}: vault.region, and each environment's functions."""
    readers: dict[str, dict[str, str]] = {cfg.vault.bucket: {"vault.region": cfg.vault.region}}
    for env in cfg.environments:
        readers.setdefault(env.bucket, {})[f"{env.name}'s functions"] = env.region
    return readers


def bucket_items(
    s3_in: Callable[[str], Any], bucket: str, readers: dict[str, str], home: str,
    minimum_days: int | None = None,
) -> list[Item]:
    """Region, versioning, object lock (at least ``minimum_days``), public access,
    encryption and the bucket policy."""
    from botocore.exceptions import ClientError

    try:
        location = s3_in(home).get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        return [Item(
            f"{bucket}: exists",
            False,
            f"cannot be read: {aws.describe(exc)}",
            f"create it with {TEMPLATE} or fix the bucket name in vault.yml "
            f"(reading it needs {READ_PERMISSIONS})",
        )]
    region = LEGACY_LOCATIONS.get(location, location) if location else "us-east-1"
    s3 = s3_in(region)

    @cache  # one read for the three policy items (an error is not cached: it re-raises)
    def policy() -> dict[str, Any]:
        return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))

    return [
        region_item(bucket, region, readers),
        _check(f"{bucket}: versioning", _versioning_fix(bucket),
               lambda: versioning(s3.get_bucket_versioning(Bucket=bucket))),
        _check(f"{bucket}: object-lock", _object_lock_fix(bucket, minimum_days),
               lambda: object_lock(s3.get_object_lock_configuration(Bucket=bucket),
                                   minimum_days)),
        _check(f"{bucket}: public-access-block", _public_access_fix(bucket),
               lambda: public_access(s3.get_public_access_block(Bucket=bucket))),
        _check(f"{bucket}: encryption", _encryption_fix(bucket),
               lambda: encryption(s3.get_bucket_encryption(Bucket=bucket))),
        _check(f"{bucket}: deny-delete", _statement_fix(bucket, "DenyObjectDeletes"),
               lambda: deny_delete(policy(), bucket)),
        _check(f"{bucket}: conditional-write", _statement_fix(bucket, "DenyUnconditionalWrites"),
               lambda: conditional_write(policy(), bucket)),
        _check(f"{bucket}: tls-only", _statement_fix(bucket, "DenyInsecureTransport"),
               lambda: tls_only(policy(), bucket)),
    ]


def function_items(lambda_: Any, env: Environment) -> list[Item]:
    """One item per function of ``env``: it exists in ``env.region``."""

    def exists(function: str) -> tuple[bool, str]:
        lambda_.get_function(FunctionName=function)
        return True, f"exists in {env.region}"

    return [
        _check(
            f"{env.name}: function {function}",
            f"create {function} in {env.region}, or map service {service} to an existing "
            f"function under environments[{env.name}].functions in vault.yml",
            partial(exists, function),
        )
        for service, function in env.functions.items()
    ]


def _check(name: str, fix: str, probe: Probe) -> Item:
    """Run one probe; a missing configuration fails the item, so does an unreadable one."""
    from botocore.exceptions import ClientError

    try:
        ok, detail = probe()
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in ABSENT:
            return Item(name, False, f"{ABSENT[code]} ({code})", fix)
        return Item(
            name,
            False,
            f"cannot be read: {aws.describe(exc)}",
            f"run vault doctor with credentials allowed {READ_PERMISSIONS}; if it is "
            f"missing: {fix}",
        )
    return Item(name, ok, detail, "" if ok else fix)


def region_item(bucket: str, region: str, readers: dict[str, str]) -> Item:
    """The bucket is in the region of everything that reads code from it."""
    name = f"{bucket}: region"
    wrong = {who: r for who, r in readers.items() if r != region}
    if not wrong:
        return Item(name, True, f"in {region}, like {', '.join(readers)}")
    found = ", ".join(f"{who} {'is' if who == 'vault.region' else 'are'} in {r}"
                      for who, r in wrong.items())
    wanted = ", ".join(sorted(set(wrong.values())))
    return Item(
        name,
        False,
        f"the bucket is in {region}, but {found}: Lambda only reads code from a bucket "
        "in its own region",
        f"use a bucket in {wanted} for them (deploy {TEMPLATE} with Role=dr in that "
        "region for a DR bucket) and set its name in vault.yml, or fix the region there",
    )


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


def public_access(response: dict[str, Any]) -> tuple[bool, str]:
    """All four public access block flags must be on."""
    conf = response.get("PublicAccessBlockConfiguration", {})
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not conf.get(flag)]
    if off:
        return False, f"{', '.join(off)} off"
    return True, "all four flags on"


def encryption(response: dict[str, Any]) -> tuple[bool, str]:
    """A default server-side encryption rule must exist."""
    rules = response.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    found = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    good = [a for a in found if a in ENCRYPTIONS]
    if not good:
        return False, f"no default encryption rule (found: {found or 'none'})"
    return True, f"default encryption {good[0]}"


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
    statements = _as_list(document.get("Statement"))
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


def _as_list(value: Any) -> list[Any]:
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
    return isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))


def _covers_action(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(p, action, fold=True) for p in _as_list(statement["NotAction"]))
    return any(_glob(p, action, fold=True) for p in _as_list(statement.get("Action")))


def _resource_matches(pattern: str, resource: str) -> bool:
    """``resource`` is ``bucket`` or ``bucket/key``; partitions (aws, aws-cn…) all match."""
    if pattern == "*":
        return True
    found = re.fullmatch(r"arn:[^:]*:s3:::(.*)", pattern)
    return found is not None and _glob(found.group(1), resource)


def _covers_resource(statement: dict[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_resource_matches(p, resource) for p in _as_list(statement["NotResource"]))
    return any(_resource_matches(p, resource) for p in _as_list(statement.get("Resource")))


def _conditions(statement: dict[str, Any]) -> Conditions:
    """{(operator, key): values}, lower-cased: IAM condition keys are case-insensitive."""
    out: Conditions = {}
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, values in entries.items():
            out[operator.lower(), key.lower()] = tuple(
                str(v).lower() for v in _as_list(values)
            )
    return out


def _versioning_fix(bucket: str) -> str:
    return (
        f"aws s3api put-bucket-versioning --bucket {bucket} "
        "--versioning-configuration Status=Enabled (then enable object lock)"
    )


def _object_lock_fix(bucket: str, minimum_days: int | None) -> str:
    days = minimum_days or 400
    return (
        f"aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration "
        f"'ObjectLockEnabled=Enabled,Rule={{DefaultRetention={{Mode=GOVERNANCE,Days={days}}}}}' "
        f"(versioning must be enabled; {TEMPLATE} sets RetentionMode and RetentionDays: "
        "update the stack with RetentionDays of at least vault.minimum-retention-days)"
    )


def _public_access_fix(bucket: str) -> str:
    return (
        f"aws s3api put-public-access-block --bucket {bucket} "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
        "BlockPublicPolicy=true,RestrictPublicBuckets=true"
    )


def _encryption_fix(bucket: str) -> str:
    return (
        f"aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-"
        "configuration '{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":"
        "{\"SSEAlgorithm\":\"AES256\"}}]}'"
    )


def _statement_fix(bucket: str, sid: str) -> str:
    return (
        f"restore statement {sid} of {TEMPLATE}'s BucketPolicy in the policy of {bucket} "
        "(redeploying the stack does it)"
    )


def render(report: Report) -> str:
    """A checklist: ✅/❌ per item, with the fix under each failed one."""
    icons = {"pass": "✅", "fail": "❌", "not checkable": "➖"}
    lines = []
    for item in report.items:
        lines.append(f"{icons[item.status]} {item.name}: {item.detail}")
        if item.status == "fail":
            lines.append(f"   → {item.fix}")
    unchecked = len(report.unchecked)
    total = len(report.items) - unchecked
    aside = f" ({unchecked} more {NOT_CHECKABLE}, ➖)" if unchecked else ""
    if report.ok:
        promise = "as far as it can show" if unchecked else "the vault keeps its promises"
        lines.append(f"\nAll {total} checks pass{aside}: {promise}.")
    else:
        lines.append(f"\n{len(report.failed)} of {total} checks fail{aside}: change what the "
                     "→ lines say, then run vault doctor again.")
    return "\n".join(lines)
