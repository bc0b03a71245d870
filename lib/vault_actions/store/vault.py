"""The put-once S3 vault: artifacts and manifests that can be written once and never again."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vault_actions.errors import ImmutableVersionError, TamperError, VaultError
from vault_actions.integrations import aws
from vault_actions.store import protection
from vault_actions.store.manifest import (
    ArtifactRecord,
    Manifest,
    Pin,
    b64_sha256,
    manifest_key,
)

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

__all__ = ["CONFLICT", "Vault", "b64_sha256", "immutable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

CONFLICT = ("ConditionalRequestConflict",)


def immutable(version: str) -> ImmutableVersionError:
    """The one message for a second write of a version."""
    return ImmutableVersionError(
        f"v{version} is already in the vault; versions are immutable, release a new version",
        "push a new fix:/feat: commit to main: the next build releases the next version",
    )


class Vault:
    """One vault bucket. The S3 client is passed in (see ``aws.client``).

    ``region`` is where the bucket must be (checked by ``check_bucket``); None skips that.
    """

    def __init__(self, s3: Any, bucket: str, region: str | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.region = region

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"

    def _call(self, what: str, key: str, call: Callable[[], T]) -> T:
        from botocore.exceptions import ClientError

        try:
            return call()
        except ClientError as exc:
            raise self.explain(exc, what, key) from None

    def explain(self, exc: ClientError, what: str, key: str) -> VaultError:
        """A VaultError saying what failed on ``key`` (or the bucket) and what to grant."""
        code = aws.error_code(exc)
        target = self.uri(key) if key else f"s3://{self.bucket}"
        if code == "NoSuchBucket" or (code == "404" and not key):
            return VaultError(
                f"vault bucket {self.bucket!r} does not exist ({what} {target})",
                "create it (see infra/vault.yaml) or fix vault.bucket in vault.yml",
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            return VaultError(
                f"access denied: {what} {target}",
                "grant the workflow's role s3:ListBucket, s3:GetBucketLocation, "
                "s3:GetBucketVersioning, s3:GetObject, s3:GetObjectVersion and s3:PutObject on "
                "the vault bucket (see infra/vault.yaml); without s3:ListBucket a missing "
                "key is reported as access denied too",
            )
        return VaultError(f"{what} {target} failed: {aws.describe(exc)}")

    def check_bucket(self) -> None:
        """Refuse a bucket that is missing, unversioned or in another region."""
        status = self._call(
            "reading versioning of",
            "",
            lambda: self.s3.get_bucket_versioning(Bucket=self.bucket).get("Status"),
        )
        if status != "Enabled":
            raise VaultError(
                f"vault bucket {self.bucket!r} does not have versioning enabled "
                f"(status: {status or 'never enabled'})",
                "enable versioning and object lock on the bucket (infra/vault.yaml does both); "
                "without them a version could be silently replaced",
            )
        actual = self.location()
        if self.region is not None and actual != self.region:
            raise VaultError(
                f"vault bucket {self.bucket!r} is in {actual}, not {self.region} as configured",
                "Lambda only reads code from a bucket in its own region: fix the region "
                "in vault.yml or use a bucket in that region",
            )

    def check_protected(self) -> None:
        """Refuse a bucket without versioning, object lock or the put-once bucket policy:
        on it, S3 would let a plain PutObject replace a release."""
        from botocore.exceptions import ClientError

        try:
            missing = protection.gaps(self.s3, self.bucket)
        except ClientError as exc:
            raise self.explain(exc, "reading the protections of", "") from None
        if missing:
            raise VaultError(
                f"vault bucket {self.bucket!r} is not protected: it lacks "
                f"{'; '.join(missing)}, so a version could be silently replaced",
                "deploy infra/vault.yaml (it sets all three; `vault doctor` checks each), or, "
                "for a demo or test vault only, set `vault: {protected: false}` in vault.yml",
            )

    def rewritten(self, prefix: str) -> dict[str, int]:
        """Keys under ``prefix`` with more than one S3 version or a delete marker, and how
        many entries each has. Put-once never makes a second version: each one is tampering."""
        from botocore.exceptions import ClientError

        counts: dict[str, int] = {}
        try:
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for entry in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
                    counts[entry["Key"]] = counts.get(entry["Key"], 0) + 1
        except ClientError as exc:
            raise self.explain(exc, "listing object versions under", prefix) from None
        return {key: n for key, n in sorted(counts.items()) if n > 1}

    def check_untouched(self, prefix: str) -> None:
        """TamperError naming every key under ``prefix`` that was written more than once."""
        found = self.rewritten(prefix)
        if found:
            keys = ", ".join(f"{self.uri(k)} ({n} versions)" for k, n in found.items())
            raise TamperError(
                f"{keys}: put-once objects never get a second S3 version; something "
                "wrote to the vault behind its back",
                "do not deploy this version; run `vault doctor`, investigate the bucket's "
                "access (CloudTrail) and release a new version",
            )

    def location(self) -> str:
        """The region the bucket is really in (S3 says None for us-east-1)."""
        location = self._call(
            "reading the region of",
            "",
            lambda: self.s3.get_bucket_location(Bucket=self.bucket).get("LocationConstraint"),
        )
        return str(location or "us-east-1")

    def put_once(self, key: str, body: Path | bytes, sha256_b64: str, taken: VaultError) -> str:
        """Store ``body`` at ``key`` unless anything is already there; return its VersionId.

        A 412 on our own bytes (a retry whose first PUT landed) is success; a 412 on
        other bytes raises ``taken``. S3 verifies ``sha256_b64`` against the bytes.
        """
        from botocore.exceptions import ClientError

        def put() -> str:
            stream = body.open("rb") if isinstance(body, Path) else contextlib.nullcontext(body)
            with stream as payload:
                response = self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=payload,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=sha256_b64,
                    IfNoneMatch="*",
                )
            return str(response.get("VersionId") or "")

        try:
            return aws.retry_codes(put, CONFLICT, f"put {self.uri(key)}")
        except ClientError as exc:
            if aws.error_code(exc) != "PreconditionFailed":
                raise self.explain(exc, "writing", key) from None
        existing = self.head(key)
        if existing.get("ChecksumSHA256") != sha256_b64:
            raise taken
        log.info("%s already holds these exact bytes (an earlier attempt landed)", self.uri(key))
        return str(existing.get("VersionId") or "")

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, in key order: one ListObjectsV2 per 1,000 keys,
        asked for only as the caller walks on; VaultError saying what to grant."""
        from botocore.exceptions import ClientError

        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix):
                yield from (o["Key"] for o in page.get("Contents", ()))
        except ClientError as exc:
            raise self.explain(exc, "listing", prefix) from None

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        """HeadObject with checksums; VaultError when it cannot be read."""
        extra = {"VersionId": version_id} if version_id else {}
        return dict(
            self._call(
                "reading",
                key,
                lambda: self.s3.head_object(
                    Bucket=self.bucket, Key=key, ChecksumMode="ENABLED", **extra
                ),
            )
        )

    def find(self, key: str) -> dict[str, Any] | None:
        """HeadObject (with checksums) of the latest version at ``key``; None when absent."""
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self.explain(exc, "reading", key) from None
        return dict(head)

    def store_artifact(
        self, version: str, service: str, key: str, zip_path: Path, sha256_hex: str
    ) -> ArtifactRecord:
        """Put one release zip once; ImmutableVersionError if other bytes are there."""
        b64 = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        version_id = self.put_once(key, zip_path, b64, immutable(version))
        return ArtifactRecord(
            service=service,
            key=key,
            size=zip_path.stat().st_size,
            sha256=sha256_hex,
            code_sha256=b64,
            version_id=version_id,
        )

    def store_claim(self, key: str, body: bytes) -> bytes | None:
        """Put a build's claim once: None when it is ours (now or from an earlier attempt
        with these bytes), else the bytes of the claim already there."""
        taken = VaultError(f"{self.uri(key)} is claimed")
        try:
            self.put_once(key, body, b64_sha256(body), taken)
        except VaultError as exc:
            if exc is not taken:
                raise
        else:
            return None
        response = self._call("reading", key, lambda: self.s3.get_object(
            Bucket=self.bucket, Key=key))
        return bytes(response["Body"].read())

    def store_manifest(self, manifest: Manifest) -> str:
        """Put the manifest once, last; a different manifest there means another build won."""
        raw = manifest.dumps()
        key = manifest_key(manifest.version)
        return self.put_once(key, raw, b64_sha256(raw), immutable(manifest.version))

    def manifest(self, version: str) -> Manifest | None:
        """The version's manifest, or None when the release is not complete."""
        found = self.manifest_object(version)
        return None if found is None else found[0]

    def manifest_object(self, version: str) -> tuple[Manifest, str] | None:
        """The version's manifest and its S3 VersionId, or None when there is none."""
        from botocore.exceptions import ClientError

        key = manifest_key(version)
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if aws.error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self.explain(exc, "reading", key) from None
        body = response["Body"].read()
        return Manifest.loads(body, self.uri(key)), str(response.get("VersionId") or "")

    def pinned_manifest(self, version: str, pin: Pin) -> Manifest:
        """The manifest exactly as its build stored it: the S3 version the ``built`` event
        names, with the digest and artifact digests it recorded; TamperError otherwise."""
        key = manifest_key(version)
        response = self._call("reading", key, lambda: self.s3.get_object(
            Bucket=self.bucket, Key=key, VersionId=pin.manifest_version_id,
        ))
        body = response["Body"].read()
        manifest = Manifest.loads(body, self.uri(key))
        found = {a.service: a.sha256 for a in manifest.artifacts}
        if b64_sha256(body) != pin.manifest_sha256 or found != pin.artifacts:
            raise TamperError(
                f"{self.uri(key)} (version {pin.manifest_version_id}) is not the manifest "
                f"its build recorded in the ledger (manifest SHA-256 {b64_sha256(body)!r}, "
                f"recorded {pin.manifest_sha256!r}; artifacts {found}, recorded "
                f"{pin.artifacts})",
                "do not deploy this version; investigate the bucket's access and release "
                "a new version",
            )
        return manifest

    def require_manifest(self, version: str) -> Manifest:
        """The manifest, or a VaultError: a release without one is never deployable."""
        found = self.manifest(version)
        if found is None:
            raise VaultError(
                f"v{version} has no manifest in {self.uri(manifest_key(version))}: "
                "the release is incomplete or was never built",
                "rerun the build for that commit to finish it, or release a new version",
            )
        return found

    def verify(self, record: ArtifactRecord) -> None:
        """Refuse an object replaced, deleted or re-uploaded since the manifest recorded it."""
        latest = self.find(record.key)
        if latest is None:
            raise TamperError(
                f"{self.uri(record.key)} was deleted after the manifest recorded version "
                f"{record.version_id!r}",
                "do not deploy this version; investigate the bucket's access and release "
                "a new version",
            )
        if latest.get("VersionId") != record.version_id:
            raise TamperError(
                f"{self.uri(record.key)} is now object version {latest.get('VersionId')!r}, "
                f"but the manifest recorded {record.version_id!r}: "
                "something wrote to the vault behind its back",
                "do not deploy this version; investigate the bucket's access and release "
                "a new version",
            )
        pinned = self.head(record.key, record.version_id)
        if pinned.get("ChecksumSHA256") != record.code_sha256 or \
                pinned.get("ContentLength") != record.size:
            raise TamperError(
                f"{self.uri(record.key)} (version {record.version_id}) has checksum "
                f"{pinned.get('ChecksumSHA256')!r} and size {pinned.get('ContentLength')}, "
                f"but the manifest recorded {record.code_sha256!r} and {record.size}",
                "do not deploy this version; release a new version",
            )

