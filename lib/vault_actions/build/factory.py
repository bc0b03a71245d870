"""Phase 1, the Factory: build every service once, zip, tag, lock in the vault.

Two halves, which the release workflow runs in two jobs:

* :func:`build_zips` runs the services' build commands and packs each dist folder into a
  folder of zips with an index of their digests (``release.json``). It needs no cloud
  credential and no token: the workflow runs it in a job with ``contents: read`` only.
* :func:`publish` takes such a folder from a fresh checkout of the same commit, checks
  every digest, then tags, uploads put-once and writes the manifest.

:func:`release` does both in one process (``vault build``). Order matters: builds and
zips first (a failure leaves no tag and no upload), then the claim (one put-once object
naming the commit and run that own the version: a concurrent build of another commit
stops there, having written nothing), then the annotated tag (so it exists before any
environment is touched), then the artifacts, then the manifest, last: a version without
a manifest is incomplete and never deployed. A rerun of the claimant's commit passes its
own claim and finishes an interrupted release.

Build commands see only :func:`build_environment`, never the AWS session, ``ACTIONS_*``,
tokens or action inputs. A dirty work tree is refused (``allow_dirty`` outside Actions).

One piece (over 400 lines): both halves and the whole release share the version plan,
the tag rules and the upload order; split apart, that order could no longer be read in
one place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from vault_actions import context
from vault_actions.build import artifact, version
from vault_actions.config import Config, Service
from vault_actions.context import RunContext
from vault_actions.errors import (
    ArtifactError,
    BuildError,
    ConfigError,
    DirtyWorkTree,
    ImmutableVersionError,
    VaultError,
    VersionError,
)
from vault_actions.integrations import git
from vault_actions.store.manifest import (
    ArtifactRecord,
    Manifest,
    Pin,
    artifact_key,
    claim_key,
    manifest_key,
    validate_version,
)
from vault_actions.store.vault import Vault, immutable

log = logging.getLogger(__name__)

Status = Literal["built", "completed", "unchanged", "nothing-to-release"]
UPLOAD_WORKERS = 4
INDEX = "release.json"  # the zips folder's list of version, commit and digests
# What a build command gets of our environment (with LC_* and the names the service's
# build-env lists): where tools and their caches live, the locale, CI. Nothing else.
BUILD_ENVIRONMENT = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "TZ", "LANG", "LANGUAGE",
    "CI", "XDG_CACHE_HOME", "npm_config_cache", "NPM_CONFIG_CACHE", "YARN_CACHE_FOLDER",
    "PNPM_HOME", "PIP_CACHE_DIR", "UV_CACHE_DIR", "POETRY_CACHE_DIR", "GOCACHE",
    "GOMODCACHE", "GOPATH", "CARGO_HOME", "RUSTUP_HOME", "GRADLE_USER_HOME", "JAVA_HOME",
})
_SHA = re.compile(r"[0-9a-f]{40}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Outcome:
    """What a build did: the status and, when there is a release, its manifest and the
    pin (S3 VersionId and digests) that its ``built`` event records."""

    status: Status
    version: str | None
    manifest: Manifest | None
    manifest_uri: str | None
    pin: Pin | None = None

    @property
    def tag(self) -> str | None:
        """``vX.Y.Z`` or None."""
        return f"v{self.version}" if self.version else None


@dataclass(frozen=True)
class Zips:
    """The zips of one version, built from one commit: one per service, with digests."""

    version: str
    commit: str
    artifacts: dict[str, artifact.Artifact]

    @property
    def digests(self) -> dict[str, str]:
        """Hex SHA-256 of each service's zip."""
        return {service: art.sha256 for service, art in sorted(self.artifacts.items())}


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


