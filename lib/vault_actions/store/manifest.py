"""The release manifest: what the vault holds for one version, written last, put-once."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from vault_actions.errors import VaultError, VersionError

SCHEMA = 1
_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
# semver.org's grammar without build metadata (a version's name never carries one)
_VERSION = re.compile(rf"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({_ID}(?:\.{_ID})*))?",
                      re.ASCII)
Precedence = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def b64_sha256(data: bytes) -> str:
    """base64 of the raw SHA-256 digest: S3's ChecksumSHA256 and Lambda's CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def version_prefix(version: str) -> str:
    """The vault folder of a version: ``v1.2.3/``."""
    return f"v{version}/"


def artifact_key(version: str, service: str) -> str:
    """Where a service's zip lives: ``v1.2.3/price-fetcher.zip``."""
    return f"{version_prefix(version)}{service}.zip"


def manifest_key(version: str) -> str:
    """Where a version's manifest lives: ``v1.2.3/manifest.json``."""
    return f"{version_prefix(version)}manifest.json"


def claim_key(version: str) -> str:
    """Where the build that owns a version claims it: ``v1.2.3/claim.json``."""
    return f"{version_prefix(version)}claim.json"


@dataclass(frozen=True)
class ArtifactRecord:
    """One service's zip as stored: key, size, digests and the S3 VersionId."""

    service: str
    key: str
    size: int
    sha256: str
    code_sha256: str
    version_id: str


@dataclass(frozen=True)
class Manifest:
    """A release: version, tag, commit, provenance and the artifacts it is made of."""

    version: str
    tag: str
    commit: str
    built_at: str
    built_by: str
    run_url: str | None
    bucket: str
    region: str
    artifacts: tuple[ArtifactRecord, ...]

    def artifact(self, service: str) -> ArtifactRecord:
        """The record of ``service``; VaultError when the release lacks it."""
        for record in self.artifacts:
            if record.service == service:
                return record
        raise VaultError(
            f"release v{self.version} has no artifact for service {service!r}",
            "services added to vault.yml after a release ship with the next release",
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest as stored in the vault."""
        data = asdict(self)
        data["schema"] = SCHEMA
        data["artifacts"] = [asdict(a) for a in self.artifacts]
        return data

    def dumps(self) -> bytes:
        """Canonical bytes: sorted keys, so a rebuilt manifest compares equal."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2).encode() + b"\n"

    @classmethod
    def loads(cls, raw: bytes, where: str) -> Manifest:
        """Parse stored bytes; VaultError naming ``where`` if they are not a manifest."""
        try:
            data = json.loads(raw)
            data.pop("schema", None)
            records = tuple(ArtifactRecord(**a) for a in data.pop("artifacts"))
            return cls(artifacts=records, **data)
        except (ValueError, TypeError, KeyError) as exc:
            raise VaultError(
                f"{where} is not a valid release manifest ({exc})",
                "the manifest is written only by `vault build`; check who wrote this object",
            ) from None


VERSION_HINT = (
    "use MAJOR.MINOR.PATCH, optionally with a v prefix and a -prerelease suffix: "
    "1.2.3, v1.2.3 or 2.0.0-rc.1 (digits, letters, dots and hyphens; no +build metadata)"
)


def validate_version(value: str) -> str:
    """Check a ``--version`` override (``1.2.3`` or ``v1.2.3``); return it without the ``v``."""
    candidate = value.removeprefix("v")
    if not is_version(candidate):
        raise VersionError(f"version {value!r} is not allowed", VERSION_HINT)
    return candidate


def is_version(value: str) -> bool:
    """True when ``value`` (no ``v`` prefix) names a version :func:`validate_version` allows."""
    return _VERSION.fullmatch(value) is not None


def precedence(version: str) -> Precedence:
    """A sort key in semver precedence (a pre-release before its release; numeric
    identifiers by value, before alphanumeric ones), for names :func:`validate_version`
    allows: tuples compare without ``semver.Version``'s slow ``__lt__`` (sorting 5,000
    names took up to 0.3 s with it)."""
    found = _VERSION.fullmatch(version)
    if found is None:
        raise VersionError(f"version {version!r} is not allowed", VERSION_HINT)
    major, minor, patch, pre = found.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), 0, ids


@dataclass(frozen=True)
class Pin:
    """What a ``built`` event fixes about its release, so deploys need not trust the
    bucket's latest objects: the manifest's S3 VersionId and SHA-256 (base64, as S3
    reports it) and each service's artifact SHA-256 (hex)."""

    manifest_version_id: str
    manifest_sha256: str
    artifacts: dict[str, str]

    @classmethod
    def of(cls, manifest: Manifest, version_id: str) -> Pin:
        """The pin of a manifest just stored (or found) at ``version_id``."""
        digests = {a.service: a.sha256 for a in manifest.artifacts}
        return cls(version_id, b64_sha256(manifest.dumps()), digests)

    def to_details(self) -> dict[str, Any]:
        """The ``built`` event's details that carry the pin."""
        return {
            "manifest_version_id": self.manifest_version_id,
            "manifest_sha256": self.manifest_sha256,
            "artifact_sha256": dict(sorted(self.artifacts.items())),
        }

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> Pin | None:
        """The pin a ``built`` event carries, or None when it carries none (or a bad one)."""
        version_id = details.get("manifest_version_id")
        digest = details.get("manifest_sha256")
        artifacts = details.get("artifact_sha256")
        if not (isinstance(version_id, str) and version_id and isinstance(digest, str)
                and isinstance(artifacts, dict)
                and all(isinstance(v, str) for v in artifacts.values())):
            return None
        return cls(version_id, digest, {str(k): v for k, v in artifacts.items()})
