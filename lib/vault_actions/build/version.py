"""Conventional Commits → the next semantic version.

Conventional Commits 1.0.0 decides wherever it speaks, semantic-release's defaults elsewhere:

- History is ``git log <base>..HEAD``, where the base is the highest ``vX.Y.Z`` tag reachable
  from HEAD (all of history when there is none). Merge commits and the commits they bring
  in are listed the way plain ``git log`` lists them; a merge commit's own message counts
  like any other (``Merge branch …`` is not conventional, so it releases nothing).
- The header ``type(scope)!: description`` decides (colon and space required, type
  case-insensitive); a squashed body is never split into several commits.
  ``feat`` → minor, ``fix`` and ``perf`` → patch, other types → nothing.
- Breaking, for any type: ``!`` right before the colon, or a body line that starts exactly
  with ``BREAKING CHANGE: `` or ``BREAKING-CHANGE: `` → major.
- Non-conventional commits release nothing. A git revert (``Revert "…"`` with
  ``This reverts commit <sha>.``) → patch, unless the commit it reverts is in range too:
  then both cancel out.
- One bump per release, the highest found; 0.x is not special. With no base tag, any
  releasable commit makes the first release 1.0.0.
- Only ``v``-prefixed semver tags are releases; prerelease tags are never the base. When
  HEAD already carries a release tag there is nothing to release, so a rerun never tags twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import semver

from vault_actions.integrations import git

log = logging.getLogger(__name__)

Bump = Literal["major", "minor", "patch"]

_HIGHEST_FIRST: tuple[Bump, ...] = ("major", "minor", "patch")
_TYPE_BUMPS: dict[str, Bump] = {"feat": "minor", "fix": "patch", "perf": "patch"}
_HEADER = re.compile(
    r"(?P<type>[A-Za-z][\w-]*)(?:\([^()]+\))?(?P<breaking>!)?: (?P<description>.*\S.*)",
    re.ASCII,
)
_BREAKING = re.compile(r"^BREAKING[ -]CHANGE: ", re.MULTILINE)
_REVERT_HEADER = re.compile(r'Revert ".+"')
# git writes "This reverts commit <sha>." (", reversing changes made to …" for merges).
_REVERTS = re.compile(r"This reverts commit (?P<sha>[0-9a-fA-F]{4,64})[.,]")

@dataclass(frozen=True)
class CommitBump:
    """One commit in range: its sha, its header line and the bump it contributes."""

    sha: str
    subject: str
    bump: Bump | None


@dataclass(frozen=True)
class VersionPlan:
    """The release to make: versions without ``v``; ``next`` is None when nothing releases."""

    current: str | None
    next: str | None
    bump: Bump | None
    tag: str | None
    commits: tuple[CommitBump, ...]

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready data (``vault version --json``)."""
        return {
            "current": self.current,
            "next": self.next,
            "bump": self.bump,
            "tag": self.tag,
            "commits": [{"sha": c.sha, "subject": c.subject, "bump": c.bump} for c in self.commits],
        }


@dataclass(frozen=True)
class _Release:
    version: semver.Version
    commit: str


def _semver(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text)
    except ValueError:
        return None


def _subject(message: str) -> str:
    return message.partition("\n")[0].rstrip()


def _reverted_sha(message: str) -> str | None:
    """The (possibly abbreviated) sha a git revert names, or None if not a git revert."""
    header, _, body = message.partition("\n")
    match = _REVERTS.search(body) if _REVERT_HEADER.fullmatch(header.rstrip()) else None
    return match["sha"].lower() if match else None


def commit_bump(message: str) -> Bump | None:
    """The bump one commit message asks for on its own (reverts not yet cancelled)."""
    if _reverted_sha(message):
        return "patch"
    header, _, body = message.partition("\n")
    match = _HEADER.fullmatch(header.rstrip())
    if match is None:
        return None
    if match["breaking"] or _BREAKING.search(body):
        return "major"
    return _TYPE_BUMPS.get(match["type"].lower())


def classify(commits: Sequence[git.Commit]) -> list[CommitBump]:
    """Each commit's bump; a revert and the commit it reverts, both listed, count for nothing.

    ``commits`` lists children before parents (as ``git.commits`` does), so a revert of a
    revert is seen first and cancels that revert, which leaves the original standing.
    An abbreviated sha matching several listed commits cancels nothing.
    """
    cancelled: set[str] = set()
    for commit in commits:
        target = _reverted_sha(commit.message)
        if target is None or commit.sha in cancelled:
            continue
        matches = [
            c.sha
            for c in commits
            if c.sha.startswith(target) and c.sha not in cancelled and c is not commit
        ]
        if len(matches) == 1:
            cancelled.update((commit.sha, matches[0]))
    return [
        CommitBump(
            c.sha, _subject(c.message), None if c.sha in cancelled else commit_bump(c.message)
        )
        for c in commits
    ]


def _highest(bumps: Iterable[Bump | None]) -> Bump | None:
    found = set(bumps)
    return next((b for b in _HIGHEST_FIRST if b in found), None)


def _releases(tags: Iterable[git.Tag]) -> dict[str, _Release]:
    """Release tags by name: ``v`` + semver without prerelease. Warn about unprefixed ones."""
    releases: dict[str, _Release] = {}
    unprefixed: list[str] = []
    for tag in tags:
        if _semver(tag.name):
            unprefixed.append(tag.name)
            continue
        parsed = _semver(tag.name[1:]) if tag.name.startswith("v") else None
        if parsed is not None and parsed.prerelease is None:
            releases[tag.name] = _Release(parsed, tag.commit)
    if unprefixed:
        log.warning(
            "ignoring tag(s) without the v prefix: %s; only vX.Y.Z tags mark releases, "
            "so tag the same commits %s to count them",
            ", ".join(unprefixed),
            ", ".join(f"v{name}" for name in unprefixed),
        )
    return releases


def _released_at_head(releases: Iterable[_Release], history: Sequence[git.Commit]) -> str | None:
    """The highest release tag on HEAD, if any.

    An empty ``base..HEAD`` means HEAD is the base tag's commit (the base is reachable).
    """
    head = history[0].sha if history else None
    on_head = [r.version for r in releases if head is None or r.commit == head]
    return str(max(on_head)) if on_head else None


def _bumped(current: semver.Version | None, bump: Bump | None) -> str | None:
    if bump is None:
        return None
    if current is None:
        return "1.0.0"
    return str(current.next_version(bump))


def next_version(repo: Path) -> VersionPlan:
    """Plan the next release of ``repo`` from its tags and commits: one git tag, one git log."""
    releases = _releases(git.tags(repo))
    base_tag = max(releases, key=lambda name: releases[name].version, default=None)
    revision = f"refs/tags/{base_tag}..HEAD" if base_tag else "HEAD"
    history = git.commits(repo, revision)
    released = _released_at_head(releases.values(), history)
    if released is not None:
        log.debug("HEAD already carries v%s: nothing to release", released)
        return VersionPlan(released, None, None, None, ())
    current = releases[base_tag].version if base_tag else None
    commits = classify(history)
    bump = _highest(c.bump for c in commits)
    upcoming = _bumped(current, bump)
    log.debug("%d commit(s) in %s: bump %s → %s", len(commits), revision, bump, upcoming)
    return VersionPlan(
        current=str(current) if current else None,
        next=upcoming,
        bump=bump,
        tag=f"v{upcoming}" if upcoming else None,
        commits=tuple(commits),
    )
