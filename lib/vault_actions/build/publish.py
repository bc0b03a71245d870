"""The build use case: run the Factory (whole, or its publishing half), record ``built``
(only here, with the pin and the release's people), publish the notes; or preview it
(``dry_run``: the version, its notes and the zips, with no AWS, no tag, no GitHub).

The GitHub pre-release is best effort: the release is in the vault once the Factory is
done, so a failure to write its notes only warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions import context
from vault_actions.build import factory, provenance
from vault_actions.errors import GitError, GitHubError
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

    from vault_actions.build.changelog import Changelog
    from vault_actions.build.factory import Outcome, Zips
    from vault_actions.config import Config
    from vault_actions.context import RunContext, Runner


@dataclass(frozen=True)
class Preview:
    """What ``vault build`` would release: the zips (on disk, with digests) and the notes."""

    zips: Zips
    notes: Changelog


def dry_run(cfg: Config, out: Path, *, override: str | None = None,
            allow_dirty: bool = False) -> Preview | None:
    """The Factory's credential-less half into ``out`` plus the release notes of its
    version; None when nothing is releasable. No AWS, no tag, no GitHub."""
    from vault_actions.build import changelog

    zips = factory.build_zips(cfg, out, override=override, allow_dirty=allow_dirty)
    if zips is None:
        return None
    return Preview(zips, changelog.preview(factory.repository(cfg), zips.version))


def build(
    cfg: Config,
    s3: object,
    ctx: RunContext,
    *,
    override: str | None,
    push: bool,
    token: str | None,
    zips: Zips | None = None,
    allow_dirty: bool = False,
    runner: Runner = context.LOGGED,
) -> Outcome:
    """Build, tag and lock the release (or publish the credential-less half's ``zips``);
    record ``built``; write its GitHub pre-release."""
    vault = Vault(s3, cfg.vault.bucket, cfg.vault.region)
    if zips is not None:
        outcome = factory.publish(cfg, vault, ctx, zips, override=override, push=push,
                                  token=token)
    else:
        outcome = factory.release(cfg, vault, ctx, override=override, push=push, token=token,
                                  allow_dirty=allow_dirty)
    provenance.record_built(Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix),
                            cfg.root, outcome, ctx, _logins(ctx, token))
    if token:
        _publish(cfg, outcome, ctx, token, runner)
    return outcome


def _logins(ctx: RunContext, token: str | None) -> provenance.LoginLookup | None:
    """Ask GitHub who authored and committed the release (None outside Actions)."""
    if not (token and ctx.repository):
        return None
    from vault_actions.integrations.github.client import connect
    from vault_actions.integrations.github.commits import commit_logins

    gh, repository = connect(token, ctx.api_url), ctx.repository
    return lambda base, head: commit_logins(gh, repository, base, head)


def _publish(
    cfg: Config, outcome: Outcome, ctx: RunContext, token: str, runner: Runner
) -> None:
    """Create or update the GitHub pre-release; a failure only warns (the build is done)."""
    from vault_actions.build import changelog
    from vault_actions.integrations.github.client import connect
    from vault_actions.integrations.github.releases import publish_prerelease

    manifest, repository = outcome.manifest, ctx.repository
    if manifest is None or outcome.manifest_uri is None or repository is None:
        return
    try:
        notes = changelog.release_notes(cfg.root, manifest, outcome.manifest_uri)
        publish_prerelease(connect(token, ctx.api_url), repository, manifest.tag,
                           commit=manifest.commit, notes=notes)
    except (GitError, GitHubError) as exc:
        runner.warning(
            f"{exc}\n(the release is in the vault; its GitHub Release was not written)",
            title=exc.title,
        )
