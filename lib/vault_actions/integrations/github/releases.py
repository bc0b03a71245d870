"""GitHub Releases: a pre-release per build, promoted when PROD has it, buried when dead.

A dead version's release notes start with a notice (``DEAD_MARK``); the notice is kept
across reruns and written once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from github import UnknownObjectException

from vault_actions.integrations.github.client import call, call_needing

if TYPE_CHECKING:
    from github import Github

log = logging.getLogger(__name__)

DEAD_MARK = "🪦 **Dead**"
ReleaseChange = Literal["created", "updated", "unchanged", "missing"]
RELEASE_HINT = (
    "give the job `permissions: {contents: write}` and pass github-token "
    "(default: the job's GITHUB_TOKEN)"
)


@dataclass(frozen=True)
class Release:
    """A GitHub Release as the pipeline reads it."""

    tag: str
    name: str
    body: str
    prerelease: bool
    url: str


def _release_of(raw: Any) -> Release:
    return Release(raw.tag_name, raw.name or "", raw.body or "", raw.prerelease, raw.url)



def notice_of(body: str) -> str | None:
    """The dead notice a release body starts with, if any."""
    first = body.split("\n\n", 1)[0]
    return first if first.startswith(DEAD_MARK) else None


def with_notice(body: str, notice: str) -> str:
    """``body`` with ``notice`` first, once: a body that has a notice keeps it."""
    return body if notice_of(body) else f"{notice}\n\n{body}"


def find_release(gh: Github, repository: str, tag: str) -> Release | None:
    """The published release of ``tag`` (``GET …/releases/tags/{tag}``), None on a 404."""
    repo = gh.get_repo(repository)

    def get() -> Release | None:
        try:
            return _release_of(repo.get_release(tag))
        except UnknownObjectException:
            return None

    return call(f"reading the release {tag} of {repository}", get)


def _edit_release(gh: Github, release: Release, fields: dict[str, Any]) -> None:
    """``PATCH`` only ``fields`` of a release (the others stay as they are)."""
    call_needing(
        f"updating the release {release.tag}",
        lambda: gh.requester.requestJsonAndCheck("PATCH", release.url, input=fields),
        RELEASE_HINT,
    )
    log.info("release %s: %s updated", release.tag, ", ".join(sorted(fields)))


def publish_prerelease(
    gh: Github, repository: str, tag: str, *, commit: str, notes: str
) -> ReleaseChange:
    """Create the pre-release of ``tag`` at ``commit``, or update a rerun's release notes.

    An existing release keeps its flags (a promoted release stays a full release) and the
    dead notice its body starts with, if any.
    """
    existing = find_release(gh, repository, tag)
    if existing is None:
        repo = gh.get_repo(repository)
        call_needing(
            f"creating the release {tag} in {repository}",
            lambda: repo.create_git_release(
                tag, name=tag, message=notes, draft=False, prerelease=True,
                target_commitish=commit, make_latest="false",
            ),
            RELEASE_HINT,
        )
        log.info("release %s created as a pre-release", tag)
        return "created"
    notice = notice_of(existing.body)
    body = with_notice(notes, notice) if notice else notes
    if (existing.name, existing.body) == (tag, body):
        return "unchanged"
    _edit_release(gh, existing, {"name": tag, "body": body})
    return "updated"


def is_latest(gh: Github, repository: str, tag: str) -> bool:
    """True when ``tag`` is the repository's latest release (``GET …/releases/latest``)."""
    repo = gh.get_repo(repository)

    def get() -> bool:
        try:
            return bool(repo.get_latest_release().tag_name == tag)
        except UnknownObjectException:
            return False

    return call(f"reading the latest release of {repository}", get)


def promote_release(gh: Github, repository: str, tag: str) -> ReleaseChange:
    """Mark the release of ``tag`` a full release and the latest one (PROD has it)."""
    existing = find_release(gh, repository, tag)
    if existing is None:
        log.info("no release %s in %s: nothing to mark", tag, repository)
        return "missing"
    if existing.prerelease:
        _edit_release(gh, existing, {"prerelease": False, "make_latest": "true"})
        return "updated"
    if is_latest(gh, repository, tag):
        return "unchanged"
    _edit_release(gh, existing, {"make_latest": "true"})
    return "updated"


def bury_release(gh: Github, repository: str, tag: str, notice: str) -> ReleaseChange:
    """Start the release notes of a dead version with ``notice`` (once); never the latest."""
    existing = find_release(gh, repository, tag)
    if existing is None:
        log.info("no release %s in %s: nothing to mark", tag, repository)
        return "missing"
    if notice_of(existing.body):
        return "unchanged"
    fields: dict[str, Any] = {"body": with_notice(existing.body, notice)}
    if not existing.prerelease:
        fields["prerelease"] = True
    _edit_release(gh, existing, fields)
    return "updated"
