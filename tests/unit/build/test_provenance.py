"""Who made a release (finding 9's input): git's emails, GitHub's logins, since the last tag."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.conftest import GIT_ENV
from tests.unit.integrations.test_releases import API, listed_commit
from vault_actions.build import provenance
from vault_actions.errors import GitHubError
from vault_actions.integrations.github.client import connect
from vault_actions.integrations.github.commits import commit_logins

REPO = f"{API}/repos/acme/shop"


def commit_as(repo: Path, author: str, committer: str, message: str) -> str:
    (repo / f"{len(list(repo.glob('*.txt')))}.txt").write_text(message)
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent),
           "GIT_AUTHOR_EMAIL": author, "GIT_COMMITTER_EMAIL": committer}
    for args in (["add", "-A"], ["commit", "-qm", message]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def shop(tmp_path: Path, git_env: None) -> Path:
    """v1.0.0 by alice (a GitHub noreply email), then bob's fix, committed by carol."""
    root = tmp_path / "shop"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    commit_as(root, "583231+alice@users.noreply.github.com",
              "583231+alice@users.noreply.github.com", "feat: first")
    subprocess.run(["git", "tag", "-a", "v1.0.0", "-m", "Release v1.0.0"], cwd=root, check=True)
    head = commit_as(root, "bob@example.com", "carol@example.com", "fix: the answer")
    subprocess.run(["git", "tag", "-a", "v1.0.1", "-m", "Release v1.0.1", head], cwd=root,
                   check=True)
    return root


def head_of(repo: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def test_the_release_is_made_by_everyone_since_the_previous_tag_not_before(shop: Path) -> None:
    assert provenance.release_people(shop, "v1.0.1", head_of(shop), None) == [
        "bob@example.com", "carol@example.com",
    ]


def test_the_first_release_names_noreply_logins(shop: Path) -> None:
    first = subprocess.run(["git", "rev-list", "-n1", "v1.0.0"], cwd=shop, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert provenance.release_people(shop, "v1.0.0", first, None) == [
        "583231+alice@users.noreply.github.com", "alice",
    ]


def test_github_logins_come_from_the_compare_api(shop: Path, api: responses.RequestsMock) -> None:
    head = head_of(shop)
    entry = listed_commit(head, "bob@example.com", "bobby")
    entry["committer"] = {**entry["committer"], "login": "carol-gh"}
    compare: dict[str, Any] = {
        "url": f"{REPO}/compare/v1.0.0...{head}", "status": "ahead", "ahead_by": 1,
        "behind_by": 0, "total_commits": 1, "commits": [entry], "files": [],
    }
    api.get(f"{REPO}/compare/v1.0.0...{head}", json=compare)
    gh = connect("ghs_test", "https://api.github.com")

    people = provenance.release_people(
        shop, "v1.0.1", head, lambda base, h: commit_logins(gh, "acme/shop", base, h)
    )

    assert people == ["bob@example.com", "bobby", "carol-gh", "carol@example.com"]
    assert api.calls[0].request.url.endswith(f"/compare/v1.0.0...{head}?page=1&per_page=100")


def test_github_down_fails_the_record_rather_than_guessing(
    shop: Path, api: responses.RequestsMock
) -> None:
    head = head_of(shop)
    api.get(f"{REPO}/compare/v1.0.0...{head}", status=502, json={"message": "Server Error"})
    gh = connect("ghs_test", "https://api.github.com")

    with pytest.raises(GitHubError, match="listing the commits of v1.0.0.."):
        provenance.release_people(
            shop, "v1.0.1", head, lambda base, h: commit_logins(gh, "acme/shop", base, h)
        )
