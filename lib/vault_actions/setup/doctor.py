"""Checks a live vault's protections item by item: what holds, what does not, what to change.

The promises come from infra/vault.yaml: every bucket the pipeline reads code from is
versioned, object-locked with a default retention, private, encrypted, TLS-only, refuses
every delete and every write without ``If-None-Match``, and lives in the region of the
functions that read it; every function in vault.yml exists. An environment with its own
AWS account is checked as its deploy role (infra/stage.yaml): doctor acts as it (the
current credentials when they are that account's, else STS AssumeRole), reads an artifact
of the newest release and dry-runs UpdateFunctionCode on each function.

One piece (over 400 lines): every check and its fix are read from the same promises of
infra/vault.yaml, item by item.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from vault_actions.config import Config, Environment
from vault_actions.integrations import aws
from vault_actions.store.protection import (
    conditional_write,
    deny_delete,
    object_lock,
    tls_only,
    versioning,
)
from vault_actions.store.vault import Vault

if TYPE_CHECKING:
    from vault_actions.store.manifest import Manifest

ClientFactory = Callable[[str, str], Any]
Assume = Callable[[str], ClientFactory]  # role ARN -> clients acting as it
Probe = Callable[[], tuple[bool, str]]

TEMPLATE = "infra/vault.yaml"
STAGE_TEMPLATE = "infra/stage.yaml"
EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18  # what a dry UpdateFunctionCode sends without a release
NEWEST = 5  # versions tried for the newest complete release
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


def examine(cfg: Config, client: ClientFactory, *, embedded: bool = False,
            assume: Assume | None = None) -> Report:
    """Check every bucket vault.yml reads code from and every function it deploys.

    ``embedded``: the clients reach ``vault demo``'s embedded AWS (``aws.embedded()``);
    what it cannot prove is reported as not checkable instead of passed. ``assume``
    gives the clients of an environment's role in its own account (default:
    ``aws.assumed``).
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
        if env.aws_account is None:
            items += function_items(cached("lambda", env.region), env)
        else:
            items += account_items(cfg, env, cached, assume or aws.assumed)
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
    from vault_actions.promotion import authority, derived
    from vault_actions.store.ledger import Ledger

    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    try:
        found = authority.read(cfg, ledger)
        index = derived.check_index(cfg, ledger, found)
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
        _check(f"{bucket}: single-version-keys", _tamper_fix(bucket),
               lambda: single_versions(Vault(s3, bucket))),
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


def account_items(cfg: Config, env: Environment, client: ClientFactory,
                  assume: Assume) -> list[Item]:
    """An environment of its own account, as its deploy role: the role, a read of the
    newest release, each function (GetFunction) and a dry UpdateFunctionCode on it."""
    account, role = str(env.aws_account), env.role_arn("")
    acting, clients = _acting_as(env, account, role, client, assume)
    if clients is None:
        return [acting]
    read, manifest = _read_item(cfg, env, clients, role)
    lambda_ = clients("lambda", env.region)
    return [acting, read, *function_items(lambda_, env),
            *(_update_item(lambda_, env, service, function, manifest=manifest, role=role)
              for service, function in env.functions.items())]


