"""Who made a release: the people its ``built`` event names, for separation of duties.

The release's commits are those since the previous release tag. Each author and
committer is named by their GitHub login when GitHub links the commit to an account
(the compare API, read by the build job with its token) or when the email is a GitHub
noreply address (``12345+login@users.noreply.github.com``), and by their email always.
An approver whose login or email is among them did not approve independently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vault_actions.build import changelog
from vault_actions.integrations import git

if TYPE_CHECKING:
    from vault_actions.build.factory import Outcome
    from vault_actions.context import RunContext
    from vault_actions.store.ledger import Ledger

log = logging.getLogger(__name__)

# base tag (None: the first release), head commit -> GitHub logins
LoginLookup = Callable[[str | None, str], set[str]]
_NOREPLY = re.compile(r"(?:\d+\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com", re.IGNORECASE)


def release_people(repo: Path, tag: str, head: str, logins: LoginLookup | None) -> list[str]:
    """The logins and emails of everyone who authored or committed a commit of ``tag``
    (since the previous release tag), sorted; ``logins`` asks GitHub (None: offline)."""
    previous = changelog.previous_release(repo, tag)
    revision = f"refs/tags/{previous}..{head}" if previous else head
    emails = git.people(repo, revision)
    names = {m.group(1) for e in emails if (m := _NOREPLY.fullmatch(e))}
    if logins is not None:
        names |= logins(previous, head)
    log.info("v%s was made by %d people (since %s)", tag, len(names | emails),
             previous or "the first commit")
    return sorted(names | emails, key=str.casefold)


def record_built(
    ledger: Ledger, repo: Path, outcome: Outcome, ctx: RunContext, logins: LoginLookup | None
) -> None:
    """Record ``built`` with the pin deploys check and who made the release, once: a
    rerun that finds the release complete records it only if no earlier run could."""
    manifest, pin = outcome.manifest, outcome.pin
    if manifest is None or pin is None:
        return
    if outcome.status == "unchanged" and any(
        e.event == "built" for e in ledger.events(manifest.version)
    ):
        return
    details = {
        "artifacts": [a.key for a in manifest.artifacts],
        **pin.to_details(),
        "people": release_people(repo, manifest.tag, manifest.commit, logins),
    }
    ledger.record(manifest.version, "built", None, ctx, commit=manifest.commit, details=details)
