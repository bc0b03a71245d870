"""Phase 5, disaster recovery: copy the release live in PROD to the DR bucket, deploy it there.

Lambda reads code only from a bucket in its own region, so a DR mirror (an environment
with ``mirror-of``) has its own bucket. A sync copies the release's artifacts, then its
manifest (last, with the DR object versions), put-once, under the same keys; then it
deploys from the DR bucket with every check of a normal deploy and records ``dr_synced``
in the primary ledger: the release is *Globally Synced*.

The bytes travel through the runner (GetObject of the pinned version → a temp file →
PutObject) rather than by a cross-region CopyObject: only PutObject honours
``If-None-Match: *``, so this is what keeps every DR object put-once, and the runner
checks the SHA-256 of what it read before S3 checks it again on the way in.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vault_actions.deliver import outcomes
from vault_actions.deliver.lambdas import DEFAULT_PARALLEL, DeployResult, deploy_release
from vault_actions.errors import (
    ConfigError,
    ImmutableVersionError,
    PromotionRefused,
    TamperError,
    VaultActionsError,
)
from vault_actions.promotion import policy
from vault_actions.store.manifest import ArtifactRecord, Manifest, manifest_key
from vault_actions.store.vault import b64_sha256

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment
    from vault_actions.context import RunContext
    from vault_actions.promotion.live import Reader
    from vault_actions.store.ledger import Event, Ledger
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)

COPY_WORKERS = 4
CHUNK_BYTES = 1024 * 1024
TAKEN_HINT = (
    "only `vault dr-sync` writes releases to the DR bucket: find who wrote this object "
    "(CloudTrail); it cannot be replaced, so release a new version and sync that one"
)

CopyStatus = Literal["copied", "present"]


@dataclass(frozen=True)
class Plan:
    """A sync the policy allows: which version goes to which mirror, and from where.

    ``synced`` is True when the mirror already runs the version by a ``dr_synced``.
    """

    mirror: Environment
    source: str
    version: str
    synced: bool


@dataclass(frozen=True)
class CopiedObject:
    """One object in the DR bucket: the vault's bytes under the same key."""

    key: str
    version_id: str
    code_sha256: str
    size: int
    status: CopyStatus


@dataclass(frozen=True)
class SyncResult:
    """A release copied to a mirror's bucket and deployed to its functions."""

    version: str
    environment: str
    source: str
    bucket: str
    region: str
    objects: tuple[CopiedObject, ...]
    deploy: DeployResult
    recorded: Event | None

    @property
    def ok(self) -> bool:
        """True when every DR function serves the release."""
        return self.deploy.ok

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": self.version,
            "environment": self.environment,
            "source": self.source,
            "bucket": self.bucket,
            "region": self.region,
            "ok": self.ok,
            "objects": [asdict(o) for o in self.objects],
            "functions": self.deploy.functions(),
            "recorded": self.recorded.to_json() if self.recorded else None,
        }


def select_mirror(cfg: Config, name: str | None) -> Environment:
    """The mirror called ``name``, or the only mirror of ``cfg`` when ``name`` is None."""
    mirrors = cfg.mirrors
    names = ", ".join(m.name for m in mirrors) or "none"
    if name:
        env = cfg.environment(name)
        if env.mirror_of is None:
            raise ConfigError(
                f"environment {name!r} is not a DR mirror (it has no mirror-of)",
                f"pass a mirror environment (mirrors in {cfg.path.name}: {names})",
            )
        return env
    if len(mirrors) == 1:
        return mirrors[0]
    if not mirrors:
        raise ConfigError(
            f"{cfg.path} has no DR environment (no environment has mirror-of)",
            "add one: name: dr, mirror-of: prod, region: us-west-2, bucket: <DR bucket>, "
            "functions: {…}",
        )
    raise ConfigError(
        f"{cfg.path} has {len(mirrors)} DR environments ({names}); which one to sync?",
        "pass --env NAME (action input 'environment')",
    )


