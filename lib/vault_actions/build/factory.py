"""Phase 1, the Factory: build every service once, zip, tag, lock in the vault.

Order matters: builds and zips first (a failure leaves no tag and no upload), then the
annotated tag (so it exists before any environment is touched), then the artifacts,
then the manifest, last: a version without a manifest is incomplete and never deployed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from vault_actions.build import artifact, version
from vault_actions.config import Config, Service
from vault_actions.context import RunContext
from vault_actions.errors import BuildError, ImmutableVersionError, VersionError
from vault_actions.integrations import git
from vault_actions.store.manifest import (
    ArtifactRecord,
    Manifest,
    artifact_key,
    manifest_key,
    validate_version,
)
from vault_actions.store.vault import Vault, immutable

log = logging.getLogger(__name__)

Status = Literal["built", "completed", "unchanged", "nothing-to-release"]
UPLOAD_WORKERS = 4


@dataclass(frozen=True)
class Outcome:
    """What a build did: the status and, when there is a release, its manifest."""

    status: Status
    version: str | None
    manifest: Manifest | None
    manifest_uri: str | None

    @property
    def tag(self) -> str | None:
        """``vX.Y.Z`` or None."""
        return f"v{self.version}" if self.version else None


@dataclass(frozen=True)
class Plan:
    """The version to release and whether HEAD already carries its tag."""

    version: str
    tagged: bool


def plan(repo: Path, override: str | None) -> Plan | None:
    """The version this build releases, or None when nothing is releasable."""
    head_tags = {t for t in git.tags_at(repo) if t.startswith("v")}
    if override:
        chosen = validate_version(override)
        _check_tag_is_here(repo, chosen, head_tags)
        return Plan(chosen, f"v{chosen}" in head_tags)
    if git.run(["rev-parse", "--is-shallow-repository"], repo).strip() == "true":
        raise VersionError(
            f"{repo} is a shallow clone: the version cannot be computed from partial history",
            "use actions/checkout with fetch-depth: 0 (full history and tags)",
        )
    computed = version.next_version(repo)
    if computed.next:
        _check_tag_is_here(repo, computed.next, head_tags)
        return Plan(computed.next, tagged=False)
    if computed.current and f"v{computed.current}" in head_tags:
        return Plan(computed.current, tagged=True)
    return None


def _check_tag_is_here(repo: Path, chosen: str, head_tags: set[str]) -> None:
    tag = f"v{chosen}"
    if tag in head_tags:
        return
    existing = git.run(["tag", "--list", tag], repo).strip()
    if existing:
        where = git.run(["rev-parse", "--verify", f"refs/tags/{tag}^{{commit}}"], repo).strip()
        raise ImmutableVersionError(
            f"tag {tag} already exists on commit {where[:12]}, not on HEAD; "
            "versions are immutable, release a new version",
            "push a new fix:/feat: commit to main, or pass a version that was never released",
        )


def build_environment() -> dict[str, str]:
    """The environment of build commands: ours minus the GitHub token and action inputs,
    which third-party build scripts (npm postinstall…) must never see."""
    return {
        key: value for key, value in os.environ.items()
        if key != "GITHUB_TOKEN" and not key.startswith("INPUT_")
    }


def run_builds(services: tuple[Service, ...], chosen: str) -> None:
    """Run each service's build command in its folder; stop at the first failure."""
    for service in services:
        if not service.build:
            log.info("%s: no build command; packing %s as it is", service.name, service.dist)
            continue
        log.info("%s: %s (in %s)", service.name, service.build, service.path)
        env = {**build_environment(), "VAULT_VERSION": chosen, "VAULT_SERVICE": service.name}
        try:
            done = subprocess.run(
                ["bash", "-c", service.build], cwd=service.path, env=env, stdout=2, check=False
            )
        except FileNotFoundError:
            raise BuildError(
                f"{service.name}: service folder {service.path} does not exist",
                "fix the service's path in vault.yml",
            ) from None
        if done.returncode != 0:
            raise BuildError(
                f"{service.name}: build command {service.build!r} exited with "
                f"{done.returncode}; nothing was tagged or uploaded",
                "fix the build (its output is above) and push again",
            )


def pack_all(services: tuple[Service, ...], workdir: Path) -> dict[str, artifact.Artifact]:
    """Zip every service's dist folder reproducibly."""
    return {
        service.name: artifact.pack(
            service.dist_dir, workdir / f"{service.name}.zip", allow=service.allow
        )
        for service in services
    }


def upload(vault: Vault, chosen: str, packed: dict[str, artifact.Artifact]) -> list[ArtifactRecord]:
    """Put every zip once, in parallel; the first conflict wins the error."""

    def put(item: tuple[str, artifact.Artifact]) -> ArtifactRecord:
        service, art = item
        return vault.store_artifact(
            chosen, service, artifact_key(chosen, service), art.path, art.sha256
        )

    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        return list(pool.map(put, sorted(packed.items())))


def release(
    cfg: Config,
    vault: Vault,
    ctx: RunContext,
    *,
    override: str | None = None,
    push: bool = False,
    token: str | None = None,
) -> Outcome:
    """Run the Factory for the repository holding ``cfg``; see the module docstring."""
    repo = Path(git.run(["rev-parse", "--show-toplevel"], cfg.root).strip())
    chosen = plan(repo, override)
    if chosen is None:
        log.info("nothing releasable since the last tag: no fix:, feat: or breaking commit")
        return Outcome("nothing-to-release", None, None, None)
    vault.check_bucket()
    head = git.head_sha(repo)
    existing = vault.manifest(chosen.version)
    if existing is not None:
        if existing.commit != head:
            raise immutable(chosen.version)
        log.info("v%s is already complete in the vault; not rebuilt", chosen.version)
        return Outcome("unchanged", chosen.version, existing, _uri(vault, chosen.version))
    run_builds(cfg.services, chosen.version)
    with tempfile.TemporaryDirectory(dir=os.environ.get("RUNNER_TEMP")) as tmp:
        packed = pack_all(cfg.services, Path(tmp))
        tag = f"v{chosen.version}"
        if not chosen.tagged:
            git.create_annotated_tag(repo, tag, f"Release {tag}")
            log.info("tagged %s at %s", tag, head[:12])
        if push:
            git.push_tag(repo, tag, token=token)
        try:
            records = upload(vault, chosen.version, packed)
        except ImmutableVersionError:
            raise ImmutableVersionError(
                f"v{chosen.version} is incomplete in the vault (no manifest) and an earlier "
                "build of it uploaded different bytes; versions are immutable",
                "a build must be reproducible to finish an incomplete version: release a "
                "new version (push a fix: commit)",
            ) from None
    manifest = Manifest(
        version=chosen.version,
        tag=tag,
        commit=head,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        built_by=ctx.actor,
        run_url=ctx.run_url,
        bucket=vault.bucket,
        region=cfg.vault.region,
        artifacts=tuple(records),
    )
    vault.store_manifest(manifest)
    status: Status = "completed" if chosen.tagged else "built"
    return Outcome(status, chosen.version, manifest, _uri(vault, chosen.version))


def _uri(vault: Vault, chosen: str) -> str:
    return vault.uri(manifest_key(chosen))
