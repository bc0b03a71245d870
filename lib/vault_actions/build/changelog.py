"""Release notes: the Conventional Commits of a release, grouped, plus what the vault holds.

A release's commits are ``git log <previous>..<tag>``, where the previous release is the
highest ``vX.Y.Z`` tag below it that the tag's commit contains (all history for the first
release). Each commit lands in the section of the bump ``version.classify`` gives it;
conventional commits that release nothing go under "Other"; non-conventional commits and
a revert cancelled by its original (both in range) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import semver

from vault_actions.build import version
from vault_actions.errors import VersionError
from vault_actions.integrations import git
from vault_actions.integrations.github.releases import DEAD_MARK
from vault_actions.text import markdown_cell, plain

if TYPE_CHECKING:
    from vault_actions.store.ledger import Event
    from vault_actions.store.manifest import Manifest

BREAKING = "⚠ Breaking changes"
FEATURES = "Features"
FIXES = "Bug fixes"
PERFORMANCE = "Performance"
REVERTS = "Reverts"
OTHER = "Other"
SECTIONS = (BREAKING, FEATURES, FIXES, PERFORMANCE, REVERTS, OTHER)
MAX_ENTRIES = 100  # per section: a release body holds at most 125,000 characters
SHORT_SHA = 7

_TYPE = re.compile(r"(?P<type>[A-Za-z][\w-]*)(?:\([^()]+\))?!?: .*\S", re.ASCII)


@dataclass(frozen=True)
class Entry:
    """One commit of the changelog."""

    sha: str
    subject: str

    @property
    def line(self) -> str:
        """``- subject (short sha)``."""
        return f"- {plain(self.subject)} ({self.sha[:SHORT_SHA]})"


@dataclass(frozen=True)
class Changelog:
    """The commits of ``tag`` since ``previous`` (None: the first release), by section."""

    tag: str
    previous: str | None
    sections: tuple[tuple[str, tuple[Entry, ...]], ...]

    def markdown(self) -> str:
        """``## What's changed`` with one ``###`` list per non-empty section."""
        since = f"since {self.previous}" if self.previous else "(first release)"
        lines = [f"## What's changed {since}"]
        for title, entries in self.sections:
            lines += ["", f"### {title}", *(e.line for e in entries[:MAX_ENTRIES])]
            if len(entries) > MAX_ENTRIES:
                lines.append(f"- … and {len(entries) - MAX_ENTRIES} more (see `git log`)")
        if not self.sections:
            lines += ["", "No conventional commits in this release."]
        return "\n".join(lines)


def _tag_version(tag: str) -> semver.Version | None:
    """The version of a ``vX.Y.Z[-pre]`` tag (None for any other tag)."""
    try:
        return semver.Version.parse(tag[1:]) if tag.startswith("v") else None
    except ValueError:
        return None


def _release_version(tag: str) -> semver.Version | None:
    """The version of a ``vX.Y.Z`` release tag (None for other tags and prereleases)."""
    parsed = _tag_version(tag)
    return parsed if parsed is not None and parsed.prerelease is None else None


def previous_release(repo: Path, tag: str, revision: str | None = None) -> str | None:
    """The highest release tag below ``tag`` that ``tag``'s commit (or ``revision``, when
    the tag is not made yet) contains."""
    current = _tag_version(tag)
    if current is None:
        raise VersionError(
            f"tag {tag!r} is not a version tag", "release notes are written for vX.Y.Z tags"
        )
    below = [
        (found, t.name)
        for t in git.tags(repo, merged_into=revision or f"refs/tags/{tag}")
        if (found := _release_version(t.name)) is not None and found < current
    ]
    return max(below)[1] if below else None


def section(commit: git.Commit, bump: version.Bump | None) -> str | None:
    """The section of one commit given its classified bump (None: left out)."""
    header = _TYPE.match(commit.message.partition("\n")[0])
    if bump is None:
        cancelled = version.commit_bump(commit.message) is not None
        return OTHER if header and not cancelled else None
    if bump == "major":
        return BREAKING
    if bump == "minor":
        return FEATURES
    kind = header["type"].lower() if header else None
    return {"fix": FIXES, "perf": PERFORMANCE}.get(kind or "", REVERTS)


def group(commits: Sequence[git.Commit]) -> tuple[tuple[str, tuple[Entry, ...]], ...]:
    """Commits (newest first) grouped into ``SECTIONS`` order; empty sections dropped."""
    found: dict[str, list[Entry]] = {name: [] for name in SECTIONS}
    for commit, classified in zip(commits, version.classify(commits), strict=True):
        name = section(commit, classified.bump)
        if name is not None:
            found[name].append(Entry(commit.sha, classified.subject))
    return tuple((name, tuple(entries)) for name, entries in found.items() if entries)


def changelog(repo: Path, tag: str) -> Changelog:
    """The changelog of release ``tag`` (which must exist in ``repo``)."""
    previous = previous_release(repo, tag)
    revision = f"refs/tags/{previous}..refs/tags/{tag}" if previous else f"refs/tags/{tag}"
    return Changelog(tag, previous, group(git.commits(repo, revision)))


def preview(repo: Path, version_: str) -> Changelog:
    """The changelog release ``version_`` would have if HEAD were tagged now (its tag's
    when HEAD already carries it)."""
    tag = f"v{version_}"
    if tag in git.tags_at(repo):
        return changelog(repo, tag)
    previous = previous_release(repo, tag, "HEAD")
    revision = f"refs/tags/{previous}..HEAD" if previous else "HEAD"
    return Changelog(tag, previous, group(git.commits(repo, revision)))


def release_notes(repo: Path, manifest: Manifest, manifest_uri: str) -> str:
    """The body of a release: the changelog, the manifest and a table of the artifacts."""
    rows = [
        f"| {markdown_cell(a.service)} | `{a.key}` | `{a.sha256}` |" for a in manifest.artifacts
    ]
    built = f"Built from `{manifest.commit[:12]}` by {markdown_cell(manifest.built_by)}"
    if manifest.run_url:
        built += f" in {manifest.run_url}"
    return "\n".join(
        [
            changelog(repo, manifest.tag).markdown(),
            "",
            "## In the vault",
            "",
            f"Manifest: `{manifest_uri}`  ",
            f"{built}.",
            "",
            "| service | key | SHA-256 |",
            "| --- | --- | --- |",
            *rows,
        ]
    )


def dead_notice(death: Event) -> str:
    """``🪦 **Dead**: smoke_failed in qa at <when> by <who> (<reason>). …``."""
    return (
        f"{DEAD_MARK}: {plain(death.describe())}. "
        "This version is never promoted; see the next release."
    )