def check_clean(repo: Path, *, allow_dirty: bool = False) -> None:
    """DirtyWorkTree when the work tree differs from HEAD: a release is exactly a commit.

    ``allow_dirty`` lets a local experiment through (with a warning); never in Actions.
    """
    if allow_dirty and context.in_actions():
        raise ConfigError(
            "--allow-dirty is refused in GitHub Actions: a release there is exactly the "
            "commit it tags",
            "drop allow-dirty and commit what the build needs",
        )
    dirty = git.changes(repo)
    if not dirty:
        return
    listing = ", ".join(dirty[:20]) + (f" … and {len(dirty) - 20} more" if len(dirty) > 20 else "")
    if allow_dirty:
        log.warning("building a dirty work tree (--allow-dirty): %s", listing)
        return
    raise DirtyWorkTree(
        f"the work tree {repo} has uncommitted changes: {listing}; a release would not be "
        "the commit it tags",
        "commit or stash them (git stash --include-untracked), add build outputs to "
        ".gitignore, or pass --allow-dirty for a local experiment (refused in Actions)",
    )


def build_environment(service: Service, chosen: str) -> dict[str, str]:
    """The environment of ``service``'s build command: :data:`BUILD_ENVIRONMENT`, the
    locale, the service's ``build-env`` names, ``VAULT_VERSION`` and ``VAULT_SERVICE``."""
    names = BUILD_ENVIRONMENT.union(service.build_env)
    kept = {
        key: value for key, value in os.environ.items()
        if key in names or key.startswith("LC_")
    }
    return {**kept, "VAULT_VERSION": chosen, "VAULT_SERVICE": service.name}