def plan(cfg: Config, mirror: Environment, reader: Reader, version: str | None) -> Plan:
    """Check the policy for syncing ``version`` (default: live in the source) to ``mirror``.

    Only a living version live in the mirrored environment may go, and it must satisfy
    the promotion policy of the mirror (passed its source; approved if the mirror is gated).
    Reads what is live in the source and the mirror (the live index) and one journey.
    """
    if mirror.mirror_of is None:
        raise ConfigError(f"environment {mirror.name!r} is not a DR mirror (it has no mirror-of)")
    source = mirror.mirror_of
    live = reader.live_map([source, mirror.name])
    chosen = version or live.get(source)
    if chosen is None:
        raise PromotionRefused(
            f"nothing is live in {source}: there is no version to sync to {mirror.name}",
            f"deploy a release to {source} first (vault deploy --env {source} --version X.Y.Z)",
        )
    journey = reader.journey(chosen)
    policy.check_alive(journey)
    if live.get(source) != chosen:
        running = f"v{live[source]}" if source in live else "nothing"
        raise PromotionRefused(
            f"v{chosen} is not live in {source}: only a version live in {source.upper()} may "
            f"be synced to {mirror.name}; live in {source}: {running}",
            f"sync what is live: vault dr-sync --env {mirror.name} --version {live[source]}"
            if source in live
            else f"deploy v{chosen} to {source} first",
        )
    policy.check_promotion(cfg, journey, mirror)
    synced = live.get(mirror.name) == chosen and journey.last("dr_synced", mirror.name) is not None
    return Plan(mirror, source, chosen, synced)


def sync(
    plan: Plan,
    *,
    vault: Vault,
    dr_vault: Vault,
    lambda_: Any,
    ledger: Ledger,
    ctx: RunContext,
    parallel: int = DEFAULT_PARALLEL,
) -> SyncResult:
    """Copy the release to ``dr_vault``, deploy it to the mirror, record ``dr_synced``.

    ``vault`` is the primary vault (its ledger is ``ledger``); ``dr_vault`` the mirror's
    bucket in the mirror's region and ``lambda_`` a client there. A check that fails
    before a function changed is recorded as ``deploy_failed`` and raised; a deploy that
    failed and was restored returns a result whose ``ok`` is False (recorded likewise).
    """
    mirror, version = plan.mirror, plan.version
    try:
        dr_vault.check_bucket()
        objects = copy_release(vault, dr_vault, vault.require_manifest(version), mirror.region)
        result = deploy_release(lambda_, dr_vault, mirror, version, parallel=parallel)
    except VaultActionsError as exc:
        outcomes.record_refused(ledger, ctx, mirror, version, exc.message, bucket=dr_vault.bucket)
        raise
    recorded = _record(plan, ledger, ctx, dr_vault, result)
    return SyncResult(version, mirror.name, plan.source, dr_vault.bucket, mirror.region,
                      tuple(objects), result, recorded)


def copy_release(
    vault: Vault, dr_vault: Vault, manifest: Manifest, region: str
) -> list[CopiedObject]:
    """Copy every artifact, verify each copy, then write the DR manifest last.

    Every vault object is tamper-checked before anything is copied. The DR manifest is
    the vault's with the DR bucket, its ``region`` and the DR object versions. Returns
    the artifacts' DR objects followed by the DR manifest's.
    """
    for record in manifest.artifacts:
        vault.verify(record)
    with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="dr-copy") as pool:
        copied = list(pool.map(lambda r: _copy_artifact(vault, dr_vault, r, manifest.version),
                               manifest.artifacts))
    dr_manifest = replace(
        manifest,
        bucket=dr_vault.bucket,
        region=region,
        artifacts=tuple(replace(r, version_id=c.version_id)
                        for r, c in zip(manifest.artifacts, copied, strict=True)),
    )
    return [*copied, _put_manifest(dr_vault, dr_manifest)]