def _acting_as(env: Environment, account: str, role: str, client: ClientFactory,
               assume: Assume) -> tuple[Item, ClientFactory | None]:
    """The current clients when they are of ``account``, else those of ``role``."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"{env.name}: acts as {role}"
    try:
        current = aws.caller_account(client("sts", env.region))
        if current == account:
            return Item(name, True, f"the current credentials are of account {account}"), client
        clients = assume(role)
        found = aws.caller_account(clients("sts", env.region))
    except (ClientError, BotoCoreError) as exc:
        why = aws.describe(exc) if isinstance(exc, ClientError) else str(exc)
        return Item(name, False, f"cannot be assumed: {why}", _assume_fix(env, account, role)), None
    if found != account:
        return Item(name, False, f"assumed, but its requests are in account {found}",
                    f"environments[{env.name}].role must be a role of account {account}"), None
    return Item(name, True, f"assumed (STS AssumeRole) in account {account}"), clients


def _assume_fix(env: Environment, account: str, role: str) -> str:
    return (f"deploy {STAGE_TEMPLATE} in account {account} (Environment={env.name}; its "
            f"RoleArn output is {role}) with OperatorPrincipalArn=<the role you run vault "
            f"doctor as>, or run vault doctor with credentials of account {account}")


def _read_item(cfg: Config, env: Environment, clients: ClientFactory,
               role: str) -> tuple[Item, Manifest | None]:
    """HeadObject and GetObject (one byte) of an artifact of the newest release, as the role."""
    from botocore.exceptions import ClientError

    from vault_actions.errors import VaultActionsError
    from vault_actions.store.ledger import Ledger

    name = f"{env.name}: reads releases"
    fix = (f"list {role} in StageRoleArns (and {env.name} in Stages) of the vault stack "
           f"({TEMPLATE}): its bucket policy must grant the role; and the role's own policy "
           f"({STAGE_TEMPLATE}, VaultBucketName={env.bucket}) must allow s3:GetObject and "
           "s3:GetObjectVersion")
    s3 = clients("s3", env.region)
    try:
        versions = Ledger(clients("s3", cfg.vault.region), cfg.vault.bucket,
                          cfg.vault.ledger_prefix).versions()[:NEWEST]
        manifest = next((m for v in versions
                         if (m := Vault(s3, env.bucket).manifest(v)) and m.artifacts), None)
        if manifest is None:
            return Item(name, True, "no release in the vault yet: nothing to read"), None
        artifact = manifest.artifacts[0]
        where = {"Bucket": env.bucket, "Key": artifact.key, "VersionId": artifact.version_id}
        s3.head_object(**where)
        s3.get_object(**where, Range="bytes=0-0")["Body"].read()
    except ClientError as exc:
        return Item(name, False, f"cannot read: {aws.describe(exc)}", fix), None
    except VaultActionsError as exc:
        return Item(name, False, f"cannot read: {exc.message}", fix), None
    return Item(name, True, f"HeadObject and GetObject of s3://{env.bucket}/{artifact.key} "
                f"(v{manifest.version}, S3 version {artifact.version_id})"), manifest


def _update_item(lambda_: Any, env: Environment, service: str, function: str, *,
                 manifest: Manifest | None, role: str) -> Item:
    """UpdateFunctionCode with DryRun (Lambda checks the rights and the request, changes
    nothing), from the release's artifact when there is one."""
    code: dict[str, Any] = {"ZipFile": EMPTY_ZIP}
    record = next((a for a in manifest.artifacts if a.service == service), None) \
        if manifest else None
    if record is not None:
        code = {"S3Bucket": env.bucket, "S3Key": record.key, "S3ObjectVersion": record.version_id}

    from botocore.exceptions import ClientError

    name = f"{env.name}: may update {function}"
    try:
        lambda_.update_function_code(FunctionName=function, DryRun=True, **code)
    except ClientError as exc:
        return Item(name, False, f"refused: {aws.describe(exc)}",
                    f"the DeployFunctions statement of {role} ({STAGE_TEMPLATE}, parameter "
                    f"Functions) must cover {function} in {env.region} of account "
                    f"{env.aws_account}, and the function must exist there")
    source = f"s3://{env.bucket}/{record.key}" if record else "an empty zip"
    return Item(name, True, f"UpdateFunctionCode (DryRun) from {source} allowed")


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


def single_versions(vault: Vault) -> tuple[bool, str]:
    """Every key has exactly one S3 version: put-once never makes a second one."""
    found = vault.rewritten("")
    if not found:
        return True, "every object has one version (nothing was overwritten or deleted)"
    listed = ", ".join(f"{key} ({n} versions)" for key, n in list(found.items())[:20])
    more = f" and {len(found) - 20} more" if len(found) > 20 else ""
    return False, f"tampering: {listed}{more}"


def _tamper_fix(bucket: str) -> str:
    return (
        f"something wrote to s3://{bucket} without If-None-Match or deleted objects: deploys "
        "refuse those versions and the ledger counts only each event's first version; "
        "investigate with CloudTrail (S3 data events), restore the bucket policy, and "
        "release a new version of what was touched"
    )


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