def run_builds(services: tuple[Service, ...], chosen: str) -> None:
    """Run each service's build command in its folder; stop at the first failure."""
    for service in services:
        if not service.build:
            log.info("%s: no build command; packing %s as it is", service.name, service.dist)
            continue
        log.info("%s: %s (in %s)", service.name, service.build, service.path)
        try:
            done = subprocess.run(
                ["bash", "-c", service.build], cwd=service.path,
                env=build_environment(service, chosen), stdin=subprocess.DEVNULL, stdout=2,
                check=False,
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


def pack_all(cfg: Config, workdir: Path) -> dict[str, artifact.Artifact]:
    """Zip every service's dist folder reproducibly; a dist leading out of the
    repository (a build may have made it a symlink) is refused."""
    packed = {}
    for service in cfg.services:
        if (real := cfg.escapes(service.dist_dir)) is not None:
            raise ArtifactError(
                f"{service.name}: dist {service.dist!r} leads to {real}, outside the "
                f"repository {cfg.repository}; nothing was tagged or uploaded",
                "make the build write dist as a folder inside the repository, not a symlink",
            )
        packed[service.name] = artifact.pack(
            service.dist_dir, workdir / f"{service.name}.zip", allow=service.allow,
            max_size=service.max_size,
        )
    return packed


def build_zips(
    cfg: Config, out: Path, *, override: str | None = None, allow_dirty: bool = False
) -> Zips | None:
    """Build and zip every service into ``out`` with its index; None when nothing is
    releasable. No AWS, no token: this half runs where build scripts run."""
    repo = repository(cfg)
    check_clean(repo, allow_dirty=allow_dirty)
    chosen = plan(repo, override)
    if chosen is None:
        log.info("nothing releasable since the last tag: no fix:, feat: or breaking commit")
        return None
    return _build(cfg, repo, chosen.version, out)


def _build(cfg: Config, repo: Path, chosen: str, out: Path) -> Zips:
    head = git.head_sha(repo)
    run_builds(cfg.services, chosen)
    out.mkdir(parents=True, exist_ok=True)
    zips = Zips(chosen, head, pack_all(cfg, out))
    index = {
        "version": chosen,
        "commit": head,
        "artifacts": {
            service: {"file": art.path.name, "size": art.size, "sha256": art.sha256}
            for service, art in sorted(zips.artifacts.items())
        },
    }
    (out / INDEX).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return zips


def load_zips(cfg: Config, folder: Path, expected: Mapping[str, str] | None = None) -> Zips:
    """The zips :func:`build_zips` wrote to ``folder``, every one checked against the
    index and, when given, ``expected`` (service → hex SHA-256 handed over apart from
    the files); ArtifactError on any difference."""
    index = _read_index(folder)
    services = sorted(s.name for s in cfg.services)
    listed = index["artifacts"]
    if sorted(listed) != services or (expected is not None and sorted(expected) != services):
        raise ArtifactError(
            f"the zips in {folder} are for services {sorted(listed)}"
            + (f" (digests given for {sorted(expected)})" if expected is not None else "")
            + f", but {cfg.path} lists {services}; nothing was tagged or uploaded",
            "publish the zips the build job made from this commit's vault.yml",
        )
    artifacts = {}
    for service in services:
        artifacts[service] = _checked(cfg.service(service), folder, listed[service], expected)
    return Zips(index["version"], index["commit"], artifacts)


def _read_index(folder: Path) -> dict[str, Any]:
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        validate_version(index["version"])
        if not _SHA.fullmatch(index["commit"]) or not isinstance(index["artifacts"], dict):
            raise ValueError(index["commit"])
        return dict(index)
    except (OSError, ValueError, KeyError, TypeError, VersionError) as exc:
        raise ArtifactError(
            f"{folder / INDEX} is missing or not an index of zips ({exc})",
            "pass the folder `vault build --zips-only --out DIR` wrote",
        ) from None


def _checked(
    service: Service, folder: Path, listed: Any, expected: Mapping[str, str] | None
) -> artifact.Artifact:
    """The zip of ``service`` in ``folder`` once its digest, entries and size check out."""
    path = folder / f"{service.name}.zip"
    try:
        with path.open("rb") as handle:
            sha256 = hashlib.sha256()
            for block in iter(partial(handle.read, 1 << 20), b""):
                sha256.update(block)
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(
            f"{service.name}: {path} cannot be read as a zip ({exc})",
            "publish the folder the build job uploaded, unchanged",
        ) from None
    digest = sha256.hexdigest()
    wanted = {listed.get("sha256") if isinstance(listed, dict) else None}
    if expected is not None:
        wanted.add(expected[service.name])
    if wanted != {digest} or not _DIGEST.fullmatch(digest):
        raise ArtifactError(
            f"{service.name}: {path} has sha256 {digest}, not the {' / '.join(map(str, wanted))} "
            "the build recorded; the zip changed after it was built: nothing was tagged or "
            "uploaded",
            "rerun the whole workflow (build and publish) so the zips come from one build",
        )
    artifact.check_size(path, sum(entry.file_size for entry in entries), service.max_size)
    return artifact.Artifact(path, path.stat().st_size, digest, len(entries))


def repository(cfg: Config) -> Path:
    """The top of the git repository holding ``cfg``."""
    return Path(git.run(["rev-parse", "--show-toplevel"], cfg.root).strip())


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
    allow_dirty: bool = False,
) -> Outcome:
    """Both halves in one process for the repository holding ``cfg``; see the module
    docstring. A version already complete in the vault is not rebuilt."""
    repo = repository(cfg)
    check_clean(repo, allow_dirty=allow_dirty)
    chosen = plan(repo, override)
    if chosen is None:
        log.info("nothing releasable since the last tag: no fix:, feat: or breaking commit")
        return Outcome("nothing-to-release", None, None, None)
    if (done := _complete(vault, chosen.version, git.head_sha(repo))) is not None:
        return done
    with tempfile.TemporaryDirectory(dir=os.environ.get("RUNNER_TEMP")) as tmp:
        zips = _build(cfg, repo, chosen.version, Path(tmp))
        return _lock(cfg, vault, ctx, chosen, zips, repo=repo, push=push, token=token)