def _copy_artifact(
    vault: Vault, dr_vault: Vault, record: ArtifactRecord, version: str
) -> CopiedObject:
    """Put one artifact's pinned bytes once in the DR bucket and verify what landed."""
    status: CopyStatus = "present"
    version_id = _present(dr_vault, record.key, record.code_sha256, version)
    if version_id is None:
        with tempfile.TemporaryDirectory(dir=os.environ.get("RUNNER_TEMP")) as tmp:
            path = _download(vault, record, Path(tmp) / "artifact.zip")
            version_id = dr_vault.put_once(
                record.key, path, record.code_sha256, _taken(dr_vault, record.key, version)
            )
        status = "copied"
    dr_vault.verify(replace(record, version_id=version_id))
    log.info("%s → %s (%s, version %s)", vault.uri(record.key), dr_vault.uri(record.key),
             status, version_id)
    return CopiedObject(record.key, version_id, record.code_sha256, record.size, status)


def _present(dr_vault: Vault, key: str, sha256_b64: str, version: str) -> str | None:
    """The VersionId of these exact bytes already at ``key``; None when nothing is there."""
    head = dr_vault.find(key)
    if head is None:
        return None
    if head.get("ChecksumSHA256") != sha256_b64:
        raise _taken(dr_vault, key, version, head.get("ChecksumSHA256"))
    return str(head.get("VersionId") or "")


def _taken(
    dr_vault: Vault, key: str, version: str, found: str | None = None
) -> ImmutableVersionError:
    other = f" (ChecksumSHA256 {found!r})" if found else ""
    return ImmutableVersionError(
        f"{dr_vault.uri(key)} already holds bytes{other} other than those of v{version} "
        "in the vault; DR objects are put-once and never overwritten",
        TAKEN_HINT,
    )


def _download(vault: Vault, record: ArtifactRecord, path: Path) -> Path:
    """Stream the pinned object version to ``path``; TamperError when its bytes differ."""
    from botocore.exceptions import ClientError

    digest = hashlib.sha256()
    size = 0
    try:
        response = vault.s3.get_object(
            Bucket=vault.bucket, Key=record.key, VersionId=record.version_id
        )
        with path.open("wb") as out:
            for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except ClientError as exc:
        raise vault.explain(exc, "reading", record.key) from None
    if digest.hexdigest() != record.sha256 or size != record.size:
        raise TamperError(
            f"{vault.uri(record.key)} (version {record.version_id}) read back as "
            f"{size} bytes with SHA-256 {digest.hexdigest()}, but the manifest recorded "
            f"{record.size} bytes with {record.sha256}",
            "nothing was written for it in the DR bucket; do not sync this version, "
            "investigate the vault and release a new version",
        )
    return path


def _put_manifest(dr_vault: Vault, manifest: Manifest) -> CopiedObject:
    """Put the DR manifest once; an existing different one is refused as immutable."""
    raw = manifest.dumps()
    key = manifest_key(manifest.version)
    sha = b64_sha256(raw)
    version_id = _present(dr_vault, key, sha, manifest.version)
    status: CopyStatus = "present"
    if version_id is None:
        version_id = dr_vault.put_once(key, raw, sha, _taken(dr_vault, key, manifest.version))
        status = "copied"
    log.info("%s written last (%s, version %s)", dr_vault.uri(key), status, version_id)
    return CopiedObject(key, version_id, sha, len(raw), status)


def _record(
    plan: Plan, ledger: Ledger, ctx: RunContext, dr_vault: Vault, result: DeployResult
) -> Event | None:
    """``dr_synced`` unless a rerun changed nothing; ``deploy_failed`` (+ rollback) if failed."""
    mirror, version = plan.mirror, result.version
    if not result.ok:
        outcomes.record_failure(ledger, ctx, mirror, result)
        return None
    if plan.synced and result.unchanged:
        log.info("v%s is already synced to %s: nothing recorded", version, mirror.name)
        return None
    details = {
        "bucket": dr_vault.bucket,
        "region": mirror.region,
        "source": plan.source,
        "alias": mirror.alias,
    }
    return outcomes.record_synced(ledger, ctx, mirror, result, details)
