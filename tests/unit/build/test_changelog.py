"""Release notes from Conventional Commits, in a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vault_actions.build import changelog
from vault_actions.errors import VersionError
from vault_actions.integrations.github.releases import notice_of, with_notice
from vault_actions.store.ledger import Event
from vault_actions.store.manifest import ArtifactRecord, Manifest


def run(repo: Path, *argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=repo, capture_output=True, text=True, check=True,
                          env={"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@acme.example",
                               "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@acme.example",
                               "PATH": "/usr/bin:/bin", "HOME": str(repo)})
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    run(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return run(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    run(tmp_path, "init", "--quiet", "--initial-branch", "main")
    commit(tmp_path, "initial import")
    run(tmp_path, "tag", "v1.0.0")
    return tmp_path


def test_sections_follow_the_bump_of_each_commit(repo: Path) -> None:
    fix = commit(repo, "fix(api): price as a number")
    commit(repo, "feat: quotes in EUR")
    commit(repo, "perf: cache the rates")
    commit(repo, "docs: typo")
    commit(repo, "feat!: drop the v1 API")
    commit(repo, "not conventional")
    run(repo, "tag", "v2.0.0")

    notes = changelog.changelog(repo, "v2.0.0")

    assert notes.previous == "v1.0.0"
    titles = [title for title, _ in notes.sections]
    assert titles == [changelog.BREAKING, changelog.FEATURES, changelog.FIXES,
                      changelog.PERFORMANCE, changelog.OTHER]
    markdown = notes.markdown()
    assert markdown.startswith("## What's changed since v1.0.0")
    assert f"- fix(api): price as a number ({fix[:7]})" in markdown
    assert "not conventional" not in markdown


def test_the_previous_release_skips_prereleases_and_other_tags(repo: Path) -> None:
    commit(repo, "feat: a")
    run(repo, "tag", "v1.1.0-rc.1")
    run(repo, "tag", "nightly")
    commit(repo, "fix: b")
    run(repo, "tag", "v1.1.0")
    assert changelog.previous_release(repo, "v1.1.0") == "v1.0.0"
    assert changelog.previous_release(repo, "v1.0.0") is None
    with pytest.raises(VersionError, match="tag 'nightly' is not a version tag"):
        changelog.previous_release(repo, "nightly")


def test_a_first_release_and_an_empty_one_say_so(repo: Path) -> None:
    first = changelog.changelog(repo, "v1.0.0").markdown()
    assert first.startswith("## What's changed (first release)")
    assert "No conventional commits in this release." in first


def test_release_notes_list_the_manifest_and_escape_user_text(repo: Path) -> None:
    sha = commit(repo, "fix: b")
    run(repo, "tag", "v1.0.1")
    record = ArtifactRecord("api|x", "v1.0.1/api.zip", 10, "ab" * 32, "q83v", "vid")
    manifest = Manifest("1.0.1", "v1.0.1", sha, "2026-11-28T04:01:55Z", "bot | <b>", None,
                        "vault-acme", "us-east-1", (record,))

    notes = changelog.release_notes(repo, manifest, "s3://vault-acme/v1.0.1/manifest.json")

    assert "Manifest: `s3://vault-acme/v1.0.1/manifest.json`" in notes
    assert f"Built from `{sha[:12]}` by bot \\| &lt;b&gt;." in notes
    assert f"| api\\|x | `v1.0.1/api.zip` | `{'ab' * 32}` |" in notes


def test_the_dead_notice_is_one_line_written_once_and_found_again() -> None:
    death = Event("20261128T040155000000Z-" + "0" * 32, "1.0.0", "smoke_failed", "qa",
                  "2026-11-28T04:01:55+00:00", "qa-bot", None, None,
                  {"reason": "GET /health:\n500"})

    notice = changelog.dead_notice(death)

    assert notice.startswith("🪦 **Dead**: smoke_failed in qa at 2026-11-28 04:01:55 UTC by qa-bot")
    assert "\n" not in notice and "GET /health: 500" in notice
    body = with_notice("## What's changed", notice)
    assert body == f"{notice}\n\n## What's changed"
    assert notice_of(body) == notice
    assert with_notice(body, "🪦 **Dead**: again") == body  # a body with a notice keeps it
    assert notice_of("## What's changed") is None