def publish(
    cfg: Config,
    vault: Vault,
    ctx: RunContext,
    zips: Zips,
    *,
    override: str | None = None,
    push: bool = False,
    token: str | None = None,
) -> Outcome:
    """Tag, upload and record ``zips`` (from :func:`load_zips`): only when this checkout
    is their commit and releases their version."""
    repo = repository(cfg)
    chosen = plan(repo, override)
    head = git.head_sha(repo)
    if chosen is None or chosen.version != zips.version or head != zips.commit:
        here = f"v{chosen.version}" if chosen else "nothing"
        raise VersionError(
            f"the zips are v{zips.version} of commit {zips.commit[:12]}, but this checkout "
            f"({head[:12]}) releases {here}; nothing was tagged or uploaded",
            "publish from a checkout of the commit the zips were built from (the publish "
            "job checks out the build job's commit with its full history)",
        )
    if (done := _complete(vault, chosen.version, head)) is not None:
        return done
    return _lock(cfg, vault, ctx, chosen, zips, repo=repo, push=push, token=token)


def _complete(vault: Vault, chosen: str, head: str) -> Outcome | None:
    """The 'unchanged' outcome when ``chosen`` is already complete in the vault for
    ``head``; ImmutableVersionError when another commit's release is there."""
    vault.check_bucket()
    found = vault.manifest_object(chosen)
    if found is None:
        return None
    existing, version_id = found
    if existing.commit != head:
        raise immutable(chosen)
    log.info("v%s is already complete in the vault; not rebuilt", chosen)
    return Outcome("unchanged", chosen, existing, _uri(vault, chosen), Pin.of(existing, version_id))


def claim(vault: Vault, chosen: str, head: str, ctx: RunContext) -> None:
    """Claim ``chosen`` for commit ``head`` (put-once ``vX/claim.json``) before anything
    is tagged or uploaded; ImmutableVersionError naming the owner's run when another
    commit holds the claim."""
    key = claim_key(chosen)
    body = json.dumps({"version": chosen, "commit": head, "run_url": ctx.run_url,
                       "actor": ctx.actor}, sort_keys=True).encode()
    held = vault.store_claim(key, body)
    if held is None:
        return
    owner = _claim_of(vault.uri(key), held)
    if owner.get("commit") == head:
        log.info("v%s was claimed by an earlier run of this commit: finishing it", chosen)
        return
    run = owner.get("run_url") or f"commit {str(owner.get('commit'))[:12]} by {owner.get('actor')}"
    raise ImmutableVersionError(
        f"another build is releasing v{chosen} ({run}); nothing was tagged or uploaded",
        "let that build finish (rerunning it completes an interrupted release), then push "
        "again: your commit releases the next version",
    )


def _claim_of(where: str, raw: bytes) -> dict[str, object]:
    try:
        found = json.loads(raw)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise VaultError(f"{where} is not a build's claim",
                         "claims are written only by `vault build`; check who wrote this object")
    return found


def _lock(
    cfg: Config,
    vault: Vault,
    ctx: RunContext,
    chosen: Plan,
    zips: Zips,
    *,
    repo: Path,
    push: bool,
    token: str | None,
) -> Outcome:
    """Claim, tag (and push), upload put-once, then write the manifest."""
    claim(vault, chosen.version, zips.commit, ctx)
    tag = f"v{chosen.version}"
    if not chosen.tagged:
        git.create_annotated_tag(repo, tag, f"Release {tag}")
        log.info("tagged %s at %s", tag, zips.commit[:12])
    if push:
        git.push_tag(repo, tag, token=token)
    try:
        records = upload(vault, chosen.version, zips.artifacts)
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
        commit=zips.commit,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        built_by=ctx.actor,
        run_url=ctx.run_url,
        bucket=vault.bucket,
        region=cfg.vault.region,
        artifacts=tuple(records),
    )
    try:
        version_id = vault.store_manifest(manifest)
    except ImmutableVersionError:
        done = _complete(vault, chosen.version, zips.commit)  # this commit's concurrent build
        if done is None:
            raise
        return done
    status: Status = "completed" if chosen.tagged else "built"
    return Outcome(status, chosen.version, manifest, _uri(vault, chosen.version),
                   Pin.of(manifest, version_id))


def _uri(vault: Vault, chosen: str) -> str:
    return vault.uri(manifest_key(chosen))
